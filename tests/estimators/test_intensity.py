"""Intensity: kappa and A per side recovered from trades (and our fills) with a known A * exp(-kappa delta)."""

from __future__ import annotations

import numpy as np
import pytest

from mmtool.core.types import Side
from mmtool.plugins.estimators.intensity import Intensity, geometric_kappa

from .sim import Feed, book, ctx, fill, raw_book, resting, trade

MID = 3000.0
TRUTH = {Side.BUY: (4000.0, 3.0), Side.SELL: (6000.0, 2.0)}  # our side -> (kappa, A per second)


def simulate(seed: int, secs: float = 2000.0) -> Intensity:
    """Poisson trades per side, depths from the mid exponential with the side's kappa."""
    rng = np.random.default_rng(seed)
    est = Intensity.from_config(Intensity.Config(), ctx())
    feed = Feed(est)
    events = []
    for side, (kappa, a) in TRUTH.items():
        times = np.sort(rng.uniform(0, secs, rng.poisson(a * secs)))
        depths = rng.exponential(1 / kappa, times.size)
        for t, dep in zip(times, depths, strict=True):
            # A resting buy (bid side) is hit by a sell aggressor below the mid, and vice versa.
            aggressor = Side.SELL if side is Side.BUY else Side.BUY
            events.append((t, MID * (1 - dep) if side is Side.BUY else MID * (1 + dep), aggressor))
    events.sort()
    feed(book(0.0, MID - 0.01, MID + 0.01))
    for t, px, aggressor in events:
        feed(trade(t, px, 1.0, aggressor))
    return est


@pytest.mark.parametrize("seed", [11, 12])
def test_kappa_and_a_per_side_within_10pct(seed: int) -> None:
    est = simulate(seed)
    v = est.values()
    assert est.warmed_up
    assert v["kappa_bid"] == pytest.approx(TRUTH[Side.BUY][0], rel=0.10)
    assert v["kappa_ask"] == pytest.approx(TRUTH[Side.SELL][0], rel=0.10)
    assert v["arrival_a_bid"] == pytest.approx(TRUTH[Side.BUY][1], rel=0.10)
    assert v["arrival_a_ask"] == pytest.approx(TRUTH[Side.SELL][1], rel=0.10)
    assert 4000 < v["kappa"] < 6000
    assert v["intensity_confidence"] == 1.0
    assert "book_depth_decay" not in v or v["book_depth_decay"] != v["kappa"]


def test_confidence_is_zero_before_data_and_grows() -> None:
    est = Intensity.from_config(Intensity.Config(), ctx())
    assert est.values()["intensity_confidence"] == 0.0
    assert not est.warmed_up
    short = simulate(5, secs=20.0)
    assert 0.0 < short.values()["intensity_confidence"] < 1.0


def test_geometric_mle_handles_the_touch_and_the_overflow_bin() -> None:
    width = 1e-4
    q = np.exp(-5000 * width)
    counts = 1000 * (1 - q) * q ** np.arange(12.0)
    counts[-1] = 1000 * q**11  # censored tail
    shifted = np.concatenate(([0.0, 0.0], counts))  # no trade inside a 2-bin touch
    assert geometric_kappa(counts, 0, width) == pytest.approx(5000, rel=1e-9)
    assert geometric_kappa(shifted, 2, width) == pytest.approx(5000, rel=1e-9)
    assert geometric_kappa(np.zeros(5), 0, width) is None


def test_own_fills_recover_the_per_order_intensity() -> None:
    """Orders resting at fixed depths fill at A_f exp(-kappa_f delta); with full weight the fit returns them."""
    rng = np.random.default_rng(7)
    kappa_f, a_f = 3000.0, 0.5
    est = Intensity.from_config(Intensity.Config(own_fills_weight=1.0, min_own_fills=10), ctx())
    feed = Feed(est)
    feed(book(0.0, MID - 0.01, MID + 0.01))
    depths_bps = (1.25, 3.25, 5.25, 7.25)
    t, n = 0.0, 0
    for i, dep in enumerate(depths_bps):
        feed(resting(0.0, f"b{i}", MID * (1 - dep / 1e4), 1.0), resting(0.0, f"a{i}", MID * (1 + dep / 1e4), 1.0))
    step = 0.5
    while t < 3000.0:
        t += step
        feed(book(t, MID - 0.01, MID + 0.01))
        for i, dep in enumerate(depths_bps):
            p = a_f * np.exp(-kappa_f * dep / 1e4) * step
            for side, tag, px in ((Side.BUY, "b", MID * (1 - dep / 1e4)), (Side.SELL, "a", MID * (1 + dep / 1e4))):
                if rng.uniform() < p:
                    n += 1
                    feed(fill(t, side, px, 1.0, f"{tag}{i}"), resting(t, f"{tag}{i}", px, 1.0))
        # keep both trade sides alive so the trade fit exists
        feed(trade(t, MID + 0.5, 1.0, Side.BUY), trade(t, MID - 0.5, 1.0, Side.SELL))
    v = est.values()
    assert n > 500
    assert v["kappa_bid"] == pytest.approx(kappa_f, rel=0.2)
    assert v["kappa_ask"] == pytest.approx(kappa_f, rel=0.2)
    assert v["arrival_a_bid"] == pytest.approx(a_f, rel=0.2)


def test_book_depth_decay_is_the_log_size_slope_over_depth() -> None:
    """Books whose level sizes are exactly 10 * exp(-decay * depth) give that decay (smoothed, but constant)."""
    decay = 800.0
    est = Intensity.from_config(Intensity.Config(book_fit_every=1), ctx())
    feed = Feed(est)
    mid = 3000.05
    bids = [(f"{3000.0 - 0.5 * i:.1f}", f"{10 * np.exp(-decay * (mid - (3000.0 - 0.5 * i)) / mid):.8f}")
            for i in range(20)]
    asks = [(f"{3000.1 + 0.5 * i:.1f}", f"{10 * np.exp(-decay * ((3000.1 + 0.5 * i) - mid) / mid):.8f}")
            for i in range(20)]
    for k in range(30):
        feed(raw_book(float(k), bids, asks))
    assert est.values()["book_depth_decay"] == pytest.approx(decay, rel=1e-6)


def test_a_due_refit_waits_for_after_decision_or_the_next_event() -> None:
    from mmtool.core.components import MarketState

    def fed(est: Intensity, n: int) -> None:
        state = MarketState("ETH", 0, None, MID)
        est.on_event(book(0.0, MID - 0.01, MID + 0.01), state)
        for i in range(n):
            est.on_event(trade(0.001 * (i + 1), MID * (1 + 1e-4 * (i % 5)), 1.0, Side.BUY if i % 2 else Side.SELL),
                         state)

    est = Intensity.from_config(Intensity.Config(), ctx())
    fed(est, 200)
    est.after_decision()
    before = dict(est.values())
    state = MarketState("ETH", 0, None, MID)
    est.on_event(trade(1000.0, MID * (1 + 3e-4), 1.0, Side.BUY), state)  # much later: a refit is due
    assert est._refit_due is not None
    assert dict(est.values()) == before, "nothing is published until the refit runs"
    est.after_decision()
    assert est._refit_due is None and dict(est.values()) != before

    lazy = Intensity.from_config(Intensity.Config(), ctx())
    fed(lazy, 200)
    lazy.after_decision()
    lazy.on_event(trade(1000.0, MID * (1 + 3e-4), 1.0, Side.BUY), state)
    assert lazy._refit_due is not None and dict(lazy.values()) == before
    lazy.on_event(book(1000.0005, MID - 0.01, MID + 0.01), state)  # runs the pending refit before the book
    assert dict(lazy.values()) == dict(est.values())


def test_work_left_for_after_decision_gives_the_same_estimate_whether_or_not_it_is_called() -> None:
    """Books leave the exposure credit (and the book fit) for after the decision; orders and fills settle it at
    once. An estimator driven like the engine and one never told after_decision end in the same state."""
    from mmtool.core.components import MarketState

    rng = np.random.default_rng(3)
    engine_like = Intensity.from_config(Intensity.Config(own_fills_weight=0.5, min_own_fills=5, book_fit_every=3),
                                        ctx())
    alone = Intensity.from_config(Intensity.Config(own_fills_weight=0.5, min_own_fills=5, book_fit_every=3), ctx())
    deferred = 0
    mid = MID
    events = []
    for step in range(1, 4000):
        t = step * 0.25
        mid *= float(np.exp(rng.normal(0, 2e-4)))
        events.append(raw_book(t, [(mid - 0.05 - 0.1 * i, 1.0 + i) for i in range(5)],
                               [(mid + 0.05 + 0.1 * i, 1.0 + i) for i in range(5)]))
        events.append(trade(t, mid * (1 + rng.choice([-1, 1]) * rng.exponential(3e-4)), 1.0,
                            Side.BUY if rng.uniform() < 0.5 else Side.SELL))
        if step % 7 == 0:
            side = Side.BUY if rng.uniform() < 0.5 else Side.SELL
            px = mid * (1 - side.sign * 2e-4)
            events.append(resting(t, f"o{step}", px, 1.0))
            if rng.uniform() < 0.5:
                events.append(fill(t, side, px, 1.0, f"o{step}"))
    for event in events:
        state = MarketState("ETH", event.ts_exchange_ns, None, mid)
        engine_like.on_event(event, state)
        alone.on_event(event, state)
        deferred += engine_like._work_due()
        engine_like.after_decision()
    engine_like.after_decision()
    alone.after_decision()
    assert deferred > 1000, "books left work for after the decision"
    assert engine_like.values() == alone.values() and engine_like.warmed_up
    for side in Side:
        assert np.array_equal(engine_like._exposure[side].counts(0), alone._exposure[side].counts(0))
