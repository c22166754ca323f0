"""N-Triples to and from Fedora (`plastrond.repository._rdf`).

Reading (`ntriples_into`): the graph is the one rdflib's own reader gives, whatever the line
endings, escapes, blank nodes and literals; a line of several megabytes is read (rdflib's reader
is quadratic in a line's length); a broken line is a parse error naming it.

Writing (`serialize_for_write`): the lines rdflib's `nt` serializer writes, with URIs mapped and
`xsd:string` literals simple; what is written reads back as the same graph."""

from __future__ import annotations

import pytest
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.compare import isomorphic
from rdflib.exceptions import ParserError
from rdflib.namespace import DCTERMS, XSD

from plastrond.repository._rdf import ntriples_into, parse_ntriples, serialize_for_write

ITEM = URIRef("http://repo.example/rest/item")

DOCUMENT = f"""# a comment line
<{ITEM}> <{DCTERMS.title}> "Page 1"^^<{XSD.string}> .
<{ITEM}> <{DCTERMS.title}> "\\u6708 \\"quoted\\" line\\nbreak\\ttab\\\\ backslash"@ja .
<{ITEM}>\t<{DCTERMS.extent}>\t"3"^^<{XSD.integer}>\t.

<{ITEM}> <{DCTERMS.hasPart}> _:b1 .
_:b1 <{DCTERMS.title}> "raw \u2028 separator and \u00e9t\u00e9" .
_:b1 <{DCTERMS.isPartOf}> _:b2 .
"""


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_the_graph_is_the_one_rdflib_reads(ending: str) -> None:
    text = DOCUMENT.replace("\n", ending)
    ours = ntriples_into(Graph(), text)
    theirs = Graph().parse(data=DOCUMENT, format="nt")
    assert len(ours) == len(theirs) == 6
    assert isomorphic(ours, theirs)
    assert ours.value(ITEM, DCTERMS.extent) == Literal("3", datatype=XSD.integer)
    assert Literal('\u6708 "quoted" line\nbreak\ttab\\ backslash', lang="ja") in set(
        ours.objects(ITEM, DCTERMS.title)
    )
    (part,) = ours.objects(ITEM, DCTERMS.hasPart)
    assert isinstance(part, BNode) and ours.value(part, DCTERMS.isPartOf) is not None


@pytest.mark.parametrize(
    "line",
    [
        f"<{ITEM}> <{DCTERMS.relation}> <http://other.example/x#frag> .",
        f'<{ITEM}> <{DCTERMS.title}> "plain" .',
        f'<{ITEM}> <{DCTERMS.title}> "tagged"@en-GB .',
        f'<{ITEM}> <{DCTERMS.title}> "typed"^^<{XSD.string}> .',
        f'<{ITEM}> <{DCTERMS.created}> "2026-12-07T19:31:14.692Z"^^<{XSD.dateTime}> .',
        f'<{ITEM}> <{DCTERMS.extent}> "x3"^^<{XSD.integer}> .',
        f'<{ITEM}> <{DCTERMS.title}> "" .',
        f'  <{ITEM}>\t<{DCTERMS.title}>  "spaced # not a comment" \t. # a comment',
        f'<{ITEM}> <{DCTERMS.title}> "caf\\u00e9 \\\\ \\"q\\"" .',
        f"<{ITEM}> <{DCTERMS.hasPart}> _:b1 .",
    ],
)
def test_each_line_reads_as_the_terms_rdflib_gives(line: str) -> None:
    """The common lines are read without rdflib's parser (`_rdf._PLAIN_LINE`), the others
    with it: both give the very terms (type, datatype and language included) rdflib does."""
    ours = list(ntriples_into(Graph(), line + "\n"))
    theirs = list(Graph().parse(data=line + "\n", format="nt"))
    assert len(ours) == len(theirs) == 1
    for mine, its in zip(ours[0], theirs[0], strict=True):
        assert type(mine) is type(its)
        if isinstance(its, BNode):
            continue
        assert mine == its and str(mine) == str(its)
        if isinstance(its, Literal):
            assert (mine.datatype, mine.language) == (its.datatype, its.language)


def test_a_repository_graph_holds_xsd_strings_as_simple_literals() -> None:
    data = (
        f'<{ITEM}> <{DCTERMS.title}> "typed"^^<{XSD.string}> .\n'
        f'<{ITEM}> <{DCTERMS.alternative}> "esc\\\\aped"^^<{XSD.string}> .\n'
        f'<{ITEM}> <{DCTERMS.extent}> "3"^^<{XSD.integer}> .\n'
    ).encode()
    graph = parse_ntriples(data, None)
    assert set(graph.objects(ITEM, DCTERMS.title)) == {Literal("typed")}
    assert graph.value(ITEM, DCTERMS.title).datatype is None
    assert graph.value(ITEM, DCTERMS.alternative) == Literal("esc\\aped")
    assert graph.value(ITEM, DCTERMS.alternative).datatype is None
    assert graph.value(ITEM, DCTERMS.extent) == Literal("3", datatype=XSD.integer)


def test_a_line_of_several_megabytes_is_read_whole() -> None:
    value = 'A long transcription, \u00e9t\u00e9 \u6771\u4eac \\ "q". ' * 100_000  # ~3.3 MB
    source = Graph()
    source.add((ITEM, DCTERMS.title, Literal(value)))
    source.add((ITEM, DCTERMS.identifier, Literal("big-1")))
    data = source.serialize(format="nt", encoding="utf-8")
    graph = parse_ntriples(data, None)
    assert str(graph.value(ITEM, DCTERMS.title)) == value
    assert graph.value(ITEM, DCTERMS.identifier) == Literal("big-1")


def test_a_broken_line_is_a_parse_error_naming_it() -> None:
    with pytest.raises(ParserError, match="not a triple"):
        ntriples_into(Graph(), f'<{ITEM}> <{DCTERMS.title}> "ok" .\nnot a triple\n')


def _written() -> Graph:
    graph = Graph()
    graph.add((URIRef(""), DCTERMS.title, Literal('Line\nbreak, "quoted", back\\slash\r')))
    graph.add((URIRef(""), DCTERMS.title, Literal("\u6771\u4eac", lang="ja")))
    graph.add((URIRef(""), DCTERMS.extent, Literal("3", datatype=XSD.integer)))
    graph.add((URIRef(""), DCTERMS.alternative, Literal("typed", datatype=XSD.string)))
    graph.add((URIRef(""), DCTERMS.isPartOf, ITEM))
    graph.add((URIRef(""), DCTERMS.hasPart, BNode("b1")))
    graph.add((BNode("b1"), DCTERMS.title, Literal("part")))
    return graph


def test_the_body_written_is_what_rdflib_writes_with_simple_literals() -> None:
    graph = _written()
    ours = serialize_for_write(graph, None).decode("utf-8").splitlines()
    simple = Graph()
    for s, p, o in graph:
        simple.add((s, p, Literal(str(o)) if o == Literal("typed", datatype=XSD.string) else o))
    theirs = simple.serialize(format="nt", encoding="utf-8").decode("utf-8").splitlines()
    assert sorted(ours) == sorted(line for line in theirs if line)
    assert f'<> <{DCTERMS.alternative}> "typed" .' in ours
    assert serialize_for_write(Graph(), None) == b"" and serialize_for_write(None, None) == b""


def test_the_body_written_maps_uris_and_reads_back_the_same() -> None:
    def mapper(uri: str) -> str:
        return uri.replace("repo.example/rest", "repo.example/rest/tx:1")

    body = serialize_for_write(_written(), mapper)
    assert (
        b"<http://repo.example/rest/tx:1/item>" in body
        and b"<http://repo.example/rest/item>" not in body
    )
    back = parse_ntriples(body.replace(b"<>", b"<http://repo.example/new>"), None)
    expected = Graph()
    for s, p, o in _written():
        s = URIRef("http://repo.example/new") if s == URIRef("") else s
        o = URIRef(mapper(str(o))) if isinstance(o, URIRef) else o
        expected.add((s, p, Literal(str(o)) if o == Literal("typed", datatype=XSD.string) else o))
    assert isomorphic(back, expected)
