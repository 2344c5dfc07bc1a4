"""`mmtool run` end to end on the simulated exchange: fills, limits, clean exit, determinism, kills, signals."""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from mmtool.cli import main
from mmtool.core.config_loader import load_settings
from mmtool.core.plugins import load_registry
from mmtool.core.runner import RunOptions
from mmtool.core.session import run_session

MMTOOL = str(Path(sys.executable).with_name("mmtool"))
STRATEGIES = ["symmetric", "inventory-aware", "glft", "glft-ladder", "hjb"]


def run_cli(tmp_path: Path, *args: str) -> tuple[int, dict, str]:
    """Run `mmtool run` in-process with a summary file; return exit code, summary and output."""
    summary = tmp_path / "summary.json"
    runner = CliRunner()
    result = runner.invoke(
        main,
        ["--log-level", "WARNING", "run", "--speed", "max", "--summary-json", str(summary), *args],
        catch_exceptions=False,
    )
    data = json.loads(summary.read_text()) if summary.exists() else {}
    return result.exit_code, data, result.output


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    # The kill marker and any file a run writes land in the test's own folder.
    monkeypatch.chdir(tmp_path)


def test_glft_ladder_30s_fills_within_limits_and_leaves_no_order(tmp_path):
    code, s, out = run_cli(tmp_path, "--strategy", "glft-ladder", "--duration", "30", "--seed", "1")
    assert code == 0, out
    assert s["fills"] > 0
    assert s["open_orders_at_exit"] == 0
    assert s["max_abs_position"] <= s["position_limit"]
    assert s["kill_switch_events"] == 0
    assert s["position"] == s["exchange_position"], "local position agrees with the exchange's"
    # A simulated clock: no wall-clock latency in the summary, so seeded runs stay identical.
    assert s["order_path_count"] == 0 and s["order_path_p50_us"] is None and s["decision_latency_p50_us"] is None
    assert math.isclose(s["total_pnl"], s["realized_pnl"] + s["unrealized_pnl"] - s["fees"] + s["funding"],
                        abs_tol=1e-5)


def test_same_seed_gives_identical_summaries(tmp_path):
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    a_dir.mkdir()
    b_dir.mkdir()
    _, a, _ = run_cli(a_dir, "--duration", "30", "--seed", "1")
    _, b, _ = run_cli(b_dir, "--duration", "30", "--seed", "1")
    _, c, _ = run_cli(b_dir, "--duration", "30", "--seed", "2")
    assert a == b
    assert a != c


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_runs_20s(tmp_path, strategy):
    code, s, out = run_cli(tmp_path, "--strategy", strategy, "--duration", "20", "--seed", "1")
    assert code == 0, out
    assert s["strategy"] == strategy
    assert s["open_orders_at_exit"] == 0
    assert s["orders_placed"] > 0


def test_tiny_daily_loss_limit_kills_with_nonzero_exit_and_no_order_left(tmp_path):
    code, s, out = run_cli(tmp_path, "--duration", "60", "--seed", "7", "--max-daily-loss", "0.2")
    assert code == 3, out
    assert s["kill_switch_events"] >= 1
    assert any(r.startswith("daily-loss") for r in s["kill_switch_reasons"])
    assert s["open_orders_at_exit"] == 0
    assert (tmp_path / ".mmtool-kill").exists()
    # A crash loop cannot keep trading: the next start refuses until the marker is removed or reset.
    code2, _, out2 = run_cli(tmp_path, "--duration", "5", "--seed", "7")
    assert code2 != 0 and "--reset-kill" in out2
    code3, s3, out3 = run_cli(tmp_path, "--duration", "20", "--seed", "7", "--reset-kill")
    assert code3 == 0, out3
    assert s3["kill_switch_events"] == 0
    assert not (tmp_path / ".mmtool-kill").exists()


def test_default_limits_seed_7_ends_cleanly(tmp_path):
    code, s, out = run_cli(tmp_path, "--duration", "60", "--seed", "7")
    assert code == 0, out
    assert s["kill_switch_events"] == 0
    assert s["open_orders_at_exit"] == 0


def _session(overrides: dict, duration: float) -> dict:
    registry = load_registry()
    settings = load_settings(None, env={}, overrides={"plugins.sim.speed": math.inf, **overrides})
    options = RunOptions(duration_s=duration, flatten_on_kill=settings.risk.flatten_on_kill)
    outcome = asyncio.run(run_session(settings, registry, options, seed=overrides.get("plugins.sim.seed")))
    return outcome.summary


def test_cascade_and_crash_never_exceed_limits_and_leave_no_order():
    summary = _session(
        {
            "plugins.sim.seed": 3,
            "plugins.sim.cascade_at_secs": [60.0],
            "plugins.sim.cascade_move_bps": 150.0,
            "trading.max_absolute_position_size": 0.6,
        },
        duration=180,
    )
    assert summary["max_abs_position"] <= 0.6
    assert summary["open_orders_at_exit"] == 0


def test_shutdown_retries_cancels_that_fail_twice(tmp_path):
    summary = _session({"plugins.sim.seed": 1, "plugins.sim.cancel_failures": 2}, duration=30)
    assert summary["open_orders_at_exit"] == 0
    assert summary["stop_reason"] == "duration reached"


def test_sigint_during_real_time_run_cancels_everything_and_exits_0(tmp_path):
    summary = tmp_path / "s.json"
    proc = subprocess.Popen(
        [MMTOOL, "--log-level", "INFO", "run", "--speed", "20", "--seed", "1", "--summary-json", str(summary)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 60
        seen = []
        assert proc.stdout is not None
        for line in proc.stdout:
            seen.append(line)
            if "Fill processed" in line or time.monotonic() > deadline:
                break
        proc.send_signal(signal.SIGINT)
        rest, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    output = "".join(seen) + rest
    assert proc.returncode == 0, output
    data = json.loads(summary.read_text())
    assert data["stop_reason"] == "SIGINT"
    assert data["open_orders_at_exit"] == 0
    assert "Final position and PnL" in output


def test_flatten_on_kill_closes_the_position_with_reduce_only_orders():
    summary = _session(
        {"plugins.sim.seed": 7, "risk.max_daily_loss_usd": 0.2, "risk.flatten_on_kill": True}, duration=60
    )
    assert summary["kill_switch_events"] >= 1
    assert summary["open_orders_at_exit"] == 0
    assert summary["exchange_position"] == 0.0
    assert summary["position"] == 0.0


def test_capital_derives_the_limits():
    summary = _session({"plugins.sim.seed": 1, "trading.capital_usd": 2_000.0}, duration=20)
    # 2,000 USD at leverage 3: position value limit 3,000 USD, i.e. under a single ETH at ~3,500.
    assert summary["position_limit"] < 1.0
    assert summary["open_orders_at_exit"] == 0


@pytest.mark.parametrize("duration", ["-5", "0", "nan"])
def test_a_duration_that_is_not_positive_is_refused_before_anything_starts(tmp_path, duration):
    code, summary, output = run_cli(tmp_path, "--duration", duration)
    assert code == 1 and summary == {}
    assert "--duration must be > 0" in output


@pytest.mark.parametrize(("left", "message"), [
    (-1, "Error: could not confirm that no order is left open at exit: the exchange did not answer"),
    (2, "Error: 2 orders left open at exit"),
])
def test_orders_left_or_unconfirmed_at_exit_end_with_exit_code_1_and_say_which(tmp_path, monkeypatch, left, message):
    import mmtool.commands.run as run_command

    async def session(*args, **kwargs):
        return SimpleNamespace(summary={"kill_switch_events": 0, "open_orders_at_exit": left})

    monkeypatch.setattr(run_command, "run_session", session)
    code, _, output = run_cli(tmp_path, "--duration", "1", "--no-journal")
    assert code == 1 and message in output
