"""`plastrond submit` end to end: the client as a real process against the real ActiveMQ, a real
`plastrond stomp` and the real Fedoras (6.1.0 and 4.7.5 where the job touches the repository).

The import is the project's sample (dev/sample) with the dev configuration's local vocabularies,
the way README "Your first job" runs it.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import bagit
import pytest
import stomp
import yaml
from rdflib import Literal, URIRef

from plastrond.config import load_config
from tests.support.export import unzip

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "dev" / "sample"
DCTERMS = "http://purl.org/dc/terms/"


def submit(
    config: Path, *args: str, stdin: str | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "plastrond", "-c", str(config), "submit", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        check=False,
    )


def dev_vocabularies() -> dict[str, str]:
    """The vocabulary copies dev/plastrond.yml names, as dev/run.sh expands them."""
    saved = os.environ.get("PLASTROND_DEV_ROOT")
    os.environ["PLASTROND_DEV_ROOT"] = str(REPO)
    try:
        config = load_config(REPO / "dev" / "plastrond.yml")
    finally:
        if saved is None:
            del os.environ["PLASTROND_DEV_ROOT"]
        else:
            os.environ["PLASTROND_DEV_ROOT"] = saved
    return dict(config.content_models.vocabularies)


@pytest.fixture
def daemon(activemq, fedora, plastrond_setup, tmp_path):
    setup = plastrond_setup(
        activemq,
        repository=fedora.repository_keys,
        sections={
            "CONTENT_MODELS": {"VOCABULARIES": dev_vocabularies()},
            "COMMANDS": {
                "EXPORT": {"ALLOWED_OUTPUT_DIRS": [str(tmp_path / "exports")]},
                "IMPORT": {
                    "JOBS_DIR": str(tmp_path / "jobs"),
                    "ALLOWED_BINARIES_DIRS": [str(SAMPLE / "files")],
                },
            },
        },
        PROGRESS_INTERVAL=0,
    )
    setup.plastrond().wait_connected()
    return setup


@pytest.fixture
def echo_daemon(activemq, plastrond_setup):
    setup = plastrond_setup(activemq)
    setup.plastrond().wait_connected()
    return setup


def sample_rows() -> list[dict[str, str]]:
    with (SAMPLE / "items.csv").open(encoding="utf-8", newline="") as f:
        return list(csv.DictReader(f))


def test_the_sample_imports_through_submit_and_exports_as_a_valid_bag(
    daemon, fedora, target, tmp_path
):
    rows = sample_rows()
    imported = submit(
        daemon.config,
        "import",
        str(SAMPLE / "items.csv"),
        "--arg",
        "model=Item",
        "--arg",
        f"binaries-location={SAMPLE / 'files'}",
        "--arg",
        f"container={target.uri}",
        "--timeout",
        "240",
    )
    assert imported.returncode == 0, imported.stderr
    body = json.loads(imported.stdout)
    assert body["state"] == "import_complete"
    assert body["count"]["created"] == len(rows) == 5
    # progress, one plain line per update (stderr is no terminal here), then the end
    assert "import_in_progress" in imported.stderr
    assert imported.stderr.rstrip().splitlines()[-1].endswith("ended import_complete")

    items = {}
    for uri in target.items():
        graph = target.graph(uri)
        identifier = str(graph.value(URIRef(uri), URIRef(DCTERMS + "identifier")))
        items[identifier] = uri
    assert sorted(items) == sorted(row["Identifier"] for row in rows)
    by_id = {row["Identifier"]: row for row in rows}
    for identifier, uri in items.items():
        walked = target.walk_item(uri)
        title = walked.graph.value(URIRef(uri), URIRef(DCTERMS + "title"))
        assert str(title) == by_id[identifier]["Title"]
        files = [f for f in by_id[identifier]["FILES"].split(";") if f]
        assert len(walked.pages) == len(files), identifier
    # the multi-valued field and the language tag
    alternatives = set(
        target.graph(items["sample-map"]).objects(
            URIRef(items["sample-map"]), URIRef(DCTERMS + "alternative")
        )
    )
    assert alternatives == {Literal("Map of College Park"), Literal("Plan of the grounds")}
    tokyo = target.graph(items["sample-tokyo"]).value(
        URIRef(items["sample-tokyo"]), URIRef(DCTERMS + "alternative")
    )
    assert tokyo == Literal("東京の写真", lang="ja")

    # the items out again, through submit: a ZIP holding a valid bag with every item
    dest = tmp_path / "exports" / "sample.zip"
    exported = submit(
        daemon.config,
        "export",
        "-",
        "--arg",
        "format=text/csv",
        "--arg",
        f"output-dest={dest}",
        "--arg",
        "export-binaries=true",
        "--json",
        "--timeout",
        "240",
        stdin="\n".join(items.values()) + "\n",
    )
    assert exported.returncode == 0, exported.stderr
    done = json.loads(exported.stdout)
    assert done["type"] == "export_complete"
    assert done["count"]["exported"] == 5
    assert done["download_uri"] == str(dest)
    bag = bagit.Bag(str(unzip(dest, tmp_path / "bag")))
    bag.validate()
    metadata = [p for p in bag.payload_files() if p.endswith(".csv")]
    assert len(metadata) == 1
    with open(Path(bag.path) / metadata[0], encoding="utf-8") as f:
        exported_ids = sorted(row["Identifier"] for row in csv.DictReader(f))
    assert exported_ids == sorted(items)
    pngs = [p for p in bag.payload_files() if p.endswith(".png")]
    assert len(pngs) == sum(len([f for f in r["FILES"].split(";") if f]) for r in rows)


def test_a_failing_job_exits_1_with_its_reason_last_on_stderr(daemon, target):
    result = submit(
        daemon.config,
        "import",
        str(SAMPLE / "items.csv"),
        "--arg",
        "model=NoSuchModel",
        "--arg",
        f"container={target.uri}",
        "--timeout",
        "60",
    )
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["state"] == "import_error"
    last = result.stderr.rstrip().splitlines()[-1]
    assert "ended import_error" in last
    assert "NoSuchModel" in last
    assert target.items() == []


def test_echo_prints_the_body_and_json_makes_it_one_document(echo_daemon):
    text = "hello, plastrond\nsecond line\n"
    plain = submit(echo_daemon.config, "echo", "-", stdin=text, timeout=60)
    assert (plain.returncode, plain.stdout) == (0, text)
    as_json = submit(echo_daemon.config, "echo", "-", "--json", stdin=text, timeout=60)
    assert as_json.returncode == 0
    assert json.loads(as_json.stdout) == text


def test_no_wait_prints_the_job_id_once_the_broker_has_the_job(echo_daemon, activemq):
    listener = Collector()
    conn = listen(activemq, echo_daemon.dests.status, listener)
    try:
        result = submit(echo_daemon.config, "echo", "--no-wait", "--arg", "echo-delay=1")
        assert result.returncode == 0, result.stderr
        job_id = result.stdout.strip()
        assert job_id.startswith("submit-")
        listener.wait(1)
        assert [f.headers["PlastronJobId"] for f in listener.frames] == [job_id]
    finally:
        conn.disconnect()


def test_job_ids_are_unique_unless_given(echo_daemon):
    given = f"my-job-{uuid.uuid4().hex[:6]}"
    first = submit(echo_daemon.config, "echo", "--no-wait")
    second = submit(echo_daemon.config, "echo", "--no-wait")
    third = submit(echo_daemon.config, "echo", "--no-wait", "--job-id", given)
    ids = [r.stdout.strip() for r in (first, second, third)]
    assert ids[0] != ids[1]
    assert ids[2] == given


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["echo", "/nonexistent/body.csv"], "cannot read BODY /nonexistent/body.csv"),
        (["echo", "--arg", "novalue"], "--arg 'novalue': expected NAME=VALUE"),
        (["echo", "--frobnicate"], "unrecognized arguments: --frobnicate"),
        (["echo", "--timeout", "soon"], "expected a number of seconds"),
    ],
)
def test_usage_errors_exit_2_and_send_nothing(plastrond_setup, activemq, args, says):
    setup = plastrond_setup(activemq)  # no daemon: whatever is sent stays for the listener
    listener = Collector()
    conn = listen(activemq, setup.dests.jobs, listener)
    try:
        result = submit(setup.config, *args, timeout=60)
        assert result.returncode == 2
        assert says in result.stderr
        assert result.stdout == ""
        time.sleep(0.5)
        assert listener.frames == []
    finally:
        conn.disconnect()


def test_a_config_that_does_not_parse_exits_2(tmp_path):
    config = tmp_path / "bad.yml"
    config.write_text("MESSAGE_BROKER: [unclosed\n")
    result = submit(config, "echo", timeout=60)
    assert result.returncode == 2
    assert str(config) in result.stderr


def test_a_broker_that_cannot_be_reached_exits_3_within_the_timeout(plastrond_setup):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # free once closed: nothing listens there
    config = plastrond_setup(SimpleNamespace(host="127.0.0.1", port=port)).config
    began = time.monotonic()
    result = submit(config, "echo", "--timeout", "5", timeout=60)
    assert result.returncode == 3
    assert time.monotonic() - began < 5 + 3  # (interpreter start included)
    assert f"cannot reach the broker: 127.0.0.1:{port}" in result.stderr


def test_a_broker_that_stops_answering_exits_3_within_the_timeout(private_broker, plastrond_setup):
    setup = plastrond_setup(private_broker.endpoint)
    private_broker.freeze()
    try:
        began = time.monotonic()
        result = submit(setup.config, "echo", "--timeout", "4", timeout=60)
        elapsed = time.monotonic() - began
    finally:
        private_broker.thaw()
    assert result.returncode == 3
    assert elapsed < 4 + 3
    assert "the broker did not take the job within 4 s" in result.stderr


def test_a_job_that_does_not_end_in_time_exits_3(echo_daemon):
    began = time.monotonic()
    result = submit(echo_daemon.config, "echo", "--arg", "echo-delay=30", "--timeout", "3")
    assert result.returncode == 3
    assert time.monotonic() - began < 3 + 3
    job_id = result.stderr.split("(job ", 1)[1].split(";", 1)[0]
    assert f"no completion within 3 s (job {job_id}; it may still run)" in result.stderr


def test_another_consumer_of_the_status_queue_gets_every_message_not_the_clients(
    echo_daemon, activemq, archelon_factory
):
    archelon = archelon_factory(activemq, echo_daemon.dests)  # consumes JOB_STATUS, no selector
    theirs = [f"http://archelon.example/jobs/{i}" for i in range(12)]
    results: dict[int, subprocess.CompletedProcess[str]] = {}

    def client(n: int) -> None:
        results[n] = submit(
            echo_daemon.config, "echo", "-", "--arg", "echo-delay=0.5", stdin=f"mine {n}\n"
        )

    threads = [threading.Thread(target=client, args=(n,)) for n in range(3)]
    for thread in threads:
        thread.start()
    for job_id in theirs:
        archelon.send_job(job_id, "echo", job_id, echo_delay="0.3")
        time.sleep(0.1)
    for thread in threads:
        thread.join(120)
    for n, result in results.items():
        assert (result.returncode, result.stdout) == (0, f"mine {n}\n"), result.stderr
    assert len(results) == 3
    archelon.wait_for("completions", len(theirs), timeout=60)
    time.sleep(1)
    assert sorted(archelon.completion_ids()) == sorted(theirs)


def test_the_status_destination_may_be_a_topic(activemq, plastrond_setup):
    setup = plastrond_setup(activemq)
    data = yaml.safe_load(setup.config.read_text())
    destinations = data["MESSAGE_BROKER"]["DESTINATIONS"]
    destinations["JOB_STATUS"] = destinations["JOB_STATUS"].replace("/queue/", "/topic/")
    setup.config.write_text(yaml.safe_dump(data))
    setup.plastrond().wait_connected()
    result = submit(setup.config, "echo", "-", stdin="over a topic", timeout=60)
    assert (result.returncode, result.stdout) == (0, "over a topic\n")


class Collector(stomp.ConnectionListener):
    def __init__(self) -> None:
        self.frames: list[stomp.utils.Frame] = []
        self.lock = threading.Condition()

    def on_message(self, frame: stomp.utils.Frame) -> None:
        with self.lock:
            self.frames.append(frame)
            self.lock.notify_all()

    def wait(self, count: int, timeout: float = 30) -> None:
        with self.lock:
            assert self.lock.wait_for(lambda: len(self.frames) >= count, timeout), self.frames


def listen(broker, destination: str, listener: Collector) -> stomp.Connection12:
    conn = stomp.Connection12([(broker.host, broker.port)], heartbeats=(0, 0))
    conn.set_listener("", listener)
    conn.connect(wait=True)
    conn.subscribe(destination, id="1", ack="auto")
    return conn


def test_a_broker_restarted_while_the_job_runs_is_reconnected_to(
    private_broker, plastrond_setup, tmp_path
):
    setup = plastrond_setup(private_broker.endpoint)
    daemon = setup.plastrond()
    daemon.wait_connected()
    body = tmp_path / "body.txt"
    body.write_text("still here\n")
    args = ["submit", "echo", str(body), "--arg", "echo-delay=6", "--timeout", "150"]
    client = subprocess.Popen(
        [sys.executable, "-m", "plastrond", "-c", str(setup.config), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert client.stderr is not None
        assert " sent to " in client.stderr.readline()
        daemon.wait_for_log("accepted echo job", timeout=30)
        private_broker.stop()
        private_broker.start()
        out, err = client.communicate(timeout=150)
    finally:
        if client.poll() is None:
            client.kill()
    assert client.returncode == 0, err
    assert out == "still here\n"
    assert "lost the broker" in err
