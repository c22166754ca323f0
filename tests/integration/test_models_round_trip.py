"""Round trips through the real Fedora, for each of the four models: a CSV with every field
filled (languages inline and by column name, embedded objects, pages with labels and usage
tags, item files) is imported, exported as CSV with its binaries, and

- imported again as an update (the export's URI column): every row is `unchanged`;
- imported again as new items, from the exported bag: exporting those gives the same CSV
  (apart from the URIs, times and item folders), pages, labels and file types included.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rdflib import Literal, URIRef

from tests.support.export import export_csv
from tests.support.imports import FILES, TestContainer, csv_text, import_config, run_import

pytestmark = pytest.mark.integration

RDF_TYPE = URIRef("http://www.w3.org/1999/02/22-rdf-syntax-ns#type")
PCDMUSE = "http://pcdm.org/use#"
FABIO = "http://purl.org/spar/fabio/"
DCTERMS = "http://purl.org/dc/terms/"
RIGHTS = "http://vocab.lib.umd.edu/rightsStatement#"
SET = "http://vocab.lib.umd.edu/set#test"
TERMS = "http://vocab.lib.umd.edu/termsOfUse#test"

#: the page files every sample has: labels, a tag on a JPEG, an OCR TIFF, an item file
PAGE_FILES = "Front:<preservation>p1.tif;Front:<ocr>p1.jpg;Back:<ocr>issue-1/page-2.tif"
ITEM_FILES = "<metadata>notes.txt"

SAMPLES: dict[str, dict[str, str]] = {
    "Item": {
        "Object Type": "http://purl.org/dc/dcmitype/Image",
        "Identifier": "rt-item-1|rt-item-1-alt",
        "Rights Statement": RIGHTS + "InC",
        "Title": "[@ja]写真|Photo of Testudo",
        "Format": "http://vocab.lib.umd.edu/form#photographs",
        "Archival Collection": "http://vocab.lib.umd.edu/collection#0001-UA",
        "Presentation Set": SET,
        "Date": "1945-05~",
        "Description": "A photograph \\| with a bar",
        "Alternate Title": "The Old Line|[@ja-latn]shashin",
        "Creator": "Doe, Jane;[@ja]山田",
        "Creator URI": "http://id.loc.gov/authorities/names/n0001;",
        "Contributor": "Smith, Pat",
        "Contributor URI": "http://id.example/smith",
        "Publisher": "University of Maryland",
        "Publisher URI": "http://id.example/umd",
        "Audience": "Students",
        "Audience URI": "http://id.example/students",
        "Location": "College Park (Md.)",
        "Extent": "1 photograph|3 pages",
        "Subject": "Students;Campus",
        "Language": "en|ja",
        "Rights Holder": "University of Maryland",
        "Terms of Use": TERMS,
        "Copyright Notice": "© University of Maryland",
        "Collection Information": "University Archives",
        "Accession Number": "2020-001",
        "Handle": "hdl:1903.1/12345",
    },
    "Issue": {
        "Title": "The Diamondback, May 1, 1950",
        "Date": "1950-05-01",
        "Volume": "41",
        "Issue": "120",
        "Edition": "1",
        "Handle": "hdl:1903.1/2000",
        "Presentation Set": SET,
        "Copyright Notice": "© The Diamondback",
        "Terms of Use": TERMS,
        "Rights Statement": RIGHTS + "NoC-US",
        "Rights Holder": "Maryland Media Inc.",
    },
    "Letter": {
        "Title": "Letter to a friend|[@fr]Lettre à un ami",
        "Rights Holder": "University of Maryland",
        "Extent": "2 pages",
        "Bibliographic Citation": "Calvert Papers, box 1",
        "Description": "A letter.",
        "Language": "en",
        "Date": "1681-03-12",
        "Resource Type": "letters",
        "Rights": "http://rightsstatements.org/vocab/NoC-US/1.0/",
        "Terms of Use": TERMS,
        "Copyright Notice": "Public domain",
        "Subject": "Colonial history;Tobacco",
        "Location": "St. Mary's City",
        "Longitude": "-76.43",
        "Latitude": "38.19",
        "Archival Collection": "Calvert Papers",
        "Handle/Link": "http://hdl.handle.net/1903.1/333",
        "Identifier": "rt-letter-1",
        "Recipient": "Penn, William",
        "Author": "Calvert, Charles;Calvert, Cecil",
        "Handle": "hdl:1903.1/334",
        "Presentation Set": SET,
    },
    "Poster": {
        "Title": "Victory Garden",
        "Alternate Title": "Grow your own",
        "Publisher": "US Government Printing Office",
        "Collection": "WWII Posters",
        "Format": "lithograph",
        "Resource Type": "posters",
        "Date": "1943-05-01",
        "Language": "en",
        "Description": "A poster.",
        "Extent": "1 sheet",
        "Issue": "3",
        "Identifier/Call Number": "P-0001",
        "Location": "Washington (D.C.)",
        "Longitude": "-77.03",
        "Latitude": "38.90",
        "Subject": "Gardening|War",
        "Rights": "http://rightsstatements.org/vocab/NoC-US/1.0/",
        "Terms of Use": TERMS,
        "Copyright Notice": "Public domain",
        "Identifier": "rt-poster-1",
        "Handle": "hdl:1903.1/555",
        "Presentation Set": SET,
    },
}

#: columns whose text differs between two copies of one item
VOLATILE = ("URI", "CREATED", "MODIFIED", "PUBLIC URI")


XSD_STRING = URIRef("http://www.w3.org/2001/XMLSchema#string")


def plain(values) -> set:
    """Literals as RDF 1.1 reads them: Fedora 4.7 answers a plain literal as xsd:string."""
    return {
        Literal(str(v)) if isinstance(v, Literal) and v.datatype == XSD_STRING else v
        for v in values
    }


def comparable(row: dict[str, str], uri: str) -> dict[str, str]:
    """*row* without the columns that change from copy to copy, the item folder named."""
    folder = uri.rstrip("/").rsplit("/", 1)[-1]
    return {k: v.replace(f"{folder}/", "<item>/") for k, v in row.items() if k not in VOLATILE}


def file_types(target: TestContainer, item: str) -> dict[str, set[str]]:
    """file name -> its usage types, for the files of an item's pages and of itself."""
    found: dict[str, set[str]] = {}
    graph = target.graph(item)
    owners = [
        URIRef(item),
        *graph.objects(URIRef(item), URIRef("http://pcdm.org/models#hasMember")),
    ]
    for owner in owners:
        for f in target.graph(str(owner)).objects(owner, URIRef("http://pcdm.org/models#hasFile")):
            described = target.graph(f"{f}/fcr:metadata")
            name = str(described.value(f, URIRef(DCTERMS + "title")))
            found[name] = {
                str(t).rsplit("/", 1)[-1].rsplit("#", 1)[-1]
                for t in described.objects(f, RDF_TYPE)
                if str(t).startswith((PCDMUSE, FABIO))
            }
    return found


@pytest.mark.parametrize("model", list(SAMPLES))
async def test_import_export_reimport_changes_nothing(
    repo, target, tmp_path: Path, model: str
) -> None:
    jobs = tmp_path / "jobs"
    out = tmp_path / "out"
    out.mkdir()
    config = import_config(jobs, rest_url=repo.root, allowed=(FILES.parent, out))
    row = {**SAMPLES[model], "FILES": PAGE_FILES, "ITEM_FILES": ITEM_FILES}
    args = {"model": model, "binaries_location": str(FILES), "container": target.uri}
    first = await run_import(config, repo, csv_text(row), job_id=f"rt-{model}-1", **args)
    assert first.state == "import_complete", first.body
    assert first.count["created"] == 1
    (item,) = target.items()

    # What the import wrote: the model's types, the pages' labels, the files' usage types.
    types = {str(t) for t in target.graph(item).objects(URIRef(item), RDF_TYPE)}
    umd_type = {"Item": "Item", "Issue": "Newspaper", "Letter": "Letter", "Poster": "Poster"}
    assert f"http://vocab.lib.umd.edu/model#{umd_type[model]}" in types
    assert file_types(target, item) == {
        "p1.tif": {"PreservationMasterFile"},
        "p1.jpg": {"ExtractedText"},
        "page-2.tif": {"PreservationMasterFile", "ExtractedText"},
        "notes.txt": {"MetadataFile"},
    }

    bag, exported = await export_csv(repo, item, out, "first", model)
    assert exported["URI"] == item
    assert (exported["PUBLISH"], exported["HIDDEN"]) == ("False", "False")
    folder = item.rsplit("/", 1)[-1]
    assert exported["FILES"] == (
        # pages in order, a page's files by name
        f"Front:<ocr>{folder}/p1.jpg;Front:<preservation>{folder}/p1.tif;"
        f"Back:<ocr>{folder}/page-2.tif"
    )
    assert exported["ITEM_FILES"] == f"<metadata>{folder}/notes.txt"
    for column, value in SAMPLES[model].items():
        if "|" not in value and ";" not in value and "[@" not in value:
            assert exported[column] == value, column

    # 1. The export imported as an update: nothing changes.
    source = (bag / "data" / f"{model}_metadata.csv").read_text(encoding="utf-8")
    before = target.last_modified(item)
    again = await run_import(config, repo, source, job_id=f"rt-{model}-2", **args)
    assert again.state == "import_complete", again.body
    assert again.count["unchanged"] == 1 and again.count["updated"] == 0, again.count
    assert target.last_modified(item) == before

    # 2. The export imported as a new item from its bag: its export is the same.
    fresh = {k: v for k, v in exported.items() if k != "URI"}
    new_args = {**args, "binaries_location": str(bag / "data")}
    copy = await run_import(config, repo, csv_text(fresh), job_id=f"rt-{model}-3", **new_args)
    assert copy.state == "import_complete", copy.body
    (other,) = [i for i in target.items() if i != item]
    assert file_types(target, other) == file_types(target, item)
    _bag, exported_again = await export_csv(repo, other, out, "second", model)
    assert comparable(exported_again, other) == comparable(exported, item)


async def test_languages_survive_with_their_tags(repo, target, tmp_path: Path) -> None:
    jobs = tmp_path / "jobs"
    config = import_config(jobs, rest_url=repo.root)
    row = {**SAMPLES["Item"], "Title [Japanese (Romanized)]": "shashin"}
    args = {"model": "Item", "container": target.uri}
    outcome = await run_import(config, repo, csv_text(row), job_id="rt-lang", **args)
    assert outcome.state == "import_complete", outcome.body
    (item,) = target.items()
    titles = plain(target.graph(item).objects(URIRef(item), URIRef(DCTERMS + "title")))
    assert titles == {
        Literal("写真", lang="ja"),
        Literal("Photo of Testudo"),
        Literal("shashin", lang="ja-latn"),
    }


async def test_an_upstream_export_imports_unchanged(repo, target, tmp_path: Path) -> None:
    # upstream 4.8.1's export shape (upstream-models.md section 2): HEADER_MAP order, inline
    # languages, INDEX, FILES `Label:<tag><identifier>/<file>`, PUBLISH/HIDDEN as True/False
    location = tmp_path / "bag-data"
    (location / "item-1").mkdir(parents=True)
    for name in ("p1.tif", "p1.jpg", "p2.jpg", "notes.txt"):
        (location / "item-1" / name).write_bytes((FILES / name).read_bytes())
    header = (
        "Object Type,Identifier,Rights Statement,Title,Creator,Creator URI,Language,"
        "URI,PUBLIC URI,CREATED,MODIFIED,INDEX,FILES,ITEM_FILES,PUBLISH,HIDDEN"
    )
    row = (
        "http://purl.org/dc/dcmitype/Image,item-1,http://vocab.lib.umd.edu/rightsStatement#InC,"
        "[@ja]写真|Photo,[@ja]山田;Doe,http://id.example/yamada;,ja,,"
        "https://digital.example/item-1,2023-01-01T00:00:00+00:00,2023-01-02T00:00:00+00:00,"
        "creator[0]=#abc;creator[1]=#def,"
        "Front:<preservation>item-1/p1.tif;Front:<ocr>item-1/p1.jpg;Back:item-1/p2.jpg,"
        "<metadata>item-1/notes.txt,True,True"
    )
    config = import_config(tmp_path / "jobs", rest_url=repo.root, allowed=(tmp_path,))
    args = {"model": "Item", "binaries_location": str(location), "container": target.uri}
    outcome = await run_import(config, repo, f"{header}\n{row}", job_id="rt-upstream", **args)
    assert outcome.state == "import_complete", outcome.body
    (item,) = target.items()
    s = URIRef(item)
    graph = target.graph(item)
    assert plain(graph.objects(s, URIRef(DCTERMS + "title"))) == {
        Literal("写真", lang="ja"),
        Literal("Photo"),
    }
    creators = sorted(graph.objects(s, URIRef(DCTERMS + "creator")))
    assert creators == [URIRef(item + "#abc"), URIRef(item + "#def")]
    label = URIRef("http://www.w3.org/2000/01/rdf-schema#label")
    assert plain(graph.objects(URIRef(item + "#abc"), label)) == {Literal("山田", lang="ja")}
    # PUBLISH and HIDDEN show state; they publish nothing
    types = {str(t) for t in graph.objects(s, RDF_TYPE)}
    assert not types & {
        "http://vocab.lib.umd.edu/access#Published",
        "http://vocab.lib.umd.edu/access#Hidden",
    }
    pages = list(graph.objects(s, URIRef("http://pcdm.org/models#hasMember")))
    titles = {str(target.graph(str(p)).value(p, URIRef(DCTERMS + "title"))) for p in pages}
    assert titles == {"Front", "Back"}
    assert file_types(target, item) == {
        "p1.tif": {"PreservationMasterFile"},
        "p1.jpg": {"ExtractedText"},
        "p2.jpg": set(),
        "notes.txt": {"MetadataFile"},
    }


#: an item as upstream 4.8.1 wrote some in production (POST of the item's turtle, embedded
#: objects at hash URIs): a creator with two labels, one with a label only, one known by its
#: URI alone. Upstream declares LabeledThing's label "required, one" and never checks it.
UPSTREAM_ITEM = """\
@prefix dcterms: <http://purl.org/dc/terms/> .
@prefix rdfs: <http://www.w3.org/2000/01/rdf-schema#> .
@prefix owl: <http://www.w3.org/2002/07/owl#> .
<> a <http://pcdm.org/models#Object>, <http://vocab.lib.umd.edu/model#Item> ;
   dcterms:type <http://purl.org/dc/dcmitype/Image> ;
   dcterms:identifier "up-creators-1" ;
   dcterms:rights <http://vocab.lib.umd.edu/rightsStatement#InC> ;
   dcterms:title "One creator, two names" ;
   dcterms:creator <#a1>, <#a2>, <#a3> .
<#a1> rdfs:label "Doe, Jane", "Roe, Jane" ; owl:sameAs <http://id.example/doe> .
<#a2> rdfs:label "Smith, Pat" .
<#a3> owl:sameAs <http://id.example/anonymous> .
"""

RDFS_LABEL = URIRef("http://www.w3.org/2000/01/rdf-schema#label")
OWL_SAME_AS = URIRef("http://www.w3.org/2002/07/owl#sameAs")


def creators(target: TestContainer, item: str) -> list[tuple[frozenset, frozenset]]:
    """(labels, same_as) of each creator of *item*, sorted."""
    graph = target.graph(item)
    found = []
    for c in graph.objects(URIRef(item), URIRef(DCTERMS + "creator")):
        labels = frozenset(str(v) for v in graph.objects(c, RDFS_LABEL))
        same = frozenset(str(v) for v in graph.objects(c, OWL_SAME_AS))
        found.append((labels, same))
    return sorted(found, key=lambda pair: (sorted(pair[0]), sorted(pair[1])))


async def test_an_upstream_item_with_a_two_label_creator_round_trips(
    repo, target, tmp_path: Path
) -> None:
    """Exported as upstream writes it (`Doe, Jane|Roe, Jane` in one Creator cell), imported
    again as an update (nothing changes), and as a new item (the same creators); `Doe;Roe` is
    still two creators."""
    item = f"{target.uri}/upstream-creators"
    target.client.put(
        item, content=UPSTREAM_ITEM, headers={"Content-Type": "text/turtle"}
    ).raise_for_status()
    out = tmp_path / "out"
    out.mkdir()
    bag, exported = await export_csv(repo, item, out, "upstream", "Item")
    assert exported["Creator"] == "Doe, Jane|Roe, Jane;Smith, Pat;"
    assert exported["Creator URI"] == "http://id.example/doe;;http://id.example/anonymous"

    config = import_config(tmp_path / "jobs", rest_url=repo.root, allowed=(out,))
    args = {"model": "Item", "container": target.uri}
    source = (bag / "data" / "Item_metadata.csv").read_text(encoding="utf-8")
    before = target.last_modified(item)
    again = await run_import(config, repo, source, job_id="rt-creators-1", **args)
    assert again.state == "import_complete", again.body
    assert again.count["unchanged"] == 1 and again.count["invalid"] == 0, again.count
    assert target.last_modified(item) == before

    fresh = {k: v for k, v in exported.items() if k != "URI"}
    fresh["Identifier"] = "up-creators-copy"
    two = {**fresh, "Identifier": "up-creators-2", "Creator": "Doe;Roe", "Creator URI": ""}
    two["INDEX"] = ""
    body = csv_text(fresh) + csv_text(two).split("\n", 1)[1]
    copy = await run_import(config, repo, body, job_id="rt-creators-2", **args)
    assert copy.state == "import_complete", copy.body
    assert copy.count["created"] == 2, copy.count
    by_id = {
        str(target.graph(i).value(URIRef(i), URIRef(DCTERMS + "identifier"))): i
        for i in target.items()
    }
    assert (
        creators(target, by_id["up-creators-1"])
        == creators(target, item)
        == [
            (frozenset(), frozenset({"http://id.example/anonymous"})),
            (frozenset({"Doe, Jane", "Roe, Jane"}), frozenset({"http://id.example/doe"})),
            (frozenset({"Smith, Pat"}), frozenset()),
        ]
    )
    assert creators(target, by_id["up-creators-2"]) == [
        (frozenset({"Doe"}), frozenset()),
        (frozenset({"Roe"}), frozenset()),
    ]
    _bag, exported_copy = await export_csv(repo, by_id["up-creators-1"], out, "copy", "Item")
    assert (exported_copy["Creator"], exported_copy["Creator URI"]) == (
        exported["Creator"],
        exported["Creator URI"],
    )
