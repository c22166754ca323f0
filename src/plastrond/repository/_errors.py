"""One exception hierarchy for everything that can go wrong talking to the repository.

Every message is one line a user can act on: the method, the URI, the status and the reason the
server gave. No message carries a credential: URIs lose any user-info part and reasons pass
through the log redaction of `plastrond.logs`.
"""

from __future__ import annotations

import html
import re
from http import HTTPStatus
from urllib.parse import urlsplit, urlunsplit

from plastrond.logs import redact

__all__ = [
    "ChecksumMismatch",
    "ConcurrentUpdate",
    "PreconditionFailed",
    "RepositoryConnectionError",
    "RepositoryError",
    "RepositoryHTTPError",
    "ResourceGone",
    "ResourceNotFound",
    "TransactionError",
    "TransactionNotBegun",
]

#: the longest reason kept from a response body
_MAX_REASON = 300


class RepositoryError(Exception):
    """Base class: a request to the repository did not do what was asked."""


class RepositoryHTTPError(RepositoryError):
    """The server answered with a status we did not expect."""

    def __init__(self, method: str, uri: str, status: int, reason: str) -> None:
        self.method = method
        self.uri = safe_uri(uri)
        self.status = status
        self.reason = reason
        phrase = _phrase(status)
        head = f"{method} {self.uri}: {status}{' ' + phrase if phrase else ''}"
        if reason and reason.lower() != phrase.lower():
            head = f"{head}: {reason}"
        super().__init__(head)


class ResourceNotFound(RepositoryHTTPError):
    """404: there is nothing at this URI."""


class ResourceGone(ResourceNotFound):
    """410: the resource was deleted (a tombstone remains) or the transaction has ended."""


class PreconditionFailed(RepositoryHTTPError):
    """412: If-Match (or X-If-State-Token) no longer matches; someone changed the resource."""


class ConcurrentUpdate(RepositoryHTTPError):
    """409 from Fedora 6: another transaction, still open or committing, has written the
    resource ("Cannot update ... because it is being updated by another transaction"); nothing
    of this request was applied. Fedora 4.7 has no such answer: its transactions lock
    nothing, and a write outside one goes through."""


class ChecksumMismatch(RepositoryHTTPError):
    """The server computed a different digest for the bytes it received than the one we sent,
    or the bytes it stored differ from those we streamed."""


class RepositoryConnectionError(RepositoryError):
    """The repository could not be reached, or the connection failed mid-request."""

    def __init__(self, method: str, uri: str, detail: str) -> None:
        self.method = method
        self.uri = safe_uri(uri)
        self.detail = detail
        super().__init__(f"{method} {self.uri}: cannot reach the repository: {detail}")


class TransactionError(RepositoryError):
    """A transaction could not be started, kept alive, committed or rolled back."""


class TransactionNotBegun(TransactionError):
    """No transaction could begin: nothing was written in one."""


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def http_error(method: str, uri: str, status: int, reason: str) -> RepositoryHTTPError:
    """The most specific RepositoryHTTPError for *status* and *reason*."""
    cls: type[RepositoryHTTPError] = RepositoryHTTPError
    if status == 404:
        cls = ResourceNotFound
    elif status == 410:
        cls = ResourceGone
    elif status == 412:
        cls = PreconditionFailed
    elif status == 409 and "checksum mismatch" in reason.lower():
        cls = ChecksumMismatch
    elif status == 409 and "being updated by another transaction" in reason.lower():
        cls = ConcurrentUpdate
    return cls(method, uri, status, reason)


def safe_uri(uri: str) -> str:
    """*uri* without any `user:password@` part."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment))


_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def reason_from_body(body: bytes, content_type: str | None, fallback: str) -> str:
    """The server's explanation in one line: the text of a plain body, the title of an HTML page
    (Jetty's error pages), or the HTTP reason phrase when the body says nothing."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return fallback
    is_html = "html" in (content_type or "").lower() or text[:15].lower().startswith(
        ("<!doctype", "<html")
    )
    if is_html:
        title = _TITLE.search(text)
        text = title.group(1) if title else _TAG.sub(" ", text)
        text = html.unescape(text)
    # Fedora lists several problems on separate lines; keep them all on one.
    lines = [_SPACE.sub(" ", line).strip() for line in text.splitlines()]
    text = "; ".join(line for line in lines if line)
    if len(text) > _MAX_REASON:
        text = text[: _MAX_REASON - 3].rstrip() + "..."
    return redact(text) or fallback
