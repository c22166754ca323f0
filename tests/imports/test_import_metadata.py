"""The metadata CSV rules (import-export.md), one test per rule, without any service."""

from __future__ import annotations

from pathlib import Path

import pytest
from rdflib import Literal, URIRef

from plastrond.imports.metadata import (
    MetadataError,
    RowError,
    apply_row,
    read_metadata,
    read_row,
    split_cell,
    split_files,
    split_positions,
)
from plastrond.imports.run import row_keys, select_rows
from plastrond.models import Embedded, Item, load_models

MODELS = load_models()
ITEM = MODELS.get("Item")
LETTER = MODELS.get("Letter")
EDTF = URIRef("http://id.loc.gov/datatypes/edtf")
XSD_DATE = URIRef("http://www.w3.org/2001/XMLSchema#date")
URI = "http://repo.example/rest/pcdm/abc"


def one_row(text: str, model=ITEM):
    metadata = read_metadata(text, model, MODELS)
    assert len(metadata.rows) == 1
    return metadata.header, metadata.rows[0]


def item_from(text: str, model=ITEM) -> Item:
    header, row = one_row(text, model)
    item = Item.new(URI, model)
    apply_row(item, header, read_row(header, row))
    return item


# -- cells ------------------------------------------------------------------------------------


def test_values_are_separated_by_bars_and_blank_values_ignored() -> None:
    assert split_cell("a|b| c ||") == ["a", "b", "c"]
    assert split_cell("") == []
    assert split_cell("   ") == []


def test_a_backslash_escapes_the_next_character() -> None:
    assert split_cell(r"a\|b|c") == ["a|b", "c"]
    assert split_cell(r"back\\|slash") == ["back\\", "slash"]
    assert split_cell(r"semi\;colon") == ["semi;colon"]
    assert split_cell("trailing\\") == ["trailing\\"]


def test_embedded_columns_separate_objects_by_semicolons() -> None:
    assert split_positions(r"Doe, Jane|J. Doe;Roe\; R;") == [
        ["Doe, Jane", "J. Doe"],
        ["Roe; R"],
        [],
    ]
    assert split_positions("") == []


def test_files_are_separated_by_semicolons() -> None:
    assert split_files(r"a.tif; b.jpg ;;c\;d.txt") == ["a.tif", "b.jpg", "c;d.txt"]


# -- header ---------------------------------------------------------------------------------


def test_model_columns_are_matched_by_label() -> None:
    header, _row = one_row("Identifier,Title,Creator,Creator URI,URI,FILES\nx,y,z,,,\n")
    assert set(header.plain) == {"identifier", "title"}
    assert {k: set(v) for k, v in header.embedded.items()} == {"creator": {"label", "same_as"}}
    assert set(header.system) == {"URI", "FILES"}


@pytest.mark.parametrize(
    "column",
    ["URI", "PUBLIC URI", "CREATED", "MODIFIED", "INDEX", "FILES", "ITEM_FILES", "CREATE_PAGES"],
)
def test_system_columns_are_known(column: str) -> None:
    header, _row = one_row(f"Title,{column}\nx,\n")
    assert column in header.system


def test_an_unknown_column_fails_naming_it() -> None:
    with pytest.raises(MetadataError, match="unknown column 'Colour'"):
        read_metadata("Title,Colour\nx,red\n", ITEM, MODELS)


def test_a_column_of_another_model_is_unknown() -> None:
    with pytest.raises(MetadataError, match="'Volume': not a column of the Item model"):
        read_metadata("Title,Volume\nx,1\n", ITEM, MODELS)


def test_a_repeated_column_fails() -> None:
    with pytest.raises(MetadataError, match="'Title' appears twice"):
        read_metadata("Title,Title\nx,y\n", ITEM, MODELS)


def test_an_unlabelled_column_is_ignored_only_when_empty() -> None:
    header, row = one_row("Title,\nx,\n")
    assert header.width == 2 and len(row.cells) == 2
    with pytest.raises(MetadataError, match="column 2 has no label but holds values"):
        read_metadata("Title,\nx,y\n", ITEM, MODELS)


def test_a_language_in_brackets_by_name_or_code() -> None:
    item = item_from(
        "Title,Alternate Title [Japanese],Alternate Title [Japanese (Romanized)],"
        "Alternate Title [fr]\nT,東京,Tōkyō,Tokyo\n"
    )
    assert set(item.values["alternate_title"]) == {
        Literal("東京", lang="ja"),
        Literal("Tōkyō", lang="ja-latn"),
        Literal("Tokyo", lang="fr"),
    }


def test_a_bad_language_code_fails_the_job() -> None:
    with pytest.raises(MetadataError, match="neither a known language name"):
        read_metadata("Title [not a code!]\nx\n", ITEM, MODELS)


def test_a_datatype_in_braces_by_name_curie_or_uri() -> None:
    item = item_from(
        "Title,Date {EDTF},Alternate Title {Date},Alternate Title {xsd:string},"
        "Description {<http://example.org/dt>}\nT,1945~,1945-05-08,s,d\n"
    )
    assert item.values["date"] == [Literal("1945~", datatype=EDTF)]
    assert set(item.values["alternate_title"]) == {
        Literal("1945-05-08", datatype=XSD_DATE),
        Literal("s", datatype=URIRef("http://www.w3.org/2001/XMLSchema#string")),
    }
    assert item.values["description"] == [Literal("d", datatype=URIRef("http://example.org/dt"))]


def test_an_unknown_datatype_prefix_fails_the_job() -> None:
    with pytest.raises(MetadataError, match="'nope:x' is neither a known datatype name"):
        read_metadata("Date {nope:x}\n1\n", ITEM, MODELS)


def test_a_plain_column_uses_the_fields_default_datatype() -> None:
    item = item_from("Title,Handle,Accession Number\nT,hdl:1903.1/1,A-1\n")
    assert item.values["handle"] == [
        Literal("hdl:1903.1/1", datatype=URIRef("http://vocab.lib.umd.edu/datatype#handle"))
    ]
    assert item.values["accession_number"][0].datatype == URIRef(
        "http://vocab.lib.umd.edu/datatype#accessionNumber"
    )


def test_a_language_on_a_uri_field_fails_the_job() -> None:
    with pytest.raises(MetadataError, match="holds URIs, not a language"):
        read_metadata("Rights Statement [en]\nx\n", ITEM, MODELS)


def test_a_language_on_a_datatyped_field_is_a_row_problem_not_a_job_refusal() -> None:
    # issue #24, item 3: the header is read; a row with a value in the column is invalid
    metadata = read_metadata("Title,Handle [en]\nT,hdl:1903.1/1\nU,\n", ITEM, MODELS)
    first, second = metadata.rows
    with pytest.raises(RowError) as info:
        read_row(metadata.header, first)
    assert info.value.problems == [
        "Handle [en]: a value in language 'en' cannot have the datatype "
        "http://vocab.lib.umd.edu/datatype#handle of field handle"
    ]
    assert read_row(metadata.header, second).plain["handle"] == []


def test_a_cell_of_spaces_is_a_blank_value_an_empty_one_is_none() -> None:
    # issue #24, item 1: upstream reads "  " as a value (its validators judge it), "" as none
    handle = URIRef("http://vocab.lib.umd.edu/datatype#handle")
    item = item_from("Title,Handle,Description,Rights Statement\nT,   , | ,  \n")
    assert item.values["handle"] == [Literal("", datatype=handle)]
    assert item.values["description"] == [Literal(""), Literal("")]
    assert item.values["rights"] == [Literal("")]
    assert "handle" not in item_from("Title,Handle\nT,\n").values


def test_a_utf8_bom_is_ignored() -> None:
    header, row = one_row("\ufeffIdentifier,Title\nid-1,Titre\n")
    assert "identifier" in header.plain
    assert row.cells == ("id-1", "Titre")


def test_an_empty_csv_fails() -> None:
    with pytest.raises(MetadataError, match="empty"):
        read_metadata("\n\n", ITEM, MODELS)


def test_rows_know_their_line_even_across_quoted_newlines_and_blank_rows() -> None:
    metadata = read_metadata(
        'Title,Description\r\na,"two\r\nlines"\r\n,\r\n\r\nb,c\r\n', ITEM, MODELS
    )
    assert [(r.number, r.line) for r in metadata.rows] == [(1, 2), (2, 6)]


def test_rows_keep_their_width_to_be_judged() -> None:
    metadata = read_metadata("Title,Description\na\nb,c,d\ne,f\n", ITEM, MODELS)
    assert [len(r.cells) for r in metadata.rows] == [1, 3, 2]
    assert metadata.header.width == 2


# -- rows -----------------------------------------------------------------------------------


def test_uri_fields_take_uris_only() -> None:
    header, row = one_row("Title,Rights Statement\nT,not a uri\n")
    with pytest.raises(RowError) as info:
        read_row(header, row)
    assert info.value.problems == ["Rights Statement: not a URI: 'not a uri'"]


def test_every_problem_of_a_row_is_reported() -> None:
    header, row = one_row(
        "Title,Rights Statement,URI,INDEX,CREATE_PAGES,FILES\nT,x y,ftp://x,bad,maybe,/etc/passwd\n"
    )
    with pytest.raises(RowError) as info:
        read_row(header, row)
    assert info.value.problems == [
        "Rights Statement: not a URI: 'x y'",
        "INDEX: 'bad' is not of the form field[N]=#fragment",
        "URI: not an http(s) URI: 'ftp://x'",
        "FILES: '/etc/passwd' is not a relative path",
        "CREATE_PAGES: expected true or false, not 'maybe'",
    ]


def test_file_paths_must_stay_inside_the_location() -> None:
    header, row = one_row("Title,FILES,ITEM_FILES\nT,a/../../x.tif,./b/./c.jpg\n")
    with pytest.raises(RowError, match=r"'a/\.\./\.\./x\.tif' leads out of the binaries location"):
        read_row(header, row)
    header, row = one_row("Title,ITEM_FILES\nT,./b/./c.jpg;a/../d.txt\n")
    assert read_row(header, row).item_files == ("b/c.jpg", "d.txt")


@pytest.mark.parametrize(("cell", "expected"), [("", True), ("false", False), ("Yes", True)])
def test_create_pages_is_a_boolean_defaulting_to_true(cell: str, expected: bool) -> None:
    header, row = one_row(f"Title,CREATE_PAGES\nT,{cell}\n")
    assert read_row(header, row).create_pages is expected


def test_index_names_embedded_fields_only() -> None:
    header, row = one_row("Title,INDEX\nT,title[0]=#a;nope[0]=#b;creator[0]=#c;creator[0]=#d\n")
    with pytest.raises(RowError) as info:
        read_row(header, row)
    assert info.value.problems == [
        "INDEX: field title holds no embedded objects",
        "INDEX: the Item model has no field 'nope'",
        "INDEX: creator[0] is given twice",
    ]


def test_embedded_objects_come_from_parallel_columns_in_order() -> None:
    item = item_from(
        'Title,Creator,Creator URI,INDEX\nT,"Doe, Jane;Roe, R",;http://id.example/roe,'
        "creator[1]=#roe\n"
    )
    creators = item.values["creator"]
    assert all(isinstance(c, Embedded) for c in creators)
    first, second = creators
    assert isinstance(first, Embedded) and isinstance(second, Embedded)
    assert first.values == {"label": [Literal("Doe, Jane")]}
    assert str(first.uri).startswith(f"{URI}#")
    assert second.uri == URIRef(f"{URI}#roe")
    assert second.values == {
        "label": [Literal("Roe, R")],
        "same_as": [URIRef("http://id.example/roe")],
    }


def test_new_embedded_objects_get_their_class_types() -> None:
    item = item_from(
        "Identifier,Title,Author,Archival Collection,Handle/Link\nL1,T,Ann,Papers,hdl:1903.1/9\n",
        LETTER,
    )
    (author,) = item.values["author"]
    assert isinstance(author, Embedded)
    assert URIRef("http://www.europeana.eu/schemas/edm/Agent") in author.types


# -- URI rows: only what the columns say changes ----------------------------------------------


def existing() -> Item:
    item = Item.new(URI, ITEM)
    item.add("title", "Old")
    item.add("description", "Kept")
    item.embed("creator", "a", label="Ann", same_as="http://id.example/ann")
    item.embed("creator", "b", label="Bob")
    return item


def updated(csv_text: str, item: Item | None = None) -> Item:
    item = item or existing()
    header, row = one_row(csv_text)
    apply_row(item, header, read_row(header, row))
    return item


def test_fields_without_a_column_are_left_alone() -> None:
    item = updated(f"Title,URI\nNew,{URI}\n")
    assert item.values["title"] == [Literal("New")]
    assert item.values["description"] == [Literal("Kept")]
    assert len(item.values["creator"]) == 2


def test_an_empty_cell_removes_the_fields_values() -> None:
    item = updated(f"Title,Description,URI\nNew,,{URI}\n")
    assert "description" not in item.values


def test_index_positions_keep_their_objects() -> None:
    item = updated(
        f"Title,Creator,Creator URI,URI,INDEX\nOld,Bobby;Ann,;http://id.example/ann,{URI},"
        "creator[0]=#b;creator[1]=#a\n"
    )
    creators = {str(c.uri).split("#")[1]: c.values for c in item.values["creator"]}  # type: ignore[union-attr]
    assert creators == {
        "b": {"label": [Literal("Bobby")]},
        "a": {"label": [Literal("Ann")], "same_as": [URIRef("http://id.example/ann")]},
    }


def test_without_index_an_object_repeated_as_it_was_is_kept() -> None:
    before = existing()
    old_uris = {c.uri for c in before.values["creator"]}  # type: ignore[union-attr]
    item = updated(
        f"Title,Creator,Creator URI,URI\nOld,Bob;Ann,;http://id.example/ann,{URI}\n", before
    )
    assert {c.uri for c in item.values["creator"]} == old_uris  # type: ignore[union-attr]


def test_objects_no_position_shows_are_removed() -> None:
    item = updated(f"Title,Creator,URI,INDEX\nOld,Ann,{URI},creator[0]=#a\n")
    (creator,) = item.values["creator"]
    assert isinstance(creator, Embedded) and creator.uri == URIRef(f"{URI}#a")
    # The column for same_as is absent: the object keeps its same_as.
    assert creator.values["same_as"] == [URIRef("http://id.example/ann")]


def test_a_plain_value_of_an_embedded_field_survives_a_round_trip() -> None:
    item = Item.new(URI, ITEM)
    item.values["subject"] = [Literal("Maryland")]
    item = updated(f"Subject,URI\nMaryland,{URI}\n", item)
    assert item.values["subject"] == [Literal("Maryland")]


# -- identifiers and selection ----------------------------------------------------------------


def test_rows_are_known_by_identifier_else_by_line() -> None:
    metadata = read_metadata(
        "Identifier,Title,Description\na,1,x\nb,2,x\nb,3,x\n,4,x\n,,x\n", ITEM, MODELS
    )
    assert list(row_keys(metadata.header, metadata.rows).values()) == [
        "a",
        "b",  # the first row of an identifier has it, whatever follows (issue 25)
        "b #2",
        "4",  # no identifier: the title
        "source.csv:6",
    ]


def test_a_model_without_identifier_is_known_by_its_title_never_its_handle() -> None:
    # upstream sheet.py:417-419: the identifier column of an Issue is Title
    issue = MODELS.get("Issue")
    metadata = read_metadata("Title,Handle\nT1,hdl:1/2\nT2,\n", issue, MODELS)
    assert list(row_keys(metadata.header, metadata.rows).values()) == ["T1", "T2"]


def test_limit_counts_rows_from_the_top_done_or_not() -> None:
    metadata = read_metadata("Title\n" + "".join(f"t{n}\n" for n in range(10)), ITEM, MODELS)
    done = {1, 2}
    todo, skipped = select_rows(metadata.rows, lambda r: r.number in done, 5, None)
    assert [r.number for r in todo] == [3, 4, 5] and skipped == 2


def test_percent_picks_an_evenly_spaced_share() -> None:
    metadata = read_metadata("Title\n" + "".join(f"t{n}\n" for n in range(10)), ITEM, MODELS)
    todo, skipped = select_rows(metadata.rows, lambda r: False, None, 30)
    assert [r.number for r in todo] == [1, 4, 7] and skipped == 0
    todo, _ = select_rows(metadata.rows, lambda r: r.number <= 8, None, 50)
    assert [r.number for r in todo] == [9, 10]


@pytest.mark.parametrize("name", ["Item", "Issue", "Letter", "Poster"])
def test_the_sample_csvs_read_with_their_models(name: str) -> None:
    text = (Path(__file__).parent / "data" / f"{name}.csv").read_text(encoding="utf-8")
    metadata = read_metadata(text, MODELS.get(name), MODELS)
    for row in metadata.rows:
        assert len(row.cells) == metadata.header.width
        read_row(metadata.header, row)


# -- upstream 4.8.1's CSV forms ---------------------------------------------------------------


def test_inline_languages_are_read_as_upstreams_export_writes_them() -> None:
    item = item_from(
        "Title,Alternate Title,Creator\n"
        "[@ja]東京|Tokyo,[@ja-latn]Tōkyō|\\[@en] stays text,[@ja]山田;Doe\n"
    )
    assert sorted(item.values["title"]) == sorted([Literal("東京", lang="ja"), Literal("Tokyo")])
    assert sorted(item.values["alternate_title"]) == sorted(
        [Literal("Tōkyō", lang="ja-latn"), Literal("[@en] stays text")]
    )
    labels = [obj.values["label"] for obj in item.values["creator"]]
    assert labels == [[Literal("山田", lang="ja")], [Literal("Doe")]]


def test_a_language_column_by_name_gives_the_code_not_the_name() -> None:
    # upstream makes `Title [Japanese]` the language tag "Japanese"
    item = item_from("Title [Japanese]\n東京\n")
    assert item.values["title"] == [Literal("東京", lang="ja")]


def test_a_datatype_column_is_read() -> None:
    # upstream accepts `Date {EDTF}` and drops its values
    item = item_from("Date {EDTF}\n1945-05~\n")
    assert item.values["date"] == [Literal("1945-05~", datatype=EDTF)]


def test_an_inline_language_on_a_typed_or_uri_field_is_a_row_problem() -> None:
    header, row = one_row("Object Type\n[@en]http://purl.org/dc/dcmitype/Text\n")
    with pytest.raises(RowError) as caught:
        read_row(header, row)
    assert "Object Type: [@en]: field object_type holds URIs" in caught.value.problems
    header, row = one_row("Date\n[@en]1920\n", LETTER)
    with pytest.raises(RowError, match="cannot have the datatype"):
        read_row(header, row)


@pytest.mark.parametrize("column", ["PUBLISH", "HIDDEN"])
@pytest.mark.parametrize("cell", ["True", "False", "maybe", ""])
def test_publish_and_hidden_are_accepted_and_not_applied(column: str, cell: str) -> None:
    item = item_from(f"Title,{column}\nT,{cell}\n")
    assert item.types == list(ITEM.types)
    assert item.values == {"title": [Literal("T")]}


def test_files_labels_and_usage_tags() -> None:
    header, row = one_row(
        "Title,FILES,ITEM_FILES\n"
        "T,Front:<preservation>d/p1.tif;Front:<OCR>d/p1.xml;Back:p2.tif;Back:<ocr>p2.jpg,"
        "<metadata>doc.pdf;ignored:<ocr>notes.txt\n"
    )
    data = read_row(header, row)
    assert data.files == ("d/p1.tif", "d/p1.xml", "p2.tif", "p2.jpg")
    assert [(g.stem, g.label, [f.path for f in g.files]) for g in data.pages] == [
        ("p1", "Front", ["d/p1.tif", "d/p1.xml"]),
        ("p2", "Back", ["p2.tif", "p2.jpg"]),
    ]
    assert [f.tags for g in data.pages for f in g.files] == [
        ("preservation",),
        ("ocr",),
        (),
        ("ocr",),
    ]
    assert [(f.path, f.tags) for f in data.loose_files] == [
        ("doc.pdf", ("metadata",)),
        ("notes.txt", ("ocr",)),
    ]
    assert data.pages[0].files[1].types == (URIRef("http://pcdm.org/use#ExtractedText"),)


@pytest.mark.parametrize(
    ("cell", "problem"),
    [
        ("Front:p1.tif;p2.tif", "labels must be on every page or on none"),
        ("Front:p1.tif;Back:p1.jpg", "different labels: Front, Back"),
        ("<thumbnail>p1.tif", "unknown usage tag <thumbnail>"),
    ],
)
def test_bad_labels_and_tags_make_the_row_invalid(cell: str, problem: str) -> None:
    header, row = one_row(f"Title,FILES\nT,{cell}\n")
    with pytest.raises(RowError, match=problem):
        read_row(header, row)


def test_a_real_upstream_export_reads_unchanged() -> None:
    # the shape upstream 4.8.1's export writes (upstream-models.md section 2): model columns
    # in HEADER_MAP order, inline languages, INDEX, FILES labels and tags, PUBLISH/HIDDEN
    text = (
        "Object Type,Identifier,Rights Statement,Title,Creator,Creator URI,Language,"
        "URI,PUBLIC URI,CREATED,MODIFIED,INDEX,FILES,ITEM_FILES,PUBLISH,HIDDEN\n"
        "http://purl.org/dc/dcmitype/Image,item-1,"
        "http://vocab.lib.umd.edu/rightsStatement#InC,[@ja]写真|Photo,"
        "[@ja]山田;Doe,http://id.example/yamada;,ja,,,"
        "2023-01-01T00:00:00+00:00,2023-01-02T00:00:00+00:00,"
        "creator[0]=#abc;creator[1]=#def,"
        "Front:<preservation>item-1/p1.tif;Front:<ocr>item-1/p1.jpg;Back:<preservation>item-1/p2.tif,"
        "<metadata>item-1/doc.pdf,True,False\n"
    )
    header, row = one_row(text)
    data = read_row(header, row)
    item = Item.new(URI, ITEM)
    apply_row(item, header, data)
    assert sorted(item.values["title"]) == sorted([Literal("写真", lang="ja"), Literal("Photo")])
    creators = item.values["creator"]
    assert [str(c.uri) for c in creators] == [URI + "#abc", URI + "#def"]
    assert creators[0].values == {
        "label": [Literal("山田", lang="ja")],
        "same_as": [URIRef("http://id.example/yamada")],
    }
    assert [(g.label, [f.tags for f in g.files]) for g in data.pages] == [
        ("Front", [("preservation",), ("ocr",)]),
        ("Back", [("preservation",)]),
    ]
    assert [f.tags for f in data.loose_files] == [("metadata",)]
    assert URIRef("http://vocab.lib.umd.edu/access#Published") not in item.types


def test_an_update_gives_the_item_the_models_types_it_lacks() -> None:
    header, row = one_row("Title\nT\n")
    item = Item(uri=URIRef(URI), model=ITEM, types=[URIRef("http://pcdm.org/models#Object")])
    apply_row(item, header, read_row(header, row))
    assert item.types == [
        URIRef("http://pcdm.org/models#Object"),
        URIRef("http://vocab.lib.umd.edu/model#Item"),
    ]
