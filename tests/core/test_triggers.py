"""Trigger orders in the core: the trigger condition, rounding, tracking, reconciliation and pre-trade checks."""

from __future__ import annotations

from decimal import Decimal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmtool.core.config import Settings
from mmtool.core.pretrade import PreTradeChecker, describe
from mmtool.core.reconcile import reconcile
from mmtool.core.rounding import AssetRules
from mmtool.core.tracking import OrderManager
from mmtool.core.types import (
    Ladder,
    Modify,
    Order,
    OrderStatus,
    OrderUpdate,
    Place,
    Quote,
    Side,
    Tif,
    TriggerKind,
    TriggerSpec,
)

RULES = AssetRules("ETH", 4, 25)
SL, TP = TriggerKind.STOP_LOSS, TriggerKind.TAKE_PROFIT
prices = st.decimals(min_value=Decimal("0.5"), max_value=Decimal("200000"), places=3, allow_nan=False)


def _stop(px: str, kind: TriggerKind = SL, is_market: bool = True) -> TriggerSpec:
    return TriggerSpec(Decimal(px), is_market, kind)


# ---------------------------------------------------------------------------------------------- condition


@pytest.mark.parametrize(
    ("side", "kind", "above"),
    [(Side.SELL, SL, False), (Side.SELL, TP, True), (Side.BUY, SL, True), (Side.BUY, TP, False)],
)
def test_fires_above_or_below_by_side_and_kind(side: Side, kind: TriggerKind, above: bool) -> None:
    trigger = TriggerSpec(Decimal(3000), True, kind)
    assert trigger.fires_above(side) is above
    assert trigger.fires(side, Decimal(3000)), "the trigger price itself fires"
    assert trigger.fires(side, Decimal("3000.1")) is above
    assert trigger.fires(side, Decimal("2999.9")) is not above


@given(trigger_px=prices, mark=prices, kind=st.sampled_from(TriggerKind), side=st.sampled_from(Side))
def test_a_stop_and_a_take_profit_on_the_same_side_fire_on_opposite_moves(trigger_px, mark, kind, side) -> None:
    trigger = TriggerSpec(trigger_px, False, kind)
    other = attrs.evolve(trigger, kind=SL if kind is TP else TP)
    if mark != trigger_px:
        assert trigger.fires(side, mark) != other.fires(side, mark)
        assert trigger.fires(side, mark) != trigger.fires(side.opposite, mark)


# ----------------------------------------------------------------------------------------------- rounding


@given(px=prices, side=st.sampled_from(Side), kind=st.sampled_from(TriggerKind), is_market=st.booleans())
def test_round_trigger_gives_a_valid_price_rounded_passive_and_keeps_the_rest(px, side, kind, is_market) -> None:
    rounded = RULES.round_trigger(TriggerSpec(px, is_market, kind), side)
    assert RULES.is_valid_price(rounded.trigger_px)
    assert (rounded.is_market, rounded.kind) == (is_market, kind)
    # Sells round up, buys down: a stop never fires later, a take profit never earlier, than asked.
    assert rounded.trigger_px >= px if side is Side.SELL else rounded.trigger_px <= px
    assert RULES.round_trigger(rounded, side) == rounded


def test_round_trigger_examples() -> None:
    assert RULES.round_trigger(_stop("3412.34"), Side.SELL).trigger_px == Decimal("3412.4")
    assert RULES.round_trigger(_stop("3412.34"), Side.BUY).trigger_px == Decimal("3412.3")
    exact = _stop("3412.3")
    assert RULES.round_trigger(exact, Side.SELL) is exact


# --------------------------------------------------------------------------------- tracking and reconcile


def test_the_tracked_order_carries_the_trigger_through_ack_and_fill() -> None:
    manager = OrderManager()
    trigger = _stop("3400")
    place = Place("0x" + "1" * 32, "ETH", Side.SELL, Decimal(3400), Decimal("0.1"), reduce_only=True, trigger=trigger)
    assert manager.on_place(place, 1).trigger == trigger
    ack = manager.on_update(OrderUpdate("ETH", place.cloid, OrderStatus.RESTING, 2, 2, oid=7))
    assert ack is not None and ack.status is OrderStatus.RESTING and ack.trigger == trigger
    fired = manager.on_update(OrderUpdate("ETH", place.cloid, OrderStatus.RESTING, 3, 3, oid=7))
    assert fired is not None and fired.status is OrderStatus.RESTING
    done = manager.on_update(OrderUpdate("ETH", place.cloid, OrderStatus.FILLED, 4, 4, oid=7))
    assert done is not None and done.status is OrderStatus.FILLED and done.trigger == trigger
    assert manager.live() == []


def _order(cloid: str, side: Side, price: str, trigger: TriggerSpec | None = None) -> Order:
    return Order(cloid, "ETH", side, Decimal(price), Decimal("0.1"), OrderStatus.RESTING, trigger=trigger)


def test_reconcile_never_touches_a_resting_trigger_order() -> None:
    stop = _order("stop", Side.SELL, "3400", _stop("3400"))
    quote = _order("quote", Side.SELL, "3510")
    cloids = iter(f"new{i}" for i in range(10))
    ladder = Ladder(bids=(), asks=(Quote(Decimal(3520), Decimal("0.1")),))
    actions = reconcile(ladder, [stop, quote], asset="ETH", max_bps_diff=1.0, new_cloid=lambda: next(cloids))
    assert {getattr(a, "cloid", None) for a in actions} == {"quote"}, "the ladder order moves, the stop stays"
    assert all(getattr(a, "cloid", "") != "stop" for a in actions)
    empty = reconcile(Ladder.empty(), [stop], asset="ETH", max_bps_diff=1.0, new_cloid=lambda: next(cloids))
    assert empty == [], "an empty ladder cancels quotes, not stops"


# --------------------------------------------------------------------------------------------- pre-trade


def _checker(**risk: float) -> PreTradeChecker:
    settings = Settings()
    settings = attrs.evolve(settings, risk=attrs.evolve(settings.risk, **risk))
    return PreTradeChecker(settings, RULES)


def _check(action, live=(), position="0", mid=3500.0, **risk: float):
    return _checker(**risk).check([action], list(live), Decimal(position), mid, mid - 0.1, mid + 0.1)


def _trigger_place(side: Side, price: str, trigger: TriggerSpec, size: str = "0.1", reduce_only: bool = False,
                   cloid: str = "t1") -> Place:
    return Place(cloid, "ETH", side, Decimal(price), Decimal(size), reduce_only=reduce_only, trigger=trigger)


def test_pretrade_accepts_a_reduce_only_stop_beyond_the_touch() -> None:
    # A sell stop below the best bid would "cross" as a limit order; a trigger does not rest on the book.
    stop = _trigger_place(Side.SELL, "3300", _stop("3400"), reduce_only=True)
    result = _check(stop, position="0.1")
    assert result.accepted == (stop,) and result.rejected == ()
    assert "sl trigger 3400 market" in describe(stop)


def test_pretrade_rejects_a_trigger_that_would_fire_at_once() -> None:
    stop = _trigger_place(Side.SELL, "3550", _stop("3550"), reduce_only=True)
    (_, reason), = _check(stop, position="0.1").rejected
    assert reason == "trigger 3550 would fire at once: mid 3500.0 is at or below it"
    take_profit = _trigger_place(Side.SELL, "3450", _stop("3450", TP, is_market=False), reduce_only=True)
    (_, reason), = _check(take_profit, position="0.1").rejected
    assert "would fire at once" in reason and "at or above" in reason


def test_pretrade_checks_the_trigger_price_tick_and_band() -> None:
    off_tick = _trigger_place(Side.SELL, "3400", _stop("3400.05"), reduce_only=True)
    (_, reason), = _check(off_tick, position="0.1").rejected
    assert reason == "trigger price 3400.05 is not a valid ETH price (tick)"
    far = _trigger_place(Side.SELL, "3000", _stop("3000"), reduce_only=True)
    (_, reason), = _check(far, position="0.1", price_band_bps=500.0).rejected
    assert reason.startswith("trigger price 3000 is 1428.6 bps from mid")
    # A market trigger's price is only a worst price: it may lie outside the band; a limit trigger's may not.
    market = _trigger_place(Side.SELL, "3100", _stop("3400"), reduce_only=True)
    assert _check(market, position="0.1").accepted == (market,)
    limit = _trigger_place(Side.SELL, "3100", _stop("3400", is_market=False), reduce_only=True)
    (_, reason), = _check(limit, position="0.1").rejected
    assert reason.startswith("price 3100 is")


def test_pretrade_reduce_only_stop_must_reduce_and_counts_towards_the_position_limit() -> None:
    stop = _trigger_place(Side.SELL, "3400", _stop("3400"), size="0.1", reduce_only=True)
    (_, reason), = _check(stop, position="0").rejected
    assert reason == "reduce-only: SELL 0.1 would increase |position| 0"
    (_, reason), = _check(stop, position="-0.1").rejected
    assert reason.startswith("reduce-only")
    (_, reason), = _check(attrs.evolve(stop, size=Decimal("0.2")), position="0.1").rejected
    assert reason.startswith("reduce-only")
    # A non-reduce-only stop entry is limited like any order: worst case with every sell filled.
    assert Settings().trading.max_absolute_position_size == 2.0
    entry = _trigger_place(Side.SELL, "3400", _stop("3400"), size="1.2")
    assert _check(entry, position="0").accepted == (entry,)
    resting = [_order(f"q{i}", Side.SELL, "3510") for i in range(9)]
    (_, reason), = _check(entry, live=resting, position="0", max_open_orders=40).rejected
    assert reason.startswith("worst-case position -2.1")
    # Trigger orders are open orders: they count towards max_open_orders.
    (_, reason), = _check(entry, live=[_order("s", Side.SELL, "3400", _stop("3300"))], max_open_orders=1).rejected
    assert reason == "open orders would exceed 1"


def test_pretrade_uses_the_trigger_price_for_a_market_triggers_notional() -> None:
    # 0.003 ETH is 10.2 USDC at the 3400 trigger but only 3 USDC at a 1000 worst price.
    small = _trigger_place(Side.SELL, "1000", _stop("3400"), size="0.003", reduce_only=True)
    assert _check(small, position="0.1", price_band_bps=10_000.0).accepted == (small,)
    limit = _trigger_place(Side.SELL, "3300", _stop("3400", is_market=False), size="0.003", reduce_only=True)
    (_, reason), = _check(limit, position="0.1").rejected
    assert reason.startswith("notional 9.9")


def test_pretrade_refuses_to_modify_a_trigger_order() -> None:
    stop = _order("stop", Side.SELL, "3400", _stop("3400"))
    modify = Modify("stop", "ETH", Side.SELL, Decimal(3390), Decimal("0.1"), Tif.ALO)
    (_, reason), = _check(modify, live=[stop], position="0.1").rejected
    assert reason == "modify of trigger order stop: cancel it and place a new one"
