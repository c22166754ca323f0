"""The one literal rule: in RDF 1.1 a simple literal *is* an `xsd:string` literal.

Fedora 4.7 answers every plain literal as `"x"^^xsd:string`, Fedora 6 answers `"x"`; rdflib
holds them as different terms (`Literal("x") != Literal("x", datatype=XSD.string)`). Every
graph plastrond reads from a repository (`plastrond.repository`, which serves export, update,
import and publish), every value the models build from a CSV cell, and every vocabulary it loads
passes through `plain`/`normalize_graph`, so that the two spellings are one value wherever
values are compared (diffs, `unchanged` detection, update, URI rows) or written (CSV export,
SPARQL, PUT bodies). Language-tagged literals and literals of any other datatype keep their
type. This module depends on rdflib only, so that any layer may use it.
"""

from __future__ import annotations

from rdflib import Graph, Literal
from rdflib.namespace import XSD
from rdflib.term import Node

__all__ = ["XSD_STRING", "is_string_datatype", "normalize_graph", "plain"]

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
