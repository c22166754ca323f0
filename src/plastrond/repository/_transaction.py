"""What a transaction is and how each Fedora generation spells its operations.

Both begin with `POST <root>/fcr:tx`; the Location names the transaction:
`<root>/tx:<id>` (Fedora 4.7, `fcrepo4`) or `<root>/fcr:tx/<id>` (Fedora 6, `fcrepo6`).

| | Fedora 4.7 (`fcrepo4`) | Fedora 6 (`fcrepo6`) |
|---|---|---|
| work inside | URIs rewritten under `<root>/tx:<id>/` | header `Atomic-ID: <tx uri>` |
| keep alive | `POST <root>/tx:<id>/fcr:tx` | `POST <tx uri>` |
| commit | `POST <root>/tx:<id>/fcr:tx/fcr:commit` | `PUT <tx uri>` |
| roll back | `POST <root>/tx:<id>/fcr:tx/fcr:rollback` | `DELETE <tx uri>` |

Both generations begin the same way, so "auto" tells them apart by the form of the Location.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import enum
import re

import attrs

from ._errors import TransactionError

__all__ = [
    "FCREPO4",
    "FCREPO6",
    "Transaction",
    "TxState",
    "TxStyle",
    "parse_http_date",
    "style_of_location",
]


class TxStyle(enum.StrEnum):
    """Which generation's transaction API a server speaks (equal to its configuration name,
    REPOSITORY.TRANSACTION_STYLE)."""

    FCREPO4 = "fcrepo4"
    FCREPO6 = "fcrepo6"


FCREPO4 = TxStyle.FCREPO4
FCREPO6 = TxStyle.FCREPO6


class TxState(enum.StrEnum):
    """Where a transaction is in its life: open until it is committed or rolled back, or
    until the server drops it while in use (failed). (Equal to its name in messages.)"""

    OPEN = "open"
    COMMITTED = "committed"
    ROLLED_BACK = "rolled back"
    FAILED = "failed"


_FCREPO4_TX = re.compile(r"/tx:[^/]+$")


def style_of_location(root: str, location: str) -> TxStyle | None:
    """The transaction style a begin's Location reveals, or None when it fits neither form."""
    if not location.startswith(root + "/"):
        return None
    rest = location[len(root) :]
    if rest.startswith("/fcr:tx/") and len(rest) > len("/fcr:tx/"):
        return FCREPO6
    if _FCREPO4_TX.fullmatch(rest):
        return FCREPO4
    return None


def parse_http_date(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


@attrs.define
class Transaction:
    """An open (or finished) transaction. *uri* is the server's own (internal) URI for it."""

    uri: str
    style: TxStyle = attrs.field(converter=TxStyle)
    #: when the server will drop the transaction unless kept alive (as it last told us)
    expires: dt.datetime | None = None
    #: how many keep-alive requests have succeeded
    keep_alives: int = 0
    state: TxState = attrs.field(
        default=TxState.OPEN, validator=attrs.validators.instance_of(TxState)
    )
    #: why the transaction failed while open (set by the keep-alive task)
    failure: TransactionError | None = None

    @property
    def tx_base(self) -> str | None:
        """For Fedora 4: the prefix under which every URI inside the transaction lives."""
        return self.uri if self.style == FCREPO4 else None

    def keep_alive_request(self) -> tuple[str, str]:
        if self.style == FCREPO4:
            return "POST", f"{self.uri}/fcr:tx"
        return "POST", self.uri

    def commit_request(self) -> tuple[str, str]:
        if self.style == FCREPO4:
            return "POST", f"{self.uri}/fcr:tx/fcr:commit"
        return "PUT", self.uri

    def rollback_request(self) -> tuple[str, str]:
        if self.style == FCREPO4:
            return "POST", f"{self.uri}/fcr:tx/fcr:rollback"
        return "DELETE", self.uri
