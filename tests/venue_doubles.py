"""What every test double of an exchange adapter answers alike when nothing rests on it."""

from __future__ import annotations

from decimal import Decimal

from mmtool.core.types import Position


class FlatVenue:
    """Mixin for adapter doubles: no open orders, nothing for ``cancel_all`` to cancel, a flat ETH position, and
    nothing to close. A double overrides what its test needs."""

    async def open_orders(self) -> list:
        return []

    async def cancel_all(self) -> int:
        return 0

    async def position(self) -> Position:
        return Position("ETH", Decimal(0), None)

    async def close(self) -> None:
        return None
