"""Repeated warnings, held to one per key per interval of event time, each saying how many it stands for.

A condition that holds on every event (every order refused for the same reason, every book of a thin market
missing a side) would otherwise write hundreds of identical lines a second and bury everything else. The
first occurrence of a key is always logged; later ones within ``interval_ns`` of the last logged one are
counted instead, and the next one logged carries that count. Time is the caller's (an event's timestamp), so
a replay logs the same lines as the session it replays.
"""

from __future__ import annotations

from collections.abc import Hashable

#: Default interval between two records of one key: 10 s.
DEFAULT_INTERVAL_NS = 10_000_000_000


class LogLimiter:
    """Decides, per key, whether a warning is logged now or counted for the next record of that key."""

    def __init__(self, interval_ns: int = DEFAULT_INTERVAL_NS) -> None:
        if interval_ns < 0:
            raise ValueError(f"interval_ns must be >= 0 (got {interval_ns})")
        self.interval_ns = interval_ns
        self._last: dict[Hashable, int] = {}
        self._held: dict[Hashable, int] = {}

    def allow(self, key: Hashable, now_ns: int) -> int | None:
        """None to hold this occurrence back; otherwise log it, saying it also stands for the returned number of
        occurrences held back since the last record of ``key`` (0 for none)."""
        last = self._last.get(key)
        if last is not None and now_ns - last < self.interval_ns:
            self._held[key] = self._held.get(key, 0) + 1
            return None
        self._last[key] = now_ns
        return self._held.pop(key, 0)

    def held(self, key: Hashable) -> int:
        """Occurrences of ``key`` held back and not yet reported."""
        return self._held.get(key, 0)


def held_note(held: int) -> str:
    """The suffix of a record that stands for ``held`` more: ``""`` or ``" (+12 more like it since the last)"``."""
    return f" (+{held} more like it since the last)" if held else ""
