"""The fill model: an order fills only after the displayed queue ahead of it is consumed, on the matching engine
directly and through the replayed market's sweeps."""

from __future__ import annotations

from decimal import Decimal

from mmtool.core.rounding import AssetRules
from mmtool.core.types import Fill, OrderStatus, OrderUpdate, Place, Side, Tif
from mmtool.plugins.exchanges.sim.book import SimBook
from mmtool.plugins.exchanges.sim.matching import MatchingEngine, OrderRequest

from .market import NS, T0, book, drain, replay, trade

BIDS = [("3499.9", 2.0), ("3499.8", 3.0), ("3499.7", 4.0)]
ASKS = [("3500", 1.0), ("3500.1", 2.0), ("3500.2", 5.0)]


def test_matching_engine_fills_only_once_the_queue_ahead_is_consumed():
    book_ = SimBook()
    book_.bids = [[349990, 20_000, 1], [349980, 30_000, 1]]  # 2.0 and 3.0 ETH (price units 0.01, lots 1e-4)
    book_.asks = [[350000, 10_000, 1]]
    engine = MatchingEngine(AssetRules("ETH", 4), book_)
    assert engine.place(OrderRequest("c1", Side.BUY, Decimal("3499.9"), Decimal("0.5"), Tif.ALO), 0).ok
    assert engine.order("c1").queue_ahead == Decimal(2)
    engine.drain()
    book_.bids[0][1] -= 15_000
    engine.on_sweep(Side.SELL, [(349990, 15_000)], 1)
    assert engine.order("c1").queue_ahead == Decimal("0.5")
    assert not engine.ledger
    book_.bids[0][1] -= 5_000
    engine.on_sweep(Side.SELL, [(349990, 5_000)], 2)
    assert not engine.ledger, "exactly the queue ahead traded: nothing reaches us yet"
    engine.on_sweep(Side.SELL, [(349990, 3_000)], 3)
    assert [(f.size, f.ts_ns) for f in engine.ledger] == [(Decimal("0.3"), 3)]


def test_replayed_trades_fill_our_bid_only_after_the_queue_ahead():
    events = [
        book(BIDS, ASKS, 0.0),
        trade("3499.9", 1.5, Side.SELL, 1.0, "a"),
        trade("3499.9", 0.5, Side.SELL, 2.0, "b"),
        trade("3499.9", 0.3, Side.SELL, 3.0, "c"),
        trade("3499.9", 0.6, Side.SELL, 4.0, "d"),
    ]
    exchange = replay(events)
    exchange.next_event()  # the connection comes up at the first recorded time
    exchange.submit_now([Place("c1", "ETH", Side.BUY, Decimal("3499.9"), Decimal("0.5"), Tif.ALO)])
    out = drain(exchange)
    fills = [e for e in out if isinstance(e, Fill)]
    assert [(f.size, f.ts_exchange_ns) for f in fills] == [(Decimal("0.3"), T0 + 3 * NS), (Decimal("0.2"), T0 + 4 * NS)]
    assert all(f.price == Decimal("3499.9") for f in fills)
    statuses = [e.status for e in out if isinstance(e, OrderUpdate)]
    assert statuses == [OrderStatus.RESTING, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED]
    # The public tape is the recorded one, with its own trade ids.
    assert [e.trade_id for e in out if type(e).__name__ == "Trade"] == ["a", "b", "c", "d"]


def test_a_sweep_through_our_price_fills_us_whole_before_the_last_level():
    events = [
        book(BIDS, ASKS, 0.0),
        # One aggressive sell walking three levels in one message: 3499.9 and 3499.8 whole, then 1.0 at 3499.7.
        trade("3499.9", 2.0, Side.SELL, 1.0, "a"),
        trade("3499.8", 3.0, Side.SELL, 1.0, "b"),
        trade("3499.7", 1.0, Side.SELL, 1.0, "c"),
    ]
    exchange = replay(events)
    exchange.next_event()
    exchange.submit_now([Place("c1", "ETH", Side.BUY, Decimal("3499.8"), Decimal("0.4"), Tif.ALO)])
    fills = [e for e in drain(exchange) if isinstance(e, Fill)]
    assert [(f.price, f.size) for f in fills] == [(Decimal("3499.8"), Decimal("0.4"))]
