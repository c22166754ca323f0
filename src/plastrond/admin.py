"""The stomp mode's admin listener: `GET /health` and `GET /metrics`, inside the daemon's trio run.

A bare ASGI application (two routes need no framework) served by hypercorn on `ADMIN.HOST`:
`PORT`. The socket is bound when the listener is made, first in the daemon's run (before its
message store is opened or the broker connected), so that a port that cannot be bound is a
one-line configuration error and not a daemon without probes.

- `GET /health`: 200 `{"status": "ok", "broker": ..., "session_uptime": s}` while a broker
  session is open and the message store is writable; otherwise 503
  `{"status": "unavailable", "problems": [one line each]}`.
- `GET /metrics`: the Prometheus exposition of `plastrond.metrics`.

Anything else is 404 (405 for another method). The probes are not access-logged.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from . import metrics
from .config import AdminConfig, ConfigError
from .errors import describe
from .health import Health

__all__ = ["AdminListener"]

log = logging.getLogger("plastrond.admin")

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
    except BaseException:
        sock.close()
        raise
    return sock


class AdminListener:
    def __init__(self, config: AdminConfig, health: Health, *, where: str = "ADMIN") -> None:
        self.health = health
        try:
            sock = _bind(config.host, config.port)
        except OSError as e:
            raise ConfigError(
                f"{where}: cannot listen on {config.host}:{config.port}: {describe(e)}"
            ) from None
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        #: where it listens (port 0 in the configuration becomes the port bound)
        self.url = f"http://{shown}:{port}"
        # hypercorn takes the descriptor over and closes it when it stops serving.
        self._fd: int | None = sock.detach()

    def close(self) -> None:
        """Release the socket of a listener that was never served."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    async def serve(
        self, *, task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until cancelled."""
        from hypercorn.config import Config as HypercornConfig
        from hypercorn.trio import serve as hypercorn_serve

        assert self._fd is not None, "an admin listener serves once"
        hyper = HypercornConfig()
        hyper.bind = [f"fd://{self._fd}"]
        self._fd = None
        hyper.accesslog = None
        hyper.errorlog = logging.getLogger("hypercorn.error")
        hyper.graceful_timeout = 1.0
        log.info("admin listener (/health, /metrics) on %s", self.url)
        await hypercorn_serve(
            self.app,  # type: ignore[arg-type]
            hyper,
            shutdown_trigger=trio.sleep_forever,
            task_status=task_status,
        )

    # --- the ASGI application ------------------------------------------------------------

    async def app(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path not in ("/health", "/metrics"):
            await _respond(send, 404, _json({"status": 404, "detail": f"nothing at {path}"}))
            return
        if method not in ("GET", "HEAD"):
            body = _json({"status": 405, "detail": f"{method} is not allowed on {path}"})
            await _respond(send, 405, body, extra=[(b"allow", b"GET, HEAD")])
            return
        if path == "/metrics":
            status, body, content_type = 200, metrics.exposition(), metrics.CONTENT_TYPE
        else:
            status, body = await self.health_answer()
            content_type = "application/json"
        await _respond(send, status, body, content_type, head=method == "HEAD")

    async def health_answer(self) -> tuple[int, bytes]:
        problems = await trio.to_thread.run_sync(self.health.problems)
        if problems:
            return 503, _json({"status": "unavailable", "problems": problems})
        answer = {
            "status": "ok",
            "broker": self.health.broker,
            "session_uptime": round(self.health.session_uptime(), 3),
        }
        return 200, _json(answer)


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode("utf-8")


async def _respond(
    send: Send,
    status: int,
    body: bytes,
    content_type: str = "application/json",
    *,
    head: bool = False,
    extra: list[tuple[bytes, bytes]] | None = None,
) -> None:
    headers = [
        (b"content-type", content_type.encode("latin-1")),
        (b"content-length", str(len(body)).encode("ascii")),
        (b"cache-control", b"no-store"),
        *(extra or []),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
