"""The export command and ExportRun against a repository served from memory (no Fedora)."""

from __future__ import annotations

import email.utils
import io
import logging
import random
import struct
import zipfile
from pathlib import Path
from typing import IO

import attrs
import bagit
import pytest
import trio
from rdflib import Graph, URIRef

from plastrond.config import PublicationConfig
from plastrond.export import ExportError, ExportOptions, ExportRun, TurtleMetadata
from plastrond.export.run import item_folder_names
from plastrond.jobs import JobError
from plastrond.models.namespaces import IANA, ORE
from plastrond.repository import RepositoryClient
from tests.support.export import (
    FAKE_ROOT,
    FakeFedora,
    FakeResource,
    export_config,
    run_export,
    unzip,
)

TIFF = "image/tiff"
JPEG = "image/jpeg"


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    folder.mkdir()
    return folder


def bag_of(zip_path: Path, tmp_path: Path) -> Path:
    folder = unzip(zip_path, tmp_path / "unzipped")
    bagit.Bag(str(folder)).validate()
    return folder


async def test_turtle_export_concurrent_in_request_order(out: Path, tmp_path: Path) -> None:
    fake = FakeFedora()
    rng = random.Random(7)
    uris = [
        fake.add_item(
            f"item{n:02d}", pages=[[(f"p{n}.tif", TIFF, b"t" * n)]], delay=rng.random() / 50
        )
        for n in range(12)
    ]
    config = export_config(FAKE_ROOT, allowed=[out], max_concurrent_items=3)
    async with fake.client() as repo:
        result = await run_export(
            config, repo, uris, output_dest=f"{out}/t", export_binaries="true", timestamp="T1"
        )
    assert result.result.state == "export_complete"
    assert result.body == {
        "type": "export_complete",
        "content_type": "text/turtle",
        "file_extension": ".ttl",
        "download_uri": f"{out}/t.zip",
        "count": {"total": 12, "exported": 12, "errors": 0},
    }
    assert 1 < fake.max_in_flight <= 6
    counts = [p["count"] for p in result.progress]
    assert all(isinstance(v, int) for c in counts for v in c.values())
    assert counts[-1] == {"total": 12, "exported": 12, "errors": 0}
    assert result.progress[-1]["progress"] == 100
    assert set(result.progress[-1]["time"]) == {"started", "now", "elapsed"}
    bag = bag_of(out / "t.zip", tmp_path)
    text = (bag / "data" / "metadata.ttl").read_text()
    positions = [text.index(f"<{uri}>") for uri in uris]
    assert positions == sorted(positions)
    assert (bag / "data" / "item05" / "p5.tif").read_bytes() == b"ttttt"
    info = bagit.Bag(str(bag)).info
    assert info["External-Identifier"] == "http://archelon.example/exports/1"
    assert info["Export-Timestamp"] == "T1"
    # Nothing is left beside the ZIP.
    assert sorted(p.name for p in out.iterdir()) == ["t.zip"]


async def test_one_item_at_a_time_is_sequential(out: Path) -> None:
    fake = FakeFedora()
    uris = [
        fake.add_item(f"i{n}", pages=[[("a.tif", TIFF, b"a")], [("b.tif", TIFF, b"b")]])
        for n in range(5)
    ]
    config = export_config(FAKE_ROOT, allowed=[out], max_concurrent_items=1)
    async with fake.client() as repo:
        result = await run_export(
            config, repo, uris, output_dest=f"{out}/s", export_binaries="true"
        )
    assert result.body["count"] == {"total": 5, "exported": 5, "errors": 0}
    assert fake.max_in_flight == 1


async def test_unreadable_items_make_a_partial_export(out: Path, tmp_path: Path) -> None:
    fake = FakeFedora()
    good1 = fake.add_item("good1", pages=[[("g1.tif", TIFF, b"g1")]])
    broken = fake.add_item(
        "broken", pages=[[("ok.tif", TIFF, b"fine")], [("bad.tif", TIFF, b"x" * 100)]]
    )
    fake.resources[f"{broken}/pages/002/files/0"].break_after = 10
    failing = fake.add_item("failing")
    fake.resources[failing].status = 500
    good2 = fake.add_item("good2", item_files=[("notes.txt", "text/plain", b"n")])
    uris = [good1, f"{FAKE_ROOT}/missing", broken, "http://elsewhere.example/x", failing, good2]
    config = export_config(FAKE_ROOT, allowed=[out])
    async with fake.client() as repo:
        result = await run_export(
            config,
            repo,
            [*uris, "", good1],
            output_dest=f"{out}/p",
            export_binaries="true",
            format="csv",
        )
    assert result.result.state == "partial_export"
    assert result.body["count"] == {"total": 6, "exported": 2, "errors": 4}
    # The foreign URI was never asked for.
    assert not any("elsewhere" in url for _m, url in fake.requests)
    bag = bag_of(out / "p.zip", tmp_path)
    assert sorted(p.name for p in (bag / "data").iterdir()) == [
        "Item_metadata.csv",
        "good1",
        "good2",
    ]
    rows = (bag / "data" / "Item_metadata.csv").read_text().splitlines()
    assert len(rows) == 3
    # FILES with the page label and usage tag, ITEM_FILES, PUBLISH, HIDDEN
    assert rows[1].endswith(",Page 1:<preservation>good1/g1.tif,,False,False")
    assert rows[2].endswith(",,good2/notes.txt,False,False")


async def test_binary_types_filter_and_mtimes(out: Path, tmp_path: Path) -> None:
    fake = FakeFedora()
    uri = fake.add_item(
        "f",
        pages=[
            [("p1.tif", TIFF, b"tif"), ("p1.jpg", JPEG, b"jpg")],
            [("p2.tif", TIFF + "; x=y", b"t2")],
        ],
    )
    config = export_config(FAKE_ROOT, allowed=[out])
    async with fake.client() as repo:
        result = await run_export(
            config,
            repo,
            [uri],
            output_dest=f"{out}/b.ZIP",
            export_binaries="True",
            binary_types="image/tiff, application/pdf",
            format="text/csv",
        )
    assert result.body["download_uri"] == f"{out}/b.ZIP"
    bag = bag_of(out / "b.ZIP", tmp_path)
    assert sorted(p.name for p in (bag / "data" / "f").iterdir()) == ["p1.tif", "p2.tif"]
    assert (
        ",Page 1:<preservation>f/p1.tif;Page 2:<preservation>f/p2.tif,"
        in (bag / "data" / "Item_metadata.csv").read_text()
    )
    expected = email.utils.parsedate_to_datetime("Tue, 03 Mar 2020 04:05:06 GMT").timestamp()
    with zipfile.ZipFile(out / "b.ZIP") as zf:
        info = zf.getinfo("b/data/f/p1.tif")
        assert struct.unpack("<l", info.extra[5:9])[0] == int(expected)
    assert sum(1 for m, _u in fake.requests if m == "HEAD") == 3


async def test_without_export_binaries_no_binary_is_fetched(out: Path, tmp_path: Path) -> None:
    fake = FakeFedora()
    uri = fake.add_item("n", pages=[[("p.tif", TIFF, b"x")]])
    config = export_config(FAKE_ROOT, allowed=[out])
    async with fake.client() as repo:
        await run_export(config, repo, [uri], output_dest=f"{out}/n", binary_types="image/tiff")
    assert fake.requests == [("GET", uri)]
    bag = bag_of(out / "n.zip", tmp_path)
    assert [p.name for p in (bag / "data").iterdir()] == ["metadata.ttl"]


async def test_names_are_made_safe_and_unique(out: Path, tmp_path: Path) -> None:
    fake = FakeFedora()
    uri = fake.add_item(
        "x",
        pages=[
            [("../../etc/passwd", "text/plain", b"1")],
            [("Page.tif", TIFF, b"2")],
            [("page.tif", TIFF, b"3")],
            [("a%20b:c.txt", "text/plain", b"4")],
        ],
    )
    fake.resources[f"{uri}/pages/002/files/0"].filename = None
    config = export_config(FAKE_ROOT, allowed=[out])
    async with fake.client() as repo:
        await run_export(config, repo, [uri], output_dest=f"{out}/u", export_binaries="true")
    bag = bag_of(out / "u.zip", tmp_path)
    # No filename: the last segment of the binary's URI ("0").
    assert sorted(p.name for p in (bag / "data" / "x").iterdir()) == [
        "0",
        "a_20b_c.txt",
        "page.tif",
        "passwd",
    ]


async def test_pages_follow_the_proxies_when_unnumbered(out: Path, tmp_path: Path) -> None:
    fake = FakeFedora()
    uri = fake.add_item(
        "o",
        pages=[
            [("first.tif", TIFF, b"1")],
            [("second.tif", TIFF, b"2")],
            [("third.tif", TIFF, b"3")],
        ],
        numbered=False,
    )
    graph = fake.resources[uri].graph
    assert graph is not None
    # Proxies as separate resources: pages 3, 1, 2.
    order = [3, 1, 2]
    proxies = [f"{uri}/proxies/{n}" for n in range(3)]
    graph.add((URIRef(uri), IANA.first, URIRef(proxies[0])))
    for n, page in enumerate(order):
        g = Graph()
        p = URIRef(proxies[n])
        g.add((p, ORE.proxyFor, URIRef(f"{uri}/pages/{page:03d}")))
        if n + 1 < len(proxies):
            g.add((p, IANA.next, URIRef(proxies[n + 1])))
        fake.resources[proxies[n]] = FakeResource(graph=g)
    config = export_config(FAKE_ROOT, allowed=[out])
    async with fake.client() as repo:
        await run_export(
            config, repo, [uri], output_dest=f"{out}/o", export_binaries="true", format="csv"
        )
    bag = bag_of(out / "o.zip", tmp_path)
    csv_text = (bag / "data" / "Item_metadata.csv").read_text()
    assert (
        ",Page 3:<preservation>o/third.tif;Page 1:<preservation>o/first.tif;"
        "Page 2:<preservation>o/second.tif," in csv_text
    )


async def test_public_uri_from_the_template(out: Path, tmp_path: Path) -> None:
    fake = FakeFedora()
    uid = "0f2b6a9e-3c1d-4e5f-8a7b-9c0d1e2f3a4b"
    uri = fake.add_item(f"ab/cd/{uid}")
    config = export_config(FAKE_ROOT, allowed=[out])
    async with fake.client() as repo:
        await run_export(
            config,
            repo,
            [uri],
            output_dest=f"{out}/pub",
            format="csv",
            uri_template="https://digital.example/{uuid}?x={y}",
        )
    bag = bag_of(out / "pub.zip", tmp_path)
    assert (
        f",https://digital.example/{uid}?x={{y}},"
        in (bag / "data" / "Item_metadata.csv").read_text()
    )


async def test_public_uri_from_the_public_url_pattern(out: Path, tmp_path: Path) -> None:
    fake = FakeFedora()
    uid = "1a2b6a9e-3c1d-4e5f-8a7b-9c0d1e2f3a4b"
    uri = fake.add_item(f"pcdm/ab/{uid}")
    plain = fake.add_item("pcdm/no-uuid-here")
    pattern = "https://digital.example/{relpath}/{uuid}?iiif={iiif_id}"
    config = attrs.evolve(
        export_config(FAKE_ROOT, allowed=[out]),
        publication=PublicationConfig(public_url_pattern=pattern),
    )
    async with fake.client() as repo:
        await run_export(config, repo, [uri, plain], output_dest=f"{out}/pat", format="csv")
        # The request's uri-template wins over the pattern.
        await run_export(
            config,
            repo,
            [uri],
            output_dest=f"{out}/tpl",
            format="csv",
            uri_template="https://other.example/{uuid}",
        )
    text = (bag_of(out / "pat.zip", tmp_path / "a") / "data" / "Item_metadata.csv").read_text()
    assert f",https://digital.example/pcdm/ab/{uid}?iiif=fcrepo:pcdm:ab:{uid}," in text
    assert "no-uuid-here" not in text  # that item failed: no UUID for {uuid}
    text = (bag_of(out / "tpl.zip", tmp_path / "b") / "data" / "Item_metadata.csv").read_text()
    assert f",https://other.example/{uid}," in text


@pytest.mark.parametrize(
    ("args", "body", "message"),
    [
        (
            {"format": "xml"},
            "u",
            "argument format must be one of csv, text/csv, text/turtle, ttl, turtle, not 'xml'",
        ),
        (
            {"output_dest": ""},
            "u",
            "missing required argument output-dest (header PlastronArg-output-dest)",
        ),
        (
            {"output_dest": "/etc/x"},
            "u",
            "output-dest /etc/x is outside the folders allowed for exports",
        ),
        (
            {"export_binaries": "maybe"},
            "u",
            "argument export-binaries must be true or false, not 'maybe'",
        ),
        (
            {"binary_types": "image/tiff,tiff"},
            "u",
            "argument binary-types: 'tiff' is not a MIME type",
        ),
        (
            {"uri_template": "http://x/"},
            "u",
            "argument uri-template must contain {uuid}, not 'http://x/'",
        ),
        ({}, "\n  \n", "the message body lists no URIs to export"),
    ],
)
async def test_bad_requests_fail_with_one_line(
    out: Path, args: dict[str, str], body: str, message: str
) -> None:
    values = {"output_dest": f"{out}/e", **args}
    with pytest.raises(JobError) as info:
        await run_export(export_config(FAKE_ROOT, allowed=[out]), None, body, **values)
    assert str(info.value) == message
    assert list(out.iterdir()) == []


# -- ExportRun alone: failures of the destination, cancellation ------------------------------


class FlakyStream(io.RawIOBase):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.written = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:  # type: ignore[no-untyped-def, override]
        if self.written + len(b) > self.limit:
            raise OSError(28, "No space left on device")
        self.written += len(b)
        return len(b)


@attrs.define
class FakeSink:
    stream: IO[bytes]
    events: list[str]
    swept: list[str] = attrs.field(factory=list)
    left: str | None = None

    def commit(self) -> None:
        self.stream.flush()
        self.events.append("commit")

    def abort(self) -> None:
        self.events.append("abort")

    def touch(self) -> None:
        self.events.append("touch")


@attrs.define
class FakeDestination:
    limit: int
    events: list[str] = attrs.field(factory=list)
    written: str = "fake.zip"
    bag_name: str = "fake"

    def describe(self) -> str:
        return "a fake destination"

    def open(self) -> FakeSink:
        return FakeSink(io.BufferedWriter(FlakyStream(self.limit), 1024), self.events)


def _run(repo, scratch: Path, **options: object) -> ExportRun:  # type: ignore[no-untyped-def]
    return ExportRun(
        repo,
        lambda folder: TurtleMetadata(folder, {}),
        ExportOptions(export_binaries=True, scratch_dir=scratch, **options),  # type: ignore[arg-type]
        logging.getLogger("test"),
    )


async def test_a_destination_that_fails_ends_the_export(tmp_path: Path) -> None:
    fake = FakeFedora()
    uris = [fake.add_item(f"i{n}", pages=[[("p.tif", TIFF, b"x" * 50_000)]]) for n in range(6)]
    destination = FakeDestination(limit=120_000)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    async with fake.client() as repo:
        run = _run(repo, scratch)
        with pytest.raises(ExportError, match="No space left on device"):
            try:
                await run.execute(uris, destination)  # type: ignore[arg-type]
            except BaseExceptionGroup as group:
                [leaf] = group.exceptions
                raise leaf from None
    assert destination.events == ["abort"]
    assert list(scratch.iterdir()) == []


async def test_cancelled_export_leaves_nothing(tmp_path: Path) -> None:
    fake = FakeFedora()
    uris = [fake.add_item(f"i{n}", pages=[[("p.tif", TIFF, b"x")]], delay=0.5) for n in range(4)]
    destination = FakeDestination(limit=10**9)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    async with fake.client() as repo:
        run = _run(repo, scratch)
        with trio.move_on_after(0.2):
            await run.execute(uris, destination)  # type: ignore[arg-type]
    assert destination.events == ["abort"]
    assert list(scratch.iterdir()) == []


async def test_internal_and_external_uris_name_the_same_item(out: Path, tmp_path: Path) -> None:
    fake = FakeFedora()
    internal = fake.add_item("same", pages=[[("p.tif", TIFF, b"p")]])
    external = internal.replace(FAKE_ROOT, "https://public.example/rest")
    config = export_config(FAKE_ROOT, allowed=[out])
    config = attrs.evolve(
        config,
        repository=attrs.evolve(config.repository, repo_external_url="https://public.example/rest"),
    )
    async with RepositoryClient(config.repository, transport=fake.transport()) as repo:
        result = await run_export(
            config,
            repo,
            [internal, external],
            output_dest=f"{out}/ext",
            export_binaries="true",
            format="csv",
        )
    assert result.body["count"] == {"total": 1, "exported": 1, "errors": 0}
    bag = bag_of(out / "ext.zip", tmp_path)
    assert f"{external}," in (bag / "data" / "Item_metadata.csv").read_text()


def test_item_folder_names() -> None:
    uid = "0F2B6A9E-3C1D-4E5F-8A7B-9C0D1E2F3A4B"
    assert item_folder_names(
        [
            f"{FAKE_ROOT}/ab/{uid}",
            f"{FAKE_ROOT}/pcdm/{uid.lower()}/",
            f"{FAKE_ROOT}/pcdm/slug%20name",
            f"{FAKE_ROOT}/other/slug name",
            f"{FAKE_ROOT}/metadata.ttl",
            f"{FAKE_ROOT}/Item_metadata.csv",
            FAKE_ROOT + "/",
        ]
    ) == [
        uid.lower(),
        f"{uid.lower()}-2",
        "slug name",
        "slug name-2",
        "metadata-2.ttl",
        "Item_metadata.csv-item",
        "rest",
    ]
