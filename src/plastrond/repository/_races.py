"""Fedora 4.7's concurrency failures of a write: which they are, and the one rule for trying
such a write again.

The import retries an item's whole transaction on them (`plastrond.imports.run`); a write
outside a transaction (publishing, the metadata editor's save, an update without
transactions) is sent again as it is (`retry_races`): each of them fails the request before
anything of it is applied. Most of them are first-contact races (a namespace or a node type
registered by two sessions at once), which the prime (`_prime`) removes the cause of; what
remains (a term no model names, two replicas' primes at once) is tolerated here.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

import trio

from ..backoff import Backoff
from ..errors import failure_of
from ._errors import RepositoryHTTPError

__all__ = ["RACES", "RACE_ATTEMPTS", "fedora47_race", "race_answer", "retry_races"]

T = TypeVar("T")

log = logging.getLogger("plastrond.repository")

#: how many times a write (or an item's transaction) is tried when Fedora 4.7 trips over a
#: concurrent one
RACE_ATTEMPTS: Final = 5
#: the waits between tries of a write that met a race: 0.5, 1, 2, 4 s
RACE_BACKOFF: Final = Backoff(initial=0.5, maximum=4.0)

#: what Fedora 4.7 (ModeShape) answers when two sessions change its schema or the same node at
#: once: the first resource of a new rdf:type registers a node type (`400 Node type
#: 'ns009:Issue' already exists`), the first item under a pairtree segment creates that node
#: (`500 ... ConstraintViolationException: Cannot find a definition for a child named '{}8a'`),
#: binaries uploaded at once now and then have their digests crossed (`409 Checksum Mismatch of
#: <the digest we sent> and <the digest of another upload in flight>`: seen once in 400 files;
#: refused because we send a Digest, so nothing wrong is stored), and on a new server the
#: namespace of a new predicate or rdf:type, registered by a session still open, is not yet
#: known to the others (`500 ValueFormatException: Error converting "ns001:Object" from String
#: to a Name`, `400 No type exists with name "ns001:Object"`, `400 No item exists at path
#: ns001:alternative relative to ...`, `500 NullPointerException: Cannot invoke
#: "String.trim()" because the return value of "java.util.Map$Entry.getKey()" is null`,
#: `500 NamespaceException: There is no namespace with prefix "ns001"`, or on a PATCH
#: `400 <id>mode:namespaces-http://pcdm.org/use#`; all seen on an empty 4.7.5)
RACES: Final = (
    (400, ("Node type", "already exists")),
    (400, ("No type exists with name",)),
    (400, ("No item exists at path ns",)),
    (500, ("NullPointerException", "Map$Entry.getKey()")),
    (500, ("NamespaceException", "There is no namespace with prefix")),
    (500, ("ValueFormatException", "from String to a Name")),
    (400, ("mode:namespaces-",)),
    (500, ("ConstraintViolationException", "Cannot find a definition for a child")),
    (409, ("Checksum Mismatch",)),
)


def race_answer(e: BaseException) -> bool:
    """Whether *e* is an answer of `RACES`, whatever the request (see `fedora47_race`)."""
    e = failure_of(e) or e
    return isinstance(e, RepositoryHTTPError) and any(
        e.status == status and all(part in e.reason for part in parts) for status, parts in RACES
    )


def fedora47_race(e: BaseException) -> bool:
    """Whether *e* is one of Fedora 4.7's concurrency failures (`RACES`) of a write (PUT or
    PATCH): then nothing of that write was applied. A failed commit is never one (it is a
    TransactionError)."""
    e = failure_of(e) or e
    return isinstance(e, RepositoryHTTPError) and e.method in ("PUT", "PATCH") and race_answer(e)


async def retry_races(write: Callable[[], Awaitable[T]], *, attempts: int = RACE_ATTEMPTS) -> T:
    """`await write()`, again (after 0.5, 1, 2, 4 s) while it fails as `fedora47_race` says,
    at most *attempts* times in all; the last failure goes up as it is. Only for a write sent
    outside a transaction (inside one, the transaction is what is tried again)."""
    for attempt in range(1, attempts + 1):
        try:
            return await write()
        except RepositoryHTTPError as e:
            if attempt >= attempts or not fedora47_race(e):
                raise
            log.info("%s; trying again", e)
            await trio.sleep(RACE_BACKOFF.delay(attempt - 1))
    raise AssertionError("unreachable")
