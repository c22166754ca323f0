"""The rules written once (issue 27): an exception told in one line, a dot segment, a user
name to act for, a store write tried again, and what stop signals do."""

from __future__ import annotations

import errno
import itertools
import logging
import signal

import pytest
import trio

from plastrond import handles, shutdown
from plastrond.backoff import Backoff
from plastrond.errors import describe
from plastrond.jobs.writer import StoreRetry
from plastrond.parsing import dot_segment, unquote_all, user_name


@pytest.mark.parametrize(
    ("error", "kwargs", "expected"),
    [
        (
            OSError(errno.ENOENT, "No such file or directory", "/x/y"),
            {},
            "No such file or directory",
        ),
        (
            OSError(errno.ENOENT, "No such file or directory", "/x/y"),
            {"filename": True},
            "No such file or directory (/x/y)",
        ),
        (OSError("no errno"), {}, "no errno"),
        (ValueError("two\n  lines"), {}, "two lines"),
        (ValueError("kept  spaces"), {}, "kept  spaces"),
        (TimeoutError(), {}, "TimeoutError"),
        (ExceptionGroup("g", [ExceptionGroup("h", [KeyError("k")])]), {}, "'k'"),
        (
            ExceptionGroup("two", [ValueError("a"), ValueError("b")]),
            {},
            "two (2 sub-exceptions)",
        ),
    ],
)
def test_describe(error, kwargs, expected):
    assert describe(error, **kwargs) == expected


def test_describe_named():
    assert describe(RuntimeError("disk\non fire"), named=True) == "RuntimeError: disk on fire"
    assert describe(TimeoutError(), named=True) == "TimeoutError"
    assert describe(FileNotFoundError(2, "gone", "f"), named=True) == (
        "FileNotFoundError: [Errno 2] gone: 'f'"
    )


@pytest.mark.parametrize(
    ("segment", "expected"),
    [
        (".", True), ("..", True), ("%2e%2E", True), ("%252e%252e", True), ("..;x", True),
        ("a%2f..", True), ("a%5c..", True), (" .. ", True), ("...", False), ("a.b", False),
        ("", False), ("%2e%2e%2fx", True), (".x", False),
    ],
)  # fmt: skip
def test_dot_segment(segment, expected):
    assert dot_segment(segment) is expected


def test_unquote_all():
    assert unquote_all("%25252e") == "."
    assert unquote_all("a%20b") == "a b"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("jsmith", "jsmith"), ("  jsmith ", "jsmith"), ("", None), ("  ", None),
     ("a\r\nX-Evil: 1", None), ("a\tb", None), ("J. Smith", "J. Smith")],
)  # fmt: skip
def test_user_name(text, expected):
    assert user_name(text) == expected


async def test_store_retry_says_a_run_once_and_its_end_once(autojump_clock):
    retry = StoreRetry(lambda: itertools.count(1.0))
    assert not retry.over()  # nothing failed: no run to end
    first, again = OSError(errno.ENOSPC, "full"), OSError(errno.EIO, "io")
    assert retry.failed(first) and retry.failure is first
    assert not retry.failed(again) and retry.failure is again
    before = trio.current_time()
    await retry.wait()
    await retry.wait()
    assert trio.current_time() - before == pytest.approx(3.0)  # 1 s, then 2 s
    assert retry.over() and retry.failure is None
    assert not retry.over()
    assert retry.delay() == 1.0  # a new run starts with the first delay again


def test_the_handle_service_reads_wait_as_every_retry_loop_does():
    # one back-off policy (plastrond.backoff): 0.5 s before the second try, 2 s before the third
    assert isinstance(handles.READ_DELAYS, Backoff)
    assert [handles.READ_DELAYS.delay(n) for n in range(handles.READ_ATTEMPTS - 1)] == [0.5, 2.0]


async def _signals(*numbers: int):
    for number in numbers:
        yield number


def _watcher(numbers, early=None, *, already=False):
    calls: list[str] = []
    state = {"stopping": already}

    def stop() -> None:
        calls.append("stop")
        state["stopping"] = True

    async def watch() -> None:
        await shutdown.watch_stop_signals(
            _signals(*numbers),
            logging.getLogger("plastrond.test"),
            stopping=lambda: state["stopping"],
            stop=stop,
            stop_now=lambda: calls.append("now"),
        )

    return calls, watch


async def test_first_signal_graceful_second_at_once_then_the_watch_ends(monkeypatch, caplog):
    monkeypatch.setattr(shutdown, "_pending", [])
    caplog.set_level(logging.INFO)
    calls, watch = _watcher([signal.SIGTERM, signal.SIGINT, signal.SIGTERM])
    await watch()
    assert calls == ["stop", "now"]
    assert "SIGTERM: stopping (again to stop at once)" in caplog.text
    assert "SIGINT again: stopping at once" in caplog.text


async def test_a_signal_during_start_up_counts_as_the_first(monkeypatch, caplog):
    monkeypatch.setattr(shutdown, "_pending", [signal.SIGINT])
    caplog.set_level(logging.INFO)
    calls, watch = _watcher([signal.SIGTERM])
    await watch()
    assert calls == ["stop", "now"]
    assert "SIGINT during start-up: stopping" in caplog.text


async def test_a_signal_while_already_stopping_stops_at_once(monkeypatch):
    monkeypatch.setattr(shutdown, "_pending", [])
    calls, watch = _watcher([signal.SIGTERM], already=True)
    await watch()
    assert calls == ["now"]


async def test_first_to_end_cancels_the_others_and_says_why_the_first_ended(autojump_clock):
    from plastrond.waiting import first_to_end

    cancelled: list[str] = []

    async def forever() -> None:
        try:
            await trio.sleep_forever()
        finally:
            cancelled.append("forever")

    async def fails() -> None:
        await trio.sleep(1)
        raise ConnectionError("lost")

    async def returns() -> None:
        await trio.sleep(2)

    failure = await first_to_end(forever, fails, returns, expected=ConnectionError)
    assert isinstance(failure, ConnectionError) and str(failure) == "lost"
    assert cancelled == ["forever"] and trio.current_time() == pytest.approx(1)
    assert await first_to_end(forever, returns, expected=ConnectionError) is None
    assert cancelled == ["forever", "forever"]

    async def breaks() -> None:
        raise KeyError("not expected")

    with pytest.raises(ExceptionGroup) as info:
        await first_to_end(forever, breaks, expected=ConnectionError)
    assert info.group_contains(KeyError)
