"""Every estimator skips and counts bad data (NaN, zero or negative prices and sizes, crossed or empty books,
out-of-order timestamps) and never lets it move its published values."""

from __future__ import annotations

import math
from decimal import Decimal

import numpy as np
import pytest

from mmtool.core.types import Funding, MidUpdate, Side
from mmtool.plugins.estimators.fills import Markouts, QueuePosition
from mmtool.plugins.estimators.hawkes import Hawkes, LiquidationCascade
from mmtool.plugins.estimators.intensity import Intensity
from mmtool.plugins.estimators.kalman import Kalman
from mmtool.plugins.estimators.market import FundingRate, SpreadRegime, Warmup
from mmtool.plugins.estimators.microprice import Microprice
from mmtool.plugins.estimators.volatility import Volatility

from .sim import ASSET, Feed, book, ctx, fill, ns, raw_book, resting, trade

ALL = [Volatility, Intensity, Microprice, Kalman, Hawkes, LiquidationCascade, FundingRate, SpreadRegime, Warmup,
       Markouts, QueuePosition]


def good_stream(est: object, secs: float = 200.0) -> float:
    """A plausible market with books, trades, our orders and fills; returns the last time."""
    rng = np.random.default_rng(81)
    feed = Feed(est)
    m, t = 3000.0, 0.0
    feed(book(0.0, m - 0.1, m + 0.1, 5.0, 5.0), resting(0.0, "b", m - 0.1, 1.0))
    while t < secs:
        t += float(rng.exponential(0.1))
        m *= math.exp(rng.normal(0.0, 3e-5))
        feed(book(t, m - 0.1, m + 0.1, float(rng.uniform(1, 9)), float(rng.uniform(1, 9))))
        side = Side.BUY if rng.uniform() < 0.5 else Side.SELL
        feed(trade(t, m + side.sign * float(rng.exponential(0.5)), float(rng.exponential(1.0)), side))
        if rng.uniform() < 0.02:
            feed(fill(t, Side.BUY, m - 0.1, 1.0, "b"), resting(t, "b", m - 0.1, 1.0))
    feed(Funding(ASSET, Decimal("0.0001"), Decimal(0), ns(t), ns(t)))
    return t


def bad_events(t: float) -> list:
    """One of each kind of bad event, all at or before ``t``."""
    return [
        trade(t, Decimal("NaN")),
        trade(t, Decimal("sNaN")),
        trade(t, Decimal("0")),
        trade(t, Decimal("-3000")),
        trade(t, Decimal("3000"), Decimal("0")),
        trade(t, Decimal("3000"), Decimal("-1")),
        trade(t, Decimal("Infinity")),
        trade(t - 50.0, 3000.0),  # out of order
        raw_book(t, [("3001", "1")], [("2999", "1")]),  # crossed
        raw_book(t, [("3000", "1")], [("3000", "1")]),  # locked
        raw_book(t, [], [("3001", "1")]),  # empty side
        raw_book(t, [], []),  # empty
        raw_book(t, [("NaN", "1")], [("3001", "1")]),
        raw_book(t, [("2999", "-1")], [("3001", "1")]),
        raw_book(t - 50.0, [("2999", "1")], [("3001", "1")]),  # out of order
        MidUpdate(ASSET, Decimal("NaN"), ns(t), ns(t)),
        MidUpdate(ASSET, Decimal("0"), ns(t), ns(t)),
        fill(t, Side.BUY, float("nan")),
        fill(t, Side.BUY, 0.0),
        Funding(ASSET, Decimal("NaN"), Decimal(0), ns(t), ns(t)),
        Funding(ASSET, Decimal("0.0002"), Decimal(0), ns(t - 50.0), ns(t - 50.0)),  # out of order
    ]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.name)
def test_bad_events_are_skipped_counted_and_never_propagated(cls: type) -> None:
    est = cls.from_config(cls.Config(), ctx())
    t = good_stream(est)
    before = dict(est.values())
    prefix = cls.name.replace("-", "_")
    bad_before = est.bad_events
    assert before[f"{prefix}_bad_events"] == bad_before
    events = bad_events(t)
    Feed(est)(*events)
    after = dict(est.values())
    assert est.bad_events - bad_before == len(events)
    assert after.pop(f"{prefix}_bad_events") == est.bad_events
    before.pop(f"{prefix}_bad_events")
    assert after == before
    assert all(math.isfinite(v) for v in after.values())
