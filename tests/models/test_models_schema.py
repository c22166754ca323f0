"""Content models as data: the shipped models, detection, extension from a folder, errors."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import trio
from rdflib import URIRef

from plastrond.models import ModelError, UnknownModel, current_models, load_models

DCTERMS = "http://purl.org/dc/terms/"
BIBO = "http://purl.org/ontology/bibo/"
PCDM_OBJECT = "http://pcdm.org/models#Object"
UMD = "http://vocab.lib.umd.edu/model#"


#: the start of a model file with a model X whose fields follow
F = "models:\n  X:\n    fields:\n      "


def write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(folder: Path) -> str:
    with pytest.raises(ModelError) as caught:
        load_models(folder)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_the_four_shipped_models():
    models = load_models()
    assert models.names == ["Item", "Issue", "Letter", "Poster"]
    assert models.default_model == "Item"
    item = models.get("Item")
    assert item.types == (URIRef(PCDM_OBJECT), URIRef("http://vocab.lib.umd.edu/model#Item"))
    assert item.field_names[:4] == ("object_type", "identifier", "rights", "title")
    title = item.field("title")
    assert title.predicate == URIRef(DCTERMS + "title")
    assert title.kind == "literal" and title.header == "Title"
    assert [(r.name, r.argument) for r in title.rules] == [("exactly", 1)]
    handle = item.field("handle")
    assert handle.datatype == URIRef("http://vocab.lib.umd.edu/datatype#handle")
    creator = item.field("creator")
    assert creator.kind == "embedded" and creator.embedded is not None
    assert creator.headers == {"label": "Creator", "same_as": "Creator URI"}
    assert creator.embedded.field("label").rule("required") is not None
    assert item.vocabularies() == {
        "http://purl.org/dc/dcmitype/",
        "http://vocab.lib.umd.edu/rightsStatement#",
        "http://vocab.lib.umd.edu/form#",
        "http://vocab.lib.umd.edu/collection#",
        "http://vocab.lib.umd.edu/set#",
        "http://vocab.lib.umd.edu/termsOfUse#",
    }
    assert item.notes["page_title_rule"].startswith("'Page N'")
    issue = models.get("Issue")
    assert issue.field("date").rule("value_pattern").argument == r"^\d\d\d\d-\d\d-\d\d$"
    letter = models.get("Letter")
    author = letter.field("author")
    assert URIRef("http://www.europeana.eu/schemas/edm/Agent") in author.embedded_types
    place = letter.field("place")
    assert place.embedded is not None and place.embedded.name == "place"
    assert [f.name for f in place.embedded.fields] == ["label", "same_as", "lat", "long"]
    assert place.embedded_types == (URIRef("http://www.europeana.eu/schemas/edm/Place"),)
    poster = models.get("Poster")
    assert poster.field("format").predicate == URIRef("http://purl.org/dc/elements/1.1/format")
    assert models.column_languages["Japanese (Romanized)"] == "ja-latn"
    assert models.column_datatypes["EDTF"] == URIRef("http://id.loc.gov/datatypes/edtf")
    assert Path(models.vocabularies["http://purl.org/dc/dcmitype/"]).is_file()


def test_model_names_are_case_insensitive_and_unknown_ones_named():
    models = load_models()
    assert models.get("poster").name == "Poster"
    with pytest.raises(UnknownModel) as caught:
        models.get("Newspaper")
    assert str(caught.value) == (
        "unknown content model 'Newspaper' (known: Item, Issue, Letter, Poster)"
    )


@pytest.mark.parametrize(
    ("types", "expected"),
    [
        ([PCDM_OBJECT, BIBO + "Image"], "Poster"),
        ([BIBO + "Image"], "Poster"),
        ([PCDM_OBJECT, BIBO + "Issue"], "Issue"),
        ([PCDM_OBJECT, BIBO + "Letter"], "Letter"),
        ([PCDM_OBJECT], "Item"),
        ([], "Item"),
        (["http://example.org/Other"], "Item"),
        # upstream's order: umd:Issue, umd:Item, bibo:Image, bibo:Issue, bibo:Letter
        ([UMD + "Item", BIBO + "Letter"], "Item"),
        ([UMD + "Item", BIBO + "Image"], "Item"),
        ([BIBO + "Image", BIBO + "Issue"], "Poster"),
        ([BIBO + "Issue", BIBO + "Letter"], "Issue"),
        ([UMD + "Issue", UMD + "Item"], "Issue"),
        ([UMD + "Newspaper"], "Issue"),
        ([UMD + "Newspaper", UMD + "Item"], "Item"),
    ],
)
def test_detection_from_rdf_types(types, expected):
    assert load_models().detect(URIRef(t) for t in types).name == expected


def test_expand_curies_and_iris():
    models = load_models()
    assert models.expand("pcdm:hasMember") == URIRef("http://pcdm.org/models#hasMember")
    assert models.expand("<http://example.org/p>") == URIRef("http://example.org/p")
    assert models.expand("http://example.org/p") == URIRef("http://example.org/p")
    with pytest.raises(ModelError, match="unknown prefix 'nope'"):
        models.expand("nope:thing")
    with pytest.raises(ModelError, match="expected a CURIE or IRI"):
        models.expand("hasMember")


def test_a_folder_adds_a_model_and_replaces_one(tmp_path):
    write(
        tmp_path,
        "10-map.yml",
        """\
        prefixes:
          ex: http://example.org/ns#
        classes:
          person:
            extends: labeled_thing
            types: [ex:Person]
            fields:
              born: {predicate: ex:born, kind: literal, rules: {edtf: true}}
        vocabularies:
          http://example.org/vocab#: vocab.ttl
        models:
          Map:
            types: [pcdm:Object, ex:Map]
            detect: [ex:Map]
            fields:
              title:
                {predicate: dcterms:title, kind: literal, header: Title, rules: {required: true}}
              maker: {predicate: ex:maker, kind: embedded, class: person, headers: {label: Maker}}
              scale: {predicate: ex:scale, kind: literal, rules: {value_pattern: '^1:\\d+$'}}
        """,
    )
    write(
        tmp_path,
        "20-poster.yaml",
        """\
        models:
          Poster:
            types: [pcdm:Object, bibo:Image]
            detect: [bibo:Image]
            fields:
              title: {predicate: dcterms:title, kind: literal, rules: {exactly: 1}}
        """,
    )
    (tmp_path / "README.txt").write_text("not a model file")
    models = load_models(tmp_path)
    assert models.names == ["Item", "Issue", "Letter", "Poster", "Map"]
    map_model = models.get("Map")
    assert map_model.source == str(tmp_path / "10-map.yml")
    maker = map_model.field("maker").embedded
    assert maker is not None
    assert [f.name for f in maker.fields] == ["label", "same_as", "born"]
    assert maker.types == (URIRef("http://example.org/ns#Person"),)
    assert models.detect([URIRef("http://example.org/ns#Map")]).name == "Map"
    assert models.get("Poster").field_names == ("title",)
    assert models.vocabularies["http://example.org/vocab#"] == str(tmp_path / "vocab.ttl")


def test_a_later_files_detection_rows_come_first(tmp_path):
    write(
        tmp_path,
        "maps.yml",
        """\
        models:
          Map:
            types: [pcdm:Object, umd:Item, bibo:Map]
            fields: {}
        detection:
          - {type: bibo:Map, model: Map}
        prefixes:
          bibo: http://purl.org/ontology/bibo/
        """,
    )
    models = load_models(tmp_path)
    types = [URIRef(UMD + "Item"), URIRef(BIBO + "Map")]
    assert models.detect(types).name == "Map"
    assert load_models().detect(types).name == "Item"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("detection:\n  - {type: ex:X}\n", "detection[0]: expected {type: CURIE, model: Name}"),
        ("detection:\n  - {type: bibo:Map, model: Nope}\n", "detection[0]: no model named 'Nope'"),
        (F + "t: {predicate: dcterms:title, header: T}\n    column_order: [T, U]\n",
         "column_order: 'U' is no column of the model"),
        (F + "t: {predicate: dcterms:title, header: T}\n"
         "      u: {predicate: dcterms:alternative, header: U}\n    column_order: [U]\n",
         "column_order: lacks 'T'"),
    ],
)  # fmt: skip
def test_bad_detection_and_column_order_are_named(tmp_path, text, message):
    write(tmp_path, "bad.yml", text)
    assert message in error_of(tmp_path)


def test_column_order_sets_the_export_order(tmp_path):
    write(
        tmp_path,
        "x.yml",
        F + "t: {predicate: dcterms:title, header: T}\n"
        "      u: {predicate: dcterms:alternative, header: U}\n    column_order: [U, T]\n",
    )
    model = load_models(tmp_path).get("X")
    assert model.labels == ("T", "U") and model.columns == ("U", "T")


async def test_current_models_reloads_when_a_file_changes(tmp_path):
    folder = tmp_path / "models"
    folder.mkdir()
    first = await current_models(folder)
    assert await current_models(folder) is first
    write(
        folder,
        "extra.yml",
        "models:\n  Extra:\n    types: [pcdm:Object]\n    fields: {}\n",
    )
    second = await current_models(folder)
    assert second is not first and "Extra" in second.names
    (folder / "extra.yml").unlink()
    await trio.sleep(0)
    assert "Extra" not in (await current_models(folder)).names


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("models: [1, 2]\n", "models: expected a mapping"),
        ("flavour: vanilla\n", "unknown key 'flavour'"),
        (
            "models:\n  X:\n    fields:\n      t: {kind: literal}\n",
            "models.X.fields.t: missing predicate",
        ),
        (
            "models:\n  X:\n    fields:\n      t: {predicate: nope:t}\n",
            "models.X.fields.t.predicate: unknown prefix 'nope' in 'nope:t'",
        ),
        (
            F + "t: {predicate: dcterms:t, kind: number}\n",
            "models.X.fields.t.kind: expected one of literal, uri, embedded, got 'number'",
        ),
        (
            F + "t: {predicate: dcterms:t, rules: {mandatory: true}}\n",
            "models.X.fields.t.rules: unknown rule 'mandatory'",
        ),
        (
            F + "t: {predicate: dcterms:t, rules: {exactly: one}}\n",
            "models.X.fields.t.rules.exactly: expected a whole number, got 'one'",
        ),
        (
            F + "t: {predicate: dcterms:t, rules: {value_pattern: '('}}\n",
            "models.X.fields.t.rules.value_pattern: not a regular expression",
        ),
        (
            F + "t: {predicate: dcterms:t, kind: embedded, class: nope}\n",
            "models.X.fields.t.class: no class named 'nope'",
        ),
        (
            F + "t: {predicate: dcterms:t, rulez: {}}\n",
            "models.X.fields.t: unknown key 'rulez'",
        ),
        (
            F + "a: {predicate: dcterms:t}\n      b: {predicate: dcterms:t}\n",
            "models.X.fields.b: shares predicate http://purl.org/dc/terms/t with a",
        ),
        ("classes:\n  a: {extends: b}\n  b: {extends: a}\n", "extends itself"),
        ("classes:\n  a: {checked: maybe}\n", "classes.a.checked: expected true or false"),
        ("default_model: Nope\n", "default_model: no model named 'Nope'"),
        ("models:\n  X: [\n", "YAML syntax error"),
    ],
)
def test_errors_name_the_file_and_the_key(tmp_path, text, expected):
    path = write(tmp_path, "bad.yml", text)
    message = error_of(tmp_path)
    assert str(path) in message
    assert expected in message


def test_yaml_errors_give_the_line(tmp_path):
    write(tmp_path, "bad.yml", "models:\n  X:\n    types: [a\n  Y: 1\n")
    assert f"{tmp_path / 'bad.yml'}:" in error_of(tmp_path)


def test_a_missing_folder_is_an_error(tmp_path):
    assert "content model folder not found" in error_of(tmp_path / "nowhere")
