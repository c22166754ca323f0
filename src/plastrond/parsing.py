"""The one rule for reading a yes/no written as text, wherever a user writes one: a job's
`PlastronArg-*` headers, the configuration file, a CSV cell typed `xsd:boolean`.

`true`, `yes`, `on`, `1`, `y`, `t` are true; `false`, `no`, `off`, `0`, `n`, `f` are false;
case and surrounding spaces do not matter. Anything else is not a yes/no (`None`), and each
caller says so in its own words."""

from __future__ import annotations

from typing import Final

__all__ = ["parse_bool"]

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
