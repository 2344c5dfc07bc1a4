"""How much of the order path's send stage is cold caches: each step timed in the path, then again at once.

``bench_order_path.py`` times the build + sign + encode stage right after ``Engine.handle``, whose work evicts
what that stage reads (its code objects, dictionaries, formatted prices, libsecp256k1's tables) from the CPU's
caches. This script runs the same feed and engine and, for every book message that produced a batch, times the
stage's three steps as they happen in the path (cold), then each again right away on the same actions (warm):

- ``wire``: the unsigned action's dictionaries (``Outbound.wire_action``: prices and sizes as text, cloids checked);
- ``sign``: msgpack, three keccaks and the secp256k1 signature (``Signer.sign_l1_action``), with the same nonce;
- ``encode``: the ``/exchange`` body and the WebSocket ``post`` frame as JSON.

The warm repeats change no state (the batch is recorded as sent once, before the cold pass, untimed). The
difference between the two columns is what the path pays for finding its data and code out of the caches; the
engine's own steps pay the same kind of price, which a benchmark cannot separate without changing them.

Usage: .venv/bin/python benchmarks/bench_cold_path.py [--messages N] [--seed N]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_order_path as bench  # noqa: E402  (the benchmark's own feed, engine and acknowledgements)

from mmtool.core.gcquiet import quiet_gc  # noqa: E402
from mmtool.core.types import Cancel, Modify, Place  # noqa: E402
from mmtool.plugins.exchanges.hyperliquid import codec  # noqa: E402
from mmtool.plugins.exchanges.hyperliquid.wire import exchange_request  # noqa: E402

STEPS = ("wire", "sign", "encode")


def send_steps(adapter: bench.HyperliquidAdapter, kind: str, items: list, nonce: int, expires: int | None,
               post_id: int) -> tuple[int, int, int]:
    """Build, sign and encode one batch; the nanoseconds of each step."""
    clock = time.perf_counter_ns
    t0 = clock()
    action = adapter._outbound.wire_action(kind, items)
    t1 = clock()
    signature = adapter.signer.sign_l1_action(action, adapter.vault_address, nonce, expires, adapter.is_mainnet)
    t2 = clock()
    body = exchange_request(action, nonce, signature, adapter.vault_address, expires)
    codec.dumps({"method": "post", "id": post_id, "request": {"type": "action", "payload": body}})
    t3 = clock()
    return t1 - t0, t2 - t1, t3 - t2


def run(messages: int, seed: int) -> dict[str, tuple[list[int], list[int]]]:
    """The cold and warm nanoseconds of each step, per batch of the feed."""
    asyncio.set_event_loop(asyncio.new_event_loop())  # the adapter's queue lives on a loop
    adapter, engine = bench.build()
    market = bench.Market(seed)
    ts = bench.T0_MS * 1_000_000
    for i in range(3000):  # warm-up, as bench_order_path.py
        ts += 50_000_000
        for event in bench.on_raw(adapter, market.trades() if i % 2 else market.book(), ts):
            for ack in bench.acks(engine.handle(event), ts):
                engine.handle(ack)
    figures: dict[str, tuple[list[int], list[int]]] = {step: ([], []) for step in STEPS}
    with quiet_gc():
        for i in range(messages):
            ts += 50_000_000
            if i % 3 == 0:
                for event in bench.on_raw(adapter, market.trades(), ts):
                    for ack in bench.acks(engine.handle(event), ts):
                        engine.handle(ack)
            actions = [a for event in bench.on_raw(adapter, market.book(), ts) for a in engine.handle(event)]
            for kind, cls in (("cancel", Cancel), ("modify", Modify), ("order", Place)):
                items = [a for a in actions if isinstance(a, cls)]
                if not items:
                    continue
                adapter._outbound.record_sent(kind, items)  # untimed, so that both passes below are pure
                nonce, expires = adapter.nonces.next(), adapter.expiry_ms(kind)
                cold = send_steps(adapter, kind, items, nonce, expires, i)
                warm = send_steps(adapter, kind, items, nonce, expires, i)
                for step, c, w in zip(STEPS, cold, warm, strict=True):
                    figures[step][0].append(c)
                    figures[step][1].append(w)
            engine.commit()
            for ack in bench.acks(actions, ts):
                engine.handle(ack)
    return figures


def main() -> None:
    """Run and print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=3000, help="timed l2Book messages")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    figures = run(args.messages, args.seed)
    n = len(figures["wire"][0])
    print(f"batches={n} messages={args.messages} seed={args.seed}")
    print(f"{'step':8} {'in path p50 us':>15} {'again p50 us':>13} {'ratio':>6}")
    total_cold = total_warm = 0.0
    for step in STEPS:
        cold = float(np.median(figures[step][0])) / 1e3
        warm = float(np.median(figures[step][1])) / 1e3
        total_cold += cold
        total_warm += warm
        print(f"{step:8} {cold:15.1f} {warm:13.1f} {cold / warm:6.1f}")
    print(f"{'sum':8} {total_cold:15.1f} {total_warm:13.1f} {total_cold / total_warm:6.1f}")


if __name__ == "__main__":
    main()
