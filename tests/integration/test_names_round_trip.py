"""File names through a round trip on each real Fedora (issue #25, item 1 and the round trip):
a folder of files named in several scripts (Japanese, French with its accents, Cyrillic,
Greek, Korean, Arabic, an emoji), with spaces, `#` and every other character the README's
"File names in exports" keeps, is imported from a local folder, exported as CSV with its
binaries, and imported again from the bag as new items; every name, page (label, order, files)
and byte is kept, on Fedora 4.7.5 as on Fedora 6.1.0.

On Fedora 4.7 the names used to be lost at the export: it named a binary from its
Content-Disposition, where 4.7 keeps only the Latin-1 fallback (`写真 1.jpg` is `__ 1.jpg`).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from rdflib import URIRef

from tests.support.export import export_csv
from tests.support.imports import csv_text, escaped, import_config, run_import

pytestmark = pytest.mark.integration

DCTERMS_TITLE = URIRef("http://purl.org/dc/terms/title")
HAS_FILE = URIRef("http://pcdm.org/models#hasFile")
HAS_MEMBER = URIRef("http://pcdm.org/models#hasMember")
SEQUENCE = URIRef("http://purl.org/spar/fabio/hasSequenceIdentifier")

#: every printable ASCII character but letters and digits that the README keeps in a name
KEPT_ASCII = " !#$&'()+,;=@[]^_`{}~-."

#: (page label, the page's files); each page's files share a stem, as an import groups them
PAGES: list[tuple[str, list[str]]] = [
    ("表紙", ["写真 1.jpg", "写真 1.tif"]),
    ("Élève à l'école", ["Élève à l'école.jpg"]),
    ("Crème brûlée #2", ["crème brûlée #2.png", "crème brûlée #2.txt"]),
    ("Москва", ["Москва, 1945.tif"]),
    ("Αθήνα", ["Αθήνα.jpg"]),
    ("서울", ["서울 (사진).jpg"]),
    ("القاهرة", ["القاهرة.jpg"]),
    ("Testudo 🐢", ["Testudo 🐢.jpg"]),
    ("Every mark", [f"a{KEPT_ASCII}z.txt"]),
    ("Page #9", ["画像.tif"]),
]
ITEM_FILES = ["目録 #1.xml", "notes; mémo.txt"]


def tag(name: str) -> str:
    """The usage tag an export writes before a file (a TIFF is a preservation master)."""
    return "<preservation>" if name.endswith(".tif") else ""


def content(name: str) -> bytes:
    return f"the bytes of {name}\n".encode() * 50


def read_item(target, item: str) -> tuple[list[tuple[str, list[str]]], list[str]]:
    """The item as Fedora holds it: (page title, its files' names) in page order, and the
    names of the item's own files; each name is the file's dcterms:title."""

    def names(owner: str) -> list[str]:
        found = []
        for f in target.graph(owner).objects(URIRef(owner), HAS_FILE):
            described = target.graph(f"{f}/fcr:metadata")
            found.append(str(described.value(f, DCTERMS_TITLE)))
        return sorted(found)

    pages = []
    for page in target.graph(item).objects(URIRef(item), HAS_MEMBER):
        g = target.graph(str(page))
        number = int(str(g.value(page, SEQUENCE)))
        pages.append((number, str(g.value(page, DCTERMS_TITLE)), names(str(page))))
    return [(title, files) for _n, title, files in sorted(pages)], names(item)


async def test_names_in_every_script_survive_import_export_and_reimport(
    repo, target, tmp_path: Path
) -> None:
    source = tmp_path / "scans"
    source.mkdir()
    for _label, files in PAGES:
        for name in files:
            (source / name).write_bytes(content(name))
    for name in ITEM_FILES:
        (source / name).write_bytes(content(name))
    out = tmp_path / "out"
    out.mkdir()
    config = import_config(tmp_path / "jobs", rest_url=repo.root, allowed=(tmp_path,))
    row = {
        "Identifier": "names-1",
        "Title": "[@ja]名前|Names",
        "Object Type": "http://purl.org/dc/dcmitype/Image",
        "Rights Statement": "http://vocab.lib.umd.edu/rightsStatement#InC",
        "FILES": ";".join(
            f"{escaped(label)}:{escaped(name)}" for label, files in PAGES for name in files
        ),
        "ITEM_FILES": ";".join(f"<metadata>{escaped(name)}" for name in ITEM_FILES),
    }
    args = {"model": "Item", "container": target.uri}
    first = await run_import(
        config, repo, csv_text(row), job_id="names-1", binaries_location=str(source), **args
    )
    assert first.state == "import_complete", first.body
    (item,) = target.items()
    expected = ([(label, sorted(files)) for label, files in PAGES], sorted(ITEM_FILES))
    assert read_item(target, item) == expected

    # Exported: the bag holds every file under its own name, and the CSV lists them so.
    bag, exported = await export_csv(repo, item, out, "names", "Item")
    folder = bag / "data" / item.rsplit("/", 1)[-1]
    every = [n for _label, files in PAGES for n in files] + ITEM_FILES
    assert sorted(p.name for p in folder.iterdir()) == sorted(every)
    for name in every:
        assert (folder / name).read_bytes() == content(name), name
    uuid = folder.name
    assert exported["FILES"] == ";".join(
        f"{escaped(label)}:{tag(name)}{uuid}/{escaped(name)}"
        for label, files in PAGES
        for name in sorted(files)
    )
    assert exported["ITEM_FILES"] == ";".join(
        f"<metadata>{uuid}/{escaped(name)}" for name in sorted(ITEM_FILES)
    )

    # Imported again, as a new item, from the bag: the same names, pages and bytes.
    fresh = {k: v for k, v in exported.items() if k != "URI"}
    again = await run_import(
        config,
        repo,
        csv_text(fresh),
        job_id="names-2",
        binaries_location=str(bag / "data"),
        **args,
    )
    assert again.state == "import_complete", again.body
    (copy,) = [i for i in target.items() if i != item]
    assert read_item(target, copy) == expected
