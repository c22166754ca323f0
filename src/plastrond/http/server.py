"""Serving the app with hypercorn inside the caller's trio run, until SIGTERM or SIGINT."""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import ExitStack
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig
from hypercorn.trio import serve as hypercorn_serve
from quart_trio import QuartTrio

from ..config import Config, ConfigError
from ..errors import describe, failure_of
from ..priming import repository_client
from ..publication import Handles
from ..repository import HTTP_AGENT
from ..shutdown import STOP_SIGNALS, watch_stop_signals
from .app import create_app
from .backend import Backend

__all__ = ["GRACEFUL_TIMEOUT", "bind_address", "serve"]

log = logging.getLogger("plastrond.http")

#: seconds that requests in flight get to finish after the signal to stop
GRACEFUL_TIMEOUT = 10.0
#: seconds after which a stop that has not finished ends the process (see `_exit_after`)
FORCED_EXIT_AFTER = GRACEFUL_TIMEOUT + 5.0
#: seconds a second signal leaves for the cancelled requests to end
SECOND_SIGNAL_EXIT_AFTER = 1.0


class _OneAccessLine(logging.Filter):
    """hypercorn logs a request twice, the second time without a status, when the client
    closes the connection as the response ends; keep only the line with the status."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (isinstance(record.args, Mapping) and record.args.get("s") == "-")


def _access_logger() -> logging.Logger:
    logger = logging.getLogger("hypercorn.access")
    if not any(isinstance(f, _OneAccessLine) for f in logger.filters):
        logger.addFilter(_OneAccessLine())
    return logger


async def _exit_after(delay: float, why: str) -> None:
    """End the process after *delay* seconds unless the trio run has ended first.

    hypercorn writes to a client with the send shielded from cancellation, so a client that
    stops reading keeps its connection, and the process, alive past any grace period. This
    runs as a trio system task, which the end of the run cancels.
    """
    await trio.sleep(delay)
    log.warning("%s after %g s: exiting now", why, delay)
    logging.shutdown()
    os._exit(0)


async def _watch_signals(
    signals: AsyncIterator[int], stop: trio.Event, everything: trio.CancelScope
) -> None:
    """The first stop signal (or one that came during start-up) begins a graceful shutdown;
    a second one cancels the requests still running (`shutdown.watch_stop_signals`). Either
    way the process ends soon after, even if a client stopped reading (`_exit_after`)."""

    def begin() -> None:
        stop.set()
        reason = "requests still running"
        trio.lowlevel.spawn_system_task(_exit_after, FORCED_EXIT_AFTER, reason)

    def at_once() -> None:
        everything.cancel()
        reason = "cancelled requests still running"
        trio.lowlevel.spawn_system_task(_exit_after, SECOND_SIGNAL_EXIT_AFTER, reason)

    await watch_stop_signals(signals, log, stopping=stop.is_set, stop=begin, stop_now=at_once)


class _CloseAfterLastBody:
    """An ASGI wrapper that lets hypercorn close a connection the client asked to close.

    hypercorn 0.16 closes such a connection (`Connection: close`, HTTP/1.0) from inside the
    app's own `send` of the last body message: h11's state is then MUST_CLOSE, so
    `H11Protocol._maybe_recycle` sends `Closed()`, which runs `TCPServer._close()`
    (`send_eof()`, then `aclose()`). On its way it tells the app `http.disconnect`, and
    quart-trio answers that by cancelling the nursery the request runs in, the very task in
    that `send`: the Cancelled lands on `send_eof()`'s first checkpoint, before the socket is
    shut down or closed, and since no idle timer is armed for a connection that must close, it
    stays open until the client goes (issue #18: 20 were still open after 75 s). Shielding the
    last `send` lets the close finish; the cancellation is delivered right after it. hypercorn
    already shields its socket writes, so this adds no new way to hang.
    """

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return

        async def send_last_shielded(message: Mapping[str, Any]) -> None:
            if message.get("type") == "http.response.body" and not message.get("more_body"):
                with trio.CancelScope(shield=True):
                    await send(message)
            else:
                await send(message)

        await self.app(scope, receive, send_last_shielded)


def bind_address(host: str, port: int) -> str:
    """hypercorn's `host:port`, with an IPv6 address in brackets."""
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"{host}:{port}"


async def serve(
    config: Config,
    *,
    shutdown_trigger: Callable[[], Awaitable[None]] | None = None,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve the import job API on `HTTP_SERVER.HOST`:`PORT` until asked to stop.

    It stops gracefully when *shutdown_trigger* returns, or by default on SIGTERM or SIGINT
    (handled while serving; one caught earlier by `plastrond.shutdown` counts too; a second
    one stops the requests in flight at once). `task_status.started()` gets the URLs
    listened on (port 0 becomes the port actually bound). A port that cannot be bound is a
    ConfigError naming the key.
    """
    jobs_dir = config.require_jobs_dir()
    bind = bind_address(config.http_server.host, config.http_server.port)
    hyper = HypercornConfig()
    hyper.bind = [bind]
    hyper.graceful_timeout = GRACEFUL_TIMEOUT
    hyper.accesslog = _access_logger()
    hyper.errorlog = logging.getLogger("hypercorn.error")
    # plastrond-http/<version>: UMD's Solr route then reads the changes without its cache
    repository = repository_client(config, user_agent=HTTP_AGENT)
    handles = Handles.from_config(config.publication)
    backend = Backend(config=config, repository=repository, handles=handles)
    app = create_app(jobs_dir, backend=backend)

    stop = trio.Event()
    try:
        async with repository:
            await _serve(app, hyper, bind, config, shutdown_trigger, task_status, stop)
    finally:
        if handles is not None:
            with trio.CancelScope(shield=True):
                await handles.client.aclose()


async def _serve(
    app: QuartTrio,
    hyper: HypercornConfig,
    bind: str,
    config: Config,
    shutdown_trigger: Callable[[], Awaitable[None]] | None,
    task_status: trio.TaskStatus[list[str]],
    stop: trio.Event,
) -> None:
    jobs_dir = config.require_jobs_dir()
    bind_error: OSError | None = None
    with ExitStack() as stack:
        signals = None
        if shutdown_trigger is None:
            signals = stack.enter_context(trio.open_signal_receiver(*STOP_SIGNALS))
            shutdown_trigger = stop.wait
        async with trio.open_nursery() as nursery:

            async def run_hypercorn(task_status: trio.TaskStatus[list[str]]) -> None:
                await hypercorn_serve(
                    _CloseAfterLastBody(app),
                    hyper,
                    shutdown_trigger=shutdown_trigger,
                    task_status=task_status,
                )
                nursery.cancel_scope.cancel()  # served to the end: stop watching signals

            if signals is not None:
                nursery.start_soon(_watch_signals, signals, stop, nursery.cancel_scope)
            try:
                urls: list[str] = await nursery.start(run_hypercorn)
            except (OSError, BaseExceptionGroup) as e:
                # Before it listens, hypercorn fails only in creating its sockets.
                failure = failure_of(e, OSError)
                if not isinstance(failure, OSError):
                    raise
                bind_error = failure
                nursery.cancel_scope.cancel()
            else:
                log.info(
                    "serving import jobs from %s and the repository %s on %s",
                    jobs_dir,
                    config.repository.rest_endpoint,
                    ", ".join(urls),
                )
                task_status.started(urls)
    if bind_error is not None:
        raise ConfigError(
            f"{config.path}: HTTP_SERVER: cannot listen on {bind}: {describe(bind_error)}"
        )
    log.info("http server stopped")
