"""Several clients at once, and the JSON journal (--log-json) matching what clients were told."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from pathlib import Path

from mmtool.plugins.exchanges.hlserver import ServerConfig

from .helpers import FakeClock, ServerThread, Trader, WsClient, mid, statuses


def test_several_clients_trade_concurrently(make_server) -> None:
    server = make_server(ip_weight_per_minute=100_000)
    traders = [Trader(server).open() for _ in range(6)]
    watcher = WsClient(server)
    watcher.subscribe({"type": "l2Book", "coin": "ETH"})
    errors: list[BaseException] = []
    placed: dict[str, list[int]] = {t.address: [] for t in traders}

    def work(trader: Trader, index: int) -> None:
        try:
            for k in range(8):
                price = str(3000 - index * 10 - k)
                answer = trader.order(0, True, price, "0.01")
                placed[trader.address].append(statuses(answer)[0]["resting"]["oid"])
            high = str((mid(server) * Decimal("1.05")).quantize(Decimal(1)))
            assert "filled" in statuses(trader.order(0, True, high, "0.01", tif="Ioc"))[0]
        except BaseException as exc:  # noqa: BLE001 - reported to the main thread
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(t, i)) for i, t in enumerate(traders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    all_oids = [oid for oids in placed.values() for oid in oids]
    assert len(set(all_oids)) == len(all_oids) == 48
    for trader in traders:
        orders = server.info({"type": "openOrders", "user": trader.address})
        assert sorted(o["oid"] for o in orders) == sorted(placed[trader.address])
        position = server.info({"type": "clearinghouseState", "user": trader.address})["assetPositions"]
        assert position[0]["position"]["szi"] == "0.01"
    assert watcher.next("l2Book")["data"]["coin"] == "ETH"
    watcher.close()


def test_json_log_records_accepted_actions_and_fills(make_server, tmp_path: Path) -> None:
    log = tmp_path / "exchange.jsonl"
    server: ServerThread = make_server(ServerConfig(port=0, log_json=log))
    trader = Trader(server).open()
    high = str((mid(server) * Decimal("1.05")).quantize(Decimal(1)))
    assert "filled" in statuses(trader.order(0, True, high, "0.03", tif="Ioc"))[0]
    refused = Trader(server).order(0, True, "3000", "0.01")
    assert refused["status"] == "err"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    kinds = [r["kind"] for r in records]
    assert kinds[0] == "started" and "account_opened" in kinds
    actions = [r for r in records if r["kind"] == "action"]
    assert len(actions) == 1 and actions[0]["action"]["type"] == "order"
    logged = [r for r in records if r["kind"] == "fill"]
    told = server.info({"type": "userFills", "user": trader.address})
    assert sorted(r["tid"] for r in logged) == sorted(f["tid"] for f in told)
    assert {(r["px"], r["sz"], r["fee"]) for r in logged} == {(f["px"], f["sz"], f["fee"]) for f in told}


def test_a_restarted_exchange_never_reuses_a_trade_id(make_server) -> None:
    """Hyperliquid's trade ids are unique for the exchange's lifetime; ours start from the instance's start time,
    so a journal that keys fills by (account, trade id) never takes a new server's fill for an old one."""
    clock = FakeClock()
    tids = []
    for _ in range(2):
        server = make_server(clock=clock, ip_weight_per_minute=100_000)
        trader = Trader(server).open()
        high = str((mid(server) * Decimal("1.05")).quantize(Decimal(1)))
        assert "filled" in statuses(trader.order(0, True, high, "0.01", tif="Ioc"))[0]
        fills = server.info({"type": "userFills", "user": trader.address})
        tids.append({f["tid"] for f in fills})
        clock.advance(1.0)
    assert tids[0] and tids[1] and not tids[0] & tids[1]
    assert all(0 < tid < 2**53 for tid in tids[0] | tids[1]), "exact in every JSON reader"
