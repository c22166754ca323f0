"""The events a real Fedora 4.7 emits, read from the topic of its embedded broker.

Fedora 4.7.5 publishes one JMS message per changed resource on the topic `fedora` of the
ActiveMQ broker it embeds (services/fedora47.sh puts its STOMP connector on
`FEDORA47_STOMP_PORT`, 61733 by default), with the headers UMD's Camel routes read:
`org.fcrepo.jms.identifier` (the path), `org.fcrepo.jms.eventType`,
`org.fcrepo.jms.resourceType`, `org.fcrepo.jms.userAgent`. `FedoraEvents(port)` subscribes
(over stompframe, on a thread of its own) and keeps each message's headers with the
`time.monotonic()` of its arrival.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time

import attrs

from stompframe import Frame, Parser, encode

#: where services/fedora47.sh puts the embedded broker's STOMP connector
FEDORA47_STOMP_PORT = int(os.environ.get("FEDORA47_STOMP_PORT", "61733"))
PREFIX = "org.fcrepo.jms."


@attrs.frozen
class FedoraEvent:
    at: float
    headers: dict[str, str]

    def get(self, name: str) -> str:
        """A header of the message, by its name after `org.fcrepo.jms.`."""
        return self.headers.get(PREFIX + name, "")


class FedoraEvents:
    """Subscribed to the topic `fedora` of the broker at 127.0.0.1:*port* until `close`."""

    def __init__(self, port: int = FEDORA47_STOMP_PORT, timeout: float = 20.0) -> None:
        self.events: list[FedoraEvent] = []
        self._lock = threading.Lock()
        self._sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self._parser = Parser()
        self._subscribed = threading.Event()
        self._sock.sendall(encode(Frame("CONNECT", {"accept-version": "1.2", "host": "localhost"})))
        self._sock.sendall(
            encode(
                Frame(
                    "SUBSCRIBE",
                    {"id": "1", "destination": "/topic/fedora", "ack": "auto", "receipt": "s"},
                )
            )
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        if not self._subscribed.wait(timeout):
            self.close()
            raise TimeoutError(f"no subscription to /topic/fedora on port {port}")

    def _read(self) -> None:
        while True:
            try:
                data = self._sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            now = time.monotonic()
            for event in self._parser.feed(data):
                if not isinstance(event, Frame):
                    continue
                if event.command == "RECEIPT":
                    self._subscribed.set()
                elif event.command == "MESSAGE":
                    with self._lock:
                        self.events.append(FedoraEvent(now, dict(event.headers)))

    def about(self, path: str) -> list[FedoraEvent]:
        """The events so far whose resource is *path* (as Fedora names it, from its root)."""
        with self._lock:
            return [e for e in self.events if e.get("identifier") == path]

    def wait_for(self, paths: list[str], timeout: float = 30.0) -> None:
        """Until an event about each of *paths* has arrived."""
        deadline = time.monotonic() + timeout
        while not all(self.about(p) for p in paths):
            assert time.monotonic() < deadline, f"no event about {paths} after {timeout}s"
            time.sleep(0.1)

    def wait_for_more(self, path: str, than: int, timeout: float = 30.0) -> None:
        """Until more than *than* events about *path* have arrived."""
        deadline = time.monotonic() + timeout
        while len(self.about(path)) <= than:
            assert time.monotonic() < deadline, f"no new event about {path} after {timeout}s"
            time.sleep(0.1)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.sendall(encode(Frame("DISCONNECT")))
        self._sock.close()
        self._thread.join(5)
