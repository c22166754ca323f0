"""The rules for reading what a user writes as text, each written once for every place a user
writes it (a job's headers, the configuration file, a CSV cell, an HTTP request path).

A yes/no (`parse_bool`): `true`, `yes`, `on`, `1`, `y`, `t` are true; `false`, `no`, `off`,
`0`, `n`, `f` are false; case and surrounding spaces do not matter. Anything else is not a
yes/no (`None`), and each caller says so in its own words.

A path segment (`dot_segment`, `unquote_all`): `.` or `..` in any spelling a client or server
may resolve. A user name to act for (`user_name`): one printable line.
"""

from __future__ import annotations

import re
from typing import Final
from urllib.parse import unquote

__all__ = ["dot_segment", "parse_bool", "unquote_all", "user_name"]

_TRUE: Final = frozenset({"true", "yes", "on", "1", "y", "t"})
_FALSE: Final = frozenset({"false", "no", "off", "0", "n", "f"})


def parse_bool(text: str) -> bool | None:
    """True or False for the spellings above, None for anything else."""
    lowered = text.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    return None


def unquote_all(text: str) -> str:
    """*text* percent-decoded until nothing more decodes (`%252e` is `.`)."""
    decoded, previous = text, None
    while decoded != previous:
        previous, decoded = decoded, unquote(decoded)
    return decoded


def dot_segment(segment: str) -> bool:
    """Whether a path *segment* (still percent-encoded) is `.` or `..` to some client or
    server: however many times percent-encoded, with spaces around it, with a `;parameter`
    (Tomcat and Jetty drop it), or holding an encoded slash or backslash that a server may
    decode into a `..`."""
    return any(
        part.partition(";")[0].strip() in (".", "..")
        for part in re.split(r"[/\\]", unquote_all(segment))
    )


def user_name(text: str) -> str | None:
    """*text* as the name of a user to act for (an `On-Behalf-Of` header): without the spaces
    around it; None when nothing is left or it holds a control character (it must stay one
    header line)."""
    name = text.strip()
    return name if name and name.isprintable() else None
