"""Request preparation: what a view of the client sends for a call, as a value, without I/O.

`prepare` turns a caller's method, URI and headers into an `Outgoing` request: the URI mapped to
the server's form (and under a Fedora 4.7 transaction's prefix), the delegated user
(`On-Behalf-Of`), the view's User-Agent, a Fedora 6 transaction's `Atomic-ID`, the headers
encoded for the wire, and whether the request may be sent again (`replayable`, `idempotent`).
`_send` sends it; `RetryPolicy` decides from its flags.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping

import attrs

from ._transaction import FCREPO6, Transaction
from ._uris import UriMap

__all__ = ["IDEMPOTENT", "Body", "Outgoing", "View", "prepare"]

#: a request body: bytes, a callable that streams the body from its start each time it is
#: called (so it can be sent again), or an async iterable streamed once
Body = bytes | Callable[[], AsyncIterator[bytes]] | AsyncIterable[bytes] | None

#: methods that may be sent again after a failure in mid-flight (RFC 9110 idempotent methods)
IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


@attrs.frozen
class View:
    """What a view of the client adds to each request it sends."""

    map: UriMap
    delegate: str | None = None
    agent: str | None = None
    tx: Transaction | None = None


@attrs.frozen
class Outgoing:
    """One request, ready to send (and to send again, when its flags allow)."""

    method: str
    #: the URL sent (the server's form)
    url: str
    #: the URI as the caller named it, for messages
    uri: str
    headers: tuple[tuple[bytes, bytes], ...]
    body: Body = None
    #: the body can be produced again (none, bytes, or a callable that streams it anew)
    replayable: bool = True
    #: sent twice, the request does what it does once
    idempotent: bool = True
    stream: bool = False
    follow_redirects: bool = False

    def content(self) -> bytes | AsyncIterable[bytes] | None:
        """The body for one try (a callable body streams from its start again)."""
        return self.body() if callable(self.body) else self.body


def prepare(
    view: View,
    method: str,
    uri: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: Body = None,
    stream: bool = False,
    follow_redirects: bool = False,
    raw_url: bool = False,
    repeatable: bool | None = None,
) -> Outgoing:
    """The request *view* sends for *method* on *uri* (the caller's external URI, or the
    server's own URL as it is when *raw_url*). *repeatable* overrides whether the method is
    idempotent (a transaction's commit is a PUT that must not go twice)."""
    mapping = view.map if view.tx is None else view.map.with_tx_base(view.tx.tx_base)
    url = mapping.request_url(uri if raw_url else mapping.outbound(uri))
    all_headers = dict(headers) if headers else {}
    if view.delegate is not None:
        all_headers["On-Behalf-Of"] = view.delegate
    if view.agent is not None:
        all_headers["User-Agent"] = view.agent
    if view.tx is not None and view.tx.style == FCREPO6:
        all_headers["Atomic-ID"] = view.tx.uri
    return Outgoing(
        method=method,
        url=url,
        uri=uri,
        # ISO-8859-1 letters in a header (a Content-Disposition filename) go as such
        headers=tuple((k.encode("ascii"), v.encode("latin-1")) for k, v in all_headers.items()),
        body=body,
        replayable=body is None or isinstance(body, bytes) or callable(body),
        idempotent=(method in IDEMPOTENT) if repeatable is None else repeatable,
        stream=stream,
        follow_redirects=follow_redirects,
    )
