"""Extended Date/Time Format (EDTF, Library of Congress 2019; ISO 8601-2) levels 0, 1 and 2.

`edtf_level(text)` is the lowest conformance level that has *text*, or None when *text* is not
EDTF; `is_edtf(text, level=2)` asks whether it is valid up to *level*.

Level 0: `1985`, `1985-04`, `1985-04-12` (real calendar dates, proleptic Gregorian),
`1985-04-12T23:20:30` with `Z`, `+hh` or `+hh:mm` optionally, and intervals of dates
`1964/2008`, `2004-02-01/2005-02`.
Level 1: `Y170000002` / `Y-170000002` (more than four digits only), seasons `2001-21`..`-24`,
a qualifier `?`, `~` or `%` at the end of a date, unspecified digits from the right (`201X`,
`20XX`, `2004-XX`, `1985-04-XX`, `1985-XX-XX`), negative years (`-1985`), and intervals whose
ends are level 1 dates, unknown (empty) or open (`..`), for instance `1984?/2004-06~`,
`/1985-04-12`, `1985-04/..`.
Level 2: exponential years `Y-17E7`; significant digits after any of the three year forms
(`1950S2`, `Y171010000S3`, `Y3388E2S3`); sub-year groupings `2001-25`..`-41` (seasons of
each hemisphere, quarters, quadrimesters, semesters); sets, one of `[1667,1668,1670..1672]`
or all of `{1960,1961-12}`, with `..` at the start or end of the list for "on or before" /
"on or after" (a range's two ends have the same precision); a qualifier right of a component
for it and the components to its left (`2004-06~-11`) and left of a component for it alone
(`?2004-06-~11`, `?-2004`), at most one per side and not both sides of one component;
`X` anywhere in the digits of a year, month or day (`156X-12-25`, `1XXX-12`, `1985-1X-X5`)
as long as some real date fits; and intervals of any of these dates (not of sets).
An interval (or a range in a set) must not end before it starts, comparing the earliest
possible start with the latest possible end. Nothing else (no spaces) is accepted.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Final, NamedTuple

__all__ = ["edtf_level", "is_edtf"]

Day = tuple[int, int, int]
Bounds = tuple[Day, Day]


class _Date(NamedTuple):
    """A date that is not an interval or a set."""

    level: int
    #: (earliest day, latest day); None for years too large to work out (thousands of digits)
    bounds: Bounds | None
    #: "year", "month", "day" or "grouping": the two ends of a range in a set must agree
    precision: str


_Q: Final = r"([?~%]?)"
#: [qualifier] year [qualifier] [-[qualifier] month [qualifier] [-[qualifier] day [qualifier]]]
_CALENDAR: Final = re.compile(
    rf"{_Q}(-?)([\dX]{{4}}){_Q}(?:-{_Q}([\dX]{{2}}){_Q}(?:-{_Q}([\dX]{{2}}){_Q})?)?"
)
_DATETIME: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(Z|[+-](\d{2})(?::(\d{2}))?)?"
)
_LONG_YEAR: Final = re.compile(r"Y(-?)([1-9]\d*)(?:E([1-9]\d*))?(?:S([1-9]\d*))?")
_SIGNIFICANT_YEAR: Final = re.compile(r"(-?)(\d{4})S([1-9]\d*)")
_LEVEL1_YEAR_X: Final = re.compile(r"\d{2}(?:\dX|XX)")
_OPEN: Final = ("", "..")
_SETS: Final = {"[": "]", "{": "}"}
#: beyond this many digits a year's bounds are not worked out (nor compared)
_MAX_DIGITS: Final = 1000
#: the months of each season or other sub-year grouping (past 12: into the next year)
_GROUPINGS: Final = {
    **{21: (3, 5), 22: (6, 8), 23: (9, 11), 24: (12, 14)},  # seasons (level 1)
    **{25: (3, 5), 26: (6, 8), 27: (9, 11), 28: (12, 14)},  # northern hemisphere
    **{29: (9, 11), 30: (12, 14), 31: (3, 5), 32: (6, 8)},  # southern hemisphere
    **{33: (1, 3), 34: (4, 6), 35: (7, 9), 36: (10, 12)},  # quarters
    **{37: (1, 4), 38: (5, 8), 39: (9, 12)},  # quadrimesters
    **{40: (1, 6), 41: (7, 12)},  # semesters
}


def is_edtf(text: str, level: int = 2) -> bool:
    """Whether *text* is an EDTF date, date-time, interval or set of at most *level* (0-2)."""
    found = edtf_level(text)
    return found is not None and found <= level


def edtf_level(text: str) -> int | None:
    """0, 1 or 2: the lowest level whose syntax *text* follows; None when it follows none."""
    if not isinstance(text, str) or not text or not text.isascii():
        return None
    if "/" in text:
        return _interval(text)
    if text[0] in _SETS:
        return _set(text)
    if "T" in text:
        return 0 if _datetime(text) else None
    found = _date(text)
    return None if found is None else found.level


def _interval(text: str) -> int | None:
    start, _, end = text.partition("/")
    if "/" in end or (start in _OPEN and end in _OPEN):
        return None  # more than two parts, or neither end is a date
    level = 0
    bounds: list[Bounds | None] = []
    for part in (start, end):
        if part in _OPEN:
            level = max(level, 1)  # unknown or open: level 1
            bounds.append(None)
            continue
        found = _date(part)
        if found is None:
            return None
        level = max(level, found.level)
        bounds.append(found.bounds)
    return None if _after(bounds[0], bounds[1]) else level


def _set(text: str) -> int | None:
    """2 for a set `[...]` (one of) or `{...}` (all of) of dates; None when malformed."""
    if len(text) < 3 or text[-1] != _SETS[text[0]]:
        return None
    members = text[1:-1].split(",")
    for index, member in enumerate(members):
        if member.startswith(".."):  # on or before: first member only
            if index != 0 or _date(member[2:]) is None:
                return None
        elif member.endswith(".."):  # on or after: last member only
            if index != len(members) - 1 or _date(member[:-2]) is None:
                return None
        elif ".." in member:
            if not _range(member):
                return None
        elif _date(member) is None:
            return None
    return 2


def _range(member: str) -> bool:
    first_text, _, last_text = member.partition("..")
    first, last = _date(first_text), _date(last_text)
    if first is None or last is None or first.precision != last.precision:
        return False
    return not _after(first.bounds, last.bounds)


def _after(start: Bounds | None, end: Bounds | None) -> bool:
    """Whether *start* surely begins after *end* is over."""
    return start is not None and end is not None and start[0] > end[1]


def _date(text: str) -> _Date | None:
    """A date that is not an interval, a set or a date-time; None when it is none."""
    if (m := _CALENDAR.fullmatch(text)) is not None:
        return _calendar(m)
    if (m := _LONG_YEAR.fullmatch(text)) is not None:
        negative, digits, exponent, significant = m.groups()
        if exponent is None and len(digits) <= 4:
            return None  # `Y` only before more than four digits
        level = 1 if exponent is None and significant is None else 2
        return _Date(level, _year_bounds(negative, digits, exponent, significant), "year")
    if (m := _SIGNIFICANT_YEAR.fullmatch(text)) is not None:
        negative, digits, significant = m.groups()
        if negative and int(digits) == 0:
            return None
        return _Date(2, _year_bounds(negative, digits, None, significant), "year")
    return None


def _calendar(m: re.Match[str]) -> _Date | None:
    """Year, year-month, year-grouping or year-month-day, qualified and with `X` or not."""
    year_q, sign, year_text, year_r, month_q, month_text, month_r, day_q, day_text, day_r = (
        m.groups()
    )
    components = [(year_q, year_r)]
    if month_text is not None:
        components.append((month_q, month_r))
    if day_text is not None:
        components.append((day_q, day_r))
    if any(left and right for left, right in components):
        return None  # qualified from both sides
    qualifiers = [q for pair in components for q in pair if q]
    unspecified = "X" in m.group(0)
    grouping = (
        day_text is None and month_text is not None and month_text.isdigit() and month_text > "12"
    )
    level = 1 if sign else 0
    if qualifiers:
        whole = len(qualifiers) == 1 and bool(components[-1][1])  # one, at the very end
        level = max(level, 1 if whole and not unspecified and not grouping else 2)
    if unspecified:
        level = max(level, 1 if _level1_unspecified(year_text, month_text, day_text) else 2)
    years = _fill(year_text)
    if sign:
        years = [-year for year in reversed(years) if year != 0]
    if not years:
        return None  # -0000
    if month_text is None:
        return _Date(level, ((years[0], 1, 1), (years[-1], 12, 31)), "year")
    if grouping:
        code = int(month_text)
        if code not in _GROUPINGS:
            return None
        level = max(level, 1 if code <= 24 else 2)
        first, last = _GROUPINGS[code]
        end_year, end_month = years[-1] + (last - 1) // 12, (last - 1) % 12 + 1
        bounds = ((years[0], first, 1), (end_year, end_month, _days(end_year, end_month)))
        return _Date(level, bounds, "grouping")
    months = [month for month in _fill(month_text) if 1 <= month <= 12]
    if not months:
        return None
    if day_text is None:
        last_day = _days(years[-1], months[-1])
        return _Date(level, ((years[0], months[0], 1), (years[-1], months[-1], last_day)), "month")
    days = [day for day in _fill(day_text) if 1 <= day <= 31]
    earliest = _first_real(years, months, days)
    latest = _first_real(years[::-1], months[::-1], days[::-1])
    if earliest is None or latest is None:
        return None  # no real date fits (`1985-02-3X`, `X900-02-29`)
    return _Date(level, (earliest, latest), "day")


def _level1_unspecified(year: str, month: str | None, day: str | None) -> bool:
    """Whether the `X`s are level 1: the last one or two digits of a year alone, or a whole
    month (`2004-XX`) or day (`1985-04-XX`, `1985-XX-XX`) after a specified year."""
    if month is None:
        return _LEVEL1_YEAR_X.fullmatch(year) is not None
    if "X" in year:
        return False
    if day is None:
        return month == "XX"
    return day == "XX" and (month == "XX" or "X" not in month)


def _fill(digits: str) -> list[int]:
    """The values *digits* may have, each `X` being any digit, in ascending order."""
    choices = ("0123456789" if digit == "X" else digit for digit in digits)
    return [int("".join(chosen)) for chosen in itertools.product(*choices)]


def _first_real(years: Sequence[int], months: Sequence[int], days: Sequence[int]) -> Day | None:
    """The first real date in the order of *years*, *months* and *days*; None if none is."""
    if not any(day <= _days(2000, month) for month in months for day in days):
        return None  # not even in a leap year
    for year in years:
        for month in months:
            for day in days:
                if day <= _days(year, month):
                    return year, month, day
    return None


def _year_bounds(
    negative: str, digits: str, exponent: str | None, significant: str | None
) -> Bounds | None:
    size = len(digits)
    if exponent is not None:
        size = _MAX_DIGITS + 1 if len(exponent) > 4 else size + int(exponent)
    if size > _MAX_DIGITS:
        return None
    value = int(digits) * 10 ** (0 if exponent is None else int(exponent))
    low = high = value
    if significant is not None:
        count = len(str(value))
        if len(significant) < 5 and int(significant) < count:  # more: every digit counts
            unit = 10 ** (count - int(significant))
            low = value // unit * unit
            high = low + unit - 1
    if negative:
        low, high = -high, -low
    return (low, 1, 1), (high, 12, 31)


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


def _days(year: int, month: int) -> int:
    if month == 2:
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        return 29 if leap else 28
    return 30 if month in (4, 6, 9, 11) else 31
