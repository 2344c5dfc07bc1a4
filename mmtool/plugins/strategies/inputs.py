"""The GLFT model's inputs read from the estimators, with config fallbacks, floors and the inventory unit.

Intensity estimates (``kappa``, ``arrival_a``) are blended geometrically with the config fallbacks by their
``intensity_confidence``: below ``min_confidence`` only the fallback is used, at confidence 1 only the
estimate, linearly in log space in between. Any missing, non-finite or non-positive value falls back.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import attrs

from mmtool.core.config import ge, gt, le
from mmtool.plugins.strategies.premia import PremiaConfig

if TYPE_CHECKING:
    from mmtool.core.components import QuoteContext
    from mmtool.core.types import MarketParams

#: The estimator values the GLFT-family strategies read for their model inputs.
MODEL_VALUES = (
    "sigma",
    "kappa",
    "kappa_bid",
    "kappa_ask",
    "arrival_a",
    "arrival_a_bid",
    "arrival_a_ask",
    "intensity_confidence",
    "microprice",
    "drift_bps_per_s",
)


@attrs.frozen
class ModelConfig(PremiaConfig):
    """Fallbacks, floors and the inventory unit shared by the GLFT-family strategies."""

    sigma: float = attrs.field(
        default=1e-4, validator=gt(0), metadata={"help": "Fallback volatility, fraction per sqrt(second)"}
    )
    kappa: float = attrs.field(
        default=3000.0, validator=gt(0), metadata={"help": "Fallback fill-intensity decay kappa, 1/fraction"}
    )
    arrival_a: float = attrs.field(
        default=1.0, validator=gt(0), metadata={"help": "Fallback fill intensity A at zero depth, fills/second"}
    )
    min_confidence: float = attrs.field(
        default=0.5,
        validator=[ge(0), le(1)],
        metadata={"help": "Below this intensity_confidence use the fallback kappa and A; blend above it"},
    )
    per_side_kappa: bool = attrs.field(
        default=True, metadata={"help": "Use kappa_bid / kappa_ask for each side's base depth when published"}
    )
    min_kappa: float = attrs.field(
        default=100.0, validator=gt(0), metadata={"help": "Floor on every kappa used, 1/fraction"}
    )
    min_sigma: float = attrs.field(
        default=1e-6, validator=gt(0), metadata={"help": "Floor on the volatility used, fraction per sqrt(second)"}
    )
    lot_size: float = attrs.field(
        default=0.0,
        validator=ge(0),
        metadata={"help": "Inventory unit q counts, in asset units; 0 = target_liquidity / ladder.num_levels"},
    )
    drift_horizon_secs: float = attrs.field(
        default=0.0,
        validator=ge(0),
        metadata={"help": "Shift fair by drift_bps_per_s times this many seconds; 0 ignores the drift"},
    )


@attrs.frozen
class ModelInputs:
    """The model's inputs for one quote, in the documented units (q and q_max in lots, γ per fraction·lot)."""

    sigma: float
    gamma: float
    kappa: float
    kappa_bid: float
    kappa_ask: float
    arrival_a: float
    lot: float
    q: float
    q_max: float


def _usable(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0.0


def _estimate(params: MarketParams, name: str) -> float | None:
    """An estimator value, or the geometric mean of its two per-side values, or None."""
    value = params.values.get(name)
    if _usable(value):
        return value
    bid, ask = params.values.get(f"{name}_bid"), params.values.get(f"{name}_ask")
    if _usable(bid) and _usable(ask):
        return math.sqrt(bid * ask)
    return None


def _blend(estimate: float | None, fallback: float, weight: float) -> float:
    """Geometric blend: ``estimate^w · fallback^(1−w)``; the fallback alone when there is no estimate."""
    if estimate is None or weight <= 0.0:
        return fallback
    return math.exp(weight * math.log(estimate) + (1.0 - weight) * math.log(fallback))


def confidence_weight(params: MarketParams, min_confidence: float) -> float:
    """Weight of the intensity estimates: 0 below ``min_confidence``, rising linearly to 1 at confidence 1.

    Without a published ``intensity_confidence`` the estimates are trusted once the parameters are warmed up.
    """
    raw = params.get("intensity_confidence", 1.0 if params.warmed_up else 0.0)
    conf = min(max(raw, 0.0), 1.0) if math.isfinite(raw) else 0.0
    if conf < min_confidence:
        return 0.0
    if min_confidence >= 1.0:
        return 1.0
    return (conf - min_confidence) / (1.0 - min_confidence)


def inventory_lot(ctx: QuoteContext, lot_size: float) -> float:
    """The inventory unit in asset units: the configured lot, else the per-level order size.

    Never below the exchange's size increment, so a tiny target cannot blow the inventory count up.
    """
    floor = float(ctx.rules.lot)
    if lot_size > 0.0:
        return max(lot_size, floor)
    per_level = ctx.target_liquidity / max(ctx.ladder.num_levels, 1)
    if per_level > 0.0 and math.isfinite(per_level):
        return max(per_level, floor)
    return max(ctx.max_position, floor) if math.isfinite(ctx.max_position) else 1.0


def model_inputs(ctx: QuoteContext, config: ModelConfig) -> ModelInputs:
    """Resolve σ, γ, κ (overall and per side), A and the inventory in lots for one quote."""
    params = ctx.params
    weight = confidence_weight(params, config.min_confidence)
    sigma_est = params.values.get("sigma")
    sigma = sigma_est if _usable(sigma_est) else config.sigma
    kappa = max(_blend(_estimate(params, "kappa"), config.kappa, weight), config.min_kappa)
    kappa_bid = kappa_ask = kappa
    if config.per_side_kappa:
        side_bid, side_ask = params.values.get("kappa_bid"), params.values.get("kappa_ask")
        if _usable(side_bid):
            kappa_bid = max(_blend(side_bid, config.kappa, weight), config.min_kappa)
        if _usable(side_ask):
            kappa_ask = max(_blend(side_ask, config.kappa, weight), config.min_kappa)
    arrival_a = _blend(_estimate(params, "arrival_a"), config.arrival_a, weight)
    gamma = ctx.risk_aversion if math.isfinite(ctx.risk_aversion) and ctx.risk_aversion > 0.0 else 0.0
    lot = inventory_lot(ctx, config.lot_size)
    position = ctx.position if math.isfinite(ctx.position) else 0.0
    return ModelInputs(
        sigma=max(sigma, config.min_sigma),
        gamma=gamma,
        kappa=kappa,
        kappa_bid=kappa_bid,
        kappa_ask=kappa_ask,
        arrival_a=arrival_a,
        lot=lot,
        q=position / lot,
        q_max=max(ctx.max_position, 0.0) / lot,
    )


def fair_price(params: MarketParams, drift_horizon_secs: float = 0.0) -> float | None:
    """The price quotes are centred on: the microprice (else mid), shifted by the expected drift; None if unusable."""
    fair = params.fair
    if not _usable(fair):
        fair = params.mid
    if not _usable(fair):
        return None
    if drift_horizon_secs > 0.0:
        drift = params.get("drift_bps_per_s", 0.0)
        if math.isfinite(drift):
            fair *= 1.0 + drift * drift_horizon_secs / 1e4
    return fair if _usable(fair) else None
