"""Summary metrics against hand-computed series: Sharpe, max drawdown, markouts, inventory."""

from __future__ import annotations

import math

import pytest

from mmtool.backtest.metrics import (
    MINUTES_PER_YEAR,
    MarkoutFill,
    MarkoutTracker,
    inventory_stats,
    markouts,
    max_drawdown,
    sharpe,
)

S = 1_000_000_000


def test_sharpe_of_per_minute_pnl_is_annualised_over_every_minute_of_the_year():
    # Changes 1, 2, -1, 2: mean 1, sample variance ((0)^2 + 1^2 + (-2)^2 + 1^2) / 3 = 2.
    assert sharpe([0.0, 1.0, 3.0, 2.0, 4.0]) == pytest.approx(1 / math.sqrt(2) * math.sqrt(525_600))
    assert MINUTES_PER_YEAR == 525_600


def test_sharpe_is_none_without_enough_or_varying_changes():
    assert sharpe([0.0, 1.0]) is None
    assert sharpe([0.0, 1.0, 2.0, 3.0]) is None
    assert sharpe([]) is None


def test_max_drawdown_from_the_running_peak_which_starts_at_zero():
    assert max_drawdown([1.0, 3.0, 2.0, 5.0, 1.0, 4.0]) == 4.0
    assert max_drawdown([-1.0, -2.0, 0.5]) == 2.0
    assert max_drawdown([0.0, 1.0, 2.0]) == 0.0


MIDS = [(0, 100.0), (1 * S, 101.0), (3 * S, 99.0), (10 * S, 102.0)]
FILLS = [MarkoutFill(S // 2, +1, 100.5, 2.0), MarkoutFill(2 * S, -1, 101.2, 1.0)]


def test_markouts_on_a_tiny_ledger_match_the_hand_computation():
    one, five, thirty = markouts(FILLS, MIDS, [1.0, 5.0, 30.0], end_ns=10 * S)
    # 1 s: the buy at 0.5 s sees 101.0 at 1.5 s (+0.5); the sell at 2 s sees 99.0, set exactly at 3 s (+2.2).
    assert one.fills == 2
    assert one.mean_bps == pytest.approx((0.5 / 100.5 * 1e4 + 2.2 / 101.2 * 1e4) / 2)
    assert one.usd == pytest.approx(0.5 * 2 + 2.2 * 1)
    # 5 s: the buy sees 99.0 at 5.5 s (-1.5); the sell sees 99.0 at 7 s (+2.2).
    assert five.fills == 2
    assert five.mean_bps == pytest.approx((-1.5 / 100.5 * 1e4 + 2.2 / 101.2 * 1e4) / 2)
    assert five.usd == pytest.approx(-1.5 * 2 + 2.2)
    # 30 s lies beyond the data for both fills.
    assert thirty.fills == 0 and thirty.mean_bps is None and thirty.usd == 0.0


def test_a_horizon_ending_exactly_at_the_end_of_the_data_counts_and_one_beyond_does_not():
    # 0.5 s + 9.5 s = 10 s: the mid set at exactly 10 s (102.0) is the one in effect.
    at_end, beyond = markouts(FILLS[:1], MIDS, [9.5, 9.6], end_ns=10 * S)
    assert at_end.fills == 1
    assert at_end.usd == pytest.approx((102.0 - 100.5) * 2)
    assert beyond.fills == 0


def test_online_tracker_equals_the_batch_function():
    tracker = MarkoutTracker([1.0, 5.0])
    tracker.on_mid(0, 100.0)
    tracker.on_mid(S, 101.0)
    tracker.on_fill(MarkoutFill(2 * S, -1, 101.2, 1.0))
    tracker.on_mid(3 * S, 99.0)
    tracker.on_mid(10 * S, 102.0)
    online = tracker.finish(10 * S)
    batch = markouts(FILLS[1:], MIDS, [1.0, 5.0], end_ns=10 * S)
    assert online == batch


def test_inventory_statistics_on_a_sampled_series():
    stats = inventory_stats([0.0, 1.0, -2.0, 2.0], limit=2.0, max_abs=2.5)
    assert stats.mean_abs == pytest.approx(1.25)
    assert stats.time_at_limit == pytest.approx(0.5)
    assert stats.max_abs == 2.5
    assert inventory_stats([], limit=1.0).mean_abs == 0.0
