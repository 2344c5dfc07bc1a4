"""WakeUp: a Timer event when the clock reaches the time asked for, the latest request winning."""

from __future__ import annotations

import asyncio

from mmtool.core.clock import NS_PER_MS, WallClock
from mmtool.core.types import Timer
from mmtool.core.wakeup import WakeUp


def collect() -> tuple[WakeUp, list[Timer]]:
    timers: list[Timer] = []
    return WakeUp(WallClock(), timers.append), timers


def test_a_timer_arrives_when_the_clock_reaches_the_time_and_not_before() -> None:
    async def body() -> None:
        wake, timers = collect()
        due = wake.clock.now_ns() + 40 * NS_PER_MS
        wake.at(due)
        await asyncio.sleep(0.02)
        assert timers == [], "nothing before the time"
        await asyncio.sleep(0.06)
        assert len(timers) == 1 and timers[0].ts_local_ns >= due and wake.fired == 1
        assert timers[0].ts_local_ns - due < 30 * NS_PER_MS
        assert wake.due_ns is None
        await asyncio.sleep(0.05)
        assert len(timers) == 1, "one Timer per request"

    asyncio.run(body())


def test_a_later_request_moves_the_wake_up_and_an_earlier_one_brings_it_forward() -> None:
    async def body() -> None:
        wake, timers = collect()
        now = wake.clock.now_ns()
        wake.at(now + 30 * NS_PER_MS)
        wake.at(now + 80 * NS_PER_MS)  # fresh data pushed the deadline back: the armed timer re-arms when it fires
        await asyncio.sleep(0.05)
        assert timers == []
        await asyncio.sleep(0.06)
        assert len(timers) == 1 and timers[0].ts_local_ns >= now + 80 * NS_PER_MS

        now = wake.clock.now_ns()
        wake.at(now + 200 * NS_PER_MS)
        wake.at(now + 20 * NS_PER_MS)
        await asyncio.sleep(0.06)
        assert len(timers) == 2 and timers[1].ts_local_ns < now + 200 * NS_PER_MS

    asyncio.run(body())


def test_none_and_cancel_want_no_timer_and_a_past_time_fires_at_once() -> None:
    async def body() -> None:
        wake, timers = collect()
        now = wake.clock.now_ns()
        wake.at(now + 20 * NS_PER_MS)
        wake.at(None)
        wake.at(now + 25 * NS_PER_MS)
        wake.cancel()
        await asyncio.sleep(0.06)
        assert timers == [] and wake.due_ns is None
        wake.at(now - NS_PER_MS)
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        assert len(timers) == 1

    asyncio.run(body())
