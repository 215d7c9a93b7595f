"""Repeating reminders: the next occurrence keeps its local wall-clock time in the reminder's zone.

A 09:00 daily reminder in Europe/Paris stays at 09:00 local across daylight-saving changes, so its UTC instant moves.
zoneinfo reads the system tz database; it has no clock and no network.

The series is defined step by step (each occurrence's wall-clock time is the previous one's plus a day, a week or a
month), but computed by jumping: a reminder first set in year 1 is as cheap as one set yesterday (under a
millisecond), because the scheduler computes it on the event loop.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

STEPS = {"daily": timedelta(days=1), "weekly": timedelta(weeks=1)}
FIRST_STEP = {**STEPS, "monthly": timedelta(days=31)}
"""From 31 December to the first occurrence in January (see _first_step)."""
MARGIN = timedelta(days=3)
"""The jump stops this far before `after`: more than any zone's offset (at most about 16 hours, LMT included)
can move a wall-clock time against UTC, so no occurrence skipped by the jump can be later than `after`."""


def zone(name: str) -> ZoneInfo | None:
    """The IANA zone called `name`, or None if there is no such zone (names like '../x' are refused too)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def next_occurrence(at: datetime, repeat: str, tz: str, *, after: datetime | None = None) -> datetime | None:
    """The first occurrence of a reminder repeating from `at` that is strictly later than `after` (default: `at`).

    Returns an aware UTC datetime, or None for `repeat == "none"` (and when that occurrence would be after year
    9999). Monthly reminders keep the day of the month, falling back to the month's last day (Jan 31 -> Feb 28 ->
    Mar 28: the series follows the last date it used). A local time that does not exist on the target day (spring
    forward) moves forward by the gap; an ambiguous one (fall back) takes the first of its two instants.
    """
    if repeat == "none":
        return None
    if repeat not in FIRST_STEP:
        raise ValueError(f"unknown repeat {repeat!r}")
    place = zone(tz) or UTC
    after = after or at
    try:
        local = _jump(_first_step(at, repeat, place), repeat, after.astimezone(UTC).replace(tzinfo=None))
        while True:
            candidate = local.replace(tzinfo=place).astimezone(UTC)
            if candidate > after:
                return candidate
            local = _step(local, repeat)
    except OverflowError:
        return None  # past 9999-12-31: there is no next occurrence


def _first_step(at: datetime, repeat: str, place: tzinfo) -> datetime:
    """The wall-clock time of the occurrence after `at`."""
    try:
        return _step(at.astimezone(place).replace(tzinfo=None), repeat)
    except OverflowError:
        if at.astimezone(UTC).year != 1:
            raise
    # In the first hours of year 1 (UTC), west of Greenwich, the local time is on 31 December of year 0, which a
    # datetime cannot hold. The next day, week or month (31 December -> 31 January) is within range: step in UTC,
    # then add the zone's offset, which is fixed that long ago (local mean time).
    utc = at.astimezone(UTC).replace(tzinfo=None) + FIRST_STEP[repeat]
    offset = place.utcoffset(utc) or timedelta(0)
    return utc + offset


def _jump(local: datetime, repeat: str, after_utc: datetime) -> datetime:
    """The wall-clock time of a later occurrence of the series through `local`, no later than MARGIN before
    `after_utc` (a naive UTC time): the same as stepping there one day, week or month at a time."""
    if repeat in STEPS:
        steps = (after_utc - local - MARGIN) // STEPS[repeat]
        return local + STEPS[repeat] * steps if steps > 0 else local
    # Stop two months short (one would do): the occurrence in the month before `after`'s can still be later than
    # `after` once read in UTC (late on the 31st, west of Greenwich), so the jump must not pass it.
    months = (after_utc.year - local.year) * 12 + after_utc.month - local.month - 2
    return _add_months(local, months) if months > 0 else local


def _add_months(local: datetime, months: int) -> datetime:
    """`months` monthly steps at once. The day of the month only ever falls (to a short month's last day), and
    once at 28 or below it stays: at most two years of months need looking at, however many are skipped."""
    day, start = local.day, local.year * 12 + local.month - 1
    for index in range(start + 1, start + months + 1):
        if day <= 28:
            break
        year, month0 = divmod(index, 12)
        day = min(day, calendar.monthrange(year, month0 + 1)[1])
    year, month0 = divmod(start + months, 12)
    if year > 9999:
        raise OverflowError("after year 9999")
    return local.replace(year=year, month=month0 + 1, day=day)


def _step(local: datetime, repeat: str) -> datetime:
    if repeat in STEPS:
        return local + STEPS[repeat]
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    if year > 9999:
        raise OverflowError("after year 9999")
    return local.replace(year=year, month=month, day=min(local.day, calendar.monthrange(year, month)[1]))
