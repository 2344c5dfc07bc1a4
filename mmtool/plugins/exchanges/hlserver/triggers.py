"""Trigger (stop-loss / take-profit) orders of the local exchange: their checks, their book, and how they fire.

A trigger order is accepted with the checks a limit order gets (tick for its price and its trigger price, lot,
minimum value, reduce-only against the position) and then waits in its account's :class:`TriggerBook`. While it
waits it is listed (``openOrders``, ``frontendOpenOrders``, ``orderStatus``: status ``open``) but it is not on the
book and holds no margin. It fires when the asset's mark (the synthetic book's mid, this exchange's mark price)
reaches its trigger price: a take profit on a sell (a stop loss on a buy) once the mark is at or above it, a stop
loss on a sell (a take profit on a buy) once it is at or below it; one whose condition already holds when it is
placed fires at once. Firing turns it, under the same oid, into a real order: a market trigger into an Ioc at the
trigger price with :data:`MARKET_SLIPPAGE`, a limit trigger into a Gtc at its limit price. The matching engine
then applies the usual rules, so a reduce-only trigger can only reduce the position (it is clipped to it, or
cancelled when there is nothing left to reduce).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING

from mmtool.core.rounding import PASSIVE, AssetRules
from mmtool.core.types import Side, Tif, TriggerSpec
from mmtool.plugins.exchanges.hlserver.numbers import px
from mmtool.plugins.exchanges.sim.matching import (
    MARGIN_ERROR,
    MIN_NOTIONAL_ERROR,
    REDUCE_ONLY_ERROR,
    SIZE_ERROR,
    TICK_ERROR,
)

if TYPE_CHECKING:
    from mmtool.plugins.exchanges.hlserver.accounts import OrderInfo

#: How far through the trigger price a fired market trigger may fill: the SDK's default for market orders.
MARKET_SLIPPAGE = Decimal("0.05")
INVALID_TRIGGER_PX = "Order has invalid trigger price."
TRIGGERED = "Triggered"


def check_trigger_order(
    rules: AssetRules, asset_index: int, side: Side, price: Decimal, size: Decimal, trigger: TriggerSpec,
    reduce_only: bool, position: Decimal,
) -> str:
    """The exchange's error text for a trigger order it must refuse, or ``""`` to accept it.

    ``position`` is the account's signed position on the asset. A reduce-only order closing the whole position is
    exempt from the minimum value, as for limit orders.
    """
    suffix = f" asset={asset_index}"
    if trigger.trigger_px <= 0:
        return INVALID_TRIGGER_PX + suffix
    if not rules.is_valid_price(price) or not rules.is_valid_price(trigger.trigger_px):
        return TICK_ERROR + suffix
    if not rules.is_valid_size(size):
        return SIZE_ERROR + suffix
    closes_all = False
    if reduce_only:
        reducible = abs(position) if position != 0 and (position > 0) != (side is Side.BUY) else Decimal(0)
        if reducible == 0:
            return REDUCE_ONLY_ERROR + suffix
        size = min(size, reducible)
        closes_all = size == reducible
    # A market trigger's price is only its worst price: it executes around the trigger price.
    value_px = trigger.trigger_px if trigger.is_market else price
    if not closes_all and value_px * size < rules.min_notional:
        return MIN_NOTIONAL_ERROR + suffix
    return ""


def execution_terms(info: OrderInfo, rules: AssetRules) -> tuple[Decimal, Tif]:
    """The price and time in force of the order a fired trigger becomes."""
    trigger = info.trigger
    assert trigger is not None
    if not trigger.is_market:
        return info.limit_px, Tif.GTC
    limit = trigger.trigger_px * (1 + info.side.sign * MARKET_SLIPPAGE)
    # Passive rounding keeps the limit within the slippage allowance.
    return rules.round_price(limit, info.side, PASSIVE), Tif.IOC


def refused_status(error: str) -> str:
    """The ``orderStatus`` of a fired trigger whose order the matching engine refused (``error`` is its text)."""
    if error.startswith(REDUCE_ONLY_ERROR):
        return "reduceOnlyCanceled"
    if error.startswith(MARGIN_ERROR):
        return "marginCanceled"
    return "canceled"


def trigger_condition(info: OrderInfo) -> str:
    """``frontendOpenOrders``' ``triggerCondition``: ``Price above 3400``, ``Triggered``, or ``N/A``."""
    trigger = info.trigger
    if trigger is None:
        return "N/A"
    if info.triggered:
        return TRIGGERED
    return f"Price {'above' if trigger.fires_above(info.side) else 'below'} {px(trigger.trigger_px)}"


class TriggerBook:
    """One account's trigger orders waiting for their price, by oid, oldest first."""

    def __init__(self) -> None:
        self._waiting: dict[int, OrderInfo] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def __contains__(self, oid: object) -> bool:
        return oid in self._waiting

    def add(self, info: OrderInfo) -> None:
        """Hold a trigger order until it fires or is cancelled."""
        self._waiting[info.oid] = info

    def discard(self, oid: int) -> bool:
        """Forget a waiting order (cancelled); True when it was waiting."""
        return self._waiting.pop(oid, None) is not None

    def due(self, asset_index: int, mark: Decimal) -> list[OrderInfo]:
        """Remove and return the orders on ``asset_index`` whose condition ``mark`` meets, oldest first."""
        fired = [
            info for info in self._waiting.values()
            if info.asset == asset_index and info.trigger is not None and info.trigger.fires(info.side, mark)
        ]
        for info in fired:
            del self._waiting[info.oid]
        return fired
