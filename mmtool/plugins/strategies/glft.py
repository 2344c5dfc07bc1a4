"""GLFT strategies: ``glft`` (one level a side) and ``glft-ladder`` (a multi-level ladder), from the closed forms.

Both centre on the microprice and take the GLFT asymptotic depths (:mod:`mmtool.plugins.strategies.glft_math`)
with σ, κ and A from the estimators (config fallbacks while cold), γ = ``trading.risk_aversion`` and the
inventory in lots; the additive premia widen the half-spread. ``glft-ladder`` puts its innermost levels at
those depths and spaces the rest out to ``ladder.max_depth_bps``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import attrs

from mmtool.core.config import gt
from mmtool.core.hookspecs import hookimpl
from mmtool.core.types import Ladder
from mmtool.plugins.strategies.glft_math import base_half_spread, omega
from mmtool.plugins.strategies.inputs import MODEL_VALUES, ModelConfig, fair_price, model_inputs
from mmtool.plugins.strategies.ladder import multi_level_ladder, single_level_ladder
from mmtool.plugins.strategies.plan import QuotePlan, make_plan
from mmtool.plugins.strategies.premia import PREMIA_VALUES

if TYPE_CHECKING:
    from mmtool.core.components import ComponentContext, QuoteContext


def glft_plan(ctx: QuoteContext, config: ModelConfig) -> QuotePlan | None:
    """The GLFT asymptotic quote for this context, premia included; None without a usable fair price.

    Bid depth ``(1/γ)ln(1 + γ/κ_b) + ω/2 + qω``, ask depth ``(1/γ)ln(1 + γ/κ_a) + ω/2 − qω``, where ``κ_b``
    and ``κ_a`` are the per-side decays (the overall κ when not published) and ω uses the overall κ and A.
    """
    fair = fair_price(ctx.params, config.drift_horizon_secs)
    if fair is None:
        return None
    m = model_inputs(ctx, config)
    w = omega(m.sigma, m.gamma, m.kappa, m.arrival_a)
    bid = base_half_spread(m.gamma, m.kappa_bid) + w / 2.0 + m.q * w
    ask = base_half_spread(m.gamma, m.kappa_ask) + w / 2.0 - m.q * w
    return make_plan(ctx, config, fair, m, bid, ask)


@attrs.frozen
class Glft:
    """Quote one level a side at the GLFT optimal depths around the microprice."""

    name: ClassVar[str] = "glft"
    requires: ClassVar[tuple[str, ...]] = (*MODEL_VALUES, *PREMIA_VALUES)

    @attrs.frozen
    class Config(ModelConfig):
        """Options of ``glft``: estimator fallbacks, floors, the inventory lot and the premia."""

    config: Glft.Config

    @classmethod
    def from_config(cls, config: Glft.Config, ctx: ComponentContext) -> Glft:
        """Build from the ``[plugins.glft]`` table."""
        return cls(config)

    def plan(self, ctx: QuoteContext) -> QuotePlan | None:
        """The depths this strategy would quote (bps), before rounding."""
        return glft_plan(ctx, self.config)

    def quote(self, ctx: QuoteContext) -> Ladder:
        """One bid and one ask at the GLFT depths, each of ``target_liquidity`` (capped by the position room)."""
        plan = self.plan(ctx)
        if plan is None:
            return Ladder.empty()
        return single_level_ladder(ctx, plan.fair, plan.bid_depth_bps, plan.ask_depth_bps)


@attrs.frozen
class GlftLadder:
    """Quote a multi-level ladder whose innermost depths and skew come from GLFT."""

    name: ClassVar[str] = "glft-ladder"
    requires: ClassVar[tuple[str, ...]] = (*MODEL_VALUES, *PREMIA_VALUES)

    @attrs.frozen
    class Config(ModelConfig):
        """Options of ``glft-ladder``: ``glft``'s plus how size grows from level to level."""

        size_growth: float = attrs.field(
            default=1.0,
            validator=gt(0),
            metadata={"help": "Size of each level relative to the one inside it (1 = equal sizes)"},
        )

    config: GlftLadder.Config

    @classmethod
    def from_config(cls, config: GlftLadder.Config, ctx: ComponentContext) -> GlftLadder:
        """Build from the ``[plugins.glft-ladder]`` table."""
        return cls(config)

    def plan(self, ctx: QuoteContext) -> QuotePlan | None:
        """The innermost depths this strategy would quote (bps), before the ladder bounds and rounding."""
        return glft_plan(ctx, self.config)

    def quote(self, ctx: QuoteContext) -> Ladder:
        """``ladder.num_levels`` levels a side from the GLFT depths out to ``max_depth_bps``."""
        plan = self.plan(ctx)
        if plan is None:
            return Ladder.empty()
        return multi_level_ladder(ctx, plan.fair, plan.bid_depth_bps, plan.ask_depth_bps, self.config.size_growth)


@hookimpl
def mmtool_register_strategies() -> list[type]:
    """Register ``glft`` and ``glft-ladder``."""
    return [Glft, GlftLadder]
