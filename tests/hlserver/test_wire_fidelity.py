"""Details of the wire the local exchange must get as the real exchange does, each with where it is documented.

- The order a modify's messages come in: the replacement first, then the old oid's ``canceled`` (recorded on
  mainnet: xLydianSoftware/Qubx PR #326; nautechsystems/nautilus_trader issue #3827 / PR #3831).
- ``frontendOpenOrders`` and ``orderStatus`` always carry ``cloid``, null for an order sent without one
  (@nktkas/hyperliquid ``FrontendOpenOrderSchema``: ``cloid: nullable(Cloid)``), while ``openOrders`` and
  ``orderUpdates`` leave it out (``OpenOrderSchema``: ``cloid: optional(Cloid)``).
- Unsubscribing what is not subscribed is answered ``Already unsubscribed: {subscription}`` (the prefix
  @nktkas/hyperliquid's WebSocket dispatcher matches, next to ``Already subscribed`` and ``Invalid subscription``).
"""

from __future__ import annotations

import json
from decimal import Decimal

from mmtool.plugins.exchanges.hyperliquid.wire import modify_action, order_wire

from .helpers import ServerThread, Trader, WsClient, mid, statuses


def _resting_px(server: ServerThread, factor: str) -> str:
    return str((mid(server) * Decimal(factor)).quantize(Decimal(1)))


def test_modify_announces_the_replacement_before_cancelling_the_old_oid(server: ServerThread, trader: Trader) -> None:
    ws = WsClient(server)
    ws.subscribe({"type": "orderUpdates", "user": trader.address})
    cloid = "0x" + "cd" * 16
    old = statuses(trader.order(0, True, _resting_px(server, "0.9"), "0.01", cloid=cloid))[0]["resting"]["oid"]
    assert ws.next("orderUpdates")["data"][0]["status"] == "open"
    answer = trader.send(modify_action(old, order_wire(0, True, Decimal(_resting_px(server, "0.89")),
                                                       Decimal("0.01"), False, "Alo", cloid)))
    assert answer["status"] == "ok", answer
    seen: list[tuple[int, str, str | None]] = []
    while len(seen) < 2:
        for item in ws.next("orderUpdates")["data"]:
            seen.append((item["order"]["oid"], item["status"], item["order"].get("cloid")))
    new = seen[0][0]
    assert new != old
    assert seen == [(new, "open", cloid), (old, "canceled", cloid)]
    ws.close()


def test_frontend_listing_and_order_status_carry_a_null_cloid(server: ServerThread, trader: Trader) -> None:
    bare = statuses(trader.order(0, True, _resting_px(server, "0.9"), "0.01"))[0]["resting"]["oid"]
    tagged_cloid = "0x" + "ef" * 16
    tagged = statuses(trader.order(0, True, _resting_px(server, "0.91"), "0.01", cloid=tagged_cloid))[0]["resting"]
    frontend = {o["oid"]: o for o in server.info({"type": "frontendOpenOrders", "user": trader.address})}
    assert "cloid" in frontend[bare] and frontend[bare]["cloid"] is None
    assert frontend[tagged["oid"]]["cloid"] == tagged_cloid
    status = server.info({"type": "orderStatus", "user": trader.address, "oid": bare})
    assert status["status"] == "order" and status["order"]["order"]["cloid"] is None
    # openOrders leaves the key out for an order without a cloid.
    plain = {o["oid"]: o for o in server.info({"type": "openOrders", "user": trader.address})}
    assert "cloid" not in plain[bare] and plain[tagged["oid"]]["cloid"] == tagged_cloid


def test_unsubscribing_what_is_not_subscribed_says_already_unsubscribed(server: ServerThread) -> None:
    ws = WsClient(server)
    subscription = {"type": "l2Book", "coin": "ETH"}
    ws.send({"method": "unsubscribe", "subscription": subscription})
    text = ws.next("error")["data"]
    assert text.startswith("Already unsubscribed")
    # The echoed subscription is JSON a client can match its request by.
    assert json.loads(text[text.index("{"):]) == subscription
    ws.close()


def test_fills_carry_a_null_twap_id_on_info_and_websocket(server: ServerThread, trader: Trader) -> None:
    """Every fill has ``twapId`` (null unless a TWAP slice): @nktkas/hyperliquid ``UserFillSchema``
    (``twapId: nullable(UnsignedInteger)``), and fills recorded from mainnet (DennisDyallo/hyperbot
    docs/research/hyperliquid_fills_api.md: present in all 1577; monjurkuet/cryptoOS API_FILLS.md)."""
    ws = WsClient(server)
    ws.subscribe({"type": "userFills", "user": trader.address})
    assert ws.next("userFills")["data"]["isSnapshot"] is True
    assert "filled" in statuses(trader.order(0, True, _resting_px(server, "1.05"), "0.02", tif="Ioc"))[0]
    live = ws.next("userFills")["data"]["fills"]
    assert live and all("twapId" in f and f["twapId"] is None for f in live)
    listed = server.info({"type": "userFills", "user": trader.address})
    assert listed and all("twapId" in f and f["twapId"] is None for f in listed)
    ws.close()
