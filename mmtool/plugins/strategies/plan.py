"""A model's two depths turned into a quote plan: half-spread plus additive premia, and the skew.

The model gives a bid depth and an ask depth (fractions of fair). Their mean is the model half-spread, to
which the premia add bps (the total kept within the ladder's depth bounds); half their difference is the
skew, applied unchanged (only bounded by ``±max_depth_bps``): the bid sits ``half + skew`` below fair and
the ask ``half − skew`` above it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import attrs

from mmtool.plugins.strategies.ladder import BPS
from mmtool.plugins.strategies.premia import Premia, compute_premia, total_half_spread_bps

if TYPE_CHECKING:
    from mmtool.core.components import QuoteContext
    from mmtool.plugins.strategies.inputs import ModelInputs
    from mmtool.plugins.strategies.premia import PremiaConfig


@attrs.frozen
class QuotePlan:
    """Where one quote goes, in bps of ``fair``: the half-spread (premia included) and the skew (+ when long)."""

    fair: float
    half_spread_bps: float
    skew_bps: float
    model_half_spread_bps: float
    premia: Premia
    inputs: ModelInputs

    @property
    def bid_depth_bps(self) -> float:
        """Distance of the (innermost) bid below fair, bps."""
        return self.half_spread_bps + self.skew_bps

    @property
    def ask_depth_bps(self) -> float:
        """Distance of the (innermost) ask above fair, bps."""
        return self.half_spread_bps - self.skew_bps


def make_plan(
    ctx: QuoteContext, config: PremiaConfig, fair: float, inputs: ModelInputs, bid_depth: float, ask_depth: float
) -> QuotePlan:
    """Combine the model's bid and ask depths (fractions) with the premia into a :class:`QuotePlan`."""
    model_half = (bid_depth + ask_depth) / 2.0 / BPS
    premia = compute_premia(ctx, config)
    cap = ctx.ladder.max_depth_bps
    skew = (bid_depth - ask_depth) / 2.0 / BPS
    return QuotePlan(
        fair=fair,
        half_spread_bps=total_half_spread_bps(model_half, premia, ctx.ladder),
        skew_bps=min(max(skew, -cap), cap) if math.isfinite(skew) else 0.0,
        model_half_spread_bps=model_half,
        premia=premia,
        inputs=inputs,
    )
