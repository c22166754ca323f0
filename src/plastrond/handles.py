"""A client of UMD's handle service (umd-handle's JSON API v1, handles.md), trio-native on
httpx like the repository client.

```
async with HandleClient(config.publication) as service:
    found = await service.info("1903.1", "1234")        # Handle, or None when unknown
    found = await service.exists("fcrepo", repo_id)      # Handle, or None
    minted = await service.mint(url=..., repo_id=..., description="Title")
    await service.update(minted, url=new_url)
```

Every request carries the bearer token (never logged). Reads (GET) are retried after a lost
connection or a 429/502/503/504 answer; a 500 is the application's own failure, which asking
again only repeats (umd-handle-django's, handles.md: an `exists` for a resource it holds two
handles for), so it is never retried; writes are never sent twice. Everything that fails raises
`HandleServiceError`, whose message names the call and says why in one line, with the
service's `{"errors": [...]}` or its HTML error page's title.

Writes (`mint`, `update`) go one at a time per client: the service mints the highest suffix
plus one, so two POSTs at once can collide (umd-handle-django on SQLite answers the loser
`400 database is locked`; on PostgreSQL, a unique-constraint 400).

The service's suffixes are integers (minted as the highest plus one): `info` about another
suffix answers None without asking (umd-handle-django would answer an HTML 500), and `update`
of one fails without sending (it would answer an HTML 404).
"""

from __future__ import annotations

import html
import json
import logging
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import attrs
import httpx
import trio

from . import __version__, metrics
from .backoff import Backoff
from .errors import PlastronError, describe

if TYPE_CHECKING:
    from .config import PublicationConfig

__all__ = [
    "HANDLE_DATATYPE",
    "Handle",
    "HandleClient",
    "HandleServiceError",
    "integer_suffix",
    "parse_handle",
]

log = logging.getLogger("plastrond.handles")

#: the datatype of the `dcterms:identifier` that holds a resource's handle
HANDLE_DATATYPE: Final = "http://vocab.lib.umd.edu/datatype#handle"
#: attempts for a read; the waits between them (0.5 s, then 2 s)
READ_ATTEMPTS: Final = 3
READ_DELAYS: Final = Backoff(initial=0.5, factor=4.0, maximum=2.0)
RETRY_STATUSES: Final = frozenset({429, 502, 503, 504})
#: the `operation` label of plastrond_handle_requests_total, by method and path
_OPERATIONS: Final = {"GET /handles/info": "info", "GET /handles/exists": "exists"}


class HandleServiceError(PlastronError):
    """A call to the handle service failed; one line naming the call and the reason."""

    def __init__(self, call: str, reason: str, status: int | None = None) -> None:
        super().__init__(" ".join(f"handle service: {call}: {reason}".split()))
        self.call = call
        self.reason = reason
        self.status = status


@attrs.frozen
class Handle:
    """One handle as the service describes it."""

    prefix: str
    suffix: str
    url: str | None = None
    repo: str | None = None
    repo_id: str | None = None
    handle_url: str | None = None

    @property
    def hdl(self) -> str:
        """The `hdl:P/S` form written on resources."""
        return f"hdl:{self.prefix}/{self.suffix}"


def parse_handle(value: str) -> tuple[str, str] | None:
    """(prefix, suffix) of `hdl:P/S` (or `P/S`), or None when *value* is not one."""
    text = value.strip().removeprefix("hdl:")
    prefix, sep, suffix = text.partition("/")
    if not sep or not prefix or not suffix or any(c.isspace() for c in text):
        return None
    return prefix, suffix


def integer_suffix(suffix: str) -> bool:
    """True when *suffix* can be one of the service's (a positive integer, no sign)."""
    return suffix.isascii() and suffix.isdigit()


#: what the service's 500 on `exists` means (handles.md, edges of the Django service)
DUPLICATE_HINT: Final = (
    "umd-handle-django answers 500 here when it holds two or more handles for this "
    "repo_id: keep one of them (its admin pages) and publish again"
)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


class HandleClient:
    """The handle service at `PUBLICATION_WORKFLOW.HANDLE_ENDPOINT`."""

    def __init__(
        self,
        config: PublicationConfig,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not config.handle_endpoint or not config.handle_jwt_token:
            raise ValueError("the handle service needs HANDLE_ENDPOINT and HANDLE_JWT_TOKEN")
        self.config = config
        self.endpoint = config.handle_endpoint.rstrip("/")
        self.prefix = config.handle_prefix or ""
        self.repo = config.handle_repo or ""
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(config.handle_timeout),
            headers={
                "Authorization": f"Bearer {config.handle_jwt_token}",
                "Accept": "application/json",
                "User-Agent": f"plastrond/{__version__}",
            },
            transport=transport,
            follow_redirects=False,
        )
        #: one write at a time (see the module's docstring)
        self._writing = trio.Lock()

    async def __aenter__(self) -> HandleClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- calls --------------------------------------------------------------------------

    async def info(self, prefix: str, suffix: str) -> Handle | None:
        """The handle P/S, or None when the service does not know it (a suffix that is not an
        integer cannot be one of its handles: not asked)."""
        if not integer_suffix(suffix):
            return None
        body = await self._call("GET", "/handles/info", params={"prefix": prefix, "suffix": suffix})
        if not body.get("exists"):
            return None
        return self._handle(body, prefix, suffix)

    async def exists(self, repo: str, repo_id: str) -> Handle | None:
        """The handle recorded for the resource *repo_id* of *repo*, or None."""
        try:
            body = await self._call(
                "GET", "/handles/exists", params={"repo": repo, "repo_id": repo_id}
            )
        except HandleServiceError as e:
            if e.status != 500:
                raise
            raise HandleServiceError(e.call, f"{e.reason} ({DUPLICATE_HINT})", e.status) from e
        if not body.get("exists"):
            return None
        prefix, suffix = _text(body.get("prefix")), _text(body.get("suffix"))
        if not prefix or not suffix:
            raise HandleServiceError(
                f"GET /handles/exists?repo_id={repo_id}", "the answer names no prefix and suffix"
            )
        handle = self._handle(body, prefix, suffix)
        return attrs.evolve(handle, repo=handle.repo or repo, repo_id=handle.repo_id or repo_id)

    async def mint(
        self, *, url: str, repo_id: str, description: str | None = None, notes: str | None = None
    ) -> Handle:
        """A new handle under HANDLE_PREFIX for *repo_id* of HANDLE_REPO, pointing at *url*."""
        payload: dict[str, str] = {
            "prefix": self.prefix,
            "url": url,
            "repo": self.repo,
            "repo_id": repo_id,
        }
        if description:
            payload["description"] = description
        if notes:
            payload["notes"] = notes
        async with self._writing:
            body = await self._call("POST", "/handles", payload=payload)
        suffix = _text(body.get("suffix"))
        if not suffix:
            raise HandleServiceError("POST /handles", "the answer names no suffix")
        return Handle(
            prefix=self.prefix,
            suffix=suffix,
            url=url,
            repo=self.repo,
            repo_id=repo_id,
            handle_url=_text(body.get("handle_url")),
        )

    async def update(self, handle: Handle, **fields: str) -> Handle:
        """PATCH the given fields (`url`, `repo`, `repo_id`, `description`, `notes`)."""
        path = f"/handles/{handle.prefix}/{handle.suffix}"
        if not integer_suffix(handle.suffix):
            raise HandleServiceError(
                f"PATCH {path}", "not sent: the service's suffixes are integers"
            )
        async with self._writing:
            body = await self._call("PATCH", path, payload=dict(fields))
        changed = {k: v for k, v in fields.items() if k in ("url", "repo", "repo_id")}
        return attrs.evolve(
            handle, handle_url=_text(body.get("handle_url")) or handle.handle_url, **changed
        )

    # -- plumbing -------------------------------------------------------------------------

    def _handle(self, body: Mapping[str, Any], prefix: str, suffix: str) -> Handle:
        return Handle(
            prefix=prefix,
            suffix=suffix,
            url=_text(body.get("url")),
            repo=_text(body.get("repo")),
            repo_id=_text(body.get("repo_id")),
            handle_url=_text(body.get("handle_url")),
        )

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        payload: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        call = f"{method} {path}"
        if params:
            call += "?" + "&".join(f"{k}={v}" for k, v in params.items())
        url = self.endpoint + path
        attempts = READ_ATTEMPTS if method == "GET" else 1
        operation = _OPERATIONS.get(call.split("?")[0]) or {"POST": "mint", "PATCH": "update"}.get(
            method, "resolve"
        )
        for attempt in range(attempts):
            started = time.perf_counter()
            try:
                with metrics.handle_call(operation) as measured:
                    response = await self._http.request(method, url, params=params, json=payload)
                    measured.outcome = str(response.status_code)
            except httpx.TransportError as e:
                reason = f"cannot reach {self.endpoint}: {describe(e, named=True)}"
                if attempt + 1 < attempts:
                    log.info("%s: %s; trying again", call, reason)
                    await trio.sleep(READ_DELAYS.delay(attempt))
                    continue
                raise HandleServiceError(call, reason) from e
            log.debug(
                "%s -> %d (%.0f ms)",
                call,
                response.status_code,
                1000 * (time.perf_counter() - started),
            )
            status = response.status_code
            if status in RETRY_STATUSES and attempt + 1 < attempts:
                log.info("%s: %d; trying again", call, status)
                await trio.sleep(READ_DELAYS.delay(attempt))
                continue
            if not 200 <= status < 300:
                raise HandleServiceError(call, _reason(response), status)
            try:
                body = response.json()
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise HandleServiceError(call, f"{status} answer is not JSON") from None
            if not isinstance(body, dict):
                raise HandleServiceError(call, f"{status} answer is not a JSON object")
            return body
        raise AssertionError("unreachable")  # pragma: no cover


def _reason(response: httpx.Response) -> str:
    status = f"{response.status_code} {response.reason_phrase}".strip()
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        text = _page_text(response.text)
        return f"{status}: {text}" if text and text not in status else status
    errors = body.get("errors") if isinstance(body, dict) else None
    if isinstance(errors, list) and errors:
        return f"{status}: {'; '.join(str(e) for e in errors)}"
    if isinstance(body, dict) and body.get("error"):
        return f"{status}: {body['error']}"
    return status


def _page_text(text: str) -> str:
    """What an error page says, in one short line: an HTML page's title (Django's "Server
    Error (500)"), else its text without tags."""
    title = re.search(r"<title[^>]*>(.*?)</title>", text, re.IGNORECASE | re.DOTALL)
    text = re.sub(r"<[^>]*>", " ", text) if title is None else title.group(1)
    return " ".join(html.unescape(text).split())[:200]
