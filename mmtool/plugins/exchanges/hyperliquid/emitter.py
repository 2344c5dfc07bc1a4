"""The adapter's outlet: core events onto its queue, with the order registry and the fill ledger kept in step.

Every part of the adapter emits through :class:`Emitter`: an ``OrderUpdate`` is applied to the
:class:`~.state.OrderRegistry` before it is queued, a fill is passed on once (deduplicated by trade id by the
:class:`~.state.FillLedger`), and an exchange update that a pending modify explains is held back until the modify's
answer (see ``LocalOrder.deferred``). Malformed messages are logged, counted and skipped here too.
"""

from __future__ import annotations

import logging
from decimal import Decimal
from typing import TYPE_CHECKING

from mmtool.core.types import Event, Fill, OrderStatus, OrderUpdate

if TYPE_CHECKING:
    from mmtool.plugins.exchanges.hyperliquid.adapter import HyperliquidAdapter

log = logging.getLogger("mmtool.hyperliquid")


class Emitter:
    """Queues the adapter's core events, keeping its order registry and fill ledger in step with them."""

    def __init__(self, adapter: HyperliquidAdapter) -> None:
        self._adapter = adapter

    def put(self, event: Event) -> None:
        """Queue an event as it is (market data, connection and budget news)."""
        self._adapter._queue.put_nowait(event)

    def emit(self, event: Event) -> None:
        """Queue an event, applying an ``OrderUpdate`` to the order registry first."""
        if isinstance(event, OrderUpdate):
            self._adapter.orders.apply(event)
        self._adapter._queue.put_nowait(event)

    def fill(self, fill: Fill) -> bool:
        """Pass on a fill of ours once (dedup by trade id); True when it was new."""
        adapter = self._adapter
        if not adapter.ledger.accept(fill):
            return False
        if fill.asset != adapter.asset:
            return False
        adapter.orders.apply_fill(fill)
        adapter._queue.put_nowait(fill)
        return True

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
    ) -> None:
        """Emit an ``OrderUpdate`` stamped now."""
        now = self._adapter.clock.now_ns()
        self.emit(OrderUpdate(asset, cloid, status, now, now, oid=oid, price=price, size=size, reason=reason,
                              crossed=crossed))

    def route(self, update: OrderUpdate) -> None:
        """Emit an order update from the exchange, unless a modify explains it (see ``LocalOrder.deferred``)."""
        order = self._adapter.orders.get(update.cloid)
        if order is None:
            if not self._adapter.orders.knows(update.cloid):
                return  # not one of ours
            self.emit(update)
            return
        if update.status is OrderStatus.CANCELLED and update.oid is not None:
            if update.oid in order.retired_oids:
                return
            if order.modify is not None and update.oid == order.oid:
                order.deferred.append(update)
                return
        self.emit(update)

    def release_deferred(self, cloid: str) -> None:
        """Emit the updates held back for an order once its modify is answered (except those of retired oids)."""
        order = self._adapter.orders.get(cloid)
        if order is None or order.modify is not None or not order.deferred:
            return
        deferred, order.deferred = order.deferred, []
        for update in deferred:
            if update.oid not in order.retired_oids:
                self.emit(update)

    def malformed(self, where: str, exc: Exception) -> None:
        """Log and count a message that was not the documented shape (it is skipped)."""
        self._adapter.malformed += 1
        log.warning("Malformed exchange message skipped", extra={"fields": {"channel": where, "error": str(exc)}})
