"""A full ``mmtool run --network localhost`` session against the local exchange, which drops its sockets."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from decimal import Decimal
from pathlib import Path

from hla_helpers import KEY, account, exchange, open_cloids, run, server_position

from mmtool.plugins.exchanges.hlserver.config import FaultConfig, StallWindow
from mmtool.plugins.exchanges.hyperliquid.signing import Signer

MMTOOL = str(Path(sys.executable).with_name("mmtool"))


async def mmtool_run(
    tmp_path: Path, url: str, *, duration: int, timeout: float, risk: str = "", hyperliquid: str = ""
) -> tuple[int, str, dict]:
    """``mmtool run --network localhost`` on ``url`` as a subprocess, with the given ``[risk]`` and
    ``[plugins.hyperliquid]`` lines (and a nonce file of its own): its exit code, its log and its summary."""
    (tmp_path / "market_maker.toml").write_text(
        f"[risk]\n{risk}[plugins.hyperliquid]\n{hyperliquid}"
        f'nonce_state_path = "{tmp_path}/nonce-{{address}}.json"\n'
    )
    env = {**os.environ, "HYPERLIQUID_PRIVATE_KEY": KEY, "HOME": str(tmp_path)}
    env.pop("HYPERLIQUID_KEY_FILE", None)
    proc = await asyncio.create_subprocess_exec(
        MMTOOL, "--log-level", "INFO", "--log-format", "compact", "run", "--config",
        str(tmp_path / "market_maker.toml"), "--network", "localhost", "--base-url", url,
        "--strategy", "glft-ladder", "--duration", str(duration), "--summary-json", str(tmp_path / "summary.json"),
        "--no-journal", "--no-live",
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode, out.decode(), json.loads((tmp_path / "summary.json").read_text())


def test_glft_ladder_session_survives_socket_drops_and_matches_the_exchange(tmp_path: Path) -> None:
    async def body() -> None:
        async with exchange(faults=FaultConfig(ws_drop_every_secs=9.0)) as ex:
            code, log, summary = await mmtool_run(
                tmp_path, ex.url, duration=30, timeout=75, hyperliquid="audit_interval_secs = 3.0\n"
            )
            assert code == 0, log[-3000:]
            user = Signer(KEY).address.lower()
            fills = account(ex, user).fills
            assert summary["open_orders_at_exit"] == 0 and open_cloids(ex, user) == set()
            assert summary["fills"] > 0 and summary["fills"] == len(fills), "every fill counted once"
            assert Decimal(str(summary["position"])) == server_position(ex, user)
            assert Decimal(str(summary["exchange_position"])) == server_position(ex, user)
            volume = sum(Decimal(f["px"]) * Decimal(f["sz"]) for f in fills)
            assert abs(float(volume) - summary["volume"]) < 1e-6
            assert summary["kill_switch_events"] == 0 and summary["orders_placed"] > 0
            # Wall clock: the order path (frame received -> batch handed to the socket) is measured. Generous
            # bound: CI machines are slow, and timing is never asserted tightly.
            assert summary["order_path_count"] > 0
            assert 0 < summary["order_path_p50_us"] < 50_000
            assert summary["order_path_p50_us"] <= summary["order_path_p99_us"] <= summary["order_path_max_us"]
            assert summary["decision_latency_p50_us"] > 0
            drops = [r for r in ex.journal.of_kind("fault") if "drop" in str(r.get("fault", ""))]
            assert len(drops) >= 2, ex.journal.of_kind("fault")
            assert log.count("WebSocket back and resynchronised") >= 2, log[-3000:]
            assert KEY[2:] not in log, "the key is never logged"
            assert Signer(KEY).address in log, "the signing address is logged at start"
            assert account(ex, user).scheduled_cancel_ms is None, "dead man's switch cleared on a clean exit"

    run(body())


def test_stale_market_data_kills_at_its_limit_not_at_the_next_periodic_timer(tmp_path: Path) -> None:
    """The market data stalls; the adapter wakes the engine when the stale-data limit is due, so the kill's
    figure (the data's age) is the limit itself, where the periodic 1 s timer alone would give up to 1 s more."""
    limit = 1.5

    async def body() -> None:
        async with exchange(faults=FaultConfig(stall_book=(StallWindow(6.0, 30.0),))) as ex:
            _, log, summary = await mmtool_run(tmp_path, ex.url, duration=25, timeout=60,
                                               risk=f"stale_data_secs = {limit}\n",
                                               hyperliquid="timer_interval_secs = 1.0\n")
            assert summary["kill_switch_reasons"] == ["stale-data: market data is stale"], log[-3000:]
            kill = next(line for line in log.splitlines() if "KILL SWITCH TRIGGERED" in line)
            age = float(re.search(r"value=([0-9.]+)", kill).group(1))
            assert limit <= age < limit + 0.25, kill
            assert summary["open_orders_at_exit"] == 0

    run(body())
