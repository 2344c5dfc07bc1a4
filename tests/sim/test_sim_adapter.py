"""The ``sim`` adapter: protocol, async stream, latency, fills, funding, cancel_all, conventions, determinism."""

from __future__ import annotations

import asyncio
import math
import time
from decimal import Decimal

import pytest

from mmtool.core.components import ComponentContext, ExchangeAdapter
from mmtool.core.config import Settings
from mmtool.core.errors import ExchangeError
from mmtool.core.types import (
    BookUpdate,
    Cancel,
    Connection,
    Fill,
    Funding,
    Liquidity,
    Modify,
    OrderStatus,
    OrderUpdate,
    Place,
    Side,
    Tif,
)
from mmtool.plugins.exchanges.sim import plugin
from mmtool.plugins.exchanges.sim.adapter import SimAdapter
from mmtool.plugins.exchanges.sim.config import SimConfig
from mmtool.plugins.exchanges.sim.ledger import usdc
from mmtool.plugins.exchanges.sim.simulator import EPOCH_NS

MS = 1_000_000
TICK = Decimal("0.1")


def make(**changes) -> SimAdapter:
    return SimAdapter(SimConfig(**{"speed": math.inf, **changes}), "ETH", leverage=3)


async def until(stream, predicate, limit: int = 100_000):
    """Pull events until one satisfies ``predicate``; return it and everything seen."""
    seen = []
    async for event in stream:
        seen.append(event)
        if predicate(event):
            return event, seen
        if len(seen) >= limit:
            break
    raise AssertionError("event not found")


async def first_book(stream) -> BookUpdate:
    book, _ = await until(stream, lambda e: isinstance(e, BookUpdate))
    return book


def mine(cloid: str, status: OrderStatus | None = None):
    return lambda e: isinstance(e, OrderUpdate) and e.cloid == cloid and (status is None or e.status is status)


def test_protocol_registration_and_rules():
    assert plugin.mmtool_register_exchanges() == [SimAdapter]
    settings = Settings()
    adapter = SimAdapter.from_config(SimAdapter.Config(), ComponentContext("ETH", make().rules("ETH"), settings))
    assert isinstance(adapter, ExchangeAdapter)
    assert adapter.name == "sim"
    assert adapter.rules("ETH").sz_decimals == 4 and adapter.rules("ETH").tick(3500) == TICK
    assert adapter.sim.engine.leverage == settings.trading.leverage
    with pytest.raises(ExchangeError, match="unknown asset"):
        adapter.rules("BTC")


def test_stream_is_time_ordered_and_drives_the_clock():
    async def scenario():
        adapter = make(seed=4)
        await adapter.connect()
        events = []
        async for event in adapter.events():
            events.append(event)
            assert adapter.clock.now_ns() == event.ts_local_ns
            if len(events) == 3000:
                break
        await adapter.close()
        return events

    events = asyncio.run(scenario())
    assert isinstance(events[0], Connection) and events[0].up
    stamps = [e.ts_local_ns for e in events]
    assert stamps == sorted(stamps)
    assert stamps[0] == EPOCH_NS and stamps[-1] > EPOCH_NS + 60 * 1_000_000_000


def test_place_is_acknowledged_after_the_order_latency_and_rests():
    async def scenario():
        adapter = make(seed=1, order_latency_ms=50.0, market_data_latency_ms=5.0)
        stream = adapter.events()
        book = await first_book(stream)
        sent_at = adapter.clock.now_ns()
        price = book.book.best_bid - 5 * TICK
        await adapter.submit([Place("c1", "ETH", Side.BUY, price, Decimal("0.5"))])
        ack, _ = await until(stream, mine("c1"))
        return adapter, sent_at, ack, price

    adapter, sent_at, ack, price = asyncio.run(scenario())
    assert ack.status is OrderStatus.RESTING and ack.reason == ""
    assert ack.ts_exchange_ns == sent_at + 50 * MS and ack.ts_local_ns == ack.ts_exchange_ns + 5 * MS
    assert ack.oid is not None and ack.price == price and ack.size == Decimal("0.5")
    [order] = asyncio.run(adapter.open_orders())
    assert (order.cloid, order.price, order.status) == ("c1", price, OrderStatus.RESTING)


def test_resting_quotes_get_maker_fills_that_match_the_ledger():
    async def scenario():
        adapter = make(seed=2)
        stream = adapter.events()
        book = (await first_book(stream)).book
        await adapter.submit([
            Place("bid", "ETH", Side.BUY, book.best_bid, Decimal("0.5")),
            Place("ask", "ETH", Side.SELL, book.best_ask, Decimal("0.5")),
        ])
        fill, seen = await until(stream, lambda e: isinstance(e, Fill))
        return adapter, fill, seen

    adapter, fill, seen = asyncio.run(scenario())
    assert fill.liquidity is Liquidity.MAKER and fill.cloid in ("bid", "ask")
    assert fill.fee == usdc(fill.price * fill.size * Decimal("0.00015"))
    [record] = [r for r in adapter.ledger if r.tid == fill.trade_id]
    assert (record.price, record.size, record.side, record.cloid) == (fill.price, fill.size, fill.side, fill.cloid)
    position = asyncio.run(adapter.position())
    assert position.size == fill.size * fill.side.sign
    assert adapter.account_state().fees == fill.fee


def test_funding_is_paid_on_the_position_every_interval():
    async def scenario():
        adapter = make(seed=3, funding_interval_secs=5.0, funding_mean_rate=0.0001)
        stream = adapter.events()
        book = (await first_book(stream)).book
        await adapter.submit([Place("buy", "ETH", Side.BUY, book.best_ask + 20 * TICK, Decimal("1"), Tif.IOC)])
        seen = []
        for _ in range(2):
            funding, _ = await until(stream, lambda e: isinstance(e, Funding))
            seen.append((funding, adapter.sim.engine.mark()))  # the mark the payment was computed at
        return adapter, seen

    adapter, seen = asyncio.run(scenario())
    assert [f.ts_exchange_ns for f, _ in seen] == [EPOCH_NS + 5_000_000_000, EPOCH_NS + 10_000_000_000]
    assert asyncio.run(adapter.position()).size == Decimal("1")
    for funding, mark in seen:
        assert funding.rate > 0
        assert funding.payment == usdc(-Decimal(1) * mark * funding.rate)  # a long pays a positive rate
    assert adapter.account_state().funding == seen[0][0].payment + seen[1][0].payment


def test_cancel_all_leaves_no_open_orders():
    async def scenario():
        adapter = make(seed=5)
        stream = adapter.events()
        book = (await first_book(stream)).book
        await adapter.submit([
            Place(f"c{i}", "ETH", Side.BUY, book.best_bid - (10 + i) * TICK, Decimal("0.1")) for i in range(3)
        ])
        await until(stream, mine("c2", OrderStatus.RESTING))
        remaining = await adapter.cancel_all()
        cancelled = [e async for e in _take(stream, 3)]
        return adapter, remaining, cancelled

    adapter, remaining, cancelled = asyncio.run(scenario())
    assert remaining == 0
    assert asyncio.run(adapter.open_orders()) == []
    assert [(e.cloid, e.status) for e in cancelled] == [(f"c{i}", OrderStatus.CANCELLED) for i in range(3)]


async def _take(stream, n):
    for _ in range(n):
        yield await anext(stream)


def test_cancel_failures_fail_the_first_cancels_with_an_exchange_error():
    async def scenario():
        adapter = make(seed=5, cancel_failures=2)
        stream = adapter.events()
        book = (await first_book(stream)).book
        await adapter.submit([
            Place(f"c{i}", "ETH", Side.SELL, book.best_ask + (10 + i) * TICK, Decimal("0.1")) for i in range(2)
        ])
        await until(stream, mine("c1", OrderStatus.RESTING))
        await adapter.submit([Cancel("c0", "ETH")])
        failed, _ = await until(stream, mine("c0"))
        first = await adapter.cancel_all()
        second = await adapter.cancel_all()
        return failed, first, second

    failed, first, second = asyncio.run(scenario())
    assert failed.status is OrderStatus.RESTING and failed.reason.startswith("cancel: ")
    assert (first, second) == (1, 0)


def test_failed_modify_cancel_and_place_follow_the_conventions():
    async def scenario():
        adapter = make(seed=6)
        stream = adapter.events()
        book = (await first_book(stream)).book
        await adapter.submit([
            Modify("ghost", "ETH", Side.BUY, book.best_bid, Decimal("0.1")),
            Cancel("ghost2", "ETH"),
            Place("cross", "ETH", Side.BUY, book.best_ask + 20 * TICK, Decimal("0.1")),
            Place("ok", "ETH", Side.BUY, book.best_bid - 10 * TICK, Decimal("0.1")),
        ])
        answers = [e async for e in _take(stream, 20) if isinstance(e, OrderUpdate)]
        await adapter.submit([Modify("ok", "ETH", Side.BUY, book.best_bid - 12 * TICK, Decimal("0.2"),
                                     new_cloid="ok2")])
        ack, _ = await until(stream, mine("ok2"))
        return answers, ack, book.best_bid - 12 * TICK

    answers, ack, new_price = asyncio.run(scenario())
    by_cloid = {a.cloid: a for a in answers}
    assert by_cloid["ghost"].status is OrderStatus.REJECTED
    assert by_cloid["ghost"].reason == "modify: Cannot modify canceled or filled order"
    assert by_cloid["ghost2"].status is OrderStatus.RESTING
    assert by_cloid["ghost2"].reason == "cancel: Order was never placed, already canceled, or filled."
    assert by_cloid["cross"].status is OrderStatus.REJECTED
    assert by_cloid["cross"].reason.startswith("Post only order would have immediately matched, bbo was ")
    assert by_cloid["cross"].crossed and not by_cloid["ghost"].crossed
    assert by_cloid["ok"].status is OrderStatus.RESTING
    assert (ack.status, ack.price, ack.size, ack.reason) == (OrderStatus.RESTING, new_price, Decimal("0.2"), "")


def _scripted(adapter: SimAdapter, step: int = 40) -> list:
    """Run 3 simulated seconds, placing an order every ``step`` events; the same script at any speed."""

    async def scenario():
        events = []
        next_at = step
        async for event in adapter.events():
            events.append(event)
            if len(events) >= next_at and isinstance(event, BookUpdate):
                n = len(events)
                next_at = n + step
                await adapter.submit([Place(f"o{n}", "ETH", Side.BUY, event.book.best_bid, Decimal("0.2"))])
            if event.ts_local_ns > EPOCH_NS + 3_000_000_000:
                break
        return events

    return asyncio.run(scenario())


def test_the_same_seed_and_actions_give_the_same_events_at_any_speed():
    fast = _scripted(make(seed=9))
    paced = _scripted(make(seed=9, speed=300.0))
    assert fast == paced
    assert any(isinstance(e, OrderUpdate) for e in fast)
    # And the synchronous stepping API gives the very same stream.
    adapter = make(seed=9)
    sync = []
    next_at = 40
    while True:
        event = adapter.next_event()
        sync.append(event)
        if len(sync) >= next_at and isinstance(event, BookUpdate):
            next_at = len(sync) + 40
            adapter.submit_now([Place(f"o{len(sync)}", "ETH", Side.BUY, event.book.best_bid, Decimal("0.2"))])
        if event.ts_local_ns > EPOCH_NS + 3_000_000_000:
            break
    assert sync == fast


def test_finite_speed_paces_against_wall_time():
    async def scenario():
        adapter = make(seed=1, speed=10.0)
        async for event in adapter.events():
            if event.ts_local_ns >= EPOCH_NS + 500_000_000:
                break

    start = time.monotonic()
    asyncio.run(scenario())
    assert time.monotonic() - start >= 0.045  # 0.5 simulated seconds at 10x


def test_stream_ends_after_the_configured_duration_and_close_stops_it():
    async def scenario():
        adapter = make(seed=1, duration_secs=2.0)
        events = [e async for e in adapter.events()]
        other = make(seed=1)
        count = 0
        async for _ in other.events():
            count += 1
            if count == 10:
                await other.close()
        return adapter, events, count

    adapter, events, count = asyncio.run(scenario())
    assert events[-1].ts_local_ns <= EPOCH_NS + 2_000_000_000
    assert adapter.next_event() is None
    assert count == 10
