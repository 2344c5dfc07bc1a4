"""Volatility on a volume clock: sigma from bipower variation, realized variance and the jump flag."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mmtool.plugins.estimators.volatility import Volatility

from .sim import Feed, ctx, mid, trade

SIGMA = 1e-4  # per sqrt(second)
STEP = 0.1


def run(seed: int, jump_every_secs: float | None, secs: float = 1200.0) -> Volatility:
    """Feed a log random walk with known sigma (plus planted jumps) sampled every STEP seconds."""
    rng = np.random.default_rng(seed)
    est = Volatility.from_config(Volatility.Config(bucket_volume=5.0), ctx())
    feed = Feed(est)
    log_p = math.log(3000.0)
    n = int(secs / STEP)
    shocks = rng.normal(0.0, SIGMA * math.sqrt(STEP), n)
    if jump_every_secs is not None:
        jumps = rng.uniform(size=n) < STEP / jump_every_secs
        shocks[jumps] += rng.choice([-1.0, 1.0], jumps.sum()) * 30 * SIGMA * math.sqrt(0.5)
    for i in range(n):
        log_p += shocks[i]
        t = i * STEP
        price = math.exp(log_p)
        feed(mid(t, price), trade(t + 0.001, price, 1.0))
    return est


@pytest.mark.parametrize("seed", [1, 2])
def test_sigma_from_a_random_walk_within_10pct(seed: int) -> None:
    est = run(seed, None)
    v = est.values()
    assert est.warmed_up
    assert v["sigma"] == pytest.approx(SIGMA, rel=0.10)
    assert math.sqrt(v["realized_variance"]) == pytest.approx(SIGMA, rel=0.10)
    assert 0.8 < v["jump_ratio"] < 1.25
    assert v["jump_flag"] == 0.0
    assert v["volume_bucket_count"] == pytest.approx(1200 / 0.5, abs=2)


@pytest.mark.parametrize("seed", [3, 4])
def test_bipower_ignores_jumps_and_realized_variance_does_not(seed: int) -> None:
    est = run(seed, jump_every_secs=100.0)
    v = est.values()
    assert v["sigma"] == pytest.approx(SIGMA, rel=0.10)
    assert v["realized_variance"] > 2.0 * SIGMA**2
    assert v["jump_ratio"] > 2.0
    assert v["jump_flag"] == 1.0


def test_auto_bucket_size_follows_the_volume_rate() -> None:
    est = Volatility.from_config(Volatility.Config(target_bucket_secs=1.0), ctx())
    feed = Feed(est)
    for i in range(2000):  # 10 units per second
        feed(trade(i * 0.1, 3000.0 + (i % 3), 1.0))
    assert est.clock.bucket_volume == pytest.approx(10.0, rel=0.05)
    assert 170 <= est.clock.buckets <= 200  # a bucket closes on the trade that fills it, overshooting a little


def test_window_defaults_to_the_strategy_window() -> None:
    assert Volatility.from_config(Volatility.Config(), ctx(estimation_window_secs=42.0)).window == 42.0
    assert Volatility.from_config(Volatility.Config(window_secs=7.0), ctx()).window == 7.0


def test_config_validation_names_the_bound() -> None:
    with pytest.raises(ValueError, match=r"must be > 1 \(got 0.5\)"):
        Volatility.Config(jump_threshold=0.5)
