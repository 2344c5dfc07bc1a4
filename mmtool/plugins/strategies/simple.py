"""Fixed-spread strategies: ``symmetric`` and its inventory-skewed sibling ``inventory-aware``.

Both quote one level a side around the fair price (microprice, else mid) at a configured half-spread plus
the additive premia (:mod:`mmtool.plugins.strategies.premia`); ``inventory-aware`` shifts both quotes by
``skew_bps`` per unit of ``position / max_position``, downwards when long.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import attrs

from mmtool.core.config import ge
from mmtool.core.hookspecs import hookimpl
from mmtool.core.types import Ladder
from mmtool.plugins.strategies.inputs import fair_price
from mmtool.plugins.strategies.ladder import single_level_ladder
from mmtool.plugins.strategies.premia import PREMIA_VALUES, PremiaConfig, compute_premia, total_half_spread_bps

if TYPE_CHECKING:
    from mmtool.core.components import ComponentContext, QuoteContext


@attrs.frozen
class Symmetric:
    """Quote one level a side at a fixed half-spread around the fair price."""

    name: ClassVar[str] = "symmetric"
    requires: ClassVar[tuple[str, ...]] = ("microprice", *PREMIA_VALUES)

    @attrs.frozen
    class Config(PremiaConfig):
        """Options of ``symmetric``: the half-spread, plus the shared premia options."""

        half_spread_bps: float = attrs.field(
            default=5.0, validator=ge(0), metadata={"help": "Half-spread around the fair price before premia, bps"}
        )

    config: Symmetric.Config

    @classmethod
    def from_config(cls, config: Symmetric.Config, ctx: ComponentContext) -> Symmetric:
        """Build from the ``[plugins.symmetric]`` table."""
        return cls(config)

    def half_spread_bps(self, ctx: QuoteContext) -> float:
        """The configured half-spread plus the premia, within the ladder's depth bounds."""
        return total_half_spread_bps(self.config.half_spread_bps, compute_premia(ctx, self.config), ctx.ladder)

    def quote(self, ctx: QuoteContext) -> Ladder:
        """Bid and ask at the same distance from fair (up to rounding), one level each."""
        fair = fair_price(ctx.params)
        if fair is None:
            return Ladder.empty()
        half = self.half_spread_bps(ctx)
        return single_level_ladder(ctx, fair, half, half)


@attrs.frozen
class InventoryAware:
    """Quote a fixed half-spread around fair, shifted linearly against the inventory."""

    name: ClassVar[str] = "inventory-aware"
    requires: ClassVar[tuple[str, ...]] = ("microprice", *PREMIA_VALUES)

    @attrs.frozen
    class Config(Symmetric.Config):
        """Options of ``inventory-aware``: ``symmetric``'s plus the inventory skew."""

        skew_bps: float = attrs.field(
            default=5.0,
            validator=ge(0),
            metadata={"help": "Shift of both quotes, bps, per unit of position / max_position (down when long)"},
        )

    config: InventoryAware.Config

    @classmethod
    def from_config(cls, config: InventoryAware.Config, ctx: ComponentContext) -> InventoryAware:
        """Build from the ``[plugins.inventory-aware]`` table."""
        return cls(config)

    def skew_bps(self, ctx: QuoteContext) -> float:
        """``skew_bps · position / max_position``: positive when long (both quotes move down by it)."""
        if not ctx.max_position > 0.0:
            return 0.0
        return self.config.skew_bps * ctx.position / ctx.max_position

    def quote(self, ctx: QuoteContext) -> Ladder:
        """Bid ``half + skew`` below fair, ask ``half − skew`` above it, one level each."""
        fair = fair_price(ctx.params)
        if fair is None:
            return Ladder.empty()
        half = total_half_spread_bps(self.config.half_spread_bps, compute_premia(ctx, self.config), ctx.ladder)
        skew = self.skew_bps(ctx)
        return single_level_ladder(ctx, fair, half + skew, half - skew)


@hookimpl
def mmtool_register_strategies() -> list[type]:
    """Register ``symmetric`` and ``inventory-aware``."""
    return [Symmetric, InventoryAware]
