"""Funding carry, spread regime and the warm-up gate."""

from __future__ import annotations

import logging
from decimal import Decimal

import numpy as np
import pytest

from mmtool.core.types import Funding
from mmtool.plugins.estimators.market import FundingRate, SpreadRegime, Warmup

from .sim import ASSET, Feed, book, ctx, ns, timer, trade


def funding(t: float, rate: str) -> Funding:
    return Funding(ASSET, Decimal(rate), Decimal(0), ns(t), ns(t))


def test_funding_prediction_and_carry() -> None:
    est = FundingRate.from_config(FundingRate.Config(smoothing=0.5), ctx())
    assert est.values() == {"funding_bad_events": 0.0}
    feed = Feed(est)
    feed(funding(0.0, "0.0001"), funding(3600.0, "0.0003"), funding(7200.0, "NaN"), funding(7300.0, "0.9"))
    v = est.values()
    assert v["funding_rate"] == pytest.approx(0.0003)
    assert v["funding_predicted"] == pytest.approx(0.0002)
    assert v["funding_carry_bps_per_h"] == pytest.approx(-2.0)  # a long pays 2 bps per hour
    assert est.bad_events == 2


def test_spread_regime_tight_normal_wide() -> None:
    rng = np.random.default_rng(71)
    est = SpreadRegime.from_config(SpreadRegime.Config(), ctx())
    feed = Feed(est)
    spreads = rng.choice([1.0, 2.0, 3.0], size=2000, p=[0.5, 0.3, 0.2])
    t = 0.0
    for s in spreads:
        t += 0.1
        half = 3000.0 * s / 2e4
        feed(book(t, 3000.0 - half, 3000.0 + half))
    for spread_bps, regime in ((1.0, 0), (0.5, 0), (2.0, 1), (3.0, 2), (10.0, 2)):
        half = 3000.0 * spread_bps / 2e4
        feed(book(t, 3000.0 - half, 3000.0 + half))
        v = est.values()
        assert v["spread_bps"] == pytest.approx(spread_bps, rel=1e-6)
        assert v["spread_regime"] == regime, spread_bps


def test_spread_distribution_forgets_the_past() -> None:
    est = SpreadRegime.from_config(SpreadRegime.Config(window_secs=30.0), ctx())
    feed = Feed(est)
    for i in range(600):  # a wide minute, then a steady tighter one
        feed(book(i * 0.1, 2999.0, 3001.0))
    for i in range(600, 1800):
        feed(book(i * 0.1, 2999.85, 3000.15))
    assert est.values()["spread_regime"] == 0.0
    feed(book(180.0, 2999.0, 3001.0))
    assert est.values()["spread_regime"] == 2.0


def test_warmup_gates_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="mmtool.estimators.warmup")
    est = Warmup.from_config(Warmup.Config(), ctx(min_trades=5, warmup_decay_secs=10.0))
    feed = Feed(est)
    for i in range(4):
        feed(trade(float(i), 3000.0))
    assert not est.warmed_up and est.values()["warmup_uncertainty"] == 1.0
    feed(trade(5.0, 3000.0))
    assert est.warmed_up and est.values()["warmup_uncertainty"] == 1.0
    feed(timer(10.0))
    assert est.values()["warmup_uncertainty"] == pytest.approx(0.5)
    feed(trade(20.0, 3000.0), trade(21.0, 3000.0))
    assert est.values()["warmup_uncertainty"] == 0.0
    messages = [r.getMessage() for r in caplog.records if r.name == "mmtool.estimators.warmup"]
    assert messages == ["Warming up parameter estimator", "Parameter estimation warmed up"]


def test_warmup_config_overrides_settings() -> None:
    est = Warmup.from_config(Warmup.Config(min_trades=0, decay_secs=0.0), ctx(min_trades=50))
    Feed(est)(book(0.0, 2999.0, 3001.0))
    assert est.warmed_up and est.values()["warmup_uncertainty"] == 0.0
