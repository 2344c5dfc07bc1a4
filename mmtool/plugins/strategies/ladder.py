"""Turning depths into an exchange-valid ladder: size budgets, level spacing, rounding, merging, post-only.

Every strategy ends here, so these rules hold for all of them:

- Prices are rounded PASSIVE by ``ctx.rules`` (bids down, asks up) and then kept post-only safe: a bid
  strictly below the best ask, an ask strictly above the best bid (moved to one tick inside if needed).
- Levels whose prices coincide after rounding are merged (their sizes summed).
- Each side's total is its budget rounded DOWN to the lot, never more than ``target_liquidity``; the budget is
  spread over the levels by weight, and the lots left over by rounding go to the levels with the largest
  remainders (innermost first on ties).
- A level below ``rules.min_size(price)`` is never sent: the outermost level is dropped and its share
  redistributed until every level meets the minimum (or the side is empty).
- At or beyond the position limit, or when ``ctx.reduce_only`` is set, only the side that reduces the
  position is quoted, with at most the position's size.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

from mmtool.core.errors import RoundingError
from mmtool.core.rounding import to_decimal
from mmtool.core.types import Ladder, Quote, Side

if TYPE_CHECKING:
    from mmtool.core.components import QuoteContext
    from mmtool.core.config import LadderConfig
    from mmtool.core.rounding import AssetRules

#: One basis point as a fraction.
BPS = 1e-4
#: Relative slack when comparing the float position with its limit.
_LIMIT_EPS = 1e-9
#: Per side, the inputs and result of the last :func:`build_side` (see there).
_LAST_SIDE: dict[Side, tuple[AssetRules, int, list[tuple[Decimal, float]], tuple[Quote, ...]]] = {}


def limits_reached(ctx: QuoteContext) -> tuple[bool, bool]:
    """Whether the bid (long side) and the ask (short side) are closed: at or beyond the limit, or reduce-only."""
    limit = ctx.max_position
    position = ctx.position if math.isfinite(ctx.position) else 0.0
    if not limit > 0.0 or ctx.reduce_only:
        return position >= 0.0, position <= 0.0
    slack = limit * _LIMIT_EPS
    long_full = position >= limit - slack
    short_full = position <= -limit + slack
    if long_full or short_full:
        return long_full or position >= 0.0, short_full or position <= 0.0
    return False, False


def side_budgets(ctx: QuoteContext, shrink: bool) -> tuple[float, float]:
    """Total size wanted on the bid and on the ask side, in asset units, before lot rounding.

    A side that would grow the position never exceeds the room left under the limit; with ``shrink`` it also
    scales down linearly, ``1 − |position|/max_position``, to zero at the limit. When only the reducing side
    is quoted its size is at most the position.
    """
    target = ctx.target_liquidity if math.isfinite(ctx.target_liquidity) else 0.0
    target = max(target, 0.0)
    position = ctx.position if math.isfinite(ctx.position) else 0.0
    bid_closed, ask_closed = limits_reached(ctx)
    if bid_closed or ask_closed:
        bid = 0.0 if bid_closed else min(target, -position)
        ask = 0.0 if ask_closed else min(target, position)
        return max(bid, 0.0), max(ask, 0.0)
    limit = ctx.max_position
    bid_target = ask_target = target
    if shrink:
        scale = 1.0 - min(abs(position) / limit, 1.0)
        if position > 0.0:
            bid_target *= scale
        elif position < 0.0:
            ask_target *= scale
    bid = min(bid_target, limit - position)
    ask = min(ask_target, limit + position)
    return max(bid, 0.0), max(ask, 0.0)


def level_depths_bps(inner_bps: float, ladder: LadderConfig) -> list[float]:
    """Depths of ``ladder.num_levels`` levels, from the innermost (kept within the min/max depth) out to the max."""
    outer = ladder.max_depth_bps
    inner = min(max(inner_bps, ladder.min_depth_bps), outer)
    n = ladder.num_levels
    if n <= 1:
        return [inner]
    if ladder.geometric_spacing:
        ratio = outer / inner
        return [inner * ratio ** (i / (n - 1)) for i in range(n)]
    return [inner + (outer - inner) * i / (n - 1) for i in range(n)]


def _opposite_best(side: Side, ctx: QuoteContext) -> float | None:
    """The opposite side's best price (best ask for a bid), or None when unknown."""
    best = ctx.params.best_ask if side is Side.BUY else ctx.params.best_bid
    if best is None or not math.isfinite(best) or best <= 0.0:
        return None
    return best


def _post_only(price: Decimal, side: Side, opposite: Decimal | None, rules: AssetRules) -> Decimal:
    """Move a price to one tick inside the opposite best when it would cross it (bid < best ask, ask > best bid)."""
    if opposite is None:
        return price
    if side is Side.BUY:
        if price >= opposite:
            return rules.round_price(opposite - rules.tick(opposite), Side.BUY)
        return price
    if price <= opposite:
        return rules.round_price(opposite + rules.tick(opposite), Side.SELL)
    return price


def _priced_levels(
    side: Side, fair: float, depths_bps: Sequence[float], weights: Sequence[float], ctx: QuoteContext
) -> list[tuple[Decimal, float]]:
    """Rounded, post-only safe prices with their weights; coinciding prices merged, best first."""
    merged: dict[Decimal, float] = {}
    buy = side is Side.BUY
    sign = -1.0 if buy else 1.0
    rules = ctx.rules
    opposite = _opposite_best(side, ctx)
    opposite_exact: Decimal | None = None
    for depth, weight in zip(depths_bps, weights, strict=True):
        raw = fair * (1.0 + sign * depth * BPS)
        if not (math.isfinite(raw) and raw > 0.0):
            continue
        try:
            price = rules.round_price(raw, side)
            # Passive rounding never crosses the raw price, and a float below (above) the opposite best has a
            # decimal repr below (above) it too; so only a raw price at or through it needs the exact check.
            if opposite is not None and (raw >= opposite if buy else raw <= opposite):
                if opposite_exact is None:
                    opposite_exact = to_decimal(opposite)
                price = _post_only(price, side, opposite_exact, rules)
        except (RoundingError, ArithmeticError):  # absurd prices (decimal overflow) are skipped, never raised
            continue
        merged[price] = merged.get(price, 0.0) + weight
    # Keys are distinct prices, so sorting the pairs compares prices only.
    return sorted(merged.items(), reverse=buy)


def allocate_lots(budget_lots: int, weights: Sequence[float], min_lots: Sequence[int]) -> list[int]:
    """Split ``budget_lots`` over levels by weight, exactly, dropping outermost levels that miss their minimum.

    Returns the lots of the kept levels (a prefix of the input), summing to ``budget_lots``, or an empty list
    when not even the innermost level can reach its minimum.
    """
    n = len(weights)
    while n > 0 and budget_lots > 0:
        kept = weights[:n]
        total = sum(kept)
        shares = [budget_lots * w / total for w in kept]
        lots = [math.floor(s) for s in shares]  # an int already
        left = budget_lots - sum(lots)
        if left:  # nothing to hand out in the common case; any other value keeps the general path
            # Largest remainders first; the stable sort keeps inner levels ahead on ties.
            order = sorted(range(n), key=lambda i: shares[i] - lots[i], reverse=True)
            for i in order[:left]:
                lots[i] += 1
        for i in range(n):
            if lots[i] < min_lots[i]:
                break
        else:
            return lots
        n -= 1
    return []


def build_side(
    side: Side,
    fair: float,
    depths_bps: Sequence[float],
    weights: Sequence[float],
    budget: float,
    ctx: QuoteContext,
) -> tuple[Quote, ...]:
    """One side of a ladder from depths (bps from fair, innermost first), relative weights and a size budget."""
    rules: AssetRules = ctx.rules
    if not (budget > 0.0 and math.isfinite(budget)) or not depths_bps:
        return ()
    budget_lots = rules.size_lots(budget)
    levels = _priced_levels(side, fair, depths_bps, weights, ctx)
    if not levels or budget_lots <= 0:
        return ()
    # The side is a function of the rules, the budget and the rounded, weighted prices alone; when they repeat
    # (most requotes move one side only) the quotes built last time are the answer.
    last = _LAST_SIDE.get(side)
    if last is not None and last[0] is rules and last[1] == budget_lots and last[2] == levels:
        return last[3]
    min_lots = [rules.min_lots(price) for price, _ in levels]
    lots = allocate_lots(budget_lots, [w for _, w in levels], min_lots)
    lot = rules.lot
    quotes = tuple(Quote(price, lot * n) for (price, _), n in zip(levels, lots, strict=False) if n > 0)
    _LAST_SIDE[side] = (rules, budget_lots, levels, quotes)
    return quotes


def single_level_ladder(
    ctx: QuoteContext, fair: float, bid_depth_bps: float, ask_depth_bps: float, shrink: bool = False
) -> Ladder:
    """One level a side at the given depths (bps from fair; negative means through fair), budgets per the rules."""
    bid_budget, ask_budget = side_budgets(ctx, shrink)
    return Ladder(
        bids=build_side(Side.BUY, fair, [bid_depth_bps], [1.0], bid_budget, ctx),
        asks=build_side(Side.SELL, fair, [ask_depth_bps], [1.0], ask_budget, ctx),
    )


def multi_level_ladder(
    ctx: QuoteContext, fair: float, bid_inner_bps: float, ask_inner_bps: float, size_growth: float = 1.0
) -> Ladder:
    """A ``ctx.ladder``-shaped ladder from each side's innermost depth out to ``max_depth_bps``.

    Level ``i`` (0 innermost) weighs ``size_growth**i``; the growing side shrinks towards the position limit.
    """
    bid_budget, ask_budget = side_budgets(ctx, shrink=True)
    weights = [size_growth**i for i in range(ctx.ladder.num_levels)]
    return Ladder(
        bids=build_side(Side.BUY, fair, level_depths_bps(bid_inner_bps, ctx.ladder), weights, bid_budget, ctx),
        asks=build_side(Side.SELL, fair, level_depths_bps(ask_inner_bps, ctx.ladder), weights, ask_budget, ctx),
    )
