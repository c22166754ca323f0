"""The metadata files: CSV rows and columns per model, Turtle blocks in request order."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from rdflib import Graph, Literal, URIRef
from rdflib.compare import isomorphic
from rdflib.namespace import DCTERMS, RDF, RDFS

from plastrond.export import CsvMetadata, ItemRecord, TurtleMetadata
from plastrond.export.metadata import ExportedFile, OrderedSpool, escape_value, join_cell
from plastrond.models import ModelSet, load_models

BASE = "http://repo.example/rest/pcdm/"
DC = "http://purl.org/dc/elements/1.1/"
OWL_SAME_AS = URIRef("http://www.w3.org/2002/07/owl#sameAs")
BIBO = "http://purl.org/ontology/bibo/"
FEDORA = "http://fedora.info/definitions/v4/repository#"
EDTF = URIRef("http://id.loc.gov/datatypes/edtf")
UMDTYPE = "http://vocab.lib.umd.edu/datatype#"


@pytest.fixture(scope="module")
def models() -> ModelSet:
    return load_models()


def item_graph(name: str, *types: str) -> tuple[str, Graph]:
    uri = BASE + name
    s = URIRef(uri)
    g = Graph()
    g.add((s, RDF.type, URIRef("http://pcdm.org/models#Object")))
    for t in types:
        g.add((s, RDF.type, URIRef(t)))
    return uri, g


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def test_item_row_languages_datatypes_embedded_and_files(models: ModelSet, tmp_path: Path) -> None:
    uri, g = item_graph("abc")
    s = URIRef(uri)
    g.add((s, DCTERMS.title, Literal("Moon | Sun")))
    g.add((s, DCTERMS.title, Literal("月", lang="ja")))
    g.add((s, DCTERMS.title, Literal("tsuki", lang="ja-latn")))
    g.add((s, DCTERMS.title, Literal("Lune", lang="fr")))
    g.add((s, URIRef(DC + "date"), Literal("2020-01~", datatype=EDTF)))
    g.add((s, DCTERMS.identifier, Literal("id-1")))
    g.add((s, DCTERMS.identifier, Literal("1903.1/42", datatype=URIRef(UMDTYPE + "handle"))))
    g.add((s, DCTERMS.type, URIRef("http://purl.org/dc/dcmitype/Image")))
    g.add((s, URIRef(FEDORA + "created"), Literal("2020-01-01T00:00:00Z")))
    g.add((s, URIRef(FEDORA + "lastModified"), Literal("2021-01-01T00:00:00Z")))
    for frag, label, same in [("c1", "Smith; J.", "http://id.example/smith"), ("c2", "Doe", None)]:
        c = URIRef(f"{uri}#{frag}")
        g.add((s, DCTERMS.creator, c))
        g.add((c, RDFS.label, Literal(label)))
        if same:
            g.add((c, OWL_SAME_AS, URIRef(same)))
    writer = CsvMetadata(tmp_path, models)
    model, row = writer.row(
        ItemRecord(
            uri=uri,
            graph=g,
            files=[
                ExportedFile("abc/p1.tif", "Front: cover", ["preservation"]),
                ExportedFile("abc/p1.xml", "Front: cover", ["ocr"]),
                "abc/p2.tif",
            ],
            item_files=[ExportedFile("abc/notes;1.txt", None, ["metadata"])],
            public_uri="https://digital.example/abc",
        )
    )
    assert model.name == "Item"
    # Languages inline, as upstream's export writes them; `|` escaped.
    assert row["Title"] == "[@fr]Lune|Moon \\| Sun|[@ja-latn]tsuki|[@ja]月"
    assert not [h for h in row if h.startswith("Title [")]
    assert row["Date {EDTF}"] == "2020-01~"
    assert "Date" not in row
    assert row["Identifier"] == "id-1"
    assert row["Handle"] == "1903.1/42"
    assert row["Object Type"] == "http://purl.org/dc/dcmitype/Image"
    # Parallel columns: one position per creator, `;` between them, kept aligned when empty.
    assert row["Creator"] == "Smith\\; J.;Doe"
    assert row["Creator URI"] == "http://id.example/smith;"
    assert row["INDEX"] == "creator[0]=#c1;creator[1]=#c2"
    assert row["FILES"] == (
        "Front\\: cover:<preservation>abc/p1.tif;Front\\: cover:<ocr>abc/p1.xml;abc/p2.tif"
    )
    assert row["ITEM_FILES"] == "<metadata>abc/notes\\;1.txt"
    assert (row["PUBLISH"], row["HIDDEN"]) == ("False", "False")
    assert row["URI"] == uri
    assert row["PUBLIC URI"] == "https://digital.example/abc"
    assert (row["CREATED"], row["MODIFIED"]) == ("2020-01-01T00:00:00Z", "2021-01-01T00:00:00Z")


def test_unknown_datatype_is_written_as_a_curie_or_iri(models: ModelSet, tmp_path: Path) -> None:
    uri, g = item_graph("d")
    s = URIRef(uri)
    g.add((s, URIRef(DC + "date"), Literal("2020-02-02", datatype=URIRef(UMDTYPE + "weird"))))
    g.add((s, DCTERMS.extent, Literal("3", datatype=URIRef("urn:x-local:pages"))))
    _model, row = CsvMetadata(tmp_path, models).row(ItemRecord(uri=uri, graph=g))
    assert row["Date {umdtype:weird}"] == "2020-02-02"
    assert row["Extent {urn:x-local:pages}"] == "3"


def test_one_csv_per_model_in_request_order(models: ModelSet, tmp_path: Path) -> None:
    writer = CsvMetadata(tmp_path, models)
    records = []
    for n, types in enumerate([[], [BIBO + "Letter"], [], [BIBO + "Issue"], []]):
        uri, g = item_graph(f"i{n}", *types)
        g.add((URIRef(uri), DCTERMS.title, Literal(f"Title {n}")))
        if n == 2:
            g.add((URIRef(uri), DCTERMS.title, Literal(f"タイトル {n}", lang="ja")))
        records.append(ItemRecord(uri=uri, graph=g))
    # Rendered and added in reverse: the files still follow the request order.
    for index in reversed(range(len(records))):
        writer.add(index, writer.render(records[index]))
    out = tmp_path / "out"
    out.mkdir()
    files = dict(writer.finish(out))
    writer.close()
    assert set(files) == {"Item_metadata.csv", "Letter_metadata.csv", "Issue_metadata.csv"}
    headers, rows = read_csv(files["Item_metadata.csv"])
    assert [r["Title"] for r in rows] == ["Title 0", "Title 2|[@ja]タイトル 2", "Title 4"]
    # The model's labels in model order, each variant right after its label, system last.
    assert headers[:5] == [
        "Object Type",
        "Identifier",
        "Rights Statement",
        "Title",
        "Format",
    ]
    assert headers[-9:] == [
        "URI",
        "PUBLIC URI",
        "CREATED",
        "MODIFIED",
        "INDEX",
        "FILES",
        "ITEM_FILES",
        "PUBLISH",
        "HIDDEN",
    ]
    headers, rows = read_csv(files["Letter_metadata.csv"])
    assert [r["URI"] for r in rows] == [BASE + "i1"]
    # Embedded columns in the order the model labels them (Location, Longitude, Latitude).
    place = headers.index("Location")
    assert headers[place : place + 3] == ["Location", "Longitude", "Latitude"]
    assert not list(tmp_path.glob("*.spool"))


def test_publish_and_hidden_show_the_access_classes(models: ModelSet, tmp_path: Path) -> None:
    access = "http://vocab.lib.umd.edu/access#"
    writer = CsvMetadata(tmp_path, models)
    for types, expected in [
        ([], ("False", "False")),
        ([access + "Published"], ("True", "False")),
        ([access + "Published", access + "Hidden"], ("True", "True")),
        ([access + "Hidden"], ("False", "True")),
    ]:
        uri, g = item_graph("p", *types)
        _model, row = writer.row(ItemRecord(uri=uri, graph=g))
        assert (row["PUBLISH"], row["HIDDEN"]) == expected


def test_a_value_that_looks_like_a_language_tag_is_escaped(
    models: ModelSet, tmp_path: Path
) -> None:
    uri, g = item_graph("q")
    g.add((URIRef(uri), DCTERMS.title, Literal("[@en] is not a language here")))
    _model, row = CsvMetadata(tmp_path, models).row(ItemRecord(uri=uri, graph=g))
    assert row["Title"] == "\\[@en] is not a language here"


def test_export_columns_follow_upstreams_order(models: ModelSet, tmp_path: Path) -> None:
    writer = CsvMetadata(tmp_path, models)
    # upstream models/letter.py:68-101 and models/poster.py:49-72
    assert writer.headers(models.get("Letter"), set())[:22] == [
        "Title", "Rights Holder", "Extent", "Bibliographic Citation", "Description", "Language",
        "Date", "Resource Type", "Rights", "Terms of Use", "Copyright Notice", "Subject",
        "Location", "Longitude", "Latitude", "Archival Collection", "Handle/Link", "Identifier",
        "Recipient", "Author", "Handle", "Presentation Set",
    ]  # fmt: skip
    assert writer.headers(models.get("Poster"), set())[:22] == [
        "Title", "Alternate Title", "Publisher", "Collection", "Format", "Resource Type", "Date",
        "Language", "Description", "Extent", "Issue", "Identifier/Call Number", "Location",
        "Longitude", "Latitude", "Subject", "Rights", "Terms of Use", "Copyright Notice",
        "Identifier", "Handle", "Presentation Set",
    ]  # fmt: skip
    # upstream models/newspaper.py:38-52
    assert writer.headers(models.get("Issue"), set())[:11] == [
        "Title", "Date", "Volume", "Issue", "Edition", "Handle", "Presentation Set",
        "Copyright Notice", "Terms of Use", "Rights Statement", "Rights Holder",
    ]  # fmt: skip
    # upstream models/umd.py:63-106
    assert writer.headers(models.get("Item"), set())[:28] == [
        "Object Type", "Identifier", "Rights Statement", "Title", "Format",
        "Archival Collection", "Presentation Set", "Date", "Description", "Alternate Title",
        "Creator", "Creator URI", "Contributor", "Contributor URI", "Publisher",
        "Publisher URI", "Audience", "Audience URI", "Location", "Extent", "Subject",
        "Language", "Rights Holder", "Terms of Use", "Copyright Notice",
        "Collection Information", "Accession Number", "Handle",
    ]  # fmt: skip


def test_bare_literal_in_an_embedded_field_is_shown_as_label(
    models: ModelSet, tmp_path: Path
) -> None:
    uri, g = item_graph("e")
    g.add((URIRef(uri), DCTERMS.subject, Literal("Turtles")))
    g.add((URIRef(uri), DCTERMS.subject, URIRef("http://id.example/topic/1")))
    _model, row = CsvMetadata(tmp_path, models).row(ItemRecord(uri=uri, graph=g))
    assert row["Subject"] in ("Turtles;", ";Turtles")
    assert "INDEX" not in row


def test_escaping() -> None:
    assert escape_value("a|b\\c") == "a\\|b\\\\c"
    assert escape_value("a;b", embedded=True) == "a\\;b"
    assert join_cell(["x|y", "z"]) == "x\\|y|z"


def test_turtle_blocks_in_request_order_with_prefixes_once(tmp_path: Path) -> None:
    writer = TurtleMetadata(tmp_path, {"dcterms": str(DCTERMS), "pcdm": "http://pcdm.org/models#"})
    graphs = []
    for n in range(4):
        uri, g = item_graph(f"t{n}")
        g.add((URIRef(uri), DCTERMS.title, Literal(f"T{n}")))
        g.add((URIRef(uri), URIRef(f"http://other{n % 2}.example/ns#p"), Literal("x")))
        graphs.append(g)
    for index in (2, 0, 3, 1):
        writer.add(index, writer.render(ItemRecord(uri=BASE + f"t{index}", graph=graphs[index])))
    out = tmp_path / "out"
    out.mkdir()
    [(name, path)] = writer.finish(out)
    writer.close()
    assert name == "metadata.ttl"
    text = path.read_text()
    assert text.count("@prefix dcterms:") == 1
    positions = [text.index(f'"T{n}"') for n in range(4)]
    assert positions == sorted(positions)
    parsed = Graph()
    parsed.parse(data=text, format="turtle")
    union = Graph()
    for g in graphs:
        union += g
    assert isomorphic(parsed, union)


def test_ordered_spool(tmp_path: Path) -> None:
    spool = OrderedSpool(tmp_path / "s")
    for index, data in [(3, b"d"), (0, b"a"), (2, b"cc"), (1, b"")]:
        spool.add(index, data)
    assert list(spool) == [b"a", b"", b"cc", b"d"]
    assert len(spool) == 4
    spool.close()
    assert not (tmp_path / "s").exists()
