"""Event builders, a replay helper and process simulators for the estimator tests (seeded, offline)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import numpy as np

from mmtool.core.components import ComponentContext, MarketState
from mmtool.core.config import Settings, StrategyConfig
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

NS = 1_000_000_000
ASSET = "ETH"


def ctx(**strategy: Any) -> ComponentContext:
    """A component context for ETH with optional ``[strategy]`` overrides."""
    return ComponentContext(ASSET, AssetRules(ASSET, 4), Settings(strategy=StrategyConfig(**strategy)))


def d(x: float) -> Decimal:
    """A float as a Decimal with enough digits for prices and sizes."""
    return Decimal(repr(float(x)))


def ns(secs: float) -> int:
    """Seconds to integer nanoseconds."""
    return int(round(secs * NS))


def book(t: float, bid: float, ask: float, bid_size: float = 1.0, ask_size: float = 1.0) -> BookUpdate:
    """A one-level book update at ``t`` seconds."""
    return BookUpdate(
        ASSET, L2Book((BookLevel(d(bid), d(bid_size)),), (BookLevel(d(ask), d(ask_size)),)), ns(t), ns(t)
    )


def raw_book(t: float, bids: Iterable[tuple[Any, Any]], asks: Iterable[tuple[Any, Any]]) -> BookUpdate:
    """A book update from raw (price, size) pairs, Decimals or strings, for bad-data tests."""
    def levels(pairs: Iterable[tuple[Any, Any]]) -> tuple[BookLevel, ...]:
        return tuple(BookLevel(Decimal(str(p)), Decimal(str(s))) for p, s in pairs)

    return BookUpdate(ASSET, L2Book(levels(bids), levels(asks)), ns(t), ns(t))


def mid(t: float, price: float) -> MidUpdate:
    """A mid update at ``t`` seconds."""
    return MidUpdate(ASSET, d(price), ns(t), ns(t))


_trade_ids = iter(range(10**12))


def trade(t: float, price: float | Decimal, size: float | Decimal = 1.0, side: Side = Side.BUY) -> Trade:
    """A public trade at ``t`` seconds (``side`` is the aggressor)."""
    px = price if isinstance(price, Decimal) else d(price)
    sz = size if isinstance(size, Decimal) else d(size)
    return Trade(ASSET, px, sz, side, str(next(_trade_ids)), ns(t), ns(t))


def fill(t: float, side: Side, price: float, size: float = 1.0, cloid: str | None = None) -> Fill:
    """One of our fills at ``t`` seconds."""
    return Fill(
        ASSET, cloid, None, str(next(_trade_ids)), side, d(price), d(size), Decimal(0), Liquidity.MAKER, ns(t), ns(t)
    )


def resting(t: float, cloid: str, price: float, size: float) -> OrderUpdate:
    """An acknowledgement that our order rests on the book."""
    return OrderUpdate(ASSET, cloid, OrderStatus.RESTING, ns(t), ns(t), price=d(price), size=d(size))


def timer(t: float) -> Timer:
    """A timer tick at ``t`` seconds."""
    return Timer(ns(t), ns(t))


class Feed:
    """Feeds events to estimators with a MarketState that follows the books and mids, like the engine."""

    def __init__(self, *estimators: Any) -> None:
        self.estimators = estimators
        self.mid: float | None = None

    def __call__(self, *events: Event) -> None:
        for event in events:
            if isinstance(event, BookUpdate) and event.book.bids and event.book.asks:
                self.mid = float(event.book.mid)
            elif isinstance(event, MidUpdate):
                self.mid = float(event.mid)
            state = MarketState(ASSET, event.ts_exchange_ns, None, self.mid)
            for est in self.estimators:
                est.on_event(event, state)
            for est in self.estimators:  # as the engine does once the event's decision has left
                after = getattr(est, "after_decision", None)
                if after is not None:
                    after()


def ogata_hawkes(mu: float, alpha: float, beta: float, horizon: float, rng: np.random.Generator) -> np.ndarray:
    """Event times of a Hawkes process with exponential kernel on [0, horizon], by Ogata thinning."""
    times: list[float] = []
    t = 0.0
    excite = 0.0  # sum of alpha * exp(-beta (t - t_i)) at time t
    while True:
        bound = mu + excite  # the intensity only decays until the next event
        w = rng.exponential(1.0 / bound)
        excite *= math.exp(-beta * w)
        t += w
        if t > horizon:
            return np.array(times)
        if rng.uniform() * bound <= mu + excite:
            times.append(t)
            excite += alpha
