"""Every fault the server injects is seen by a client and journalled; scenarios load from TOML."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from websockets.exceptions import ConnectionClosed

from mmtool.core.errors import ConfigError
from mmtool.plugins.exchanges.hlserver import FaultConfig, ServerConfig, StallWindow
from mmtool.plugins.exchanges.hlserver.config import load_faults

from .helpers import ServerThread, Trader, WsClient, statuses


def _faults(server: ServerThread, name: str) -> list[dict]:
    return [r for r in server.call(lambda: server.ex.journal.of_kind("fault")) if r["fault"] == name]


def _serve(make_server, **faults) -> ServerThread:
    return make_server(ServerConfig(port=0, faults=FaultConfig(seed=3, **faults)))


def _wait_closed(ws: WsClient, limit: float) -> float:
    start = time.monotonic()
    with pytest.raises(ConnectionClosed):
        while time.monotonic() - start < limit:
            ws.recv(timeout=limit)
    return time.monotonic() - start


def test_periodic_ws_drop(make_server) -> None:
    server = _serve(make_server, ws_drop_every_secs=0.4)
    ws = WsClient(server)
    ws.subscribe({"type": "allMids"})
    assert _wait_closed(ws, 3) < 2
    assert _faults(server, "ws_drop")[0]["reason"] == "periodic"
    # The server keeps serving: a new connection works.
    again = WsClient(server)
    again.send({"method": "ping"})
    assert again.next("pong", timeout=1) == {"channel": "pong"}


def test_random_ws_drop(make_server) -> None:
    server = _serve(make_server, ws_drop_prob_per_sec=1.0)
    ws = WsClient(server)
    assert _wait_closed(ws, 4) < 3
    assert _faults(server, "ws_drop")[0]["reason"] == "random"


def test_ws_delay(make_server) -> None:
    server = _serve(make_server, ws_delay_ms=300)
    start = time.monotonic()
    ws = WsClient(server)
    assert time.monotonic() - start >= 0.3
    sent = time.monotonic()
    ws.send({"method": "ping"})
    ws.next("pong")
    assert time.monotonic() - sent >= 0.3
    assert _faults(server, "ws_delay")[0]["delay_ms"] == 300


def test_duplicated_user_events(make_server) -> None:
    server = _serve(make_server, duplicate_user_events_prob=1.0)
    trader = Trader(server).open()
    ws = WsClient(server)
    ws.subscribe({"type": "orderUpdates", "user": trader.address})
    oid = statuses(trader.order(0, True, "3000", "0.01"))[0]["resting"]["oid"]
    first = ws.next("orderUpdates")
    second = ws.next("orderUpdates")
    assert first == second and first["data"][0]["order"]["oid"] == oid
    assert _faults(server, "duplicate")


def test_reordered_user_events(make_server) -> None:
    server = _serve(make_server, reorder_user_events_prob=1.0)
    trader = Trader(server).open()
    ws = WsClient(server)
    ws.subscribe({"type": "orderUpdates", "user": trader.address})
    first = statuses(trader.order(0, True, "3000", "0.01"))[0]["resting"]["oid"]
    second = statuses(trader.order(0, True, "3001", "0.01"))[0]["resting"]["oid"]
    seen = [ws.next("orderUpdates")["data"][0]["order"]["oid"] for _ in range(2)]
    assert seen == [second, first]
    assert _faults(server, "reorder")


def test_http_429_and_5xx(make_server) -> None:
    server = _serve(make_server, http_429_prob=1.0)
    r = requests.post(server.url + "/info", json={"type": "meta"}, timeout=5)
    assert r.status_code == 429
    server = _serve(make_server, http_5xx_prob=0.5)
    codes = [requests.post(server.url + "/info", json={"type": "allMids"}, timeout=5).status_code for _ in range(40)]
    failed = [c for c in codes if c != 200]
    assert 5 < len(failed) < 35 and set(failed) <= {502, 503}
    assert len(_faults(server, "http_5xx")) == len(failed)


def test_stalled_book_feed(make_server) -> None:
    server = _serve(make_server, stall_book=[StallWindow(0.0, 1.0)])
    ws = WsClient(server)
    ws.subscribe({"type": "l2Book", "coin": "ETH"})
    ws.next("l2Book")
    ws.next("l2Book", timeout=5)
    assert server.ex.elapsed_s() >= 1.0
    assert _faults(server, "stall_book") and _faults(server, "stall_book_end")


def test_forced_liquidation_cascade(make_server) -> None:
    server = _serve(make_server, cascade_at_secs=(0.2,))
    deadline = time.monotonic() + 3
    while len(_faults(server, "cascade")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert sorted(r["coin"] for r in _faults(server, "cascade")) == ["BTC", "ETH"]


def test_fault_scenario_toml(tmp_path: Path) -> None:
    path = tmp_path / "scenario.toml"
    path.write_text(
        "[faults]\nseed = 7\nws_drop_every_secs = 30.0\nhttp_5xx_prob = 0.05\ncascade_at_secs = [12.5]\n"
        "[[faults.stall_book]]\nat_secs = 10.0\nduration_secs = 5.0\n"
    )
    faults = load_faults(path)
    assert faults.seed == 7 and faults.ws_drop_every_secs == 30.0 and faults.cascade_at_secs == (12.5,)
    assert faults.stall_book == (StallWindow(10.0, 5.0),)
    flat = tmp_path / "flat.toml"
    flat.write_text("ws_delay_ms = 50\n")
    assert load_faults(flat).ws_delay_ms == 50
    bad = tmp_path / "bad.toml"
    bad.write_text("ws_drop_evry_secs = 3\n")
    with pytest.raises(ConfigError, match="faults.ws_drop_evry_secs: unknown key; did you mean 'ws_drop_every_secs'"):
        load_faults(bad)
    bad.write_text("http_429_prob = 2.0\n")
    with pytest.raises(ConfigError, match=r"faults.http_429_prob: must be <= 1 \(got 2.0\)"):
        load_faults(bad)
