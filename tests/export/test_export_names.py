"""The names an export gives files that need another name in a bag (issue #25, items 1 and 6),
on each real Fedora: imported from a local folder, exported twice, imported again. A name is
changed as the README's "File names in exports" says (`%`, `?` and the other marks Windows or
bagit-python cannot hold become `_`), the same way every time, from the name the import wrote
(the file's title), in every script: on Fedora 4.7 a Japanese name used to come out as its
Latin-1 Content-Disposition fallback (`写真?.tif` as `___.tif`); and two pages whose names
became one stem (`x?.jpg`, `x%.tif`) came back from a re-import as one page."""

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

#: name on disk -> the name the export gives it
RENAMED = {
    "50% off?.jpg": "50_ off_.jpg",
    "写真?.tif": "写真_.tif",
    "a*b.txt": "a_b.txt",
    '"quoted".txt': "_quoted_.txt",
    "a<b>c.txt": "a_b_c.txt",
    "pipe|name.txt": "pipe_name.txt",
    "colon:name.txt": "colon_name.txt",
    "back\\slash.txt": "slash.txt",
    "Ελλάδα%.jpg": "Ελλάδα_.jpg",
    # two pages whose names would become one stem: an import would make them one page
    "x?.jpg": "x_.jpg",
    "x%.tif": "x_-2.tif",
}


def file_names(target, item: str) -> list[list[str]]:
    """The names (dcterms:title) of the files of each page of *item*, pages by URI."""
    pages = []
    for page in sorted(target.graph(item).objects(URIRef(item), HAS_MEMBER)):
        names = []
        for f in target.graph(str(page)).objects(page, HAS_FILE):
            names.append(str(target.graph(f"{f}/fcr:metadata").value(f, DCTERMS_TITLE)))
        pages.append(sorted(names))
    return sorted(pages)


async def test_names_that_must_change_change_the_same_way_every_time(
    repo, target, tmp_path: Path
) -> None:
    source = tmp_path / "scans"
    source.mkdir()
    for name in RENAMED:
        (source / name).write_bytes(name.encode() * 10)
    out = tmp_path / "out"
    out.mkdir()
    config = import_config(tmp_path / "jobs", rest_url=repo.root, allowed=(tmp_path,))
    row = {
        "Identifier": "renamed-1",
        "Title": "Renamed",
        "Object Type": "http://purl.org/dc/dcmitype/Image",
        "Rights Statement": "http://vocab.lib.umd.edu/rightsStatement#InC",
        "FILES": ";".join(escaped(name) for name in RENAMED),
    }
    args = {"model": "Item", "container": target.uri}
    first = await run_import(
        config, repo, csv_text(row), job_id="renamed-1", binaries_location=str(source), **args
    )
    assert first.state == "import_complete", first.body
    (item,) = target.items()
    assert file_names(target, item) == sorted([name] for name in RENAMED)

    exports = []
    for n in (1, 2):
        bag, exported = await export_csv(repo, item, out, f"renamed-{n}", "Item")
        folder = bag / "data" / item.rsplit("/", 1)[-1]
        names = sorted(p.name for p in folder.iterdir())
        exports.append((names, exported["FILES"], bag))
        assert names == sorted(RENAMED.values())
        for old, new in RENAMED.items():
            assert (folder / new).read_bytes() == old.encode() * 10
    # Twice the same names, listed the same way.
    assert exports[0][:2] == exports[1][:2]

    # The export imports again: the files under their new names, one page each as before.
    names, files, bag = exports[0]
    fresh = {**{k: v for k, v in row.items() if k != "FILES"}, "FILES": files}
    again = await run_import(
        config,
        repo,
        csv_text(fresh),
        job_id="renamed-2",
        binaries_location=str(bag / "data"),
        **args,
    )
    assert again.state == "import_complete", again.body
    (copy,) = [i for i in target.items() if i != item]
    assert file_names(target, copy) == sorted([name] for name in RENAMED.values())
