"""The difference between two states of a resource's graph, as one SPARQL Update.

The triples the repository maintains itself (`fedora:created`, `ldp:contains`, the LDP and
Fedora rdf:types, a binary's size and digests, ...) are never part of the update: Fedora
refuses a PATCH that touches them, and they are not ours to change.
"""

from __future__ import annotations

from collections.abc import Iterable

from rdflib import BNode, Graph, URIRef
from rdflib.term import Node

from plastrond.literals import plain

from .namespaces import FCREPO, FEDORA, LDP, MEMENTO, PREMIS, RDF

__all__ = ["delta", "is_server_managed", "sparql_update"]

Triple = tuple[Node, Node, Node]

_MANAGED_NAMESPACES = (str(FEDORA), str(FCREPO))
_MANAGED_TYPE_NAMESPACES = (str(LDP), str(FEDORA), str(FCREPO), str(MEMENTO))
_MANAGED_PREDICATES = frozenset(
    {
        LDP.contains,
        PREMIS.hasSize,
        PREMIS.hasMessageDigest,
        URIRef("http://www.iana.org/assignments/relation/describedby"),
        URIRef("http://www.iana.org/assignments/relation/describes"),
    }
)


def is_server_managed(triple: Triple) -> bool:
    """Whether the repository maintains this triple itself."""
    _, p, o = triple
    if p in _MANAGED_PREDICATES or str(p).startswith(_MANAGED_NAMESPACES):
        return True
    return p == RDF.type and str(o).startswith(_MANAGED_TYPE_NAMESPACES)


def delta(old: Graph, new: Graph) -> tuple[list[Triple], list[Triple]]:
    """(triples to delete, triples to insert), sorted, leaving server-managed triples alone.

    `"x"^^xsd:string` and `"x"` are one value (plastrond.literals): a graph read from Fedora
    4.7 and the same values from a CSV differ in nothing."""
    before = {(s, p, plain(o)) for s, p, o in old}
    after = {(s, p, plain(o)) for s, p, o in new}
    deletes = sorted(t for t in before if t not in after and not is_server_managed(t))
    inserts = sorted(t for t in after if t not in before and not is_server_managed(t))
    return deletes, inserts


def sparql_update(old: Graph, new: Graph) -> str:
    """A SPARQL Update that turns *old* into *new* (server-managed triples excepted), or ""
    when there is nothing to change. Blank nodes cannot be named in an update: a changed
    triple with one raises ValueError (use hash URIs for embedded objects)."""
    deletes, inserts = delta(old, new)
    parts = []
    if deletes:
        parts.append(f"DELETE DATA {{\n{_block(deletes)}}}")
    if inserts:
        parts.append(f"INSERT DATA {{\n{_block(inserts)}}}")
    return " ;\n".join(parts)


def _block(triples: Iterable[Triple]) -> str:
    lines = []
    for triple in triples:
        if any(isinstance(term, BNode) for term in triple):
            raise ValueError(
                f"cannot write a change to a blank node in a SPARQL update: {_n3(triple)}"
            )
        lines.append(f"  {_n3(triple)} .\n")
    return "".join(lines)


def _n3(triple: Triple) -> str:
    return " ".join(term.n3() for term in triple)
