"""The ``example-mid-spread`` strategy: one level a side around fair, skewed against the inventory."""

from __future__ import annotations

from typing import ClassVar

import attrs

from mmtool.api import ComponentContext, Ladder, Quote, QuoteContext, Side, gt, hookimpl, le, option


@attrs.frozen
class MidSpread:
    """Quote one level a side at a fixed distance from fair, skewed against the inventory."""

    name: ClassVar[str] = "example-mid-spread"
    requires: ClassVar[tuple[str, ...]] = ()

    @attrs.frozen
    class Config:
        """Options of ``example-mid-spread`` (the ``[plugins.example-mid-spread]`` table)."""

        half_spread_bps: float = option(10.0, "Distance of each quote from fair, bps", validator=[gt(0), le(1000)])
        skew_bps: float = option(
            5.0, "Shift of both quotes per unit of position / max_position, bps (down when long)", validator=le(1000)
        )
        size_fraction: float = option(
            1.0, "Fraction of trading.target_liquidity quoted on each side", validator=[gt(0), le(1)]
        )

    config: Config

    @classmethod
    def from_config(cls, config: MidSpread.Config, ctx: ComponentContext) -> MidSpread:
        """Build from the config table; nothing else is needed."""
        return cls(config)

    def quote(self, ctx: QuoteContext) -> Ladder:
        """The ladder for this event: at most one bid and one ask, exchange-rounded, within the limits."""
        fair = ctx.params.fair
        if not fair > 0:
            return Ladder.empty()
        inventory = max(-1.0, min(1.0, ctx.position / ctx.max_position)) if ctx.max_position > 0 else 0.0
        shift_bps = -inventory * self.config.skew_bps
        bid_price = fair * (1 + (shift_bps - self.config.half_spread_bps) / 1e4)
        ask_price = fair * (1 + (shift_bps + self.config.half_spread_bps) / 1e4)
        size = ctx.target_liquidity * self.config.size_fraction
        if ctx.reduce_only:
            # Only the side that brings the position back towards zero, and never past it.
            bid_room, ask_room = max(-ctx.position, 0.0), max(ctx.position, 0.0)
        else:
            bid_room = max(ctx.max_position - ctx.position, 0.0)
            ask_room = max(ctx.max_position + ctx.position, 0.0)
        return Ladder(
            bids=self._level(ctx, Side.BUY, bid_price, size, bid_room),
            asks=self._level(ctx, Side.SELL, ask_price, size, ask_room),
        )

    @staticmethod
    def _level(ctx: QuoteContext, side: Side, price: float, size: float, room: float) -> tuple[Quote, ...]:
        if price <= 0 or room <= 0:
            return ()
        rules = ctx.rules
        rounded_price = rules.round_price(price, side)  # passive: never more aggressive than computed
        wanted = rules.round_size(min(size, room))
        floor = rules.min_size(rounded_price)
        if wanted < floor:
            # Below the exchange minimum: bump up only if the limit (or the position, when reducing) allows it.
            if rules.round_size(room) < floor:
                return ()
            wanted = floor
        return (Quote(rounded_price, wanted),)


@hookimpl
def mmtool_register_strategies() -> list[type]:
    """Register ``example-mid-spread``."""
    return [MidSpread]
