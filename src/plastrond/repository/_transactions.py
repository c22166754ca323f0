"""A transaction's life through the client: begin, keep alive, commit, roll back.

`open_transaction(client)` is `RepositoryClient.transaction`: it begins a transaction, yields a
view of the client that works inside it while a background task keeps it alive, commits it
when the block ends normally and rolls it back when the block raises or is cancelled (shielded,
within `rollback_timeout`). Each control request (`Transaction.keep_alive_request`, ...) is
sent as the client's own account, outside the transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import httpx
import trio

from plastrond.errors import failure_of

from ._errors import (
    RepositoryError,
    RepositoryHTTPError,
    ResourceNotFound,
    TransactionError,
    TransactionNotBegun,
)
from ._transaction import FCREPO4, Transaction, TxState, parse_http_date, style_of_location

if TYPE_CHECKING:
    from ._client import RepositoryClient

__all__ = ["begin", "end_transaction", "open_transaction", "rollback"]

log = logging.getLogger("plastrond.repository")


@asynccontextmanager
async def open_transaction(
    client: RepositoryClient, keep_alive_interval: float
) -> AsyncIterator[RepositoryClient]:
    tx = await begin(client)
    view = client._view(delegate=client.delegate, tx=tx)
    log.debug("transaction %s (%s) begun", tx.uri, tx.style)
    outcome: BaseException | None = None
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_keep_alive, client, tx, keep_alive_interval, nursery.cancel_scope)
            try:
                yield view
            except BaseException as exc:  # rolled back below, then raised again
                outcome = exc
            finally:
                nursery.cancel_scope.cancel()
    except BaseException as exc:  # the nursery's own exit was cancelled from outside
        if outcome is None:
            outcome = failure_of(exc) or exc
    if tx.failure is not None:
        await rollback(client, tx)
        raise tx.failure from (outcome if not isinstance(outcome, trio.Cancelled) else None)
    if outcome is not None:
        await rollback(client, tx)
        raise outcome
    await _commit(client, tx)


async def begin(client: RepositoryClient) -> Transaction:
    """Begin a transaction (as the delegated user on Fedora 4.7, where the work inside runs
    as whoever began it); raise `TransactionNotBegun` when none could begin."""
    root = (await client._naming()).internal
    url = f"{root}/fcr:tx"
    config = client._shared.config
    wanted = config.transaction_style
    style = wanted if wanted != "auto" else client._shared.learned.get("tx_style")
    # A Fedora 4.7 transaction works as the user who began it (On-Behalf-Of on the work
    # inside is ignored), so a delegated one is begun on the user's behalf; Fedora 6 takes
    # the delegation on each request and refuses transaction control from a non-admin.
    begin_as = client.delegate if style == FCREPO4 else None
    try:
        response = await client._view(delegate=begin_as, tx=None)._send("POST", url, raw_url=True)
    except RepositoryError as e:
        raise TransactionNotBegun(f"cannot begin a transaction: {e}") from e
    location = response.headers.get("Location", "")
    found = style_of_location(root, client._shared.naming.map.from_origin(location))
    if found is not None and wanted in ("auto", found):
        client._shared.learned["tx_style"] = found
    if found == FCREPO4 and client.delegate is not None and begin_as is None:
        # learned only now that this is Fedora 4.7: begin again as the user
        await rollback(client, Transaction(uri=location, style=FCREPO4))
        return await begin(client)
    if found is None or (wanted != "auto" and wanted != found):
        what = f"a {found} transaction" if found else f"an unrecognised Location {location!r}"
        if found is not None:
            await rollback(client, Transaction(uri=location, style=found))
        raise TransactionNotBegun(
            f"POST {url}: expected a {'' if wanted == 'auto' else wanted + ' '}transaction, "
            f"the server began {what} (check REPOSITORY.TRANSACTION_STYLE)"
        )
    return Transaction(uri=location, style=found, expires=_expires(response))


async def _control(
    client: RepositoryClient, request: tuple[str, str], *, repeatable: bool = True
) -> httpx.Response:
    method, url = request
    # The transaction itself belongs to the client's own account: Fedora 6.1.0 answers 403
    # to a keep-alive, commit or rollback sent on behalf of a user who is not an admin.
    base = client._view(delegate=None, tx=None)
    return await base._send(method, url, raw_url=True, repeatable=repeatable)


async def _keep_alive(
    client: RepositoryClient, tx: Transaction, interval: float, body_scope: trio.CancelScope
) -> None:
    while True:
        await trio.sleep(interval)
        try:
            response = await _control(client, tx.keep_alive_request())
        except RepositoryHTTPError as e:
            if e.status in (404, 409, 410):
                tx.state = TxState.FAILED
                tx.failure = TransactionError(f"transaction {tx.uri} ended while still in use: {e}")
                body_scope.cancel()
                return
            log.warning("keep-alive of transaction %s failed, trying again: %s", tx.uri, e)
        except RepositoryError as e:
            log.warning("keep-alive of transaction %s failed, trying again: %s", tx.uri, e)
        else:
            tx.keep_alives += 1
            tx.expires = _expires(response) or tx.expires


async def _commit(client: RepositoryClient, tx: Transaction) -> None:
    """Commit *tx* (never sent twice); on failure roll it back and raise TransactionError."""
    try:
        await _control(client, tx.commit_request(), repeatable=False)
    except BaseException as exc:
        await rollback(client, tx)
        if isinstance(exc, RepositoryError):
            raise TransactionError(f"commit of transaction {tx.uri} failed: {exc}") from exc
        raise
    tx.state = TxState.COMMITTED
    log.debug("transaction %s committed after %d keep-alives", tx.uri, tx.keep_alives)


async def rollback(client: RepositoryClient, tx: Transaction) -> None:
    """Roll back, shielded from cancellation but bounded in time; never raises."""
    timeout = client._shared.rollback_timeout
    with trio.CancelScope(shield=True) as scope:
        scope.deadline = trio.current_time() + timeout
        try:
            await _control(client, tx.rollback_request())
        except RepositoryError as e:
            log.warning("rollback of transaction %s failed: %s", tx.uri, e)
        else:
            if tx.state is TxState.OPEN:
                tx.state = TxState.ROLLED_BACK
            log.debug("transaction %s rolled back", tx.uri)
    if scope.cancelled_caught:
        log.warning(
            "rollback of transaction %s took longer than %gs; the server will expire it",
            tx.uri,
            timeout,
        )


async def end_transaction(client: RepositoryClient, uri: str, style: str) -> str | None:
    """See `RepositoryClient.end_transaction`."""
    try:
        await _control(client, Transaction(uri=uri, style=style).rollback_request())
    except ResourceNotFound:  # (ResourceGone is one)
        return "gone"
    except RepositoryError as e:
        log.warning("transaction %s: cannot end it: %s", uri, e)
        return None
    return "rolled back"


def _expires(response: httpx.Response) -> dt.datetime | None:
    return parse_http_date(
        response.headers.get("Atomic-Expires") or response.headers.get("Expires")
    )
