"""`plastrond submit`: send one job to the daemon through the broker, as Archelon does, and
follow it to its end.

The request carries Archelon's headers (`PlastronCommand`, `PlastronJobId`, one
`PlastronArg-NAME` per argument, `persistent: true`) and no `PlastronStatusURL`, so the daemon
answers the older way (protocol.md): progress to `JOB_PROGRESS` when configured, the completion
to `JOB_STATUS`. Before sending, the client subscribes to both with a broker-side selector on
its own job id (`PlastronJobId = '...'`): on a queue it takes only its own job's messages and
every other message stays for the other consumers (Archelon's route), on a topic it gets a
copy of its own. On a queue it subscribes as a consumer of the highest priority
(`activemq.priority`), so that ActiveMQ gives it its messages before any consumer without a
selector could take them.

Exit status: 0 when the job ended well, 1 when it ended badly, 2 for a usage or configuration
error, 3 when the broker cannot be reached or no answer came in time.
"""

from __future__ import annotations

import json
import math
import os
import socket
import sys
import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, TextIO

import attrs
import trio

from stompframe import Frame

from . import __version__
from .backoff import Backoff
from .broker.connection import BrokerConnection, BrokerError, Message, open_configured
from .config import BrokerConfig
from .errors import PlastronError
from .waiting import first_to_end

__all__ = [
    "FAILED",
    "NO_ANSWER",
    "OK",
    "USAGE",
    "Submission",
    "SubmitError",
    "ended_well",
    "new_job_id",
    "request_headers",
    "run_submit",
    "selector_for",
]

OK = 0
FAILED = 1
USAGE = 2
NO_ANSWER = 3

#: room above the largest completion the daemon sends, for the headers
_FRAME_ROOM = 1024 * 1024
#: the highest consumer priority ActiveMQ knows
_PRIORITY = "127"


class SubmitError(PlastronError):
    """The job could not be sent or followed: the broker cannot be reached or stopped
    answering. The message is one line."""


@attrs.frozen
class Submission:
    command: str
    job_id: str
    body: bytes = b""
    #: PlastronArg-NAME values, in the order given
    args: tuple[tuple[str, str], ...] = ()
    wait: bool = True
    #: seconds for the whole run (connect, send, follow); None: no limit once connected
    timeout: float | None = None


def new_job_id(now: float | None = None) -> str:
    """A job id no other job has: `submit-<UTC time>-<12 random hex digits>`."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(time.time() if now is None else now))
    return f"submit-{stamp}-{uuid.uuid4().hex[:12]}"


def request_headers(submission: Submission) -> list[tuple[str, str]]:
    """The headers Archelon puts on an asynchronous request."""
    headers = [
        ("PlastronCommand", submission.command),
        ("PlastronJobId", submission.job_id),
    ]
    headers += [(f"PlastronArg-{name}", value) for name, value in submission.args]
    headers.append(("persistent", "true"))
    return headers


def selector_for(job_id: str) -> str:
    """A JMS selector matching the messages about *job_id* (quotes doubled, as SQL does)."""
    return "PlastronJobId = '" + job_id.replace("'", "''") + "'"


def ended_well(state: str) -> bool:
    """Whether a completion state is a success (`Done`, `*_complete`, `validate_success`)."""
    return state == "Done" or state == "validate_success" or state.endswith("_complete")


# --- what the user sees ----------------------------------------------------------------------


class Reporter(Protocol):
    def sent(self, job_id: str, destination: str) -> None: ...
    def progress(self, body: Mapping[str, Any]) -> None: ...
    def note(self, text: str) -> None: ...
    def close(self) -> None: ...


def _counts(body: Mapping[str, Any]) -> str:
    count = body.get("count")
    if not isinstance(count, Mapping):
        return ""
    parts = []
    for name, value in count.items():
        if isinstance(value, int) and not isinstance(value, bool):
            parts.append(f"{name} {value}")
    return ", ".join(parts)


def _percent(body: Mapping[str, Any]) -> int | None:
    value = body.get("progress")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return max(0, min(100, int(value)))
    return None


class LineReporter:
    """One plain line per update on a stream that is not a terminal (a log, a pipe)."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream

    def _line(self, text: str) -> None:
        print(text, file=self.stream, flush=True)

    def sent(self, job_id: str, destination: str) -> None:
        self._line(f"plastrond: job {job_id} sent to {destination}")

    def progress(self, body: Mapping[str, Any]) -> None:
        state = body.get("state", "?")
        percent = _percent(body)
        line = f"{state} {percent if percent is not None else '?'}%"
        counts = _counts(body)
        self._line(f"{line}: {counts}" if counts else line)

    def note(self, text: str) -> None:
        self._line(text)

    def close(self) -> None:
        pass


class BarReporter(LineReporter):
    """A progress bar (rich) on a terminal: state, percent, counts and time elapsed."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._console = Console(file=stream)
        self._bar = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[counts]}"),
            console=self._console,
        )
        self._task = self._bar.add_task("waiting", total=100, counts="")
        self._started = False

    def _line(self, text: str) -> None:
        self._console.print(text, markup=False, highlight=False)

    def sent(self, job_id: str, destination: str) -> None:
        super().sent(job_id, destination)
        self._bar.start()
        self._started = True

    def progress(self, body: Mapping[str, Any]) -> None:
        percent = _percent(body)
        self._bar.update(
            self._task,
            description=str(body.get("state", "?")),
            completed=percent if percent is not None else None,
            counts=_counts(body),
        )

    def close(self) -> None:
        if self._started:
            self._bar.stop()
            self._started = False


def reporter_for(stream: TextIO) -> Reporter:
    return BarReporter(stream) if stream.isatty() else LineReporter(stream)


# --- following the job -------------------------------------------------------------------------


@attrs.frozen
class Completion:
    state: str
    body: bytes
    error: str | None


def _body(frame: Message) -> bytes:
    return frame.body if isinstance(frame, Frame) else frame.body_prefix


def _completion_of(frame: Message) -> Completion:
    raw = _body(frame)
    state = frame.get("PlastronJobState")
    try:
        parsed = json.loads(raw)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and not state:
        state = str(parsed.get("state") or parsed.get("type") or "")
    error = frame.get("PlastronJobError")
    if error is None and isinstance(parsed, dict) and isinstance(parsed.get("error"), str):
        error = parsed["error"]
    return Completion(state or "", raw, error)


def _client_id() -> str:
    return f"plastrond-submit/{__version__}-{socket.gethostname()}-{os.getpid()}"


class _Follower:
    def __init__(self, broker: BrokerConfig, submission: Submission, reporter: Reporter) -> None:
        self.broker = broker
        self.submission = submission
        self.reporter = reporter
        self.sent = False
        self._delays = Backoff(
            broker.reconnect_initial_delay, broker.reconnect_max_delay, jitter=0.5
        ).delays()

    async def _open(self) -> BrokerConnection:
        """A session with the first configured broker that answers."""
        reasons = []
        for address in self.broker.servers:
            try:
                return await open_configured(
                    self.broker,
                    address,
                    client_id=_client_id(),
                    max_frame_bytes=self.broker.max_completion_bytes + _FRAME_ROOM,
                )
            except trio.TooSlowError:
                reasons.append(f"{address}: no answer within {self.broker.connect_timeout:g} s")
            except (BrokerError, OSError) as e:
                reasons.append(f"{address}: {e}")
        raise SubmitError("cannot reach the broker: " + "; ".join(reasons))

    async def run(self) -> Completion | None:
        """The job's completion (None with --no-wait, once the broker has the request)."""
        while True:
            try:
                conn = await self._open()
            except SubmitError as e:
                if not self.sent:
                    raise
                delay = next(self._delays)
                self.reporter.note(f"plastrond: {e}; trying again in {delay:.1f} s")
                await trio.sleep(delay)
                continue
            try:
                return await self._session(conn)
            except BrokerError as e:
                if not self.sent:
                    raise SubmitError(
                        f"lost the broker before it confirmed the job (it may or may not have "
                        f"it; send it again with --job-id {self.submission.job_id}): {e}"
                    ) from None
                self.reporter.note(f"plastrond: lost the broker ({e}); reconnecting")
            finally:
                with trio.CancelScope(shield=True):
                    await conn.aclose()

    async def _session(self, conn: BrokerConnection) -> Completion | None:
        result: list[Completion | None] = []

        async def work() -> None:
            result.append(await self._exchange(conn))
            with trio.move_on_after(5):
                await conn.disconnect()

        # A lost session ends both tasks; its reason is kept, not raised as a group.
        failure = await first_to_end(conn.run, work, expected=BrokerError)
        if result:
            return result[0]
        raise failure or BrokerError("the session ended")

    async def _exchange(self, conn: BrokerConnection) -> Completion | None:
        """Subscribe, send the request (once in all sessions), take this job's messages up to
        its completion."""
        dests = self.broker.destinations
        submission = self.submission
        messages_send, messages = trio.open_memory_channel[Message](math.inf)
        if submission.wait:
            selector = ("selector", selector_for(submission.job_id))
            wanted = (dests.job_status, dests.job_progress)
            for destination in dict.fromkeys(d for d in wanted if d):
                headers = [selector]
                if not destination.startswith("/topic/"):
                    headers.append(("activemq.priority", _PRIORITY))
                conn.subscribe(destination, messages_send, headers=headers)
        if not self.sent:
            # The subscriptions go first on the same connection: the broker has them before
            # it has the request, so no message about the job comes before them.
            await conn.send_and_confirm(dests.jobs, submission.body, request_headers(submission))
            self.sent = True
            self.reporter.sent(submission.job_id, dests.jobs)
            if not submission.wait:
                return None
        async for frame in messages:
            conn.ack(frame)
            if frame.get("PlastronJobState") is not None:
                return _completion_of(frame)
            try:
                body = json.loads(_body(frame))
            except ValueError:
                continue
            if isinstance(body, dict):
                self.reporter.progress(body)
        raise BrokerError("the session ended")


async def follow(follower: _Follower, timeout: float | None) -> Completion | None:
    """Send the job and wait for its completion (None with --no-wait). Raises SubmitError
    when the broker cannot be reached, trio.TooSlowError past *timeout* (which bounds the
    connect timeout too)."""
    if timeout is None:
        return await follower.run()
    with trio.fail_after(timeout):
        return await follower.run()


def _json_document(body: bytes) -> str:
    text = body.decode("utf-8", "replace")
    try:
        value: Any = json.loads(text)
    except ValueError:
        value = text
    return json.dumps(value, ensure_ascii=False, indent=1)


def run_submit(
    broker: BrokerConfig,
    submission: Submission,
    *,
    as_json: bool = False,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run `plastrond submit`; the exit status."""
    out = stdout if stdout is not None else sys.stdout
    err = stderr if stderr is not None else sys.stderr
    reporter = reporter_for(err)
    job_id = submission.job_id
    follower = _Follower(broker, submission, reporter)
    try:
        try:
            completion = trio.run(follow, follower, submission.timeout)
        finally:
            reporter.close()
    except SubmitError as e:
        print(f"plastrond: submit: {e}", file=err)
        return NO_ANSWER
    except trio.TooSlowError:
        if follower.sent:
            what = f"no completion within {submission.timeout:g} s (job {job_id}; it may still run)"
        else:
            what = f"the broker did not take the job within {submission.timeout:g} s (job {job_id})"
        print(f"plastrond: submit: {what}", file=err)
        return NO_ANSWER
    if completion is None:
        print(job_id, file=out)
        return OK
    if as_json:
        print(_json_document(completion.body), file=out)
    else:
        text = completion.body.decode("utf-8", "replace")
        print(text, file=out, end="" if text.endswith("\n") else "\n")
    out.flush()
    if ended_well(completion.state):
        print(f"plastrond: job {job_id} ended {completion.state}", file=err)
        return OK
    reason = completion.error or _summary(completion.body) or "no reason given"
    print(f"plastrond: job {job_id} ended {completion.state or 'badly'}: {reason}", file=err)
    return FAILED


def _summary(body: bytes) -> str:
    """What a completion without an error says went wrong: its counts."""
    try:
        parsed = json.loads(body)
    except ValueError:
        return ""
    return _counts(parsed) if isinstance(parsed, dict) else ""


def parse_args(pairs: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """`NAME=VALUE` strings as pairs; ValueError (one line) for one without a name or `=`."""
    result = []
    for pair in pairs:
        name, eq, value = pair.partition("=")
        name = name.strip()
        if not eq or not name or any(c.isspace() or c == ":" for c in name):
            raise ValueError(f"--arg {pair!r}: expected NAME=VALUE")
        result.append((name, value))
    return tuple(result)
