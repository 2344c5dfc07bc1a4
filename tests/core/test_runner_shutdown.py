"""The runner's shutdown after a kill: the flatten, and fills that reach it after their order's end."""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal

import attrs
import pytest
from venue_doubles import FlatVenue

from mmtool.core.clock import ManualClock
from mmtool.core.components import ComponentContext
from mmtool.core.config import Settings
from mmtool.core.errors import KillSwitchEngaged
from mmtool.core.plugins import load_registry
from mmtool.core.rounding import AssetRules
from mmtool.core.runner import Runner, RunOptions
from mmtool.core.session import build_engine, check_kill_marker
from mmtool.core.types import (
    Action,
    BookLevel,
    BookUpdate,
    Event,
    Fill,
    L2Book,
    Liquidity,
    OrderStatus,
    OrderUpdate,
    Place,
    Position,
    Timer,
)

T0 = 1_760_000_000_000_000_000
MS = 1_000_000
START = Decimal("0.3")


class LateFillExchange(FlatVenue):
    """Answers a reduce-only IOC with its order's end at once and its fill ``fill_after`` timer ticks later, as the
    local exchange's socket did (the order update and the fill are separate messages)."""

    name = "late-fill"

    def __init__(self, fill_after: int) -> None:
        self.clock = ManualClock(T0)
        self.fill_after = fill_after
        self.position_now = START
        self._queue: deque[Event] = deque([self._book(T0 + MS)])
        self._pending: list[tuple[int, Fill]] = []

    @staticmethod
    def _book(ts: int) -> BookUpdate:
        bids = (BookLevel(Decimal("3499.9"), Decimal(5)),)
        asks = (BookLevel(Decimal("3500.1"), Decimal(5)),)
        return BookUpdate("ETH", L2Book(bids, asks), ts, ts)

    async def events(self) -> AsyncIterator[Event]:
        tick = 0
        while True:
            if not self._queue:
                tick += 1
                self._queue.append(Timer(T0 + 10 * MS * tick, T0 + 10 * MS * tick))
                for due, fill in list(self._pending):
                    if tick >= due:
                        self._pending.remove((due, fill))
                        self._queue.append(fill)
            event = self._queue.popleft()
            self.clock.advance_to(max(self.clock.now_ns(), event.ts_local_ns))
            yield event
            await asyncio.sleep(0)

    async def submit(self, actions: Sequence[Action]) -> None:
        for action in actions:
            if isinstance(action, Place):
                ts = self.clock.now_ns()
                self._queue.append(OrderUpdate("ETH", action.cloid, OrderStatus.FILLED, ts, ts, oid=1,
                                               filled_size=action.size))
                fill = Fill("ETH", action.cloid, 1, "flatten-1", action.side, Decimal("3499.9"), action.size,
                            Decimal("0.05"), Liquidity.TAKER, ts, ts)
                self._pending.append((self.fill_after, fill))
                self.position_now -= action.size

    async def position(self) -> Position:
        return Position("ETH", self.position_now, None)


def _killed_engine():
    settings = Settings()
    registry = load_registry()
    engine = build_engine(settings, registry, ComponentContext("ETH", AssetRules("ETH", 4), settings))
    engine.portfolio.reset_position(START, Decimal(3500))
    engine.risk.kill("test", {}, T0)
    return engine


def test_a_flatten_fill_that_arrives_after_its_order_ended_is_in_the_summary() -> None:
    engine = _killed_engine()
    exchange = LateFillExchange(fill_after=3)
    runner = Runner(engine, exchange, RunOptions(flatten_on_kill=True))  # type: ignore[arg-type]
    result = asyncio.run(runner.run())
    assert result.stop_reason.startswith("kill switch")
    assert result.exchange_position == 0
    assert engine.position == 0, "the fill that came after its order's end was waited for"
    assert engine.portfolio.fills == 1


def test_waiting_for_late_fills_is_bounded() -> None:
    engine = _killed_engine()
    exchange = LateFillExchange(fill_after=1_000)  # 10 s of the adapter's clock: past the 3 s allowed
    runner = Runner(engine, exchange, RunOptions(flatten_on_kill=True, settle_timeout_s=3.0))  # type: ignore[arg-type]
    result = asyncio.run(runner.run())
    assert result.exchange_position == 0 and engine.position == START, "the difference is left for the summary"
    assert exchange.clock.now_ns() - T0 < 5_000 * MS


def test_a_kill_marker_refuses_the_next_start_and_says_why(tmp_path) -> None:
    marker = tmp_path / ".mmtool-kill"
    marker.write_text("killed at ts_ns=1\nreason=daily loss limit\n")
    settings = attrs.evolve(Settings(), risk=attrs.evolve(Settings().risk, kill_marker=str(marker)))
    with pytest.raises(KillSwitchEngaged, match=r"killed at ts_ns=1; reason=daily loss limit\); remove the file"):
        check_kill_marker(settings, reset=False)
    assert marker.exists()
    assert check_kill_marker(settings, reset=True) and not marker.exists()
    assert not check_kill_marker(settings, reset=False)


class UnreachableExchange(LateFillExchange):
    """The exchange stops answering as the session ends: every request raises."""

    async def cancel_all(self) -> int:
        raise ConnectionError("connection refused")

    async def open_orders(self) -> list:
        raise ConnectionError("connection refused")

    async def position(self) -> Position:
        raise ConnectionError("connection refused")


def test_an_unreachable_exchange_at_exit_still_ends_the_session_and_leaves_the_kill_marker(tmp_path, caplog) -> None:
    caplog.set_level(logging.INFO, logger="mmtool.runner")
    engine = _killed_engine()
    marker = tmp_path / ".mmtool-kill"
    options = RunOptions(flatten_on_kill=True, kill_marker=marker, max_cancel_rounds=2)
    runner = Runner(engine, UnreachableExchange(fill_after=1), options)  # type: ignore[arg-type]
    result = asyncio.run(runner.run())
    assert result.open_orders_at_exit == -1 and not result.shutdown_clean, "unknown, and said so"
    assert result.exchange_position is None
    assert marker.exists(), "the next start is stopped until an operator has looked"
    messages = [r.getMessage() for r in caplog.records]
    assert any(m.startswith("COULD NOT CONFIRM THAT NO ORDER IS LEFT OPEN") for m in messages)
    assert "Final position and PnL" in messages


# ------------------------------------------------------------------------------------ a failing trading loop


class RestingExchange(FlatVenue):
    """Books then timers; every place rests and every cancel succeeds, answered on the next event. Records what
    was sent, and ``cancel_all`` empties the book as an exchange's would."""

    name = "resting"

    def __init__(self) -> None:
        self.clock = ManualClock(T0)
        self.resting: dict[str, Place] = {}
        self.cancels: list[str] = []
        self.cancel_all_calls = 0
        self._queue: deque[Event] = deque()
        self._tick = 0

    async def events(self) -> AsyncIterator[Event]:
        while True:
            if not self._queue:
                self._tick += 1
                ts = T0 + 10 * MS * self._tick
                self._queue.append(LateFillExchange._book(ts) if self._tick < 5 else Timer(ts, ts))
            event = self._queue.popleft()
            self.clock.advance_to(max(self.clock.now_ns(), event.ts_local_ns))
            yield event
            await asyncio.sleep(0)

    async def submit(self, actions: Sequence[Action]) -> None:
        ts = self.clock.now_ns()
        for action in actions:
            if isinstance(action, Place):
                self.resting[action.cloid] = action
                self._queue.append(OrderUpdate("ETH", action.cloid, OrderStatus.RESTING, ts, ts, oid=len(self.resting),
                                               price=action.price, size=action.size))
            elif action.cloid in self.resting:
                del self.resting[action.cloid]
                self.cancels.append(action.cloid)
                self._queue.append(OrderUpdate("ETH", action.cloid, OrderStatus.CANCELLED, ts, ts))

    async def open_orders(self) -> list:
        return list(self.resting.values())

    async def cancel_all(self) -> int:
        self.cancel_all_calls += 1
        self.resting.clear()
        return 0



def _quoting_engine():
    settings = Settings()
    registry = load_registry()
    return build_engine(settings, registry, ComponentContext("ETH", AssetRules("ETH", 4), settings),
                        capital_usd=100_000.0)


def _fail_from(engine, n: int, *, for_good: bool) -> None:
    """Make ``engine.handle`` raise on its ``n``-th call (and on every later one when ``for_good``): a bug."""
    handle, calls = engine.handle, [0]

    def failing(event):
        calls[0] += 1
        if calls[0] == n or (for_good and calls[0] > n):
            raise RuntimeError("a bug in the loop")
        return handle(event)

    engine.handle = failing


@pytest.mark.parametrize("for_good", [False, True])
def test_a_failing_loop_still_takes_every_order_off_the_book(caplog, for_good) -> None:
    engine = _quoting_engine()
    engine.estimators.clear()  # quote at once from the config's fallbacks: no warm-up
    engine._estimator_gates = []
    exchange = RestingExchange()
    _fail_from(engine, 8, for_good=for_good)  # quote on the first books, then fail once the ladder rests
    runner = Runner(engine, exchange, RunOptions(shutdown_timeout_s=1.0))  # type: ignore[arg-type]
    with caplog.at_level(logging.CRITICAL, logger="mmtool.runner"), pytest.raises(RuntimeError, match="a bug"):
        asyncio.run(runner.run())
    assert exchange.resting == {}, "nothing is left on the book"
    assert runner.result.stop_reason.startswith("error: RuntimeError")
    assert runner.result.open_orders_at_exit == 0
    assert "Trading loop failed" in caplog.text
    assert exchange.cancels, "the ladder rested before the failure and its cancels were sent"
    if for_good:  # the engine cannot even finish the shutdown: the exchange's cancel-all is the last resort
        assert "cancelling at the exchange directly" in caplog.text
        assert exchange.cancel_all_calls == 1
    else:
        assert "cancelling at the exchange directly" not in caplog.text
