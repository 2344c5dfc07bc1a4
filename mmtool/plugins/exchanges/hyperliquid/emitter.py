"""The adapter's outlet: core events onto its queue, with the order registry and the fill ledger kept in step.

Every part of the adapter emits through :class:`Emitter`: an ``OrderUpdate`` is applied to the
:class:`~.state.OrderRegistry` before it is queued, a fill is passed on once (deduplicated by trade id by the
:class:`~.state.FillLedger`; one that comes before its order's acknowledgement waits for it, see :meth:`Emitter.fill`),
and an exchange update that a pending modify explains is held back until the modify's
answer (see ``LocalOrder.deferred``). Malformed messages are logged, counted and skipped here too.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING

import attrs

from mmtool.core.types import Event, Fill, Modify, OrderStatus, OrderUpdate

if TYPE_CHECKING:
    from mmtool.plugins.exchanges.hyperliquid.adapter import HyperliquidAdapter

log = logging.getLogger("mmtool.hyperliquid")

#: How long a fill of an unknown order id waits for the acknowledgement that names it (local ns).
HOLD_FILL_NS = 2_000_000_000


class Emitter:
    """Queues the adapter's core events, keeping its order registry and fill ledger in step with them."""

    def __init__(self, adapter: HyperliquidAdapter) -> None:
        self._adapter = adapter
        #: Fills of an order id nobody knows yet, waiting for the acknowledgement that names it (oldest first).
        self._held: list[Fill] = []

    def put(self, event: Event) -> None:
        """Queue an event as it is (market data, connection and budget news)."""
        self._adapter._queue.put_nowait(event)

    def emit(self, event: Event, answering: Modify | None = None) -> None:
        """Queue an event, applying an ``OrderUpdate`` to the order registry first; an update about an oid the
        order no longer has (see :meth:`.OrderRegistry.stale`) is dropped, unless it is the answer to the modify
        in flight (``answering``)."""
        if isinstance(event, OrderUpdate):
            if self._adapter.orders.stale(event, answering):
                log.debug("Stale order update dropped", extra={"fields": {"cloid": event.cloid, "oid": event.oid,
                                                                          "status": event.status.value}})
                return
            self._adapter.orders.apply(event)
            self._adapter._queue.put_nowait(event)
            if self._held and event.oid is not None:
                self.release_held(event.ts_local_ns)
            return
        self._adapter._queue.put_nowait(event)

    def fill(self, fill: Fill) -> bool:
        """Pass on a fill of ours once (dedup by trade id); True when it was new.

        The exchange's fills name the order by its oid only, which we learn from the order's acknowledgement; a
        fill that comes first (its acknowledgement went over REST, or was delayed) is held while one of our orders
        still awaits its oid, and passed on with its order's cloid right after the acknowledgement, so that the
        engine applies it to its order; after :data:`HOLD_FILL_NS` without one it goes on as it is.
        """
        adapter = self._adapter
        if not adapter.ledger.accept(fill):
            return False
        if fill.asset != adapter.asset:
            return False
        if fill.cloid is None and fill.oid is not None and adapter.orders.awaiting_oid():
            self._held.append(fill)
            return True
        self._pass_fill(fill)
        return True

    def release_held(self, now_ns: int, force: bool = False) -> None:
        """Pass on the held fills whose order is known now, and those held too long (or all, with ``force``)."""
        orders = self._adapter.orders
        kept: list[Fill] = []
        for fill in self._held:
            cloid = orders.cloid_of_oid(fill.oid) if fill.oid is not None else None
            if cloid is not None:
                self._pass_fill(attrs.evolve(fill, cloid=cloid))
            elif force or now_ns - fill.ts_local_ns >= HOLD_FILL_NS or not orders.awaiting_oid():
                self._pass_fill(fill)
            else:
                kept.append(fill)
        self._held = kept

    def _pass_fill(self, fill: Fill) -> None:
        self._adapter.orders.apply_fill(fill)
        self._adapter._queue.put_nowait(fill)

    def update(
        self,
        asset: str,
        cloid: str,
        status: OrderStatus,
        *,
        oid: int | None = None,
        price: Decimal | None = None,
        size: Decimal | None = None,
        reason: str = "",
        crossed: bool = False,
        answering: Modify | None = None,
    ) -> None:
        """Emit an ``OrderUpdate`` stamped now (``answering``: the modify whose own answer this is)."""
        now = self._adapter.clock.now_ns()
        self.emit(OrderUpdate(asset, cloid, status, now, now, oid=oid, price=price, size=size, reason=reason,
                              crossed=crossed), answering)

    def route(self, update: OrderUpdate) -> None:
        """Emit an order update from the exchange, unless a modify explains it (see ``LocalOrder.deferred``)."""
        order = self._adapter.orders.get(update.cloid)
        if order is None:
            if not self._adapter.orders.knows(update.cloid):
                return  # not one of ours
            self.emit(update)
            return
        if (update.status is OrderStatus.CANCELLED and update.oid is not None and order.modify is not None
                and update.oid == order.oid):
            order.deferred.append(update)
            return
        self.emit(update)  # news of an oid a modify replaced is dropped there

    def release_deferred(self, *cloids: str) -> None:
        """Emit the updates held back for an order once its modify is answered (those of the oid it replaced are
        dropped as stale by :meth:`emit`).

        The order is the first of ``cloids`` known: a modify's new cloid when it took, its own when it failed.
        """
        order = next((o for o in map(self._adapter.orders.get, cloids) if o is not None), None)
        if order is None or order.modify is not None or not order.deferred:
            return
        deferred, order.deferred = order.deferred, []
        for update in deferred:
            self.emit(update)

    def malformed(self, where: str, exc: Exception) -> None:
        """Log and count a message that was not the documented shape (it is skipped)."""
        self._adapter.malformed += 1
        log.warning("Malformed exchange message skipped", extra={"fields": {"channel": where, "error": str(exc)}})
