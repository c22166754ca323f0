"""Every term an import can write, as one graph: what a new Fedora 4.7 is primed with.

Fedora 4.7 (ModeShape) registers a namespace the first time one of its predicates or
rdf:types is written, and a node type for each new rdf:type; concurrent first writes race
(`plastrond.repository` primes the server once before the first write, outside any
transaction). `written_terms(models)` derives what to prime with from the models themselves
and from the builders of the PCDM structure, never from a list kept by hand:

- each model's rdf:types (and those it is detected by), each field's predicate (with a value of
  its kind: a literal of the field's datatype, an IRI), the rdf:types and fields of embedded
  classes, at any depth;
- every column datatype and column language a CSV header may give a literal;
- the structure an import writes: `STRUCTURE`'s predicates (members, files, proxies), and the
  triples of a page (`page_graph`), a file (`file_graph`, with every usage type) and a proxy
  (`proxy_graph`), built by the same functions the import calls.

Every triple is about `URIRef("")` (the resource a POST creates). Each predicate has a value no
other predicate has (a literal or an IRI naming the predicate), so that a value stored under
another predicate shows when the prime is read back. Objects are `urn:uuid:` IRIs, never
repository resources (which Fedora 4.7 would require to exist).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from rdflib import Graph, Literal, URIRef

from .mapping import STRUCTURE, USAGE_TYPES, file_graph, page_graph, proxy_graph
from .namespaces import DCTERMS, RDF, XSD
from .schema import EmbeddedClass, Field, ModelSet

__all__ = ["SUBJECT", "sample_literal", "sample_uri", "structure_terms", "written_terms"]

#: the subject of every triple: the resource the prime creates
SUBJECT = URIRef("")

#: a valid lexical form for the XML Schema datatypes a model may name (a value of another
#: datatype is free text to Fedora)
_LEXICAL = {
    XSD.integer: "1",
    XSD.int: "1",
    XSD.long: "1",
    XSD.decimal: "1.5",
    XSD.double: "1.5",
    XSD.float: "1.5",
    XSD.boolean: "true",
    XSD.date: "2000-01-01",
    XSD.dateTime: "2000-01-01T00:00:00Z",
}


def sample_uri(*parts: str) -> URIRef:
    """An IRI outside the repository, the same for the same *parts*."""
    return URIRef(f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, ' '.join(parts))}")


def sample_literal(predicate: URIRef, datatype: URIRef | None = None) -> Literal:
    """A literal for *predicate*: of *datatype* when given (a valid one for the XML Schema
    types), else a simple literal that names the predicate."""
    if datatype is None:
        return Literal(f"prime {predicate}")
    return Literal(_LEXICAL.get(datatype, f"prime {predicate}"), datatype=datatype)


def _field_terms(fields: Iterable[Field], graph: Graph, seen: set[str]) -> None:
    for f in fields:
        p = f.predicate
        graph.add((SUBJECT, p, sample_uri(str(p))))  # the value no other predicate has
        if f.kind == "literal":
            graph.add((SUBJECT, p, sample_literal(p)))
            if f.datatype is not None:
                graph.add((SUBJECT, p, sample_literal(p, f.datatype)))
        for t in f.embedded_types:
            graph.add((SUBJECT, RDF.type, t))
        if f.embedded is not None:
            _class_terms(f.embedded, graph, seen)


def _class_terms(cls: EmbeddedClass, graph: Graph, seen: set[str]) -> None:
    if cls.name in seen:
        return
    seen.add(cls.name)
    for t in cls.types:
        graph.add((SUBJECT, RDF.type, t))
    _field_terms(cls.fields, graph, seen)


def _about_subject(built: Graph, into: Graph) -> None:
    """The triples of *built* (about any subject) as triples about `SUBJECT`."""
    for _, p, o in built:
        into.add((SUBJECT, p, o))


def structure_terms() -> Graph:
    """The terms of the PCDM structure an import writes (see the module)."""
    graph = Graph()
    for name, predicate in STRUCTURE.items():
        graph.add((SUBJECT, predicate, sample_uri(str(predicate), name)))
    page = str(sample_uri("page"))
    item = str(sample_uri("item"))
    _about_subject(page_graph(page, title="prime", number=1, member_of=item), graph)
    _about_subject(
        file_graph(
            str(sample_uri("file")),
            title="prime",
            file_of=page,
            preservation_master=True,
            types=USAGE_TYPES.values(),
        ),
        graph,
    )
    _about_subject(
        proxy_graph(
            str(sample_uri("proxy")),
            proxy_for=page,
            proxy_in=item,
            prev=str(sample_uri("prev")),
            next=str(sample_uri("next")),
            title="prime",
        ),
        graph,
    )
    return graph


def written_terms(models: ModelSet) -> Graph:
    """Every term an import with *models* can write (see the module)."""
    graph = structure_terms()
    seen: set[str] = set()
    for model in models.models.values():
        for t in (*model.types, *model.detect):
            graph.add((SUBJECT, RDF.type, t))
        _field_terms(model.fields, graph, seen)
    for t, _ in models.detection:
        graph.add((SUBJECT, RDF.type, t))
    for cls in models.classes.values():
        _class_terms(cls, graph, seen)
    title = DCTERMS.title
    for datatype in sorted(set(models.column_datatypes.values())):
        graph.add((SUBJECT, title, sample_literal(title, datatype)))
    for language in sorted(set(models.column_languages.values())):
        graph.add((SUBJECT, title, Literal(f"prime {language}", lang=language)))
    return graph
