"""Hand-built market parameters and quote contexts for the strategy tests."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from mmtool.core.components import QuoteContext
from mmtool.core.config import LadderConfig
from mmtool.core.rounding import AssetRules
from mmtool.core.types import Ladder, MarketParams

RULES = AssetRules("ETH", 4)
#: Estimator values at the strategies' fallback defaults, fully warm.
WARM = {"sigma": 1e-4, "kappa": 3000.0, "arrival_a": 1.0, "intensity_confidence": 1.0, "warmup_uncertainty": 0.0}


def make_ctx(
    *,
    mid: float = 3000.0,
    best_bid: float | None = 2999.9,
    best_ask: float | None = 3000.1,
    values: Mapping[str, float] | None = None,
    warmed_up: bool = True,
    position: float = 0.0,
    max_position: float = 2.0,
    target: float = 0.5,
    gamma: float = 100.0,
    ladder: LadderConfig | None = None,
    fee_bps: float = 0.0,
    ts_ns: int = 0,
    reduce_only: bool = False,
) -> QuoteContext:
    """A quote context for ETH (szDecimals 4) with warm default estimator values unless told otherwise."""
    params = MarketParams("ETH", ts_ns, mid, best_bid, best_ask, dict(WARM if values is None else values), warmed_up)
    return QuoteContext(
        params=params,
        position=position,
        max_position=max_position,
        target_liquidity=target,
        risk_aversion=gamma,
        rules=RULES,
        ladder=ladder or LadderConfig(),
        maker_fee_bps=fee_bps,
        ts_ns=ts_ns,
        reduce_only=reduce_only,
    )


def side_total(quotes) -> Decimal:
    """Sum of the sizes of one side."""
    return sum((q.size for q in quotes), Decimal(0))


def assert_valid(ladder: Ladder, ctx: QuoteContext) -> None:
    """Sorted, non-crossing, post-only safe, exchange-valid, and within the target on each side."""
    rules = ctx.rules
    bids = [q.price for q in ladder.bids]
    asks = [q.price for q in ladder.asks]
    assert bids == sorted(bids, reverse=True) and len(set(bids)) == len(bids)
    assert asks == sorted(asks) and len(set(asks)) == len(asks)
    if bids and asks:
        assert bids[0] < asks[0]
    p = ctx.params
    for q in ladder.bids:
        if p.best_ask is not None:
            assert q.price < Decimal(repr(p.best_ask))
    for q in ladder.asks:
        if p.best_bid is not None:
            assert q.price > Decimal(repr(p.best_bid))
    for q in (*ladder.bids, *ladder.asks):
        assert rules.is_valid_price(q.price), q
        assert rules.is_valid_size(q.size), q
        assert q.size >= rules.min_size(q.price), q
    target = Decimal(repr(ctx.target_liquidity))
    assert side_total(ladder.bids) <= target
    assert side_total(ladder.asks) <= target
