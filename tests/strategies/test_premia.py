"""Additive premia: each widening adds its own bps, none multiplies another, the total is capped."""

from __future__ import annotations

import math

import pytest

from mmtool.core.config import LadderConfig
from mmtool.plugins.strategies.glft import Glft
from mmtool.plugins.strategies.premia import Premia, PremiaConfig, compute_premia, total_half_spread_bps

from ._build import WARM, make_ctx

CONFIG = PremiaConfig(
    warmup_premium_bps=4.0, adverse_selection_weight=0.5, cascade_premium_bps=10.0, cascade_threshold=0.0
)


def _values(**extra: float) -> dict[str, float]:
    return {**WARM, **extra}


def test_each_premium_alone():
    assert compute_premia(make_ctx(values=_values(warmup_uncertainty=0.5)), CONFIG).total == pytest.approx(2.0)
    assert compute_premia(make_ctx(values=_values(adverse_selection_bps=3.0)), CONFIG).total == pytest.approx(1.5)
    assert compute_premia(make_ctx(values=_values(cascade_severity=0.25)), CONFIG).total == pytest.approx(2.5)
    assert compute_premia(make_ctx(fee_bps=1.5), CONFIG).total == pytest.approx(1.5)
    assert compute_premia(make_ctx(), CONFIG).total == 0.0


def test_premia_add_up_without_multiplying():
    ctx = make_ctx(
        values=_values(warmup_uncertainty=0.5, adverse_selection_bps=3.0, cascade_severity=0.25), fee_bps=1.5
    )
    premia = compute_premia(ctx, CONFIG)
    assert premia == Premia(warmup_bps=2.0, adverse_selection_bps=1.5, cascade_bps=2.5, fee_bps=1.5)
    assert premia.total == pytest.approx(2.0 + 1.5 + 2.5 + 1.5)


def test_missing_warmup_uncertainty_follows_warmed_up():
    values = {k: v for k, v in WARM.items() if k != "warmup_uncertainty"}
    assert compute_premia(make_ctx(values=values, warmed_up=False), CONFIG).warmup_bps == 4.0
    assert compute_premia(make_ctx(values=values, warmed_up=True), CONFIG).warmup_bps == 0.0


def test_bad_values_do_not_crash_and_count_as_worst_or_none():
    ctx = make_ctx(values=_values(warmup_uncertainty=math.nan, adverse_selection_bps=-5.0, cascade_severity=7.0))
    premia = compute_premia(ctx, CONFIG)
    assert premia.warmup_bps == 4.0
    assert premia.adverse_selection_bps == 0.0
    assert premia.cascade_bps == 10.0


def test_fee_can_be_left_out():
    config = PremiaConfig(include_maker_fee=False)
    assert compute_premia(make_ctx(fee_bps=1.5), config).fee_bps == 0.0


def test_total_half_spread_is_capped_and_floored():
    ladder = LadderConfig(min_depth_bps=2.0, max_depth_bps=20.0)
    assert total_half_spread_bps(3.0, Premia(1.0, 2.0, 3.0, 1.5), ladder) == pytest.approx(10.5)
    assert total_half_spread_bps(3.0, Premia(10.0, 10.0, 10.0, 1.5), ladder) == 20.0
    assert total_half_spread_bps(0.5, Premia(fee_bps=-1.0), ladder) == 2.0
    assert total_half_spread_bps(math.inf, Premia(), ladder) == 20.0


def test_strategy_half_spread_is_model_plus_premia():
    strategy = Glft(Glft.Config(warmup_premium_bps=4.0, cascade_premium_bps=10.0, cascade_threshold=0.0))
    calm = strategy.plan(make_ctx())
    risky = strategy.plan(make_ctx(values=_values(warmup_uncertainty=0.5, cascade_severity=0.25), fee_bps=1.5))
    assert calm.half_spread_bps == pytest.approx(calm.model_half_spread_bps)
    assert risky.half_spread_bps == pytest.approx(calm.half_spread_bps + 2.0 + 2.5 + 1.5)
    # Premia widen the spread; they never change the skew.
    long_calm = strategy.plan(make_ctx(position=1.0))
    long_risky = strategy.plan(make_ctx(position=1.0, values=_values(cascade_severity=1.0)))
    assert long_risky.skew_bps == pytest.approx(long_calm.skew_bps)


def test_strategy_half_spread_cap():
    strategy = Glft(Glft.Config(cascade_premium_bps=500.0))
    plan = strategy.plan(make_ctx(values=_values(cascade_severity=1.0), ladder=LadderConfig(max_depth_bps=30.0)))
    assert plan.half_spread_bps == 30.0


def test_cascade_premium_applies_only_above_its_threshold():
    config = PremiaConfig(cascade_premium_bps=10.0, cascade_threshold=0.3)
    calm = compute_premia(make_ctx(values=_values(cascade_severity=0.3)), config)
    half = compute_premia(make_ctx(values=_values(cascade_severity=0.65)), config)
    full = compute_premia(make_ctx(values=_values(cascade_severity=1.0)), config)
    assert calm.cascade_bps == 0.0
    assert half.cascade_bps == pytest.approx(5.0)
    assert full.cascade_bps == pytest.approx(10.0)
