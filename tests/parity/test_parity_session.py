"""End to end: a paper session against the local exchange, recorded while it trades, then ``mmtool parity``."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import sqlite3
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from eth_account import Account

from mmtool.backtest.recorder import Recorder
from mmtool.cli import main
from mmtool.observe.report import build_report
from mmtool.plugins.exchanges.hlserver import LocalExchange, ServerConfig

MMTOOL = str(Path(sys.executable).with_name("mmtool"))
#: A livelier synthetic market than the default (more aggressive orders, no random cascade), so that a 20 s
#: session trades.
MARKET = {"hawkes_mu": 2.0, "cascade_rate_per_hour": 0.0}
CAUSES = {"queue", "quotes", "latency", "fees", "price"}


def _config(tmp: Path) -> Path:
    path = tmp / "market_maker.toml"
    path.write_text(
        "[strategy.ladder]\n"
        "min_depth_bps = 1.0\n"
        "[risk]\n"
        'monitors = ["daily-loss", "drawdown", "position-value", "position-limit", "stale-data", "rate-limit"]\n'
        "[plugins.hyperliquid]\n"
        f'nonce_state_path = "{tmp}/nonce-{{address}}.json"\n'
    )
    return path


async def _session(tmp: Path, config: Path, journal: Path, data: Path) -> str:
    """Serve the local exchange, record ETH, run a 20 s glft-ladder session with a fresh key; return its log."""
    async with LocalExchange(ServerConfig(port=0, market=MARKET)) as ex:
        recorder = Recorder(ex.ws_url, "ETH", data)
        recording = asyncio.ensure_future(recorder.run())
        try:
            await asyncio.sleep(1.0)  # the recording holds a book before the session starts
            env = {**os.environ, "HYPERLIQUID_PRIVATE_KEY": "0x" + bytes(Account.create().key).hex(),
                   "HOME": str(tmp)}
            env.pop("HYPERLIQUID_KEY_FILE", None)
            proc = await asyncio.create_subprocess_exec(
                MMTOOL, "--log-level", "INFO", "--log-format", "compact", "run", "--config", str(config),
                "--network", "localhost", "--base-url", ex.url, "--strategy", "glft-ladder", "--duration", "20",
                "--journal", str(journal), "--summary-json", str(tmp / "summary.json"), "--no-live",
                cwd=tmp, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
            )
            out, _ = await asyncio.wait_for(proc.communicate(), 60)
            log = out.decode()
            assert proc.returncode == 0, log[-3000:]
            await asyncio.sleep(1.0)  # the tail of the session's market data
        finally:
            recording.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await recording
    assert recorder.stats.messages["l2Book"] > 0, recorder.stats
    return log


def _journal_figures(journal: Path) -> dict[str, Any]:
    conn = sqlite3.connect(journal)
    try:
        rows = conn.execute("SELECT side, price, size FROM fills WHERE session_id = 1").fetchall()
        stored = conn.execute("SELECT settings FROM sessions WHERE id = 1").fetchone()[0]
    finally:
        conn.close()
    volume = sum(Decimal(price) * Decimal(size) for _, price, size in rows)
    return {"fills": len(rows), "buys": sum(1 for side, _, _ in rows if side == "buy"),
            "volume": round(float(volume), 6), "settings": json.loads(stored)}


def test_parity_of_a_paper_session_recorded_on_the_local_exchange(tmp_path: Path) -> None:
    config, journal, data = _config(tmp_path), tmp_path / "runs" / "localhost-ETH.sqlite", tmp_path / "data"
    asyncio.run(_session(tmp_path, config, journal, data))
    figures = _journal_figures(journal)
    assert figures["settings"]["strategy"]["strategy_type"] == "glft-ladder"
    assert figures["settings"]["strategy"]["ladder"]["min_depth_bps"] == 1.0, "the run's own settings are journaled"
    assert "cascade" not in figures["settings"]["risk"]["monitors"]

    result = CliRunner().invoke(main, ["parity", "--journal", str(journal.parent), "--data", str(data),
                                       "--config", str(config), "--out", str(tmp_path / "parity")])
    assert result.exit_code == 0, result.output + repr(result.exception)
    assert "live vs backtest" in result.output and "largest divergences" in result.output
    parity = json.loads((tmp_path / "parity" / "parity.json").read_text())
    live, backtest = parity["live"], parity["backtest"]
    assert set(live) == set(backtest) == set(parity["difference"])

    # The live column is the journal's, exactly (and the journal is the run's summary).
    summary = json.loads((tmp_path / "summary.json").read_text())
    report = build_report(journal)
    assert live["fills"] == figures["fills"] == summary["fills"] == report["fills"]
    assert live["volume"] == figures["volume"] == summary["volume"] == report["volume"]
    assert live["fills_buy"] == figures["buys"] and live["fills_buy"] + live["fills_sell"] == live["fills"]
    assert abs(live["volume_buy"] + live["volume_sell"] - live["volume"]) < 1e-6
    for key in ("realized_pnl", "unrealized_pnl", "fees", "funding", "total_pnl", "orders_placed",
                "orders_modified", "orders_cancelled", "orders_rejected"):
        assert live[key] == report[key], key
    assert live["fills"] > 0, "the livelier market makes a 20 s session trade"

    # The backtest column is a real replay of the recording, with the journal's settings and latency.
    replay = parity["replay"]
    assert parity["session"]["settings_source"] == "journal" and parity["warnings"] == []
    assert replay["market_events"] > 100 and replay["events_processed"] > replay["market_events"]
    assert backtest["orders_placed"] > 0 and parity["backtest_summary"]["network"] == "replay"
    assert backtest["fills"] == parity["backtest_summary"]["fills"]
    assert replay["latency_source"] == "journal" and replay["order_latency_ms"] == live["ack_delay_ms"] > 0
    assert replay["books_adjusted"] > 0, "our live orders were taken out of the recorded books"
    assert replay["own_trades_dropped"] == live["fills"], "our fills were taken off the local exchange's tape"

    # Diagnostics: every fill matched or explained, every divergence with a cause.
    matching, diagnostics = parity["matching"], parity["diagnostics"]
    assert matching["matched"] + matching["live_only"] == live["fills"]
    assert matching["matched"] + matching["backtest_only"] == backtest["fills"]
    causes = diagnostics["fill_causes"]
    assert len(causes["live_only"]) == matching["live_only"]
    assert len(causes["backtest_only"]) == matching["backtest_only"]
    assert set(causes["live_only"]) | set(causes["backtest_only"]) <= {"queue", "quotes"}
    assert diagnostics["latency"]["live_ack_delay_ms"] == live["ack_delay_ms"]
    assert diagnostics["latency"]["backtest_ack_delay_ms"] is not None
    assert live["maker_fee_bps"] is not None and diagnostics["fees"]["live_maker_bps"] == live["maker_fee_bps"]
    assert diagnostics["fees"]["differs"] is False, "the simulator's default fees are the local exchange's"
    differing = {k for k in live if live[k] != backtest[k] and isinstance(live[k], int | float)
                 and isinstance(backtest[k], int | float)}
    assert {d["metric"] for d in parity["divergences"]} <= differing
    assert len(parity["divergences"]) == min(5, len(differing))
    assert all(d["cause"] in CAUSES and d["evidence"] for d in parity["divergences"])
    relative = [d["relative"] for d in parity["divergences"]]
    assert relative == sorted(relative, reverse=True)
    assert all(row["cause"] in CAUSES for row in parity["fill_divergences"])
    for horizon in ("1s", "5s"):
        assert f"markout_{horizon}_bps" in live and f"markout_{horizon}_bps" in backtest
