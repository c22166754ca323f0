"""Size limits on request and completion bodies (issue 18, finding 3): the parts."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import attrs
import pytest

from plastrond.commands import registry
from plastrond.config import (
    MAX_COMPLETION_BYTES_DEFAULT,
    MAX_REQUEST_BYTES_DEFAULT,
    ConfigError,
    load_config,
)
from plastrond.daemon import frame_limit
from plastrond.jobs.completion import Completion, full_body_path, limit_completion
from plastrond.jobs.request import JobRequest, request_from_message
from plastrond.jobs.runner import JobRunner
from stompframe import DEFAULT_MAX_FRAME_BYTES

MINIMAL = """\
REPOSITORY:
  REST_ENDPOINT: http://repository:8080/fcrepo/rest
  LOG_DIR: /var/log/plastron
MESSAGE_BROKER:
  SERVER: activemq:61613
  MESSAGE_STORE_DIR: /var/opt/plastron/msg
  DESTINATIONS:
    JOBS: /queue/plastron.jobs
    JOB_STATUS: /queue/plastron.jobs.status
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "plastrond.yml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    return str(caught.value)


HEADERS = {"PlastronJobId": "http://archelon.example/jobs/7", "PlastronCommand": "echo"}


def test_defaults_and_configured_limits(tmp_path):
    broker = load_config(write(tmp_path, MINIMAL), environ={}).require_broker()
    assert broker.max_request_bytes == MAX_REQUEST_BYTES_DEFAULT == 16 * 1024 * 1024
    assert broker.max_completion_bytes == MAX_COMPLETION_BYTES_DEFAULT == 4 * 1024 * 1024
    path = write(tmp_path, MINIMAL + "  MAX_REQUEST_BYTES: 65536\n  MAX_COMPLETION_BYTES: 2048\n")
    broker = load_config(path, environ={}).require_broker()
    assert (broker.max_request_bytes, broker.max_completion_bytes) == (65536, 2048)


def test_a_tiny_or_non_numeric_limit_is_a_config_error(tmp_path):
    message = error_of(write(tmp_path, MINIMAL + "  MAX_REQUEST_BYTES: 10\n"))
    assert "MESSAGE_BROKER.MAX_REQUEST_BYTES" in message
    message = error_of(write(tmp_path, MINIMAL + "  MAX_COMPLETION_BYTES: lots\n"))
    assert "MESSAGE_BROKER.MAX_COMPLETION_BYTES" in message


def test_the_parser_limit_is_the_request_limit_plus_room_for_headers():
    # Frames past it are dropped as they stream in (an OversizedFrame, answered like any
    # oversized request), so it need not be above what a broker might deliver.
    assert frame_limit(64 * 1024) == 64 * 1024 + 1024 * 1024
    assert frame_limit(16 * 1024 * 1024) == 17 * 1024 * 1024 < DEFAULT_MAX_FRAME_BYTES


def test_a_request_whose_rest_was_dropped_is_refused_by_its_real_size():
    headers = {**HEADERS, "PlastronCommand": "echo"}
    big = request_from_message(
        headers, b"z" * 10, synchronous=False, received=1, max_body=2000, body_size=50_000
    )
    assert big.job_id == HEADERS["PlastronJobId"]
    assert big.body == b""
    assert big.refused == (
        "the message body is 50000 bytes, over the limit of 2000 bytes "
        "(MESSAGE_BROKER.MAX_REQUEST_BYTES)"
    )
    # Past the frame limit by its headers, not its body: refused all the same, saying why.
    wide = request_from_message(
        headers, b"z" * 10, synchronous=False, received=1, max_body=2000, body_size=10
    )
    assert wide.body == b""
    assert wide.refused is not None and "over the STOMP frame limit" in wide.refused


def test_an_oversized_body_is_refused_and_not_kept():
    limited = request_from_message(
        HEADERS, b"y" * 2001, synchronous=False, received=1, max_body=2000
    )
    assert limited.job_id == HEADERS["PlastronJobId"]
    assert limited.body == b""
    assert limited.refused == (
        "the message body is 2001 bytes, over the limit of 2000 bytes "
        "(MESSAGE_BROKER.MAX_REQUEST_BYTES)"
    )
    # It travels through the inbox.
    assert JobRequest.from_json(limited.to_json()) == limited
    fits = request_from_message(HEADERS, b"y" * 2000, synchronous=False, received=1, max_body=2000)
    assert fits.body == b"y" * 2000 and fits.refused is None


async def test_a_refused_request_fails_in_its_command_s_error_state(tmp_path):
    config = load_config(write(tmp_path, MINIMAL), environ={})
    runner = JobRunner(config, commands=registry, max_sync=1)
    refused = request_from_message(
        HEADERS, b"z" * 5000, synchronous=False, received=1, max_body=1024
    )
    result = await runner.run(refused)
    assert result.state == "echo_error"
    assert result.error is not None and "5000 bytes, over the limit of 1024" in result.error


def _completion(body: bytes) -> Completion:
    return Completion(
        job_id="http://archelon.example/jobs/7",
        destination="/queue/status",
        headers=(("PlastronJobId", "http://archelon.example/jobs/7"), ("PlastronJobState", "x")),
        body=body,
    )


def test_a_completion_under_the_limit_is_unchanged(tmp_path):
    completion = _completion(b"a" * 1024)
    assert limit_completion(completion, 1024, tmp_path / "full") is completion
    assert not (tmp_path / "full").exists()


def test_a_json_completion_keeps_the_protocol_keys_and_the_full_body_on_disk(tmp_path):
    full = {
        "type": "import_complete",
        "state": "import_complete",
        "progress": 100,
        "count": {"total": 3000, "rows": 3000, "errors": 0},
        "validation": [{"line": f"source.csv:{i}", "is_valid": True} for i in range(3000)],
    }
    body = json.dumps(full).encode()
    path = full_body_path("http://archelon.example/jobs/7", None, tmp_path / "logs")
    assert (
        path == tmp_path / "logs" / "completions" / "http%3A%2F%2Farchelon.example%2Fjobs%2F7.full"
    )
    cut = limit_completion(_completion(body), 4096, path)
    assert len(cut.body) <= 4096
    data = json.loads(cut.body)
    for key in ("type", "state", "progress", "count"):
        assert data[key] == full[key]
    assert "validation" not in data
    assert data["truncated"]["bytes"] == len(body)
    assert data["truncated"]["limit"] == 4096
    assert data["truncated"]["full_body"] == str(path)
    assert path.read_bytes() == body
    assert cut.headers == _completion(body).headers


def test_a_job_folder_gets_the_full_body(tmp_path):
    assert full_body_path("j", tmp_path / "job", tmp_path / "logs") == tmp_path / "job" / (
        "completion.full"
    )


def test_a_raw_completion_keeps_its_first_bytes_and_a_note(tmp_path):
    body = bytes(range(256)) * 40
    path = tmp_path / "out" / "j.full"
    cut = limit_completion(_completion(body), 2048, path)
    assert len(cut.body) <= 2048
    head, _, note = cut.body.partition(b"\n[plastrond: ")
    assert body.startswith(head) and len(head) > 1024
    assert f"{len(body)} bytes, over the limit of 2048 bytes".encode() in note
    assert str(path).encode() in note
    assert path.read_bytes() == body


def test_a_full_body_that_cannot_be_written_is_said_so(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    cut = limit_completion(_completion(b"q" * 5000), 2048, blocker / "sub" / "j.full")
    assert len(cut.body) <= 2048
    assert b"not kept" in cut.body
    assert not Path(blocker / "sub").exists()


async def test_the_daemon_keeps_the_full_body_in_the_job_folder_when_there_is_one(tmp_path):
    from plastrond.daemon import Daemon
    from plastrond.jobs.ids import job_id_segment

    text = (
        MINIMAL.replace("/var/log/plastron", str(tmp_path / "logs"))
        .replace("/var/opt/plastron/msg", str(tmp_path / "msg"))
        .replace("  DESTINATIONS:", "  MAX_COMPLETION_BYTES: 2048\n  DESTINATIONS:")
        + f"COMMANDS:\n  IMPORT:\n    JOBS_DIR: {tmp_path / 'jobs'}\n"
    )
    # (making a daemon opens nothing: its message store is opened by `run`)
    daemon = Daemon(load_config(write(tmp_path, text), environ={}), handle_signals=False)
    folder = tmp_path / "jobs" / job_id_segment("http://archelon.example/jobs/7")
    folder.mkdir(parents=True)
    body = json.dumps({"type": "import_complete", "rows": ["r" * 50] * 200}).encode()
    cut = await daemon.limit(_completion(body))
    assert len(cut.body) <= 2048
    assert (folder / "completion.full").read_bytes() == body
    assert json.loads(cut.body)["truncated"]["full_body"] == str(folder / "completion.full")
    # Without a job folder, the full body goes under LOG_DIR.
    other = attrs.evolve(_completion(body), job_id="no-folder")
    cut = await daemon.limit(other)
    assert (tmp_path / "logs" / "completions" / "no-folder.full").read_bytes() == body
    small = _completion(b"ok")
    assert await daemon.limit(small) is small
