"""A recording proxy in front of a real Fedora: what the server received, header by header.

`RecordingProxy(rest_url)` listens on a loopback port and passes every request on to the
Fedora at *rest_url* as it came (method, path, headers, body; `Host` unchanged, so the server
names its resources under the proxy's address and the client never goes around it), and the
answer back. `seen` lists each request: method, path, the headers the server received and
when it arrived.
`proxy.endpoint(fedora)` is the `fedora` fixture's endpoint reached through the proxy.
"""

from __future__ import annotations

import http.client
import threading
import time
from urllib.parse import urlsplit

import attrs

from tests.support.loopback import LoopbackServer, QuietHandler

#: headers of one connection, not of the message: not passed on
_HOP = {
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "content-length",
}


@attrs.frozen
class Seen:
    """One request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    #: `time.monotonic()` when it arrived
    at: float

    @property
    def user_agent(self) -> str:
        return self.headers.get("user-agent", "")


class RecordingProxy(LoopbackServer):
    """Passes requests on to the Fedora at *rest_url* and records them (see the module)."""

    def __init__(self, rest_url: str) -> None:
        target = urlsplit(rest_url)
        self.target_host = target.hostname or "127.0.0.1"
        self.target_port = target.port or 80
        self.rest_path = target.path.rstrip("/")
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    parts = []
                    while True:
                        size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                        if size == 0:
                            while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                                pass
                            return b"".join(parts)
                        parts.append(self.rfile.read(size))
                        self.rfile.readline()
                length = int(self.headers.get("Content-Length") or 0)
                return self.rfile.read(length) if length else b""

            def _pass_on(self) -> None:
                body = self._body()
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                with proxy._lock:
                    proxy.seen.append(
                        Seen(
                            self.command,
                            self.path,
                            {k.lower(): v for k, v in headers.items()},
                            time.monotonic(),
                        )
                    )
                upstream = http.client.HTTPConnection(
                    proxy.target_host, proxy.target_port, timeout=120
                )
                try:
                    upstream.putrequest(self.command, self.path, skip_host=True)
                    for name, value in headers.items():
                        upstream.putheader(name, value)
                    if body or self.command in ("POST", "PUT", "PATCH"):
                        upstream.putheader("Content-Length", str(len(body)))
                    upstream.endheaders(body or None)
                    answer = upstream.getresponse()
                    data = answer.read()
                    self.send_response(answer.status, answer.reason)
                    for name, value in answer.getheaders():
                        if name.lower() not in _HOP:
                            self.send_header(name, value)
                    if self.command != "HEAD":
                        self.send_header("Content-Length", str(len(data)))
                    elif answer.getheader("Content-Length") is not None:
                        self.send_header("Content-Length", answer.getheader("Content-Length"))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(data)
                finally:
                    upstream.close()

            do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _pass_on

        super().__init__(Handler)

    @property
    def rest_url(self) -> str:
        """The Fedora's REST root, reached through the proxy."""
        return self.base + self.rest_path

    def endpoint(self, fedora: object) -> object:
        """The `fedora` fixture's endpoint (`FedoraEndpoint`) with its REST root through the
        proxy."""
        return attrs.evolve(fedora, rest_url=self.rest_url)  # type: ignore[misc]

    def clear(self) -> None:
        with self._lock:
            self.seen.clear()

    def taken(self) -> list[Seen]:
        """What was recorded so far, and forget it."""
        with self._lock:
            seen, self.seen = self.seen, []
        return seen
