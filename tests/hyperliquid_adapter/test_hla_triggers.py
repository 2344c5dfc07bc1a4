"""Trigger orders through the adapter: the wire against the SDK, and a stop's life on a real local exchange."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import eth_account
import msgpack
import pytest
from hla_helpers import (
    KEY,
    QUIET,
    Collector,
    account,
    adapter,
    cloid,
    evolve,
    exchange,
    open_cloids,
    run,
    server_position,
)
from hyperliquid.exchange import Exchange as SdkExchange
from hyperliquid.utils import signing as sdk
from hyperliquid.utils.types import Cloid
from hypothesis import given, settings
from hypothesis import strategies as st

from mmtool.core.rounding import AssetRules
from mmtool.core.types import Cancel, Fill, OrderStatus, Place, Side, Tif, TriggerKind, TriggerSpec
from mmtool.plugins.exchanges.hyperliquid import messages
from mmtool.plugins.exchanges.hyperliquid.adapter import HyperliquidAdapter
from mmtool.plugins.exchanges.hyperliquid.reconcile import ExchangeOrder
from mmtool.plugins.exchanges.hyperliquid.wire import OrderResult, OrderResultKind

ETH = "ETH"
RULES = AssetRules(ETH, 4, 25)
prices = st.builds(lambda m, e: Decimal(m).scaleb(-e), st.integers(1, 99_999), st.integers(0, 2))


def _offline_adapter() -> HyperliquidAdapter:
    a = HyperliquidAdapter(QUIET, asset=ETH, network="localhost", private_key=KEY, base_url="http://127.0.0.1:9")
    a.asset_ids = {"BTC": 0, ETH: 1}
    return a


@settings(max_examples=60, deadline=None)
@given(
    side=st.sampled_from(Side), price=prices, trigger_px=prices, lots=st.integers(1, 10**6),
    reduce_only=st.booleans(), is_market=st.booleans(), kind=st.sampled_from(TriggerKind),
    seed=st.integers(0, 2**64 - 1),
)
def test_a_trigger_place_goes_out_as_the_sdk_would_send_it_byte_for_byte(
    side, price, trigger_px, lots, reduce_only, is_market, kind, seed
) -> None:
    a = _offline_adapter()
    size = Decimal(lots).scaleb(-4)
    trigger = RULES.round_trigger(TriggerSpec(trigger_px, is_market, kind), side)
    place = Place(cloid(seed % 2**64), ETH, side, price, size, reduce_only=reduce_only, trigger=trigger)
    ours = a.batch_action("order", [place])
    request = {
        "coin": ETH, "is_buy": side is Side.BUY, "sz": float(size), "limit_px": float(price),
        "order_type": {"trigger": {"triggerPx": float(trigger.trigger_px), "isMarket": is_market,
                                   "tpsl": kind.value}},
        "reduce_only": reduce_only, "cloid": Cloid(place.cloid),
    }
    theirs = sdk.order_wires_to_order_action([sdk.order_request_to_order_wire(request, 1)], None, "na")
    assert ours == theirs
    assert msgpack.packb(ours) == msgpack.packb(theirs)


def test_waiting_and_triggered_statuses_are_acknowledgements() -> None:
    a = _offline_adapter()
    place = Place(cloid(5), ETH, Side.SELL, Decimal(3000), Decimal("0.1"), reduce_only=True,
                  trigger=TriggerSpec(Decimal(3000), True, TriggerKind.STOP_LOSS))
    a.batch_action("order", [place])
    a._place_result(place, OrderResult(OrderResultKind.WAITING))
    update = a._queue.get_nowait()
    assert (update.cloid, update.status, update.price, update.size) == (place.cloid, OrderStatus.RESTING,
                                                                        Decimal(3000), Decimal("0.1"))
    order = {"coin": ETH, "side": "A", "limitPx": "3000", "sz": "0.1", "oid": 8, "timestamp": 1, "cloid": place.cloid}
    for status in ("waitingForTrigger", "triggered", "open"):
        assert messages.order_update({"order": order, "status": status}, 1).status is OrderStatus.RESTING
    assert messages.order_update({"order": order, "status": "reduceOnlyCanceled"}, 1).status is OrderStatus.CANCELLED


def test_listed_trigger_orders_carry_their_trigger() -> None:
    base = {"coin": ETH, "oid": 3, "side": "A", "limitPx": "3000.5", "sz": "0.1", "cloid": None}
    stop = ExchangeOrder.from_wire({**base, "orderType": "Stop Market", "triggerPx": "3001", "isTrigger": True})
    assert stop.trigger == TriggerSpec(Decimal(3001), True, TriggerKind.STOP_LOSS)
    take = ExchangeOrder.from_wire({**base, "orderType": "Take Profit Limit", "triggerPx": "2999.5"})
    assert take.trigger == TriggerSpec(Decimal("2999.5"), False, TriggerKind.TAKE_PROFIT)
    assert ExchangeOrder.from_wire({**base, "orderType": "Limit", "triggerPx": "0.0"}).trigger is None
    assert ExchangeOrder.from_wire(base).trigger is None


def test_a_stop_placed_by_the_adapter_waits_survives_the_audit_and_fills_when_the_market_falls() -> None:
    async def body() -> None:
        async with exchange() as ex, adapter(ex) as a:
            got = Collector(a)
            mid = a.mid_price()
            assert mid is not None
            rules = a.rules(ETH)
            entry = Place(cloid(1), ETH, Side.BUY, rules.round_price(mid * Decimal("1.01"), Side.BUY, "aggressive"),
                          Decimal("0.02"), Tif.IOC)
            await a.submit([entry])
            await got.wait_for(lambda: server_position(ex, a.user) == Decimal("0.02") and got.of(Fill))
            trigger = rules.round_trigger(TriggerSpec(mid * Decimal("0.98"), True, TriggerKind.STOP_LOSS), Side.SELL)
            stop = Place(cloid(2), ETH, Side.SELL, trigger.trigger_px, Decimal("0.02"), reduce_only=True,
                         trigger=trigger)
            await a.submit([stop])
            await got.wait_for(lambda: any(u.oid is not None for u in got.updates(stop.cloid)))
            ack = got.updates(stop.cloid)[0]
            assert ack.status is OrderStatus.RESTING and ack.price == stop.price and ack.size == stop.size
            assert open_cloids(ex, a.user) == {stop.cloid}

            (listed,) = await a.open_orders()
            assert (listed.cloid, listed.trigger, listed.side) == (stop.cloid, trigger, Side.SELL)
            # The audit (orphans under the default "asset" scope, missing, mismatched) leaves our stop alone.
            await a._audit(grace_ns=0, why="test")
            assert a.discrepancies == 0 and open_cloids(ex, a.user) == {stop.cloid}

            market = ex.state.by_name[ETH].market
            market.move_price(float(mid) * 0.95)
            await got.wait_for(lambda: OrderStatus.FILLED in {u.status for u in got.updates(stop.cloid)}, 10.0)
            statuses = [u.status for u in got.updates(stop.cloid)]
            assert statuses[:2] == [OrderStatus.RESTING, OrderStatus.RESTING], "acknowledged, then triggered"
            assert statuses[-1] is OrderStatus.FILLED and OrderStatus.CANCELLED not in statuses
            fills = [f for f in got.of(Fill) if f.cloid == stop.cloid]
            assert sum(f.size for f in fills) == Decimal("0.02") and {f.side for f in fills} == {Side.SELL}
            assert all(f.price >= trigger.trigger_px * Decimal("0.95") for f in fills)
            assert server_position(ex, a.user) == 0 and a.ledger.position == 0
            await a._audit(grace_ns=0, why="test")
            assert a.discrepancies == 0 and a.orders.get(stop.cloid) is None
            assert account(ex, a.user).orders[ack.oid].status == "filled"
            await got.stop()

    run(body())


def test_the_adapter_cancels_its_stop_by_cloid() -> None:
    async def body() -> None:
        async with exchange() as ex, adapter(ex) as a:
            got = Collector(a)
            mid = a.mid_price()
            assert mid is not None
            trigger = a.rules(ETH).round_trigger(TriggerSpec(mid * Decimal("1.03"), False, TriggerKind.STOP_LOSS),
                                                 Side.BUY)
            stop = Place(cloid(3), ETH, Side.BUY, trigger.trigger_px, Decimal("0.01"), trigger=trigger)
            await a.submit([stop])
            await got.wait_for(lambda: bool(got.updates(stop.cloid)))
            await a.submit([Cancel(stop.cloid, ETH)])
            await got.wait_for(lambda: got.updates(stop.cloid)[-1].status is OrderStatus.CANCELLED)
            assert open_cloids(ex, a.user) == set()
            await got.stop()

    run(body())



def _owner_sdk(url: str) -> SdkExchange:
    """The account owner's own client: the official SDK, with the same key (blocking: run it in an executor).
    Reading the account's state opens it on the local exchange, as a deposit would."""
    owner = SdkExchange(eth_account.Account.from_key(KEY), url)
    owner.info.user_state(owner.wallet.address)
    return owner


def _status(answer: dict) -> dict:
    assert answer["status"] == "ok", answer
    return answer["response"]["data"]["statuses"][0]


def _px(value: float) -> float:
    """Five significant figures, at most one decimal: a valid ETH price on the local exchange."""
    return round(float(f"{value:.5g}"), 1)


def test_the_owners_own_stop_survives_the_audit_and_shutdown_while_an_unknown_limit_order_is_cancelled(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The owner keeps a stop-loss on ETH and left a limit order there, both placed with the official SDK (an
    independent client). Under the default ``orphan_scope = "asset"`` the adapter cancels the limit order at
    connect but never the stop, and ``cancel_all`` leaves it; with ``foreign_triggers = "cancel"`` it goes too."""
    address = eth_account.Account.from_key(KEY).address

    def open_oids(ex) -> set[int]:
        return {o.oid for o in account(ex, address).open_orders()}

    async def body() -> None:
        loop = asyncio.get_running_loop()
        async with exchange() as ex:
            owner = await loop.run_in_executor(None, _owner_sdk, ex.url)
            mid = float(ex.state.by_name[ETH].mark())

            def place(*args, **kwargs):
                return loop.run_in_executor(None, lambda: _status(owner.order(ETH, *args, **kwargs)))

            assert "filled" in await place(True, 0.05, _px(mid * 1.01), {"limit": {"tif": "Ioc"}})
            sl = {"trigger": {"triggerPx": _px(mid * 0.96), "isMarket": True, "tpsl": "sl"}}
            stop_oid = (await place(False, 0.05, _px(mid * 0.95), sl, reduce_only=True))["resting"]["oid"]
            limit_oid = (await place(True, 0.01, _px(mid * 0.9), {"limit": {"tif": "Gtc"}}))["resting"]["oid"]
            assert open_oids(ex) == {stop_oid, limit_oid}

            async with adapter(ex) as a:
                # At connect: the unknown limit order is an orphan and cancelled, the stop is the owner's.
                assert open_oids(ex) == {stop_oid}
                assert a.discrepancies == 1 and set(a._auditor.kept_triggers) == {stop_oid}
                assert await a.open_orders() == []
                await a._audit(grace_ns=0, why="test")
                assert a.discrepancies == 1 and open_oids(ex) == {stop_oid}
                assert await a.cancel_all() == 0
                assert open_oids(ex) == {stop_oid}
            reports = [r for r in caplog.records if r.getMessage().startswith("Foreign trigger order left in place")]
            assert len(reports) == 1, "reported once, when first seen"
            assert reports[0].fields["oid"] == stop_oid and reports[0].fields["kind"] == "sl"

            async with adapter(ex, config=evolve(QUIET, foreign_triggers="cancel")) as a:
                assert open_oids(ex) == set() and a.discrepancies == 1
                assert account(ex, a.user).orders[stop_oid].status == "canceled"
                assert server_position(ex, a.user) == Decimal("0.05"), "cancelled, never fired"

    run(body())
