"""Markouts from fills with a planted drift; queue position from acks, trades and books."""

from __future__ import annotations

import numpy as np
import pytest

from mmtool.core.types import Side
from mmtool.plugins.estimators.fills import Markouts, QueuePosition

from .sim import Feed, book, ctx, fill, mid, raw_book, resting, trade

DRIFT_BPS_PER_S = 0.4  # against us, for 5 s after each fill


def test_markouts_recover_the_planted_drift_within_0_1_bps() -> None:
    rng = np.random.default_rng(61)
    est = Markouts.from_config(Markouts.Config(window_secs=1e5), ctx())
    feed = Feed(est)
    m, fill_k, side = 3000.0, None, Side.BUY
    for k in range(40_000):  # 4000 s at 10 mids per second, a fill every 40 s
        t = k * 0.1
        if k % 400 == 0:
            fill_k, side = k, (Side.BUY if side is Side.SELL else Side.SELL)
            feed(mid(t, m), fill(t, side, m * (1 - side.sign * 1e-4)))
            anchor = m
            continue
        elapsed = (k - fill_k) * 0.1
        drift = DRIFT_BPS_PER_S * min(elapsed, 5.0) * 1e-4
        m = anchor * (1 - side.sign * drift) * (1 + rng.normal(0.0, 0.05e-4))
        feed(mid(t, m))
    v = est.values()
    # Fill 1 bp on the good side of the mid, then the mid drifts 0.4 bps/s against us for 5 s.
    assert v["markout_1s_bps"] == pytest.approx(1.0 - 0.4, abs=0.1)
    assert v["markout_5s_bps"] == pytest.approx(1.0 - 2.0, abs=0.1)
    assert v["markout_30s_bps"] == pytest.approx(1.0 - 2.0, abs=0.1)
    assert v["adverse_selection_bps"] == pytest.approx(1.0, abs=0.1)
    s = est.summary()
    assert s["fills"] == 100 and s["dropped"] == 0
    assert s["horizons"]["5s"]["buy_bps"] == pytest.approx(-1.0, abs=0.1)
    assert s["horizons"]["5s"]["sell_bps"] == pytest.approx(-1.0, abs=0.1)
    assert set(s["horizons"]["5s"]["by_depth_bps"]) == {"0-2bps"}


def test_favourable_markouts_give_no_adverse_selection_and_the_ring_is_bounded() -> None:
    est = Markouts.from_config(Markouts.Config(capacity=4), ctx())
    feed = Feed(est)
    feed(mid(0.0, 3000.0))
    for i in range(10):
        feed(fill(0.1 * i, Side.BUY, 2999.0))
    feed(mid(40.0, 3001.0))
    assert est.dropped == 6
    assert est.values()["markout_5s_bps"] > 0
    assert est.values()["adverse_selection_bps"] == 0.0


def test_markout_config_rejects_an_unknown_adverse_horizon() -> None:
    with pytest.raises(ValueError, match="must be one of horizons_secs"):
        Markouts.Config(horizons_secs=[1, 10], adverse_horizon_secs=5)


def test_queue_ahead_follows_trades_and_the_shrinking_level() -> None:
    est = QueuePosition.from_config(QueuePosition.Config(), ctx())
    feed = Feed(est)
    feed(book(0.0, 2999.9, 3000.1, 10.0, 10.0))
    for i in range(100):  # steady selling into the bids: a volume rate for the probability
        feed(trade(0.1 * i, 3000.5, 0.5, Side.SELL if i % 2 else Side.BUY))
    feed(resting(10.0, "b1", 2999.9, 1.0))
    assert est.values()["queue_ahead_bid"] == 10.0
    p0 = est.values()["queue_fill_prob"]
    feed(trade(10.5, 2999.9, 4.0, Side.SELL))
    assert est.values()["queue_ahead_bid"] == 6.0
    assert est.values()["queue_fill_prob_bid"] > p0
    feed(book(11.0, 2999.9, 3000.1, 4.0, 10.0))
    assert est.values()["queue_ahead_bid"] == 3.0
    feed(trade(11.5, 2999.8, 1.0, Side.SELL))  # traded through our price
    assert est.values()["queue_ahead_bid"] == 0.0
    assert est.values()["queue_fill_prob_bid"] == 1.0
    feed(fill(12.0, Side.BUY, 2999.9, 1.0, "b1"))
    assert "queue_fill_prob" not in est.values()


def test_a_deeper_order_is_less_likely_to_fill() -> None:
    est = QueuePosition.from_config(QueuePosition.Config(), ctx())
    feed = Feed(est)
    feed(raw_book(0.0, [("2999.9", "2")], [("3000.1", "2"), ("3000.3", "3")]))
    feed(trade(0.5, 3000.1, 1.0, Side.BUY), trade(0.6, 2999.9, 1.0, Side.SELL))
    feed(resting(1.0, "a1", 3000.1, 1.0), resting(1.0, "a2", 3000.3, 1.0))
    near = est.fill_probability(est.orders.orders["a1"])
    far = est.fill_probability(est.orders.orders["a2"])
    assert est.orders.orders["a2"].queue_ahead == 3.0
    assert 0.0 < far < near < 1.0
