"""The literal rules: in RDF 1.1 a simple literal *is* an `xsd:string` literal; a blank
literal is never stored.

Fedora 4.7 answers every plain literal as `"x"^^xsd:string`, Fedora 6 answers `"x"`; rdflib
holds them as different terms (`Literal("x") != Literal("x", datatype=XSD.string)`). Every
graph plastrond reads from a repository (`plastrond.repository`, which serves export, update,
import and publish), every value the models build from a CSV cell, and every vocabulary it loads
passes through `plain`/`normalize_graph`, so that the two spellings are one value wherever
values are compared (diffs, `unchanged` detection, update, URI rows) or written (CSV export,
SPARQL, PUT bodies). Language-tagged literals and literals of any other datatype keep their
type.

A blank literal (empty, or only white space, whatever its language or datatype) is not a value:
plastrond never writes one, in the editor (`PATCH /resources`), the update command and the
import alike (`drop_added_blanks`, `plastrond.models.Item.drop_blanks`). Where upstream's
validators reject one (a required field, a handle, a language code, a pattern, a vocabulary),
it makes the resource invalid first (`plastrond.models.validation`); elsewhere it is left out.

This module depends on rdflib only, so that any layer may use it.
"""

from __future__ import annotations

from rdflib import Graph, Literal
from rdflib.namespace import XSD
from rdflib.term import Node

__all__ = [
    "XSD_STRING",
    "drop_added_blanks",
    "is_blank",
    "is_string_datatype",
    "normalize_graph",
    "plain",
]

XSD_STRING = XSD.string


def is_string_datatype(datatype: object) -> bool:
    """True for `xsd:string`, which names the same values as no datatype at all."""
    return datatype is not None and str(datatype) == str(XSD_STRING)


def plain(node: Node) -> Node:
    """*node*, with an `xsd:string` literal written as the simple literal it equals."""
    if isinstance(node, Literal) and node.language is None and is_string_datatype(node.datatype):
        return Literal(str(node))
    return node


def normalize_graph(graph: Graph) -> Graph:
    """*graph* itself, with every `xsd:string` literal (as object) made a simple literal."""
    typed = [
        (s, p, o)
        for s, p, o in graph
        if isinstance(o, Literal) and o.language is None and is_string_datatype(o.datatype)
    ]
    for s, p, o in typed:
        graph.remove((s, p, o))
        graph.add((s, p, Literal(str(o))))
    return graph


def is_blank(node: object) -> bool:
    """True for a literal with no text but white space (`""`, `"  "@en`, `""^^dt`)."""
    return isinstance(node, Literal) and not str(node).strip()


def drop_added_blanks(before: Graph, after: Graph) -> Graph:
    """*after* itself, without the triples of a blank literal that *before* does not have:
    what an edit adds that is blank is not written (a blank value already stored is left to
    the edit, which may delete it)."""
    added = [t for t in after if is_blank(t[2]) and t not in before]
    for triple in added:
        after.remove(triple)
    return after
