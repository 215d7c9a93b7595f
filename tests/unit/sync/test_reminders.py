"""next_occurrence keeps the local wall-clock time in the reminder's zone, and jumps to it at any distance."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.reminders import next_occurrence, zone


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


CASES = [
    # (at, repeat, tz, after, expected)
    (utc(2026, 3, 28, 8), "daily", "Europe/Paris", None, utc(2026, 3, 29, 7)),  # 09:00 CET -> 09:00 CEST
    (utc(2026, 10, 24, 7), "daily", "Europe/Paris", None, utc(2026, 10, 25, 8)),  # 09:00 CEST -> 09:00 CET
    (utc(2026, 3, 6, 14), "weekly", "America/New_York", None, utc(2026, 3, 13, 13)),  # 09:00 EST -> 09:00 EDT
    (utc(2026, 1, 31, 12), "monthly", "UTC", None, utc(2026, 2, 28, 12)),  # no Feb 31: the month's last day
    (utc(2026, 12, 15, 12), "monthly", "UTC", None, utc(2027, 1, 15, 12)),
    (utc(2026, 1, 1, 9), "daily", "UTC", utc(2026, 1, 10, 12), utc(2026, 1, 11, 9)),  # missed days are skipped
    (utc(2026, 3, 28, 1, 30), "daily", "Europe/Paris", None, utc(2026, 3, 29, 1, 30)),  # 02:30 does not exist: 03:30
    (utc(2026, 1, 1, 9), "daily", "Not/AZone", None, utc(2026, 1, 2, 9)),  # an unknown zone counts as UTC
]


@pytest.mark.parametrize(("at", "repeat", "tz", "after", "expected"), CASES)
def test_next_occurrence(at: datetime, repeat: str, tz: str, after: datetime | None, expected: datetime) -> None:
    assert next_occurrence(at, repeat, tz, after=after) == expected


def test_none_does_not_repeat() -> None:
    assert next_occurrence(utc(2026, 1, 1), "none", "UTC") is None


def test_unknown_repeat() -> None:
    with pytest.raises(ValueError, match="yearly"):
        next_occurrence(utc(2026, 1, 1), "yearly", "UTC")


@pytest.mark.parametrize(
    ("name", "valid"),
    [
        ("Europe/Paris", True),
        ("UTC", True),
        ("Mars/Olympus", False),
        ("../../etc/passwd", False),
        ("Europe", False),
        ("", False),
    ],
)
def test_zone(name: str, valid: bool) -> None:
    assert (zone(name) is not None) is valid


# ------------------------------------------------------------------------ the jump agrees with stepping one at a time
def stepwise(at: datetime, repeat: str, tz: str, after: datetime | None = None) -> datetime | None:
    """The definition, one day, week or month at a time (what next_occurrence did before it jumped)."""
    if repeat == "none":
        return None
    place = zone(tz) or UTC
    after = after or at
    local = at.astimezone(place).replace(tzinfo=None)
    while True:
        if repeat == "monthly":
            year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
            local = local.replace(year=year, month=month, day=min(local.day, calendar.monthrange(year, month)[1]))
        else:
            local += timedelta(days=1 if repeat == "daily" else 7)
        candidate = local.replace(tzinfo=place).astimezone(UTC)
        if candidate > after:
            return candidate


ZONES = [
    "UTC",
    "Europe/Paris",
    "Europe/London",
    "America/New_York",
    "America/Santiago",  # DST in the southern summer
    "Australia/Lord_Howe",  # a 30-minute DST shift
    "Pacific/Apia",  # skipped 30 December 2011 entirely
    "Pacific/Chatham",
    "Africa/Casablanca",  # DST suspended during Ramadan, several changes a year
    "Asia/Manila",  # LMT of -15:56 until 1844, then a day's jump
    "America/Sitka",  # LMT of +14:58 until 1867
    "Asia/Kolkata",
]


@st.composite
def series(draw: st.DrawFn) -> tuple[datetime, str, str, datetime | None]:
    tz = draw(st.sampled_from(ZONES))
    repeat = draw(st.sampled_from(["daily", "weekly", "monthly"]))
    # Drawn as a local wall-clock time, so that days 29-31 and the hours around a change are common.
    local = _local(draw)
    at = local.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)
    # `after` anywhere, or within hours of a later occurrence: where a jump that stopped too close to `after` would
    # skip the occurrence it should return.
    later = _months_later(local, draw(st.integers(0, 300))).replace(tzinfo=ZoneInfo(tz)).astimezone(UTC)
    near = later - draw(
        st.one_of(
            st.timedeltas(timedelta(0), timedelta(hours=6)),
            st.timedeltas(max_value=timedelta(days=2), min_value=timedelta(days=-2)),
        )
    )
    span = draw(st.timedeltas(timedelta(days=-40), timedelta(days=366 * 25)))
    after = draw(st.sampled_from([None, at + span, near]))
    return at, repeat, tz, after


def _months_later(local: datetime, months: int) -> datetime:
    year, month0 = divmod(local.year * 12 + local.month - 1 + months, 12)
    return local.replace(year=year, month=month0 + 1, day=min(local.day, calendar.monthrange(year, month0 + 1)[1]))


def _local(draw: st.DrawFn) -> datetime:
    year, month = draw(st.integers(1800, 2100)), draw(st.integers(1, 12))
    last = calendar.monthrange(year, month)[1]
    day = draw(st.one_of(st.integers(max(1, last - 3), last), st.integers(1, last)))
    hour = draw(st.one_of(st.sampled_from([0, 1, 2, 3, 23]), st.integers(0, 23)))
    return datetime(year, month, day, hour, draw(st.sampled_from([0, 30, 59])), fold=draw(st.integers(0, 1)))


EDGES = [
    # An occurrence late on the last day of a month, west of Greenwich, is already in the next month in UTC: a jump
    # that stopped in the month of `after` (read in UTC) would skip it.
    (datetime(2025, 12, 31, 23, tzinfo=ZoneInfo("America/New_York")), "monthly", datetime(2026, 2, 1, 1, tzinfo=UTC)),
    (datetime(2025, 12, 31, 23, tzinfo=ZoneInfo("America/New_York")), "daily", datetime(2026, 2, 1, 1, tzinfo=UTC)),
    # East of Greenwich the other way round: early on the 1st is still the previous month in UTC.
    (datetime(2025, 12, 1, 0, 30, tzinfo=ZoneInfo("Asia/Kolkata")), "monthly", datetime(2026, 1, 31, 18, tzinfo=UTC)),
    # 1844 in Manila: 31 December did not happen, the clock went from -15:56 to +8:04.
    (datetime(1844, 11, 30, 12, tzinfo=ZoneInfo("Asia/Manila")), "monthly", datetime(1844, 12, 30, tzinfo=UTC)),
    (datetime(1844, 12, 29, 12, tzinfo=ZoneInfo("Asia/Manila")), "daily", datetime(1844, 12, 30, tzinfo=UTC)),
    (datetime(2011, 12, 28, 9, tzinfo=ZoneInfo("Pacific/Apia")), "daily", datetime(2011, 12, 29, 21, tzinfo=UTC)),
    (datetime(2024, 1, 31, 9, tzinfo=ZoneInfo("Europe/Paris")), "monthly", datetime(2026, 3, 1, tzinfo=UTC)),
    (datetime(2024, 2, 29, 9, tzinfo=ZoneInfo("Europe/Paris")), "monthly", datetime(2030, 3, 1, tzinfo=UTC)),
]


@pytest.mark.parametrize(("at", "repeat", "after"), EDGES)
def test_the_jump_at_the_edges(at: datetime, repeat: str, after: datetime) -> None:
    tz = str(at.tzinfo)
    assert next_occurrence(at, repeat, tz, after=after) == stepwise(at, repeat, tz, after)


@settings(max_examples=400, deadline=None)
@given(series())
def test_the_jump_matches_stepping(case: tuple[datetime, str, str, datetime | None]) -> None:
    at, repeat, tz, after = case
    assert next_occurrence(at, repeat, tz, after=after) == stepwise(at, repeat, tz, after)


NOW = datetime(2026, 11, 27, 17, 5, tzinfo=UTC)


@pytest.mark.parametrize("repeat", ["daily", "weekly", "monthly"])
@pytest.mark.parametrize("tz", ["Europe/Paris", "America/New_York"])
def test_a_year_1_reminder_matches_stepping_and_comes_after_now(repeat: str, tz: str) -> None:
    at = datetime(1, 1, 3, 9, 30, tzinfo=UTC)
    following = next_occurrence(at, repeat, tz, after=NOW)
    assert following == stepwise(at, repeat, tz, NOW)
    now = datetime.now(UTC)
    assert following is not None
    assert next_occurrence(at, repeat, tz, after=now) > now  # type: ignore[operator]


@pytest.mark.parametrize(
    ("repeat", "expected"),
    [
        ("daily", datetime(1, 1, 2, tzinfo=UTC)),
        ("weekly", datetime(1, 1, 8, tzinfo=UTC)),
        ("monthly", datetime(1, 2, 1, tzinfo=UTC)),  # 31 Dec of year 0, local -> 31 Jan of year 1
    ],
)
def test_first_hours_of_year_1_west_of_greenwich(repeat: str, expected: datetime) -> None:
    """Local time is still in year 0 there, which a datetime cannot hold; stepping from it cannot even start."""
    at = datetime(1, 1, 1, tzinfo=UTC)
    assert next_occurrence(at, repeat, "America/New_York") == expected
    assert next_occurrence(at, repeat, "America/New_York", after=NOW) == stepwise(
        expected, repeat, "America/New_York", NOW
    )


def test_no_occurrence_after_year_9999() -> None:
    assert next_occurrence(datetime(9999, 12, 31, 12, tzinfo=UTC), "daily", "UTC") is None
    assert next_occurrence(datetime(9999, 12, 15, 12, tzinfo=UTC), "monthly", "Europe/Paris") is None
    assert next_occurrence(datetime(9999, 12, 20, 12, tzinfo=UTC), "daily", "UTC") == datetime(
        9999, 12, 21, 12, tzinfo=UTC
    )
