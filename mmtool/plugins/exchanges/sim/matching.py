"""Matching engine for our orders against the synthetic market's displayed book, with a realistic queue.

Our orders never enter the synthetic book (the market path is exogenous: it does not see us); they are laid over
it. Queue model, in one place:

* An order resting at price p joins the queue **behind** the displayed synthetic size at p when it is placed:
  ``queue_ahead = displayed(p)`` (0 inside the spread or at an empty level).
* A synthetic aggressive trade walks the book and reports what it consumed level by level; its last level may
  be partial. Our orders on the hit side at a price **strictly better** than the trade's last price are filled
  completely (price priority: the aggressor would have reached them first); that volume is extra to the
  synthetic trade (no market impact from our size). At the **last** price the level's consumed volume is shared
  in FIFO order: first the synthetic queue ahead of our first order, then that order, then the synthetic
  volume between it and our next order at that price, and so on (price-time priority among our own orders);
  what our orders took there is given back to the displayed level, since the synthetic orders behind them
  were not reached (unless the trade went beyond the displayed size into hidden liquidity anyway).
  Orders beyond the last price are untouched.
* When the book refreshes and the displayed size at our price shrinks for reasons other than trades
  (synthetic cancellations), ``queue_ahead`` shrinks in proportion (``ahead *= new / old``); when it grows
  the new size joins behind us. Levels beyond the displayed depth leave ``queue_ahead`` unchanged.
* When the refreshed book crosses a resting order (best ask <= our bid, or best bid >= our ask) the market
  moved through it: the order fills completely at its own price, as maker.
* Taking orders (Ioc, Gtc that cross) walk the displayed synthetic book level by level at each level's price
  and consume it. Self-trade prevention is "expire maker": our own resting orders the taker would reach are
  cancelled first (reason ``selfTradeCanceled``).

Everything is exact: prices and sizes are integers (see :mod:`units`), money is Decimal. The engine records what
happens (order updates, fills, public trades, funding) in ``records``; callers drain and translate them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from decimal import Decimal
from typing import Literal

import attrs

from mmtool.core.rounding import AssetRules, to_wire
from mmtool.core.types import ZERO, Liquidity, OrderStatus, Side, Tif
from mmtool.plugins.exchanges.sim.book import SimBook
from mmtool.plugins.exchanges.sim.ledger import Account, FillRecord, usdc
from mmtool.plugins.exchanges.sim.units import DecimalCache, from_units, to_units

# Hyperliquid's error texts (order errors get " asset=<id>" appended, as the exchange does).
TICK_ERROR = "Price must be divisible by tick size."
SIZE_ERROR = "Order has invalid size."
MIN_NOTIONAL_ERROR = "Order must have minimum value of $10."
MARGIN_ERROR = "Insufficient margin to place order."
REDUCE_ONLY_ERROR = "Reduce only order would increase position."
ALO_ERROR = "Post only order would have immediately matched, bbo was {bbo}."
ALO_ERROR_HEAD = ALO_ERROR.split(",", 1)[0]
IOC_ERROR = "Order could not immediately match against any resting orders."
MISSING_ORDER_ERROR = "Order was never placed, already canceled, or filled."
MODIFY_MISSING_ERROR = "Cannot modify canceled or filled order"
DUPLICATE_CLOID_ERROR = "Duplicate client order id."
# Reasons carried by CANCELLED order records.
SELF_TRADE_CANCELED = "selfTradeCanceled"
REDUCE_ONLY_CANCELED = "reduceOnlyCanceled"
IOC_REMAINDER_CANCELED = "Ioc remainder canceled"


@attrs.frozen
class OrderRequest:
    """An order as the exchange receives it (place, or the new terms of a modify)."""

    cloid: str
    side: Side
    price: Decimal
    size: Decimal
    tif: Tif = Tif.ALO
    reduce_only: bool = False


@attrs.frozen
class OrderRecord:
    """A state change of one of our orders. ``size`` is the resting (open) size, ``filled`` cumulative."""

    ts_ns: int
    cloid: str
    oid: int
    side: Side
    price: Decimal
    size: Decimal
    filled: Decimal
    status: OrderStatus
    reason: str = ""


@attrs.frozen
class TradeRecord:
    """A public trade print; ``side`` is the aggressor's. Our fills print too, under the same ``tid``."""

    ts_ns: int
    price: Decimal
    size: Decimal
    side: Side
    tid: str


@attrs.frozen
class FundingRecord:
    """A funding payment: ``rate`` per interval, ``payment`` signed in USDC (positive: received)."""

    ts_ns: int
    rate: Decimal
    payment: Decimal


Record = OrderRecord | FillRecord | TradeRecord | FundingRecord


@attrs.frozen
class PlaceResult:
    """The exchange's answer to a place or modify: resting, filled (``filled`` may be less than asked for an
    Ioc) or an error text."""

    status: Literal["resting", "filled", "error"]
    oid: int | None = None
    error: str = ""
    filled: Decimal = ZERO
    avg_price: Decimal | None = None

    @property
    def crossed(self) -> bool:
        """True for a post-only order refused because its price would have crossed the book."""
        return self.status == "error" and self.error.startswith(ALO_ERROR_HEAD)

    @property
    def ok(self) -> bool:
        """True unless the request was refused."""
        return self.status != "error"


@attrs.frozen
class RestingOrder:
    """A read-only view of one of our live orders, with its queue position."""

    cloid: str
    oid: int
    side: Side
    price: Decimal
    size: Decimal
    filled: Decimal
    tif: Tif
    reduce_only: bool
    queue_ahead: Decimal
    created_ns: int


class _Order:
    """Mutable state of one of our orders inside the engine (integer units)."""

    __slots__ = (
        "cloid", "oid", "side", "px", "remaining", "filled", "tif", "reduce_only", "seq", "queue_ahead", "shown",
        "created_ns",
    )

    def __init__(self, cloid: str, oid: int, side: Side, px: int, lots: int, tif: Tif, reduce_only: bool,
                 ts_ns: int) -> None:
        self.cloid = cloid
        self.oid = oid
        self.side = side
        self.px = px
        self.remaining = lots
        self.filled = 0
        self.tif = tif
        self.reduce_only = reduce_only
        self.seq = 0
        self.queue_ahead = 0
        self.shown = 0
        self.created_ns = ts_ns


class MatchingEngine:
    """Our orders for one asset, matched against a :class:`SimBook`; keeps the account's ledger.

    ``records`` accumulates what happened, in order; :meth:`drain` hands it over. ``ledger`` keeps every fill.
    """

    def __init__(
        self,
        rules: AssetRules,
        book: SimBook,
        *,
        asset_id: int = 0,
        deposit: Decimal = Decimal(100_000),
        leverage: int = 3,
        maker_fee: Decimal = Decimal("0.00015"),
        taker_fee: Decimal = Decimal("0.00045"),
        hash_salt: str = "sim",
    ) -> None:
        if leverage < 1:
            raise ValueError(f"leverage must be >= 1 (got {leverage})")
        self.rules = rules
        self.book = book
        self.asset_id = asset_id
        self.leverage = leverage
        self.maker_fee = maker_fee
        self.taker_fee = taker_fee
        self.price_scale = rules.max_price_decimals
        self.size_scale = rules.sz_decimals
        self.price = DecimalCache(self.price_scale)
        self.account = Account(deposit)
        self.ledger: list[FillRecord] = []
        self.records: list[Record] = []
        self.position_lots = 0
        self._orders: dict[str, _Order] = {}
        self._salt = hash_salt
        self._next_oid = 1
        self._next_tid = 1
        self._seq = 0
        self._last_trade_px: int | None = None
        self._min_notional_units = to_units(rules.min_notional, self.price_scale + self.size_scale)

    # ------------------------------------------------------------------------------------------ requests

    def place(self, req: OrderRequest, ts_ns: int) -> PlaceResult:
        """Validate and place an order: take what crosses (Ioc, Gtc), rest the rest (Gtc, Alo)."""
        if req.cloid in self._orders:
            return self._error(DUPLICATE_CLOID_ERROR)
        err, px, lots = self._validate(req, None)
        if err:
            return PlaceResult("error", error=err)
        order = _Order(req.cloid, self._next_oid, req.side, px, lots, req.tif, req.reduce_only, ts_ns)
        self._next_oid += 1
        result = self._enter(order, ts_ns, modifying=False)
        self._enforce_reduce_only(ts_ns)
        return result

    def modify(self, cloid: str, req: OrderRequest, ts_ns: int) -> PlaceResult:
        """Change a resting order's price and size (``req.size`` is the new resting size; ``req.cloid`` its
        possibly new client id). It keeps its queue place when the price is unchanged and the size does not
        grow; otherwise it is re-entered at the back of the queue (taking first if it now crosses, unless Alo).
        On an error the order stays as it was."""
        order = self._orders.get(cloid)
        if order is None:
            return PlaceResult("error", error=MODIFY_MISSING_ERROR)
        if req.cloid != cloid and req.cloid in self._orders:
            return self._error(DUPLICATE_CLOID_ERROR)
        err, px, lots = self._validate(req, order)
        if err:
            return PlaceResult("error", error=err)
        keeps_place = px == order.px and req.side is order.side and lots <= order.remaining
        del self._orders[cloid]
        order.cloid = req.cloid
        order.side = req.side
        order.tif = req.tif
        order.reduce_only = req.reduce_only
        order.remaining = lots
        if keeps_place:
            order.queue_ahead = min(order.queue_ahead, order.shown)
            self._orders[order.cloid] = order
            self._record(order, OrderStatus.RESTING, ts_ns)
            return PlaceResult("resting", oid=order.oid, filled=self._size(order.filled))
        order.px = px
        result = self._enter(order, ts_ns, modifying=True)
        self._enforce_reduce_only(ts_ns)
        return result

    def cancel(self, cloid: str, ts_ns: int) -> str | None:
        """Cancel a live order by client id; return None, or the exchange's error text."""
        order = self._orders.pop(cloid, None)
        if order is None:
            return MISSING_ORDER_ERROR
        self._record(order, OrderStatus.CANCELLED, ts_ns)
        return None

    # ------------------------------------------------------------------------------------ market events

    def on_book(self, ts_ns: int) -> None:
        """The synthetic book was refreshed: fill orders it crossed, re-estimate the others' queue position."""
        for side in (Side.BUY, Side.SELL):
            opposite = self.book.best(side.opposite)
            for order in self._sorted(side):
                if opposite is not None and (order.px - opposite) * side.sign >= 0:
                    self._fill(order, order.px, order.remaining, Liquidity.MAKER, ts_ns, side.opposite)
                else:
                    self._requeue(order)
        self._enforce_reduce_only(ts_ns)

    def on_sweep(self, aggressor: Side, levels: Sequence[tuple[int, int]], ts_ns: int, hidden: int = 0) -> None:
        """A synthetic aggressive trade traded ``levels`` (price units, lots) in walk order; the book already
        reflects it. Every level but the last was consumed whole; at the last, ``hidden`` of the volume went
        beyond the displayed size. Fill our orders per the queue model and print the trades."""
        if not levels:
            return
        last_px, last_volume = levels[-1]
        hit_side = aggressor.opposite
        hit = [o for o in self._sorted(hit_side) if (o.px - last_px) * hit_side.sign >= 0]
        at_last = [o for o in hit if o.px == last_px]
        allocation = self._fifo(at_last, last_volume)
        walk: list[tuple[int, int, int, _Order | tuple[int, int]]] = [
            (o.px * aggressor.sign, 0, i, o) for i, o in enumerate(hit)
        ]
        walk += [(px * aggressor.sign, 1, i, (px, lots)) for i, (px, lots) in enumerate(levels)]
        walk.sort(key=lambda item: item[:3])
        ours_at_last = 0
        for _, kind, _, item in walk:
            if kind == 0:
                assert isinstance(item, _Order)
                want = allocation.get(item.cloid, 0) if item.px == last_px else item.remaining
                if want > 0:
                    got = self._fill(item, item.px, want, Liquidity.MAKER, ts_ns, aggressor)
                    if item.px == last_px:
                        ours_at_last += got
            else:
                assert isinstance(item, tuple)
                px, lots = item
                synthetic = lots - ours_at_last if px == last_px else lots
                if synthetic > 0:
                    self.records.append(
                        TradeRecord(ts_ns, self.price(px), self._size(synthetic), aggressor, self._new_tid())
                    )
                    self._last_trade_px = px
        restore = ours_at_last - hidden
        if restore > 0:
            # Our fills took part of the volume the market consumed at its last level: the displayed orders
            # behind us were not reached, so that much is displayed again.
            self.book.restore(hit_side, last_px, restore)
        for order in at_last:
            if order.cloid in self._orders:
                shown = self.book.size_at(hit_side, order.px)
                order.shown = shown if shown is not None else order.shown
                order.queue_ahead = min(order.queue_ahead, order.shown)
        self._enforce_reduce_only(ts_ns)

    def on_funding(self, rate: Decimal, ts_ns: int) -> FundingRecord:
        """Pay or receive funding on the position at the mark: longs pay a positive rate."""
        mark = self.mark()
        payment = usdc(-self.account.position * mark * rate) if mark is not None else ZERO
        self.account.apply_funding(payment)
        record = FundingRecord(ts_ns, rate, payment)
        self.records.append(record)
        return record

    # ---------------------------------------------------------------------------------------------- views

    def drain(self) -> list[Record]:
        """Hand over (and clear) what happened since the last drain, in order."""
        out, self.records = self.records, []
        return out

    def open_orders(self) -> list[RestingOrder]:
        """Our live orders, bids then asks, each in price-time priority."""
        return [self._view(o) for side in (Side.BUY, Side.SELL) for o in self._sorted(side)]

    def order(self, cloid: str) -> RestingOrder | None:
        """One live order by client id, or None."""
        found = self._orders.get(cloid)
        return self._view(found) if found is not None else None

    def mark(self) -> Decimal | None:
        """Mark price: the synthetic book's mid, else the last trade price, else None."""
        mid2 = self.book.mid_units2()
        if mid2 is not None:
            return from_units(mid2, self.price_scale) / 2
        return self.price(self._last_trade_px) if self._last_trade_px is not None else None

    def bbo(self) -> tuple[Decimal | None, Decimal | None]:
        """Best bid and ask including our own resting orders."""
        return self._best_with_ours(Side.BUY), self._best_with_ours(Side.SELL)

    # ------------------------------------------------------------------------------------------- private

    def _error(self, text: str) -> PlaceResult:
        return PlaceResult("error", error=f"{text} asset={self.asset_id}")

    def _size(self, lots: int) -> Decimal:
        return from_units(lots, self.size_scale)

    def _new_tid(self) -> str:
        tid = str(self._next_tid)
        self._next_tid += 1
        return tid

    def _view(self, o: _Order) -> RestingOrder:
        return RestingOrder(
            cloid=o.cloid, oid=o.oid, side=o.side, price=self.price(o.px), size=self._size(o.remaining),
            filled=self._size(o.filled), tif=o.tif, reduce_only=o.reduce_only,
            queue_ahead=self._size(o.queue_ahead), created_ns=o.created_ns,
        )

    def _sorted(self, side: Side) -> list[_Order]:
        orders = [o for o in self._orders.values() if o.side is side]
        orders.sort(key=lambda o: (-o.px * side.sign, o.seq))
        return orders

    def _best_with_ours(self, side: Side, exclude: _Order | None = None) -> Decimal | None:
        prices = [o.px for o in self._orders.values() if o.side is side and o is not exclude]
        synthetic = self.book.best(side)
        if synthetic is not None:
            prices.append(synthetic)
        if not prices:
            return None
        return self.price(max(prices) if side is Side.BUY else min(prices))

    def _reducible(self, side: Side) -> int:
        """Lots an order of ``side`` may fill without increasing |position|."""
        pos = self.position_lots
        return abs(pos) if pos != 0 and (pos > 0) != (side is Side.BUY) else 0

    def _validate(self, req: OrderRequest, exclude: _Order | None) -> tuple[str, int, int]:
        rules = self.rules
        if not rules.is_valid_price(req.price):
            return f"{TICK_ERROR} asset={self.asset_id}", 0, 0
        px = to_units(req.price, self.price_scale)
        if not rules.is_valid_size(req.size):
            return f"{SIZE_ERROR} asset={self.asset_id}", 0, 0
        lots = to_units(req.size, self.size_scale)
        closes_all = False
        if req.reduce_only:
            reducible = self._reducible(req.side)
            if reducible == 0:
                return f"{REDUCE_ONLY_ERROR} asset={self.asset_id}", 0, 0
            lots = min(lots, reducible)
            closes_all = lots == reducible
        # A reduce-only order closing the whole position is exempt, so a small remainder can always be closed.
        if not closes_all and px * lots < self._min_notional_units:
            return f"{MIN_NOTIONAL_ERROR} asset={self.asset_id}", 0, 0
        if req.tif is Tif.ALO:
            opposite = self._best_with_ours(req.side.opposite, exclude)
            if opposite is not None and (req.price - opposite) * req.side.sign >= 0:
                bid, ask = self._best_with_ours(Side.BUY, exclude), self._best_with_ours(Side.SELL, exclude)
                bbo = f"{to_wire(bid) if bid is not None else ''}@{to_wire(ask) if ask is not None else ''}"
                return f"{ALO_ERROR.format(bbo=bbo)} asset={self.asset_id}", 0, 0
        if not req.reduce_only and not self._margin_ok(px, lots, exclude):
            return f"{MARGIN_ERROR} asset={self.asset_id}", 0, 0
        return "", px, lots

    def _margin_ok(self, px: int, lots: int, exclude: _Order | None) -> bool:
        units = px * lots + sum(o.px * o.remaining for o in self._orders.values() if o is not exclude)
        orders_notional = from_units(units, self.price_scale + self.size_scale)
        mark = self.mark()
        position_notional = abs(self.account.position) * mark if mark is not None else ZERO
        required = (position_notional + orders_notional) / self.leverage
        return required <= self.account.account_value(mark)

    def _enter(self, order: _Order, ts_ns: int, *, modifying: bool) -> PlaceResult:
        filled_before = order.filled
        notional_units = 0
        if order.tif is not Tif.ALO:
            notional_units = self._take(order, ts_ns)
        new_lots = order.filled - filled_before
        avg = (
            from_units(notional_units, self.price_scale) / new_lots if new_lots else None
        )
        if order.remaining == 0:
            return PlaceResult("filled", oid=order.oid, filled=self._size(new_lots), avg_price=avg)
        if order.reduce_only:
            reducible = self._reducible(order.side)
            if reducible == 0:
                # The taking part closed the position: what is left could only increase it.
                self._record(order, OrderStatus.CANCELLED, ts_ns, REDUCE_ONLY_CANCELED)
                return PlaceResult("filled", oid=order.oid, filled=self._size(new_lots), avg_price=avg)
            order.remaining = min(order.remaining, reducible)
        if order.tif is Tif.IOC:
            if new_lots == 0 and not modifying:
                return self._error(IOC_ERROR)
            self._record(order, OrderStatus.CANCELLED, ts_ns, IOC_REMAINDER_CANCELED)
            return PlaceResult("filled", oid=order.oid, filled=self._size(new_lots), avg_price=avg)
        shown = self.book.size_at(order.side, order.px)
        order.shown = order.queue_ahead = shown or 0
        self._seq += 1
        order.seq = self._seq
        self._orders[order.cloid] = order
        self._record(order, OrderStatus.RESTING, ts_ns)
        return PlaceResult("resting", oid=order.oid, filled=self._size(order.filled))

    def _take(self, order: _Order, ts_ns: int) -> int:
        """Walk the opposite synthetic book up to the order's limit; return the filled notional in units."""
        opposite = order.side.opposite
        for maker in self._sorted(opposite):
            if (order.px - maker.px) * order.side.sign >= 0:
                del self._orders[maker.cloid]
                self._record(maker, OrderStatus.CANCELLED, ts_ns, SELF_TRADE_CANCELED)
        levels = self.book.levels(opposite)
        notional = 0
        while order.remaining > 0 and levels:
            level_px, level_lots = levels[0][0], levels[0][1]
            if (order.px - level_px) * order.side.sign < 0:
                break
            got = self._fill(order, level_px, min(order.remaining, level_lots), Liquidity.TAKER, ts_ns, order.side)
            if got == 0:
                break
            notional += got * level_px
            self.book.consume(opposite, level_px, got)
        return notional

    def _fifo(self, orders: list[_Order], volume: int) -> dict[str, int]:
        """Share a trade's volume at one level between the synthetic queue and our orders there, in time order;
        update their ``queue_ahead``; return the lots each of our orders gets."""
        allocation: dict[str, int] = {}
        budget = volume
        synthetic = 0
        for order in orders:
            take = min(budget, max(0, order.queue_ahead - synthetic))
            budget -= take
            synthetic += take
            order.queue_ahead = max(0, order.queue_ahead - synthetic)
            if order.queue_ahead == 0 and budget > 0:
                mine = min(budget, order.remaining)
                allocation[order.cloid] = mine
                budget -= mine
        return allocation

    def _requeue(self, order: _Order) -> None:
        shown = self.book.size_at(order.side, order.px)
        if shown is None:
            return
        if shown < order.shown:
            order.queue_ahead = order.queue_ahead * shown // order.shown
        order.shown = shown
        order.queue_ahead = min(order.queue_ahead, shown)

    def _fill(self, order: _Order, px: int, lots: int, liquidity: Liquidity, ts_ns: int, aggressor: Side) -> int:
        """Book a fill of ``lots`` at ``px`` (clipped for reduce-only); return the lots actually filled."""
        if order.reduce_only:
            lots = min(lots, self._reducible(order.side))
        if lots <= 0:
            return 0
        price = self.price(px)
        size = self._size(lots)
        fee = usdc(price * size * (self.maker_fee if liquidity is Liquidity.MAKER else self.taker_fee))
        start = self.account.position
        closed = self.account.apply_fill(order.side, price, size, fee)
        self.position_lots += lots * order.side.sign
        order.remaining -= lots
        order.filled += lots
        tid = self._new_tid()
        digest = hashlib.sha256(f"{self._salt}:{tid}".encode()).hexdigest()
        fill = FillRecord(
            tid=tid, hash=f"0x{digest}", ts_ns=ts_ns, cloid=order.cloid, oid=order.oid, side=order.side,
            price=price, size=size, fee=fee, liquidity=liquidity, start_position=start, closed_pnl=closed,
        )
        self.ledger.append(fill)
        self.records.append(fill)
        self.records.append(TradeRecord(ts_ns, price, size, aggressor, tid))
        self._last_trade_px = px
        done = order.remaining == 0
        self._record(order, OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED, ts_ns)
        if done:
            self._orders.pop(order.cloid, None)
        return lots

    def _enforce_reduce_only(self, ts_ns: int) -> None:
        """Cancel resting reduce-only orders that could now only increase the position."""
        for order in [o for o in self._orders.values() if o.reduce_only]:
            if self._reducible(order.side) == 0:
                del self._orders[order.cloid]
                self._record(order, OrderStatus.CANCELLED, ts_ns, REDUCE_ONLY_CANCELED)

    def _record(self, order: _Order, status: OrderStatus, ts_ns: int, reason: str = "") -> None:
        self.records.append(
            OrderRecord(
                ts_ns=ts_ns, cloid=order.cloid, oid=order.oid, side=order.side, price=self.price(order.px),
                size=self._size(order.remaining), filled=self._size(order.filled), status=status, reason=reason,
            )
        )
