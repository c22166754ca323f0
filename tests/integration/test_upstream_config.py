"""A configuration written for upstream Plastron 4.8.1 starts plastrond and behaves the same,
against the real ActiveMQ and Fedora: no SYNCHRONOUS_JOBS (not subscribed), no JOB_PROGRESS
(no progress topic), HEARTBEAT.SEND/RECEIVE, REPOSITORY.ORIGIN (requests go to the origin,
URIs are named by REST_ENDPOINT), no RELPATH, LOG_LEVEL from the environment."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import httpx
import pytest
import stomp
from rdflib import Graph, URIRef
from rdflib.namespace import RDF

pytestmark = pytest.mark.integration

PUBLISHED = URIRef("http://vocab.lib.umd.edu/access#Published")
REPO_DIR = Path(__file__).resolve().parents[2]
PUBLIC_NAME = "http://fcrepo.public.invalid:8080/fcrepo/rest"


class Collector(stomp.ConnectionListener):
    def __init__(self) -> None:
        self.frames: list[stomp.utils.Frame] = []

    def on_message(self, frame: stomp.utils.Frame) -> None:
        self.frames.append(frame)

    def wait(self, count: int, timeout: float = 60) -> list[stomp.utils.Frame]:
        deadline = time.monotonic() + timeout
        while len(self.frames) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.frames) >= count, f"{len(self.frames)} of {count} messages"
        return list(self.frames)


def test_upstream_481_config_runs_jobs(tmp_path, activemq, fedora):
    tag = uuid.uuid4().hex[:10]
    jobs, status = f"/queue/test.{tag}.jobs", f"/queue/test.{tag}.jobs.status"
    sync = f"/queue/test.{tag}.jobs.synchronous"
    config = tmp_path / "plastron.yml"
    config.write_text(
        textwrap.dedent(f"""\
        REPOSITORY:
          REST_ENDPOINT: {PUBLIC_NAME}
          ORIGIN: {fedora.rest_url}
          FEDORA_USER: {fedora.admin_user}
          FEDORA_PASSWORD: {fedora.admin_password}
          LOG_DIR: {tmp_path}/logs
        MESSAGE_BROKER:
          SERVER: {activemq.host}:{activemq.port}
          MESSAGE_STORE_DIR: {tmp_path}/msg
          HEARTBEAT:
            SEND: 2000
            RECEIVE: 2000
          DESTINATIONS:
            JOBS: {jobs}
            JOB_STATUS: {status}
        COMMANDS:
          IMPORT:
            JOBS_DIR: {tmp_path}/jobs
        """)
    )
    with httpx.Client(auth=fedora.admin_auth, timeout=30) as raw:
        made = raw.post(
            fedora.rest_url + "/",
            content=b'<> <http://purl.org/dc/terms/title> "upstream config" .',
            headers={"Content-Type": "text/turtle"},
        )
        assert made.status_code == 201
    item = made.headers["Location"]
    public_item = PUBLIC_NAME + item.removeprefix(fedora.rest_url.rstrip("/"))

    out = (tmp_path / "plastrond.out").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "plastrond", "-c", str(config), "stomp"],
        stdout=out,
        stderr=subprocess.STDOUT,
        cwd=REPO_DIR,
        env={**os.environ, "LOG_LEVEL": "DEBUG"},
    )
    conn = stomp.Connection12([(activemq.host, activemq.port)], heartbeats=(0, 0))
    collector = Collector()
    conn.set_listener("c", collector)
    try:
        log = tmp_path / "plastrond.out"
        deadline = time.monotonic() + 30
        while "connected to " not in log.read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, log.read_text()
            time.sleep(0.1)
        text = log.read_text()
        assert "connected to " in text, text
        assert " DEBUG " in text  # LOG_LEVEL=DEBUG
        assert "unknown key" not in text
        conn.connect(wait=True)
        conn.subscribe(status, id="status", ack="auto")
        conn.send(
            jobs,
            body="hello",
            headers={
                "PlastronJobId": f"echo-{tag}",
                "PlastronCommand": "echo",
                "persistent": "true",
            },
        )
        conn.send(
            jobs,
            body=public_item,
            headers={
                "PlastronJobId": f"publish-{tag}",
                "PlastronCommand": "publish",
                "persistent": "true",
            },
        )
        frames = collector.wait(2)
        by_id = {f.headers["PlastronJobId"]: f for f in frames}
        assert by_id[f"echo-{tag}"].body == "hello"
        done = by_id[f"publish-{tag}"]
        assert done.headers["PlastronJobState"] == "publish_complete", done.body
        assert json.loads(done.body)["count"]["done"] == 1
        # The origin's resource got the class.
        with httpx.Client(auth=fedora.admin_auth, timeout=30) as raw:
            answer = raw.get(item, headers={"Accept": "text/turtle"})
        graph = Graph().parse(data=answer.text, format="turtle")
        assert PUBLISHED in set(graph.objects(URIRef(item), RDF.type))
        # No synchronous subscription: a message there stays queued.
        conn.send(
            sync,
            body="",
            headers={"PlastronJobId": f"sync-{tag}", "PlastronCommand": "echo"},
        )
        time.sleep(1)
        assert len(collector.frames) == 2
        conn.subscribe(sync, id="sync", ack="auto")
        left = collector.wait(3)[-1]
        assert left.headers["PlastronJobId"] == f"sync-{tag}"
    finally:
        conn.disconnect()
        proc.terminate()
        proc.wait(30)
        out.close()
