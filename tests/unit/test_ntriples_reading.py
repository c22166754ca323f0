"""Reading N-Triples from Fedora (`plastrond.repository._rdf.ntriples_into`): the graph is the
one rdflib's own reader gives, whatever the line endings, escapes, blank nodes and literals;
a line of several megabytes is read (rdflib's reader is quadratic in a line's length); a
broken line is a parse error naming it."""

from __future__ import annotations

import pytest
from rdflib import BNode, Graph, Literal, URIRef
from rdflib.compare import isomorphic
from rdflib.exceptions import ParserError
from rdflib.namespace import DCTERMS, XSD

from plastrond.repository._rdf import ntriples_into, parse_ntriples

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


def test_a_line_of_several_megabytes_is_read_whole() -> None:
    value = "A long transcription, \u00e9t\u00e9 \u6771\u4eac \\ \"q\". " * 100_000  # ~3.3 MB
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
