"""When the client sends a request again: one policy object, without I/O.

`_send.send` asks the policy after each try that did not end in a 2xx answer: `after_unanswered`
after a transport error, `after_answer` after a status outside 2xx. Each returns the seconds to
wait before the next try, or None when the request is not sent again.
"""

from __future__ import annotations

import attrs
import httpx

from ..backoff import Backoff
from ..errors import one_line
from ._request import Outgoing

__all__ = [
    "RetryPolicy",
    "describe",
    "retry_after",
]

#: answers that mean "try again later" from a proxy or an overloaded server
RETRY_STATUSES = frozenset({502, 503, 504})
#: answers that are worth another try for a read only: Fedora 6.1.0 now and then fails a GET
#: with 500 when reads run concurrently (an IllegalStateException from a CharsetEncoder shared
#: between threads while it writes the response headers); a write answered 500 may have been
#: applied in part, so it is never sent again
READ_RETRY_STATUSES = frozenset({500})
SAFE = frozenset({"GET", "HEAD", "OPTIONS"})
#: transport errors raised before any byte of the request left: any request may be sent again
NOTHING_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@attrs.frozen
class RetryPolicy:
    """How often and how patiently a failed request is sent again.

    Connection failures before anything was sent are retried for every request whose body can
    be produced again; 502/503/504 answers and failures in mid-flight only for idempotent
    methods; a 500 only for reads (GET, HEAD), which Fedora 6.1.0 fails now and then. Delays
    grow from *initial_delay*, doubling up to *max_delay*, with jitter.
    """

    attempts: int = 4
    initial_delay: float = 0.5
    max_delay: float = 8.0

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(self.max_delay, max(0.0, retry_after))
        return Backoff(self.initial_delay, self.max_delay, jitter=0.5).delay(retry)

    def after_unanswered(
        self, error: httpx.TransportError, request: Outgoing, attempt: int
    ) -> float | None:
        """The wait before sending *request* again after it failed with *error* on try
        *attempt* (0 first): when its body can be sent again, and nothing of it left or it is
        idempotent; else None."""
        if not request.replayable or attempt + 1 >= self.attempts:
            return None
        if isinstance(error, NOTHING_SENT) or request.idempotent:
            return self.delay(attempt)
        return None

    def after_answer(
        self, response: httpx.Response, request: Outgoing, attempt: int
    ) -> float | None:
        """The wait before sending *request* again after it was answered outside 2xx on try
        *attempt* (0 first), or None."""
        if not request.replayable or attempt + 1 >= self.attempts:
            return None
        status = response.status_code
        if (status in RETRY_STATUSES and request.idempotent) or (
            status in READ_RETRY_STATUSES and request.method in SAFE
        ):
            return self.delay(attempt, retry_after(response))
        return None

    @staticmethod
    def settled(response: httpx.Response, request: Outgoing, attempt: int) -> bool:
        """Whether an answer outside 2xx still means done: a DELETE sent again that finds
        nothing (404, 410) got through on an earlier try whose answer was lost."""
        return request.method == "DELETE" and attempt > 0 and response.status_code in (404, 410)


def retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None


def describe(e: httpx.TransportError) -> str:
    """What went wrong in a request that got no answer, on one line (`errors.one_line`)."""
    text = one_line(str(e))
    kinds: dict[type[httpx.TransportError], str] = {
        httpx.ConnectTimeout: "connection timed out",
        httpx.ReadTimeout: "no answer in time",
        httpx.WriteTimeout: "sending timed out",
        httpx.PoolTimeout: "no free connection in time",
    }
    kind = kinds.get(type(e))
    if kind:
        return kind
    # httpx often wraps the real cause (an SSL or socket error) in an exception without text.
    cause: BaseException | None = e
    seen = 0
    while not text and cause is not None and seen < 5:
        cause = cause.__cause__ or cause.__context__
        text = one_line(str(cause)) if cause is not None else ""
        seen += 1
    return f"{type(e).__name__}: {text}" if text else type(e).__name__
