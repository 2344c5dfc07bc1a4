"""The ``hjb`` strategy: exact finite-horizon GLFT quotes from the HJB solution, one level a side.

Time to horizon ``τ`` is either rolling (always ``horizon_secs``: the quotes of a trader who always has that
long left) or periodic (the horizon is the next multiple of ``horizon_secs`` since the epoch, e.g. a funding
time or session end; ``τ`` is rounded up to ``time_bucket_secs`` so the cache is hit between buckets).
As ``τ → 0`` the inventory term shrinks towards zero and the quotes tend to the inventory-free depth.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar, Literal

import attrs

from mmtool.core.config import ge, gt, le
from mmtool.core.hookspecs import hookimpl
from mmtool.core.types import Ladder
from mmtool.plugins.strategies.glft_math import base_half_spread
from mmtool.plugins.strategies.hjb_solver import HjbCache, HjbKey, HjbTable
from mmtool.plugins.strategies.inputs import MODEL_VALUES, ModelConfig, ModelInputs, fair_price, model_inputs
from mmtool.plugins.strategies.ladder import single_level_ladder
from mmtool.plugins.strategies.plan import QuotePlan, make_plan
from mmtool.plugins.strategies.premia import PREMIA_VALUES

if TYPE_CHECKING:
    from mmtool.core.components import ComponentContext, QuoteContext

_NS = 1_000_000_000


def time_to_horizon(ts_ns: int, horizon_secs: float, mode: str, bucket_secs: float) -> float:
    """Seconds left to the horizon: ``horizon_secs`` when rolling, else to the next period end, bucketed up."""
    if mode == "rolling":
        return horizon_secs
    period_ns = max(int(round(horizon_secs * _NS)), 1)
    left = (period_ns - ts_ns % period_ns) / _NS
    if bucket_secs > 0.0:
        left = math.ceil(left / bucket_secs - 1e-9) * bucket_secs
    return min(max(left, bucket_secs if bucket_secs > 0.0 else 1e-9), horizon_secs)


@attrs.frozen
class Hjb:
    """Quote the exact finite-horizon GLFT depths, solved by matrix exponential and cached."""

    name: ClassVar[str] = "hjb"
    requires: ClassVar[tuple[str, ...]] = (*MODEL_VALUES, *PREMIA_VALUES)

    @attrs.frozen
    class Config(ModelConfig):
        """Options of ``hjb``: ``glft``'s plus the horizon, the cache tolerance and the grid bound."""

        horizon_mode: Literal["rolling", "periodic"] = attrs.field(
            default="rolling",
            validator=attrs.validators.in_(("rolling", "periodic")),
            metadata={"help": "rolling: time to horizon always horizon_secs; periodic: horizon at each multiple"},
        )
        horizon_secs: float = attrs.field(
            default=300.0, validator=gt(0), metadata={"help": "Time to horizon (rolling) or period (periodic), s"}
        )
        time_bucket_secs: float = attrs.field(
            default=1.0, validator=ge(0), metadata={"help": "Periodic mode: round the time to horizon up to this, s"}
        )
        recompute_tolerance: float = attrs.field(
            default=0.02,
            validator=[ge(0), le(1)],
            metadata={"help": "Re-solve only when sigma, gamma, kappa or A move more than this (relative)"},
        )
        max_grid_lots: int = attrs.field(
            default=100,
            validator=[ge(1), le(1000)],
            metadata={"help": "Largest inventory grid half-width Q, lots (cost grows as Q cubed)"},
        )

    config: Hjb.Config
    cache: HjbCache = attrs.field(eq=False)

    @cache.default
    def _cache(self) -> HjbCache:
        return HjbCache(tolerance=self.config.recompute_tolerance)

    @classmethod
    def from_config(cls, config: Hjb.Config, ctx: ComponentContext) -> Hjb:
        """Build from the ``[plugins.hjb]`` table."""
        return cls(config)

    def table(self, ctx: QuoteContext, inputs: ModelInputs) -> HjbTable:
        """The (cached) exact solution for the current inputs and time to horizon."""
        q_max = min(max(int(round(inputs.q_max)), 1), self.config.max_grid_lots)
        tau = time_to_horizon(
            ctx.ts_ns, self.config.horizon_secs, self.config.horizon_mode, self.config.time_bucket_secs
        )
        key = HjbKey(inputs.sigma, inputs.gamma, inputs.kappa, inputs.arrival_a, q_max, tau)
        return self.cache.table(key)

    def plan(self, ctx: QuoteContext) -> QuotePlan | None:
        """The exact depths this strategy would quote (bps), before rounding; None without a fair price."""
        fair = fair_price(ctx.params, self.config.drift_horizon_secs)
        if fair is None:
            return None
        m = model_inputs(ctx, self.config)
        table = self.table(ctx, m)
        bid = base_half_spread(m.gamma, m.kappa_bid) + table.bid_term(m.q)
        ask = base_half_spread(m.gamma, m.kappa_ask) + table.ask_term(m.q)
        return make_plan(ctx, self.config, fair, m, bid, ask)

    def quote(self, ctx: QuoteContext) -> Ladder:
        """One bid and one ask at the exact depths; the side that would breach the limit is absent there."""
        plan = self.plan(ctx)
        if plan is None:
            return Ladder.empty()
        return single_level_ladder(ctx, plan.fair, plan.bid_depth_bps, plan.ask_depth_bps)


@hookimpl
def mmtool_register_strategies() -> list[type]:
    """Register ``hjb``."""
    return [Hjb]
