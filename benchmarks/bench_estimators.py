"""Per-event cost of each built-in estimator on a synthetic stream: prints microseconds per event.

Run: ``.venv/bin/python benchmarks/bench_estimators.py [events]``. Each estimator gets the same seeded stream
(books, trades, mids, our acks and fills, timers) and is timed for ``on_event`` alone and for ``on_event``
followed by ``values()``, as the engine calls them.
"""

from __future__ import annotations

import math
import sys
import time
from decimal import Decimal

import numpy as np

from mmtool.core.components import ComponentContext, MarketState
from mmtool.core.config import Settings
from mmtool.core.rounding import AssetRules
from mmtool.core.types import (
    BookLevel,
    BookUpdate,
    Event,
    Fill,
    L2Book,
    Liquidity,
    MidUpdate,
    OrderStatus,
    OrderUpdate,
    Side,
    Timer,
    Trade,
)
from mmtool.plugins.estimators import fills, hawkes, intensity, kalman, market, microprice, volatility

ASSET = "ETH"
MODULES = (volatility, intensity, microprice, kalman, hawkes, market, fills)


def _d(x: float, places: int = 1) -> Decimal:
    return Decimal(f"{x:.{places}f}")


def stream(n: int, seed: int = 1) -> list[tuple[Event, MarketState]]:
    """A synthetic event stream with the MarketState the engine would pass along."""
    rng = np.random.default_rng(seed)
    out: list[tuple[Event, MarketState]] = []
    m, t = 3000.0, 0
    while len(out) < n:
        t += int(rng.exponential(0.05) * 1e9) + 1
        m *= math.exp(rng.normal(0.0, 3e-5))
        bid, ask = round(m - 0.05, 1), round(m - 0.05, 1) + 0.1
        mid = 0.5 * (bid + ask)
        state = MarketState(ASSET, t, None, mid, bid, ask)
        u = rng.uniform()
        if u < 0.45:
            levels = 10
            bids = tuple(BookLevel(_d(bid - 0.1 * i), _d(rng.uniform(0.5, 20), 3)) for i in range(levels))
            asks = tuple(BookLevel(_d(ask + 0.1 * i), _d(rng.uniform(0.5, 20), 3)) for i in range(levels))
            out.append((BookUpdate(ASSET, L2Book(bids, asks), t, t), state))
        elif u < 0.85:
            side = Side.BUY if rng.uniform() < 0.5 else Side.SELL
            px = (ask if side is Side.BUY else bid) + side.sign * 0.1 * int(rng.exponential(1.0))
            out.append((Trade(ASSET, _d(px), _d(rng.exponential(1.0), 3), side, str(t), t, t), state))
        elif u < 0.93:
            out.append((MidUpdate(ASSET, _d(mid, 2), t, t), state))
        elif u < 0.97:
            k = int(rng.integers(0, 5))
            side = Side.BUY if k % 2 else Side.SELL
            px = bid - 0.1 * k if side is Side.BUY else ask + 0.1 * k
            status = OrderStatus.RESTING
            out.append((OrderUpdate(ASSET, f"o{k}", status, t, t, price=_d(px), size=Decimal("0.5")), state))
        elif u < 0.99:
            k = int(rng.integers(0, 5))
            side = Side.BUY if k % 2 else Side.SELL
            px = bid - 0.1 * k if side is Side.BUY else ask + 0.1 * k
            out.append(
                (Fill(ASSET, f"o{k}", None, str(t), side, _d(px), Decimal("0.1"), Decimal(0), Liquidity.MAKER, t, t),
                 state)
            )
        else:
            out.append((Timer(t, t), state))
    return out


def main(n: int = 50_000) -> None:
    """Time every registered estimator on the same stream and print a table."""
    ctx = ComponentContext(ASSET, AssetRules(ASSET, 4), Settings())
    events = stream(n)
    print(f"{n} events (45% books of 10 levels/side, 40% trades, 8% mids, 4% acks, 2% fills, 1% timers)")
    print(f"{'estimator':22s} {'on_event us':>12s} {'+values() us':>13s}")
    for module in MODULES:
        for cls in module.mmtool_register_estimators():
            est = cls.from_config(cls.Config(), ctx)
            start = time.perf_counter()
            for event, state in events:
                est.on_event(event, state)
            plain = (time.perf_counter() - start) / n * 1e6
            est = cls.from_config(cls.Config(), ctx)
            start = time.perf_counter()
            for event, state in events:
                est.on_event(event, state)
                est.values()
            both = (time.perf_counter() - start) / n * 1e6
            print(f"{cls.name:22s} {plain:12.1f} {both:13.1f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 50_000)
