"""Order lifecycle tracking: an explicit state machine per order, keyed by client order id (cloid).

The engine tells the :class:`OrderManager` what it sent (``on_place``, ``on_modify``, ``on_cancel``) and the
exchange's answers come back as :class:`~mmtool.core.types.OrderUpdate` and :class:`~mmtool.core.types.Fill`
events (``on_update``, ``on_fill``). Fills must be deduplicated by ``trade_id`` before ``on_fill`` (the
:class:`~mmtool.core.portfolio.Portfolio` does that). Everything is ``Decimal``.

Transition table (``ack`` = ``OrderUpdate`` with status RESTING and no reason; "fill" = a ``Fill`` or an
``OrderUpdate`` whose cumulative ``filled_size`` grew):

=================  ==============================================  =========================================
from               event                                           to
=================  ==============================================  =========================================
(none)             ``on_place``                                    PENDING_NEW (place in flight)
PENDING_NEW        ack                                             RESTING
PENDING_NEW        fill, or update PARTIALLY_FILLED, not complete  PARTIALLY_FILLED (it can fill before the ack)
PENDING_NEW        fill completing the size, or update FILLED      FILLED
PENDING_NEW        update REJECTED                                 REJECTED
PENDING_NEW        update CANCELLED                                CANCELLED
RESTING            fill, not complete                              PARTIALLY_FILLED
RESTING, PART.     fill completing the size, or update FILLED      FILLED
PARTIALLY_FILLED   fill, not complete                              PARTIALLY_FILLED (``filled`` grows)
RESTING, PART.     update CANCELLED (e.g. margin or exchange)      CANCELLED
RESTING, PART.     update REJECTED without ``modify:`` reason      REJECTED (CANCELLED if partly filled)
any live           ``on_cancel``                                   PENDING_CANCEL (cancel in flight)
PENDING_CANCEL     update CANCELLED                                CANCELLED
PENDING_CANCEL     fill, not complete                              PENDING_CANCEL (``filled`` grows)
PENDING_CANCEL     fill completing the size, or update FILLED      FILLED
PENDING_CANCEL     update RESTING with a reason (cancel rejected)  state before the cancel: PENDING_NEW,
                                                                   RESTING or PARTIALLY_FILLED
PENDING_CANCEL     ack (a late place or modify ack)                PENDING_CANCEL (it is known to rest)
PENDING_CANCEL     update REJECTED without ``modify:`` reason      REJECTED (the place itself was rejected)
RESTING, PART.     ``on_modify``                                   unchanged, modify in flight, old price/size
(modify in flight) ack                                             unchanged, new price/size (and new cloid)
(modify in flight) update REJECTED/RESTING with ``modify:`` reason unchanged, old price/size (failed modify)
terminal           anything (FILLED, CANCELLED, REJECTED)          unchanged (``ignored_updates``)
=================  ==============================================  =========================================

Conventions adapters follow:

* **Failed modify.** An update whose ``reason`` starts with ``"modify:"`` (status REJECTED or RESTING) says a
  modify failed and the order still rests as it was: the order keeps its state, price and size. A REJECTED
  update without that prefix rejects the order itself.
* **Rejected cancel.** An update with status RESTING and a non-empty ``reason`` (for example ``"order was
  never placed, already canceled, or filled"``) says a cancel failed; the order returns to the state it had
  before the cancel. If it was in fact filled or cancelled, that news arrives separately.
* **Modify sizes.** ``Modify.size`` is the size that should rest after the modify (Hyperliquid replaces the
  order by a fresh one of that size). On the ack, ``Order.size`` becomes ``filled + new size`` so that
  ``Order.remaining`` is the resting size. A modify ack's ``price`` and ``size`` (the resting size), when
  present, override the requested values.
* **Which ack is which.** While a modify is in flight, an ack is the modify's unless it carries exactly the
  order's current price and resting size (and not the modify's): that is a late duplicate of the place's
  ack (Hyperliquid reports a placement both in the response and on the websocket) and the modify stays in
  flight. An ack under the modify's ``new_cloid`` is always the modify's. A plain place ack never changes the
  price or size: the exchange does not move a resting post-only order, and a late duplicate must not undo
  a modify.
* **Replaced order ids.** An exchange may give a modified order a new ``oid`` (Hyperliquid does): the ids it had
  before its modify's ack are replaced, and a fill of one of them that is reported after the ack was made before
  the modify, so it adds to ``size`` as well as to ``filled`` (the ack set the size from what rests now). News of a
  replaced id never makes it the order's ``oid`` again. An order remembers its last ``OIDS_KEPT`` ids only.
* ``filled_size`` is cumulative over the order's life; a smaller value than already known is ignored.

Out-of-order and duplicate answers are harmless: the state is derived from what is known (filled amount,
acknowledged, actions in flight), so an ack arriving after a fill does not lower PARTIALLY_FILLED back to
RESTING, and replaying an update changes nothing. Terminal states never change; a fill arriving after a
CANCELLED or REJECTED confirmation (the fill happened before the cancel, its message was slower) is added to
``filled`` and counted in ``late_fills``, the status stays. ``filled`` never exceeds ``size``: an excess is
clipped and counted in ``anomalies``.

A fill proves the order reached the book, so it also ends the place's flight: an order that partly filled
before its ack can be modified or cancelled without waiting for the ack.

A trigger order (a ``Place`` with ``trigger``) follows the same table; its ``Order`` carries the trigger spec for
its whole life, so ladder reconciliation can tell it from a quote and leave it alone. The exchange acknowledges
it when it is accepted (waiting for its trigger) and again when it fires (``triggered``), then fills it.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

import attrs

from mmtool.core.types import ZERO, Cancel, Fill, Modify, Order, OrderStatus, OrderUpdate, Place, Quote

#: Prefix of an ``OrderUpdate.reason`` that reports a failed modify of an order that still rests.
MODIFY_FAILED_PREFIX = "modify:"

_COUNT_KEYS = (
    "placed",
    "modified",
    "cancel_requests",
    "cancelled",
    "rejected",
    "filled",
    "modify_rejected",
    "cancel_rejected",
)


#: How many exchange ids an order remembers: an exchange that gives every modify a new id gives a long-lived order
#: thousands, while a late message names one of its last few.
OIDS_KEPT = 64

#: Order's init arguments in order: :func:`_evolve` is ``attrs.evolve`` for the one class it serves, several times
#: cheaper (the tracker replaces an order on every answer and every action).
_ORDER_FIELDS = tuple(a.name for a in attrs.fields(Order))


def _evolve(order: Order, **changes: object) -> Order:
    return Order(*[changes[name] if name in changes else getattr(order, name) for name in _ORDER_FIELDS])


@attrs.define
class _Entry:
    """Mutable bookkeeping behind one order; the public view is the frozen ``order``."""

    key: str
    order: Order
    acked: bool = False
    place_pending: bool = True
    cancel_pending: bool = False
    modify: Modify | None = None
    pending_since_ns: int = 0
    aliases: list[str] = attrs.field(factory=list)
    #: The order's last :data:`OIDS_KEPT` exchange ids, oldest first.
    oids: list[int] = attrs.field(factory=list)
    #: Those a modify's ack replaced (an exchange that gives a modified order a new id): their fills were made
    #: before the modify and do not take from the size resting now.
    replaced_oids: set[int] = attrs.field(factory=set)
    #: Those learnt since the last ack that replaced ids: the next one replaces them all but its own.
    fresh_oids: list[int] = attrs.field(factory=list)

    @property
    def terminal(self) -> bool:
        return self.order.status.is_terminal

    @property
    def in_flight(self) -> bool:
        # The flags first: they are usually all clear, and then the status need not be looked at.
        return (self.place_pending or self.cancel_pending or self.modify is not None) and not self.terminal

    def derived_status(self, filled: Decimal | None = None) -> OrderStatus:
        """The live status implied by what is known (with ``filled`` when given); never called on a terminal order."""
        if self.cancel_pending:
            return OrderStatus.PENDING_CANCEL
        if (self.order.filled if filled is None else filled) > 0:
            return OrderStatus.PARTIALLY_FILLED
        if self.acked:
            return OrderStatus.RESTING
        return OrderStatus.PENDING_NEW


class OrderManager:
    """Tracks every order we sent through its lifecycle, from the exchange's answers; see the module docstring."""

    def __init__(self, keep_finished: int = 1000) -> None:
        if keep_finished < 0:
            raise ValueError(f"keep_finished must be >= 0 (got {keep_finished})")
        #: Finished orders remembered (for late fills and updates); older ones are forgotten as new ones finish.
        self.keep_finished = keep_finished
        self._entries: dict[str, _Entry] = {}
        self._index: dict[str, str] = {}  # any cloid an order has carried -> its entry key
        self._oids: dict[int, str] = {}
        self._live: dict[str, None] = {}  # insertion-ordered set of non-terminal keys
        self._terminal: deque[str] = deque()
        self._counts: dict[str, int] = dict.fromkeys(_COUNT_KEYS, 0)
        #: Updates or fills about terminal orders, and answers that matched nothing in flight.
        self.ignored_updates = 0
        #: Updates and fills for cloids and oids we do not know (or forgot).
        self.unknown_updates = 0
        #: Fills that arrived after a CANCELLED or REJECTED confirmation.
        self.late_fills = 0
        #: Inconsistencies: overfills (clipped), fills on the wrong side, rejections of acknowledged orders.
        self.anomalies = 0

    # ---------------------------------------------------------------------------------------------- queries

    @property
    def counts(self) -> Mapping[str, int]:
        """Lifetime counters: ``placed``, ``modified`` and ``cancel_requests`` (actions we sent), ``cancelled``,
        ``rejected`` and ``filled`` (orders that ended so), ``modify_rejected`` and ``cancel_rejected``."""
        return MappingProxyType(dict(self._counts))

    def get(self, cloid: str) -> Order | None:
        """The order known under this cloid (its current one or one it carried before a modify), or None."""
        entry = self._lookup(cloid)
        return entry.order if entry is not None else None

    def live(self) -> list[Order]:
        """Every non-terminal order, in flight or acknowledged, in the order they were placed."""
        return [self._entries[key].order for key in self._live]

    def live_count(self) -> int:
        """How many orders are not yet in a terminal state (without building the list)."""
        return len(self._live)

    def in_flight(self, cloid: str) -> bool:
        """True when a place, modify or cancel of this order still awaits the exchange's answer."""
        entry = self._lookup(cloid)
        return entry is not None and entry.in_flight

    def in_flight_cloids(self) -> set[str]:
        """The current cloids of the live orders with an action awaiting its answer (one pass, for a whole
        reconciliation: ``in_flight`` per order costs a lookup each)."""
        entries = self._entries
        return {entry.order.cloid for entry in map(entries.__getitem__, self._live) if entry.in_flight}

    def pending_quote(self, cloid: str) -> Quote | None:
        """The price and resting size an in-flight modify will give this order, or None when none is in flight."""
        entry = self._lookup(cloid)
        if entry is None or entry.modify is None or entry.terminal:
            return None
        return Quote(entry.modify.price, entry.modify.size)

    def stale(self, now_ns: int, older_than_ns: int) -> list[Order]:
        """Orders whose action has awaited an answer for more than ``older_than_ns`` (to query their status)."""
        return [
            self._entries[key].order
            for key in self._live
            if self._entries[key].in_flight and now_ns - self._entries[key].pending_since_ns > older_than_ns
        ]

    # ------------------------------------------------------------------------------------ what we sent

    def on_place(self, action: Place, ts_ns: int) -> Order:
        """Track a new order: PENDING_NEW, its place in flight. A cloid already tracked is a bug (ValueError)."""
        if action.cloid in self._index:
            raise ValueError(f"cloid {action.cloid} is already tracked; client order ids must be unique")
        order = Order(
            cloid=action.cloid,
            asset=action.asset,
            side=action.side,
            price=action.price,
            size=action.size,
            status=OrderStatus.PENDING_NEW,
            tif=action.tif,
            reduce_only=action.reduce_only,
            created_ns=ts_ns,
            updated_ns=ts_ns,
            trigger=action.trigger,
        )
        entry = _Entry(key=action.cloid, order=order, pending_since_ns=ts_ns, aliases=[action.cloid])
        self._entries[entry.key] = entry
        self._index[action.cloid] = entry.key
        self._live[entry.key] = None
        self._counts["placed"] += 1
        return order

    def on_modify(self, action: Modify, ts_ns: int) -> Order | None:
        """Mark a modify in flight; the order keeps its price and size until the ack.

        Returns None (and tracks nothing) for an unknown, terminal or cancelling order. The engine should not
        modify an order whose placement is unacknowledged (``reconcile`` never does): its first ack would be
        taken for the modify's.
        """
        entry = self._lookup(action.cloid)
        if entry is None or entry.terminal or entry.cancel_pending:
            return None
        if action.new_cloid is not None:
            owner = self._index.get(action.new_cloid)
            if owner is not None and owner != entry.key:
                raise ValueError(f"new cloid {action.new_cloid} is already used by another order")
            if owner is None:
                self._index[action.new_cloid] = entry.key
                entry.aliases.append(action.new_cloid)
        if not entry.in_flight:
            entry.pending_since_ns = ts_ns
        entry.modify = action
        self._counts["modified"] += 1
        self._touch(entry, ts_ns)
        return entry.order

    def on_cancel(self, action: Cancel, ts_ns: int) -> Order | None:
        """Mark a cancel in flight: PENDING_CANCEL. None for an unknown or terminal order; repeats are idempotent."""
        entry = self._lookup(action.cloid)
        if entry is None or entry.terminal:
            return None
        if not entry.cancel_pending:
            if not entry.in_flight:
                entry.pending_since_ns = ts_ns
            entry.cancel_pending = True
            self._counts["cancel_requests"] += 1
            self._touch(entry, ts_ns)
        return entry.order

    # ------------------------------------------------------------------------------- what the exchange says

    def on_update(self, update: OrderUpdate) -> Order | None:
        """Apply the exchange's word on an order; None for an unknown cloid (or one forgotten)."""
        entry = self._lookup(update.cloid)
        if entry is None:
            self.unknown_updates += 1
            return None
        if entry.terminal:
            self.ignored_updates += 1
            return entry.order
        ts = update.ts_local_ns
        if update.oid is not None:
            self._remember_oid(entry, update.oid)
        if update.filled_size is not None:
            self._raise_filled(entry, update.filled_size, ts)
            if entry.terminal:
                return entry.order
        if update.reason.startswith(MODIFY_FAILED_PREFIX) and update.status in (
            OrderStatus.REJECTED,
            OrderStatus.RESTING,
        ):
            self._modify_failed(entry, ts)
            return entry.order
        status = update.status
        if status is OrderStatus.RESTING:
            if update.reason:
                self._cancel_failed(entry, ts)
            else:
                self._acked(entry, update, ts)
        elif status is OrderStatus.PARTIALLY_FILLED:
            entry.acked = True
            entry.place_pending = False
            self._touch(entry, ts)
        elif status is OrderStatus.FILLED:
            self._set_filled(entry, entry.order.size, ts)
        elif status is OrderStatus.CANCELLED:
            self._finish(entry, OrderStatus.CANCELLED, ts)
        elif status is OrderStatus.REJECTED:
            if entry.acked or entry.order.filled > 0:
                # The exchange rejects an order it had accepted: trust it, but it should not happen.
                self.anomalies += 1
            self._finish(entry, OrderStatus.CANCELLED if entry.order.filled > 0 else OrderStatus.REJECTED, ts)
        else:
            # PENDING_NEW / PENDING_CANCEL are our own states; the exchange never reports them.
            self.ignored_updates += 1
        return entry.order

    def on_fill(self, fill: Fill) -> Order | None:
        """Add a (deduplicated) fill to its order's cumulative ``filled``; None when the order is unknown."""
        entry = self._lookup(fill.cloid) if fill.cloid is not None else None
        if entry is None and fill.oid is not None:
            key = self._oids.get(fill.oid)
            entry = self._entries.get(key) if key is not None else None
        if entry is None:
            self.unknown_updates += 1
            return None
        if fill.oid is not None:
            self._remember_oid(entry, fill.oid)
        if fill.side is not entry.order.side:
            self.anomalies += 1
        ts = fill.ts_local_ns
        if entry.terminal:
            if entry.order.status is OrderStatus.FILLED:
                self.ignored_updates += 1
            else:
                self.late_fills += 1
                filled = self._clip(entry, entry.order.filled + fill.size)
                entry.order = _evolve(entry.order, filled=filled, updated_ns=max(ts, entry.order.updated_ns))
            return entry.order
        entry.acked = True
        entry.place_pending = False
        if fill.oid in entry.replaced_oids:
            self._grow_replaced(entry, fill.size)
        self._set_filled(entry, entry.order.filled + fill.size, ts)
        return entry.order

    # ---------------------------------------------------------------------------------------- housekeeping

    def remove_terminal(self, keep_last: int = 1000) -> None:
        """Forget all but the ``keep_last`` most recently finished orders, so memory stays bounded."""
        if keep_last < 0:
            raise ValueError(f"keep_last must be >= 0 (got {keep_last})")
        while len(self._terminal) > keep_last:
            key = self._terminal.popleft()
            entry = self._entries.pop(key)
            for alias in entry.aliases:
                if self._index.get(alias) == key:
                    del self._index[alias]
            for oid in entry.oids:
                if self._oids.get(oid) == key:
                    del self._oids[oid]

    # ---------------------------------------------------------------------------------------------- private

    def _lookup(self, cloid: str) -> _Entry | None:
        key = self._index.get(cloid)
        return self._entries.get(key) if key is not None else None

    def _remember_oid(self, entry: _Entry, oid: int) -> None:
        if self._oids.get(oid) != entry.key:
            self._oids[oid] = entry.key
            entry.oids.append(oid)
            entry.fresh_oids.append(oid)
            if len(entry.oids) > OIDS_KEPT:
                self._forget_oid(entry, entry.oids.pop(0))
        if entry.order.oid != oid and oid not in entry.replaced_oids:
            entry.order = _evolve(entry.order, oid=oid)

    def _forget_oid(self, entry: _Entry, oid: int) -> None:
        if self._oids.get(oid) == entry.key:
            del self._oids[oid]
        entry.replaced_oids.discard(oid)
        if oid in entry.fresh_oids:
            entry.fresh_oids.remove(oid)

    def _touch(self, entry: _Entry, ts_ns: int, **changes: object) -> None:
        """Re-derive the live status and store the changes, never moving ``updated_ns`` backwards."""
        order = entry.order
        status = entry.derived_status(changes.get("filled"))  # type: ignore[arg-type]
        if not changes and status is order.status and ts_ns <= order.updated_ns:
            return
        entry.order = _evolve(order, **changes, updated_ns=max(ts_ns, order.updated_ns), status=status)

    def _finish(self, entry: _Entry, status: OrderStatus, ts_ns: int) -> None:
        entry.order = _evolve(entry.order, status=status, updated_ns=max(ts_ns, entry.order.updated_ns))
        entry.place_pending = entry.cancel_pending = False
        entry.modify = None
        del self._live[entry.key]
        self._terminal.append(entry.key)
        if len(self._terminal) > self.keep_finished:
            self.remove_terminal(self.keep_finished)  # a session of any length keeps a bounded memory
        self._counts[{OrderStatus.FILLED: "filled", OrderStatus.CANCELLED: "cancelled"}.get(status, "rejected")] += 1

    def _clip(self, entry: _Entry, filled: Decimal) -> Decimal:
        if filled > entry.order.size:
            self.anomalies += 1
            return entry.order.size
        return filled

    def _set_filled(self, entry: _Entry, filled: Decimal, ts_ns: int) -> None:
        filled = self._clip(entry, filled)
        if filled >= entry.order.size:
            entry.order = _evolve(entry.order, filled=filled)
            self._finish(entry, OrderStatus.FILLED, ts_ns)
        else:
            self._touch(entry, ts_ns, filled=filled)

    def _raise_filled(self, entry: _Entry, filled_size: Decimal, ts_ns: int) -> None:
        if filled_size > entry.order.filled:
            entry.acked = True
            entry.place_pending = False
            self._set_filled(entry, filled_size, ts_ns)

    def _acked(self, entry: _Entry, update: OrderUpdate, ts_ns: int) -> None:
        modify = entry.modify
        entry.acked = True
        entry.place_pending = False
        if modify is None or not answers_modify(entry.order.price, entry.order.remaining, modify, update):
            self._touch(entry, ts_ns)
            return
        entry.modify = None
        self._replace_oids(entry, update.oid)
        resting = update.size if update.size is not None else modify.size
        self._touch(
            entry,
            ts_ns,
            cloid=modify.new_cloid or entry.order.cloid,
            price=update.price if update.price is not None else modify.price,
            size=entry.order.filled + resting,
            tif=modify.tif,
            reduce_only=modify.reduce_only,
        )
        if entry.order.remaining <= ZERO:
            self._finish(entry, OrderStatus.FILLED, ts_ns)

    def _replace_oids(self, entry: _Entry, oid: int | None) -> None:
        """A modify's ack names ``oid``: every other id the order had is replaced (none when it kept its id)."""
        if oid is not None:
            entry.replaced_oids.update(o for o in entry.fresh_oids if o != oid)
            entry.fresh_oids = [oid]

    def _grow_replaced(self, entry: _Entry, size: Decimal) -> None:
        """A fill of a replaced id, reported after the modify's ack: it was made before the modify, whose ack set
        the size from what rests now, so it adds to the order's size as well as to its ``filled``."""
        entry.order = _evolve(entry.order, size=entry.order.size + size)

    def _modify_failed(self, entry: _Entry, ts_ns: int) -> None:
        modify = entry.modify
        if modify is None:
            self.ignored_updates += 1
            return
        entry.modify = None
        if modify.new_cloid is not None and modify.new_cloid != entry.order.cloid:
            if self._index.get(modify.new_cloid) == entry.key:
                del self._index[modify.new_cloid]
            if modify.new_cloid in entry.aliases:
                entry.aliases.remove(modify.new_cloid)
        self._counts["modify_rejected"] += 1
        self._touch(entry, ts_ns)

    def _cancel_failed(self, entry: _Entry, ts_ns: int) -> None:
        if not entry.cancel_pending:
            self.ignored_updates += 1
            return
        entry.cancel_pending = False
        self._counts["cancel_rejected"] += 1
        self._touch(entry, ts_ns)


def answers_modify(price: Decimal, remaining: Decimal, modify: Modify, update: OrderUpdate) -> bool:
    """Whether an ack that arrives while a modify is in flight is the modify's, not a late duplicate of the
    place's ack (Hyperliquid reports a placement both in the response and on the websocket).

    ``price`` and ``remaining`` are the order's before the modify. Values compare as numbers (``0.02`` is
    ``0.0200``). An ack at neither the modify's terms nor the old ones is the modify's, with a fill since.
    """
    if modify.new_cloid is not None and update.cloid == modify.new_cloid:
        return True
    if (update.price is None or update.price == modify.price) and (update.size is None or update.size == modify.size):
        return True
    stale = (update.price is None or update.price == price) and (update.size is None or update.size == remaining)
    return not stale
