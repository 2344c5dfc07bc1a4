"""The adapter's fill history (``userFillsByTime`` page by page) and the journal's crash recovery that uses it."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace

import pytest
from hla_helpers import Collector, account, adapter, cloid, exchange, run, server_position

from mmtool.core.config import NetworkConfig, Settings
from mmtool.core.types import Fill, Place, Side, Tif
from mmtool.observe.hub import ObserveHub
from mmtool.observe.journal import Journal
from mmtool.observe.pnl_attribution import PnlAttribution
from mmtool.observe.wiring import Observation
from mmtool.plugins.exchanges.hlserver import views
from mmtool.plugins.exchanges.hyperliquid import account as hl_account

ETH = "ETH"


async def _take(a, got: Collector, ex, n: int, size: str = "0.01") -> None:
    """``n`` IOC buys through the book: each takes one or more fills."""
    mid = a.mid_price()
    price = a.rules(ETH).round_price(mid * Decimal("1.01"), Side.BUY, "aggressive")
    for k in range(n):
        await a.submit([Place(cloid(100 + k), ETH, Side.BUY, price, Decimal(size), Tif.IOC)])
    await got.wait_for(lambda: server_position(ex, a.user) == Decimal(size) * n)


def _newest_first(account, start=None, end=None):
    """``userFillsByTime`` as an exchange that pages from the newest end would answer."""
    chosen = [f for f in account.fills if f["time"] >= (start or 0) and (end is None or f["time"] <= end)]
    return list(reversed(chosen))[: views.MAX_FILLS]


@pytest.mark.parametrize("order", ["oldest-first", "newest-first"])
def test_fill_history_reads_every_page_and_keeps_each_fill_once(order: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Pages of 3 on both ends. The account's history is one real fill and eight more like it, at most two to a
    millisecond (several pages end inside a millisecond, whose fills the next page repeats). The exchange may
    give each page oldest first (as the local exchange does) or newest first: every fill is read either way."""
    monkeypatch.setattr(views, "MAX_FILLS", 3)
    monkeypatch.setattr(hl_account, "FILLS_PAGE", 3)
    if order == "newest-first":
        monkeypatch.setattr(views, "user_fills", _newest_first)

    async def body() -> None:
        async with exchange() as ex, adapter(ex) as a:
            got = Collector(a)
            await _take(a, got, ex, 1)
            record = account(ex, a.user).fills
            real = record[0]
            t0 = real["time"]
            for k, dt in enumerate((0, 1, 1, 2, 3, 3, 4, 5), start=1):
                record.append({**real, "tid": real["tid"] + k, "time": t0 + dt})
            history = await a.fill_history(0)
            assert [f.trade_id for f in history] == [str(f["tid"]) for f in record]
            assert [f.ts_exchange_ns // 1_000_000 for f in history] == [f["time"] for f in record]
            later = await a.fill_history((t0 + 2) * 1_000_000)
            assert [f.trade_id for f in later] == [str(f["tid"]) for f in record if f["time"] >= t0 + 2]
            record.append({**real, "tid": real["tid"] + 99, "coin": "BTC", "time": t0 + 6})
            assert [f.trade_id for f in await a.fill_history(0)] == [str(f["tid"]) for f in record[:-1]]
            await got.stop()

    run(body())


def test_a_crashed_sessions_missing_fills_are_recovered_at_the_next_start(tmp_path: Path) -> None:
    """A session journals one fill, then dies; the exchange fills more before the next start, which recovers
    them from the adapter's history so that the journal's position agrees with the exchange's."""

    async def body() -> None:
        async with exchange() as ex, adapter(ex) as a:
            got = Collector(a)
            journal = Journal(tmp_path / "journal.sqlite")
            journal.open_session(network="localhost", asset=ETH, strategy="glft-ladder", seed=None,
                                 started_ns=a.clock.now_ns() - 10**9, start_position=Decimal(0),
                                 start_entry=Decimal(0), adverse_horizon_s=5.0, capital_usd=1000.0,
                                 account=a.account_id)
            await _take(a, got, ex, 3)
            fills = [e for e in got.events if isinstance(e, Fill)]
            journal.add_fill(fills[0], mid=None, position_after=None)
            journal.commit()  # ... and the process is killed here: the session never records its end
            observation = Observation(hub=ObserveHub(ETH), attribution=PnlAttribution(), journal=journal)
            engine = SimpleNamespace(settings=Settings(network=NetworkConfig(name="localhost")), asset=ETH, now_ns=0)
            await observation.on_connected(engine, a)
            assert observation.hub.recovered_fills == len(fills) - 1
            assert observation.hub.reconciliation_discrepancies == 0
            assert journal.session_position(1) == server_position(ex, a.user) == Decimal("0.03")
            rows = journal.conn.execute("SELECT source, COUNT(*) FROM fills GROUP BY source").fetchall()
            assert {r[0]: r[1] for r in rows} == {"live": 1, "recovered": len(fills) - 1}
            journal.close()
            await got.stop()

    run(body())
