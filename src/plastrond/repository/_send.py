"""Sending a prepared request: retries as the policy says, around one send with timing and
error mapping.

`send(http, policy, request)` returns a 2xx response (streamed responses are the caller's to
close) or raises: `RepositoryConnectionError` when no answer came, `http_error`'s subclass of
`RepositoryHTTPError` for an answer outside 2xx.
"""

from __future__ import annotations

import logging
import time

import httpx
import trio

from ._errors import RepositoryConnectionError, http_error, reason_from_body
from ._request import Outgoing
from ._retry import RetryPolicy, describe

__all__ = ["send"]

log = logging.getLogger("plastrond.repository")

#: the most of an error answer's body read for its reason
_ERROR_BODY_LIMIT = 64 * 1024


async def send(http: httpx.AsyncClient, policy: RetryPolicy, request: Outgoing) -> httpx.Response:
    """Send *request*, again as *policy* allows; return a 2xx response or raise."""
    attempt = 0
    while True:
        try:
            response = await send_once(http, request)
        except httpx.TransportError as e:
            delay = policy.after_unanswered(e, request, attempt)
            if delay is None:
                raise RepositoryConnectionError(request.method, request.uri, describe(e)) from e
            what = describe(e)
        else:
            if response.is_success or policy.settled(response, request, attempt):
                return response
            delay = policy.after_answer(response, request, attempt)
            if delay is None:
                reason = await _reason(response, request.stream)
                raise http_error(request.method, request.uri, response.status_code, reason)
            await response.aclose()
            what = str(response.status_code)
        log.info("%s %s: %s; trying again in %.1fs", request.method, request.uri, what, delay)
        attempt += 1
        await trio.sleep(delay)


async def send_once(http: httpx.AsyncClient, request: Outgoing) -> httpx.Response:
    """One try of *request*: its answer, whatever the status (a transport error goes up)."""
    # Built here rather than by `http.build_request`, which merges the client's headers,
    # cookies and parameters through their general-purpose containers: half the request's cost.
    built = httpx.Request(
        request.method,
        httpx.URL(request.url),
        headers=_with_defaults(http.headers.raw, request.headers),
        content=request.content(),
    )
    started = time.perf_counter()
    response = await http.send(
        built, stream=request.stream, follow_redirects=request.follow_redirects
    )
    if log.isEnabledFor(logging.DEBUG):
        log.debug(
            "%s %s -> %d (%.0f ms)",
            request.method,
            request.uri,
            response.status_code,
            (time.perf_counter() - started) * 1000,
        )
    return response


def _with_defaults(
    defaults: list[tuple[bytes, bytes]], own: tuple[tuple[bytes, bytes], ...]
) -> list[tuple[bytes, bytes]]:
    """The client's default headers but those the request sets itself, then the request's."""
    names = {name.lower() for name, _ in own}
    return [(k, v) for k, v in defaults if k.lower() not in names] + list(own)


async def _reason(response: httpx.Response, streamed: bool) -> str:
    """The reason an error answer gives (from its body, at most `_ERROR_BODY_LIMIT` read); the
    response is closed."""
    fallback = response.reason_phrase or ""
    try:
        if streamed:
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data += chunk
                if len(data) >= _ERROR_BODY_LIMIT:
                    break
            body = bytes(data[:_ERROR_BODY_LIMIT])
        else:
            body = response.content[:_ERROR_BODY_LIMIT]
    except httpx.HTTPError:
        body = b""
    finally:
        await response.aclose()
    return reason_from_body(body, response.headers.get("Content-Type"), fallback)
