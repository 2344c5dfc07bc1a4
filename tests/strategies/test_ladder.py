"""Ladder building: budgets, spacing, size allocation, rounding, merging and post-only safety."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mmtool.core.config import LadderConfig
from mmtool.core.types import Side
from mmtool.plugins.strategies.ladder import (
    allocate_lots,
    build_side,
    level_depths_bps,
    limits_reached,
    multi_level_ladder,
    side_budgets,
    single_level_ladder,
)

from ._build import RULES, assert_valid, make_ctx, side_total


def test_allocate_is_exact_and_gives_the_remainder_to_inner_levels():
    assert allocate_lots(1003, [1.0] * 5, [0] * 5) == [201, 201, 201, 200, 200]
    assert sum(allocate_lots(997, [1.0, 1.5, 2.25], [0] * 3)) == 997


def test_allocate_drops_outermost_levels_below_the_minimum():
    # 10 lots over 5 levels would be 2 each; with a minimum of 3 only 3 levels fit (4, 3, 3).
    assert allocate_lots(10, [1.0] * 5, [3] * 5) == [4, 3, 3]
    assert allocate_lots(2, [1.0] * 5, [3] * 5) == []
    assert allocate_lots(0, [1.0], [0]) == []


def test_geometric_and_linear_spacing():
    geo = level_depths_bps(4.0, LadderConfig(num_levels=3, min_depth_bps=2.0, max_depth_bps=16.0))
    assert geo == pytest.approx([4.0, 8.0, 16.0])
    lin = level_depths_bps(
        4.0, LadderConfig(num_levels=3, min_depth_bps=2.0, max_depth_bps=16.0, geometric_spacing=False)
    )
    assert lin == pytest.approx([4.0, 10.0, 16.0])


def test_innermost_depth_is_kept_within_bounds():
    ladder = LadderConfig(num_levels=3, min_depth_bps=2.0, max_depth_bps=16.0)
    assert level_depths_bps(-5.0, ladder)[0] == 2.0
    assert level_depths_bps(50.0, ladder) == [16.0, 16.0, 16.0]
    assert level_depths_bps(5.0, LadderConfig(num_levels=1)) == [5.0]


def test_budgets_shrink_the_growing_side_to_zero_at_the_limit():
    assert side_budgets(make_ctx(position=0.0), shrink=True) == (0.5, 0.5)
    bid, ask = side_budgets(make_ctx(position=1.0), shrink=True)
    assert bid == pytest.approx(0.25) and ask == 0.5
    bid, ask = side_budgets(make_ctx(position=-1.5), shrink=True)
    assert bid == 0.5 and ask == pytest.approx(0.125)
    assert side_budgets(make_ctx(position=2.0), shrink=True) == (0.0, 0.5)


def test_budgets_never_exceed_the_room_under_the_limit():
    bid, ask = side_budgets(make_ctx(position=1.8), shrink=False)
    assert bid == pytest.approx(0.2) and ask == 0.5


def test_reduce_only_quotes_only_the_reducing_side_up_to_the_position():
    assert limits_reached(make_ctx(position=0.3, reduce_only=True)) == (True, False)
    assert side_budgets(make_ctx(position=0.3, reduce_only=True), shrink=True) == (0.0, 0.3)
    assert side_budgets(make_ctx(position=-3.0), shrink=True) == (0.5, 0.0)
    assert side_budgets(make_ctx(position=0.0, reduce_only=True), shrink=True) == (0.0, 0.0)


def test_duplicate_prices_after_rounding_are_merged():
    # Five levels between 2.0 and 2.1 bps at 3000 land on at most two 0.1 ticks.
    ctx = make_ctx(ladder=LadderConfig(num_levels=5, min_depth_bps=2.0, max_depth_bps=2.1), best_bid=None)
    asks = build_side(Side.SELL, 3000.0, level_depths_bps(2.0, ctx.ladder), [1.0] * 5, 0.5, ctx)
    assert len(asks) < 5
    assert side_total(asks) == Decimal("0.5")
    assert [q.price for q in asks] == sorted({q.price for q in asks})


def test_post_only_moves_a_crossing_level_one_tick_inside():
    ctx = make_ctx(best_bid=2999.0, best_ask=2999.5)
    ladder = single_level_ladder(ctx, 3000.0, 1.0, 1.0)
    assert ladder.bids[0].price == Decimal("2999.4")
    assert ladder.asks[0].price == Decimal("3000.3")
    ctx = make_ctx(best_bid=3000.5, best_ask=3001.0)
    ladder = single_level_ladder(ctx, 3000.0, 1.0, 1.0)
    assert ladder.asks[0].price == Decimal("3000.6")
    assert ladder.bids[0].price == Decimal("2999.7")
    assert_valid(ladder, ctx)


def test_prices_are_rounded_passively():
    ctx = make_ctx(best_bid=None, best_ask=None)
    ladder = single_level_ladder(ctx, 3000.0, 1.0, 1.0)  # 2999.7 and 3000.3 exactly
    assert (ladder.bids[0].price, ladder.asks[0].price) == (Decimal("2999.7"), Decimal("3000.3"))
    ladder = single_level_ladder(ctx, 3000.05, 1.0, 1.0)  # 2999.74995 and 3000.35005
    assert (ladder.bids[0].price, ladder.asks[0].price) == (Decimal("2999.7"), Decimal("3000.4"))


def test_sizes_round_down_and_the_remainder_is_spread():
    ctx = make_ctx(target=0.50037, best_bid=None, best_ask=None)
    ladder = multi_level_ladder(ctx, 3000.0, 3.0, 3.0)
    sizes = [q.size for q in ladder.bids]
    assert side_total(ladder.bids) == Decimal("0.5003")
    assert max(sizes) - min(sizes) <= RULES.lot
    assert_valid(ladder, ctx)


def test_levels_below_the_minimum_size_are_dropped_and_redistributed():
    # Min size at 3000 is 10/3000 = 0.0034 ETH; 0.01 spreads over at most two levels.
    ctx = make_ctx(target=0.01, max_position=1.0)
    ladder = multi_level_ladder(ctx, 3000.0, 3.0, 3.0)
    assert len(ladder.bids) == 2 and len(ladder.asks) == 2
    assert side_total(ladder.bids) == Decimal("0.01") == side_total(ladder.asks)
    assert_valid(ladder, ctx)
    tiny = make_ctx(target=0.003)
    assert multi_level_ladder(tiny, 3000.0, 3.0, 3.0).bids == ()


def test_size_growth_puts_more_size_outward():
    ctx = make_ctx(best_bid=None, best_ask=None)
    ladder = multi_level_ladder(ctx, 3000.0, 3.0, 3.0, size_growth=2.0)
    sizes = [q.size for q in ladder.asks]
    assert sizes == sorted(sizes) and sizes[0] < sizes[-1]
    assert side_total(ladder.asks) == Decimal("0.5")


def test_non_positive_prices_are_skipped():
    ctx = make_ctx(ladder=LadderConfig(num_levels=2, min_depth_bps=5000.0, max_depth_bps=20000.0))
    ladder = multi_level_ladder(ctx, 3000.0, 5000.0, 5000.0)
    assert [q.price for q in ladder.bids] == [Decimal(1500)]
    assert len(ladder.asks) == 2
