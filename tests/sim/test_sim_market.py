"""Synthetic market: determinism, the documented statistics, cascades, config validation."""

from __future__ import annotations

import math
from itertools import islice

import attrs
import numpy as np
import pytest

from mmtool.core.types import BookUpdate, MidUpdate, Side, Timer, Trade
from mmtool.plugins.exchanges.sim.config import SimConfig
from mmtool.plugins.exchanges.sim.market import NS, BookStep, SweepStep, SyntheticMarket
from mmtool.plugins.exchanges.sim.simulator import EPOCH_NS, Simulation

RUN_SECS = 1200


def _stream(sim: Simulation):
    while (event := sim.next_event()) is not None:
        yield event


@attrs.frozen
class Sample:
    """What a 20-minute run produced."""

    events: int
    market_events: int
    trades: list[Trade]
    depths: np.ndarray
    mids: list[tuple[int, float]]
    one_tick_share: float


@pytest.fixture(scope="module")
def sample() -> Sample:
    sim = Simulation(SimConfig(seed=7, duration_secs=RUN_SECS, cascade_rate_per_hour=0.0))
    trades, depths, mids = [], [], []
    events = market_events = one_tick = books = 0
    mid = None
    for event in _stream(sim):
        events += 1
        if isinstance(event, (BookUpdate, Trade, MidUpdate)):
            market_events += 1
        if isinstance(event, BookUpdate):
            books += 1
            mid = event.book.mid
            one_tick += event.book.best_ask - event.book.best_bid == sim.rules.tick(mid)
        elif isinstance(event, MidUpdate):
            mids.append((event.ts_exchange_ns, float(event.mid)))
        elif isinstance(event, Trade) and mid is not None:
            trades.append(event)
            depths.append(float(abs(event.price - mid) / mid))
    return Sample(events, market_events, trades, np.array(depths), mids, one_tick / books)


def test_same_seed_gives_the_same_events_and_another_seed_does_not():
    def first(seed: int) -> list:
        return list(islice(_stream(Simulation(SimConfig(seed=seed))), 3000))

    assert first(5) == first(5)
    assert first(5) != first(6)


def test_event_rate_is_a_handful_to_twenty_per_simulated_second(sample):
    rate = sample.market_events / RUN_SECS
    assert 5 <= rate <= 20


def test_spread_is_one_tick_most_of_the_time_but_not_always(sample):
    assert 0.75 < sample.one_tick_share < 0.99


def test_trade_distance_from_mid_decays_exponentially_with_kappa_of_order_1e4(sample):
    depths = sample.depths
    grid = np.array([0.5e-4, 1e-4, 1.5e-4, 2e-4, 2.5e-4, 3e-4])
    survival = np.array([(depths > x).mean() for x in grid])
    assert np.all(np.diff(survival) < 0)
    slope, _ = np.polyfit(grid, np.log(survival), 1)
    assert 2_000 < -slope < 30_000
    assert np.quantile(depths, 0.9) < 5e-4  # most trades within a few bps


def test_volatility_is_in_the_documented_range(sample):
    times = np.array([t for t, _ in sample.mids], dtype=float)
    prices = np.array([p for _, p in sample.mids])
    grid = EPOCH_NS + np.arange(10, RUN_SECS, 10) * NS
    sampled = prices[np.searchsorted(times, grid, side="right") - 1]
    returns = np.diff(np.log(sampled))
    annualised = returns.std() * math.sqrt(365 * 24 * 3600 / 10)
    assert 0.3 < annualised < 1.2


def test_trades_cluster_like_a_hawkes_process(sample):
    # One aggressive order prints one trade per level it walks: count orders by their timestamp.
    order_times = sorted({t.ts_exchange_ns for t in sample.trades})
    seconds = (np.array(order_times) - EPOCH_NS) // NS
    counts = np.bincount(seconds, minlength=RUN_SECS)
    assert 0.8 < counts.mean() < 2.5  # documented mean: mu / (1 - alpha / beta) = 1.5 per second
    assert counts.var() > 1.5 * counts.mean()  # a Poisson process would give var == mean


def test_trade_sizes_are_heavy_tailed(sample):
    by_order: dict[int, float] = {}
    for trade in sample.trades:
        by_order[trade.ts_exchange_ns] = by_order.get(trade.ts_exchange_ns, 0.0) + float(trade.size)
    sizes = np.array(list(by_order.values()))
    assert sizes.max() > 20 * np.median(sizes)


def test_the_amount_traded_at_the_last_level_is_pareto_with_the_configured_tail():
    config = SimConfig(seed=11, cascade_rate_per_hour=0.0, trade_size_tail=1.2)
    market = SyntheticMarket(config, EPOCH_NS)
    amounts = []
    while len(amounts) < 3000:
        step = market.step()
        if isinstance(step, SweepStep):
            amounts.append(step.levels[-1][1])
    top = np.sort(np.array(amounts, dtype=float))[::-1][:300]
    hill = 1.0 / np.mean(np.log(top[:-1] / top[-1]))
    assert 0.8 < hill < 1.7
    assert min(amounts) >= config.trade_size_min * 10**config.sz_decimals - 1


def test_a_forced_cascade_moves_the_price_tens_of_bps_one_way():
    config = SimConfig(seed=3, cascade_rate_per_hour=0.0, cascade_at_secs=[20.0], cascade_move_bps=40.0)
    market = SyntheticMarket(config, EPOCH_NS)
    before = after = None
    sides = []
    while market.next_time() < EPOCH_NS + 30 * NS:
        step = market.step()
        if isinstance(step, BookStep) and step.ts_ns < EPOCH_NS + 20 * NS:
            before = market.book.mid_units2()
        if isinstance(step, BookStep) and step.ts_ns > EPOCH_NS + 26 * NS and after is None:
            after = market.book.mid_units2()
        if isinstance(step, SweepStep) and step.cascade:
            sides.append(step.side)
    move_bps = (after - before) / before * 1e4
    assert abs(move_bps) > 25
    assert len(sides) > 20 and len(set(sides)) == 1
    assert (sides[0] is Side.SELL) == (move_bps < 0)


def test_no_cascade_no_big_move():
    market = SyntheticMarket(SimConfig(seed=3, cascade_rate_per_hour=0.0, jump_rate_per_hour=0.0), EPOCH_NS)
    market.step()
    start = market.book.mid_units2()
    while market.next_time() < EPOCH_NS + 30 * NS:
        market.step()
    assert abs(market.book.mid_units2() - start) / start * 1e4 < 25


def test_timers_every_interval_and_clock_follows_events():
    sim = Simulation(SimConfig(seed=2, timer_interval_ms=250, duration_secs=3))
    events = list(_stream(sim))
    timers = [e.ts_exchange_ns - EPOCH_NS for e in events if isinstance(e, Timer)]
    assert timers == [250_000_000 * k for k in range(1, 13)]
    assert sim.clock.now_ns() == events[-1].ts_local_ns


@pytest.mark.parametrize(
    "changes,message",
    [
        ({"hawkes_alpha": 2.0, "hawkes_beta": 2.0}, "hawkes_alpha / hawkes_beta must be < 1"),
        ({"speed": 0.0}, "must be > 0"),
        ({"cascade_at_secs": [-1.0]}, "cascade_at_secs must be >= 0"),
    ],
)
def test_config_validation(changes, message):
    with pytest.raises(ValueError, match=message):
        SimConfig(**changes)


@pytest.mark.parametrize(("price", "sz_decimals"), [(3500.0, 4), (95_000.0, 5), (0.3, 0)], ids=["ETH", "BTC", "DOGE"])
def test_a_sweep_never_leaves_a_side_of_the_book_empty(price, sz_decimals):
    """A sweep through every shown level leaves the refilled last one in view: an empty side (which a venue's
    book never shows, and which the engine skips as bad data) was about 5 % of steps (11 % at BTC's tick)."""
    market = SyntheticMarket(attrs.evolve(SimConfig(), start_price=price, sz_decimals=sz_decimals), EPOCH_NS)
    deepest = 0
    for _ in range(30_000):
        step = market.step()
        assert market.book.bids and market.book.asks
        if isinstance(step, SweepStep):
            deepest = max(deepest, len(step.levels))
    assert deepest >= 10, "sweeps still walk deep into the book"
