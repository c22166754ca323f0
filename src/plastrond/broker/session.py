"""The broker session, renewed forever: connect (failing over between addresses), serve the
connection until it ends, wait, connect again.

`connect(address)` makes a `BrokerConnection` (`BrokerConnection.open` in the daemon, a fake
broker over a memory stream in tests); `serve(conn)` is what the daemon does with one
session. A session that ends with a `BrokerError` is logged and renewed after a back-off; so
is any other failure of `serve` (a bug must not end the daemon). `stop()` ends the loop after
the current session.

The back-off starts again from its first delay only after a session that lasted `stable`
seconds: a broker that accepts connections and drops them soon after (a crash loop, a
refused subscription) is tried ever less often, as one that refuses them is.
"""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable, Sequence

import trio

from ..backoff import Backoff
from ..config import BrokerAddress
from .connection import BrokerConnection, BrokerError

__all__ = ["BrokerSession", "Connect", "Serve"]

log = logging.getLogger(__name__)

Connect = Callable[[BrokerAddress], Awaitable[BrokerConnection]]
Serve = Callable[[BrokerConnection], Awaitable[None]]


class BrokerSession:
    def __init__(
        self,
        servers: Sequence[BrokerAddress],
        connect: Connect,
        serve: Serve,
        backoff: Backoff,
        *,
        stable: float = 30.0,
    ) -> None:
        self.servers = tuple(servers)
        self.stable = stable
        self.connect = connect
        self.serve = serve
        self.backoff = backoff
        self._delays = backoff.delays()
        #: the open connection, if any
        self.conn: BrokerConnection | None = None
        self.stopping = False

    def stop(self) -> None:
        """Connect no more once the current session ends."""
        self.stopping = True

    async def run(self) -> None:
        attempt = 0
        while not self.stopping:
            address = self.servers[attempt % len(self.servers)]
            attempt += 1
            log.info("connecting to %s (attempt %d)", address, attempt)
            try:
                conn = await self.connect(address)
            except (BrokerError, OSError, trio.TooSlowError, ssl.SSLError) as e:
                reason = "timed out" if isinstance(e, trio.TooSlowError) else str(e)
                delay = next(self._delays)
                log.warning(
                    "cannot connect to %s: %s; next attempt in %.1f s", address, reason, delay
                )
                await trio.sleep(delay)
                continue
            attempt = 0
            log.info("connected to %s (STOMP %s)", address, conn.version)
            began = trio.current_time()
            await self._session(conn)
            if trio.current_time() - began >= self.stable:
                self._delays = self.backoff.delays()
            if not self.stopping:
                delay = next(self._delays)
                log.info("reconnecting in %.1f s", delay)
                await trio.sleep(delay)

    async def _session(self, conn: BrokerConnection) -> None:
        self.conn = conn
        try:
            await self.serve(conn)
        except BrokerError as e:
            if not self.stopping:
                log.warning("lost the broker: %s", e)
        except Exception:
            log.exception("broker session failed")
        finally:
            self.conn = None
            with trio.CancelScope(shield=True):
                await conn.aclose()
