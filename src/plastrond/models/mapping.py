"""Items <-> rdflib graphs, through a content model.

`Item.from_graph(graph, uri, model)` sorts the triples about *uri* into the model's fields
(literals keep their language and datatype; an embedded field's hash-URI objects become
`Embedded` values with fields of their own), the PCDM structure (members, files, first/last
proxies), and whatever the model does not know, which is kept so that `item.to_graph()` gives
back every triple it was read from. Pages, files and proxies have builders of their own, and
`proxy_order` walks an item's linked list of proxies.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Union

import attrs
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.term import Node

from plastrond.literals import is_blank, is_string_datatype

from .namespaces import FABIO, IANA, ORE, PCDM, PCDMUSE, RDF, XSD
from .schema import ContentModel, EmbeddedClass, Field

__all__ = [
    "STRUCTURE",
    "TIFF_TYPES",
    "USAGE_TYPES",
    "Embedded",
    "Item",
    "Value",
    "file_graph",
    "is_hash_of",
    "page_graph",
    "proxy_graph",
    "proxy_order",
    "to_node",
    "usage_tags",
]

#: FILES / ITEM_FILES usage tag -> the rdf:type it gives a file (upstream files.py:28-32), in
#: the order upstream's export picks the tag of a file
USAGE_TYPES: Mapping[str, URIRef] = {
    "preservation": PCDMUSE.PreservationMasterFile,
    "ocr": PCDMUSE.ExtractedText,
    "metadata": FABIO.MetadataFile,
}
TIFF_TYPES = frozenset({"image/tiff", "image/tiff-fx"})


def usage_tags(types: Iterable[Node], mime_type: str | None) -> tuple[str, ...]:
    """The usage tags a file with these rdf:types needs in FILES, so that importing it again
    gives it the same types: those a TIFF would not get anyway (a TIFF that is also OCR is
    `ocr`), else `preservation` for a preservation master (as upstream writes it)."""
    present = set(types)
    tiff = (mime_type or "").split(";")[0].strip().lower() in TIFF_TYPES
    tags = [
        tag
        for tag, t in USAGE_TYPES.items()
        if t in present and not (tiff and t == PCDMUSE.PreservationMasterFile)
    ]
    if not tags and PCDMUSE.PreservationMasterFile in present:
        tags = ["preservation"]
    return tuple(tags)


#: The PCDM structure of an object: attribute of `Item` -> predicate
STRUCTURE: Mapping[str, URIRef] = {
    "members": PCDM.hasMember,
    "member_of": PCDM.memberOf,
    "files": PCDM.hasFile,
    "related": PCDM.hasRelatedObject,
    "first": IANA.first,
    "last": IANA.last,
}

Value = Union[Literal, URIRef, BNode, "Embedded"]


def is_hash_of(node: Node, subject: Node) -> bool:
    """Whether *node* is a hash URI inside *subject* (`<subject>#...`)."""
    return (
        isinstance(node, URIRef)
        and isinstance(subject, URIRef)
        and str(node).startswith(f"{subject}#")
    )


def _sort_key(value: Value) -> str:
    return value.uri.n3() if isinstance(value, Embedded) else value.n3()


@attrs.define(eq=True)
class Embedded:
    """An object described inside its item's graph (a creator, a place, ...)."""

    uri: URIRef | BNode
    cls: EmbeddedClass
    values: dict[str, list[Value]] = attrs.field(factory=dict)
    types: list[URIRef] = attrs.field(factory=list)
    #: (predicate, object) pairs the class has no field for
    extra: list[tuple[URIRef, Node]] = attrs.field(factory=list)

    def get(self, name: str) -> list[Value]:
        self.cls.field(name)  # KeyError for a field the class does not have
        return self.values.get(name, [])

    def triples(self) -> Iterator[tuple[Node, Node, Node]]:
        for t in self.types:
            yield (self.uri, RDF.type, t)
        for f in self.cls.fields:
            for value in self.values.get(f.name, []):
                node = value.uri if isinstance(value, Embedded) else value
                yield (self.uri, f.predicate, node)
        for p, o in self.extra:
            yield (self.uri, p, o)


@attrs.define(eq=True)
class Item:
    """A repository resource seen through a content model."""

    uri: URIRef
    model: ContentModel
    values: dict[str, list[Value]] = attrs.field(factory=dict)
    types: list[URIRef] = attrs.field(factory=list)
    members: list[URIRef] = attrs.field(factory=list)
    member_of: list[URIRef] = attrs.field(factory=list)
    files: list[URIRef] = attrs.field(factory=list)
    related: list[URIRef] = attrs.field(factory=list)
    first: list[URIRef] = attrs.field(factory=list)
    last: list[URIRef] = attrs.field(factory=list)
    #: (predicate, object) pairs about the item that neither the model nor PCDM explains
    extra: list[tuple[URIRef, Node]] = attrs.field(factory=list)
    #: triples about other subjects that are not embedded objects of a field (kept as read)
    other: list[tuple[Node, Node, Node]] = attrs.field(factory=list)

    @classmethod
    def new(cls, uri: str, model: ContentModel) -> Item:
        """An empty item of *model* (with the model's rdf:types)."""
        return cls(uri=URIRef(uri), model=model, types=list(model.types))

    def get(self, name: str) -> list[Value]:
        """The values of field *name* (KeyError for a field the model does not have)."""
        self.model.field(name)
        return self.values.get(name, [])

    def add(
        self,
        name: str,
        value: Value | str,
        *,
        lang: str | None = None,
        datatype: str | None = None,
    ) -> Value:
        """Add a value to field *name*; a string becomes a literal of the field's datatype
        (or *datatype*, or with *lang*) or, for a uri field, an IRI."""
        f = self.model.field(name)
        node = to_node(f, value, lang=lang, datatype=datatype)
        self.values.setdefault(name, []).append(node)
        return node

    def embed(self, name: str, fragment: str, **values: Iterable[Value | str] | str) -> Embedded:
        """Add an embedded object `<item>#<fragment>` to field *name*, with its field values."""
        f = self.model.field(name)
        if f.embedded is None:
            raise ValueError(f"field {name} of model {self.model.name} is not embedded")
        obj = Embedded(
            uri=URIRef(f"{self.uri}#{fragment}"), cls=f.embedded, types=list(f.embedded_types)
        )
        for sub, given in values.items():
            items = [given] if isinstance(given, str) else list(given)
            sub_field = f.embedded.field(sub)
            obj.values[sub] = [to_node(sub_field, v) for v in items]
        self.values.setdefault(name, []).append(obj)
        return obj

    def drop_blanks(self, keep: Graph | None = None) -> None:
        """Leave out the blank literals (`plastrond.literals.is_blank`) of the item's fields and
        of its embedded objects, but for those *keep* (the graph read before) already holds:
        a blank value is never written. Validate first: where a rule rejects it, the item is
        invalid rather than written without it."""

        def kept(subject: Node, predicate: URIRef, value: Value) -> bool:
            if not isinstance(value, Literal) or not is_blank(value):
                return True
            return keep is not None and (subject, predicate, value) in keep

        for f in self.model.fields:
            values = [v for v in self.values.get(f.name, []) if kept(self.uri, f.predicate, v)]
            if f.name in self.values:
                self.values[f.name] = values
            for obj in values:
                if isinstance(obj, Embedded):
                    for sub in obj.cls.fields:
                        if sub.name in obj.values:
                            obj.values[sub.name] = [
                                v for v in obj.values[sub.name] if kept(obj.uri, sub.predicate, v)
                            ]

    # -- graph -> item ---------------------------------------------------------------------

    @classmethod
    def from_graph(cls, graph: Graph, uri: str, model: ContentModel) -> Item:
        subject = URIRef(uri)
        item = cls(uri=subject, model=model)
        structure = {p: name for name, p in STRUCTURE.items()}
        used: set[Node] = {subject}

        def value(f: Field, o: Node) -> Value:
            return _read_value(graph, f, o, subject, used)

        for p, o in _read_fields(item, graph, subject, model.fields, subject, value):
            if p in structure and isinstance(o, URIRef):
                getattr(item, structure[p]).append(o)
            else:
                item.extra.append((p, o))
        item.other = sorted(t for t in graph if t[0] not in used)
        return item

    # -- item -> graph ---------------------------------------------------------------------

    def triples(self) -> Iterator[tuple[Node, Node, Node]]:
        s = self.uri
        for t in self.types:
            yield (s, RDF.type, t)
        for f in self.model.fields:
            for value in self.values.get(f.name, []):
                if isinstance(value, Embedded):
                    yield (s, f.predicate, value.uri)
                    yield from value.triples()
                else:
                    yield (s, f.predicate, value)
        for name, predicate in STRUCTURE.items():
            for target in getattr(self, name):
                yield (s, predicate, target)
        for p, o in self.extra:
            yield (s, p, o)
        yield from self.other

    def to_graph(self, graph: Graph | None = None) -> Graph:
        """The item's triples, added to *graph* (a new one by default)."""
        result = Graph() if graph is None else graph
        for triple in self.triples():
            result.add(triple)
        return result


def to_node(
    f: Field, value: Value | str, *, lang: str | None = None, datatype: str | None = None
) -> Value:
    if not isinstance(value, str) or isinstance(value, URIRef | Literal | BNode):
        return value
    if f.kind == "literal":
        if lang:
            return Literal(value, lang=lang)
        dt = URIRef(datatype) if datatype else f.datatype
        # xsd:string is the simple literal (plastrond.literals): one spelling for one value
        return Literal(value, datatype=None if is_string_datatype(dt) else dt)
    return URIRef(value)


def _fields_by_predicate(fields: Iterable[Field]) -> dict[URIRef, tuple[Field, ...]]:
    result: dict[URIRef, list[Field]] = {}
    for f in fields:
        result.setdefault(f.predicate, []).append(f)
    return {p: tuple(fs) for p, fs in result.items()}


def _route(candidates: tuple[Field, ...], o: Node, subject: URIRef) -> Field | None:
    """The field a value of this predicate belongs to: a literal by its datatype, an IRI to an
    embedded field when it is a hash URI of the item (or a blank node), else to a uri field."""
    if not candidates:
        return None
    if len(candidates) == 1:
        return candidates[0]
    if isinstance(o, Literal):
        literals = [f for f in candidates if f.kind == "literal"]
        dt = None if is_string_datatype(o.datatype) else o.datatype
        return (
            next((f for f in literals if f.datatype is not None and f.datatype == dt), None)
            or next((f for f in literals if f.datatype is None), None)
            or (literals or list(candidates))[0]
        )
    inside = isinstance(o, BNode) or is_hash_of(o, subject)
    preferred = ("embedded", "uri") if inside else ("uri", "embedded")
    for kind in preferred:
        match = next((f for f in candidates if f.kind == kind), None)
        if match is not None:
            return match
    return candidates[0]


def _read_value(graph: Graph, f: Field, o: Node, subject: URIRef, used: set[Node]) -> Value:
    if f.embedded is None or not (isinstance(o, BNode) or is_hash_of(o, subject)):
        assert isinstance(o, Literal | URIRef | BNode)
        return o
    assert isinstance(o, URIRef | BNode)
    obj = Embedded(uri=o, cls=f.embedded)
    used.add(o)

    def term(sub: Field, value: Node) -> Value | None:
        return value if isinstance(value, Literal | URIRef | BNode) else None

    obj.extra.extend(_read_fields(obj, graph, o, f.embedded.fields, subject, term))
    return obj


def _read_fields(
    into: Item | Embedded,
    graph: Graph,
    node: URIRef | BNode,
    fields: Iterable[Field],
    subject: URIRef,
    value: Callable[[Field, Node], Value | None],
) -> list[tuple[URIRef, Node]]:
    """Sort what *graph* says about *node* into *into*: its rdf:types, and each object a field
    takes (`_route`, inside the item *subject*) as *value* makes it of the field (None: not one
    of its values), each field's values in a stable order. Returns the (predicate, object)
    pairs left over, in order."""
    by_predicate = _fields_by_predicate(fields)
    left: list[tuple[URIRef, Node]] = []
    for p, o in sorted(graph.predicate_objects(node)):
        assert isinstance(p, URIRef)
        if p == RDF.type and isinstance(o, URIRef):
            into.types.append(o)
            continue
        f = _route(by_predicate.get(p, ()), o, subject)
        made = None if f is None else value(f, o)
        if f is None or made is None:
            left.append((p, o))
        else:
            into.values.setdefault(f.name, []).append(made)
    for values in into.values.values():
        values.sort(key=_sort_key)
    return left


# --------------------------------------------------------------------------------------------
# Pages, files and proxies
# --------------------------------------------------------------------------------------------


def page_graph(
    uri: str,
    *,
    title: str,
    number: int | str | None = None,
    member_of: str | None = None,
) -> Graph:
    """A page: a pcdm:Object and fabio:Page with a title, a sequence number (xsd:integer, as
    upstream writes it), its item."""
    s = URIRef(uri)
    g = Graph()
    g.add((s, RDF.type, PCDM.Object))
    g.add((s, RDF.type, FABIO.Page))
    g.add((s, URIRef("http://purl.org/dc/terms/title"), Literal(title)))
    if number is not None:
        g.add((s, FABIO.hasSequenceIdentifier, Literal(str(number), datatype=XSD.integer)))
    if member_of is not None:
        g.add((s, PCDM.memberOf, URIRef(member_of)))
    return g


def file_graph(
    uri: str,
    *,
    title: str | None = None,
    file_of: str | None = None,
    preservation_master: bool = False,
    types: Iterable[URIRef] = (),
) -> Graph:
    """The description of a file: a pcdm:File (also a preservation master when asked), with
    the usage *types* its tags give it."""
    s = URIRef(uri)
    g = Graph()
    g.add((s, RDF.type, PCDM.File))
    if preservation_master:
        g.add((s, RDF.type, PCDMUSE.PreservationMasterFile))
    for t in types:
        g.add((s, RDF.type, t))
    if title is not None:
        g.add((s, URIRef("http://purl.org/dc/terms/title"), Literal(title)))
    if file_of is not None:
        g.add((s, PCDM.fileOf, URIRef(file_of)))
    return g


def proxy_graph(
    uri: str,
    *,
    proxy_for: str,
    proxy_in: str,
    prev: str | None = None,
    next: str | None = None,
    title: str | None = None,
) -> Graph:
    """One link of the list that orders an item's pages: an ore:Proxy."""
    s = URIRef(uri)
    g = Graph()
    g.add((s, RDF.type, ORE.Proxy))
    g.add((s, ORE.proxyFor, URIRef(proxy_for)))
    g.add((s, ORE.proxyIn, URIRef(proxy_in)))
    if prev is not None:
        g.add((s, IANA.prev, URIRef(prev)))
    if next is not None:
        g.add((s, IANA.next, URIRef(next)))
    if title is not None:
        g.add((s, URIRef("http://purl.org/dc/terms/title"), Literal(title)))
    return g


def proxy_order(first: str | None, proxies: Mapping[str, Graph]) -> list[URIRef]:
    """The resources an item's proxies stand for, in list order, starting at proxy *first*
    and following iana:next. Raises ValueError on a missing proxy, a loop or a missing
    ore:proxyFor."""
    order: list[URIRef] = []
    seen: set[str] = set()
    current = first
    while current is not None:
        if current in seen:
            raise ValueError(f"the proxies loop back to {current}")
        seen.add(current)
        graph = proxies.get(current)
        if graph is None:
            raise ValueError(f"proxy {current} is missing")
        s = URIRef(current)
        target = graph.value(s, ORE.proxyFor)
        if not isinstance(target, URIRef):
            raise ValueError(f"proxy {current} has no ore:proxyFor")
        order.append(target)
        following = graph.value(s, IANA.next)
        current = str(following) if following is not None else None
    return order
