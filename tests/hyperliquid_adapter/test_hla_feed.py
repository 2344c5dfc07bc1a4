"""The adapter offline, message by message: one bad item never costs the others, a fill the session missed is
recovered from a userFills snapshot whatever its time, unexpected channels are counted, and each item of an
outgoing batch carries its own asset id."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
import websockets
from hla_helpers import cloid, offline_adapter

from mmtool.core.types import Cancel, Fill, Modify, OrderStatus, OrderUpdate, Place, Side, Tif
from mmtool.plugins.exchanges.hyperliquid import errors as hl_errors
from mmtool.plugins.exchanges.hyperliquid.adapter import HyperliquidAdapter
from mmtool.plugins.exchanges.hyperliquid.emitter import HOLD_FILL_NS
from mmtool.plugins.exchanges.hyperliquid.ws import ConnectionLost, WsConnection

T = 1_700_000_000_000
NS = 1_000_000


@pytest.fixture
def adapter() -> Iterator[HyperliquidAdapter]:
    with offline_adapter() as a:
        yield a


def drain(a: HyperliquidAdapter) -> list[Any]:
    out = []
    while not a._queue.empty():
        out.append(a._queue.get_nowait())
    return out


def fill(tid: int, time_ms: int = T, oid: int = 7, **fields: Any) -> dict[str, Any]:
    return {"coin": "ETH", "px": "3500", "sz": "0.1", "side": "B", "time": time_ms, "startPosition": "0",
            "dir": "Open Long", "closedPnl": "0", "hash": "0x00", "oid": oid, "crossed": False, "fee": "0.05",
            "tid": tid, "feeToken": "USDC", **fields}


def rest(a: HyperliquidAdapter, n: int, oid: int) -> str:
    """Place order ``n`` and have it rest with exchange id ``oid``; its cloid."""
    place = Place(cloid(n), "ETH", Side.BUY, Decimal("3500"), Decimal("1"), Tif.ALO)
    a.orders.placed(place, 0)
    a._emitter.emit(OrderUpdate("ETH", place.cloid, OrderStatus.RESTING, 1, 1, oid=oid))
    drain(a)
    return place.cloid


def test_one_bad_order_update_does_not_cost_the_others(adapter: HyperliquidAdapter) -> None:
    first, second = rest(adapter, 1, 11), rest(adapter, 2, 12)
    order = {"coin": "ETH", "side": "B", "limitPx": "3500", "sz": "1", "origSz": "1", "timestamp": T}
    adapter._on_message("orderUpdates", [
        {"order": {**order, "oid": 11, "cloid": first}, "status": "someStatusFromTheFuture", "statusTimestamp": T},
        {"order": {**order, "oid": 12, "cloid": second}, "status": "marginCanceled", "statusTimestamp": T},
    ], 5)
    events = drain(adapter)
    assert [(e.cloid, e.status) for e in events] == [(second, OrderStatus.CANCELLED)]
    assert adapter.malformed == 1


@pytest.mark.parametrize("channel", ["userFills", "user"])
@pytest.mark.parametrize("bad", [None, "x", {"tid": 1}, fill(1, fee=None), fill(1, px="1e999999")])
def test_one_bad_fill_does_not_cost_the_others(adapter: HyperliquidAdapter, channel: str, bad: Any) -> None:
    adapter.ledger.seed("0", T - 1)
    message = {"user": adapter.user, "fills": [bad, fill(2)]}
    adapter._on_message(channel, message, 5)
    assert [e.trade_id for e in drain(adapter) if isinstance(e, Fill)] == ["2"]
    assert adapter.malformed == 1


def test_a_fill_that_is_not_an_object_is_malformed_not_a_crash(adapter: HyperliquidAdapter) -> None:
    with pytest.raises(hl_errors.MalformedResponse):
        adapter._feed.fill_from(None, 5)


def test_a_snapshot_after_a_reconnect_recovers_a_missed_fill_older_than_the_last_one_seen(
    adapter: HyperliquidAdapter,
) -> None:
    adapter.ledger.seed("100", T - 60_000)  # the account's history at the start of the session
    adapter._on_message("userFills", {"user": adapter.user, "fills": [fill(102, T + 20)]}, 5)
    assert [e.trade_id for e in drain(adapter)] == ["102"]
    # The socket dropped; the exchange had also filled tid 101 (earlier, or in the same millisecond): the
    # resubscription's snapshot lists all three, newest first.
    for missed_ms in (T + 10, T + 20):
        adapter._on_message("userFills", {"user": adapter.user, "isSnapshot": True,
                                          "fills": [fill(102, T + 20), fill(101, missed_ms), fill(100, T - 60_000)]},
                            5)
    recovered = drain(adapter)
    assert [e.trade_id for e in recovered] == ["101"], "passed on once, and the history stays history"
    assert adapter.recovered_fills == 1
    assert adapter.ledger.position == Decimal("0.2")


def test_a_snapshot_leaves_fills_older_than_a_full_history_alone(adapter: HyperliquidAdapter) -> None:
    adapter.ledger.seed("500", T)
    adapter.ledger.history_floor_ms = T  # the start-up history was a full page: older fills were cut off
    adapter._on_message("userFills", {"user": adapter.user, "isSnapshot": True,
                                      "fills": [fill(501, T + 5), fill(500, T), fill(499, T - 1)]}, 5)
    assert [e.trade_id for e in drain(adapter)] == ["501"]
    assert adapter.ledger.seen("499"), "seeded, not passed on"


def test_an_unexpected_channel_is_counted_every_time_and_logged_once(
    adapter: HyperliquidAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="mmtool.hyperliquid")
    for _ in range(3):
        adapter._on_message("bbo", {"coin": "ETH"}, 5)
    assert adapter.malformed == 3
    assert [r.getMessage() for r in caplog.records] == ["Malformed exchange message skipped"]
    assert drain(adapter) == []


class _ClosingSocket:
    """A socket whose send fails because it closed, the reader having noticed the close first."""

    close_code, close_reason = 1006, "gone"

    def __init__(self) -> None:
        self.connection: WsConnection | None = None

    async def send(self, message: Any, text: bool = False) -> None:
        assert self.connection is not None
        self.connection._finish("closed by the exchange")
        raise websockets.ConnectionClosed(None, None)

    def __aiter__(self) -> _ClosingSocket:
        return self

    async def __anext__(self) -> str:
        await asyncio.Event().wait()
        raise StopAsyncIteration

    async def close(self) -> None:
        return None


def test_a_post_lost_to_a_closing_socket_leaves_no_unretrieved_future() -> None:
    async def scenario(problems: list[dict[str, Any]]) -> None:
        asyncio.get_running_loop().set_exception_handler(lambda loop, context: problems.append(context))
        socket = _ClosingSocket()
        conn = WsConnection(socket, lambda *a: None, lambda: 0)  # type: ignore[arg-type]
        socket.connection = conn
        with pytest.raises(ConnectionLost):
            await conn.send_post("action", {})
        await conn.close()
        gc.collect()

    problems: list[dict[str, Any]] = []
    asyncio.run(scenario(problems))
    gc.collect()
    assert [p.get("message") for p in problems] == []


def test_a_batch_that_mixes_assets_gives_each_item_its_own_asset_id(adapter: HyperliquidAdapter) -> None:
    eth, btc = (Place(cloid(n), coin, Side.BUY, Decimal("100"), Decimal("1"), Tif.ALO) for n, coin in
                ((1, "ETH"), (2, "BTC")))
    orders = adapter._outbound.batch_action("order", [eth, btc])["orders"]
    assert [o["a"] for o in orders] == [1, 0]
    modifies = adapter._outbound.batch_action("modify", [Modify(eth.cloid, "ETH", Side.BUY, Decimal("99"), Decimal(1)),
                                                         Modify(btc.cloid, "BTC", Side.BUY, Decimal("99"), Decimal(1))])
    assert [m["order"]["a"] for m in modifies["modifies"]] == [1, 0]
    cancels = adapter._outbound.batch_action("cancel", [Cancel(btc.cloid, "BTC"), Cancel(eth.cloid, "ETH")])
    assert [c["asset"] for c in cancels["cancels"]] == [0, 1]


def test_a_fill_that_comes_before_its_orders_acknowledgement_waits_for_it(adapter: HyperliquidAdapter) -> None:
    place = Place(cloid(5), "ETH", Side.BUY, Decimal("3500"), Decimal("2"), Tif.GTC)
    adapter.orders.placed(place, 0)  # sent; the answer (which names its oid, 11) is late
    adapter._on_message("userFills", {"user": adapter.user, "fills": [fill(1, oid=11, sz="0.5")]}, 5)
    assert drain(adapter) == [], "held: nothing yet tells whose fill it is"
    assert adapter.ledger.position == Decimal("0.5"), "the adapter's own tally counts it at once"
    adapter._emitter.emit(OrderUpdate("ETH", place.cloid, OrderStatus.RESTING, 6, 6, oid=11))
    events = drain(adapter)
    assert [type(e).__name__ for e in events] == ["OrderUpdate", "Fill"]
    assert events[1].cloid == place.cloid and events[1].trade_id == "1"
    assert adapter.orders.get(place.cloid).filled == Decimal("0.5")
    adapter._on_message("userFills", {"user": adapter.user, "fills": [fill(2, oid=11, sz="1.5")]}, 7)
    assert [(e.cloid, e.size) for e in drain(adapter)] == [(place.cloid, Decimal("1.5"))]
    assert adapter.orders.get(place.cloid) is None, "filled in full: finished"


def test_a_held_fill_nobody_claims_goes_on_as_it_is_after_the_hold(adapter: HyperliquidAdapter) -> None:
    adapter.orders.placed(Place(cloid(6), "ETH", Side.BUY, Decimal("3500"), Decimal("1"), Tif.ALO), 0)
    adapter._on_message("userFills", {"user": adapter.user, "fills": [fill(3, oid=99)]}, 5)  # not one of ours
    adapter._emitter.release_held(5 + HOLD_FILL_NS - 1)
    assert drain(adapter) == []
    adapter._emitter.release_held(5 + HOLD_FILL_NS)
    assert [(e.trade_id, e.cloid) for e in drain(adapter)] == [("3", None)]


def test_a_fill_of_an_unknown_order_passes_at_once_when_no_order_awaits_its_id(adapter: HyperliquidAdapter) -> None:
    rest(adapter, 7, 21)  # acknowledged: nothing awaits an oid
    adapter._on_message("userFills", {"user": adapter.user, "fills": [fill(4, oid=98)]}, 5)
    assert [(e.trade_id, e.cloid) for e in drain(adapter)] == [("4", None)]


def test_a_cancellation_held_during_a_modify_comes_out_when_the_modify_with_a_new_cloid_is_refused(
    adapter: HyperliquidAdapter,
) -> None:
    old = rest(adapter, 8, 31)
    modify = Modify(old, "ETH", Side.BUY, Decimal("3499"), Decimal("1"), new_cloid=cloid(9))
    adapter.orders.modify_sent(modify, 2)
    # The exchange cancels the order (margin) while the modify is in flight: held back, the modify may explain it.
    adapter._emitter.route(OrderUpdate("ETH", old, OrderStatus.CANCELLED, 3, 3, oid=31, reason="marginCanceled"))
    assert drain(adapter) == []
    adapter._outbound.refuse(modify, "rate limited", 4)  # the modify is refused as a whole
    events = drain(adapter)
    assert [(e.cloid, e.status) for e in events] == [(old, OrderStatus.REJECTED), (old, OrderStatus.CANCELLED)]
    assert adapter.orders.get(old) is None


def test_places_and_modifies_go_out_only_up_to_the_budget_above_the_reserve(adapter: HyperliquidAdapter) -> None:
    sent: list[tuple[str, int]] = []

    async def send_batch(kind, items, retried=False, *, stamps=None):
        sent.append((kind, len(items)))

    adapter._outbound.send_batch = send_batch
    adapter.limits.address.cap, adapter.limits.address.used = 100, 100 - adapter.config.cancel_reserve - 3
    places = [Place(cloid(n), "ETH", Side.BUY, Decimal("3000") - n, Decimal("0.1"), Tif.ALO) for n in range(20)]
    asyncio.get_event_loop().run_until_complete(adapter.submit([*places, Cancel(cloid(99), "ETH")]))
    assert sent == [("cancel", 1), ("order", 3)], "a batch of n counts n: only 3 fit above the reserve"
    refused = [e for e in drain(adapter) if e.status is OrderStatus.REJECTED]
    assert len(refused) == 17 and refused[0].reason.startswith("rate budget exhausted")


def test_places_wait_while_the_ip_weight_of_the_minute_is_spent(adapter: HyperliquidAdapter) -> None:
    sent: list[tuple[str, int]] = []

    async def send_batch(kind, items, retried=False, *, stamps=None):
        sent.append((kind, len(items)))

    adapter._outbound.send_batch = send_batch
    adapter.limits.ip.spend(adapter.limits.ip.per_minute)  # the minute's weight is spent
    place = Place(cloid(1), "ETH", Side.BUY, Decimal("3000"), Decimal("0.1"), Tif.ALO)
    asyncio.get_event_loop().run_until_complete(adapter.submit([place, Cancel(cloid(2), "ETH")]))
    assert sent == [("cancel", 1)], "cancels are never held back"
    assert [e.status for e in drain(adapter)] == [OrderStatus.REJECTED]


def test_a_dead_man_clear_refused_by_the_rate_limit_is_tried_again_in_the_next_slot(
    adapter: HyperliquidAdapter, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mmtool.plugins.exchanges.hyperliquid import deadman

    monkeypatch.setattr(deadman, "CLEAR_RETRY_SECS", (0.0,))
    monkeypatch.setattr(deadman, "RATE_LIMITED_RETRY_SECS", 0.01)
    answers = [hl_errors.RateLimited("Too many cumulative requests sent")] * 2 + [None]

    async def signed(action, batch_len=1):
        answer = answers.pop(0)
        if answer is not None:
            raise answer
        return {"status": "ok"}

    adapter._outbound.signed = signed
    switch = adapter._dead_man_switch
    switch.armed = True
    asyncio.get_event_loop().run_until_complete(switch.disarm(open_orders=0))
    assert not switch.armed and answers == []
