"""SPARQL Update text from clients, checked and applied to a graph in memory.

Only what changes one resource's own graph is accepted: `INSERT DATA`, `DELETE DATA`,
`DELETE WHERE` and `DELETE/INSERT ... WHERE`, all on the default graph. `LOAD`, `CLEAR`,
`DROP`, `CREATE`, `ADD`, `MOVE`, `COPY`, `GRAPH`, `WITH`, `USING` and `SERVICE` are refused:
they would reach other graphs or make rdflib fetch URLs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from typing import Any, Final

from rdflib import Graph
from rdflib.plugins.sparql import algebra as _algebra
from rdflib.plugins.sparql.algebra import translateUpdate
from rdflib.plugins.sparql.parser import parseUpdate
from rdflib.plugins.sparql.parserutils import CompValue
from rdflib.plugins.sparql.sparql import Update
from rdflib.plugins.sparql.update import evalUpdate
from rdflib.term import Identifier

from ..errors import PlastronError, describe

__all__ = ["SparqlError", "apply_update", "check_update"]

_OPERATIONS: Final = frozenset({"InsertData", "DeleteData", "DeleteWhere", "Modify"})
_REFUSED_PARTS: Final = {
    "ServiceGraphPattern": "SERVICE",
    "GraphGraphPattern": "GRAPH",
    "Graph": "GRAPH",
    "UsingClause": "USING",
}
_NAMES: Final = {
    "Load": "LOAD",
    "Clear": "CLEAR",
    "Drop": "DROP",
    "Create": "CREATE",
    "Add": "ADD",
    "Move": "MOVE",
    "Copy": "COPY",
}


class SparqlError(PlastronError, ValueError):
    """The update does not parse, or does something plastrond does not allow; one line."""


#: rdflib's SPARQL grammar (pyparsing) keeps state while it parses: two threads parsing at
#: once corrupt each other's results ("<lambda>() missing 1 required positional argument")
_PARSING = threading.Lock()


def _in_written_order(
    l_: Iterable[tuple[Identifier, Identifier, Identifier]],  # reorderTriples' signature
) -> list[tuple[Identifier, Identifier, Identifier]]:
    return list(l_)


def _translate(text: str, base: str | None) -> Update:
    with _PARSING:
        try:
            parsed = parseUpdate(text)
        except Exception as e:  # pyparsing's ParseException, and others on odd input
            raise SparqlError(f"the SPARQL update does not parse: {describe(e)}") from None
        # rdflib's reorderTriples (a query planner's heuristic) sorts the rest of the list
        # once per block of equally bound patterns: quadratic, and worse, in the triples of
        # one update (1,000 triples of INSERT DATA took 14 s, 2,000 took 40 s). An update's
        # patterns need no plan, so they are kept in the order written, while the lock
        # (plastrond runs no other SPARQL translation) is held.
        planner = _algebra.reorderTriples
        _algebra.reorderTriples = _in_written_order
        try:
            return translateUpdate(parsed, base=base)
        except Exception as e:  # e.g. an undeclared prefix
            raise SparqlError(f"the SPARQL update is not valid: {describe(e)}") from None
        finally:
            _algebra.reorderTriples = planner


def _walk(node: Any) -> Iterator[CompValue]:
    if isinstance(node, CompValue):
        yield node
        for value in node.values():
            yield from _walk(value)
    elif isinstance(node, list | tuple):
        for value in node:
            yield from _walk(value)
    elif isinstance(node, dict):
        for value in node.values():
            yield from _walk(value)


def _part(node: CompValue, key: str) -> Any:
    # CompValue.get() answers the key itself for a missing key: look the key up plainly.
    return node[key] if key in node else None  # noqa: SIM401


def _check(update: Update) -> None:
    if not update.algebra:
        raise SparqlError("the SPARQL update is empty")
    for operation in update.algebra:
        if operation.name not in _OPERATIONS:
            word = _NAMES.get(operation.name) or str(operation.name)
            raise SparqlError(f"{word} is not allowed in an update of resources")
        if _part(operation, "withClause") is not None:
            raise SparqlError("WITH is not allowed in an update of resources")
        if _part(operation, "using"):
            raise SparqlError("USING is not allowed in an update of resources")
        for part in (operation, _part(operation, "delete"), _part(operation, "insert")):
            if isinstance(part, CompValue) and _part(part, "quads"):
                raise SparqlError("GRAPH is not allowed in an update of resources")
        for node in _walk(operation):
            refused = _REFUSED_PARTS.get(node.name)
            if refused is not None:
                raise SparqlError(f"{refused} is not allowed in an update of resources")


def check_update(text: str) -> None:
    """Raise SparqlError when *text* does not parse or is not allowed (see the module)."""
    if not text.strip():
        raise SparqlError("the SPARQL update is empty")
    _check(_translate(text, None))


def apply_update(graph: Graph, text: str, base: str) -> Graph:
    """A copy of *graph* with the update applied, relative IRIs (`<>`, `<#x>`) resolved
    against *base* (the resource's URI). CPU-bound: run it in a worker thread."""
    update = _translate(text, base)
    _check(update)
    result = Graph()
    for prefix, namespace in graph.namespaces():
        result.bind(prefix, namespace, override=True, replace=True)
    for triple in graph:
        result.add(triple)
    try:
        evalUpdate(result, update)
    except Exception as e:
        raise SparqlError(f"the SPARQL update cannot be applied: {describe(e)}") from None
    return result
