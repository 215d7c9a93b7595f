"""How hard to try: what an answer means (delivered, gone, worth retrying, failed), how long to wait before the
next attempt, and the two profiles, a reminder's and a test message's."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

from server.push.transport import Timeouts


class Outcome(StrEnum):
    DELIVERED = "delivered"
    GONE = "gone"
    """404/410: the subscription has ended; the caller deletes it."""
    RETRY = "retry"
    FAILED = "failed"


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    """The longest single wait, Retry-After included: a push service asking for more is recorded as a failure."""

    def delay(self, attempts: int, retry_after: float | None) -> float | None:
        """Seconds to wait before the next attempt, or None when it is time to give up."""
        if attempts >= self.max_attempts:
            return None
        if retry_after is not None:
            return retry_after if retry_after <= self.max_delay else None
        backoff = self.base_delay * 2 ** (attempts - 1)
        # Jitter spreads the retries of a burst that failed together over time.
        return min(backoff * random.uniform(0.8, 1.2), self.max_delay)


@dataclass(frozen=True)
class Profile:
    """How hard to try: a reminder is retried for minutes; a test message is one quick attempt, so that a user's
    slow endpoints cannot keep the sender busy with tests."""

    policy: RetryPolicy = field(default_factory=RetryPolicy)
    timeouts: Timeouts = field(default_factory=Timeouts)


REMINDER = Profile()
TEST = Profile(RetryPolicy(max_attempts=1), Timeouts(connect=3.0, exchange=3.0))


def classify(status: int) -> Outcome:
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status in (404, 410):
        return Outcome.GONE
    if status == 429 or status >= 500:
        return Outcome.RETRY
    return Outcome.FAILED


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Retry-After as delay-seconds or an HTTP date (RFC 9110 10.2.3); None when absent or unreadable."""
    if not value or not value.strip():
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
