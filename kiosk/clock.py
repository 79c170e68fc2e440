"""Time, injectable: the apps ask their clock, and tests give them one they can move."""

from __future__ import annotations

import datetime as dt


class Clock:
    """The real time in UTC."""

    def now(self) -> dt.datetime:
        """The current moment, aware, in UTC."""
        return dt.datetime.now(dt.UTC)


class FrozenClock(Clock):
    """A clock that stands still until moved (tests)."""

    def __init__(self, start: dt.datetime) -> None:
        if start.tzinfo is None:
            raise ValueError("give the frozen clock a time zone")
        self._now = start.astimezone(dt.UTC)

    def now(self) -> dt.datetime:
        """The frozen moment."""
        return self._now

    def set(self, when: dt.datetime) -> None:
        """Jump to a moment."""
        self._now = when.astimezone(dt.UTC)

    def advance(self, **delta: float) -> None:
        """Move forward, e.g. ``advance(minutes=5)``."""
        self._now += dt.timedelta(**delta)
