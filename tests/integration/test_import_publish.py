"""Import with `publish`: each new item published (with its handle, handles.md) right after
its transaction commits; killed with SIGKILL halfway and resumed, every item ends published
with one handle of its own, none minted twice. Real Fedora, ActiveMQ and
UMD's handle service (umd-handle-django)."""

from __future__ import annotations

import json
import signal
import uuid
from pathlib import Path

import pytest
from rdflib import Literal, URIRef
from rdflib.namespace import RDF

from tests.support.imports import FILES, VOCABULARIES, TestContainer

pytestmark = pytest.mark.integration

PUBLISHED = URIRef("http://vocab.lib.umd.edu/access#Published")
IDENTIFIER = URIRef("http://purl.org/dc/terms/identifier")
HANDLE = URIRef("http://vocab.lib.umd.edu/datatype#handle")
COLUMNS = "Identifier,Title,Object Type,Rights Statement,FILES"
VALUES = "http://purl.org/dc/dcmitype/Text,http://vocab.lib.umd.edu/rightsStatement#InC"


@pytest.fixture
def setup(activemq, fedora, handle_service, plastrond_setup, tmp_path):
    def make(**publication_overrides: str):
        return plastrond_setup(
            activemq,
            repository=fedora.repository_keys,
            sections={
                "CONTENT_MODELS": {"VOCABULARIES": VOCABULARIES},
                "COMMANDS": {
                    "IMPORT": {
                        "JOBS_DIR": str(tmp_path / "jobs"),
                        "ALLOWED_BINARIES_DIRS": [str(FILES)],
                        "MAX_CONCURRENT_ITEMS": 4,
                    },
                },
                "PUBLICATION_WORKFLOW": {
                    "HANDLE_ENDPOINT": handle_service.url,
                    "HANDLE_JWT_TOKEN": handle_service.token,
                    "HANDLE_PREFIX": "1903.1",
                    "HANDLE_REPO": "fcrepo",
                    "PUBLIC_URL_PATTERN": "https://digital.example/result/id/{uuid}",
                    **publication_overrides,
                },
            },
            PROGRESS_INTERVAL=0,
        )

    return make


def handles_in_service(handle_service) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for record in handle_service.records():
        found.setdefault(record["repo_id"], []).append(f"hdl:{record['prefix']}/{record['suffix']}")
    return found


def published_with_handle(target: TestContainer, uri: str) -> tuple[bool, list[str]]:
    graph = target.graph(uri)
    handles = [
        str(o)
        for o in graph.objects(URIRef(uri), IDENTIFIER)
        if isinstance(o, Literal) and o.datatype == HANDLE
    ]
    return PUBLISHED in set(graph.objects(URIRef(uri), RDF.type)), handles


def csv_of(count: int, tag: str) -> str:
    rows = [COLUMNS] + [f"{tag}{n},Item {n},{VALUES},p1.jpg" for n in range(count)]
    return "\n".join(rows)


def failed_reasons(tmp_path: Path) -> list[str]:
    return [
        line
        for path in sorted((tmp_path / "jobs").rglob("dropped-failed.log.csv"))
        for line in path.read_text().splitlines()[1:]
    ]


def test_import_publish_killed_halfway_and_resumed(
    setup, activemq, archelon_factory, target, handle_service, tmp_path
) -> None:
    count = 20
    job = f"http://archelon.example/import_jobs/{uuid.uuid4().hex[:8]}"
    config = setup()
    first = config.plastrond("first")
    first.wait_connected()
    client = archelon_factory(activemq, config.dests)
    client.send_job(
        job,
        "import",
        csv_of(count, "p"),
        model="Item",
        binaries_location=str(FILES),
        container=target.uri,
        publish="true",
    )
    client.wait_for_count("published", 5, timeout=120)  # the import has got going
    first.signal(signal.SIGKILL)
    first.wait(10)
    assert client.completions == []
    assert 5 <= len(target.items()) < count

    second = config.plastrond("second")  # takes the job up again from the durable inbox
    (frame,) = client.wait_for("completions", 1, timeout=240)
    body = json.loads(frame.body)
    assert frame.headers["PlastronJobState"] == "import_complete", failed_reasons(tmp_path)
    assert "publish_errors" not in body
    items = target.items()
    assert len(items) == count
    in_service = handles_in_service(handle_service)
    seen: set[str] = set()
    for uri in items:
        published, handles = published_with_handle(target, uri)
        assert published, uri
        assert len(handles) == 1, (uri, handles)
        assert in_service.get(uri) == handles  # exactly one minted for it
        seen.add(handles[0])
    assert len(seen) == count
    assert "imported" in second.log() or "published" in second.log()
    second.signal(signal.SIGTERM)
    assert second.wait(30) == 0


def test_import_publish_with_the_service_down_then_resumed(
    setup, activemq, archelon_factory, target, handle_service
) -> None:
    count = 3
    job = f"http://archelon.example/import_jobs/{uuid.uuid4().hex[:8]}"
    down = setup(HANDLE_ENDPOINT="http://127.0.0.1:9/api/v1", HANDLE_TIMEOUT="5")
    daemon = down.plastrond("down")
    daemon.wait_connected()
    client = archelon_factory(activemq, down.dests)
    client.send_job(
        job,
        "import",
        csv_of(count, "d"),
        model="Item",
        binaries_location=str(FILES),
        container=target.uri,
        publish="true",
    )
    (frame,) = client.wait_for("completions", 1, timeout=240)
    body = json.loads(frame.body)
    assert frame.headers["PlastronJobState"] == "import_incomplete", body
    assert body["count"]["created"] == count
    assert body["count"]["publish_errors"] == count and body["count"]["published"] == 0
    assert len(body["publish_errors"]) == count
    assert all("handle service" in reason for reason in body["publish_errors"].values())
    items = target.items()
    assert len(items) == count
    for uri in items:
        assert published_with_handle(target, uri) == (False, [])
    assert "imported" in daemon.log() and "not published" in daemon.log()
    daemon.signal(signal.SIGTERM)
    assert daemon.wait(30) == 0

    # The service is back: a resume publishes them without importing them again.
    up = setup()
    again = up.plastrond("up")
    again.wait_connected()
    client = archelon_factory(activemq, up.dests)
    client.send_job(job, "import", "", resume="true", publish="true")
    (frame,) = client.wait_for("completions", 1, timeout=240)
    body = json.loads(frame.body)
    assert frame.headers["PlastronJobState"] == "import_complete", body
    assert body["count"]["created"] == 0 and body["count"]["published"] == count
    assert sorted(target.items()) == sorted(items)
    in_service = handles_in_service(handle_service)
    for uri in items:
        published, handles = published_with_handle(target, uri)
        assert published and len(handles) == 1 and in_service.get(uri) == handles
