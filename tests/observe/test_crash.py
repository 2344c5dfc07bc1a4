"""SIGKILL a running ``mmtool run``: the journal keeps every fill, the next start recovers, the report agrees.

Ground truth. The simulated exchange lives inside the killed process, so there is no exchange left to ask
afterwards; what the engine saw is in its JSON log instead: one ``Fill processed`` line per fill, written
(and flushed) as the engine applies the fill, *before* the journal observer commits it. So the journaled
trade ids must be exactly the logged ones, except at most the one fill whose event was being handled when
the kill landed (logged, not yet committed: on a live network the exchange's fill history gives it back
at the next start). Every JSON log line must parse and carry ts, level, logger and event.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

MMTOOL = [str(Path(sys.executable).with_name("mmtool"))]


def fills_in(path: Path) -> int:
    if not path.exists():
        return 0
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
        try:
            return conn.execute("SELECT COUNT(*) FROM fills").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:
        return 0


def run(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([*MMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


def test_journal_survives_sigkill(tmp_path: Path) -> None:
    journal, log = tmp_path / "j.sqlite", tmp_path / "run.log"
    proc = subprocess.Popen(
        [*MMTOOL, "--log-format", "json", "--log-file", str(log), "run", "--journal", str(journal),
         "--duration", "100000", "--speed", "max", "--seed", "2"],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while fills_in(journal) < 8 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "the run ended before it could be killed"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    lines = [json.loads(line) for line in log.read_text().splitlines()]
    assert all({"ts", "level", "logger", "event"} <= set(line) for line in lines)
    logged = [line["trade_id"] for line in lines if line["event"] == "Fill processed"]
    conn = sqlite3.connect(journal)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    journaled = [r[0] for r in conn.execute("SELECT trade_id FROM fills ORDER BY ts_local_ns, rowid")]
    conn.close()
    assert len(journaled) >= 8
    assert journaled == logged[: len(journaled)]
    assert len(logged) - len(journaled) <= 1

    # Restart on the same journal: the killed session is marked crashed, the new one runs and stops cleanly.
    summary_path = tmp_path / "summary.json"
    second = run(["--log-format", "json", "run", "--journal", str(journal), "--duration", "120", "--speed", "max",
                  "--seed", "2", "--summary-json", str(summary_path)], tmp_path)
    assert second.returncode == 0, second.stderr[-2000:]
    assert "previous session did not stop cleanly" in second.stderr
    summary = json.loads(summary_path.read_text())
    crashed = json.loads(run(["report", "--journal", str(journal), "--session", "1", "--json"], tmp_path).stdout)
    assert crashed["stop_reason"] == "crashed" and crashed["fills"] == len(journaled)
    latest = json.loads(run(["report", "--journal", str(journal), "--json"], tmp_path).stdout)
    assert latest["session"] == 2
    for key in ("fills", "volume", "position", "total_pnl", "realized_pnl", "fees", "orders_placed",
                "orders_modified", "orders_cancelled", "kill_switch_events"):
        assert latest[key] == summary[key], key
