"""The official hyperliquid-python-sdk, unmodified and pointed at the local exchange, trades and reads state."""

from __future__ import annotations

import time

import eth_account
from hyperliquid.exchange import Exchange
from hyperliquid.info import Info
from hyperliquid.utils.types import Cloid

from .helpers import ServerThread


def _px(value: float) -> float:
    return round(float(f"{value:.5g}"), 2)


def test_sdk_info_reads_meta_mids_book_and_state(server: ServerThread) -> None:
    info = Info(server.url, skip_ws=True)
    assert info.name_to_asset("ETH") == 0 and info.name_to_asset("BTC") == 1
    assert info.asset_to_sz_decimals == {0: 4, 1: 5}
    meta = info.meta()
    listed = [(a["name"], a["szDecimals"], a["maxLeverage"]) for a in meta["universe"]]
    assert listed == [("ETH", 4, 25), ("BTC", 5, 40)]
    ctxs = info.meta_and_asset_ctxs()[1]
    assert {"funding", "openInterest", "markPx", "oraclePx", "midPx"} <= set(ctxs[0])
    mids = info.all_mids()
    assert 3000 < float(mids["ETH"]) < 4000 and 80000 < float(mids["BTC"]) < 110000
    book = info.l2_snapshot("ETH")
    bids, asks = book["levels"]
    assert bids and asks and float(bids[0]["px"]) < float(asks[0]["px"])
    wallet = eth_account.Account.create()
    state = info.user_state(wallet.address)
    assert state["marginSummary"]["accountValue"] == "100000" and state["assetPositions"] == []


def test_sdk_exchange_places_modifies_cancels_and_reads_back(server: ServerThread) -> None:
    wallet = eth_account.Account.create()
    info = Info(server.url, skip_ws=True)
    info.user_state(wallet.address)
    exchange = Exchange(wallet, server.url)
    mid = float(info.all_mids()["ETH"])
    cloid = Cloid.from_int(7)
    placed = exchange.order("ETH", True, 0.01, _px(mid * 0.99), {"limit": {"tif": "Alo"}}, cloid=cloid)
    resting = placed["response"]["data"]["statuses"][0]["resting"]
    oid = resting["oid"]
    assert resting["cloid"] == cloid.to_raw()
    open_orders = info.open_orders(wallet.address)
    assert [(o["oid"], o["side"], o["sz"]) for o in open_orders] == [(oid, "B", "0.01")]
    by_cloid = info.query_order_by_cloid(wallet.address, cloid)
    assert by_cloid["order"]["status"] == "open" and by_cloid["order"]["order"]["oid"] == oid

    modified = exchange.modify_order(oid, "ETH", True, 0.02, _px(mid * 0.98), {"limit": {"tif": "Alo"}}, cloid=cloid)
    assert modified["status"] == "ok"
    # As on the exchange, the modified order rests under a new oid with the same cloid; the old oid is cancelled.
    new_oid = modified["response"]["data"]["statuses"][0]["resting"]["oid"]
    assert new_oid != oid
    frontend = info.frontend_open_orders(wallet.address)
    assert [o["oid"] for o in frontend] == [new_oid]
    assert frontend[0]["sz"] == "0.02" and float(frontend[0]["limitPx"]) == _px(mid * 0.98)
    assert frontend[0]["tif"] == "Alo" and frontend[0]["orderType"] == "Limit"
    assert info.query_order_by_oid(wallet.address, oid)["order"]["status"] == "canceled"
    assert info.query_order_by_cloid(wallet.address, cloid)["order"]["order"]["oid"] == new_oid
    stale = exchange.cancel("ETH", oid)
    assert stale["response"]["data"]["statuses"][0]["error"].startswith("Order was never placed")

    cancelled = exchange.cancel_by_cloid("ETH", cloid)
    assert cancelled["response"]["data"]["statuses"] == ["success"]
    assert info.open_orders(wallet.address) == []
    assert info.query_order_by_oid(wallet.address, new_oid)["order"]["status"] == "canceled"
    again = exchange.cancel("ETH", new_oid)
    assert again["response"]["data"]["statuses"][0]["error"].startswith("Order was never placed")


def test_sdk_market_open_close_fills_fees_and_positions(server: ServerThread) -> None:
    wallet = eth_account.Account.create()
    info = Info(server.url, skip_ws=True)
    info.user_state(wallet.address)
    exchange = Exchange(wallet, server.url)
    opened = exchange.market_open("ETH", True, 0.1, cloid=Cloid.from_int(9))
    filled = opened["response"]["data"]["statuses"][0]["filled"]
    assert filled["totalSz"] == "0.1"
    state = info.user_state(wallet.address)
    position = state["assetPositions"][0]["position"]
    assert position["coin"] == "ETH" and position["szi"] == "0.1" and position["leverage"]["value"] == 20
    fills = info.user_fills(wallet.address)
    assert {f["dir"] for f in fills} == {"Open Long"} and all(f["crossed"] for f in fills)
    # The fields the exchange gives a fill, and no others: no cloid (a client maps fills to orders by oid), and
    # twapId, null for a fill that is not a TWAP slice.
    fields = {"coin", "px", "sz", "side", "time", "startPosition", "dir", "closedPnl", "hash", "oid", "crossed", "fee",
              "tid", "feeToken", "twapId"}
    assert all(set(f) == fields and f["twapId"] is None for f in fills)
    fee = sum(float(f["fee"]) for f in fills)
    notional = sum(float(f["px"]) * float(f["sz"]) for f in fills)
    assert abs(fee - notional * 0.00045) < 1e-5
    closed = exchange.market_close("ETH")
    assert "filled" in closed["response"]["data"]["statuses"][0]
    assert info.user_state(wallet.address)["assetPositions"] == []
    by_time = info.user_fills_by_time(wallet.address, int(time.time() * 1000) - 60_000)
    assert [f["dir"] for f in by_time][-1] == "Close Long" and len(by_time) == len(info.user_fills(wallet.address))
    assert info.user_rate_limit(wallet.address)["nRequestsUsed"] == 2


def test_sdk_agent_trades_for_its_account_and_leverage_and_schedule_cancel(server: ServerThread) -> None:
    wallet = eth_account.Account.create()
    info = Info(server.url, skip_ws=True)
    info.user_state(wallet.address)
    owner = Exchange(wallet, server.url)
    approved, agent_key = owner.approve_agent("bot")
    assert approved == {"status": "ok", "response": {"type": "default"}}
    agent = Exchange(eth_account.Account.from_key(agent_key), server.url, account_address=wallet.address)
    assert agent.update_leverage(5, "BTC")["status"] == "ok"
    placed = agent.order("BTC", False, 0.001, 200000.0, {"limit": {"tif": "Gtc"}})
    assert "resting" in placed["response"]["data"]["statuses"][0]
    assert [o["coin"] for o in info.open_orders(wallet.address)] == ["BTC"]
    scheduled = agent.schedule_cancel(int(time.time() * 1000) + 60_000)
    assert scheduled["status"] == "ok"
    too_soon = agent.schedule_cancel(int(time.time() * 1000) + 1_000)
    assert too_soon["status"] == "err" and "at least 5 seconds" in too_soon["response"]
    assert agent.update_leverage(100, "BTC")["status"] == "err"
