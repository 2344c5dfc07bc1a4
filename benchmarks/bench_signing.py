"""Microseconds per signed Hyperliquid L1 order action: our coincurve signer against the official SDK.

Signs an ``order`` action of 1 order and of 10 orders with ``Signer.sign_l1_action`` (our EIP-712 digest and
libsecp256k1 through coincurve) and with the SDK's ``sign_l1_action`` (eth-account), and prints the median
microseconds per signed action over several timing rounds. Also shows which keccak backend ours uses.
The SDK part runs only when ``hyperliquid-python-sdk`` is installed (it is a test dependency).

Usage: .venv/bin/python benchmarks/bench_signing.py [--rounds N] [--number N]
"""

from __future__ import annotations

import argparse
import statistics
import timeit
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from mmtool.core.types import Tif
from mmtool.plugins.exchanges.hyperliquid import signing
from mmtool.plugins.exchanges.hyperliquid.wire import order_action, order_wire

KEY = "0x" + "4c" * 32
NONCE = 1_700_000_000_000


def _action(n: int) -> dict[str, Any]:
    wires = [
        order_wire(1, i % 2 == 0, Decimal("3500.5") + i, Decimal("0.0123"), False, Tif.ALO, f"0x{i:032x}")
        for i in range(n)
    ]
    return order_action(wires)


def _median_us(fn: Callable[[], object], rounds: int, number: int) -> float:
    times = timeit.repeat(fn, number=number, repeat=rounds)
    return statistics.median(times) / number * 1e6


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="timing rounds; the median is reported")
    parser.add_argument("--number", type=int, default=2000, help="signatures per round")
    args = parser.parse_args()

    ours = signing.Signer(KEY)
    backend = "safe-pysha3" if signing.keccak256 is signing._keccak_pysha3 else "pycryptodome"
    print(f"keccak backend: {backend}")
    try:
        from eth_account import Account
        from hyperliquid.utils.signing import sign_l1_action as sdk_sign
    except ImportError:
        sdk_sign = None
        print("hyperliquid-python-sdk not installed: SDK figures skipped")

    wallet = Account.from_key(KEY) if sdk_sign is not None else None
    print(f"{'action':<12}{'ours µs':>10}{'SDK µs':>10}{'speed-up':>10}")
    for n in (1, 10):
        action = _action(n)
        ours_us = _median_us(lambda a=action: ours.sign_l1_action(a, None, NONCE, None, True), args.rounds, args.number)
        line = f"{f'{n} order(s)':<12}{ours_us:>10.1f}"
        if sdk_sign is not None:
            expected = ours.sign_l1_action(action, None, NONCE, None, True)
            assert sdk_sign(wallet, action, None, NONCE, None, True) == expected, "signatures differ from the SDK"
            sdk_us = _median_us(
                lambda a=action: sdk_sign(wallet, a, None, NONCE, None, True), args.rounds, max(args.number // 10, 50)
            )
            line += f"{sdk_us:>10.1f}{sdk_us / ours_us:>9.1f}x"
        print(line)


if __name__ == "__main__":
    main()
