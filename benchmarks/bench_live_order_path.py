"""Live order path: a ``mmtool run`` session against the local exchange, timed from frame received to batch sent.

Starts ``mmtool exchange serve`` on a free port of 127.0.0.1 in a subprocess, then runs
``mmtool run --network localhost --strategy glft-ladder`` against it in another, with a fresh private key, the
default configuration (journal on, in a temporary folder) and the metrics endpoint on a free loopback port, so
every observer of a real session is in the path. Prints, from the run summary, the order path (a WebSocket
frame received and stamped -> the runner's queue -> ``Engine.handle`` -> observers -> build, sign, encode ->
the batch handed to the socket; one figure per signed batch) and the engine's decision latency.

The exchange runs on the same machine, which a real one does not: with two or more CPUs the server is pinned to
the last CPU and the market maker to the others (``--no-pin`` leaves both to the scheduler). Unpinned, each
``send`` on loopback wakes the server, which then verifies the signature and matches the order on the CPU the
sender was using, and the order path grows by the server's work.

The traffic stays on 127.0.0.1 (exchange, WebSocket and metrics endpoint); the server is stopped at the end.

Usage: .venv/bin/python benchmarks/bench_live_order_path.py [--duration SECONDS] [--seed N] [--no-journal] [--no-pin]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

MMTOOL = str(Path(sys.executable).with_name("mmtool"))
HOST = "127.0.0.1"
LISTENING = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


def free_port() -> int:
    """A port of 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def cpu_split(pin: bool) -> tuple[set[int] | None, set[int] | None]:
    """CPUs for the exchange and for the market maker: the last one and the others, or None (no pinning)."""
    if not pin or not hasattr(os, "sched_getaffinity"):
        return None, None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return {cpus[-1]}, set(cpus[:-1])


def spawn_on(cpus: set[int] | None, cmd: list[str], **kwargs: Any) -> subprocess.Popen[str]:
    """Start ``cmd`` (text mode) so that it inherits the affinity ``cpus``; this thread's own is restored."""
    mine = os.sched_getaffinity(0) if cpus is not None else None
    if cpus is not None:
        os.sched_setaffinity(0, cpus)
    try:
        return subprocess.Popen(cmd, text=True, **kwargs)
    finally:
        if mine is not None:
            os.sched_setaffinity(0, mine)


def start_exchange(
    seed: int, folder: Path, cpus: set[int] | None, timeout_s: float = 30.0, extra: Sequence[str] = ()
) -> tuple[subprocess.Popen[str], str]:
    """Start ``mmtool exchange serve`` (with the options ``extra``) on a free loopback port; return the process
    and its base URL."""
    log = (folder / "exchange.log").open("w")
    proc = spawn_on(
        cpus,
        [MMTOOL, "exchange", "serve", "--host", HOST, "--port", "0", "--seed", str(seed), *extra],
        stdout=log, stderr=subprocess.PIPE, cwd=folder,
    )
    found: list[str] = []
    ready = threading.Event()

    def watch() -> None:
        assert proc.stderr is not None
        for line in proc.stderr:
            log.write(line)
            match = LISTENING.search(line)
            if match and not found:
                found.append(match.group(1))
                ready.set()
        ready.set()

    threading.Thread(target=watch, daemon=True).start()
    if not ready.wait(timeout_s) or not found:
        stop(proc)
        raise SystemExit(f"the local exchange did not start; see {folder / 'exchange.log'}")
    return proc, found[0]


def stop(proc: subprocess.Popen[str]) -> None:
    """SIGTERM, then SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def run_session(url: str, args: argparse.Namespace, folder: Path, cpus: set[int] | None) -> dict:
    """Run the market maker against ``url`` for ``args.duration`` seconds; return its summary."""
    config = folder / "market_maker.toml"
    config.write_text(f'[plugins.hyperliquid]\nnonce_state_path = "{folder}/nonce-{{address}}.json"\n')
    summary = folder / "summary.json"
    env = {**os.environ, "HYPERLIQUID_PRIVATE_KEY": "0x" + secrets.token_hex(32), "HOME": str(folder)}
    env.pop("HYPERLIQUID_KEY_FILE", None)
    cmd = [
        MMTOOL, "--log-level", "WARNING", "--log-format", "compact", "--log-file", str(folder / "run.log"), "run",
        "--config", str(config), "--network", "localhost", "--base-url", url, "--strategy", args.strategy,
        "--duration", str(args.duration), "--summary-json", str(summary), "--metrics-port", str(free_port()),
        "--no-live", *(["--no-journal"] if args.no_journal else []),
    ]
    proc = spawn_on(cpus, cmd, env=env, cwd=folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=args.duration + 90)
    except subprocess.TimeoutExpired:
        stop(proc)
        raise SystemExit(f"mmtool run did not finish within {args.duration + 90:.0f} s") from None
    if not summary.exists():
        raise SystemExit(f"mmtool run failed (exit {proc.returncode}):\n{out[-3000:]}{err[-3000:]}")
    if proc.returncode != 0:
        print(f"warning: mmtool run exited with {proc.returncode}", file=sys.stderr)
    return json.loads(summary.read_text())


def main() -> None:
    """Start the exchange, run one session against it, stop the exchange, print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of trading (wall time)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the local exchange's market")
    parser.add_argument("--strategy", default="glft-ladder")
    parser.add_argument("--no-journal", action="store_true", help="leave the SQLite journal out (to see its share)")
    parser.add_argument("--no-pin", action="store_true", help="do not pin the exchange and the market maker to CPUs")
    args = parser.parse_args()
    exchange_cpus, maker_cpus = cpu_split(not args.no_pin)
    with tempfile.TemporaryDirectory(prefix="mmtool-bench-live-") as tmp:
        folder = Path(tmp)
        proc, url = start_exchange(args.seed, folder, exchange_cpus)
        t0 = time.perf_counter()
        try:
            s = run_session(url, args, folder, maker_cpus)
        finally:
            stop(proc)
        wall = time.perf_counter() - t0
    pinning = "none" if maker_cpus is None else f"exchange={sorted(exchange_cpus or ())} maker={sorted(maker_cpus)}"
    print(f"strategy={s['strategy']} network={s['network']} url={url} duration_s={s['duration']} wall_s={wall:.1f} "
          f"journal={'off' if args.no_journal else 'on'} cpus: {pinning}")
    print(
        f"events={s['events_processed']} orders_placed={s['orders_placed']} orders_modified={s['orders_modified']} "
        f"orders_cancelled={s['orders_cancelled']} fills={s['fills']} stop_reason={s['stop_reason']!r}"
    )
    print(
        f"order_path_us (frame received -> signed batch handed to the socket, per batch) "
        f"n={s['order_path_count']} p50={s['order_path_p50_us']} p99={s['order_path_p99_us']} "
        f"max={s['order_path_max_us']}"
    )
    print(f"decision_latency_us (Engine.handle, every event) p50={s['decision_latency_p50_us']} "
          f"p99={s['decision_latency_p99_us']}")


if __name__ == "__main__":
    main()
