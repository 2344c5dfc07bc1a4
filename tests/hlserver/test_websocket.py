"""The WebSocket at /ws: subscriptions and their first messages, user channels, ping, post, errors, idle close."""

from __future__ import annotations

import time
from decimal import Decimal

import pytest
from websockets.exceptions import ConnectionClosed

from .helpers import ServerThread, Trader, WsClient, mid, statuses


def test_market_channels(server: ServerThread) -> None:
    ws = WsClient(server)
    assert ws.subscribe({"type": "allMids"})["data"]["subscription"] == {"type": "allMids"}
    mids = ws.next("allMids")["data"]["mids"]
    assert set(mids) == {"ETH", "BTC"}
    ws.subscribe({"type": "l2Book", "coin": "ETH"})
    book = ws.next("l2Book")["data"]
    assert book["coin"] == "ETH" and len(book["levels"]) == 2 and {"px", "sz", "n"} == set(book["levels"][0][0])
    ws.subscribe({"type": "bbo", "coin": "BTC"})
    bbo = ws.next("bbo")["data"]
    assert bbo["coin"] == "BTC" and float(bbo["bbo"][0]["px"]) < float(bbo["bbo"][1]["px"])
    ws.subscribe({"type": "activeAssetCtx", "coin": "ETH"})
    assert "markPx" in ws.next("activeAssetCtx")["data"]["ctx"]
    ws.subscribe({"type": "trades", "coin": "ETH"})
    trades = ws.next("trades", timeout=10)["data"]
    assert trades[0]["coin"] == "ETH" and trades[0]["side"] in ("A", "B") and len(trades[0]["users"]) == 2
    ws.close()


def test_user_channels_snapshot_then_live(server: ServerThread, trader: Trader) -> None:
    high = str((mid(server) * Decimal("1.05")).quantize(Decimal(1)))
    assert "filled" in statuses(trader.order(0, True, high, "0.02", tif="Ioc"))[0]
    ws = WsClient(server)
    ws.subscribe({"type": "userFills", "user": trader.address})
    snapshot = ws.next("userFills")["data"]
    assert snapshot["isSnapshot"] is True and snapshot["user"] == trader.address.lower() and snapshot["fills"]
    ws.subscribe({"type": "orderUpdates", "user": trader.address})
    ws.subscribe({"type": "userEvents", "user": trader.address})
    resting = statuses(trader.order(0, True, "3000", "0.01", cloid="0x" + "ab" * 16))[0]["resting"]
    update = ws.next("orderUpdates")["data"][0]
    assert update["status"] == "open" and update["order"]["oid"] == resting["oid"]
    assert update["order"]["cloid"] == "0x" + "ab" * 16
    low = str((mid(server) * Decimal("0.95")).quantize(Decimal(1)))
    assert "filled" in statuses(trader.order(0, False, low, "0.02", tif="Ioc"))[0]
    live = ws.next("userFills")["data"]
    assert "isSnapshot" not in live and live["fills"][0]["dir"] == "Close Long"
    assert ws.next("user")["data"]["fills"][0]["tid"] == live["fills"][0]["tid"]
    ws.close()


def test_ping_post_and_errors(server: ServerThread, trader: Trader) -> None:
    ws = WsClient(server)
    ws.send({"method": "ping"})
    assert ws.next("pong") == {"channel": "pong"}
    ws.send({"method": "post", "id": 7, "request": {"type": "info", "payload": {"type": "allMids"}}})
    answer = ws.next("post")["data"]
    assert answer["id"] == 7 and answer["response"]["type"] == "info"
    assert answer["response"]["payload"]["type"] == "allMids" and "ETH" in answer["response"]["payload"]["data"]
    body = trader.body({"type": "scheduleCancel"})
    ws.send({"method": "post", "id": 8, "request": {"type": "action", "payload": body}})
    action = ws.next("post")["data"]
    assert action == {"id": 8, "response": {"type": "action", "payload": {"status": "ok",
                                                                          "response": {"type": "default"}}}}
    ws.send({"method": "post", "id": 9, "request": {"type": "info", "payload": {"type": "nope"}}})
    assert ws.next("post")["data"]["response"]["type"] == "error"
    ws.send({"method": "subscribe", "subscription": {"type": "candles", "coin": "ETH"}})
    assert "Invalid subscription" in ws.next("error")["data"]
    ws.send({"method": "subscribe", "subscription": {"type": "l2Book", "coin": "DOGE"}})
    assert "unknown coin" in ws.next("error")["data"]
    ws.ws.send("{not json")
    assert ws.next("error")["data"].startswith("Error parsing JSON into valid websocket request")
    ws.subscribe({"type": "allMids"})
    ws.send({"method": "subscribe", "subscription": {"type": "allMids"}})
    assert "Already subscribed" in ws.next("error")["data"]
    ws.send({"method": "unsubscribe", "subscription": {"type": "allMids"}})
    assert ws.next("subscriptionResponse")["data"]["method"] == "unsubscribe"
    ws.close()


def test_idle_connection_is_closed(make_server) -> None:
    server = make_server(ws_idle_timeout_secs=0.3)
    ws = WsClient(server)
    start = time.monotonic()
    with pytest.raises(ConnectionClosed):
        while time.monotonic() - start < 5:
            ws.recv(timeout=5)
    assert time.monotonic() - start < 3
    assert server.call(lambda: server.ex.journal.of_kind("ws_idle_close"))


def test_sdk_websocket_manager_receives_subscriptions(server: ServerThread) -> None:
    from hyperliquid.info import Info

    info = Info(server.url)
    got: list[dict] = []
    try:
        info.subscribe({"type": "l2Book", "coin": "ETH"}, got.append)
        info.subscribe({"type": "bbo", "coin": "ETH"}, got.append)
        deadline = time.monotonic() + 5
        while {m["channel"] for m in got} != {"l2Book", "bbo"} and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        info.disconnect_websocket()
    assert {m["channel"] for m in got} == {"l2Book", "bbo"}
