"""Hypothesis properties every strategy's ladder satisfies on every call."""

from __future__ import annotations

import math
from decimal import Decimal

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from mmtool.core.config import LadderConfig
from mmtool.plugins.strategies.glft import Glft, GlftLadder
from mmtool.plugins.strategies.hjb import Hjb
from mmtool.plugins.strategies.ladder import side_budgets
from mmtool.plugins.strategies.simple import InventoryAware, Symmetric

from ._build import RULES, assert_valid, make_ctx, side_total

STRATEGIES = {
    "symmetric": Symmetric(Symmetric.Config()),
    "inventory-aware": InventoryAware(InventoryAware.Config()),
    "glft": Glft(Glft.Config()),
    "glft-ladder": GlftLadder(GlftLadder.Config()),
    "hjb": Hjb(Hjb.Config()),
}
SHRINKS = {"glft-ladder"}
MODEL = ("glft", "glft-ladder", "hjb")

ladders = st.builds(
    lambda n, lo, span, geo: LadderConfig(
        num_levels=n, min_depth_bps=lo, max_depth_bps=lo + span, geometric_spacing=geo
    ),
    st.integers(1, 8),
    st.floats(0.5, 10.0),
    st.floats(0.0, 100.0),
    st.booleans(),
)
estimates = st.fixed_dictionaries(
    {},
    optional={
        "sigma": st.floats(1e-6, 2e-3),
        "kappa": st.floats(100.0, 1e5),
        "kappa_bid": st.floats(100.0, 1e5),
        "kappa_ask": st.floats(100.0, 1e5),
        "arrival_a": st.floats(0.01, 50.0),
        "intensity_confidence": st.floats(0.0, 1.0),
        "adverse_selection_bps": st.floats(0.0, 20.0),
        "cascade_severity": st.floats(0.0, 1.0),
        "warmup_uncertainty": st.floats(0.0, 1.0),
    },
)


@st.composite
def contexts(draw):
    mid = draw(st.floats(10.0, 100_000.0))
    max_position = draw(st.floats(0.05, 20.0))
    spread = draw(st.floats(0.0, 20.0)) * 1e-4 * mid
    offset = draw(st.floats(-30.0, 30.0)) * 1e-4 * mid
    best_bid = mid + offset - spread / 2
    best_ask = mid + offset + spread / 2
    values = dict(draw(estimates))
    if draw(st.booleans()):
        values["microprice"] = mid * (1 + draw(st.floats(-5.0, 5.0)) * 1e-4)
    return make_ctx(
        mid=mid,
        best_bid=best_bid if best_bid > 0 and draw(st.booleans()) else None,
        best_ask=best_ask if draw(st.booleans()) else None,
        values=values,
        warmed_up=draw(st.booleans()),
        position=draw(st.floats(-1.5, 1.5)) * max_position,
        max_position=max_position,
        target=draw(st.floats(0.0, 10.0)),
        gamma=draw(st.floats(1e-3, 1e4)),
        ladder=draw(ladders),
        fee_bps=draw(st.floats(-1.0, 5.0)),
        reduce_only=draw(st.booleans()),
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ctx=contexts(), name=st.sampled_from(sorted(STRATEGIES)))
def test_ladders_are_sorted_non_crossing_rounded_and_within_target(ctx, name):
    ladder = STRATEGIES[name].quote(ctx)
    assert_valid(ladder, ctx)
    # A side that is quoted carries its whole (lot-rounded) budget: close to the target whenever it can be.
    bid_budget, ask_budget = side_budgets(ctx, shrink=name in SHRINKS)
    if ladder.bids:
        assert side_total(ladder.bids) == RULES.round_size(bid_budget)
    if ladder.asks:
        assert side_total(ladder.asks) == RULES.round_size(ask_budget)
    if ctx.reduce_only or abs(ctx.position) >= ctx.max_position:
        assert not (ladder.bids and ladder.asks)
        assert not (ladder.bids and ctx.position >= 0)
        assert not (ladder.asks and ctx.position <= 0)


@settings(max_examples=200, deadline=None)
@given(ctx=contexts(), name=st.sampled_from(MODEL))
def test_model_invariants(ctx, name):
    plan = STRATEGIES[name].plan(ctx)
    assume(plan is not None)
    assert plan.inputs.kappa > 0 and plan.inputs.kappa_bid > 0 and plan.inputs.kappa_ask > 0
    assert plan.bid_depth_bps + plan.ask_depth_bps > 0  # ask above bid
    assert plan.half_spread_bps <= ctx.ladder.max_depth_bps
    assert math.isfinite(plan.skew_bps)


@settings(max_examples=200, deadline=None)
@given(
    ctx=contexts(),
    name=st.sampled_from(("inventory-aware", *MODEL)),
    fraction=st.floats(0.01, 0.99).filter(lambda f: abs(f) > 1e-6),
    sign=st.sampled_from([-1, 1]),
)
def test_skew_is_non_zero_and_reduces_inventory(ctx, name, fraction, sign):
    # Per-side κ also tilts the quotes; keep them out so the skew is the inventory's alone.
    values = {k: v for k, v in ctx.params.values.items() if k not in ("kappa_bid", "kappa_ask")}
    strategy = STRATEGIES[name]
    position = sign * fraction * ctx.max_position
    flat = make_ctx(values=values, gamma=ctx.risk_aversion, max_position=ctx.max_position, target=1.0)
    held = make_ctx(
        values=values, gamma=ctx.risk_aversion, max_position=ctx.max_position, target=1.0, position=position
    )
    if name == "inventory-aware":
        skew, skew0 = strategy.skew_bps(held), strategy.skew_bps(flat)
    else:
        skew, skew0 = strategy.plan(held).skew_bps, strategy.plan(flat).skew_bps
    assert skew0 == 0.0 or abs(skew0) < 1e-9
    assert skew != 0.0
    assert (skew > 0) == (position > 0)  # long: bid deeper and ask shallower, both quotes lower


@settings(max_examples=100, deadline=None)
@given(
    name=st.sampled_from(sorted(STRATEGIES)),
    fair=st.floats(100.0, 50_000.0),
    position=st.floats(-1.9, 1.9),
)
def test_rounded_quotes_move_weakly_with_the_skew(name, fair, position):
    values = {"microprice": fair}
    strategy = STRATEGIES[name]
    flat = strategy.quote(make_ctx(mid=fair, values=values, best_bid=None, best_ask=None))
    held = strategy.quote(make_ctx(mid=fair, values=values, best_bid=None, best_ask=None, position=position))
    assume(flat.bids and flat.asks and held.bids and held.asks)
    if position > 0:
        assert held.bids[0].price <= flat.bids[0].price and held.asks[0].price <= flat.asks[0].price
    elif position < 0:
        assert held.bids[0].price >= flat.bids[0].price and held.asks[0].price >= flat.asks[0].price
    assert held.bids[0].price < held.asks[0].price
    tick = RULES.tick(Decimal(repr(fair)))
    assert held.asks[0].price - held.bids[0].price >= tick
