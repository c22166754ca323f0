"""A full-size import into the real Fedora (both servers once the `fedora` fixture covers them):
200 items of the Item model, each with one page of a TIFF and a JPG, imported completely and
found, by walking the repository, where import-export.md's layout puts them, with their links
and order; the CSV export of them, imported again, changes nothing."""

from __future__ import annotations

import csv
import io
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from rdflib import URIRef

from plastrond.jobfolders import JobFolder, read_rows
from tests.support.export import export_config, run_export
from tests.support.imports import import_config, run_import

pytestmark = pytest.mark.integration

ITEMS = 200
JOB = "http://archelon.example/import_jobs/layout-200"
HEADER = [
    "Identifier",
    "Object Type",
    "Rights Statement",
    "Title",
    "Date",
    "Creator",
    "Subject",
    "Language",
    "FILES",
]
TIFF = b"II*\x00" + bytes(range(256)) * 4
JPEG = b"\xff\xd8\xff\xe0" + bytes(range(255, -1, -1)) * 4 + b"\xff\xd9"


def item_csv(binaries: Path) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(HEADER)
    for n in range(ITEMS):
        (binaries / f"scan-{n:03d}.tif").write_bytes(TIFF + n.to_bytes(2, "big"))
        (binaries / f"scan-{n:03d}.jpg").write_bytes(JPEG + n.to_bytes(2, "big"))
        writer.writerow(
            [
                f"layout-{n:03d}",
                "http://purl.org/dc/dcmitype/Image",
                "http://vocab.lib.umd.edu/rightsStatement#InC",
                f"Photograph {n} — Ünïcödé",
                f"19{n % 100:02d}",
                f"Doe, Jane {n};Roe, Richard",
                "Students;Campus",
                "en",
                f"scan-{n:03d}.tif;scan-{n:03d}.jpg",
            ]
        )
    return out.getvalue()


async def test_200_items_with_a_tiff_and_a_jpg_page_import_where_the_layout_says_and_round_trip(
    repo, target, tmp_path
) -> None:
    binaries = tmp_path / "binaries"
    binaries.mkdir()
    jobs = tmp_path / "jobs"
    body = item_csv(binaries)
    config = import_config(jobs, rest_url=repo.root, allowed=[binaries])
    args = {"model": "Item", "binaries_location": str(binaries), "container": target.uri}

    done = await run_import(config, repo, body, job_id=JOB, **args)
    assert done.state == "import_complete", done.count
    assert done.count["created"] == ITEMS and done.count["errors"] == 0
    assert done.count["files"] == 2 * ITEMS
    completed = {
        r["id"]: r["uri"] for r in read_rows(JobFolder(jobs, JOB).path / "completed.log.csv")
    }
    assert len(completed) == ITEMS

    # The container holds the items and nothing else; each is laid out as the reference says.
    items = target.children()
    assert sorted(items) == sorted(completed.values())
    with ThreadPoolExecutor(4) as pool:
        walked = list(pool.map(target.walk_item, items))
    by_uri = {w.uri: w for w in walked}
    for n in range(ITEMS):
        item = by_uri[completed[f"layout-{n:03d}"]]
        (page,) = item.pages
        assert (page.title, page.number) == ("Page 1", 1)
        assert [(f.filename, f.mime_type, f.preservation_master) for f in page.files] == [
            (f"scan-{n:03d}.jpg", "image/jpeg", False),
            (f"scan-{n:03d}.tif", "image/tiff", True),
        ]
        assert item.item_files == []
    jpg = walked[0].pages[0].files[0].uri
    assert target.client.get(jpg).content.startswith(JPEG)

    # Export as CSV, then import that CSV: every row unchanged, nothing written.
    out = tmp_path / "exports"
    out.mkdir()
    exported = await run_export(
        export_config(repo.root, allowed=[out]),
        repo,
        items,
        output_dest=f"{out}/layout",
        format="csv",
    )
    assert exported.result.state == "export_complete", exported.body
    with zipfile.ZipFile(out / "layout.zip") as bag:
        (name,) = [n for n in bag.namelist() if n.endswith("data/Item_metadata.csv")]
        exported_csv = bag.read(name).decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(exported_csv.removeprefix("\ufeff"))))
    assert sorted(r["URI"] for r in rows) == sorted(items)
    assert {r["Title"] for r in rows} == {f"Photograph {n} — Ünïcödé" for n in range(ITEMS)}
    stamps = {uri: target.last_modified(uri) for uri in items}
    graphs = {uri: set(by_uri[uri].graph) for uri in items[:20]}
    again = await run_import(
        config, repo, exported_csv, job_id=f"{JOB}-again", model="Item", container=target.uri
    )
    assert again.state == "import_complete", again.count
    assert again.count["unchanged"] == ITEMS, again.count
    assert again.count["updated"] == 0 and again.count["created"] == 0
    assert {uri: target.last_modified(uri) for uri in items} == stamps
    for uri, graph in graphs.items():
        assert set(target.graph(uri)) == graph
    assert sorted(target.children()) == sorted(items)
    assert all(
        set(target.graph(u).objects(URIRef(u), URIRef("http://pcdm.org/models#hasMember")))
        for u in items[:5]
    )
