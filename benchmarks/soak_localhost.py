"""Soak: a long ``mmtool run`` against a faulty local exchange; memory over time, and the books checked at the end.

Starts ``mmtool exchange serve`` on a free loopback port with fault injection (by default: a dropped WebSocket
every 2 minutes, 1 % of HTTP answers 429 and 1 % 5xx, 2 % of user events duplicated and 2 % reordered), then
``mmtool run --network localhost`` against it for ``--duration`` seconds with a fresh key and the journal on.
Every ``--sample-secs`` it reads both processes' resident memory. At the end it prints:

- the memory of the market maker (and of the exchange) after the warm-up and at the end, and its growth in MB
  per hour (least squares over the samples after the warm-up), which should flatten once the session's bounded
  structures are full;
- the session's fills, volume, fees and position against the exchange's own record of them (the server's JSON
  log) and against the journal, trade id by trade id, and the orders left open at exit.

It exits with 1 when the books disagree. The traffic stays on 127.0.0.1; both processes are stopped at the end.

Usage: .venv/bin/python benchmarks/soak_localhost.py [--duration SECONDS] [--sample-secs N] [--keep DIR]
       [--faults "--drop-ws-every 120 --http-429 0.01 ..."]
"""

from __future__ import annotations

import argparse
import json
import shlex
import sqlite3
import sys
import tempfile
import threading
import time
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_live_order_path as live  # noqa: E402  (the exchange and session launchers)

from mmtool.plugins.exchanges.hyperliquid.signing import Signer  # noqa: E402

FAULTS = ("--drop-ws-every 120 --http-429 0.01 --http-5xx 0.01 --duplicate-user-events 0.02 "
          "--reorder-user-events 0.02")


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process in MB, or None once it has ended."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def growth_mb_per_hour(samples: list[tuple[float, float]]) -> float | None:
    """The least-squares slope of (seconds, MB) samples, in MB per hour (None with fewer than three)."""
    if len(samples) < 3:
        return None
    n = len(samples)
    mean_t = sum(t for t, _ in samples) / n
    mean_m = sum(m for _, m in samples) / n
    var = sum((t - mean_t) ** 2 for t, _ in samples)
    if var == 0:
        return None
    return sum((t - mean_t) * (m - mean_m) for t, m in samples) / var * 3600


def server_fills(log: Path, address: str) -> dict[int, tuple[Decimal, Decimal, Decimal, str]]:
    """The exchange's record of the address's fills: trade id -> (price, size, fee, side B/A)."""
    out = {}
    for line in log.read_text().splitlines():
        record = json.loads(line)
        if record.get("kind") == "fill" and str(record.get("user", "")).lower() == address:
            out[int(record["tid"])] = (Decimal(record["px"]), Decimal(record["sz"]), Decimal(record["fee"]),
                                       record["side"])
    return out


def journal_fills(path: Path) -> dict[int, tuple[Decimal, Decimal, Decimal, str]]:
    """The journal's fills: trade id -> (price, size, fee, side B/A)."""
    with sqlite3.connect(path) as db:
        rows = db.execute("select trade_id, price, size, fee, side from fills").fetchall()
    return {int(t): (Decimal(p), Decimal(s), Decimal(f), "B" if side == "buy" else "A") for t, p, s, f, side in rows}


def check(summary: dict, server: dict, journal: dict) -> list[str]:
    """Where the session's books disagree with the exchange's (empty when they agree)."""
    problems = []
    if set(server) != set(journal):
        problems.append(f"trade ids: {len(set(server) - set(journal))} missing from the journal, "
                        f"{len(set(journal) - set(server))} not the exchange's")
    if any(server[t] != journal[t] for t in set(server) & set(journal)):
        problems.append("a journal fill differs from the exchange's in price, size, fee or side")
    volume = sum((p * s for p, s, _, _ in server.values()), Decimal(0))
    fees = sum((f for _, _, f, _ in server.values()), Decimal(0))
    position = sum((s if side == "B" else -s for _, s, _, side in server.values()), Decimal(0))
    for key, theirs, tolerance in (("fills", len(server), 0), ("volume", volume, 1e-4), ("fees", fees, 1e-5),
                                   ("position", position, 1e-9), ("exchange_position", position, 1e-9)):
        ours = summary.get(key)
        if ours is None or abs(float(ours) - float(theirs)) > tolerance:
            problems.append(f"{key}: session {ours}, exchange {theirs}")
    if summary.get("open_orders_at_exit") != 0:
        problems.append(f"open orders at exit: {summary.get('open_orders_at_exit')}")
    return problems


def main() -> None:
    """Run the soak and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=3600.0, help="seconds of trading (wall time)")
    parser.add_argument("--seed", type=int, default=1, help="seed of the local exchange's market")
    parser.add_argument("--sample-secs", type=float, default=10.0, help="seconds between memory readings")
    parser.add_argument("--warm-up", type=float, default=300.0, help="seconds of samples left out of the growth")
    parser.add_argument("--faults", default=FAULTS, help="fault options for mmtool exchange serve")
    parser.add_argument("--keep", type=Path, help="keep the logs, journal and summary in this folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mmtool-soak-") as tmp:
        folder = args.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)
        server_log = folder / "server.jsonl"
        proc, url = live.start_exchange(args.seed, folder, None,
                                        extra=[*shlex.split(args.faults), "--log-json", str(server_log)])
        key = "0x" + live.secrets.token_hex(32)
        address = Signer(key).address.lower()
        summary_path, journal = folder / "summary.json", folder / "journal.sqlite"
        cmd = [live.MMTOOL, "--log-level", "WARNING", "--log-file", str(folder / "run.log"), "run",
               "--network", "localhost", "--base-url", url, "--duration", str(args.duration), "--summary-json",
               str(summary_path), "--journal", str(journal), "--no-live"]
        env = {**live.os.environ, "HYPERLIQUID_PRIVATE_KEY": key, "HOME": str(folder)}
        env.pop("HYPERLIQUID_KEY_FILE", None)
        samples: list[tuple[float, float, float]] = []
        started = time.monotonic()
        maker = live.subprocess.Popen(cmd, env=env, cwd=folder, stdout=live.subprocess.DEVNULL,
                                      stderr=(folder / "run.err").open("w"))

        def sample() -> None:
            while maker.poll() is None:
                mm, ex = rss_mb(maker.pid), rss_mb(proc.pid)
                if mm is not None and ex is not None:
                    samples.append((time.monotonic() - started, mm, ex))
                time.sleep(args.sample_secs)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        try:
            maker.wait(timeout=args.duration + 120)
        except live.subprocess.TimeoutExpired:
            live.stop(maker)
        finally:
            sampler.join(timeout=args.sample_secs + 1)
            live.stop(proc)
        if not summary_path.exists():
            raise SystemExit(f"mmtool run failed (exit {maker.returncode}); see {folder / 'run.err'}")
        summary = json.loads(summary_path.read_text())
        problems = check(summary, server_fills(server_log, address), journal_fills(journal))
    late = [(t, mm, ex) for t, mm, ex in samples if t >= args.warm_up] or samples
    mm_growth = growth_mb_per_hour([(t, mm) for t, mm, _ in late])
    ex_growth = growth_mb_per_hour([(t, ex) for t, _, ex in late])
    print(f"duration_s={args.duration:.0f} url={url} faults={args.faults!r} exit={maker.returncode} "
          f"stop_reason={summary.get('stop_reason')!r}")
    print(f"fills={summary.get('fills')} volume={summary.get('volume')} position={summary.get('position')} "
          f"open_orders_at_exit={summary.get('open_orders_at_exit')} duplicate_fills={summary.get('duplicate_fills')} "
          f"bad_events={summary.get('bad_events')}")
    if late:
        print(f"maker_rss_mb after_warm_up={late[0][1]:.1f} end={late[-1][1]:.1f} "
              f"growth_mb_per_hour={mm_growth if mm_growth is None else round(mm_growth, 1)}")
        print(f"exchange_rss_mb after_warm_up={late[0][2]:.1f} end={late[-1][2]:.1f} "
              f"growth_mb_per_hour={ex_growth if ex_growth is None else round(ex_growth, 1)}")
    print(f"books_agree={not problems}" + "".join(f"\n  {p}" for p in problems))
    if problems:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
