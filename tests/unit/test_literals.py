"""The literal rule (plastrond.literals): an xsd:string literal is the simple literal it equals,
wherever values are read (repository graphs), built (models), compared (diffs) or loaded
(vocabularies); language-tagged and other typed literals keep their type."""

from __future__ import annotations

from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, XSD

from plastrond.literals import drop_added_blanks, is_blank, normalize_graph, plain
from plastrond.models.diff import delta, sparql_update
from plastrond.repository._rdf import parse_ntriples, serialize_for_write

ITEM = URIRef("http://repo.example/rest/item")
EDTF = URIRef("http://id.loc.gov/datatypes/edtf")

#: how Fedora 4.7 answers an item's values
FCREPO47 = f"""
<{ITEM}> <{DCTERMS.title}> "Page 1"^^<{XSD.string}> .
<{ITEM}> <{DCTERMS.title}> "月"@ja .
<{ITEM}> <{DCTERMS.date}> "1969-07~"^^<{EDTF}> .
<{ITEM}> <{DCTERMS.extent}> "3"^^<{XSD.integer}> .
""".encode()


def test_plain_makes_only_xsd_string_simple():
    assert plain(Literal("x", datatype=XSD.string)) == Literal("x")
    assert plain(Literal("x", datatype=XSD.string)).datatype is None
    assert plain(Literal("x", lang="en")) == Literal("x", lang="en")
    assert plain(Literal("3", datatype=XSD.integer)).datatype == XSD.integer
    assert plain(Literal("1969-07~", datatype=EDTF)).datatype == EDTF
    assert plain(ITEM) is ITEM


def test_graphs_read_from_fedora_47_hold_simple_literals():
    for mapper in (None, lambda uri: uri.replace("repo.example", "public.example")):
        graph = parse_ntriples(FCREPO47, mapper)
        subject = next(iter(graph.subjects()))
        titles = set(graph.objects(subject, DCTERMS.title))
        assert titles == {Literal("Page 1"), Literal("月", lang="ja")}
        assert all(t.datatype is None for t in titles)
        assert graph.value(subject, DCTERMS.date) == Literal("1969-07~", datatype=EDTF)
        assert graph.value(subject, DCTERMS.extent) == Literal("3", datatype=XSD.integer)


def test_the_same_values_are_no_difference():
    read = parse_ntriples(FCREPO47, None)
    from_csv = Graph()
    from_csv.add((ITEM, DCTERMS.title, Literal("Page 1")))
    from_csv.add((ITEM, DCTERMS.title, Literal("月", lang="ja")))
    from_csv.add((ITEM, DCTERMS.date, Literal("1969-07~", datatype=EDTF)))
    from_csv.add((ITEM, DCTERMS.extent, Literal("3", datatype=XSD.integer)))
    assert delta(read, from_csv) == ([], [])
    assert sparql_update(read, from_csv) == ""
    # ... even when a graph was not read through the client
    raw = Graph().parse(data=FCREPO47.decode(), format="nt")
    assert delta(raw, from_csv) == ([], [])
    # a language or another datatype is a different value
    changed = Graph()
    for t in from_csv:
        changed.add(t)
    changed.remove((ITEM, DCTERMS.extent, None))
    changed.add((ITEM, DCTERMS.extent, Literal("3")))
    deletes, inserts = delta(read, changed)
    assert deletes == [(ITEM, DCTERMS.extent, Literal("3", datatype=XSD.integer))]
    assert inserts == [(ITEM, DCTERMS.extent, Literal("3"))]


def test_written_bodies_say_it_one_way():
    graph = Graph()
    graph.add((URIRef(""), DCTERMS.title, Literal("x", datatype=XSD.string)))
    assert serialize_for_write(graph, None).strip() == f'<> <{DCTERMS.title}> "x" .'.encode()
    assert normalize_graph(graph) is graph
    assert set(graph.objects()) == {Literal("x")}


def test_a_blank_literal_an_edit_adds_is_dropped_one_stored_before_is_left_to_it():
    handle = URIRef("http://vocab.lib.umd.edu/datatype#handle")
    assert is_blank(Literal("")) and is_blank(Literal("  ", lang="en"))
    assert is_blank(Literal("", datatype=handle)) and is_blank(Literal(" ", datatype=XSD.string))
    assert not is_blank(Literal("x")) and not is_blank(URIRef("http://x.example/"))
    before = Graph()
    before.add((ITEM, DCTERMS.description, Literal(" ")))
    after = Graph()
    for t in before:
        after.add(t)
    after.add((ITEM, DCTERMS.identifier, Literal("", datatype=handle)))
    after.add((ITEM, DCTERMS.title, Literal("T")))
    assert drop_added_blanks(before, after) is after
    assert set(after) == {
        (ITEM, DCTERMS.description, Literal(" ")),
        (ITEM, DCTERMS.title, Literal("T")),
    }
