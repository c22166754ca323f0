"""Log lines: the job id on every line about a job, one line per event, no secrets."""

from __future__ import annotations

import io
import json
import logging
import re

import pytest
import trio

from plastrond.logs import configure_logging, job_context, register_secret


@pytest.fixture
def console():
    stream = io.StringIO()
    configure_logging("stomp", None, verbose=True, stream=stream)
    yield stream
    logging.getLogger().handlers.clear()


async def test_each_trio_task_logs_its_own_job_id(console):
    log = logging.getLogger("plastrond.jobs")

    async def job(job_id: str, delay: float) -> None:
        with job_context(job_id):
            log.info("started")
            await trio.sleep(delay)
            log.info("finished")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(job, "http://archelon.example/import_jobs/1", 0.02)
        nursery.start_soon(job, "SYNCHRONOUS-abc", 0.01)
    log.info("no job here")

    lines = console.getvalue().splitlines()
    assert len(lines) == 5
    assert sum("[job http://archelon.example/import_jobs/1]" in ln for ln in lines) == 2
    assert sum("[job SYNCHRONOUS-abc]" in ln for ln in lines) == 2
    assert "[job" not in lines[-1]
    for line in lines[:4]:
        # The id belongs to the line of the task that logged it.
        assert ("started" in line or "finished" in line) and "[job " in line


def test_registered_secrets_never_appear(console):
    register_secret("s3cr3t-token-value")
    log = logging.getLogger("plastrond.repository")
    log.info("Authorization: Bearer %s", "s3cr3t-token-value")
    try:
        raise RuntimeError("failed with s3cr3t-token-value in the message")
    except RuntimeError:
        log.exception("request failed")
    text = console.getvalue()
    assert "s3cr3t-token-value" not in text
    assert text.count("***") == 3


def test_one_event_is_one_line(console):
    log = logging.getLogger("plastrond")
    log.warning("a message\nwith a second line")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("caught")
    lines = console.getvalue().splitlines()
    assert len(lines) == 2
    assert "a message | with a second line" in lines[0]
    assert "Traceback" in lines[1] and "ValueError: boom" in lines[1]


def test_log_file_gets_the_same_lines(tmp_path):
    stream = io.StringIO()
    path = configure_logging("http", tmp_path / "logs", stream=stream)
    try:
        logging.getLogger("plastrond").info("hello file")
        logging.getLogger("plastrond").debug("not without -v")
    finally:
        for handler in logging.getLogger().handlers:
            handler.flush()
    assert path is not None and path.parent == tmp_path / "logs"
    assert path.name.startswith("plastrond.http.")
    assert "hello file" in path.read_text()
    assert "not without -v" not in path.read_text()
    assert "hello file" in stream.getvalue()
    logging.getLogger().handlers.clear()


@pytest.fixture
def json_console():
    stream = io.StringIO()
    configure_logging("stomp", None, verbose=True, stream=stream, log_format="json")
    yield stream
    logging.getLogger().handlers.clear()


def test_json_lines_have_the_fields_and_the_job_id(json_console):
    log = logging.getLogger("plastrond.jobs")
    with job_context("http://archelon.example/import_jobs/9"):
        log.info("job done in %.3f s: %s", 0.25, "Done", extra={"state": "Done", "seconds": 0.25})
    log.warning("no job\nsecond line")
    first, second = (json.loads(line) for line in json_console.getvalue().splitlines())
    assert first["level"] == "INFO" and first["logger"] == "plastrond.jobs"
    assert first["job_id"] == "http://archelon.example/import_jobs/9"
    assert first["message"] == "job done in 0.250 s: Done"
    assert first["state"] == "Done" and first["seconds"] == 0.25
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["time"])
    assert "job_id" not in second and second["message"] == "no job\nsecond line"


def test_json_lines_never_carry_a_secret(json_console):
    secret = 'js"on\\secret-value'
    register_secret(secret)
    log = logging.getLogger("plastrond.repository")
    log.info("token %s", secret, extra={"headers": {"Authorization": f"Bearer {secret}"}})
    try:
        raise RuntimeError(f"failed with {secret}")
    except RuntimeError:
        log.exception("request failed")
    text = json_console.getvalue()
    entries = [json.loads(line) for line in text.splitlines()]
    assert len(entries) == 2
    assert secret not in text and secret not in json.dumps(entries)
    assert all(secret not in str(value) for entry in entries for value in entry.values())
    assert entries[0]["message"] == "token ***"
    assert entries[0]["headers"] == {"Authorization": "Bearer ***"}
    assert "RuntimeError: failed with ***" in entries[1]["exc"]
