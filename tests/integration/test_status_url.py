"""Current Archelon end to end: requests with PlastronStatusURL, sent as Archelon sends them
(a fresh connection per request, persistent: true; the Ruby stomp gem for some), through
ActiveMQ and the real Camel status route (services/camel.sh) to a double of Archelon's
status_update that refuses any state its job models do not define.

Every message about such a job goes to JOB_STATUS with the same PlastronStatusURL, so each
one reaches the endpoint: every body accepted, the last one the job's final state, progress
never going back within a run (validate, then import). A kill -9 in the middle of an import
and a restart still report to the same URL.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import time
import types
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import stomp
import yaml

from tests.support.imports import DATA, VOCABULARIES

pytestmark = pytest.mark.integration

RUBY_SENDER = Path(__file__).parent / "ruby" / "archelon_status_job.rb"
ITEM_COLUMNS = "Identifier,Title,Object Type,Rights Statement"
ITEM_VALUES = "http://purl.org/dc/dcmitype/Text,http://vocab.lib.umd.edu/rightsStatement#InC"


class ProgressWatcher(stomp.ConnectionListener):
    """Listens on JOB_PROGRESS: a request with a status URL must send nothing there."""

    def __init__(self, host: str, port: int, topic: str) -> None:
        self.frames: list[stomp.utils.Frame] = []
        self.conn = stomp.Connection12([(host, port)], heartbeats=(0, 0))
        self.conn.set_listener("progress", self)
        self.conn.connect(wait=True)
        self.conn.subscribe(topic, id="progress", ack="auto")

    def on_message(self, frame: stomp.utils.Frame) -> None:
        self.frames.append(frame)

    def close(self) -> None:
        self.conn.disconnect()


class Archelon:
    """Sends requests as current Archelon does: one fresh connection per request."""

    def __init__(self, host: str, port: int, jobs: str, tmp: Path) -> None:
        self.host, self.port, self.jobs, self.tmp = host, port, jobs, tmp

    @staticmethod
    def headers(job_id: str, command: str, status_url: str, args: dict[str, str]) -> dict[str, str]:
        headers = {
            "PlastronJobId": job_id,
            "PlastronCommand": command,
            "PlastronStatusURL": status_url,
            "persistent": "true",
        }
        for name, value in args.items():
            headers[f"PlastronArg-{name.replace('_', '-')}"] = value
        return headers

    def send(self, job_id: str, command: str, body: str, status_url: str, **args: str) -> None:
        conn = stomp.Connection12([(self.host, self.port)], heartbeats=(0, 0))
        conn.connect(wait=True)
        try:
            conn.send(self.jobs, body=body, headers=self.headers(job_id, command, status_url, args))
        finally:
            conn.disconnect()

    def send_with_ruby(
        self, job_id: str, command: str, body: str, status_url: str, **args: str
    ) -> None:
        ruby = shutil.which("ruby")
        assert ruby, "ruby is missing: dev/setup.sh installs ruby-stomp (which brings ruby)"
        body_file = self.tmp / f"body-{uuid.uuid4().hex[:8]}"
        body_file.write_text(body, encoding="utf-8")
        pairs = [f"{k}={v}" for k, v in self.headers(job_id, command, status_url, args).items()]
        result = subprocess.run(
            [ruby, str(RUBY_SENDER), self.host, str(self.port), self.jobs, str(body_file), *pairs],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert result.returncode == 0, result.stderr


@pytest.fixture
def current(camel_route, fedora, plastrond_setup, tmp_path) -> Iterator[Any]:
    """plastrond on the Camel route's broker, JOB_STATUS being the queue the route consumes."""
    broker = types.SimpleNamespace(host=camel_route.stomp_host, port=camel_route.stomp_port)
    exports = tmp_path / "exports"
    exports.mkdir()
    setup = plastrond_setup(
        broker,
        repository=fedora.repository_keys,
        sections={
            "CONTENT_MODELS": {"VOCABULARIES": VOCABULARIES},
            "COMMANDS": {
                "EXPORT": {"ALLOWED_OUTPUT_DIRS": [str(exports)]},
                "IMPORT": {
                    "JOBS_DIR": str(tmp_path / "jobs"),
                    "ALLOWED_BINARIES_DIRS": [str(DATA)],
                },
            },
        },
        PROGRESS_INTERVAL=0,
    )
    config = yaml.safe_load(setup.config.read_text())
    dests = config["MESSAGE_BROKER"]["DESTINATIONS"]
    dests["JOB_STATUS"] = camel_route.status_destination
    del dests["SYNCHRONOUS_JOBS"]
    setup.config.write_text(yaml.safe_dump(config))
    setup.dests.status = camel_route.status_destination
    watcher = ProgressWatcher(camel_route.stomp_host, camel_route.stomp_port, setup.dests.progress)
    archelon = Archelon(camel_route.stomp_host, camel_route.stomp_port, setup.dests.jobs, tmp_path)
    try:
        yield types.SimpleNamespace(
            setup=setup, archelon=archelon, watcher=watcher, exports=exports, tmp=tmp_path
        )
    finally:
        watcher.close()


def check_run(posts: list[Any], final: str, running: str) -> None:
    """Every post of one run: running states, then *final* last, progress never going back."""
    states = [p.body["state"] for p in posts]
    assert states[-1] == final, states
    assert set(states[:-1]) <= {running}, states
    progress = [p.body["progress"] for p in posts]
    assert progress == sorted(progress), progress
    assert posts[-1].body["progress"] == 100 or final.endswith("_error")


def test_archelon_jobs_reach_the_status_endpoint(current, archelon_status, target) -> None:
    daemon = current.setup.plastrond()
    daemon.wait_connected()
    archelon = current.archelon
    number = uuid.uuid4().hex[:8]
    job = f"http://archelon.example/import_jobs/{number}"
    import_url = archelon_status.url("import", number)
    csv_body = "\n".join([ITEM_COLUMNS, f"a,First,{ITEM_VALUES}", f"b,Second,{ITEM_VALUES}"])

    # Import: validate first, then (after a person confirms) resume under the same job id.
    archelon.send(
        job,
        "import",
        csv_body,
        import_url,
        model="Item",
        container=target.uri,
        validate_only="True",
    )
    validated = archelon_status.wait_for_state(import_url, "validate_success")
    archelon.send_with_ruby(job, "import", csv_body, import_url, resume="True")
    posts = archelon_status.wait_for_state(import_url, "import_complete")
    check_run(posts[: len(validated)], "validate_success", "validate_in_progress")
    check_run(posts[len(validated) :], "import_complete", "import_in_progress")
    assert posts[-1].body["count"]["created"] == 2
    items = target.items()
    assert len(items) == 2
    body_uris = "\n".join(items) + "\n"

    # An export, and one that fails as a whole (a destination outside the allowed folders).
    export_url = archelon_status.url("export", number)
    archelon.send(
        f"http://archelon.example/export_jobs/{number}",
        "export",
        body_uris,
        export_url,
        format="text/turtle",
        output_dest=str(current.exports / "items.zip"),
    )
    check_run(
        archelon_status.wait_for_state(export_url, "export_complete"),
        "export_complete",
        "in_progress",
    )
    assert (current.exports / "items.zip").stat().st_size > 0
    failing_url = archelon_status.url("export", f"{number}-bad")
    archelon.send_with_ruby(
        f"http://archelon.example/export_jobs/{number}-bad",
        "export",
        body_uris,
        failing_url,
        output_dest=str(current.tmp / "not-allowed" / "items.zip"),
    )
    (failed,) = archelon_status.wait_for_state(failing_url, "export_error")
    assert failed.body["type"] == "export_error" and failed.body["progress"] == 0
    assert failed.body["error"]
    assert failed.headers["PlastronJobState"] == "export_error"
    assert failed.headers["PlastronJobError"] == failed.body["error"]

    # Publish, then unpublish.
    publish_url = archelon_status.url("publish", number)
    archelon.send(
        f"http://archelon.example/publish_jobs/{number}", "publish", body_uris, publish_url
    )
    check_run(
        archelon_status.wait_for_state(publish_url, "publish_complete"),
        "publish_complete",
        "publish_in_progress",
    )
    unpublish_url = archelon_status.url("publish", f"{number}-un")
    archelon.send_with_ruby(
        f"http://archelon.example/publish_jobs/{number}-un", "unpublish", body_uris, unpublish_url
    )
    check_run(
        archelon_status.wait_for_state(unpublish_url, "unpublish_complete"),
        "unpublish_complete",
        "publish_in_progress",
    )

    time.sleep(1)  # anything late would show up now
    assert archelon_status.rejected == []
    for url, final in [
        (import_url, "import_complete"),
        (export_url, "export_complete"),
        (failing_url, "export_error"),
        (publish_url, "publish_complete"),
        (unpublish_url, "unpublish_complete"),
    ]:
        posts = archelon_status.posts(url)
        assert posts[-1].body["state"] == final
        assert all(p.headers["PlastronStatusURL"] == url for p in posts)
    # Nothing about these jobs went to the older clients' progress topic.
    assert current.watcher.frames == []


def test_killed_mid_import_still_reports_to_the_same_url(current, archelon_status, target) -> None:
    count = 80
    rows = [ITEM_COLUMNS] + [f"k{n},Item {n},{ITEM_VALUES}" for n in range(count)]
    number = uuid.uuid4().hex[:8]
    url = archelon_status.url("import", number)
    first = current.setup.plastrond("first")
    first.wait_connected()
    current.archelon.send(
        f"http://archelon.example/import_jobs/{number}",
        "import",
        "\n".join(rows),
        url,
        model="Item",
        container=target.uri,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        created = [p.body["count"]["created"] for p in archelon_status.posts(url)]
        if created and max(created) >= 8:
            break
        time.sleep(0.02)
    else:
        raise AssertionError(f"the import did not get going: {archelon_status.posts(url)}")
    first.signal(signal.SIGKILL)
    first.wait(10)
    before = len(archelon_status.posts(url))
    assert all(p.body["state"] == "import_in_progress" for p in archelon_status.posts(url))

    second = current.setup.plastrond("second")
    posts = archelon_status.wait_for_state(url, "import_complete", timeout=480)
    assert len(posts) > before
    assert posts[-1].body["state"] == "import_complete", [p.body["state"] for p in posts]
    assert {p.body["state"] for p in posts[:-1]} == {"import_in_progress"}
    assert len(target.items()) == count
    assert archelon_status.rejected == []
    assert current.watcher.frames == []
    second.signal(signal.SIGTERM)
    assert second.wait(30) == 0
