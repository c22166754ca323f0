"""export through plastrond, against the real Fedora, ActiveMQ and OpenSSH sshd.

Items with pages and files are made in Fedora by each test; stomp.py plays Archelon.
"""

from __future__ import annotations

import contextlib
import csv
import email.utils
import json
import os
import struct
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import attrs
import bagit
import httpx
import pytest
import trio
from rdflib import Graph, Literal, URIRef
from rdflib.namespace import DCTERMS, RDFS

from plastrond.config import RepositoryConfig
from plastrond.repository import RepositoryClient, RepositoryError
from tests.support.export import BIBO, EDTF, FileSpec, MadeItem, make_item, unzip

pytestmark = pytest.mark.integration

DC_DATE = URIRef("http://purl.org/dc/elements/1.1/date")
OWL_SAME_AS = URIRef("http://www.w3.org/2002/07/owl#sameAs")
TIFF = b"II*\x00" + os.urandom(200_000)


@attrs.frozen
class Items:
    parent: str
    item: MadeItem
    letter: MadeItem


def _repo_config(fedora) -> RepositoryConfig:
    return RepositoryConfig(
        rest_endpoint=fedora.rest_url,
        relpath="/",
        log_dir=Path("/tmp"),
        fedora_user=fedora.admin_user,
        fedora_password=fedora.admin_password,
    )


async def _make_items(fedora) -> Items:
    async with RepositoryClient(_repo_config(fedora)) as repo:
        parent = (await repo.create_container(repo.root, slug=f"export-{uuid.uuid4()}")).uri
        g = Graph()
        me = URIRef("")
        g.add((me, DCTERMS.title, Literal("The moon")))
        g.add((me, DCTERMS.title, Literal("月", lang="ja")))
        g.add((me, DC_DATE, Literal("1969-07~", datatype=URIRef(EDTF))))
        g.add((me, DCTERMS.identifier, Literal("moon-1")))
        creator = URIRef("#creator1")
        g.add((me, DCTERMS.creator, creator))
        g.add((creator, RDFS.label, Literal("Armstrong, Neil")))
        g.add((creator, OWL_SAME_AS, URIRef("http://id.example/armstrong")))
        item = await make_item(
            repo,
            parent,
            graph=g,
            pages=[
                [FileSpec("p1.tif", "image/tiff", TIFF), FileSpec("p1.jpg", "image/jpeg", b"jpg1")],
                [FileSpec("p2.tif", "image/tiff", b"II*\x00page two")],
            ],
            item_files=[FileSpec("notes.txt", "text/plain", b"notes about the moon")],
        )
        letter = await make_item(
            repo,
            parent,
            title="Dear moon",
            types=[BIBO + "Letter"],
            pages=[[FileSpec("l1.tif", "image/tiff", b"II*\x00letter")]],
        )
        return Items(parent=parent, item=item, letter=letter)


async def _remove(fedora, uri: str) -> None:
    async with RepositoryClient(_repo_config(fedora)) as repo:
        with contextlib.suppress(RepositoryError):
            await repo.delete(uri, purge=True)


@pytest.fixture
def items(fedora) -> Iterator[Items]:
    made = trio.run(_make_items, fedora)
    yield made
    trio.run(_remove, fedora, made.parent)


@attrs.frozen
class Exporting:
    client: object
    exports: Path
    remote: Path


@pytest.fixture
def exporting(activemq, fedora, sshd, plastrond_setup, archelon_factory, tmp_path) -> Exporting:
    exports = tmp_path / "exports"
    exports.mkdir()
    remote = tmp_path / "remote"
    remote.mkdir()
    setup = plastrond_setup(
        activemq,
        repository=fedora.repository_keys,
        sections={
            "COMMANDS": {
                "EXPORT": {
                    "ALLOWED_OUTPUT_DIRS": [str(exports)],
                    "SSH_PRIVATE_KEY": str(sshd.private_key),
                    "SFTP_KNOWN_HOSTS": str(sshd.known_hosts),
                    "MAX_CONCURRENT_ITEMS": 3,
                }
            }
        },
    )
    daemon = setup.plastrond()
    daemon.wait_connected()
    return Exporting(archelon_factory(activemq, setup.dests), exports, remote)


def _export(exporting: Exporting, job_id: str, uris: list[str], **args: str):
    client = exporting.client
    before = len(client.completions)  # type: ignore[attr-defined]
    client.send_job(job_id, "export", "\n".join(uris) + "\n", **args)  # type: ignore[attr-defined]
    done = client.wait_for("completions", before + 1, timeout=60)[-1]  # type: ignore[attr-defined]
    assert done.headers["PlastronJobId"] == job_id
    return done


def _bag(zip_path: Path, into: Path) -> Path:
    folder = unzip(zip_path, into)
    bagit.Bag(str(folder)).validate()
    return folder


def _last_modified(fedora, uri: str) -> float:
    with httpx.Client(auth=fedora.admin_auth, timeout=30) as http:
        answer = http.head(uri)
        answer.raise_for_status()
    return email.utils.parsedate_to_datetime(answer.headers["Last-Modified"]).timestamp()


def _uuid(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def test_turtle_export_with_binaries(exporting, items, fedora, tmp_path):
    uris = [items.item.uri, items.letter.uri]
    done = _export(
        exporting,
        "export-ttl",
        uris,
        output_dest=f"{exporting.exports}/moon",
        export_binaries="true",
    )
    assert "PlastronJobError" not in done.headers
    assert done.headers["PlastronJobState"] == "export_complete"
    body = json.loads(done.body)
    assert body["type"] == body["state"] == "export_complete"
    assert body["content_type"] == "text/turtle"
    assert body["file_extension"] == ".ttl"
    assert body["download_uri"] == f"{exporting.exports}/moon.zip"
    assert body["count"] == {"total": 2, "exported": 2, "errors": 0}
    progress = [json.loads(p.body) for p in exporting.client.wait_for("progress", 1)]
    for message in progress:
        assert message["state"] == "in_progress"
        assert all(isinstance(v, int) for v in message["count"].values())
        assert set(message["time"]) == {"started", "now", "elapsed"}

    bag = _bag(exporting.exports / "moon.zip", tmp_path / "x")
    assert bag.name == "moon"
    graph = Graph().parse(bag / "data" / "metadata.ttl", format="turtle")
    item = URIRef(items.item.uri)
    assert (item, DCTERMS.title, Literal("月", lang="ja")) in graph
    assert (URIRef(items.letter.uri), DCTERMS.title, Literal("Dear moon")) in graph
    assert (URIRef(items.item.uri + "#creator1"), RDFS.label, Literal("Armstrong, Neil")) in graph
    folder = bag / "data" / _uuid(items.item.uri)
    assert sorted(p.name for p in folder.iterdir()) == ["notes.txt", "p1.jpg", "p1.tif", "p2.tif"]
    assert (folder / "p1.tif").read_bytes() == TIFF
    assert sorted(p.name for p in (bag / "data" / _uuid(items.letter.uri)).iterdir()) == ["l1.tif"]
    # Each file keeps the repository's Last-Modified (the exact UTC time in the entry's
    # extended timestamp, which unzip restores).
    with zipfile.ZipFile(exporting.exports / "moon.zip") as zf:
        info = zf.getinfo(f"moon/data/{_uuid(items.item.uri)}/p1.tif")
    tag, _size, _flags, seconds = struct.unpack("<HHBl", info.extra[:9])
    assert tag == 0x5455
    assert seconds == int(_last_modified(fedora, items.item.files[0]))


def test_csv_export_with_binaries_filter(exporting, items, tmp_path):
    uris = [items.letter.uri, items.item.uri]
    done = _export(
        exporting,
        "export-csv",
        uris,
        output_dest=f"{exporting.exports}/sub/moon-csv.zip",
        export_binaries="true",
        binary_types="image/tiff",
        format="text/csv",
        uri_template="https://digital.example/{uuid}",
    )
    body = json.loads(done.body)
    assert body["type"] == "export_complete", done.headers
    assert (body["content_type"], body["file_extension"]) == ("text/csv", ".csv")
    bag = _bag(exporting.exports / "sub" / "moon-csv.zip", tmp_path / "x")
    data = bag / "data"
    uid = _uuid(items.item.uri)
    assert sorted(p.name for p in (data / uid).iterdir()) == ["p1.tif", "p2.tif"]
    with (data / "Item_metadata.csv").open(encoding="utf-8", newline="") as f:
        (row,) = list(csv.DictReader(f))
    # Values in the model's own columns on both servers: Fedora 4.7's "x"^^xsd:string is the
    # plain value, never a column of its own (no "Title {string}")
    assert not [label for label in row if "string" in label.lower()]
    assert row["Title"] == "The moon|[@ja]月"  # languages inline, as upstream writes them
    assert row["Date {EDTF}"] == "1969-07~"
    assert row["Identifier"] == "moon-1"
    assert row["Creator"] == "Armstrong, Neil"
    assert row["Creator URI"] == "http://id.example/armstrong"
    assert row["INDEX"] == "creator[0]=#creator1"
    # the page titles as labels (no usage types on these files, so no tags)
    assert row["FILES"] == f"Page 1:{uid}/p1.tif;Page 2:{uid}/p2.tif"
    assert (row["PUBLISH"], row["HIDDEN"]) == ("False", "False")
    assert row["ITEM_FILES"] == ""
    assert row["URI"] == items.item.uri
    assert row["PUBLIC URI"] == f"https://digital.example/{uid}"
    assert row["CREATED"] and row["MODIFIED"]
    with (data / "Letter_metadata.csv").open(encoding="utf-8", newline="") as f:
        (letter,) = list(csv.DictReader(f))
    assert letter["Title"] == "Dear moon"
    assert letter["FILES"] == f"Page 1:{_uuid(items.letter.uri)}/l1.tif"


def test_missing_uri_makes_a_partial_export(exporting, items, fedora, tmp_path):
    missing = f"{items.parent}/no-such-item"
    done = _export(
        exporting,
        "export-partial",
        [items.item.uri, missing, items.letter.uri],
        output_dest=f"{exporting.exports}/partial",
        format="csv",
    )
    assert "PlastronJobError" not in done.headers
    assert done.headers["PlastronJobState"] == "partial_export"
    body = json.loads(done.body)
    assert body["count"] == {"total": 3, "exported": 2, "errors": 1}
    bag = _bag(exporting.exports / "partial.zip", tmp_path / "x")
    assert sorted(p.name for p in (bag / "data").iterdir()) == [
        "Item_metadata.csv",
        "Letter_metadata.csv",
    ]


@pytest.mark.parametrize(
    ("dest", "message"),
    [
        ("/etc/plastrond-export", "is outside the folders allowed for exports"),
        ("{exports}/../escaped", "is outside the folders allowed for exports"),
        ("{exports}/sub/../../escaped", "is outside the folders allowed for exports"),
        ("relative/path", "is not an absolute path"),
        ("ftp://host/x", "is neither a local path nor sftp://"),
    ],
)
def test_refused_destinations(exporting, items, dest, message):
    dest = dest.format(exports=exporting.exports)
    done = _export(
        exporting, f"export-refused-{uuid.uuid4().hex[:6]}", [items.item.uri], output_dest=dest
    )
    assert message in done.headers["PlastronJobError"]
    # protocol.md: a failed export is export_error (older Archelon stores this header)
    assert done.headers["PlastronJobState"] == "export_error"
    body = json.loads(done.body)
    assert body["state"] == body["type"] == "export_error" and body["progress"] == 0
    assert list(exporting.exports.iterdir()) == []
    assert not (exporting.exports.parent / "escaped.zip").exists()


def test_export_over_sftp(exporting, items, sshd, tmp_path):
    dest = f"{sshd.url}{exporting.remote}/over-sftp"
    done = _export(
        exporting, "export-sftp", [items.item.uri], output_dest=dest, export_binaries="true"
    )
    body = json.loads(done.body)
    assert body["type"] == "export_complete", (done.headers, body)
    assert body["download_uri"] == f"{dest}.zip"
    assert [p.name for p in exporting.remote.iterdir()] == ["over-sftp.zip"]
    bag = _bag(exporting.remote / "over-sftp.zip", tmp_path / "x")
    assert (bag / "data" / _uuid(items.item.uri) / "p1.tif").read_bytes() == TIFF


def test_unknown_sftp_host_key_is_refused(exporting, items, sshd):
    # known_hosts names the server as [127.0.0.1]:port; as "localhost" it is unknown.
    dest = f"sftp://{sshd.user}@localhost:{sshd.port}{exporting.remote}/unknown"
    done = _export(exporting, "export-unknown-host", [items.item.uri], output_dest=dest)
    assert done.headers["PlastronJobError"] == (
        f"SFTP host localhost:{sshd.port} is not in known_hosts; refused "
        "(COMMANDS.EXPORT.SFTP_KNOWN_HOSTS, SFTP_ACCEPT_UNKNOWN_HOSTS)"
    )
    assert list(exporting.remote.iterdir()) == []
