"""Graphs in and out of the repository, with their URIs translated (see `_uris.UriMap`)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from rdflib import Graph, Literal, URIRef
from rdflib.exceptions import ParserError
from rdflib.plugins.parsers.ntriples import NTGraphSink, W3CNTriplesParser
from rdflib.term import BNode, Node

from plastrond.literals import XSD_STRING, plain

__all__ = ["map_graph", "map_sparql", "ntriples_into", "parse_ntriples", "serialize_for_write"]

#: N-Triples is what we ask for when reading: the fastest format for rdflib to parse.
READ_FORMAT = "application/n-triples"
#: Turtle is what we send: it allows the relative IRI `<>` for the resource being written.
WRITE_FORMAT = "text/turtle"


def _term_mapper(mapper: Callable[[str], str]) -> Callable[[Node], Node]:
    """*mapper* applied to URIRefs (each distinct one once) and the literal rule to literals."""
    cache: dict[Node, Node] = {}

    def term(node: Node) -> Node:
        if not isinstance(node, URIRef):
            return plain(node)
        mapped = cache.get(node)
        if mapped is None:
            mapped = URIRef(mapper(str(node)))
            cache[node] = mapped
        return mapped

    return term


def map_graph(graph: Graph, mapper: Callable[[str], str]) -> Graph:
    """A new graph with every URIRef passed through *mapper* (the input is left alone), and
    `xsd:string` literals written as simple literals (`plastrond.literals`).

    The prefixes bound in *graph* are not copied: the graphs mapped here are read from or
    written as N-Triples, which has none, and making rdflib's namespace manager for both
    graphs cost about 3 ms a call (its ~30 default prefixes, each put in a trie)."""
    term = _term_mapper(mapper)
    result = Graph()
    for s, p, o in graph:
        result.add((term(s), term(p), term(o)))
    return result


#: an N-Triples line ends at LF, CR or CR LF (a literal's own line breaks are escaped)
_LINE_END = re.compile(r"\r\n?|\n")

#: an absolute IRI as rdflib's reader takes it (`<scheme:rest>`), without `\` escapes
_NT_IRI = r'<([^:\s"<>\\]+:[^\s"<>\\]*)>'
#: the common line, read without rdflib's token-by-token parser: IRI subject and object or a
#: literal without escapes. Whatever it does not match (blank nodes, escapes, comments, empty
#: lines, errors) goes to rdflib's parser, which gives any line this matches the same terms.
_PLAIN_LINE = re.compile(
    rf'[ \t]*{_NT_IRI}[ \t]+{_NT_IRI}[ \t]+(?:{_NT_IRI}|"([^"\\]*)"'
    rf"(?:@([a-zA-Z]+(?:-[a-zA-Z0-9]+)*)|\^\^{_NT_IRI})?)[ \t]*\.[ \t]*(?:#.*)?"
)
_XSD_STRING = str(XSD_STRING)


#: IRIs already made URIRefs (an immutable str each): the predicates, types and datatypes of
#: every description, the subject of each of its lines; emptied when full
_IRIS: dict[str, URIRef] = {}
_IRIS_MAX: Final = 4096


def _iri(text: str) -> URIRef:
    node = _IRIS.get(text)
    if node is None:
        if len(_IRIS) >= _IRIS_MAX:
            _IRIS.clear()
        node = _IRIS[text] = URIRef(text)
    return node


class _Sink(NTGraphSink):
    """rdflib's parser's sink: each triple to the graph, the object through *term*."""

    __slots__ = ("term",)

    def __init__(self, graph: Graph, term: Callable[[Node], Node] | None) -> None:
        super().__init__(graph)
        self.term = term

    def triple(self, s: Node, p: Node, o: Node) -> None:
        self.g.add((s, p, o if self.term is None else self.term(o)))


def _read(graph: Graph, text: str, plain_strings: bool) -> Graph:
    """Add the N-Triples document *text* to *graph*; with *plain_strings*, `xsd:string`
    literals as the simple literals they equal (`plastrond.literals.plain`).

    rdflib's own N-Triples reader (`Graph.parse(format="nt")`) finds each line by matching a
    regular expression against a buffer it grows 2048 characters at a time, so a line of n
    characters costs about n²/2048 steps: one triple holding a 1 MB literal took 6 to 11 s.
    Here the lines are cut first; a common line (`_PLAIN_LINE`) is read with one match, each
    IRI made a URIRef once (`_iri`), and any other goes to rdflib's parser, a whole line at
    a time. Reading Fedora's descriptions this way costs about a third of rdflib's parser.
    """
    parser: W3CNTriplesParser | None = None
    blank_nodes: dict[str, BNode] = {}
    add = graph.add
    for line in _LINE_END.split(text):
        match = _PLAIN_LINE.fullmatch(line)
        if match is not None:
            s, p, o, lexical, language, datatype = match.groups()
            if o is not None:
                obj: Node = _iri(o)
            elif datatype is None:
                obj = Literal(lexical, language)
            elif plain_strings and datatype == _XSD_STRING:
                obj = Literal(lexical)
            else:
                obj = Literal(lexical, language, _iri(datatype))
            add((_iri(s), _iri(p), obj))
            continue
        if parser is None:
            parser = W3CNTriplesParser(_Sink(graph, plain if plain_strings else None))
        parser.line = line
        try:
            parser.parseline(bnode_context=blank_nodes)
        except ParserError as exc:
            raise ParserError(f"Invalid N-Triples line: {line[:200]!r}") from exc
    return graph


def ntriples_into(graph: Graph, text: str) -> Graph:
    """Add the N-Triples document *text* to *graph* (and return it), in time linear in its
    size, with the terms rdflib's own reader gives (see `_read`)."""
    return _read(graph, text, plain_strings=False)


def parse_ntriples(data: bytes, mapper: Callable[[str], str] | None) -> Graph:
    """A graph as the server sent it, with URIs mapped and the literal rule applied: Fedora
    4.7's `"x"^^xsd:string` is read as the simple literal `"x"` it equals (Fedora 6's form),
    as it is read (no second pass over the graph)."""
    graph = Graph()
    if not data.strip():
        return graph
    if mapper is not None:
        return map_graph(_read(graph, data.decode("utf-8"), plain_strings=True), mapper)
    return _read(graph, data.decode("utf-8"), plain_strings=True)


def serialize_for_write(graph: Graph | None, mapper: Callable[[str], str] | None) -> bytes:
    """The body of a PUT or POST: the graph as N-Triples (a subset of Turtle, sent as Turtle so
    that the relative IRI `<>`, written `URIRef("")`, names the resource being created), with
    URIs passed through *mapper* and `xsd:string` literals as simple literals.

    Written line by line here, as rdflib's N-Triples serializer writes them, without the copy
    of the graph that mapping would otherwise take."""
    if graph is None or len(graph) == 0:
        return b""
    term = _term_mapper(mapper) if mapper is not None else plain
    return "".join(f"{_nt(term(s))} {_nt(term(p))} {_nt(term(o))} .\n" for s, p, o in graph).encode(
        "utf-8"
    )


def _nt(node: Node) -> str:
    """*node* in N-Triples (rdflib's `nt` serializer's form for literals)."""
    if not isinstance(node, Literal):
        return node.n3()
    text = (
        str(node)
        .replace("\\", "\\\\")
        .replace("\n", "\\n")
        .replace('"', '\\"')
        .replace("\r", "\\r")
    )
    if node.language:
        return f'"{text}"@{node.language}'
    if node.datatype:
        return f'"{text}"^^<{node.datatype}>'
    return f'"{text}"'


_IRI = re.compile(r"<([^<>\"{}|^`\\\s]*)>")


def map_sparql(query: str, mapper: Callable[[str], str]) -> str:
    """*query* with each absolute IRI written `<...>` passed through *mapper*.

    Prefixed names (`ex:thing`) are left alone; a PREFIX declaration's IRI is mapped like any other.
    """

    def replace(m: re.Match[str]) -> str:
        iri = m.group(1)
        if ":" not in iri:  # relative, such as <> or <#frag>
            return m.group(0)
        return f"<{mapper(iri)}>"

    return _IRI.sub(replace, query)
