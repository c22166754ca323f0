"""Prometheus metrics of both modes, defined in one place (prometheus-client's default registry).

This module sits at the bottom of the layering: it imports nothing of plastrond, so any layer
may import it and count with a one-line hook (`metrics.JOBS_ACCEPTED.labels(...).inc()`).
`exposition()` renders the registry for `GET /metrics` (the stomp mode's admin listener and
the http mode's app).

Each gauge has one owner, the one part that sets it (named beside it below): a gauge read at
each scrape (`set_function`) ignores every other call, so a second writer would count nothing.

Label values are kept to small fixed sets (a command name that is not a known command is
`other`, a route is the route's pattern, never the path asked for), so that no client can grow
the number of series.
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Callable, Collection, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    Info,
    disable_created_metrics,
    generate_latest,
)

if TYPE_CHECKING:
    import httpx

__all__ = [
    "BROKER_CONNECTED",
    "BROKER_CONNECT_FAILURES",
    "BROKER_HEARTBEAT_MISSES",
    "BROKER_RECONNECTS",
    "BROKER_SESSIONS",
    "BROKER_SESSION_UPTIME",
    "COMPLETIONS_AWAITING_RECEIPT",
    "CONTENT_TYPE",
    "EXPORT_ITEMS",
    "HANDLE_REQUESTS",
    "HANDLE_REQUEST_SECONDS",
    "HTTP_REQUESTS",
    "HTTP_REQUEST_SECONDS",
    "IMPORT_ITEMS",
    "INBOX_DEPTH",
    "INTAKE_PAUSED",
    "JOBS_ACCEPTED",
    "JOBS_COMPLETED",
    "JOBS_FAILED",
    "JOBS_QUEUED",
    "JOBS_RUNNING",
    "JOB_SECONDS",
    "OUTBOX_DEPTH",
    "REPOSITORY_EVENT_HOOKS",
    "REPOSITORY_REQUESTS",
    "REPOSITORY_REQUEST_SECONDS",
    "STORE_FAILING",
    "STORE_WRITE_ERRORS",
    "HandleCall",
    "command_label",
    "exposition",
    "handle_call",
    "set_build_info",
    "track_jobs_queued",
    "track_session_uptime",
]

CONTENT_TYPE = CONTENT_TYPE_LATEST

# The `_created` series (when each counter began) double the exposition for nothing we use.
disable_created_metrics()  # type: ignore[no-untyped-call]

#: seconds: from an echo (milliseconds) to an import of thousands of items (hours)
JOB_BUCKETS = (0.005, 0.025, 0.1, 0.5, 1, 5, 15, 60, 300, 900, 1800, 3600, 4 * 3600, 12 * 3600)
#: seconds: one HTTP request
REQUEST_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

BUILD_INFO = Info("plastrond_build", "The running plastrond: version and mode")

# --- jobs ----------------------------------------------------------------------------------

JOBS_ACCEPTED = Counter(
    "plastrond_jobs_accepted",
    "Jobs taken from the broker (asynchronous ones once written to the inbox)",
    ["command", "kind"],
)
JOBS_COMPLETED = Counter(
    "plastrond_jobs_completed",
    "Jobs that ran to their end without a job error, by final state",
    ["command", "state"],
)
JOBS_FAILED = Counter(
    "plastrond_jobs_failed",
    "Jobs that ended with a job error (bad input, a failure of the repository, a bug)",
    ["command", "state"],
)
#: owner: `jobs.runner.JobRunner`
JOBS_RUNNING = Gauge("plastrond_jobs_running", "Jobs running now", ["kind"])
#: owner: the daemon, through `track_jobs_queued` (the intake's queue, the runner's sync places)
JOBS_QUEUED = Gauge(
    "plastrond_jobs_queued",
    "Accepted jobs waiting for a free runner (concurrency budget)",
    ["kind"],
)
JOB_SECONDS = Histogram(
    "plastrond_job_duration_seconds",
    "Time a job ran, from its start to its result",
    ["command"],
    buckets=JOB_BUCKETS,
)

# --- the durable message store -------------------------------------------------------------

#: owner of both depths: `jobs.writer.StoreWriter` (the store's one writer)
INBOX_DEPTH = Gauge(
    "plastrond_inbox_depth", "Accepted asynchronous requests kept in the inbox (not yet done)"
)
OUTBOX_DEPTH = Gauge(
    "plastrond_outbox_depth", "Completions kept in the outbox until the broker receipts them"
)
#: owner: `jobs.outbox.Outbox.deliver`
COMPLETIONS_AWAITING_RECEIPT = Gauge(
    "plastrond_completions_awaiting_receipt",
    "Completions sent to the broker on the current session whose RECEIPT has not come",
)
STORE_WRITE_ERRORS = Counter(
    "plastrond_message_store_write_errors", "Writes to the message store that failed"
)
#: owner: `jobs.writer.StoreWriter`
STORE_FAILING = Gauge(
    "plastrond_message_store_failing",
    "1 while the message store cannot write (its last write failed; writes are retried)",
)
#: owner: `jobs.intake.Intake`
INTAKE_PAUSED = Gauge(
    "plastrond_intake_paused",
    "1 while no jobs are taken because the inbox cannot be written (the requests held stay "
    "unacknowledged with the broker)",
)

# --- the broker session --------------------------------------------------------------------

#: owner of the connected gauge and the session uptime: the daemon's broker session
BROKER_CONNECTED = Gauge("plastrond_broker_connected", "1 while a STOMP session is open")
BROKER_SESSIONS = Counter(
    "plastrond_broker_sessions", "Broker sessions opened (STOMP CONNECTED received)"
)
BROKER_RECONNECTS = Counter(
    "plastrond_broker_reconnects", "Broker sessions lost (each followed by a reconnection)"
)
BROKER_CONNECT_FAILURES = Counter(
    "plastrond_broker_connect_failures", "Attempts to open a broker session that failed"
)
BROKER_HEARTBEAT_MISSES = Counter(
    "plastrond_broker_heartbeat_misses",
    "Sessions declared dead because the broker sent nothing for twice its heart-beat interval",
)
BROKER_SESSION_UPTIME = Gauge(
    "plastrond_broker_session_uptime_seconds", "Seconds the current broker session has been open"
)

# --- work done -----------------------------------------------------------------------------

IMPORT_ITEMS = Counter(
    "plastrond_import_items",
    "Rows of import jobs, by outcome (created, updated, unchanged, failed)",
    ["outcome"],
)
EXPORT_ITEMS = Counter(
    "plastrond_export_items", "Items of export jobs, by outcome (exported, failed)", ["outcome"]
)

# --- outgoing requests ---------------------------------------------------------------------

REPOSITORY_REQUESTS = Counter(
    "plastrond_repository_requests",
    "Requests to the repository (Fedora), by method and response status",
    ["method", "status"],
)
REPOSITORY_REQUEST_SECONDS = Histogram(
    "plastrond_repository_request_duration_seconds",
    "Time from sending a repository request to its response headers",
    ["method"],
    buckets=REQUEST_BUCKETS,
)
HANDLE_REQUESTS = Counter(
    "plastrond_handle_requests",
    "Calls to the handle service, by operation (info, exists, mint, update) and outcome "
    "(an HTTP status, or `error` when no response came)",
    ["operation", "outcome"],
)
HANDLE_REQUEST_SECONDS = Histogram(
    "plastrond_handle_request_duration_seconds",
    "Time of a handle service call",
    ["operation"],
    buckets=REQUEST_BUCKETS,
)

# --- the http mode -------------------------------------------------------------------------

HTTP_REQUESTS = Counter(
    "plastrond_http_requests",
    "Requests served, by route pattern, method and status",
    ["route", "method", "status"],
)
HTTP_REQUEST_SECONDS = Histogram(
    "plastrond_http_request_duration_seconds",
    "Time from receiving a request to its response",
    ["route"],
    buckets=REQUEST_BUCKETS,
)

# Series of fixed labels exist from the start (a rate over a series that appears late misses
# its first increase).
for _kind in ("async", "sync"):
    JOBS_RUNNING.labels(_kind)
    JOBS_QUEUED.labels(_kind)

# --------------------------------------------------------------------------------------------

_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")


def command_label(command: str | None, known: Collection[str]) -> str:
    """The `command` label for a job: its name when it is one of *known*, `none` without a
    command, `other` for anything else (a client must not be able to invent series)."""
    if not command:
        return "none"
    name = command.strip().lower()
    return name if name in known and _NAME.fullmatch(name) else "other"


#: the operations of the handle service (shared/reference/handles.md)
HANDLE_OPERATIONS = frozenset({"info", "exists", "mint", "update", "resolve"})


class HandleCall:
    """One call to the handle service being measured; set `outcome` to the HTTP status."""

    def __init__(self) -> None:
        self.outcome = "error"


@contextlib.contextmanager
def handle_call(operation: str) -> Iterator[HandleCall]:
    """Count and time one handle service call: `with handle_call("mint") as call: ...;
    call.outcome = str(response.status_code)`. A call that ends without an outcome (no
    response: a transport error, a timeout) counts as `error`."""
    op = operation if operation in HANDLE_OPERATIONS else "other"
    call = HandleCall()
    started = time.perf_counter()
    try:
        yield call
    finally:
        HANDLE_REQUESTS.labels(op, call.outcome).inc()
        HANDLE_REQUEST_SECONDS.labels(op).observe(time.perf_counter() - started)


def set_build_info(version: str, mode: str) -> None:
    BUILD_INFO.info({"version": version, "mode": mode})


def track_session_uptime(since: Callable[[], float | None]) -> None:
    """Make the session uptime gauge read *since()* (a `time.monotonic()` value, or None
    while no session is open) at every scrape."""

    def uptime() -> float:
        start = since()
        return 0.0 if start is None else max(0.0, time.monotonic() - start)

    BROKER_SESSION_UPTIME.set_function(uptime)


def track_jobs_queued(waiting: Callable[[], int], sync_waiting: Callable[[], int]) -> None:
    """Make the queued gauge read, at every scrape, how many asynchronous jobs wait for a
    runner (*waiting*) and how many synchronous ones for a place (*sync_waiting*)."""
    JOBS_QUEUED.labels("async").set_function(waiting)
    JOBS_QUEUED.labels("sync").set_function(sync_waiting)


def exposition() -> bytes:
    """The registry in the Prometheus text format (`CONTENT_TYPE`)."""
    return generate_latest(REGISTRY)


# --- the repository client's httpx hooks ---------------------------------------------------

_STARTED = "plastrond.metrics.started"


async def _repository_request(request: httpx.Request) -> None:
    request.extensions[_STARTED] = time.perf_counter()


async def _repository_response(response: httpx.Response) -> None:
    request = response.request
    method = request.method if request.method in _METHODS else "OTHER"
    REPOSITORY_REQUESTS.labels(method, str(response.status_code)).inc()
    started = request.extensions.get(_STARTED)
    if started is not None:
        REPOSITORY_REQUEST_SECONDS.labels(method).observe(time.perf_counter() - started)


_METHODS = frozenset({"GET", "HEAD", "PUT", "POST", "PATCH", "DELETE", "OPTIONS", "MOVE", "COPY"})

#: `httpx.AsyncClient(event_hooks=REPOSITORY_EVENT_HOOKS)`: counts and times every request
REPOSITORY_EVENT_HOOKS: dict[str, list[Callable[..., Any]]] = {
    "request": [_repository_request],
    "response": [_repository_response],
}
