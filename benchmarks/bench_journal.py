"""Journal commit latency: the commit each batch waits for before it is sent, with and without background checkpoints.

A run's journal commits every batch of actions before it leaves. In WAL mode a commit only appends to the log; the
disk syncs happen when the log is copied back into the file (a checkpoint). This writes a session's worth of
batches (three modifies each, one commit per batch, ``--pace-ms`` apart) into a fresh journal twice: once with
SQLite's automatic checkpoints, which run inside the commit that grows the log past 1,000 pages, and once with
them on a background thread every ``--checkpoint-secs`` (``journal.checkpoint_secs``, the default for runs).
Prints, per mode, the commit time's p50 / p99 / p99.9 / max in microseconds and how many commits took over 1 ms.

Usage: .venv/bin/python benchmarks/bench_journal.py [--commits N] [--pace-ms MS] [--checkpoint-secs S]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from mmtool.core.types import Modify, Side, Tif
from mmtool.observe.journal import Journal

BATCH = [Modify(f"0x{i:032x}", "ETH", Side.BUY, Decimal("3500.1"), Decimal("0.1234"), tif=Tif.ALO) for i in range(3)]


def commit_times(path: Path, commits: int, pace_s: float, checkpoint_secs: float) -> list[int]:
    """Nanoseconds of each write-and-commit of one batch."""
    journal = Journal(path, checkpoint_secs=checkpoint_secs)
    journal.open_session(network="localhost", asset="ETH", strategy="bench", seed=None, started_ns=0,
                         start_position=Decimal(0), start_entry=None, adverse_horizon_s=5.0, capital_usd=0.0)
    times = []
    try:
        for i in range(commits):
            t0 = time.perf_counter_ns()
            journal.add_actions(i, BATCH)
            journal.commit()
            times.append(time.perf_counter_ns() - t0)
            if pace_s > 0:
                time.sleep(pace_s)
    finally:
        journal.close()
    return times


def main() -> None:
    """Run both modes and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commits", type=int, default=15_000)
    parser.add_argument("--pace-ms", type=float, default=1.0, help="pause between batches")
    parser.add_argument("--checkpoint-secs", type=float, default=10.0)
    args = parser.parse_args()
    print(f"commits={args.commits} pace_ms={args.pace_ms} actions_per_batch={len(BATCH)}")
    for label, secs in (("in_commit", 0.0), (f"background_{args.checkpoint_secs:g}s", args.checkpoint_secs)):
        with tempfile.TemporaryDirectory() as folder:
            times = sorted(commit_times(Path(folder) / "bench.sqlite", args.commits, args.pace_ms / 1e3, secs))
        n = len(times)
        over = sum(t > 1_000_000 for t in times)
        print(f"checkpoints={label} commit_us p50={times[n // 2] / 1e3:.0f} p99={times[int(n * 0.99)] / 1e3:.0f} "
              f"p999={times[int(n * 0.999)] / 1e3:.0f} max={times[-1] / 1e3:.0f} over_1ms={over}")


if __name__ == "__main__":
    main()
