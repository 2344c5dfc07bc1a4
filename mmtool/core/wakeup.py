"""A live adapter's wake-up: a ``Timer`` event when its clock reaches a requested time.

The runner tells a live adapter when the engine next needs to see time pass (``Engine.next_wake_ns``: the moment a
risk check such as stale market data would change its verdict with no other event). Periodic timers alone would
run that check up to one timer interval late. :class:`WakeUp` keeps one asyncio timer armed at the earliest time
asked for; the latest request wins, so a request that moves later (fresh market data pushes the stale-data
deadline back with every book) costs nothing until the armed timer fires, looks again, and re-arms for the time
then wanted. A wake-up emits ``Timer(now, now)`` on the adapter's clock, like the adapter's own timers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from mmtool.core.clock import NS_PER_S, Clock
from mmtool.core.types import Event, Timer


class WakeUp:
    """Emits a ``Timer`` through ``emit`` once ``clock`` reaches the last time given to :meth:`at`."""

    def __init__(self, clock: Clock, emit: Callable[[Event], None]) -> None:
        self.clock = clock
        self._emit = emit
        self._due: int | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._armed_ns = 0
        #: Timer events emitted so far.
        self.fired = 0

    @property
    def due_ns(self) -> int | None:
        """The time a Timer is wanted at (clock ns), or None."""
        return self._due

    def at(self, ts_ns: int | None) -> None:
        """Want a Timer at ``ts_ns`` (clock ns) instead of any earlier request; None wants none. Needs a running
        event loop when ``ts_ns`` is not None."""
        self._due = ts_ns
        if ts_ns is None:
            return
        if self._handle is not None and self._armed_ns <= ts_ns:
            return  # armed earlier: it will look again when it fires
        self._arm(ts_ns)

    def cancel(self) -> None:
        """Drop any wake-up (when the adapter closes)."""
        self._due = None
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _arm(self, ts_ns: int) -> None:
        if self._handle is not None:
            self._handle.cancel()
        delay_s = max(ts_ns - self.clock.now_ns(), 0) / NS_PER_S
        self._handle = asyncio.get_running_loop().call_later(delay_s, self._fire)
        self._armed_ns = ts_ns

    def _fire(self) -> None:
        self._handle = None
        due = self._due
        if due is None:
            return
        now = self.clock.now_ns()
        if now < due:
            self._arm(due)  # the request moved later, or the loop's timer ran a hair ahead of the clock
            return
        self._due = None
        self.fired += 1
        self._emit(Timer(now, now))
