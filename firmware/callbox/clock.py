"""Time is an input.

Every rule that depends on the hour (quiet hours, frequency caps, permit expiry, retention) asks a
``Clock`` instead of calling ``datetime.now()``. Production uses :class:`SystemClock`; tests use
:class:`FixedClock`; the demo uses :class:`OffsetClock` so it can pretend to run at 10:00 on a
weekday while still letting real seconds pass.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Protocol


class Clock(Protocol):
    """Anything that can tell the current instant as an aware UTC datetime."""

    def now(self) -> datetime: ...


class SystemClock:
    """The machine's clock, always returned as aware UTC."""

    def now(self) -> datetime:
        return datetime.now(timezone.utc)


class FixedClock:
    """A clock that only moves when told to (for tests)."""

    def __init__(self, at: datetime) -> None:
        self._at = as_utc(at)

    def now(self) -> datetime:
        return self._at

    def set(self, at: datetime) -> None:
        self._at = as_utc(at)

    def advance(self, **delta: float) -> None:
        self._at += timedelta(**delta)


class OffsetClock:
    """Starts at a chosen instant and then advances with real (monotonic) time."""

    def __init__(self, start: datetime) -> None:
        self._start = as_utc(start)
        self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=time.monotonic() - self._t0)


def as_utc(at: datetime) -> datetime:
    """Return ``at`` as aware UTC; naive datetimes are refused because their zone is a guess."""
    if at.tzinfo is None:
        raise ValueError(f"naive datetime {at.isoformat()} has no time zone; give an offset like +08:00")
    return at.astimezone(timezone.utc)


def parse_instant(text: str) -> datetime:
    """Parse an ISO 8601 instant with an offset (``2026-03-02T10:00:00+08:00`` or ``...Z``)."""
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return as_utc(value)
