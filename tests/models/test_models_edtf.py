"""EDTF levels 0, 1 and 2: every feature of the specification, and what falls outside it."""

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
    # a level 2 example of the specification, but both of its ends are level 1 dates
    "2004-06-XX/2004-07-03",
]

LEVEL_2 = [
    # exponential years
    "Y-17E7",
    "Y17E7",
    "Y17E8",
    "Y2E3",  # no minimum size for the exponential form
    # significant digits, after each of the three forms of year
    "1950S2",
    "-1859S5",  # more significant digits than the year has: the year itself
    "Y171010000S3",
    "Y-171010000S2",
    "Y3388E2S3",
    "Y-3388E2S3",
    # sub-year groupings 25-41
    "2001-25",
    "2001-28",
    "2001-29",
    "2001-32",
    "2001-33",
    "2001-34",  # the second quarter of 2001
    "2001-36",
    "2001-37",
    "2001-39",
    "2001-40",
    "2001-41",
    "-2001-34",
    # sets: one of
    "[1667,1668,1670..1672]",
    "[..1760-12-03]",
    "[1760-12..]",
    "[1760-01,1760-02,1760-12..]",
    "[1667,1760-12]",
    "[..1984]",
    "[1667,1668]",
    "[-1667,1668,1670..1672]",
    "[-1740-02-12..-1200-01-29]",
    "[1667]",
    "[1985?,1986~]",  # any date may be a member
    "[2001-21..2001-23]",
    # sets: all of
    "{1667,1668,1670..1672}",
    "{1960,1961-12}",
    "{..1984}",
    "{1760-12..}",
    "{1667,1668}",
    "{-1640-06..-1200-01}",
    "{..1984,2000..}",
    # group qualification (to the right: the component and those to its left)
    "2004-06~-11",
    "2004?-06-11",
    "-2004-06?-11",
    "-2004~-06-11",
    "2004?-06~",
    # qualification of individual components (to the left: that component only)
    "?2004-06-~11",
    "2004-%06-11",
    "2004-06-%11",
    "2004-?06-11",
    "2004-?06-?11",
    "?1984",
    "?-2004-06-%11",
    "-2004-?06-11",
    "2004?-%06",
    "?2004-06~-11",
    # qualification together with other level 1 and 2 features
    "201X?",
    "2001-21?",
    "2001-?34",
    "156X-12-~25",
    # unspecified digits anywhere within a component
    "156X-12-25",
    "15XX-12-25",
    "XXXX-12-XX",
    "1XXX-XX",
    "1XXX-12",
    "1984-1X",
    "1985-1X-X5",
    "1985-XX-12",
    "201X-XX",
    "1XXX",
    "XXXX",
    "X9X9",
    "20X0-10-02",
    "1X99-01-XX",
    "-156X-12-25",
    "-XXXX-12-XX",
    "-1984-1X",
    "19XX-02-29",  # some year of the 1900s is a leap year
    "1X00-02-29",  # 1200 and 1600 are
    "1985-04-3X",  # the 30th
    "1985-X2",  # February or December
    "2001-X1",
    "201X-21",
    # intervals of level 2 dates
    "2004-06-~01/2004-06-~20",
    "-2004-06-?01/2006-06-~20",
    "2019-12/%2020",
    "1984?-06/2004-08?",
    "2003-06-11%/2004-%06",
    "1984?/2004~-06",
    "?2004-06~-10/2004-06-%11",
    "2003-06-25/2004-X1-03",
    "20X3-06-25/2004-X1-03",
    "XXXX-12-21/1890-09-2X",
    "2004-06-3X/2004-06-30",
    "1950S2/1920",  # 1900-1999 may begin before 1920
    "Y-17E7/2000",
    "2001-34/2001-35",
    "2001-30/2002-02",  # the southern summer runs into February
    "1XXX/..",
    "/2001-41",
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
    "2001-20",
    "1984??",
    "1984?~",
    "2004-13-XX",
    "Y170000002?",  # qualifiers go with calendar dates only
    # exponential years and significant digits
    "Y-17E-7",
    "Y17E0",
    "Y17E07",
    "Y17E",
    "Y017E7",
    "Y0E7",
    "Y17e7",
    "17E7",
    "Y-17E7-12",
    "1950S0",
    "1950S02",
    "1950S",
    "1950s2",
    "195XS2",  # no unspecified digits with significant digits
    "1950S2-12",
    "1950S2~",
    "Y1234S2",  # `Y` still needs more than four digits
    "-0000S2",
    "195S2",
    # sub-year groupings
    "2001-42",
    "2001-99",
    "2001-21-01",
    "2001-2X",
    "-0000-21",
    "2001-21^southernHemisphere",
    # qualification
    "2004?~-06",
    "??2004",
    "?2004?",  # both sides of one component: `%` says uncertain and approximate
    "2004-~06~",
    "2004-06-~11?",
    "-?2004",  # the qualifier goes before the sign
    "2004-?-06",
    "2004?06",
    "2004-06?11",
    "2004-06-11-?",
    "2004-06-11?-",
    "?",
    "%",
    "~1985-04-12T23:20:30",
    "1985-04-12T23:20:30?",
    # unspecified digits
    "1985-13-XX",
    "1985-1X-32",
    "1985-02-3X",  # February has no 30th or 31st
    "XXXX-02-30",
    "X900-02-29",  # no year ending in 900 is a leap year
    "1985-00",
    "1985-X0-00",
    "1985-3X",
    "1985-X-12",
    "1985-04-X",
    "XXX",
    "XXXXX",
    "x985",
    "-0000-XX",
    "1985-XX-XX-XX",
    # sets
    "[]",
    "{}",
    "[1667",
    "1667]",
    "[1667,1668}",
    "{1667,1668]",
    "[1667,,1668]",
    "[1667,]",
    "[,1667]",
    "[1667, 1668]",
    " [1667,1668]",
    "[1667,1668] ",
    "[..]",
    "{..}",
    "[..1984..]",
    "[1667,..1668]",  # `..` starts the first member only
    "[1667..,1668]",  # and ends the last one only
    "[....1984]",
    "[1670...1672]",
    "[1670..1672..1674]",
    "[1672..1670]",  # a range must not end before it starts
    "[1670..1672-05]",  # nor change precision
    "[1670-01..1672]",
    "[2001-21..2001-05]",
    "[1667,1668-02-30]",
    "[1667,1985-13]",
    "[1667/1668]",
    "[[1667]]",
    "[1667,{1668}]",
    "[1985-04-12T23:20:30]",
    "[1667,1668]/1670",  # sets are no interval ends
    "1667/[1668,1670]",
    "[1667,1668]~",
    "(1667,1668)",
    # intervals of level 2 dates
    "2004-06-~20/2004-06-~01",
    "2004-06-XX/2004-05-03",
    "2004-06-3X/2004-06-29",
    "2004-02-3X/2005",
    "2004-06-~01/2004-06-~31",
    "1950S2/1899",
    "2000/Y-17E7",
    "2001-35/2001-34",
    "201X/2009",
    "2004?~/2005",
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


@pytest.mark.parametrize("text", LEVEL_2)
def test_level_2(text):
    assert edtf_level(text) == 2
    assert is_edtf(text)
    assert is_edtf(text, level=2)
    assert not is_edtf(text, level=1)


@pytest.mark.parametrize("text", INVALID)
def test_not_edtf(text):
    assert edtf_level(text) is None
    assert not is_edtf(text)
    assert not is_edtf(text, level=2)


def test_level_2_is_accepted_by_default():
    # The `edtf: true` rule of content models calls `is_edtf(value)`.
    assert is_edtf("[1667,1668]")
    assert not is_edtf("[1667,1668]", level=1)


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


def test_level_2_dates_are_ordered_by_their_extent():
    # 1950S2 is 1900-1999; Y3388E2S3 is 338000-338999; 156X is the 1560s.
    assert is_edtf("1950S2/1999")
    assert not is_edtf("1950S2/1899")
    assert is_edtf("Y3388E2S3/Y338000")
    assert not is_edtf("Y3388E2S3/Y337999")
    assert is_edtf("156X-12-25/1569-12-25")
    assert not is_edtf("156X-12-25/1560-12-24")
    # XXXX-12-21 may be 0000-12-21; 1890-09-2X may be 1890-09-29.
    assert is_edtf("XXXX-12-21/1890-09-2X")
    assert not is_edtf("1890-09-3X/1890-09-2X")
    # Quarters, quadrimesters and semesters.
    assert is_edtf("2001-36/2001-12")
    assert not is_edtf("2001-36/2001-09")
    assert is_edtf("2001-40/2001-06-30")
    assert not is_edtf("2001-41/2001-06-30")
    assert is_edtf("[2001-33..2001-36]")
    assert not is_edtf("[2001-36..2001-33]")


def test_huge_years_do_not_overflow():
    assert edtf_level("Y1E" + "9" * 5000) == 2
    assert edtf_level("Y" + "1" * 5000) == 1
    assert edtf_level("Y" + "1" * 5000 + "S3") == 2
    assert edtf_level("Y1E999999/Y2E999999") == 2
    assert edtf_level("Y1E2000S1/2000") == 2
