"""Order-path work in CPU instructions: ``bench_order_path.py``'s loop counted by callgrind, not timed.

On a shared host the timings of ``bench_order_path.py`` swing by 10-30 % within minutes, more than most changes
to the order path are worth. Instructions executed do not depend on what else the host runs: this script runs the
benchmark's loop (the same warm-up, then book messages with a trade message every third: decode, ``Engine.handle``,
build + sign + encode, acknowledgements) under ``valgrind --tool=callgrind`` for 0 and for N book messages and
prints the difference per book message, so start-up and warm-up cancel out. Instructions are not time (a cache
miss costs more than many instructions), but a change that removes work shows up here reliably.

It also prints a digest of every action the engine took over the feed (from a third, uncounted run): a change
that is meant to keep every decision must leave it as it was.

Needs valgrind (``apt install valgrind``); the two counted runs take about two minutes each and run side by side.

Usage: .venv/bin/python benchmarks/count_order_path.py [--messages N] [--seed N]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_order_path as bench  # noqa: E402  (the benchmark's own feed, engine and steps)

from mmtool.core.gcquiet import quiet_gc  # noqa: E402

COLLECTED = re.compile(r"Collected : (\d+)")
WARM_UP = 3000


def feed(messages: int, seed: int, digest_actions: bool) -> tuple[int, str]:
    """Run the benchmark's loop over ``messages`` book messages; return the number of actions and their digest
    (when ``digest_actions``: the counted runs leave it out, it is not order-path work)."""
    logging.disable(logging.WARNING)
    asyncio.set_event_loop(asyncio.new_event_loop())
    adapter, engine = bench.build()
    market = bench.Market(seed)
    digest = hashlib.sha256()
    count = 0

    def take(actions: list) -> list:
        nonlocal count
        if digest_actions:
            count += len(actions)
            for action in actions:
                digest.update(repr(action).encode())
        return actions

    ts = bench.T0_MS * 1_000_000
    with quiet_gc():
        for i in range(WARM_UP):
            ts += 50_000_000
            for event in bench.on_raw(adapter, market.trades() if i % 2 else market.book(), ts):
                for ack in bench.acks(take(engine.handle(event)), ts):
                    take(engine.handle(ack))
        for i in range(messages):
            ts += 50_000_000
            if i % 3 == 0:
                for event in bench.on_raw(adapter, market.trades(), ts):
                    for ack in bench.acks(take(engine.handle(event)), ts):
                        take(engine.handle(ack))
            events = bench.on_raw(adapter, market.book(), ts)
            actions = take([a for event in events for a in engine.handle(event)])
            bench.send_bytes(adapter, actions, i)
            engine.commit()
            for ack in bench.acks(actions, ts):
                take(engine.handle(ack))
    return count, digest.hexdigest()[:16]


def counted(messages: int, seed: int, out_dir: str) -> subprocess.Popen[str]:
    """Start this script's inner loop under callgrind (fixed hash seed, so both runs hash alike)."""
    cmd = [
        "valgrind", "--tool=callgrind", f"--callgrind-out-file={out_dir}/callgrind.{messages}",
        sys.executable, __file__, "--inner", "--messages", str(messages), "--seed", str(seed),
    ]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def instructions(proc: subprocess.Popen[str]) -> int:
    """The instructions callgrind collected in a run."""
    _, stderr = proc.communicate()
    found = COLLECTED.findall(stderr)
    if proc.returncode != 0 or not found:
        raise SystemExit(f"callgrind run failed (exit {proc.returncode}):\n{stderr[-2000:]}")
    return int(found[-1])


def main() -> None:
    """Count, or (``--inner``) run the loop once and print its actions' digest."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000, help="book messages counted")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--inner", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--digest", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.inner:
        count, digest = feed(args.messages, args.seed, args.digest)
        if args.digest:
            print(f"actions={count} digest={digest}")
        return
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed: apt install valgrind")
    if args.messages <= 0:
        raise SystemExit("--messages must be positive")
    with tempfile.TemporaryDirectory(prefix="mmtool-count-") as out_dir:
        base_proc, full_proc = counted(0, args.seed, out_dir), counted(args.messages, args.seed, out_dir)
        base = instructions(base_proc)
        full = instructions(full_proc)
    count, digest = feed(args.messages, args.seed, digest_actions=True)
    per_message = (full - base) / args.messages
    print(f"messages={args.messages} seed={args.seed} python={sys.version.split()[0]}")
    print(f"instructions warm_up_only={base:,} with_messages={full:,}")
    print(f"instructions_per_book_message={per_message:,.0f}")
    print(f"actions={count} digest={digest}")


if __name__ == "__main__":
    main()
