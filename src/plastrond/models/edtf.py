"""Extended Date/Time Format (EDTF, Library of Congress 2019; ISO 8601-2) levels 0 and 1.

`edtf_level(text)` is the lowest conformance level that has *text*, or None when *text* is not
EDTF at levels 0-1; `is_edtf(text, level=1)` asks whether it is valid up to *level*.

Level 0: `1985`, `1985-04`, `1985-04-12` (real calendar dates, proleptic Gregorian),
`1985-04-12T23:20:30` with `Z`, `+hh` or `+hh:mm` optionally, and intervals of dates
`1964/2008`, `2004-02-01/2005-02`.
Level 1: `Y170000002` / `Y-170000002` (more than four digits only), seasons `2001-21`..`-24`,
a qualifier `?`, `~` or `%` at the end of a date, unspecified digits from the right (`201X`,
`20XX`, `2004-XX`, `1985-04-XX`, `1985-XX-XX`), negative years (`-1985`), and intervals whose
ends are level 1 dates, unknown (empty) or open (`..`), for instance `1984?/2004-06~`,
`/1985-04-12`, `1985-04/..`.
An interval must not end before it starts. Nothing else (no spaces, no level 2) is accepted.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = ["edtf_level", "is_edtf"]

Day = tuple[int, int, int]
Bounds = tuple[Day, Day]

_DATE: Final = re.compile(r"(-?)(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?")
_DATETIME: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(Z|[+-](\d{2})(?::(\d{2}))?)?"
)
_LONG_YEAR: Final = re.compile(r"Y(-?)([1-9]\d{4,})")
_SEASON: Final = re.compile(r"(-?)(\d{4})-(2[1-4])")
_YEAR_X: Final = re.compile(r"(-?)(\d{2})(\dX|XX)")
_MONTH_X: Final = re.compile(r"(-?)(\d{4})-XX")
_DAY_X: Final = re.compile(r"(-?)(\d{4})-(\d{2}|XX)-XX")
_QUALIFIERS: Final = "?~%"
#: the months of each season (21 spring ... 24 winter, which runs into the next year)
_SEASONS: Final = {21: (3, 5), 22: (6, 8), 23: (9, 11), 24: (12, 14)}


def is_edtf(text: str, level: int = 1) -> bool:
    """Whether *text* is an EDTF date, date-time or interval of at most *level* (0 or 1)."""
    found = edtf_level(text)
    return found is not None and found <= level


def edtf_level(text: str) -> int | None:
    """0 or 1: the lowest level whose syntax *text* follows; None when it follows neither."""
    if not isinstance(text, str) or not text or not text.isascii():
        return None
    if "/" in text:
        return _interval(text)
    if "T" in text:
        return 0 if _datetime(text) else None
    found = _date(text)
    return None if found is None else found[0]


def _interval(text: str) -> int | None:
    start, _, end = text.partition("/")
    if "/" in end:
        return None
    first = _interval_end(start)
    last = _interval_end(end)
    if first is None or last is None:
        return None
    (level_a, bounds_a), (level_b, bounds_b) = first, last
    if bounds_a is None and bounds_b is None:
        return None  # neither end is a date
    if bounds_a is not None and bounds_b is not None and bounds_a[0] > bounds_b[1]:
        return None  # ends before it starts
    return max(level_a, level_b)


def _interval_end(text: str) -> tuple[int, Bounds | None] | None:
    if text in ("", ".."):
        return 1, None  # unknown or open: level 1
    return _date(text)


def _date(text: str) -> tuple[int, Bounds] | None:
    """(level, (earliest day, latest day)) of a date that is not an interval, or None."""
    level = 0
    if text[-1] in _QUALIFIERS:
        text, level = text[:-1], 1
        if _DATE.fullmatch(text) is None or _SEASON.fullmatch(text) is not None:
            return None  # level 1 qualifies whole, specified dates only
    elif _SEASON.fullmatch(text) is not None:
        return _level1_date(text)
    if (m := _DATE.fullmatch(text)) is not None:
        negative, year_text, month_text, day_text = m.groups()
        year = int(year_text)
        if negative:
            if year == 0:
                return None
            year, level = -year, 1
        if month_text is None:
            return level, ((year, 1, 1), (year, 12, 31))
        month = int(month_text)
        if not 1 <= month <= 12:
            return None
        if day_text is None:
            return level, ((year, month, 1), (year, month, _days(year, month)))
        day = int(day_text)
        if not 1 <= day <= _days(year, month):
            return None
        return level, ((year, month, day), (year, month, day))
    return _level1_date(text)


def _level1_date(text: str) -> tuple[int, Bounds] | None:
    if (m := _LONG_YEAR.fullmatch(text)) is not None:
        year = int(m.group(2)) * (-1 if m.group(1) else 1)
        return 1, ((year, 1, 1), (year, 12, 31))
    if (m := _SEASON.fullmatch(text)) is not None:
        signed = _signed(m.group(1), m.group(2))
        if signed is None:
            return None
        year = signed
        first, last = _SEASONS[int(m.group(3))]
        end_year, end_month = year + (last - 1) // 12, (last - 1) % 12 + 1
        return 1, ((year, first, 1), (end_year, end_month, _days(end_year, end_month)))
    if (m := _YEAR_X.fullmatch(text)) is not None:
        digits = m.group(2) + m.group(3).replace("X", "")
        unknown = m.group(3).count("X")
        low = int(digits) * 10**unknown
        high = low + 10**unknown - 1
        if m.group(1):
            if high == 0:
                return None
            low, high = -high, -low
        return 1, ((low, 1, 1), (high, 12, 31))
    if (m := _MONTH_X.fullmatch(text)) is not None:
        signed = _signed(m.group(1), m.group(2))
        return None if signed is None else (1, ((signed, 1, 1), (signed, 12, 31)))
    if (m := _DAY_X.fullmatch(text)) is not None:
        signed = _signed(m.group(1), m.group(2))
        if signed is None:
            return None
        year = signed
        if m.group(3) == "XX":
            return 1, ((year, 1, 1), (year, 12, 31))
        month = int(m.group(3))
        if not 1 <= month <= 12:
            return None
        return 1, ((year, month, 1), (year, month, _days(year, month)))
    return None


def _datetime(text: str) -> bool:
    m = _DATETIME.fullmatch(text)
    if m is None:
        return False
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if not (1 <= month <= 12 and 1 <= day <= _days(year, month)):
        return False
    if not (hour <= 23 and minute <= 59 and second <= 59):
        return False
    zone_hour, zone_minute = m.group(8), m.group(9)
    if zone_hour is not None and int(zone_hour) > 23:
        return False
    return zone_minute is None or int(zone_minute) <= 59


def _signed(negative: str, digits: str) -> int | None:
    year = int(digits)
    if negative:
        return None if year == 0 else -year
    return year


def _days(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31
