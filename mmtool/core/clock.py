"""Injected clocks: the only way the core learns the time."""

from __future__ import annotations

import time
from typing import Protocol

#: Nanoseconds per second and per millisecond: clocks and event stamps count nanoseconds.
NS_PER_S = 1_000_000_000
NS_PER_MS = 1_000_000


class Clock(Protocol):
    """A source of time in nanoseconds since the epoch."""

    def now_ns(self) -> int:
        """Current time in ns."""
        ...


class WallClock:
    """The machine's real time, for live trading."""

    def now_ns(self) -> int:
        """Current wall time in ns."""
        return time.time_ns()


class ManualClock:
    """A clock that only moves when told to: the simulator's and the backtester's time."""

    def __init__(self, start_ns: int = 0) -> None:
        self._now = start_ns

    def now_ns(self) -> int:
        """The time last set."""
        return self._now

    def advance_to(self, ts_ns: int) -> None:
        """Move the clock forward to ``ts_ns``; it never goes backwards."""
        if ts_ns > self._now:
            self._now = ts_ns
