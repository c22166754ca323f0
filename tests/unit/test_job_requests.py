"""Job requests from message headers, job ids as path segments, and the durable store."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from plastrond.jobs.completion import completion_for
from plastrond.jobs.ids import MAX_SEGMENT, job_id_segment, segment_job_id
from plastrond.jobs.request import JobRequest, MissingJobId, request_from_message
from plastrond.jobs.result import JobResult, error_result
from plastrond.jobs.store import MessageStore, RecordKind, StoreInUse


def test_request_from_message_reads_the_protocol_headers():
    request = request_from_message(
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
    request = request_from_message(
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
    both = request_from_message(
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
        request_from_message(
            {"PlastronCommand": "echo", **headers}, b"", synchronous=False, received=0
        )


def test_missing_command_is_left_for_the_runner_to_answer():
    request = request_from_message({"PlastronJobId": "j"}, b"", synchronous=False, received=0)
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
    store.close()
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
    store.close()
    store = MessageStore(tmp_path)
    (loaded,) = store.load_completions()
    assert loaded == completion
    assert loaded.error == "broken"
    store.remove([request.job_id])
    store.close()
    reopened = MessageStore(tmp_path)
    assert reopened.load_requests() == [] and reopened.load_completions() == []


def test_journal_is_private_and_compacted_on_open(tmp_path):
    store = MessageStore(tmp_path)
    store.save_requests([_request(f"job-{i}") for i in range(100)])
    store.remove([f"job-{i}" for i in range(99)])
    store.close()
    journal = tmp_path / "journal.log"
    assert journal.stat().st_mode & 0o077 == 0
    big = journal.stat().st_size
    reopened = MessageStore(tmp_path)
    assert [r.job_id for r in reopened.load_requests()] == ["job-99"]
    assert journal.stat().st_size < big / 50


def test_journal_compacts_while_running(tmp_path):
    store = MessageStore(tmp_path, compact_bytes=64 * 1024)
    for i in range(400):
        store.save_requests([_request(f"job-{i}")])
        store.remove([f"job-{i}"])
    assert (tmp_path / "journal.log").stat().st_size < 64 * 1024
    store.save_requests([_request("last")])
    store.close()
    assert [r.job_id for r in MessageStore(tmp_path).load_requests()] == ["last"]


def test_cut_short_last_record_is_ignored_and_damage_kept_aside(tmp_path, caplog):
    store = MessageStore(tmp_path)
    store.save_requests([_request("good"), _request("other")])
    store.close()
    journal = tmp_path / "journal.log"
    lines = journal.read_bytes().split(b"\n")
    # Flip a byte inside the second record, and add a record a crash cut short.
    damaged = lines[1].replace(b"other", b"otheR")
    journal.write_bytes(lines[0] + b"\n" + damaged + b"\n" + b'0000abcd {"type": "requ')
    loaded = MessageStore(tmp_path).load_requests()
    assert [r.job_id for r in loaded] == ["good"]
    assert b"otheR" in (tmp_path / "damaged.log").read_bytes()
    assert "damaged record" in caplog.text and "incomplete last record" in caplog.text


def test_one_process_per_store(tmp_path):
    first = MessageStore(tmp_path)
    with pytest.raises(StoreInUse, match="in use by another plastrond"):
        MessageStore(tmp_path)
    first.close()
    MessageStore(tmp_path).close()


def test_batch_keeps_the_order_of_operations(tmp_path):
    store = MessageStore(tmp_path)
    store.write_batch(
        [
            (RecordKind.REQUEST, [_request("a")]),
            (RecordKind.DONE, ["a"]),
            (RecordKind.REQUEST, [_request("a", body=b"again")]),
        ]
    )
    store.close()
    (request,) = MessageStore(tmp_path).load_requests()
    assert request.body == b"again"


def test_a_batch_item_of_the_wrong_kind_writes_nothing(tmp_path):
    store = MessageStore(tmp_path)
    with pytest.raises(TypeError, match="a done record keeps a str"):
        store.write_batch(
            [(RecordKind.REQUEST, [_request("a")]), (RecordKind.DONE, [_request("b")])]
        )
    assert not store.has_request("a")
    store.close()
    assert MessageStore(tmp_path).load_requests() == []


def test_a_status_url_travels_with_the_request_through_the_journal(tmp_path):
    url = "http://archelon.example/import_jobs/42/status"
    request = request_from_message(
        {
            "PlastronJobId": "http://archelon.example/import_jobs/42",
            "PlastronCommand": "import",
            "PlastronStatusURL": url,
        },
        b"csv",
        synchronous=False,
        received=1.0,
    )
    assert request.status_url == url
    older = request_from_message(
        {"PlastronJobId": "j", "PlastronCommand": "echo"}, b"", synchronous=False, received=1.0
    )
    assert older.status_url is None
    store = MessageStore(tmp_path / "msg")
    store.save_requests([request, older])
    store.close()
    again = MessageStore(tmp_path / "msg")
    loaded = {r.job_id: r for r in again.load_requests()}
    again.close()
    assert loaded[request.job_id].status_url == url
    assert loaded["j"].status_url is None
    # Every completion of such a job carries it; the others do not.
    done = completion_for(loaded[request.job_id], JobResult("import_complete", {}), "/queue/s")
    assert dict(done.headers)["PlastronStatusURL"] == url
    plain = completion_for(loaded["j"], JobResult(), "/queue/s")
    assert "PlastronStatusURL" not in dict(plain.headers)
