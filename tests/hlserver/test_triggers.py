"""Trigger (stop-loss / take-profit) orders on the local exchange, driven by the official SDK and raw wires."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import eth_account
import pytest
from hyperliquid.exchange import Exchange
from hyperliquid.info import Info
from hyperliquid.utils.types import Cloid

from mmtool.plugins.exchanges.hlserver.handlers import TPSL_GROUPING_UNSUPPORTED, TRIGGER_MODIFY_UNSUPPORTED
from mmtool.plugins.exchanges.hyperliquid.wire import Trigger, modify_action, order_action, order_wire

from .helpers import FakeClock, ServerThread, Trader, WsClient, mid, statuses


def _px(value: float) -> float:
    """A valid ETH price (5 significant figures) as the SDK takes it."""
    return round(float(f"{value:.5g}"), 2)


class Market:
    """A local exchange on a hand-moved clock, with the official SDK for one fresh, funded wallet."""

    def __init__(self, make_server: Any) -> None:
        self.clock = FakeClock()
        self.server: ServerThread = make_server(clock=self.clock)
        self.wallet = eth_account.Account.create()
        self.address = self.wallet.address
        self.info = Info(self.server.url, skip_ws=True)
        self.info.user_state(self.address)
        self.exchange = Exchange(self.wallet, self.server.url)

    def mid(self) -> float:
        return float(mid(self.server))

    def move_to(self, price: float, seconds: float = 2.0) -> None:
        """Shock the ETH market to ``price`` and let the book refresh around it."""
        market = self.server.ex.state.by_name["ETH"].market
        self.server.call(lambda: market.move_price(price))
        self.clock.advance(seconds)
        self.server.tick()

    def position(self) -> float:
        positions = self.info.user_state(self.address)["assetPositions"]
        return float(positions[0]["position"]["szi"]) if positions else 0.0

    def stop(self, is_buy: bool, size: float, trigger_px: float, *, tpsl: str = "sl", is_market: bool = True,
             limit_px: float | None = None, reduce_only: bool = False, cloid: Cloid | None = None) -> Any:
        order_type = {"trigger": {"triggerPx": trigger_px, "isMarket": is_market, "tpsl": tpsl}}
        price = limit_px if limit_px is not None else trigger_px
        return self.exchange.order("ETH", is_buy, size, price, order_type, reduce_only=reduce_only, cloid=cloid)

    def status(self, oid: int) -> dict[str, Any]:
        return self.info.query_order_by_oid(self.address, oid)["order"]


@pytest.fixture
def market(make_server) -> Market:
    return Market(make_server)


def test_sdk_stop_market_rests_is_listed_and_fires_when_the_market_falls_through_it(market: Market) -> None:
    opened = market.exchange.market_open("ETH", True, 0.1)
    assert opened["response"]["data"]["statuses"][0]["filled"]["totalSz"] == "0.1"
    start = market.mid()
    trigger = _px(start * 0.98)
    cloid = Cloid.from_int(41)
    placed = market.stop(False, 0.1, trigger, reduce_only=True, cloid=cloid)
    resting = placed["response"]["data"]["statuses"][0]["resting"]
    oid = resting["oid"]
    assert resting["cloid"] == cloid.to_raw()

    (listed,) = market.info.open_orders(market.address)
    assert (listed["oid"], listed["side"], listed["sz"], float(listed["limitPx"])) == (oid, "A", "0.1", trigger)
    (front,) = market.info.frontend_open_orders(market.address)
    assert front["isTrigger"] is True and front["orderType"] == "Stop Market" and front["reduceOnly"] is True
    assert float(front["triggerPx"]) == trigger and front["triggerCondition"] == f"Price below {front['triggerPx']}"
    assert front["tif"] is None and front["isPositionTpsl"] is False and front["cloid"] == cloid.to_raw()
    assert market.status(oid)["status"] == "open"
    assert market.info.query_order_by_cloid(market.address, cloid)["order"]["order"]["isTrigger"] is True

    market.move_to(start * 0.995)
    assert market.status(oid)["status"] == "open", "not reached yet: nothing happens"
    assert market.position() == 0.1

    market.move_to(start * 0.96)
    assert market.status(oid)["status"] == "filled"
    assert market.info.open_orders(market.address) == []
    assert market.position() == 0.0
    last = market.info.user_fills(market.address)[0]
    assert (last["oid"], last["side"], last["dir"], last["crossed"]) == (oid, "A", "Close Long", True)
    assert float(last["px"]) >= trigger * 0.95, "a market trigger fills within the slippage allowance"


def test_take_profit_limit_buy_fires_when_the_price_falls_and_rests_as_a_limit_order(market: Market) -> None:
    start = market.mid()
    trigger, limit = _px(start * 0.98), _px(start * 0.90)
    placed = market.stop(True, 0.01, trigger, tpsl="tp", is_market=False, limit_px=limit)
    oid = placed["response"]["data"]["statuses"][0]["resting"]["oid"]
    (front,) = market.info.frontend_open_orders(market.address)
    assert front["orderType"] == "Take Profit Limit" and front["triggerCondition"].startswith("Price below")

    market.move_to(start * 1.02)
    assert market.status(oid)["status"] == "open", "a buy take profit does not fire on a rise"
    market.move_to(start * 0.97)
    (front,) = market.info.frontend_open_orders(market.address)
    assert front["oid"] == oid and front["isTrigger"] is False and front["triggerCondition"] == "Triggered"
    assert front["tif"] == "Gtc" and float(front["limitPx"]) == limit and front["orderType"] == "Take Profit Limit"
    assert market.status(oid)["status"] == "open"
    account = market.server.ex.state.accounts[market.address.lower()]
    engine_orders = market.server.call(lambda: account.engines[0].open_orders())
    assert [(o.side.value, float(o.price)) for o in engine_orders] == [("B", limit)], "it rests on the book now"
    assert market.position() == 0.0


def test_a_reduce_only_stop_never_flips_the_position(market: Market) -> None:
    market.exchange.market_open("ETH", True, 0.05)
    start = market.mid()
    trigger = _px(start * 0.98)
    # Bigger than the position: reduce-only clips it to what there is to close.
    oversized = market.stop(False, 0.2, trigger, reduce_only=True)
    big_oid = oversized["response"]["data"]["statuses"][0]["resting"]["oid"]
    market.move_to(start * 0.96)
    assert market.status(big_oid)["status"] == "filled"
    assert market.position() == 0.0

    # A stop whose position is closed before it fires is cancelled, not turned into a new short.
    market.exchange.market_open("ETH", True, 0.05)
    now = market.mid()
    late = market.stop(False, 0.05, _px(now * 0.98), reduce_only=True)
    late_oid = late["response"]["data"]["statuses"][0]["resting"]["oid"]
    market.exchange.market_close("ETH")
    market.move_to(now * 0.96)
    assert market.status(late_oid)["status"] == "reduceOnlyCanceled"
    assert market.position() == 0.0

    flat = market.stop(False, 0.05, _px(market.mid() * 0.98), reduce_only=True)
    assert flat["response"]["data"]["statuses"][0] == {"error": "Reduce only order would increase position. asset=0"}


def test_a_trigger_whose_condition_holds_fires_at_once_and_can_open_a_position(market: Market) -> None:
    start = market.mid()
    # A sell stop above the price has already been passed: it fires at once, as a market order.
    placed = market.stop(False, 0.01, _px(start * 1.02))
    oid = placed["response"]["data"]["statuses"][0]["resting"]["oid"]
    assert market.status(oid)["status"] == "filled"
    assert market.position() == -0.01


def test_cancel_trigger_orders_by_oid_and_by_cloid(market: Market) -> None:
    start = market.mid()
    first = market.stop(True, 0.01, _px(start * 1.05))
    by_oid = first["response"]["data"]["statuses"][0]["resting"]["oid"]
    cloid = Cloid.from_int(9)
    second = market.stop(False, 0.01, _px(start * 0.95), cloid=cloid)
    by_cloid = second["response"]["data"]["statuses"][0]["resting"]["oid"]
    assert len(market.info.open_orders(market.address)) == 2

    assert market.exchange.cancel("ETH", by_oid)["response"]["data"]["statuses"] == ["success"]
    assert market.exchange.cancel_by_cloid("ETH", cloid)["response"]["data"]["statuses"] == ["success"]
    assert market.info.open_orders(market.address) == []
    assert market.status(by_oid)["status"] == "canceled" and market.status(by_cloid)["status"] == "canceled"
    again = market.exchange.cancel("ETH", by_oid)["response"]["data"]["statuses"][0]
    assert again["error"].startswith("Order was never placed, already canceled, or filled.")
    market.move_to(start * 1.08)
    market.move_to(start * 0.92)
    assert market.position() == 0.0, "a cancelled trigger never fires"


def _raw_trigger(asset: int, is_buy: bool, price: str, size: str, trigger_px: Any, tpsl: Any = "sl",
                 reduce_only: bool = False) -> dict[str, Any]:
    return {"a": asset, "b": is_buy, "p": price, "s": size, "r": reduce_only,
            "t": {"trigger": {"isMarket": True, "triggerPx": trigger_px, "tpsl": tpsl}}}


def test_bad_trigger_orders_are_refused_with_the_exchanges_texts(server: ServerThread, trader: Trader) -> None:
    px = str(int(mid(server)) - 100)
    cases = {
        "0": "Order has invalid trigger price. asset=0",
        "-3400": "Order has invalid trigger price. asset=0",
        "abc": "Order has invalid trigger price. asset=0",
        "3400.123": "Price must be divisible by tick size. asset=0",
        "3400.25": "Price must be divisible by tick size. asset=0",
    }
    for trigger_px, text in cases.items():
        answer = trader.send(order_action([_raw_trigger(0, False, px, "0.01", trigger_px)]))
        assert statuses(answer) == [{"error": text}], trigger_px
    odd_lot = trader.send(order_action([_raw_trigger(0, False, px, "0.00001", px)]))
    assert statuses(odd_lot) == [{"error": "Order has invalid size. asset=0"}]
    tiny = trader.send(order_action([_raw_trigger(0, False, px, "0.001", px)]))
    assert statuses(tiny) == [{"error": "Order must have minimum value of $10. asset=0"}]
    grouped = trader.send(order_action([_raw_trigger(0, False, px, "0.01", px)], grouping="positionTpsl"))
    assert statuses(grouped) == [{"error": TPSL_GROUPING_UNSUPPORTED}]
    bad_kind = server.post("/exchange", trader.body(order_action([_raw_trigger(0, False, px, "0.01", px, "xx")])))
    assert bad_kind.status_code == 422 and "tpsl" in bad_kind.text
    assert server.info({"type": "openOrders", "user": trader.address}) == []


def test_trigger_orders_cannot_be_modified(server: ServerThread, trader: Trader) -> None:
    px = Decimal(int(mid(server)) - 100)
    stop = Trigger(px, True, "sl")
    placed = trader.send(order_action([order_wire(0, False, px, Decimal("0.01"), False, stop)]))
    oid = statuses(placed)[0]["resting"]["oid"]
    as_limit = trader.send(modify_action(oid, order_wire(0, False, px, Decimal("0.02"), False, "Gtc")))
    assert as_limit == {"status": "err", "response": "Trigger orders cannot be modified on the local exchange; "
                        "cancel and place again."}
    into_trigger = trader.send(modify_action(oid, order_wire(0, False, px, Decimal("0.02"), False, stop)))
    assert into_trigger == {"status": "err", "response": TRIGGER_MODIFY_UNSUPPORTED}


def test_trigger_updates_and_fills_are_published_on_the_websocket(market: Market) -> None:
    ws = WsClient(market.server)
    try:
        ws.subscribe({"type": "orderUpdates", "user": market.address})
        ws.subscribe({"type": "userFills", "user": market.address})
        ws.next("userFills")  # the snapshot
        start = market.mid()
        placed = market.stop(True, 0.01, _px(start * 1.02))
        oid = placed["response"]["data"]["statuses"][0]["resting"]["oid"]

        def status_of(expected: str):
            return lambda m: any(u["order"]["oid"] == oid and u["status"] == expected for u in m["data"])

        opened = ws.next("orderUpdates", where=status_of("open"))
        (item,) = [u for u in opened["data"] if u["order"]["oid"] == oid]
        assert item["order"]["side"] == "B" and item["order"]["sz"] == "0.01"
        market.move_to(start * 1.04)
        ws.next("orderUpdates", where=status_of("triggered"))
        ws.next("orderUpdates", where=status_of("filled"))
        fills = ws.next("userFills", where=lambda m: any(f["oid"] == oid for f in m["data"]["fills"]))
        assert {f["dir"] for f in fills["data"]["fills"]} == {"Open Long"}
    finally:
        ws.close()
    assert market.position() == 0.01
