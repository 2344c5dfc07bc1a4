"""The synthetic market's displayed L2 book, in integer units, best level first on each side."""

from __future__ import annotations

from mmtool.core.types import Side


class SimBook:
    """Displayed synthetic liquidity (never our own orders): levels ``[price_units, size_lots, count]``.

    ``bids`` are sorted highest first, ``asks`` lowest first. The market model replaces the levels on each
    refresh and consumes them when trades (its own or our taking orders) walk the book.
    """

    def __init__(self) -> None:
        self.bids: list[list[int]] = []
        self.asks: list[list[int]] = []

    def levels(self, side: Side) -> list[list[int]]:
        """The levels where orders of ``side`` rest (BUY: bids, SELL: asks)."""
        return self.bids if side is Side.BUY else self.asks

    def best(self, side: Side) -> int | None:
        """Best price on the side where orders of ``side`` rest, or None when it is empty."""
        levels = self.bids if side is Side.BUY else self.asks
        return levels[0][0] if levels else None

    def size_at(self, side: Side, price: int) -> int | None:
        """Displayed size at ``price`` on ``side``'s resting side.

        0 when the price is inside the displayed range (or better than the best level) with nothing there;
        None when it lies beyond the deepest displayed level, where the book shows nothing either way.
        """
        levels = self.bids if side is Side.BUY else self.asks
        sign = side.sign
        for level_price, size, _ in levels:
            if level_price == price:
                return size
            if (price - level_price) * sign > 0:
                return 0
        return None if levels else 0

    def consume(self, side: Side, price: int, lots: int) -> int:
        """Remove up to ``lots`` at ``price`` from ``side``'s resting side; return how much was there to take."""
        levels = self.bids if side is Side.BUY else self.asks
        for index, level in enumerate(levels):
            if level[0] == price:
                taken = min(lots, level[1])
                level[1] -= taken
                if level[1] <= 0:
                    del levels[index]
                return taken
        return 0

    def restore(self, side: Side, price: int, lots: int) -> None:
        """Put ``lots`` back at ``price`` on ``side``'s resting side (creating the level in order if needed)."""
        levels = self.bids if side is Side.BUY else self.asks
        sign = side.sign
        for index, level in enumerate(levels):
            if level[0] == price:
                level[1] += lots
                return
            if (price - level[0]) * sign > 0:
                levels.insert(index, [price, lots, 1])
                return
        levels.append([price, lots, 1])

    def mid_units2(self) -> int | None:
        """Twice the mid in price units (exact), or None when a side is empty."""
        if not self.bids or not self.asks:
            return None
        return self.bids[0][0] + self.asks[0][0]
