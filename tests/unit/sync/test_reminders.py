"""next_occurrence keeps the local wall-clock time in the reminder's zone."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

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
