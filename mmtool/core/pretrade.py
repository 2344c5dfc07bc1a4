"""Pre-trade checks: the last gate every action passes before it goes to the exchange.

Cancels always pass. A Place or Modify is rejected, with a reason, when it is for another asset; refers to
an unknown order (Modify) or reuses a live client order id (Place); has a price or size the exchange would
refuse (tick, lot); is below the exchange's minimum notional or above ``risk.max_order_notional_usd``; is
priced further than ``risk.price_band_bps`` from mid (or there is no mid to check against); would cross the
opposite best price (post-only safety; IOC orders, which take liquidity on purpose, are exempt); would
increase |position| while reduce-only (the engine's mode or the order's own flag); would bring the open orders
above ``risk.max_open_orders``; or would let the worst-case position (every resting and in-flight order on its
side filled, an order with a modify in flight at the larger of its two sizes) go beyond
``trading.max_absolute_position_size`` (times the re-entry fraction after a kill reset).

A trigger order (``Place.trigger``) is judged where it will execute: its trigger price must be a valid price
within the band (and so must the limit price of a limit trigger), the notional is taken at the trigger price for
a market trigger, and the crossing check does not apply (it does not rest on the book); instead it is rejected
when it would fire at once at the current mid (a taking order in disguise). It counts as an open order and
towards the worst-case position like any order; a reduce-only one must reduce the position. Trigger orders
cannot be modified (cancel and place instead).

Actions are evaluated in order, cancels first, each against the book as left by the actions accepted before
it; the accepted actions come back in that order (cancels first). A cancel frees its order's slot at once, but
its size stays in the worst-case position until the exchange confirms it: the order may fill before the cancel
lands. Everything is exact Decimal arithmetic.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING

import attrs

from mmtool.core.loglimit import LogLimiter, held_note
from mmtool.core.rounding import to_decimal
from mmtool.core.types import (
    TERMINAL_STATUSES,
    ZERO,
    Action,
    Cancel,
    Modify,
    Order,
    Place,
    Quote,
    Side,
    Tif,
    TriggerSpec,
)

if TYPE_CHECKING:
    from mmtool.core.config import Settings
    from mmtool.core.rounding import AssetRules

log = logging.getLogger("mmtool.pretrade")

BPS = Decimal(10_000)


@attrs.frozen
class PreTradeResult:
    """The actions that passed, in evaluation order, and the rejected ones with their reasons."""

    accepted: tuple[Action, ...]
    rejected: tuple[tuple[Action, str], ...]


def describe(action: Action) -> str:
    """A short description of an action for logs: ``Place BUY 0.5 @ 3500 (cloid)``."""
    if isinstance(action, Cancel):
        return f"Cancel {action.cloid}"
    text = f"{type(action).__name__} {action.side.name} {action.size} @ {action.price} ({action.cloid})"
    trigger = action.trigger if isinstance(action, Place) else None
    if trigger is not None:
        text += f" {trigger.kind.value} trigger {trigger.trigger_px}{' market' if trigger.is_market else ''}"
    return text


class _Exposure:
    """Open size per order (cloid -> side, size) and per side, as the checked actions leave it.

    An order with a modify in flight counts at the larger of its remaining size and the size the modify gives
    it: it rests at one or the other when the answer comes, and may fill at either meanwhile.
    """

    def __init__(self, live: Sequence[Order], pending_quote: Callable[[str], Quote | None] | None = None) -> None:
        self.orders: dict[str, tuple[Side, Decimal]] = {}
        #: Cloids of trigger orders (which cannot be modified).
        self.triggers: set[str] = set()
        buy = sell = ZERO
        for o in live:
            if o.status in TERMINAL_STATUSES:
                continue
            remaining = o.remaining
            pending = pending_quote(o.cloid) if pending_quote is not None else None
            if pending is not None and pending.size > remaining:
                remaining = pending.size
            self.orders[o.cloid] = (o.side, remaining)
            if o.trigger is not None:
                self.triggers.add(o.cloid)
            if o.side is Side.BUY:
                buy += remaining
            else:
                sell += remaining
        self.total = {Side.BUY: buy, Side.SELL: sell}

    def remove(self, cloid: str, *, filled_meanwhile: bool = False) -> None:
        """Take an order out. With ``filled_meanwhile`` (a cancel: it may still fill before the exchange takes it)
        it stops counting as an open order but its size stays in its side's worst case."""
        side, size = self.orders.pop(cloid, (None, ZERO))
        if side is not None and not filled_meanwhile:
            self.total[side] -= size

    def add(self, cloid: str, side: Side, size: Decimal) -> None:
        self.orders[cloid] = (side, size)
        self.total[side] += size


class PreTradeChecker:
    """Validates engine actions against exchange rules and the configured risk bounds."""

    def __init__(self, settings: Settings, rules: AssetRules) -> None:
        self.rules = rules
        self.max_position = to_decimal(settings.trading.max_absolute_position_size)
        self.max_notional = to_decimal(settings.risk.max_order_notional_usd)
        self.band_bps = to_decimal(settings.risk.price_band_bps)
        self.max_open_orders = settings.risk.max_open_orders
        self._log_limit = LogLimiter()
        self._market_key: tuple[float | None, float | None, float | None] = (None, None, None)
        self._market_dec: tuple[Decimal | None, Decimal | None, Decimal | None] = (None, None, None)

    def check(
        self,
        actions: Sequence[Action],
        live: Sequence[Order],
        position: Decimal,
        mid: float | None,
        best_bid: float | None,
        best_ask: float | None,
        *,
        reduce_only: bool = False,
        now_ns: int = 0,
        pending_quote: Callable[[str], Quote | None] | None = None,
        limit_scale: float = 1.0,
    ) -> PreTradeResult:
        """Split ``actions`` into accepted and rejected; ``live`` are our open orders, ``position`` is signed.

        ``pending_quote`` gives the price and size an in-flight modify will give an order (the order manager's),
        so that the worst-case position counts it; ``limit_scale`` scales the position limit (the risk
        aggregator's re-entry fraction after a kill reset).

        Rejections are logged at WARNING on ``mmtool.pretrade``, at most one per check every 10 s of event time
        (``now_ns``), each saying how many it stands for; the caller counts them all.
        """
        exposure = _Exposure(live, pending_quote)
        max_position = self.max_position if limit_scale == 1.0 else self.max_position * to_decimal(limit_scale)
        accepted: list[Action] = []
        rejected: list[tuple[Action, str]] = []
        for action in actions:
            if isinstance(action, Cancel):
                exposure.remove(action.cloid, filled_meanwhile=True)
                accepted.append(action)
        mid_d, bid_d, ask_d = self._market_decimals(mid, best_bid, best_ask)
        for action in actions:
            if isinstance(action, Cancel):
                continue
            check, reason = self._reject_reason(
                action, exposure, position, mid_d, bid_d, ask_d, reduce_only, max_position
            )
            if reason:
                held = self._log_limit.allow(check, now_ns)
                if held is not None:
                    log.warning("Pre-trade reject %s: %s%s", describe(action), reason, held_note(held))
                rejected.append((action, reason))
                continue
            if isinstance(action, Modify):
                exposure.remove(action.cloid)
                exposure.add(action.new_cloid or action.cloid, action.side, action.size)
            else:
                exposure.add(action.cloid, action.side, action.size)
                if action.trigger is not None:
                    exposure.triggers.add(action.cloid)
            accepted.append(action)
        return PreTradeResult(tuple(accepted), tuple(rejected))

    def _market_decimals(
        self, mid: float | None, best_bid: float | None, best_ask: float | None
    ) -> tuple[Decimal | None, Decimal | None, Decimal | None]:
        """The market's floats as exact Decimals (their shortest repr), remembered while they do not move."""
        key = (mid, best_bid, best_ask)
        if key != self._market_key:
            self._market_key = key
            self._market_dec = tuple(None if x is None else to_decimal(x) for x in key)  # type: ignore[assignment]
        return self._market_dec

    def _reject_reason(
        self,
        action: Place | Modify,
        exposure: _Exposure,
        position: Decimal,
        mid: Decimal | None,
        best_bid: Decimal | None,
        best_ask: Decimal | None,
        reduce_only: bool,
        max_position: Decimal,
    ) -> tuple[str, str]:
        """Which check refuses ``action`` and why, or ``("", "")`` when it may be sent. The checks run in this
        order and the first refusal ends it (a later check may rely on an earlier one, e.g. a known cloid)."""
        reason = self._identity(action, exposure)
        if reason:
            return "identity", reason
        reason = self._exchange_rules(action)
        if reason:
            return "exchange rules", reason
        reason = self._price_bounds(action, mid, best_bid, best_ask)
        if reason:
            return "price bounds", reason
        reason = self._position(action, exposure, position, reduce_only, max_position)
        if reason:
            return "position", reason
        return "", ""

    def _identity(self, action: Place | Modify, exposure: _Exposure) -> str:
        if action.asset != self.rules.asset:
            return f"asset {action.asset} is not {self.rules.asset}"
        if isinstance(action, Place):
            if action.cloid in exposure.orders:
                return f"client order id {action.cloid} is already in use"
            if len(exposure.orders) + 1 > self.max_open_orders:
                return f"open orders would exceed {self.max_open_orders}"
            return ""
        current = exposure.orders.get(action.cloid)
        if current is None:
            return f"modify of unknown order {action.cloid}"
        if action.cloid in exposure.triggers:
            return f"modify of trigger order {action.cloid}: cancel it and place a new one"
        if current[0] is not action.side:
            return f"modify cannot change the side of {action.cloid} ({current[0].name} -> {action.side.name})"
        if action.new_cloid and action.new_cloid != action.cloid and action.new_cloid in exposure.orders:
            return f"client order id {action.new_cloid} is already in use"
        return ""

    def _exchange_rules(self, action: Place | Modify) -> str:
        if not self.rules.is_valid_price(action.price):
            return f"price {action.price} is not a valid {self.rules.asset} price (tick)"
        if not self.rules.is_valid_size(action.size):
            return f"size {action.size} is not a positive multiple of the lot {self.rules.lot}"
        trigger = _trigger(action)
        if trigger is not None and not self.rules.is_valid_price(trigger.trigger_px):
            return f"trigger price {trigger.trigger_px} is not a valid {self.rules.asset} price (tick)"
        # A market trigger's price is only its worst price: it executes around the trigger price.
        price = trigger.trigger_px if trigger is not None and trigger.is_market else action.price
        notional = price * action.size
        if notional < self.rules.min_notional:
            return f"notional {notional} below the exchange minimum {self.rules.min_notional}"
        if notional > self.max_notional:
            return f"notional {notional} above max_order_notional_usd {self.max_notional}"
        return ""

    def _price_bounds(
        self, action: Place | Modify, mid: Decimal | None, best_bid: Decimal | None, best_ask: Decimal | None
    ) -> str:
        if mid is None or mid <= 0:
            return "no mid price to check the price band against"
        trigger = _trigger(action)
        if trigger is not None:
            return self._trigger_bounds(action.side, action.price, trigger, mid)
        return self._band("price", action.price, mid) or self._crossing(action, best_bid, best_ask)

    def _band(self, what: str, price: Decimal, mid: Decimal) -> str:
        if abs(price - mid) * BPS > self.band_bps * mid:
            distance = abs(price - mid) * BPS / mid
            return f"{what} {price} is {distance:.1f} bps from mid {mid}, beyond the {self.band_bps} bps band"
        return ""

    def _trigger_bounds(self, side: Side, price: Decimal, trigger: TriggerSpec, mid: Decimal) -> str:
        reason = self._band("trigger price", trigger.trigger_px, mid)
        if not reason and not trigger.is_market:
            reason = self._band("price", price, mid)
        if not reason and trigger.fires(side, mid):
            above = "at or above" if trigger.fires_above(side) else "at or below"
            reason = f"trigger {trigger.trigger_px} would fire at once: mid {mid} is {above} it"
        return reason

    def _crossing(self, action: Place | Modify, best_bid: Decimal | None, best_ask: Decimal | None) -> str:
        if action.tif is not Tif.IOC:
            if action.side is Side.BUY and best_ask is not None and action.price >= best_ask:
                return f"bid {action.price} would cross the best ask {best_ask}"
            if action.side is Side.SELL and best_bid is not None and action.price <= best_bid:
                return f"ask {action.price} would cross the best bid {best_bid}"
        return ""

    def _position(
        self, action: Place | Modify, exposure: _Exposure, position: Decimal, reduce_only: bool, max_position: Decimal
    ) -> str:
        side = action.side
        if reduce_only or action.reduce_only:
            reducing = position * side.sign < 0 and action.size <= abs(position)
            if not reducing:
                return f"reduce-only: {side.name} {action.size} would increase |position| {position}"
        old = exposure.orders[action.cloid][1] if isinstance(action, Modify) else ZERO
        before = exposure.total[side]
        after = before - old + action.size
        worst = position + side.sign * after
        # A modify that shrinks an order is allowed even when the side is already over the limit.
        if worst * side.sign > max_position and after > before:
            return (
                f"worst-case position {worst} (position {position}, {side.name} orders {after}) "
                f"beyond the limit {max_position}"
            )
        return ""


def _trigger(action: Place | Modify) -> TriggerSpec | None:
    return action.trigger if isinstance(action, Place) else None
