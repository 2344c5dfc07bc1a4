"""Our resting orders as the estimators see them: side, price, remaining size and queue ahead, by cloid.

Built from OrderUpdate acknowledgements (RESTING with price and size), partial fills, terminal states and our
Fill events. Bounded: beyond ``capacity`` orders new ones are refused (and counted), never grown without end.
"""

from __future__ import annotations

from mmtool.core.types import Fill, OrderStatus, OrderUpdate, Side
from mmtool.plugins.estimators._common import positive


class TrackedOrder:
    """One of our resting orders (mutable: its remaining size and queue ahead change)."""

    __slots__ = ("side", "price", "remaining", "queue_ahead", "acked_ns")

    def __init__(self, side: Side, price: float, remaining: float, queue_ahead: float, acked_ns: int) -> None:
        self.side = side
        self.price = price
        self.remaining = remaining
        self.queue_ahead = queue_ahead
        self.acked_ns = acked_ns


class OrderBookOfOurs:
    """Our resting orders by cloid; the side of an order comes from its fills or from the book at the ack."""

    def __init__(self, capacity: int = 256) -> None:
        self.capacity = capacity
        self.orders: dict[str, TrackedOrder] = {}
        self.refused = 0

    def on_update(self, event: OrderUpdate, side: Side | None, queue_ahead: float) -> bool:
        """Apply an order update; ``side`` is needed for a new RESTING ack. Return False when unusable."""
        if event.status.is_terminal:
            self.orders.pop(event.cloid, None)
            return True
        order = self.orders.get(event.cloid)
        if event.status is OrderStatus.RESTING:
            price, size = positive(event.price), positive(event.size)
            if price is None or size is None or side is None:
                return False
            filled = positive(event.filled_size) or 0.0
            if order is not None:
                order.price, order.remaining = price, size - filled
            elif len(self.orders) < self.capacity:
                self.orders[event.cloid] = TrackedOrder(side, price, size - filled, queue_ahead, event.ts_exchange_ns)
            else:
                self.refused += 1
            return True
        if event.status is OrderStatus.PARTIALLY_FILLED and order is not None:
            size, filled = positive(event.size), positive(event.filled_size)
            if size is not None and filled is not None:
                order.remaining = max(size - filled, 0.0)
        return True

    def on_fill(self, event: Fill) -> TrackedOrder | None:
        """Reduce the filled order's remaining size (drop it when done); return it when known."""
        if event.cloid is None:
            return None
        order = self.orders.get(event.cloid)
        if order is None:
            return None
        order.remaining -= float(event.size)
        order.queue_ahead = 0.0
        if order.remaining <= 1e-12:
            del self.orders[event.cloid]
        return order


def side_at(price: float, bid: float | None, ask: float | None) -> Side | None:
    """Side of a passive order at ``price``: at or below the best bid is a buy, at or above the ask a sell."""
    if bid is not None and price <= bid:
        return Side.BUY
    if ask is not None and price >= ask:
        return Side.SELL
    if bid is not None and ask is not None:
        return Side.BUY if price - bid < ask - price else Side.SELL
    return None
