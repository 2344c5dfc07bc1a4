"""Exchange rules: tick, lot, minimum value, post-only, reduce-only, margin, fees, funding, the dead man's switch
and liquidation, read back through /info."""

from __future__ import annotations

from decimal import Decimal

from mmtool.plugins.exchanges.hlserver import ServerConfig
from mmtool.plugins.exchanges.hyperliquid.wire import cancel_action, order_action, order_wire

from .helpers import FakeClock, ServerThread, Trader, mid, statuses


def _error(answer: dict) -> str:
    return statuses(answer)[0]["error"]


def test_tick_lot_and_minimum_value_rejections(server: ServerThread, trader: Trader) -> None:
    assert _error(trader.order(0, True, "3000.05", "0.01")) == "Price must be divisible by tick size. asset=0"
    assert _error(trader.order(0, True, "3000", "0.00001")) == "Order has invalid size. asset=0"
    assert _error(trader.order(0, True, "3000", "0.003")) == "Order must have minimum value of $10. asset=0"
    assert _error(trader.order(1, True, "90000.5", "0.001")) == "Price must be divisible by tick size. asset=1"
    assert _error(trader.order(5, True, "1", "1")) == "Invalid asset 5."


def test_post_only_that_would_cross_is_rejected_with_the_bbo(server: ServerThread, trader: Trader) -> None:
    ask = Decimal(server.info({"type": "l2Book", "coin": "ETH"})["levels"][1][0]["px"])
    text = _error(trader.order(0, True, str(ask + 10), "0.01"))
    assert text.startswith("Post only order would have immediately matched, bbo was ") and text.endswith("asset=0")


def test_ioc_without_liquidity_and_reduce_only_without_position(server: ServerThread, trader: Trader) -> None:
    low = str((mid(server) * Decimal("0.9")).quantize(Decimal(1)))
    text = _error(trader.order(0, True, low, "0.01", tif="Ioc"))
    assert text == "Order could not immediately match against any resting orders. asset=0"
    assert _error(trader.order(0, False, "4000", "0.01", reduce_only=True)) == (
        "Reduce only order would increase position. asset=0"
    )


def test_insufficient_margin_rejects(make_server) -> None:
    server = make_server(balance=100.0)
    trader = Trader(server).open()
    # 100 USDC at 20x leverage carries 2000 of notional: 1 ETH (3500) is too much.
    assert _error(trader.order(0, True, "3000", "1")) == "Insufficient margin to place order. asset=0"
    assert "resting" in statuses(trader.order(0, True, "3000", "0.5"))[0]
    # Margin is shared across assets (cross): the BTC order no longer fits.
    assert _error(trader.order(1, True, "80000", "0.01")) == "Insufficient margin to place order. asset=1"


def test_taker_fill_pays_taker_fee_and_reduce_only_closes(server: ServerThread, trader: Trader) -> None:
    high = str((mid(server) * Decimal("1.05")).quantize(Decimal(1)))
    filled = statuses(trader.order(0, True, high, "0.05", tif="Ioc"))[0]["filled"]
    assert filled["totalSz"] == "0.05"
    fills = server.info({"type": "userFills", "user": trader.address})
    for fill in fills:
        assert Decimal(fill["fee"]) == (Decimal(fill["px"]) * Decimal(fill["sz"]) * Decimal("0.00045")).quantize(
            Decimal("0.000001"))
    low = str((mid(server) * Decimal("0.95")).quantize(Decimal(1)))
    closing = statuses(trader.order(0, False, low, "1", tif="Ioc", reduce_only=True))[0]["filled"]
    assert closing["totalSz"] == "0.05"
    state = server.info({"type": "clearinghouseState", "user": trader.address})
    assert state["assetPositions"] == []
    assert Decimal(state["marginSummary"]["accountValue"]) < Decimal(100_000)


def test_batched_orders_and_cancels(server: ServerThread, trader: Trader) -> None:
    m = mid(server)
    wires = [order_wire(0, True, (m * Decimal(f"0.9{i}")).quantize(Decimal(1)), Decimal("0.01"), False, "Gtc")
             for i in range(3)]
    wires.append(order_wire(0, True, Decimal("3000.05"), Decimal("0.01"), False, "Gtc"))
    results = statuses(trader.send(order_action(wires)))
    assert [next(iter(r)) for r in results] == ["resting", "resting", "resting", "error"]
    oids = [r["resting"]["oid"] for r in results[:3]]
    cancelled = statuses(trader.send(cancel_action([(0, oid) for oid in oids] + [(0, 999_999)])))
    assert cancelled[:3] == ["success"] * 3 and "never placed" in cancelled[3]["error"]
    assert server.info({"type": "userRateLimit", "user": trader.address})["nRequestsUsed"] == 8


def test_order_status_unknown_and_user_fees(server: ServerThread, trader: Trader) -> None:
    assert server.info({"type": "orderStatus", "user": trader.address, "oid": 12345}) == {"status": "unknownOid"}
    fees = server.info({"type": "userFees", "user": trader.address})
    assert fees["userAddRate"] == "0.00015" and fees["userCrossRate"] == "0.00045"
    assert server.info({"type": "spotMeta"}) == {"universe": [], "tokens": []}
    assert server.info({"type": "l2Book", "coin": "NOPE"}) is None


def test_funding_is_paid_on_positions(make_server) -> None:
    clock = FakeClock()
    server = make_server(ServerConfig(port=0, market={"funding_interval_secs": 2.0, "funding_mean_rate": 0.001}),
                         clock=clock)
    trader = Trader(server).open()
    high = str((mid(server) * Decimal("1.05")).quantize(Decimal(1)))
    assert "filled" in statuses(trader.order(0, True, high, "0.1", tif="Ioc"))[0]
    clock.advance(2.5)
    server.tick()
    history = server.info({"type": "fundingHistory", "coin": "ETH", "startTime": 0})
    assert len(history) == 1 and set(history[0]) == {"coin", "fundingRate", "premium", "time"}
    payments = server.info({"type": "userFunding", "user": trader.address, "startTime": 0})
    assert len(payments) == 1
    delta = payments[0]["delta"]
    assert delta["type"] == "funding" and delta["coin"] == "ETH" and delta["szi"] == "0.1"
    # A long pays a positive rate.
    assert (Decimal(delta["usdc"]) < 0) == (Decimal(delta["fundingRate"]) > 0)


def test_scheduled_cancel_fires_at_its_time(make_server) -> None:
    clock = FakeClock()
    server = make_server(clock=clock)
    trader = Trader(server).open()
    assert "resting" in statuses(trader.order(0, True, "3000", "0.01"))[0]
    when = clock() // 1_000_000 + 6_000
    assert trader.send({"type": "scheduleCancel", "time": when})["status"] == "ok"
    clock.advance(5)
    server.tick()
    assert len(server.info({"type": "openOrders", "user": trader.address})) == 1
    clock.advance(1.5)
    server.tick()
    assert server.info({"type": "openOrders", "user": trader.address}) == []
    oid = server.info({"type": "userFills", "user": trader.address})
    assert oid == []
    records = server.call(lambda: server.ex.journal.of_kind("scheduled_cancel"))
    assert records[-1]["cancelled"] == 1
    # Cleared schedules never fire.
    assert "resting" in statuses(trader.order(0, True, "3000", "0.01"))[0]
    assert trader.send({"type": "scheduleCancel", "time": clock() // 1_000_000 + 6_000})["status"] == "ok"
    assert trader.send({"type": "scheduleCancel"})["status"] == "ok"
    clock.advance(10)
    server.tick()
    assert len(server.info({"type": "openOrders", "user": trader.address})) == 1


def test_account_below_maintenance_is_liquidated_at_the_market(make_server) -> None:
    server = make_server(balance=1_000.0)
    trader = Trader(server).open()
    high = str((mid(server) * Decimal("1.05")).quantize(Decimal(1)))
    assert "filled" in statuses(trader.order(0, True, high, "1", tif="Ioc"))[0]
    assert "resting" in statuses(trader.order(1, True, "80000", "0.001"))[0]

    def lose_collateral() -> None:
        server.ex.state.accounts[trader.address.lower()].collateral -= Decimal(950)

    server.call(lose_collateral)
    server.tick()
    state = server.info({"type": "clearinghouseState", "user": trader.address})
    assert state["assetPositions"] == []
    assert server.info({"type": "openOrders", "user": trader.address}) == []
    fills = server.info({"type": "userFills", "user": trader.address})
    assert fills[0]["dir"] == "Close Long" and fills[0]["liquidation"]["liquidatedUser"] == trader.address.lower()
    record = server.call(lambda: server.ex.journal.of_kind("liquidation"))[-1]
    assert record["user"] == trader.address.lower() and record["cancelled"] == 1


def test_resting_orders_show_in_the_public_book(make_server) -> None:
    server = make_server(clock=FakeClock())
    trader = Trader(server).open()
    before = server.info({"type": "l2Book", "coin": "ETH"})["levels"][0][0]
    assert "resting" in statuses(trader.order(0, True, before["px"], "0.5"))[0]
    after = server.info({"type": "l2Book", "coin": "ETH"})["levels"][0][0]
    assert after["px"] == before["px"] and after["n"] == before["n"] + 1
    assert Decimal(after["sz"]) == Decimal(before["sz"]) + Decimal("0.5")
