"""Matching engine: taking, resting, queue position, priority, rejects with Hyperliquid's texts, fees, ledger."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mmtool.core.types import Liquidity, OrderStatus, Side, Tif
from mmtool.plugins.exchanges.sim.ledger import FillRecord
from mmtool.plugins.exchanges.sim.matching import (
    MISSING_ORDER_ERROR,
    MODIFY_MISSING_ERROR,
    REDUCE_ONLY_CANCELED,
    SELF_TRADE_CANCELED,
    OrderRecord,
    TradeRecord,
)

from .helpers import default_book, lots, make_book, make_engine, px, req, set_level, sweep

D = Decimal


def fills(engine) -> list[FillRecord]:
    return list(engine.ledger)


def test_ioc_walks_levels_at_each_level_price_and_reports_the_average():
    engine = make_engine()
    result = engine.place(req("a", Side.BUY, "3500.2", "2.5", Tif.IOC), 1)
    assert result.status == "filled"
    assert result.filled == D("2.5")
    assert result.avg_price == (D("3500") * 1 + D("3500.1") * D("1.5")) / D("2.5")
    assert [(f.price, f.size, f.liquidity) for f in fills(engine)] == [
        (D("3500"), D("1"), Liquidity.TAKER),
        (D("3500.1"), D("1.5"), Liquidity.TAKER),
    ]
    # The displayed book lost what we took.
    assert engine.book.asks[0] == [px("3500.1"), lots(0.5), 1]
    assert engine.account.position == D("2.5")
    assert engine.open_orders() == []


def test_ioc_partial_fill_cancels_the_remainder():
    engine = make_engine()
    result = engine.place(req("a", Side.BUY, "3500.1", "10", Tif.IOC), 1)
    assert result.status == "filled" and result.filled == D("3")
    last = [r for r in engine.drain() if isinstance(r, OrderRecord)][-1]
    assert last.status is OrderStatus.CANCELLED
    assert last.filled == D("3")


def test_ioc_that_cannot_match_is_refused_with_hyperliquids_text():
    engine = make_engine()
    result = engine.place(req("a", Side.BUY, "3499", "1", Tif.IOC), 1)
    assert not result.ok
    assert result.error == "Order could not immediately match against any resting orders. asset=0"
    assert engine.ledger == []


def test_gtc_takes_what_crosses_and_rests_the_rest():
    engine = make_engine()
    result = engine.place(req("a", Side.BUY, "3500", "1.5", Tif.GTC), 1)
    assert result.status == "resting"
    assert fills(engine)[0].size == D("1")
    [order] = engine.open_orders()
    assert (order.price, order.size, order.filled) == (D("3500"), D("0.5"), D("1"))
    assert order.queue_ahead == 0  # a new best bid: nobody ahead
    statuses = [r.status for r in engine.drain() if isinstance(r, OrderRecord)]
    assert statuses == [OrderStatus.PARTIALLY_FILLED, OrderStatus.RESTING]


def test_post_only_that_would_cross_is_rejected_with_the_bbo():
    engine = make_engine()
    result = engine.place(req("a", Side.BUY, "3500", "1"), 1)
    assert result.error == "Post only order would have immediately matched, bbo was 3499.9@3500. asset=0"
    assert result.crossed
    assert engine.place(req("b", Side.SELL, "3499.9", "1"), 1).error.startswith(
        "Post only order would have immediately matched"
    )
    assert engine.open_orders() == []
    assert not engine.place(req("c", Side.BUY, "3499", "1"), 1).crossed, "resting: nothing crossed"


def test_post_only_also_rejects_crossing_our_own_order():
    engine = make_engine(make_book([("3499", 1.0)], [("3501", 1.0)]))
    assert engine.place(req("ask", Side.SELL, "3500", "1"), 1).status == "resting"
    result = engine.place(req("bid", Side.BUY, "3500", "1"), 2)
    assert result.error.startswith("Post only order would have immediately matched, bbo was 3499@3500.")


def test_resting_order_joins_behind_the_displayed_size_and_fills_after_the_queue_ahead():
    engine = make_engine()
    engine.place(req("a", Side.BUY, "3499.9", "1"), 1)
    assert engine.order("a").queue_ahead == D("2")
    sweep(engine, Side.SELL, [("3499.9", 1.5)])
    assert engine.ledger == []
    assert engine.order("a").queue_ahead == D("0.5")
    sweep(engine, Side.SELL, [("3499.9", 0.5)])
    assert engine.ledger == []  # exactly the queue ahead: nothing left for us
    assert engine.order("a").queue_ahead == 0
    set_level(engine.book, Side.BUY, "3499.9", 1.0)  # new synthetic size joins behind us
    sweep(engine, Side.SELL, [("3499.9", 0.4)])
    [fill] = fills(engine)
    assert (fill.size, fill.price, fill.liquidity) == (D("0.4"), D("3499.9"), Liquidity.MAKER)
    assert engine.order("a").size == D("0.6")
    assert engine.order("a").filled == D("0.4")


def test_a_trade_through_our_price_fills_us_completely_whatever_the_queue():
    engine = make_engine()
    engine.place(req("a", Side.BUY, "3499.9", "1"), 1)
    sweep(engine, Side.SELL, [("3499.9", 2.0), ("3499.8", 0.1)])
    [fill] = fills(engine)
    assert (fill.price, fill.size) == (D("3499.9"), D("1"))
    assert engine.order("a") is None
    trades = [r for r in engine.drain() if isinstance(r, TradeRecord)]
    # Our fill prints first (better price), then the synthetic levels; tids are unique and increasing.
    expected = [(D("3499.9"), D("1")), (D("3499.9"), D("2")), (D("3499.8"), D("0.1"))]
    assert [(t.price, t.size) for t in trades] == expected
    assert [int(t.tid) for t in trades] == sorted(int(t.tid) for t in trades)
    assert len({t.tid for t in trades}) == 3


def test_price_time_priority_between_two_of_our_orders_at_one_price():
    engine = make_engine()
    engine.place(req("first", Side.BUY, "3499.9", "0.5"), 1)
    engine.place(req("second", Side.BUY, "3499.9", "0.5"), 2)
    sweep(engine, Side.SELL, [("3499.9", 1.3)])  # 2.0 displayed ahead of both: no fill yet
    assert engine.ledger == []
    sweep(engine, Side.SELL, [("3499.9", 0.7)])  # the whole queue ahead consumed, exactly
    assert engine.ledger == []
    set_level(engine.book, Side.BUY, "3499.9", 2.0)
    sweep(engine, Side.SELL, [("3499.9", 0.8)])
    by_order = {f.cloid: f.size for f in fills(engine)}
    assert by_order == {"first": D("0.5"), "second": D("0.3")}


def test_better_priced_order_fills_before_a_worse_one():
    engine = make_engine()
    engine.place(req("near", Side.SELL, "3500.1", "0.5"), 1)
    engine.place(req("inside", Side.BUY, "3499.9", "0.5"), 1)
    engine.place(req("far", Side.SELL, "3500.2", "0.5"), 2)
    sweep(engine, Side.BUY, [("3500", 1.0), ("3500.1", 1.0)])
    # "near" sits behind 2.0 displayed at 3500.1; a trade ending at 3500.1 with 1.0 leaves it unfilled.
    assert engine.ledger == []
    sweep(engine, Side.BUY, [("3500.1", 1.0), ("3500.2", 0.1)])
    assert [f.cloid for f in fills(engine)] == ["near"]


def test_queue_ahead_shrinks_in_proportion_when_displayed_size_is_cancelled():
    engine = make_engine()
    engine.place(req("a", Side.BUY, "3499.8", "1"), 1)
    assert engine.order("a").queue_ahead == D("3")
    engine.book.bids[1][1] = lots(1.5)  # half the level cancelled
    engine.on_book(2)
    assert engine.order("a").queue_ahead == D("1.5")
    engine.book.bids[1][1] = lots(6)  # new size joins behind
    engine.on_book(3)
    assert engine.order("a").queue_ahead == D("1.5")


def test_book_moving_through_a_resting_order_fills_it_at_its_price():
    engine = make_engine()
    engine.place(req("a", Side.BUY, "3499.9", "1"), 1)
    engine.book.bids = [[px("3499.8"), lots(1), 1]]
    engine.book.asks = [[px("3499.9"), lots(1), 1]]
    engine.on_book(2)
    [fill] = fills(engine)
    assert (fill.price, fill.size, fill.liquidity) == (D("3499.9"), D("1"), Liquidity.MAKER)


def test_tick_lot_and_minimum_notional_rejects():
    engine = make_engine()
    assert engine.place(req("a", Side.BUY, "3499.95", "1"), 1).error == "Price must be divisible by tick size. asset=0"
    assert engine.place(req("b", Side.BUY, "3499.9", "0.00001"), 1).error.startswith("Order has invalid size.")
    too_small = engine.place(req("c", Side.BUY, "3499.9", "0.002"), 1)
    assert too_small.error == "Order must have minimum value of $10. asset=0"
    assert engine.place(req("d", Side.BUY, "3499.9", "0.0029"), 1).ok  # 10.15 USDC


def test_insufficient_margin():
    engine = make_engine(deposit=D(1000), leverage=2)
    assert engine.place(req("a", Side.BUY, "3499", "0.5"), 1).ok  # 1749.5 / 2 <= 1000
    result = engine.place(req("b", Side.BUY, "3499", "0.1"), 1)
    assert result.error == "Insufficient margin to place order. asset=0"


def test_reduce_only_is_refused_when_flat_and_clipped_to_the_position():
    engine = make_engine()
    assert engine.place(req("r", Side.SELL, "3499.9", "1", Tif.IOC, True), 1).error == (
        "Reduce only order would increase position. asset=0"
    )
    engine.place(req("buy", Side.BUY, "3500", "1", Tif.IOC), 1)
    assert engine.place(req("r2", Side.BUY, "3499", "1", Tif.GTC, True), 1).error.startswith(
        "Reduce only order would increase position."
    )
    result = engine.place(req("r3", Side.SELL, "3499.7", "5", Tif.IOC, True), 2)
    assert result.filled == D("1")
    assert engine.account.position == 0


def test_resting_reduce_only_is_cancelled_once_the_position_is_closed():
    engine = make_engine()
    engine.place(req("buy", Side.BUY, "3500", "1", Tif.IOC), 1)
    engine.place(req("ro", Side.SELL, "3500.5", "1", Tif.ALO, True), 2)
    engine.drain()
    engine.place(req("close", Side.SELL, "3499.9", "1", Tif.IOC), 3)
    assert engine.order("ro") is None
    cancelled = [r for r in engine.drain() if isinstance(r, OrderRecord) and r.cloid == "ro"]
    assert cancelled[-1].status is OrderStatus.CANCELLED and cancelled[-1].reason == REDUCE_ONLY_CANCELED


def test_fees_maker_and_taker():
    engine = make_engine()
    engine.place(req("t", Side.BUY, "3500", "1", Tif.IOC), 1)
    engine.place(req("m", Side.SELL, "3500.1", "1"), 1)
    sweep(engine, Side.BUY, [("3500.1", 2.0), ("3500.2", 1.0)])
    taker, maker = fills(engine)
    assert taker.fee == D("1.575000")  # 3500 * 0.00045
    assert maker.liquidity is Liquidity.MAKER
    assert maker.fee == D("0.525015")  # 3500.1 * 0.00015
    state = engine.account.state(D("3500"))
    assert state.fees == taker.fee + maker.fee
    assert state.realized_pnl == D("0.1") and maker.closed_pnl == D("0.1")
    assert state.balance == D(100_000) + D("0.1") - state.fees


def test_modify_size_decrease_keeps_the_queue_place():
    engine = make_engine()
    engine.place(req("a", Side.BUY, "3499.9", "1"), 1)
    engine.place(req("b", Side.BUY, "3499.9", "1"), 2)
    sweep(engine, Side.SELL, [("3499.9", 1.0)])
    assert engine.modify("a", req("a", Side.BUY, "3499.9", "0.5"), 3).status == "resting"
    assert engine.order("a").queue_ahead == D("1")
    set_level(engine.book, Side.BUY, "3499.9", 4.0)
    sweep(engine, Side.SELL, [("3499.9", 1.6)])
    assert {f.cloid: f.size for f in fills(engine)} == {"a": D("0.5"), "b": D("0.1")}


@pytest.mark.parametrize("price,size", [("3499.9", "1.5"), ("3499.8", "1")])
def test_modify_price_change_or_size_increase_loses_the_queue_place(price, size):
    engine = make_engine()
    engine.place(req("a", Side.BUY, "3499.9", "1"), 1)
    engine.place(req("b", Side.BUY, "3499.9", "1"), 2)
    sweep(engine, Side.SELL, [("3499.9", 2.0)])  # both now at the front
    assert engine.order("a").queue_ahead == 0
    set_level(engine.book, Side.BUY, "3499.9", 3.0)  # joins behind both
    result = engine.modify("a", req("a2", Side.BUY, price, size), 3)
    assert result.status == "resting" and engine.order("a") is None
    moved = engine.order("a2")
    assert moved.queue_ahead == Decimal(engine.book.size_at(Side.BUY, px(price))) / 10_000 == 3
    if price == "3499.9":
        sweep(engine, Side.SELL, [("3499.9", 1.2)])
        assert [(f.cloid, f.size) for f in fills(engine)] == [("b", 1)]  # b is now ahead of a2
        assert engine.order("a2").queue_ahead == D("2.8")


def test_failed_modify_leaves_the_order_untouched():
    engine = make_engine()
    engine.place(req("a", Side.BUY, "3499.9", "1"), 1)
    assert engine.modify("a", req("a", Side.BUY, "3500.1", "1"), 2).error.startswith(
        "Post only order would have immediately matched"
    )
    assert engine.order("a").price == D("3499.9")
    assert engine.modify("zzz", req("zzz", Side.BUY, "3499.9", "1"), 2).error == MODIFY_MISSING_ERROR


def test_cancel_and_cancel_of_unknown_or_finished_orders():
    engine = make_engine()
    engine.place(req("a", Side.BUY, "3499.9", "1"), 1)
    assert engine.cancel("a", 2) is None
    assert engine.open_orders() == []
    assert engine.cancel("a", 3) == "Order was never placed, already canceled, or filled."
    assert engine.cancel("never", 3) == MISSING_ORDER_ERROR


def test_crossing_our_own_resting_order_expires_the_maker():
    engine = make_engine()
    engine.place(req("ask", Side.SELL, "3500.1", "1"), 1)
    engine.place(req("bid", Side.BUY, "3500.1", "1", Tif.GTC), 2)
    records = [r for r in engine.drain() if isinstance(r, OrderRecord) and r.cloid == "ask"]
    assert records[-1].status is OrderStatus.CANCELLED and records[-1].reason == SELF_TRADE_CANCELED
    assert all(f.cloid == "bid" for f in fills(engine))


def test_ledger_realizes_pnl_on_a_flip_and_funding_is_paid_by_longs():
    engine = make_engine(make_book([("3499", 10.0)], [("3500", 10.0)]))
    engine.place(req("b", Side.BUY, "3500", "2", Tif.IOC), 1)
    engine.book.bids = [[px("3510"), lots(10), 1]]
    engine.book.asks = [[px("3511"), lots(10), 1]]
    engine.place(req("s", Side.SELL, "3510", "3", Tif.IOC), 2)
    state = engine.account.state(engine.mark())
    assert state.position == D("-1") and state.entry_price == D("3510")
    assert state.realized_pnl == D("20")
    record = engine.on_funding(D("0.0001"), 3)
    assert record.payment == D("0.351050")  # short receives 1 * 3510.5 * 0.0001
    assert engine.account.funding == record.payment
    hashes = {f.hash for f in engine.ledger}
    assert len(hashes) == len(engine.ledger) and all(h.startswith("0x") and len(h) == 66 for h in hashes)


def test_default_book_helper_is_consistent():
    book = default_book()
    assert book.best(Side.BUY) == px("3499.9") and book.best(Side.SELL) == px("3500")
    assert book.size_at(Side.BUY, px("3499.95")) == 0
    assert book.size_at(Side.BUY, px("3499")) is None
