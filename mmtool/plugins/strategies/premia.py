"""Additive risk premia: every reason to widen adds its own bps to the half-spread, none multiplies another.

The premia are warm-up uncertainty, adverse selection, liquidation-cascade risk and the maker fee. Their
sum is added to the model's half-spread, and the total is kept within ``[min_depth_bps, max_depth_bps]`` of
the ladder config.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import attrs

from mmtool.core.config import ge

if TYPE_CHECKING:
    from mmtool.core.components import QuoteContext
    from mmtool.core.config import LadderConfig

#: The estimator values the premia read.
PREMIA_VALUES = ("warmup_uncertainty", "adverse_selection_bps", "cascade_severity")


@attrs.frozen
class PremiaConfig:
    """Options of the additive premia, shared by every built-in strategy's config."""

    warmup_premium_bps: float = attrs.field(
        default=2.0,
        validator=ge(0),
        metadata={"help": "Bps added to the half-spread when fully cold, scaled by warmup_uncertainty (0..1)"},
    )
    adverse_selection_weight: float = attrs.field(
        default=1.0,
        validator=ge(0),
        metadata={"help": "Fraction of the estimated adverse selection (adverse_selection_bps) added, in bps"},
    )
    cascade_premium_bps: float = attrs.field(
        default=20.0,
        validator=ge(0),
        metadata={"help": "Bps added at full liquidation-cascade severity, scaled by cascade_severity (0..1)"},
    )
    cascade_threshold: float = attrs.field(
        default=0.3,
        validator=ge(0),
        metadata={"help": "Cascade severity below which no premium applies; above it the premium ramps to full at 1"},
    )
    include_maker_fee: bool = attrs.field(
        default=True, metadata={"help": "Add the maker fee (trading.maker_fee_bps) to the half-spread"}
    )


@attrs.frozen
class Premia:
    """The premia of one quote, each in bps of the fair price; the half-spread adds their ``total``."""

    warmup_bps: float = 0.0
    adverse_selection_bps: float = 0.0
    cascade_bps: float = 0.0
    fee_bps: float = 0.0

    @property
    def total(self) -> float:
        """The sum of every premium, in bps."""
        return self.warmup_bps + self.adverse_selection_bps + self.cascade_bps + self.fee_bps


def _unit(value: float) -> float:
    """Clamp to [0, 1]; a non-finite value counts as the worst case, 1."""
    if not math.isfinite(value):
        return 1.0
    return min(max(value, 0.0), 1.0)


def compute_premia(ctx: QuoteContext, config: PremiaConfig) -> Premia:
    """Read the estimators' risk values and turn each into its own premium, in bps.

    Missing values count as no risk, except ``warmup_uncertainty``, which defaults to 1 (fully cold) while the
    market parameters are not warmed up and to 0 once they are.
    """
    params = ctx.params
    cold = _unit(params.get("warmup_uncertainty", 0.0 if params.warmed_up else 1.0))
    adverse = params.get("adverse_selection_bps", 0.0)
    adverse = max(adverse, 0.0) if math.isfinite(adverse) else 0.0
    severity = _unit(params.get("cascade_severity", 0.0))
    # Calm markets read a small non-zero severity; only the excess over the threshold is cascade risk.
    threshold = min(config.cascade_threshold, 0.999)
    cascade = max(severity - threshold, 0.0) / (1.0 - threshold)
    fee = ctx.maker_fee_bps if config.include_maker_fee and math.isfinite(ctx.maker_fee_bps) else 0.0
    return Premia(
        warmup_bps=cold * config.warmup_premium_bps,
        adverse_selection_bps=adverse * config.adverse_selection_weight,
        cascade_bps=cascade * config.cascade_premium_bps,
        fee_bps=fee,
    )


def total_half_spread_bps(model_bps: float, premia: Premia, ladder: LadderConfig) -> float:
    """The quoted half-spread: model plus premia, within ``[min_depth_bps, max_depth_bps]``."""
    total = model_bps + premia.total
    if not math.isfinite(total):
        return ladder.max_depth_bps
    return min(max(total, ladder.min_depth_bps), ladder.max_depth_bps)
