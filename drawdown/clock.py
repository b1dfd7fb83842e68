"""Time as an input (X-3): services read ``now`` from a clock that tests control."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    """Something that tells the current time, always timezone-aware UTC."""

    def now(self) -> datetime: ...


class SystemClock:
    """The wall clock."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FrozenClock:
    """A clock that only moves when told to; for tests."""

    def __init__(self, at: datetime) -> None:
        self._lock = threading.Lock()
        self._now = ensure_utc(at)

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def set(self, at: datetime) -> None:
        with self._lock:
            self._now = ensure_utc(at)

    def advance(self, by: timedelta) -> datetime:
        with self._lock:
            self._now += by
            return self._now


def ensure_utc(moment: datetime) -> datetime:
    """Reject naive datetimes (ambiguous) and normalise aware ones to UTC."""
    if moment.tzinfo is None:
        raise ValueError("naive datetime: timestamps must carry a timezone")
    return moment.astimezone(UTC)
