"""What the adapter remembers between messages: the orders it sent, the fills it has passed on, its position.

The adapter is the safety auditor of the engine's view, so it keeps its own small record, fed by the very events
it emits: every order it placed and has not seen finish (by cloid, with its exchange oid), recently finished
orders (so a late listing is not taken for an orphan), the trade ids of fills already emitted (the exchange
reports each fill on two channels and again after a reconnect), and the position those fills add up to.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from decimal import Decimal

import attrs

from mmtool.core.tracking import MODIFY_FAILED_PREFIX, OIDS_KEPT, answers_modify
from mmtool.core.types import ZERO, Fill, Modify, OrderStatus, OrderUpdate, Place, Side, Tif

#: Prefix of the reason of a failed cancel (the order manager's convention: RESTING with a reason).
CANCEL_FAILED_PREFIX = "cancel: "
#: Length of a cloid's seed part (``0x`` + 16 hex digits): the engine's per-run prefix.
CLOID_PREFIX_LEN = 18


@attrs.define
class LocalOrder:
    """One order we sent and have not seen finish; mutable bookkeeping, private to the adapter."""

    cloid: str
    asset: str
    side: Side
    price: Decimal
    size: Decimal
    tif: Tif
    reduce_only: bool
    last_action_ns: int
    oid: int | None = None
    acked: bool = False
    filled: Decimal = ZERO
    modify: Modify | None = None
    cancel_pending: bool = False
    #: Order ids a modify replaced: their cancellations are not this order's.
    retired_oids: set[int] = attrs.field(factory=set)
    #: The order's last :data:`~mmtool.core.tracking.OIDS_KEPT` exchange ids, oldest first (each modify gives a new
    #: one: a long-lived order has thousands, while a late message names one of its last few).
    oids: list[int] = attrs.field(factory=list)
    #: Cancellations of the pre-modify oid that arrived while the modify was in flight.
    deferred: list[OrderUpdate] = attrs.field(factory=list)

    @property
    def remaining(self) -> Decimal:
        """Size still open as far as we know."""
        return self.size - self.filled


class OrderRegistry:
    """Our live orders by cloid (and oid), plus a bounded memory of finished ones."""

    def __init__(self, keep_finished: int = 2000) -> None:
        self._orders: dict[str, LocalOrder] = {}
        self._alias: dict[str, str] = {}
        self._oids: dict[int, str] = {}
        self._finished: OrderedDict[str, int] = OrderedDict()
        self._finished_oids: dict[int, str] = {}
        self._keep = keep_finished
        #: The seed prefixes of every cloid we placed (``0x`` + 16 hex digits).
        self.prefixes: set[str] = set()

    # -------------------------------------------------------------------------------------------- queries

    def get(self, cloid: str) -> LocalOrder | None:
        """The live order known under ``cloid`` (its own or a new cloid a modify is giving it)."""
        return self._orders.get(self._alias.get(cloid, cloid))

    def cloid_of_oid(self, oid: int) -> str | None:
        """The cloid of a live or recently finished order with this exchange id."""
        return self._oids.get(oid) or self._finished_oids.get(oid)

    def live(self) -> list[LocalOrder]:
        """Every order not seen finish, oldest first."""
        return list(self._orders.values())

    def awaiting_oid(self) -> bool:
        """True while one of our live orders has not been told its exchange id yet (a place, or a modify, which
        gives the order a new one, awaiting its answer)."""
        return any(order.oid is None or order.modify is not None for order in self._orders.values())

    def finished_at(self, cloid: str) -> int | None:
        """When (local ns) a recently finished order finished, or None."""
        return self._finished.get(cloid)

    def knows(self, cloid: str) -> bool:
        """True for a live or recently finished cloid of ours."""
        return self.get(cloid) is not None or cloid in self._finished

    def stale(self, update: OrderUpdate, answering: Modify | None = None) -> bool:
        """True for news of an oid our live order no longer has, or is losing to a modify in flight.

        A modify that takes rests the order under a new oid, so an update naming an oid the order had before
        (a late acknowledgement of the place or of an earlier modify, its cancellation) is old news, and so is an
        acknowledgement of the order's current oid while a modify is in flight: the modify's answer names a new
        one. Taken as news, it would be judged the modify's answer by value, or take the order back to that oid.
        The post response of the modify in flight (``answering``) is never old news, whatever oid it names: were
        the exchange to keep an order's oid through a modify, the modify would otherwise never be answered.
        """
        order = self.get(update.cloid)
        if order is None or update.oid is None:
            return False
        if answering is not None and order.modify is answering:
            return False
        if update.oid in order.retired_oids:
            return True
        return (order.modify is not None and update.oid == order.oid and update.status is OrderStatus.RESTING
                and not update.reason)

    # -------------------------------------------------------------------------------------- what we sent

    def placed(self, place: Place, ts_ns: int) -> None:
        """Record a Place about to be sent."""
        self._orders[place.cloid] = LocalOrder(
            place.cloid, place.asset, place.side, place.price, place.size, place.tif, place.reduce_only, ts_ns
        )
        self.prefixes.add(place.cloid[:CLOID_PREFIX_LEN])

    def modify_sent(self, modify: Modify, ts_ns: int) -> None:
        """Record a Modify about to be sent; its new cloid is an alias until the answer."""
        order = self.get(modify.cloid)
        if order is None:
            return
        order.modify = modify
        order.last_action_ns = ts_ns
        if modify.new_cloid:
            self._alias[modify.new_cloid] = order.cloid
            self.prefixes.add(modify.new_cloid[:CLOID_PREFIX_LEN])

    def cancel_sent(self, cloid: str, ts_ns: int) -> None:
        """Record a Cancel about to be sent."""
        order = self.get(cloid)
        if order is not None:
            order.cancel_pending = True
            order.last_action_ns = ts_ns

    # ------------------------------------------------------------------------------- what the exchange says

    def apply(self, update: OrderUpdate) -> None:
        """Follow an update the adapter emits (same conventions as the core order manager)."""
        order = self.get(update.cloid)
        if order is None:
            return
        if update.oid is not None and update.status is not OrderStatus.REJECTED:
            self._set_oid(order, update.oid)
        status = update.status
        if update.reason.startswith(MODIFY_FAILED_PREFIX):
            self._end_modify(order)
        elif status is OrderStatus.RESTING:
            if update.reason.startswith(CANCEL_FAILED_PREFIX):
                order.cancel_pending = False
            else:
                order.acked = True
                modify = order.modify
                if modify is not None and answers_modify(order.price, order.remaining, modify, update):
                    self._modified(order, modify, update)
        elif status is OrderStatus.PARTIALLY_FILLED:
            order.acked = True
        elif status.is_terminal:
            self._finish(order, update.ts_local_ns)

    def apply_fill(self, fill: Fill) -> None:
        """Follow a (deduplicated) fill: the order's filled size, and its end when complete."""
        order = self.get(fill.cloid) if fill.cloid else None
        if order is None and fill.oid is not None:
            key = self._oids.get(fill.oid)
            order = self._orders.get(key) if key else None
        if order is None:
            return
        order.acked = True
        order.filled += fill.size
        if fill.oid is not None and fill.oid in order.retired_oids:
            order.size += fill.size  # made before the modify: the size resting now is untouched
        if order.filled >= order.size:
            self._finish(order, fill.ts_local_ns)

    # ---------------------------------------------------------------------------------------------- private

    def _set_oid(self, order: LocalOrder, oid: int) -> None:
        if oid in order.retired_oids:
            return  # old news never takes the order back to an oid a modify replaced
        if order.oid is not None and order.oid != oid and order.modify is not None:
            order.retired_oids.add(order.oid)
        order.oid = oid
        if self._oids.get(oid) != order.cloid:
            self._oids[oid] = order.cloid
            order.oids.append(oid)
            if len(order.oids) > OIDS_KEPT:
                old = order.oids.pop(0)
                if self._oids.get(old) == order.cloid:
                    del self._oids[old]
                order.retired_oids.discard(old)

    def _modified(self, order: LocalOrder, modify: Modify, update: OrderUpdate) -> None:
        order.price = update.price if update.price is not None else modify.price
        resting = update.size if update.size is not None else modify.size
        order.size = order.filled + resting
        order.tif, order.reduce_only = modify.tif, modify.reduce_only
        self._end_modify(order)
        new = modify.new_cloid
        if new and new != order.cloid:
            old = order.cloid
            del self._orders[old]
            self._alias.pop(new, None)
            self._alias[old] = new
            order.cloid = new
            self._orders[new] = order
            for oid in order.oids:
                if self._oids.get(oid) == old:
                    self._oids[oid] = new

    def _end_modify(self, order: LocalOrder) -> None:
        if order.modify is not None and order.modify.new_cloid and order.modify.new_cloid != order.cloid:
            if self._alias.get(order.modify.new_cloid) == order.cloid and order.cloid in self._orders:
                del self._alias[order.modify.new_cloid]
        order.modify = None

    def _finish(self, order: LocalOrder, ts_ns: int) -> None:
        self._orders.pop(order.cloid, None)
        for alias in [a for a, key in self._alias.items() if key == order.cloid]:
            del self._alias[alias]
            self._finished[alias] = ts_ns
        self._finished[order.cloid] = ts_ns
        for oid in order.oids:
            if self._oids.get(oid) == order.cloid:
                del self._oids[oid]
                self._finished_oids[oid] = order.cloid
        while len(self._finished) > self._keep:
            self._finished.popitem(last=False)
        while len(self._finished_oids) > self._keep:
            self._finished_oids.pop(next(iter(self._finished_oids)))


class FillLedger:
    """Trade ids already passed on (bounded), the latest fill time, and the position our fills add up to."""

    def __init__(self, asset: str, position: Decimal = ZERO, keep: int = 50_000) -> None:
        self.asset = asset
        self.position = position
        self.last_fill_ms = 0
        #: Fills older than this (exchange ms) are the account's history before the session, seen or not.
        self.history_floor_ms = 0
        #: How many fills were accepted so far (by any path): tells whether one arrived during an await.
        self.accepted = 0
        self._seen: set[str] = set()
        self._order: deque[str] = deque()
        self._keep = keep

    def seen(self, trade_id: str) -> bool:
        """True when this fill was already passed on (or seeded)."""
        return trade_id in self._seen

    def seed(self, trade_id: str, time_ms: int = 0) -> None:
        """Remember a fill without counting it (history before the session, a snapshot)."""
        if trade_id not in self._seen:
            self._remember(trade_id)
        self.last_fill_ms = max(self.last_fill_ms, time_ms)

    def accept(self, fill: Fill) -> bool:
        """True (and the position moves) for a new fill of our asset; False for a duplicate."""
        if fill.trade_id in self._seen:
            return False
        self._remember(fill.trade_id)
        self.accepted += 1
        self.last_fill_ms = max(self.last_fill_ms, fill.ts_exchange_ns // 1_000_000)
        if fill.asset == self.asset:
            self.position += fill.size * fill.side.sign
        return True

    def _remember(self, trade_id: str) -> None:
        self._seen.add(trade_id)
        self._order.append(trade_id)
        while len(self._order) > self._keep:
            self._seen.discard(self._order.popleft())
