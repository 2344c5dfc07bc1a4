"""The built-in strategies: numbers at the defaults, symmetry, skew, reduce-only, fallbacks and registration."""

from __future__ import annotations

import math
from decimal import Decimal

import attrs
import pytest

from mmtool.core.components import ComponentContext, Strategy
from mmtool.core.config import LadderConfig, Settings
from mmtool.plugins.strategies import glft, hjb, simple
from mmtool.plugins.strategies.glft import Glft, GlftLadder
from mmtool.plugins.strategies.hjb import Hjb
from mmtool.plugins.strategies.inputs import ModelConfig, confidence_weight, model_inputs
from mmtool.plugins.strategies.simple import InventoryAware, Symmetric

from ._build import RULES, WARM, assert_valid, make_ctx, side_total

ALL = (Symmetric, InventoryAware, Glft, GlftLadder, Hjb)
SKEWED = (InventoryAware, Glft, GlftLadder, Hjb)
MODEL = (Glft, GlftLadder, Hjb)


def build(cls):
    return cls.from_config(cls.Config(), ComponentContext("ETH", RULES, Settings()))


def test_registration_hooks_return_the_classes():
    assert simple.mmtool_register_strategies() == [Symmetric, InventoryAware]
    assert glft.mmtool_register_strategies() == [Glft, GlftLadder]
    assert hjb.mmtool_register_strategies() == [Hjb]
    assert [c.name for c in ALL] == ["symmetric", "inventory-aware", "glft", "glft-ladder", "hjb"]
    for cls in ALL:
        assert isinstance(build(cls), Strategy)
        assert "microprice" in cls.requires
    for cls in MODEL:
        assert {"sigma", "kappa", "arrival_a", "intensity_confidence", "adverse_selection_bps"} <= set(cls.requires)


def test_config_validators_name_the_problem():
    with pytest.raises(ValueError, match=r"must be > 0 \(got -1"):
        Glft.Config(kappa=-1.0)
    with pytest.raises(ValueError, match=r"must be >= 0"):
        Symmetric.Config(half_spread_bps=-1.0)
    with pytest.raises(ValueError, match="horizon_mode"):
        Hjb.Config(horizon_mode="sometimes")


def test_glft_numbers_at_the_defaults():
    # base 3.279 bps + ω/2 0.107 bps = 3.386 bps; ω = 0.2146 bps per lot; lot = 0.5/5 = 0.1 ETH, Q = 20.
    strategy = build(Glft)
    flat = strategy.plan(make_ctx(fee_bps=1.5))
    assert flat.model_half_spread_bps == pytest.approx(3.3863, abs=1e-4)
    assert flat.half_spread_bps == pytest.approx(3.3863 + 1.5, abs=1e-4)
    assert flat.skew_bps == 0.0
    full_long = strategy.plan(make_ctx(position=2.0, fee_bps=1.5))
    assert full_long.skew_bps == pytest.approx(4.2922, abs=1e-4)
    assert full_long.inputs.q == pytest.approx(20.0) and full_long.inputs.q_max == pytest.approx(20.0)
    assert strategy.plan(make_ctx(position=-2.0)).skew_bps == pytest.approx(-4.2922, abs=1e-4)


def test_glft_quote_prices_at_the_defaults():
    ladder = build(Glft).quote(make_ctx(best_bid=None, best_ask=None))
    # 3000 · (1 ∓ 3.3863e-4) = 2998.984 / 3001.016, rounded passively
    assert ladder.bids[0].price == Decimal("2998.9") and ladder.asks[0].price == Decimal("3001.1")
    assert ladder.bids[0].size == Decimal("0.5") == ladder.asks[0].size


def test_gamma_to_zero_gives_one_over_kappa():
    plan = build(Glft).plan(make_ctx(gamma=1e-9))
    assert plan.model_half_spread_bps == pytest.approx(1e4 / 3000.0, rel=1e-6)
    assert plan.skew_bps == pytest.approx(0.0, abs=1e-6)


def test_larger_kappa_shrinks_the_spread():
    halves = [build(Glft).plan(make_ctx(values={**WARM, "kappa": k})).model_half_spread_bps for k in (1e3, 1e4, 1e5)]
    assert halves[0] > halves[1] > halves[2]


@pytest.mark.parametrize("cls", ALL)
def test_zero_inventory_ladder_is_symmetric_around_fair(cls):
    values = {**WARM, "microprice": 3000.37}
    ctx = make_ctx(values=values, best_bid=None, best_ask=None)
    ladder = build(cls).quote(ctx)
    fair = Decimal("3000.37")
    tick = RULES.tick(fair)
    assert ladder.bids and ladder.asks
    for bid, ask in zip(ladder.bids, ladder.asks, strict=True):
        assert abs((fair - bid.price) - (ask.price - fair)) <= tick
        assert bid.size == ask.size
    assert_valid(ladder, ctx)


@pytest.mark.parametrize("cls", SKEWED)
@pytest.mark.parametrize("position", [0.4, 1.2, -0.4, -1.2])
def test_skew_moves_both_quotes_against_the_inventory(cls, position):
    strategy = build(cls)
    flat = strategy.quote(make_ctx(best_bid=None, best_ask=None))
    skewed = strategy.quote(make_ctx(position=position, best_bid=None, best_ask=None))
    sign = 1 if position > 0 else -1
    # Long: both quotes lower; short: both higher.
    assert sign * (skewed.bids[0].price - flat.bids[0].price) < 0
    assert sign * (skewed.asks[0].price - flat.asks[0].price) < 0


def test_symmetric_ignores_inventory():
    strategy = build(Symmetric)
    flat = strategy.quote(make_ctx())
    long = strategy.quote(make_ctx(position=1.0))
    assert [q.price for q in flat.bids + flat.asks] == [q.price for q in long.bids + long.asks]


def test_inventory_aware_skew_is_linear():
    strategy = InventoryAware(InventoryAware.Config(half_spread_bps=5.0, skew_bps=4.0, warmup_premium_bps=0.0))
    assert strategy.skew_bps(make_ctx(position=1.0)) == pytest.approx(2.0)
    assert strategy.skew_bps(make_ctx(position=-2.0)) == pytest.approx(-4.0)
    ladder = strategy.quote(make_ctx(position=1.0, best_bid=None, best_ask=None))
    # bid 7 bps below 3000 = 2997.9, ask 3 bps above = 3000.9
    assert (ladder.bids[0].price, ladder.asks[0].price) == (Decimal("2997.9"), Decimal("3000.9"))


@pytest.mark.parametrize("cls", ALL)
def test_reduce_only_quotes_only_the_reducing_side(cls):
    strategy = build(cls)
    long = strategy.quote(make_ctx(position=0.3, reduce_only=True))
    assert long.bids == () and side_total(long.asks) == Decimal("0.3")
    short = strategy.quote(make_ctx(position=-0.3, reduce_only=True))
    assert short.asks == () and side_total(short.bids) == Decimal("0.3")
    assert strategy.quote(make_ctx(position=0.0, reduce_only=True)) == strategy.quote(make_ctx()).empty()


@pytest.mark.parametrize("cls", ALL)
def test_at_or_beyond_the_limit_only_the_reducing_side(cls):
    strategy = build(cls)
    at_limit = strategy.quote(make_ctx(position=2.0))
    assert at_limit.bids == () and side_total(at_limit.asks) == Decimal("0.5")
    beyond = strategy.quote(make_ctx(position=-2.5))
    assert beyond.asks == () and side_total(beyond.bids) == Decimal("0.5")


def test_glft_ladder_shape_at_the_defaults():
    ctx = make_ctx(fee_bps=1.5, best_bid=None, best_ask=None)
    ladder = build(GlftLadder).quote(ctx)
    assert len(ladder.bids) == 5 == len(ladder.asks)
    assert side_total(ladder.bids) == Decimal("0.5") == side_total(ladder.asks)
    assert ladder.asks[-1].price == Decimal("3015")  # the outermost level at max_depth_bps = 50
    assert ladder.bids[-1].price == Decimal("2985")
    assert_valid(ladder, ctx)


def test_glft_ladder_shrinks_the_growing_side():
    strategy = build(GlftLadder)
    half = strategy.quote(make_ctx(position=1.0))
    assert side_total(half.bids) == Decimal("0.25") and side_total(half.asks) == Decimal("0.5")
    near = strategy.quote(make_ctx(position=1.9))
    assert side_total(near.bids) == Decimal("0.025")


def test_glft_ladder_innermost_depth_not_inside_min_depth():
    strategy = build(GlftLadder)
    ladder = LadderConfig(min_depth_bps=3.0, max_depth_bps=30.0)
    quotes = strategy.quote(make_ctx(position=1.9, best_bid=None, best_ask=None, ladder=ladder))
    # The GLFT ask depth here is about 3.386 − 19·0.2146 < 0; the ladder keeps it at 3 bps (3000.9).
    assert quotes.asks[0].price == Decimal("3000.9")


@pytest.mark.parametrize("cls", ALL)
def test_missing_or_bad_values_never_crash(cls):
    strategy = build(cls)
    bad = {"sigma": math.nan, "kappa": -5.0, "arrival_a": math.inf, "intensity_confidence": math.nan}
    for values in ({}, bad, {"microprice": math.nan}, {"microprice": -1.0}):
        ctx = make_ctx(values=values, warmed_up=False)
        assert_valid(strategy.quote(ctx), ctx)
    assert strategy.quote(make_ctx(mid=0.0, values={})).bids == ()
    assert strategy.quote(make_ctx(mid=math.nan, values={})).asks == ()


def test_bad_estimates_fall_back_and_kappa_stays_positive():
    config = ModelConfig()
    inputs = model_inputs(make_ctx(values={"sigma": -1.0, "kappa": -5.0, "kappa_bid": 0.0}), config)
    assert inputs.sigma == config.sigma and inputs.kappa == config.kappa and inputs.kappa_bid == config.kappa
    floored = model_inputs(make_ctx(values={**WARM, "kappa": 1.0}), config)
    assert floored.kappa == config.min_kappa > 0


def test_intensity_confidence_blends_estimates_with_fallbacks():
    config = ModelConfig(min_confidence=0.5)
    base = {**WARM, "kappa": 12000.0, "arrival_a": 4.0}
    low = model_inputs(make_ctx(values={**base, "intensity_confidence": 0.4}), config)
    mid = model_inputs(make_ctx(values={**base, "intensity_confidence": 0.75}), config)
    high = model_inputs(make_ctx(values={**base, "intensity_confidence": 1.0}), config)
    assert (low.kappa, low.arrival_a) == (3000.0, 1.0)
    assert mid.kappa == pytest.approx(6000.0) and mid.arrival_a == pytest.approx(2.0)  # geometric halfway
    assert (high.kappa, high.arrival_a) == pytest.approx((12000.0, 4.0))
    no_conf = {k: v for k, v in base.items() if k != "intensity_confidence"}
    assert confidence_weight(make_ctx(values=no_conf, warmed_up=False).params, 0.5) == 0.0
    assert confidence_weight(make_ctx(values=no_conf, warmed_up=True).params, 0.5) == 1.0


def test_per_side_kappa_sets_each_side_base_depth():
    values = {**WARM, "kappa_bid": 1500.0, "kappa_ask": 6000.0}
    plan = build(Glft).plan(make_ctx(values=values))
    assert plan.bid_depth_bps > plan.ask_depth_bps  # the thinner-flow side quotes wider
    off = Glft(Glft.Config(per_side_kappa=False)).plan(make_ctx(values=values))
    assert off.skew_bps == 0.0


def test_sigma_estimate_drives_the_skew():
    calm = build(Glft).plan(make_ctx(position=1.0, values={**WARM, "sigma": 1e-4}))
    wild = build(Glft).plan(make_ctx(position=1.0, values={**WARM, "sigma": 4e-4}))
    assert wild.skew_bps == pytest.approx(4 * calm.skew_bps)


def test_lot_size_sets_the_inventory_unit():
    default = build(Glft).plan(make_ctx(position=1.0))
    coarse = Glft(Glft.Config(lot_size=0.5)).plan(make_ctx(position=1.0))
    assert default.inputs.lot == pytest.approx(0.1) and coarse.inputs.lot == 0.5
    assert coarse.skew_bps == pytest.approx(default.skew_bps / 5)


def test_drift_shifts_the_fair_price():
    strategy = Glft(Glft.Config(drift_horizon_secs=10.0))
    plan = strategy.plan(make_ctx(values={**WARM, "drift_bps_per_s": 0.2}))
    assert plan.fair == pytest.approx(3000.0 * (1 + 2e-4))
    assert build(Glft).plan(make_ctx(values={**WARM, "drift_bps_per_s": 0.2})).fair == 3000.0


def test_microprice_is_the_centre():
    plan = build(Glft).plan(make_ctx(values={**WARM, "microprice": 3001.0}))
    assert plan.fair == 3001.0


def test_configs_are_frozen_values():
    config = GlftLadder.Config()
    assert attrs.evolve(config, size_growth=2.0).size_growth == 2.0
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        config.size_growth = 3.0  # type: ignore[misc]
