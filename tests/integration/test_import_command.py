"""The import command end to end: plastrond stomp against the real ActiveMQ and Fedora (and
sshd for SFTP), with stomp.py sending what Archelon sends: a validate-only run, then the import,
then a resume, as asynchronous jobs with the CSV as the body, on behalf of a staff user.

The samples and their files are in tests/imports/data; the Item model's vocabularies are read
from local copies (CONTENT_MODELS.VOCABULARIES).
"""

from __future__ import annotations

import csv
import io
import json
import signal
import time
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rdflib import Literal, URIRef

from tests.support.imports import COUNT_KEYS, DATA, FILES, VOCABULARIES, TestContainer, corrupt

pytestmark = pytest.mark.integration

DCTERMS = "http://purl.org/dc/terms/"
TITLE = URIRef(DCTERMS + "title")
ITEM_COLUMNS = "Identifier,Title,Object Type,Rights Statement,FILES"
ITEM_VALUES = "http://purl.org/dc/dcmitype/Text,http://vocab.lib.umd.edu/rightsStatement#InC"
#: the Archelon user the jobs act for (On-Behalf-Of); a WebAC authorization lets it write
EDITOR = "archelon-importer"


class Target(TestContainer):
    """A container of the test's own in Fedora that EDITOR may read and write."""

    def __init__(self, endpoint) -> None:
        super().__init__(endpoint.rest_url, endpoint.admin_auth)
        endpoint.grant(self.uri, EDITOR)  # WebAC on Fedora 6, a basic role on 4.7


@pytest.fixture
def target(fedora) -> Iterator[Target]:
    container = Target(fedora)
    try:
        yield container
    finally:
        container.close()


@pytest.fixture
def jobs_dir(tmp_path: Path) -> Path:
    return tmp_path / "jobs"


@pytest.fixture
def setup(activemq, fedora, sshd, plastrond_setup, jobs_dir, tmp_path):
    binaries = tmp_path / "binaries"
    binaries.mkdir()
    return plastrond_setup(
        activemq,
        repository=fedora.repository_keys,
        sections={
            "CONTENT_MODELS": {"VOCABULARIES": VOCABULARIES},
            "COMMANDS": {
                "EXPORT": {"ALLOWED_OUTPUT_DIRS": [str(tmp_path / "exports")]},
                "IMPORT": {
                    "JOBS_DIR": str(jobs_dir),
                    "ALLOWED_BINARIES_DIRS": [str(DATA), str(binaries)],
                    "SSH_PRIVATE_KEY": str(sshd.private_key),
                    "SFTP_KNOWN_HOSTS": str(sshd.known_hosts),
                    "MAX_CONCURRENT_ITEMS": 4,
                },
            },
        },
        PROGRESS_INTERVAL=0,
    )


@pytest.fixture
def running(setup, activemq, archelon_factory):
    daemon = setup.plastrond()
    daemon.wait_connected()
    client = archelon_factory(activemq, setup.dests)
    return daemon, client


def send_import(client, job_id: str, body: str | bytes, **args: str) -> dict[str, Any]:
    """Send an asynchronous import as Archelon does and wait for its completion."""
    before = len(client.completions)
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    client.send_job(job_id, "import", text, on_behalf_of=EDITOR, **args)
    frame = client.wait_for("completions", before + 1, timeout=120)[before]
    assert frame.headers["PlastronJobId"] == job_id
    body_json = json.loads(frame.body)
    assert "PlastronJobError" not in frame.headers, body_json
    assert frame.headers["PlastronJobState"] == body_json["type"] == body_json["state"]
    assert set(body_json["count"]) == COUNT_KEYS
    return body_json


def job_folder(jobs_dir: Path, job_id: str) -> Path:
    from plastrond.jobs.ids import job_id_segment

    return jobs_dir / job_id_segment(job_id)


def log_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))


def latest_run(folder: Path) -> Path:
    return sorted(p for p in folder.iterdir() if p.name.isdigit())[-1]


def job_id() -> str:
    return f"http://archelon.example/import_jobs/{uuid.uuid4().hex[:8]}"


# -- each model, the way Archelon runs an import ---------------------------------------------------


@pytest.mark.parametrize(
    ("model", "items"), [("Item", 2), ("Issue", 2), ("Letter", 1), ("Poster", 1)]
)
def test_each_model_validate_then_import_then_resume(
    running, target, jobs_dir, model: str, items: int
) -> None:
    _daemon, client = running
    job = job_id()
    body = (DATA / f"{model}.csv").read_text(encoding="utf-8")
    args = {"model": model, "binaries_location": str(FILES), "relpath": target.uri}

    checked = send_import(client, job, body, validate_only="true", **args)
    assert checked["type"] == "validate_success"
    assert checked["count"]["valid"] == items and checked["count"]["invalid"] == 0
    assert [r["line"] for r in checked["validation"]] == [
        f"source.csv:{n + 2}" for n in range(items)
    ]
    assert target.children() == []

    imported = send_import(client, job, body, **args)
    assert imported["type"] == "import_complete", imported
    assert imported["count"]["created"] == items
    assert len(target.items()) == items

    resumed = send_import(client, job, body, resume="true", model=model)
    assert resumed["type"] == "import_complete"
    assert resumed["count"]["created"] == 0 and resumed["count"]["rows"] == items
    assert len(target.items()) == items

    folder = job_folder(jobs_dir, job)
    assert {r["status"] for r in log_rows(folder / "completed.log.csv")} == {"created"}
    assert len(log_rows(folder / "completed.log.csv")) == items
    progress = [json.loads(f.body) for f in client.progress if f.headers["PlastronJobId"] == job]
    # protocol.md's states: the validate run's, then the import's
    states = [p["state"] for p in progress]
    assert progress and set(states) <= {"validate_in_progress", "import_in_progress"}
    assert states == sorted(states, key=lambda s: s != "validate_in_progress")
    assert all(isinstance(v, int) for p in progress for v in p["count"].values())


def test_the_item_sample_in_the_repository(running, target) -> None:
    _daemon, client = running
    body = (DATA / "Item.csv").read_text(encoding="utf-8")
    done = send_import(
        client, job_id(), body, model="Item", binaries_location=str(FILES), container=target.uri
    )
    assert done["type"] == "import_complete"
    by_id = {}
    for uri in target.items():
        graph = target.graph(uri)
        for value in graph.objects(URIRef(uri), URIRef(DCTERMS + "identifier")):
            if isinstance(value, Literal) and value.datatype is None:
                by_id[str(value)] = (uri, graph)
    uri, graph = by_id["item-1"]
    me = URIRef(uri)
    assert set(graph.objects(me, URIRef(DCTERMS + "alternative"))) == {
        Literal("The Old Line"),
        Literal("Terrapin | Testudo"),
        Literal("東京の写真", lang="ja"),
    }
    assert len(set(graph.objects(me, URIRef("http://pcdm.org/models#hasMember")))) == 2
    assert len(set(graph.objects(me, URIRef("http://pcdm.org/models#hasFile")))) == 1
    uri2, graph2 = by_id["item-2"]
    assert set(graph2.objects(URIRef(uri2), TITLE)) == {Literal("Ünïcödé — ταυτότητα")}
    assert graph2.value(URIRef(uri2), URIRef(DCTERMS + "creator")) is not None


# -- invalid rows, missing files, a BOM, non-ASCII ------------------------------------------------


def test_invalid_rows_and_missing_files_with_a_bom(running, target, jobs_dir) -> None:
    _daemon, client = running
    job = job_id()
    body = (
        "\ufeff"
        + "\r\n".join(
            [
                ITEM_COLUMNS,
                f"ok,Ça va — 日本語,{ITEM_VALUES},p1.tif;p1.jpg",
                f"no-title,,{ITEM_VALUES},",
                f"missing,Missing files,{ITEM_VALUES},p1.tif;gone.jpg",
                "short,Too few columns",
            ]
        )
        + "\r\n"
    )
    done = send_import(
        client, job, body, model="Item", binaries_location=str(FILES), container=target.uri
    )
    assert done["type"] == "import_incomplete"
    assert done["count"] | {} == {
        "total": 4,
        "rows": 4,
        "errors": 0,
        "valid": 1,
        "invalid": 3,
        "created": 1,
        "updated": 0,
        "unchanged": 0,
        "files": 4,
    }
    reports = {r["line"]: r for r in done["validation"]}
    assert reports["source.csv:2"]["is_valid"]
    assert ["title", "failed", "exactly", 1] in reports["source.csv:3"]["failed"]
    assert reports["source.csv:4"]["errors"] == ["Missing file: gone.jpg"]
    assert reports["source.csv:5"]["errors"] == ["wrong number of columns: expected 5, found 2"]
    (item,) = target.items()
    assert set(target.graph(item).objects(URIRef(item), TITLE)) == {Literal("Ça va — 日本語")}
    folder = job_folder(jobs_dir, job)
    dropped = {
        r["id"]: r["reason"] for r in log_rows(latest_run(folder) / "dropped-invalid.log.csv")
    }
    assert dropped == {
        "no-title": "Validation failures: title is required",
        "missing": "Missing file: gone.jpg",
        "short": "wrong number of columns: expected 5, found 2",
    }


def test_an_unknown_column_fails_the_job(running, target) -> None:
    _daemon, client = running
    job = job_id()
    client.send_job(job, "import", "Title,Shoe Size\nx,9\n", model="Item", on_behalf_of=EDITOR)
    (frame,) = client.wait_for("completions", 1, timeout=60)
    assert frame.headers["PlastronJobError"] == (
        "source.csv: unknown column 'Shoe Size': not a column of the Item model nor a system column"
    )
    assert frame.headers["PlastronJobState"] == json.loads(frame.body)["state"] == "import_error"


def test_a_label_with_a_doubled_space_reaches_archelon_as_written(running, target) -> None:
    """Issue 25: the completion's header once collapsed the spaces inside the quoted label,
    showing exactly the valid label as unknown."""
    _daemon, client = running
    job = job_id()
    client.send_job(job, "import", "Title,Object  Type\nx,y\n", model="Item", on_behalf_of=EDITOR)
    (frame,) = client.wait_for("completions", 1, timeout=60)
    assert frame.headers["PlastronJobError"] == (
        "source.csv: unknown column 'Object  Type': not a column of the Item model nor a system "
        "column; did you mean 'Object Type'? It differs only in spaces"
    )


def test_files_without_a_binaries_location_are_invalid_rows_archelon_lists(
    running, target, jobs_dir
) -> None:
    """Issue #24, item 2: as upstream, the validate-only run ends `validate_failed` with the
    rows that name files invalid (Archelon shows them for the user to fix), not a job error."""
    _daemon, client = running
    job = job_id()
    body = (
        "Identifier,Title,Object Type,Rights Statement,ITEM_FILES\n"
        f"f-1,Names a file,{ITEM_VALUES},p1.jpg\n"
        f"f-2,Names none,{ITEM_VALUES},\n"
    )
    done = send_import(client, job, body, model="Item", container=target.uri, validate_only="true")
    assert done["state"] == "validate_failed"
    assert done["count"]["invalid"] == 1 and done["count"]["valid"] == 1
    bad, good = done["validation"]
    assert (bad["line"], bad["is_valid"], good["is_valid"]) == ("source.csv:2", False, True)
    assert bad["errors"] == ["Missing file: p1.jpg (no binaries-location)"]
    (row,) = log_rows(latest_run(job_folder(jobs_dir, job)) / "dropped-invalid.log.csv")
    assert row["id"] == "f-1"


def test_a_language_on_the_handle_column_is_a_row_problem_the_job_resumes(
    running, target, jobs_dir
) -> None:
    """Issue #24, item 3: `Handle [en]` in the header made the job an error with no job folder,
    so a resume said there was none; now its rows with a handle are invalid, the job resumes."""
    _daemon, client = running
    job = job_id()
    body = (
        "Identifier,Title,Object Type,Rights Statement,Handle [en]\n"
        f"l-1,With a handle,{ITEM_VALUES},hdl:1903.1/1\n"
        f"l-2,Without one,{ITEM_VALUES},\n"
    )
    checked = send_import(
        client, job, body, model="Item", container=target.uri, validate_only="true"
    )
    assert checked["state"] == "validate_failed"
    assert [r["is_valid"] for r in checked["validation"]] == [False, True]
    assert "Handle [en]: a value in language 'en'" in checked["validation"][0]["errors"][0]
    resumed = send_import(client, job, "", resume="true")
    assert resumed["state"] == "import_incomplete"
    assert resumed["count"]["created"] == 1 and resumed["count"]["invalid"] == 1
    (item,) = target.items()
    assert {str(t) for t in target.graph(item).objects(URIRef(item), TITLE)} == {"Without one"}


# -- transactions ---------------------------------------------------------------------------


def test_a_row_failing_mid_transaction_is_rolled_back(running, target, jobs_dir, tmp_path) -> None:
    _daemon, client = running
    archive = tmp_path / "binaries" / "batch.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a-1.jpg", b"a" * 5000)
        zf.writestr("b-1.jpg", b"b" * 5000)
        zf.writestr("b-2.jpg", bytes(range(256)) * 50)
    corrupt(archive, "b-2.jpg")
    job = job_id()
    body = "\n".join(
        [ITEM_COLUMNS, f"a,A,{ITEM_VALUES},a-1.jpg", f"b,B,{ITEM_VALUES},b-1.jpg;b-2.jpg"]
    )
    done = send_import(
        client, job, body, model="Item", binaries_location=f"zip:{archive}", container=target.uri
    )
    assert done["type"] == "import_incomplete"
    assert done["count"]["errors"] == 1 and done["count"]["created"] == 1
    # b's item, its page and b-1.jpg were written, then rolled back.
    (item,) = target.items()
    assert target.children() == [item]  # a's item; its page and file are inside it
    walked = target.walk_item(item)
    assert [[f.filename for f in p.files] for p in walked.pages] == [["a-1.jpg"]]
    (failed,) = log_rows(latest_run(job_folder(jobs_dir, job)) / "dropped-failed.log.csv")
    assert failed["id"] == "b" and "cannot read b-2.jpg from the ZIP file" in failed["reason"]
    # Fixed and resumed: only b is done, once.
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("a-1.jpg", b"a" * 5000)
        zf.writestr("b-1.jpg", b"b" * 5000)
        zf.writestr("b-2.jpg", b"fixed")
    resumed = send_import(client, job, "", resume="true")
    assert resumed["type"] == "import_complete" and resumed["count"]["created"] == 1
    assert len(target.items()) == 2


# -- URI rows ---------------------------------------------------------------------------------


def test_uri_rows_update_and_unchanged_rows_are_untouched(running, target, jobs_dir) -> None:
    _daemon, client = running
    columns = "Identifier,Title,Object Type,Rights Statement,Creator,Creator URI,URI,INDEX"
    first = "\n".join(
        [
            columns,
            f'a,A,{ITEM_VALUES},"Ann;Bob",;http://id.example/bob,,',
            f"b,B,{ITEM_VALUES},Cy,,,",
        ]
    )
    created = send_import(client, job_id(), first, model="Item", container=target.uri)
    assert created["count"]["created"] == 2
    uris = {}
    for uri in target.items():
        graph = target.graph(uri)
        uris[str(graph.value(URIRef(uri), URIRef(DCTERMS + "identifier")))] = uri
    before_b = target.last_modified(uris["b"])
    time.sleep(1.1)  # Last-Modified counts whole seconds
    second = "\n".join(
        [
            columns,
            f'a,A (revised),{ITEM_VALUES},"Ann;Bob",;http://id.example/bob,{uris["a"]},',
            f"b,B,{ITEM_VALUES},Cy,,{uris['b']},",
        ]
    )
    job = job_id()
    updated = send_import(client, job, second, model="Item")
    assert updated["type"] == "import_complete"
    assert (updated["count"]["updated"], updated["count"]["unchanged"]) == (1, 1)
    assert updated["count"]["created"] == 0
    assert target.last_modified(uris["b"]) == before_b
    graph = target.graph(uris["a"])
    assert set(graph.objects(URIRef(uris["a"]), TITLE)) == {Literal("A (revised)")}
    assert len(set(graph.objects(URIRef(uris["a"]), URIRef(DCTERMS + "creator")))) == 2
    statuses = {
        r["id"]: r["status"] for r in log_rows(job_folder(jobs_dir, job) / "completed.log.csv")
    }
    assert statuses == {"a": "modified", "b": "unchanged"}


# -- SFTP -------------------------------------------------------------------------------------


def test_binaries_over_sftp(running, target, sshd, tmp_path) -> None:
    _daemon, client = running
    remote = tmp_path / "remote"
    remote.mkdir()
    (remote / "s1.tif").write_bytes(b"II*\x00" + b"t" * 3000)
    (remote / "s1.jpg").write_bytes(b"\xff\xd8" + b"j" * 3000)
    body = "\n".join([ITEM_COLUMNS, f"s,Over SFTP,{ITEM_VALUES},s1.tif;s1.jpg"])
    done = send_import(
        client,
        job_id(),
        body,
        model="Item",
        binaries_location=f"{sshd.url}{remote}",
        container=target.uri,
    )
    assert done["type"] == "import_complete", done
    (item,) = target.items()
    (page,) = target.graph(item).objects(URIRef(item), URIRef("http://pcdm.org/models#hasMember"))
    files = list(target.graph(str(page)).objects(page, URIRef("http://pcdm.org/models#hasFile")))
    sizes = sorted(int(target.client.head(str(f)).headers["Content-Length"]) for f in files)
    assert sizes == [3002, 3004]


# -- a crash in the middle --------------------------------------------------------------------


def test_killed_during_an_import_and_restarted_creates_no_duplicates(
    setup, activemq, archelon_factory, target, jobs_dir
) -> None:
    count = 60
    rows = [ITEM_COLUMNS] + [
        f"k{n},Item {n},{ITEM_VALUES},p1.tif;p1.jpg;p2.jpg" for n in range(count)
    ]
    job = job_id()
    first = setup.plastrond("first")
    first.wait_connected()
    client = archelon_factory(activemq, setup.dests)
    client.send_job(
        job,
        "import",
        "\n".join(rows),
        model="Item",
        binaries_location=str(FILES),
        container=target.uri,
        on_behalf_of=EDITOR,
    )
    client.wait_for_count("created", 8, timeout=120)  # the import has got going
    first.signal(signal.SIGKILL)
    first.wait(10)
    assert client.completions == []
    at_kill = len(target.items())
    assert 8 <= at_kill < count

    second = setup.plastrond("second")
    (frame,) = client.wait_for("completions", 1, timeout=180)
    body = json.loads(frame.body)
    assert frame.headers["PlastronJobState"] == "import_complete", body
    items = target.items()
    assert len(items) == count  # every row once: none lost, none twice
    completed = log_rows(job_folder(jobs_dir, job) / "completed.log.csv")
    assert sorted(r["id"] for r in completed) == sorted(f"k{n}" for n in range(count))
    assert sorted(r["uri"] for r in completed) == sorted(items)
    assert body["count"]["created"] + body["count"]["rows"] - len(body["validation"]) >= count
    second.signal(signal.SIGTERM)
    assert second.wait(30) == 0


# -- export then import: the CSV the export writes reads back to the same graph -------------------


def test_exported_csv_imports_back_as_unchanged_updates(running, target, tmp_path) -> None:
    _daemon, client = running
    body = (DATA / "Item.csv").read_text(encoding="utf-8")
    done = send_import(
        client, job_id(), body, model="Item", binaries_location=str(FILES), container=target.uri
    )
    assert done["type"] == "import_complete"
    items = target.items()
    assert len(items) == 2

    before = len(client.completions)
    dest = tmp_path / "exports" / "roundtrip"
    client.send_job(
        "export-roundtrip",
        "export",
        "\n".join(items) + "\n",
        format="csv",
        output_dest=str(dest),
        on_behalf_of=EDITOR,
    )
    frame = client.wait_for("completions", before + 1, timeout=120)[before]
    assert json.loads(frame.body)["type"] == "export_complete", frame.body
    with zipfile.ZipFile(f"{dest}.zip") as bag:
        (name,) = [n for n in bag.namelist() if n.endswith("data/Item_metadata.csv")]
        exported = bag.read(name).decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(exported.removeprefix("\ufeff"))))
    assert sorted(r["URI"] for r in rows) == sorted(items)

    states = {uri: target.last_modified(uri) for uri in items}
    graphs = {uri: target.graph(uri) for uri in items}
    again = send_import(client, job_id(), exported, model="Item", container=target.uri)
    assert again["type"] == "import_complete", again
    assert again["count"]["unchanged"] == 2, again["count"]
    assert again["count"]["updated"] == 0 and again["count"]["created"] == 0
    # Nothing was written: the same triples, and Fedora saw no change.
    assert {uri: target.last_modified(uri) for uri in items} == states
    for uri in items:
        assert set(target.graph(uri)) == set(graphs[uri])
