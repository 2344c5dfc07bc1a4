"""Rate limits per IP and per address, and robustness to garbage: the server answers like the exchange and keeps
serving everyone else."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmtool.plugins.exchanges.hlserver import ServerConfig
from mmtool.plugins.exchanges.hyperliquid.wire import cancel_action

from .helpers import ServerThread, Trader, WsClient, statuses

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
_keys = st.sampled_from(["type", "action", "nonce", "signature", "vaultAddress", "user", "coin", "oid", "orders"])
_types = st.sampled_from(["order", "cancel", "modify", "batchModify", "l2Book", "clearinghouseState", "orderStatus",
                          "userFillsByTime", "approveAgent", "scheduleCancel", "updateLeverage", "cancelByCloid"])
_shaped = st.fixed_dictionaries({"type": _types}, optional={"action": st.dictionaries(_keys, _json) | _json,
                                                            "nonce": _json, "signature": _json, "user": _json,
                                                            "coin": _json, "oid": _json, "startTime": _json})


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[ServerThread]:
    """One server for the fuzz test and the check that follows it (no IP limit in the way)."""
    server = ServerThread(ServerConfig(port=0, ip_weight_per_minute=10**9))
    server.start()
    yield server
    server.stop()


def test_ip_weight_limit_answers_429(make_server) -> None:
    server = make_server(ip_weight_per_minute=100)
    codes = [requests.post(server.url + "/info", json={"type": "meta"}, timeout=5).status_code for _ in range(8)]
    assert codes[:5] == [200] * 5 and codes[-1] == 429
    assert server.call(lambda: server.ex.journal.of_kind("rate_limited"))


def test_address_budget_counts_batches_and_allows_more_cancels(make_server) -> None:
    server = make_server(address_initial_budget=4)
    trader = Trader(server).open()
    assert trader.send({"type": "scheduleCancel"})["status"] == "ok"
    assert trader.send(cancel_action([(0, 1), (0, 2), (0, 3)]))["status"] == "ok"
    # One request per 10 s still passes when the budget is spent.
    assert trader.order(0, True, "3000", "0.01")["status"] == "ok"
    refused = trader.order(0, True, "3000", "0.01")
    assert refused["status"] == "err" and refused["response"].startswith("Too many cumulative requests sent (6 > 4)")
    # Cancels have a higher allowance: min(cap + 100000, 2 * cap) = 8.
    assert statuses(trader.send(cancel_action([(0, 999)])))[0]["error"].startswith("Order was never placed")
    limit = server.info({"type": "userRateLimit", "user": trader.address})
    assert limit == {"cumVlm": "0.00", "nRequestsUsed": 6, "nRequestsCap": 4, "nRequestsSurplus": 0}


def test_malformed_http_requests(server: ServerThread) -> None:
    url = server.url
    assert requests.post(url + "/info", data=b"{nope", timeout=5).status_code == 400
    r = requests.post(url + "/info", json={"type": "noSuchThing"}, timeout=5)
    assert r.status_code == 422 and r.text.startswith("Failed to deserialize the JSON body into the target type")
    assert requests.post(url + "/info", json={"type": "clearinghouseState"}, timeout=5).status_code == 422
    assert requests.post(url + "/info", json={"type": "l2Book", "coin": 5}, timeout=5).status_code == 422
    assert requests.post(url + "/exchange", json={"action": {"type": "order"}}, timeout=5).status_code == 422
    assert requests.post(url + "/exchange", json=[1, 2], timeout=5).status_code == 422
    huge = b'{"type": "meta", "pad": "' + b"x" * (2 << 20) + b'"}'
    assert requests.post(url + "/info", data=huge, timeout=10).status_code == 413
    assert requests.post(url + "/info", json={"type": "meta"}, timeout=5).status_code == 200


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_json | _shaped, path=st.sampled_from(["/info", "/exchange"]))
def test_fuzzed_bodies_never_break_the_server(fuzz_server: ServerThread, body: object, path: str) -> None:
    r = requests.post(fuzz_server.url + path, data=json.dumps(body), timeout=5)
    assert r.status_code in (200, 400, 422), (r.status_code, r.text)
    if r.status_code == 200 and path == "/exchange":
        assert r.json()["status"] in ("ok", "err")


def test_fuzzing_left_the_server_serving(fuzz_server: ServerThread) -> None:
    server = fuzz_server
    trader = Trader(server).open()
    for body in ({"type": "meta", "dex": 3}, {"type": "orderStatus", "user": trader.address, "oid": "0x12"},
                 {"type": "userFillsByTime", "user": trader.address, "startTime": -1}):
        assert requests.post(server.url + "/info", json=body, timeout=5).status_code in (200, 422)
    assert "resting" in statuses(trader.order(0, True, "3000", "0.01"))[0]


def test_connection_flood_is_refused_and_others_keep_working(make_server) -> None:
    server = make_server(ws_connections_per_ip=3)
    clients = [WsClient(server) for _ in range(3)]
    r = requests.get(server.url + "/ws", headers={"Connection": "Upgrade", "Upgrade": "websocket",
                                                 "Sec-WebSocket-Version": "13",
                                                 "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}, timeout=5)
    assert r.status_code == 429
    clients[0].send({"method": "ping"})
    assert clients[0].next("pong") == {"channel": "pong"}
    clients[0].ws.send(b"\x00\x01binary")
    assert "binary" in clients[0].next("error")["data"]
    for client in clients:
        client.close()
