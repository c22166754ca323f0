"""EDTF levels 0 and 1: every feature of the specification, and what falls outside it."""

from __future__ import annotations

import pytest

from plastrond.models import edtf_level, is_edtf

LEVEL_0 = [
    "1985-04-12",
    "1985-04",
    "1985",
    "0000",
    "2000-02-29",  # a leap year (divisible by 400)
    "1996-02-29",
    "1985-04-12T23:20:30",
    "1985-04-12T23:20:30Z",
    "1985-04-12T23:20:30-04",
    "1985-04-12T10:10:10+05:00",
    "1964/2008",
    "2004-06/2006-08",
    "2004-02-01/2005-02-08",
    "2004-02-01/2005-02",
    "2005/2006-02",
    "2004-06/2004",  # June 2004 lies within 2004
    "2004-06-11/2004-06-11",
]

LEVEL_1 = [
    "Y170000002",
    "Y-170000002",
    "Y10000",
    "2001-21",
    "2001-22",
    "2001-23",
    "2001-24",
    "1984?",
    "2004-06~",
    "2004-06-11%",
    "-1985",
    "-1985-04-12",
    "201X",
    "20XX",
    "2004-XX",
    "1985-04-XX",
    "1985-XX-XX",
    "-201X",
    "1985-04-12/..",
    "1985-04/..",
    "1985/..",
    "../1985-04-12",
    "../1985-04",
    "../1985",
    "1985-04-12/",
    "1985-04/",
    "1985/",
    "/1985-04-12",
    "/1985-04",
    "/1985",
    "1984~/2004-06",
    "1984/2004-06~",
    "1984~/2004~",
    "1984?/2004%",
    "1984-06?/2004-08?",
    "1984-06-02?/2004-08-08~",
    "1984-06-02?/",
    "2004-21/2005-22",
    "201X/2020",
    "-1985/1985",
]

INVALID = [
    "",
    " 1985",
    "1985 ",
    "1985\n",
    "85",
    "198",
    "19850",  # five digits need the Y prefix
    "1985-4",
    "1985-04-1",
    "1985-00",
    "1985-13",
    "1985-04-00",
    "1985-04-31",
    "1900-02-29",  # not a leap year (divisible by 100)
    "2021-02-29",
    "1985/04/12",
    "19850412",  # basic format is not EDTF
    "1985-04-12T25:00:00",
    "1985-04-12T23:60:00",
    "1985-04-12T23:20:60",
    "1985-04-12T23:20",
    "1985-04-12T23:20:30.5Z",
    "1985-04-12T23:20:30+24:00",
    "1985-04T10:10:10",
    "1985-04-12T23:20:30/1986",  # no times in intervals
    "Y1234",  # four digits or fewer: no prefix
    "Y01234",
    "y170000002",
    "-0000",
    "-Y10000",
    "2001-25",  # a level 2 season
    "2001-20",
    "2001-21?",
    "1984??",
    "1984?~",
    "?1984",
    "2004-?06-11",  # level 2: qualification of a component
    "1XXX",  # level 2: unspecified digits beyond the last two of the year
    "XXXX",
    "156X-12-25",
    "1985-XX-12",
    "201X-XX",
    "2004-13-XX",
    "Y170000002?",
    "[1667,1668]",  # level 2 sets
    "{1667,1668}",
    "Y17E7",  # level 2 exponential years
    "1950S2",
    "2008/1964",  # ends before it starts
    "2004-06-30/2004-06-01",
    "2005/2004-06",
    "/",
    "../..",
    "/..",
    "../",
    "1985//1986",
    "1985/1986/1987",
    "1985-04-12/1986-02-30",
    "open",
    "1985\u20131986",  # an en dash, not ASCII
]


@pytest.mark.parametrize("text", LEVEL_0)
def test_level_0(text):
    assert edtf_level(text) == 0
    assert is_edtf(text, level=0)
    assert is_edtf(text)


@pytest.mark.parametrize("text", LEVEL_1)
def test_level_1(text):
    assert edtf_level(text) == 1
    assert is_edtf(text)
    assert not is_edtf(text, level=0)


@pytest.mark.parametrize("text", INVALID)
def test_not_edtf_at_levels_0_and_1(text):
    assert edtf_level(text) is None
    assert not is_edtf(text)


def test_non_strings_are_not_edtf():
    assert not is_edtf(None)  # type: ignore[arg-type]
    assert not is_edtf(1985)  # type: ignore[arg-type]


def test_seasons_and_unspecified_years_are_ordered_by_their_extent():
    # Winter 2004 runs into February 2005; 201X covers 2010-2019.
    assert is_edtf("2004-24/2005-02")
    assert not is_edtf("2004-24/2004-11")
    assert is_edtf("2019/201X")
    assert not is_edtf("2020/201X")
    assert is_edtf("-2019/-201X")
    assert is_edtf("Y-170000002/2000")
    assert not is_edtf("2000/Y-170000002")
