"""The ladder's quick pricing and sizing give exactly the plain definition's result.

The reference below is the definition written the slow, obvious way: every level rounded passively through
``Decimal(repr(price))``, moved one tick inside ``Decimal(repr(opposite best))`` when it would cross it,
merged, sorted, and sized with ``min_size`` and ``round_size``. The opposite best is drawn close to the fair
price so that levels cross it often.
"""

from __future__ import annotations

import math
from decimal import Decimal

import attrs
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mmtool.core.errors import RoundingError
from mmtool.core.rounding import AssetRules
from mmtool.core.types import Quote, Side
from mmtool.plugins.strategies.ladder import BPS, allocate_lots, build_side

from ._build import make_ctx


def _reference_side(side: Side, fair: float, depths: list[float], weights: list[float], budget: float, ctx) -> tuple:
    rules: AssetRules = ctx.rules
    best = ctx.params.best_ask if side is Side.BUY else ctx.params.best_bid
    opposite = Decimal(repr(best)) if best is not None and math.isfinite(best) and best > 0 else None
    merged: dict[Decimal, float] = {}
    for depth, weight in zip(depths, weights, strict=True):
        raw = fair * (1.0 + (-1.0 if side is Side.BUY else 1.0) * depth * BPS)
        if not (math.isfinite(raw) and raw > 0.0):
            continue
        try:
            price = rules.round_price(Decimal(repr(raw)), side)
            if opposite is not None and side is Side.BUY and price >= opposite:
                price = rules.round_price(opposite - rules.tick(opposite), Side.BUY)
            elif opposite is not None and side is Side.SELL and price <= opposite:
                price = rules.round_price(opposite + rules.tick(opposite), Side.SELL)
        except RoundingError:
            continue
        merged[price] = merged.get(price, 0.0) + weight
    levels = sorted(merged.items(), key=lambda item: item[0], reverse=side is Side.BUY)
    budget_lots = int(rules.round_size(Decimal(repr(budget))) / rules.lot)
    if not levels or budget_lots <= 0:
        return ()
    min_lots = [int(rules.min_size(price) / rules.lot) for price, _ in levels]
    lots = allocate_lots(budget_lots, [w for _, w in levels], min_lots)
    return tuple(Quote(price, rules.lot * n) for (price, _), n in zip(levels, lots, strict=False) if n > 0)


@settings(max_examples=400, deadline=None)
@given(
    st.floats(min_value=0.5, max_value=200_000.0),
    st.lists(st.floats(min_value=-5.0, max_value=80.0), min_size=1, max_size=8),
    st.floats(min_value=-0.002, max_value=0.002),
    st.floats(min_value=0.0, max_value=3.0),
    st.sampled_from([Side.BUY, Side.SELL]),
    st.sampled_from([2, 4, 5]),
)
@example(3000.1, [0.0], 0.0, 1.0, Side.BUY, 4)  # the raw price equals the best ask exactly
@example(3000.1, [0.0], 0.0, 1.0, Side.SELL, 4)
def test_build_side_equals_the_reference(
    fair: float, depths: list[float], offset: float, budget: float, side: Side, sz_decimals: int
) -> None:
    best = fair * (1.0 + offset)
    ctx = attrs.evolve(make_ctx(mid=fair, best_bid=best, best_ask=best), rules=AssetRules("X", sz_decimals))
    weights = [1.0 + 0.5 * i for i in range(len(depths))]
    got = build_side(side, fair, depths, weights, budget, ctx)
    expected = _reference_side(side, fair, depths, weights, budget, ctx)
    assert got == expected
    assert [(q.price.as_tuple(), q.size.as_tuple()) for q in got] == [
        (q.price.as_tuple(), q.size.as_tuple()) for q in expected
    ]


_RULES = AssetRules("X", 4)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(min_value=2999.0, max_value=3001.0),  # fair moves by less than a tick as often as not
            st.sampled_from([0.5, 1.0, 1.0, 2.5]),
            st.sampled_from([Side.BUY, Side.SELL]),
        ),
        min_size=2,
        max_size=30,
    )
)
def test_a_requote_that_reuses_the_last_side_is_still_the_reference(steps: list[tuple[float, float, Side]]) -> None:
    depths, weights = [2.0, 5.0, 12.0], [1.0, 1.5, 2.0]
    for fair, budget, side in steps:
        ctx = attrs.evolve(make_ctx(mid=fair, best_bid=fair - 0.05, best_ask=fair + 0.05), rules=_RULES)
        assert build_side(side, fair, depths, weights, budget, ctx) == _reference_side(
            side, fair, depths, weights, budget, ctx
        )


def test_the_same_inputs_give_the_same_quotes_object() -> None:
    ctx = attrs.evolve(make_ctx(mid=3000.0, best_bid=2999.95, best_ask=3000.05), rules=_RULES)
    first = build_side(Side.SELL, 3000.01, [2.0, 5.0], [1.0, 1.0], 1.0, ctx)
    assert first and build_side(Side.SELL, 3000.02, [2.0, 5.0], [1.0, 1.0], 1.0, ctx) is first
    assert build_side(Side.SELL, 3000.01, [2.0, 5.0], [1.0, 1.0], 2.0, ctx) != first  # another budget
