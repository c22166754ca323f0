"""Imports at the sizes real collections have, through the daemon (plastrond stomp as a child
process, the real ActiveMQ, the real Fedoras where items are written): validate-only of 20,000
rows and an import of 2,000 new items complete, the daemon answering `/health` and keeping its
broker session (heart-beats) all along, and SIGTERM in the middle of either is honoured at once
and the job goes on where it stopped after a restart.

Rows are metadata only, to keep the suite's time down. Peak memory and time per row are the
benchmark's (bench/bench_sizes.py), not asserted here. The broker session (heart-beats every 2 s
both ways) is checked in the validate-only test, after a warm-up job; the SIGTERM tests check
that `/health` answers all along, whatever it says: on the shared, loaded ActiveMQ a restarted
daemon has seen the broker send nothing for 20 s right after connecting (it reconnects; nothing
is lost), which is the broker's doing, not the job's.
"""

from __future__ import annotations

import csv
import io
import json
import re
import signal
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.imports import VOCABULARIES, TestContainer

pytestmark = pytest.mark.integration

EDITOR = "archelon-importer"
HEADER = "Identifier,Object Type,Rights Statement,Title,Date,Description,Creator,Subject"


def rows_csv(count: int, tag: str) -> str:
    lines = [HEADER]
    for n in range(count):
        lines.append(
            f"{tag}-{n},http://purl.org/dc/dcmitype/Text,"
            f"http://vocab.lib.umd.edu/rightsStatement#InC,Row {n} of {count},19{n % 100:02d},"
            f'"A description of row {n}, long enough to be typical","Doe, Jane",Campus'
        )
    return "\n".join(lines) + "\n"


def job_id() -> str:
    return f"http://archelon.example/import_jobs/{uuid.uuid4().hex[:8]}"


def job_folder(jobs_dir: Path, job: str) -> Path:
    from plastrond.jobs.ids import job_id_segment

    return jobs_dir / job_id_segment(job)


def runs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.name.isdigit())


def metric(url: str, name: str) -> float:
    text = httpx.get(f"{url}/metrics", timeout=10).text
    match = re.search(rf"^{re.escape(name)} ([0-9.e+]+)$", text, re.M)
    assert match, f"{name} not in /metrics"
    return float(match.group(1))


class HealthProbe(threading.Thread):
    """GET /health every 0.1 s while a job runs: every answer's status, and every failure to
    answer within 10 s (a daemon whose trio thread is stuck answers none); `unhealthy` has the
    answers other than 200."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url = f"{url}/health"
        self.answers: list[int] = []
        self.failures: list[str] = []
        self.unhealthy: list[str] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            try:
                answer = httpx.get(self.url, timeout=10)
                self.answers.append(answer.status_code)
                if answer.status_code != 200:
                    self.unhealthy.append(f"{answer.status_code} {answer.text}")
            except httpx.TransportError as e:
                self.failures.append(f"{type(e).__name__}: {e}")
            self.stop.wait(0.1)

    def __enter__(self) -> HealthProbe:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join(15)


@pytest.fixture
def jobs_dir(tmp_path: Path) -> Path:
    return tmp_path / "jobs"


def make_setup(
    plastrond_setup,
    activemq,
    jobs_dir: Path,
    repository: dict[str, str] | None,
    **broker_keys: Any,
):
    return plastrond_setup(
        activemq,
        repository=repository,
        sections={
            "ADMIN": {"HOST": "127.0.0.1", "PORT": 0},
            "CONTENT_MODELS": {"VOCABULARIES": VOCABULARIES},
            "COMMANDS": {"IMPORT": {"JOBS_DIR": str(jobs_dir), "MAX_CONCURRENT_ITEMS": 4}},
        },
        PROGRESS_INTERVAL=0.5,
        **broker_keys,
    )


def send(client, job: str, body: str, **args: str) -> None:
    client.send_job(job, "import", body, on_behalf_of=EDITOR, **args)


def completion(client, count: int = 1, timeout: float = 900) -> dict[str, Any]:
    frame = client.wait_for("completions", count, timeout=timeout)[count - 1]
    body = json.loads(frame.body)
    assert "PlastronJobError" not in frame.headers, body
    assert frame.headers["PlastronJobState"] == body["state"]
    return body


def rows_done(client) -> int:
    with client.lock:
        return max((json.loads(f.body)["count"]["rows"] for f in client.progress), default=0)


def wait_rows(client, at_least: int, timeout: float = 300) -> None:
    client.wait_for_count("rows", at_least, timeout=timeout)


# -- validate-only of 20,000 rows ------------------------------------------------------------


@pytest.mark.timeout(900)
def test_validate_only_of_20000_rows_keeps_health_and_the_broker_session(
    plastrond_setup, activemq, archelon_factory, jobs_dir
) -> None:
    # 2 s heart-beats: a trio thread stuck for a few seconds loses the broker session
    setup = make_setup(
        plastrond_setup, activemq, jobs_dir, None, HEARTBEAT_SEND_MS=2000, HEARTBEAT_RECEIVE_MS=2000
    )
    daemon = setup.plastrond()
    daemon.wait_connected()
    url = daemon.admin_url()
    client = archelon_factory(activemq, setup.dests)
    absent = "/sizes-test-" + uuid.uuid4().hex[:8]  # validate-only: a warning, not a failure
    # a small job first: what the first job loads (the repository client, the models) is
    # loaded once
    send(
        client, job_id(), rows_csv(2, "warm"), model="Item", container=absent, validate_only="true"
    )
    assert completion(client, 1)["state"] == "validate_success"
    sessions = metric(url, "plastrond_broker_sessions_total")

    count = 20_000
    job = job_id()
    with HealthProbe(url) as probe:
        send(
            client, job, rows_csv(count, "v"), model="Item", container=absent, validate_only="true"
        )
        body = completion(client, 2)
    assert body["state"] == "validate_success"
    assert body["count"]["valid"] == count and body["count"]["invalid"] == 0
    assert body["count"]["rows"] == count
    # /health answered all along, and the broker session was never lost (heart-beats kept)
    assert probe.failures == [] and probe.unhealthy == [], probe.failures + probe.unhealthy
    assert len(probe.answers) >= 20
    assert metric(url, "plastrond_broker_sessions_total") == sessions
    assert metric(url, "plastrond_broker_heartbeat_misses_total") == 0
    # the completion carries what fits; every row's report is in the run folder
    (run,) = runs(job_folder(jobs_dir, job))
    reports = run / "validation.jsonl"
    assert body["validation"] == []  # all valid, and too many to carry
    assert body["validation_cut"]["reports"] == count
    assert body["validation_cut"]["file"] == str(reports)
    lines = reports.read_text(encoding="utf-8").splitlines()
    assert len(lines) == count
    assert {json.loads(line)["line"] for line in lines} == {
        f"source.csv:{n + 2}" for n in range(count)
    }
    assert len(client.completions) == 2


@pytest.mark.timeout(900)
def test_sigterm_during_a_validate_only_of_20000_rows_and_the_rerun(
    plastrond_setup, activemq, archelon_factory, jobs_dir
) -> None:
    setup = make_setup(plastrond_setup, activemq, jobs_dir, None)
    first = setup.plastrond("first")
    first.wait_connected()
    client = archelon_factory(activemq, setup.dests)
    count = 20_000
    job = job_id()
    absent = "/sizes-test-" + uuid.uuid4().hex[:8]
    send(client, job, rows_csv(count, "t"), model="Item", container=absent, validate_only="true")
    wait_rows(client, 1000)  # well under way
    first.signal(signal.SIGTERM)
    # SHUTDOWN_GRACE_PERIOD is 5 s: the job is cancelled then, and the process ends
    assert first.wait(60) == 0
    assert client.completions == []
    assert rows_done(client) < count

    second = setup.plastrond("second")
    url = second.admin_url()
    second.wait_connected()  # (until then /health is 503: no broker session)
    with HealthProbe(url) as probe:
        body = completion(client, 1)
    assert body["state"] == "validate_success"
    assert body["count"]["valid"] == count
    assert probe.failures == [] and len(probe.answers) >= 10, probe.failures  # answered all along
    time.sleep(1)  # (test thread) a second completion, if any were sent, would be here by now
    assert len(client.completions) == 1  # the rerun's only
    # each run's reports in its own folder: the interrupted one's part, the rerun's whole
    interrupted, rerun = runs(job_folder(jobs_dir, job))
    assert len((rerun / "validation.jsonl").read_text().splitlines()) == count
    assert len((interrupted / "validation.jsonl").read_text().splitlines()) < count


# -- an import of 2,000 new items, SIGTERM in the middle -------------------------------------


class Target(TestContainer):
    def __init__(self, endpoint) -> None:
        super().__init__(endpoint.rest_url, endpoint.admin_auth)
        endpoint.grant(self.uri, EDITOR)


@pytest.fixture
def target(fedora) -> Iterator[Target]:
    container = Target(fedora)
    try:
        yield container
    finally:
        container.close()


@pytest.mark.timeout(2400)
def test_import_of_2000_new_items_sigterm_midway_and_resumed(
    plastrond_setup, activemq, archelon_factory, jobs_dir, fedora, target
) -> None:
    setup = make_setup(plastrond_setup, activemq, jobs_dir, fedora.repository_keys)
    first = setup.plastrond("first")
    first.wait_connected()
    client = archelon_factory(activemq, setup.dests)
    count = 2_000
    job = job_id()
    send(client, job, rows_csv(count, "i"), model="Item", container=target.uri)
    client.wait_for_count("created", 200, timeout=600)
    first.signal(signal.SIGTERM)
    assert first.wait(60) == 0
    assert client.completions == []
    folder = job_folder(jobs_dir, job)
    done_before = len(list(csv.DictReader(io.StringIO((folder / "completed.log.csv").read_text()))))
    assert 200 <= done_before < count

    second = setup.plastrond("second")
    url = second.admin_url()
    second.wait_connected()  # (until then /health is 503: no broker session)
    with HealthProbe(url) as probe:
        body = completion(client, 1, timeout=1800)
    assert body["state"] == "import_complete", body.get("count")
    # the rerun did only what was left: the rows not logged, less the items (at most one per
    # MAX_CONCURRENT_ITEMS) whose commit went through as the first daemon stopped, which the
    # rerun finds in the repository and logs without creating them again
    assert count - done_before - 4 <= body["count"]["created"] <= count - done_before
    assert body["count"]["rows"] == count
    assert probe.failures == [] and len(probe.answers) >= 10, probe.failures  # answered all along
    completed = list(csv.DictReader(io.StringIO((folder / "completed.log.csv").read_text())))
    assert sorted(r["id"] for r in completed) == sorted(f"i-{n}" for n in range(count))
    items = target.children()  # what the container holds: every row once, none lost or twice
    assert len(items) == count
    assert sorted(r["uri"] for r in completed) == sorted(items)
    # every row a run worked on has its report in that run's folder
    interrupted, rerun = runs(folder)
    assert len((interrupted / "validation.jsonl").read_text().splitlines()) >= done_before
    reported = len((rerun / "validation.jsonl").read_text().splitlines())
    assert reported == body["count"]["created"] + body["count"]["errors"]
    time.sleep(1)  # (test thread) a second completion, if any were sent, would be here by now
    assert len(client.completions) == 1
