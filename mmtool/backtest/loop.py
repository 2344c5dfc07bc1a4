"""The backtest loop: the live engine, built exactly as ``mmtool run`` builds it, driven by hand against a
synchronous exchange (synthetic or replayed), with no asyncio.

The loop mirrors :class:`~mmtool.core.runner.Runner`: handle an event, submit the actions at the clock's present
time, stop on a kill, the duration, an event budget or the end of the data; then the same graceful shutdown
(stop quoting, cancel with retries, cancel everything, optionally flatten after a kill). It never reads the wall
clock, so the same inputs give the same summary, byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from mmtool.backtest.metrics import (
    Markout,
    MarkoutFill,
    MarkoutTracker,
    inventory_stats,
    max_drawdown,
    sharpe,
)
from mmtool.backtest.series import NS, Series
from mmtool.core.components import ComponentContext
from mmtool.core.runner import RunResult
from mmtool.core.session import build_engine
from mmtool.core.summary import build_summary
from mmtool.core.types import Action, Event, Fill

if TYPE_CHECKING:
    from mmtool.backtest.exchange import BacktestExchange
    from mmtool.core.config import Settings
    from mmtool.core.engine import Engine
    from mmtool.core.plugins import Registry

#: Markout horizons of the summary, seconds.
SUMMARY_HORIZONS_S = (1.0, 5.0, 30.0)
#: Markout horizons of the report's curve, seconds.
CURVE_HORIZONS_S = (0.0, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0)

#: Called after each event with the event and the actions it produced (tests record decisions with it).
EventHook = Callable[[Event, Sequence[Action]], None]
#: Called every ``progress_every`` events with the simulated seconds elapsed.
ProgressHook = Callable[[float], None]


@attrs.frozen
class BacktestOptions:
    """When to stop and what to measure."""

    duration_s: float | None = None
    max_events: int | None = None
    seed: int | None = None
    sample_interval_s: float = 1.0
    summary_horizons_s: tuple[float, ...] = SUMMARY_HORIZONS_S
    curve_horizons_s: tuple[float, ...] = CURVE_HORIZONS_S
    shutdown_timeout_s: float = 10.0
    cancel_retry_s: float = 1.0
    max_cancel_rounds: int = 8
    flatten_timeout_s: float = 5.0
    max_fill_points: int = 50_000
    progress_every: int = 2_000


@attrs.define
class BacktestResult:
    """A finished backtest: the engine (for inspection), the run record, the summary and the sampled series."""

    engine: Engine
    run: RunResult
    summary: dict[str, Any]
    series: Series
    markout_curve: list[Markout]
    #: Events handled before the shutdown began (the rest answered the shutdown's cancels).
    trading_events: int = 0


class _Loop:
    """One backtest's mutable state: engine, exchange, measurements."""

    def __init__(self, engine: Engine, exchange: BacktestExchange, options: BacktestOptions,
                 on_event: EventHook | None, on_progress: ProgressHook | None) -> None:
        self.engine = engine
        self.exchange = exchange
        self.options = options
        self.on_event = on_event
        self.on_progress = on_progress
        self.start_ns = exchange.clock.now_ns()
        self.series = Series(self.start_ns, options.sample_interval_s, options.max_fill_points)
        horizons = sorted({*options.summary_horizons_s, *options.curve_horizons_s})
        self.markouts = MarkoutTracker(horizons)
        self.handled = 0
        self._last_mid: float | None = None

    def step(self) -> Event | None:
        """Handle the next event and submit its actions; None at the end of the data."""
        event = self.exchange.next_event()
        if event is None:
            return None
        engine = self.engine
        ts = event.ts_local_ns
        self.series.advance(engine, ts)
        fills_before = engine.portfolio.fills
        actions = engine.handle(event)
        if actions:
            self.exchange.submit_now(actions)
            engine.commit()
        if isinstance(event, Fill) and engine.portfolio.fills > fills_before:
            price = float(event.price)
            self.markouts.on_fill(MarkoutFill(ts, event.side.sign, price, float(event.size)))
            self.series.on_fill(ts, price, event.side)
        mid = engine.market.mid
        if mid is not None and mid != self._last_mid:
            self._last_mid = mid
            self.markouts.on_mid(ts, mid)
        if self.on_event is not None:
            self.on_event(event, actions)
        self.handled += 1
        if self.on_progress is not None and self.handled % self.options.progress_every == 0:
            self.on_progress((ts - self.start_ns) / NS)
        return event

    def trade(self) -> str:
        """Run until a stop condition; return the stop reason."""
        opts = self.options
        duration_ns = None if opts.duration_s is None else round(opts.duration_s * NS)
        while True:
            event = self.step()
            if event is None:
                return "data ended"
            if self.engine.killed:
                kills = self.engine.risk.kill_events
                return "kill switch: " + (kills[-1].reason if kills else "triggered")
            if duration_ns is not None and event.ts_local_ns - self.start_ns >= duration_ns:
                return "duration reached"
            if opts.max_events is not None and self.handled >= opts.max_events:
                return "event limit reached"

    def shutdown(self, result: RunResult) -> None:
        """Stop quoting, cancel with retries until nothing is live, cancel all, flatten after a kill if asked."""
        engine, exchange, opts = self.engine, self.exchange, self.options
        killed = engine.killed
        now = exchange.clock.now_ns()
        self._submit(engine.stop(now))
        deadline = now + round(opts.shutdown_timeout_s * NS)
        retry_ns = round(opts.cancel_retry_s * NS)
        next_retry = now + retry_ns
        rounds = 1
        while engine.live_orders():
            event = self.step()
            if event is None:
                break
            t = event.ts_local_ns
            if t >= next_retry and engine.live_orders():
                if rounds >= opts.max_cancel_rounds or t >= deadline:
                    break
                rounds += 1
                next_retry = t + retry_ns * rounds
                self._submit(engine.stop(t))
        remaining = exchange.cancel_all_now()
        if killed and engine.settings.risk.flatten_on_kill:
            self._flatten()
        result.open_orders_at_exit = remaining
        result.shutdown_clean = remaining == 0
        result.ended_ns = exchange.clock.now_ns()
        result.exchange_position = exchange.position().size

    def _flatten(self) -> None:
        self._submit(self.engine.flatten_actions())
        deadline = self.exchange.clock.now_ns() + round(self.options.flatten_timeout_s * NS)
        while self.engine.live_orders():
            event = self.step()
            if event is None or event.ts_local_ns > deadline:
                break

    def _submit(self, actions: list[Action]) -> None:
        if actions:
            self.exchange.submit_now(actions)
            self.engine.commit()


def run_backtest(
    settings: Settings,
    registry: Registry,
    exchange: BacktestExchange,
    options: BacktestOptions = BacktestOptions(),
    *,
    network: str = "sim",
    extra: Mapping[str, Any] | None = None,
    on_event: EventHook | None = None,
    on_progress: ProgressHook | None = None,
) -> BacktestResult:
    """Build the configured engine over ``exchange``, trade until a stop condition, shut down and summarise.

    :param extra: keys added to the summary after the standard ones (data source, latencies...).
    """
    ctx = ComponentContext(settings.trading.asset, exchange.rules, settings)
    capital = settings.trading.capital_usd or float(exchange.account_state().account_value)
    engine = build_engine(settings, registry, ctx, cloid_seed=options.seed or 0, capital_usd=capital)
    loop = _Loop(engine, exchange, options, on_event, on_progress)
    result = RunResult(started_ns=loop.start_ns)
    result.stop_reason = loop.trade()
    trading_events = loop.handled
    loop.shutdown(result)
    loop.series.advance(engine, result.ended_ns)
    curve = loop.markouts.finish(result.ended_ns)
    summary = build_summary(engine, result, network=network, seed=options.seed)
    summary.update(_metrics(engine, loop.series, curve, options))
    summary.update(extra or {})
    return BacktestResult(engine, result, summary, loop.series, curve, trading_events)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def _metrics(engine: Engine, series: Series, curve: list[Markout], options: BacktestOptions) -> dict[str, Any]:
    """The backtest's own summary keys (see ``docs/backtesting.md``)."""
    final = engine.portfolio.snapshot(engine.now_ns).total
    stats = engine.stats
    by_horizon = {m.horizon_s: m for m in curve}
    limit = engine.settings.trading.max_absolute_position_size
    inventory = inventory_stats(series.column("position"), limit, float(engine.portfolio.max_abs_position))
    return {
        "sharpe": _round(sharpe(series.minute_pnl.tolist())),
        "max_drawdown": round(max_drawdown([*series.column("total"), final]), 6),
        "fill_ratio": _round(engine.portfolio.fills / stats.orders_placed if stats.orders_placed else None),
        "markouts": {f"{h:g}s": by_horizon[h].as_dict() for h in options.summary_horizons_s},
        "inventory": inventory.as_dict(),
        "sample_interval_s": options.sample_interval_s,
    }
