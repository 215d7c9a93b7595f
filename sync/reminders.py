"""Repeating reminders: the next occurrence keeps its local wall-clock time in the reminder's zone.

A 09:00 daily reminder in Europe/Paris stays at 09:00 local across daylight-saving changes, so its UTC instant moves.
zoneinfo reads the system tz database; it has no clock and no network.
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

STEPS = {"daily": timedelta(days=1), "weekly": timedelta(weeks=1)}


def zone(name: str) -> ZoneInfo | None:
    """The IANA zone called `name`, or None if there is no such zone (names like '../x' are refused too)."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        return None


def next_occurrence(at: datetime, repeat: str, tz: str, *, after: datetime | None = None) -> datetime | None:
    """The first occurrence of a reminder repeating from `at` that is strictly later than `after` (default: `at`).

    Returns an aware UTC datetime, or None for `repeat == "none"`. Monthly reminders keep the day of the month,
    falling back to the month's last day (Jan 31 -> Feb 28 -> Mar 28: the series follows the last date it used).
    A local time that does not exist on the target day (spring forward) moves forward by the gap; an ambiguous one
    (fall back) takes the first of its two instants.
    """
    if repeat == "none":
        return None
    if repeat not in (*STEPS, "monthly"):
        raise ValueError(f"unknown repeat {repeat!r}")
    place = zone(tz) or UTC
    after = after or at
    local = at.astimezone(place).replace(tzinfo=None)
    while True:
        local = _step(local, repeat)
        candidate = local.replace(tzinfo=place).astimezone(UTC)
        if candidate > after:
            return candidate


def _step(local: datetime, repeat: str) -> datetime:
    if repeat in STEPS:
        return local + STEPS[repeat]
    year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
    return local.replace(year=year, month=month, day=min(local.day, calendar.monthrange(year, month)[1]))
