"""Builders shared by the simulator tests: a hand-made book and an engine over it (ETH, szDecimals 4)."""

from __future__ import annotations

from decimal import Decimal

from mmtool.core.rounding import AssetRules
from mmtool.core.types import Side, Tif
from mmtool.plugins.exchanges.sim.book import SimBook
from mmtool.plugins.exchanges.sim.matching import MatchingEngine, OrderRequest

RULES = AssetRules("ETH", 4)
PRICE_SCALE = 2
LOT = 10_000  # lots per 1 ETH


def px(text: str) -> int:
    """Price units of a decimal price string."""
    return int(Decimal(text).scaleb(PRICE_SCALE))


def lots(size: float) -> int:
    """Lots of a size in ETH."""
    return round(size * LOT)


def make_book(bids: list[tuple[str, float]], asks: list[tuple[str, float]]) -> SimBook:
    """A SimBook from (price, size) pairs, best first."""
    book = SimBook()
    book.bids = [[px(p), lots(s), 1] for p, s in bids]
    book.asks = [[px(p), lots(s), 1] for p, s in asks]
    return book


def default_book() -> SimBook:
    """Touch 3499.9 / 3500.0, three levels a side."""
    return make_book(
        [("3499.9", 2.0), ("3499.8", 3.0), ("3499.7", 4.0)],
        [("3500", 1.0), ("3500.1", 2.0), ("3500.2", 5.0)],
    )


def make_engine(book: SimBook | None = None, **kwargs: object) -> MatchingEngine:
    """A matching engine over ``book`` (default: :func:`default_book`)."""
    return MatchingEngine(RULES, book if book is not None else default_book(), **kwargs)  # type: ignore[arg-type]


def req(cloid: str, side: Side, price: str, size: str, tif: Tif = Tif.ALO, reduce_only: bool = False) -> OrderRequest:
    """An order request from strings."""
    return OrderRequest(cloid, side, Decimal(price), Decimal(size), tif, reduce_only)


def set_level(book: SimBook, side: Side, price: str, size: float) -> None:
    """Put ``size`` at ``price`` on ``side``'s resting side, keeping the levels sorted best first."""
    levels = book.levels(side)
    levels[:] = [level for level in levels if level[0] != px(price)] + [[px(price), lots(size), 1]]
    levels.sort(key=lambda level: -level[0] * side.sign)


def sweep(engine: MatchingEngine, aggressor: Side, levels: list[tuple[str, float]], ts: int = 0) -> None:
    """Consume ``levels`` from the book as the market would, then let the engine see the sweep."""
    consumed = []
    for price, size in levels:
        taken = engine.book.consume(aggressor.opposite, px(price), lots(size))
        consumed.append((px(price), taken))
    engine.on_sweep(aggressor, consumed, ts)
