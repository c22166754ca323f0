"""Job requests from message headers, job ids as path segments, and the durable store."""

from __future__ import annotations

import json
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plastrond.commands.base import JobRequest
from plastrond.jobs.completion import completion_for, error_result
from plastrond.jobs.ids import MAX_SEGMENT, job_id_segment, segment_job_id
from plastrond.jobs.request import MissingJobId, parse_request
from plastrond.jobs.store import MessageStore


def test_parse_request_reads_the_protocol_headers():
    request = parse_request(
        {
            "PlastronJobId": "http://archelon.example/import_jobs/42",
            "PlastronCommand": "export",
            "PlastronArg-output-dest": "/exports/x.zip",
            "PlastronArg-Export-Binaries": "True",
            "PlastronArg-on-behalf-of": "jsmith",
            "persistent": "true",
        },
        b"http://repo/1\n",
        synchronous=False,
        received=12.5,
    )
    assert request.job_id == "http://archelon.example/import_jobs/42"
    assert request.command == "export"
    assert request.args == {
        "output-dest": "/exports/x.zip",
        "export-binaries": "True",
        "on-behalf-of": "jsmith",
    }
    assert request.on_behalf_of == "jsmith"
    assert request.body == b"http://repo/1\n"
    assert request.received == 12.5
    assert not request.synchronous and request.reply_to is None


def test_sync_request_keeps_reply_to_and_old_echo_delay_header():
    request = parse_request(
        {
            "PlastronJobId": "SYNCHRONOUS-1",
            "PlastronCommand": "echo",
            "echo-delay": "2",
            "reply-to": "/temp-queue/x",
        },
        b"",
        synchronous=True,
        received=0,
    )
    assert request.reply_to == "/temp-queue/x"
    assert request.args["echo-delay"] == "2"
    # The PlastronArg- spelling wins when both are present.
    both = parse_request(
        {"PlastronJobId": "a", "echo-delay": "2", "PlastronArg-echo-delay": "3"},
        b"",
        synchronous=False,
        received=0,
    )
    assert both.args["echo-delay"] == "3"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"PlastronJobId": ""},
        {"PlastronJobId": "   "},
        {"PlastronJobId": "a\x01b"},
        {"PlastronJobId": "x" * 2001},
    ],
)
def test_unusable_job_ids(headers):
    with pytest.raises(MissingJobId):
        parse_request({"PlastronCommand": "echo", **headers}, b"", synchronous=False, received=0)


def test_missing_command_is_left_for_the_runner_to_answer():
    request = parse_request({"PlastronJobId": "j"}, b"", synchronous=False, received=0)
    assert request.command == ""


# job ids as path segments -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("job_id", "segment"),
    [
        (
            "http://archelon.example/import_jobs/42",
            "http%3A%2F%2Farchelon.example%2Fimport_jobs%2F42",
        ),
        ("..", "%2E%2E"),
        (".", "%2E"),
        (".hidden", "%2Ehidden"),
        ("/etc/passwd", "%2Fetc%2Fpasswd"),
        ("a b%c", "a%20b%25c"),
        ("SYNCHRONOUS-1234", "SYNCHRONOUS-1234"),
    ],
)
def test_job_id_segment_examples(job_id, segment):
    assert job_id_segment(job_id) == segment
    assert segment_job_id(segment) == job_id


@given(st.text(min_size=1, max_size=400))
def test_any_job_id_is_one_safe_segment(job_id):
    segment = job_id_segment(job_id)
    assert "/" not in segment and "\x00" not in segment and "\\" not in segment
    assert segment not in ("", ".", "..") and not segment.startswith(".")
    assert len(segment.encode()) <= MAX_SEGMENT
    assert segment.isascii()
    if len(segment) < MAX_SEGMENT - 42:
        assert segment_job_id(segment) == job_id


@given(st.text(min_size=1, max_size=300), st.text(min_size=1, max_size=300))
def test_different_ids_never_share_a_segment(a, b):
    if a != b:
        assert job_id_segment(a) != job_id_segment(b)


# the message store ----------------------------------------------------------------------------


def _request(job_id: str, received: float = 1.0, body: bytes = b"body") -> JobRequest:
    return JobRequest(job_id=job_id, command="echo", args={"a": "1"}, body=body, received=received)


def test_store_round_trip_in_arrival_order(tmp_path):
    store = MessageStore(tmp_path / "msg")
    store.save_requests([_request("b", 2.0), _request("a", 3.0), _request("c", 1.0, b"\xff\x00")])
    again = MessageStore(tmp_path / "msg")
    loaded = again.load_requests()
    assert [r.job_id for r in loaded] == ["c", "b", "a"]
    assert loaded[0].body == b"\xff\x00"
    assert loaded[1] == _request("b", 2.0)


def test_store_completions_and_removal(tmp_path):
    store = MessageStore(tmp_path)
    request = _request("http://archelon.example/import_jobs/7")
    store.save_requests([request])
    completion = completion_for(request, error_result("broken"), "/queue/status")
    store.save_completions([completion])
    assert store.has_request(request.job_id) and store.has_completion(request.job_id)
    (loaded,) = store.load_completions()
    assert loaded == completion
    assert loaded.error == "broken"
    store.remove([request.job_id])
    assert store.load_requests() == [] and store.load_completions() == []
    assert list((tmp_path / "inbox").iterdir()) == [] == list((tmp_path / "outbox").iterdir())


def test_store_files_are_private_and_named_by_segment(tmp_path):
    store = MessageStore(tmp_path)
    store.save_requests([_request("../../etc/x")])
    (path,) = (tmp_path / "inbox").iterdir()
    assert path.name == "%2E%2E%2F%2E%2E%2Fetc%2Fx.json"
    assert path.stat().st_mode & 0o077 == 0


def test_interrupted_write_is_ignored_and_damaged_file_kept_aside(tmp_path, caplog):
    store = MessageStore(tmp_path)
    store.save_requests([_request("good")])
    (tmp_path / "inbox" / ".half.json.tmp").write_bytes(b'{"job_id": "ha')
    (tmp_path / "inbox" / "broken.json").write_bytes(b"not json")
    loaded = store.load_requests()
    assert [r.job_id for r in loaded] == ["good"]
    assert not (tmp_path / "inbox" / ".half.json.tmp").exists()
    assert (tmp_path / "damaged" / "broken.json").read_bytes() == b"not json"
    assert "unreadable message store file" in caplog.text


def test_store_writes_are_atomic_json(tmp_path):
    store = MessageStore(tmp_path)
    store.save_requests([_request("x")])
    data = json.loads((tmp_path / "inbox" / "x.json").read_text())
    assert data["job_id"] == "x" and data["command"] == "echo"
    assert not [p for p in os.listdir(tmp_path / "inbox") if p.endswith(".tmp")]
