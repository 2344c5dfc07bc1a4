"""Trade arrivals as a Hawkes process, and a liquidation-cascade detector built on self-excitation.

``hawkes``: intensity ``lambda(t) = mu + alpha * sum_i exp(-beta (t - t_i))`` kept online by the O(1)
recursion; ``(mu, alpha, beta)`` refitted by maximum likelihood (:mod:`._hawkes_fit`) over a fixed ring of the
latest trade times every ``refit_trades`` trades or ``refit_secs`` seconds, warm-started from the last fit.
Trades sharing a timestamp are one aggressive order sweeping levels and count as one arrival.

``liquidation-cascade``: severity in [0, 1] = ``tanh(score / 2)`` (a logistic rescaled to start at 0), with
``score = w_i * I + w_b * B + w_v * V`` of three non-negative excesses over ``short_secs``:

- ``I = max(0, ln(fast rate / baseline rate)) / ln(intensity_ref)``: the short-kernel trade intensity against
  the decayed baseline rate over the estimation window (1 at ``intensity_ref`` times the baseline);
- ``B = max(0, imb - imbalance_floor) / (1 - imbalance_floor)`` with ``imb = |buy - sell| / max(buy + sell,
  baseline volume)``: one-sided aggressive volume, normalised so that it fades when trading stops;
- ``V = velocity / velocity_ref_bps``: price velocity in bps/s, from the lag of the mid behind its EMA
  (for a steady trend of ``s`` bps/s the lag is ``s * short_secs``).

All three decay when the market calms, so the severity returns to 0.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

import attrs
import numpy as np

from mmtool.core.config import ge, gt, le
from mmtool.core.hookspecs import hookimpl
from mmtool.core.types import Side, Trade
from mmtool.plugins.estimators._common import BPS, NS_PER_S, EstimatorBase, RefitAfterDecision, window_secs
from mmtool.plugins.estimators._hawkes_fit import HawkesParams, fit
from mmtool.plugins.estimators._windows import DecayedRate, DecayedSum, ExpKernel, FloatRing

if TYPE_CHECKING:
    from mmtool.core.components import ComponentContext, MarketState
    from mmtool.core.types import Event


class Hawkes(RefitAfterDecision):
    """Hawkes trade-arrival intensity (exponential kernel), refitted periodically by maximum likelihood."""

    name: ClassVar[str] = "hawkes"

    @attrs.frozen
    class Config:
        """Options of the Hawkes estimator."""

        fit_events: int = attrs.field(
            default=1000, validator=ge(50), metadata={"help": "Latest trade arrivals kept for the fit"}
        )
        min_fit_events: int = attrs.field(
            default=100, validator=ge(10), metadata={"help": "Arrivals before the first fit"}
        )
        refit_trades: int = attrs.field(default=250, validator=ge(1), metadata={"help": "Refit every N arrivals"})
        refit_secs: float | None = attrs.field(
            default=None,
            validator=gt(0),
            metadata={"help": "Also refit after this many seconds (default: strategy.estimation_window_secs)"},
        )
        beta_min: float = attrs.field(default=0.01, validator=gt(0), metadata={"help": "Lowest decay, 1/s"})
        beta_max: float = attrs.field(default=100.0, validator=gt(0), metadata={"help": "Highest decay, 1/s"})
        initial_beta: float = attrs.field(default=1.0, validator=gt(0), metadata={"help": "Decay before a fit"})

    def __init__(self, config: Hawkes.Config, refit_secs: float) -> None:
        super().__init__()
        self.config = config
        self.refit_secs = refit_secs
        self._times = FloatRing(config.fit_events)
        self._t0: int | None = None
        self._last_arrival: int | None = None
        self._since_fit = 0
        self._fit_ns: int | None = None
        self.params: HawkesParams | None = None
        self.fits = 0
        self._kernel = ExpKernel(config.initial_beta)

    @classmethod
    def from_config(cls, config: Hawkes.Config, ctx: ComponentContext) -> Hawkes:
        """Build from the ``[plugins.hawkes]`` table; the refit period defaults to the strategy's window."""
        return cls(config, window_secs(config.refit_secs, ctx))

    @property
    def warmed_up(self) -> bool:
        """True after the first successful fit."""
        return self.params is not None

    def _handle(self, event: Event, market: MarketState) -> bool:
        if not isinstance(event, Trade):
            return True
        ts = event.ts_exchange_ns
        if ts == self._last_arrival:
            return True
        self._last_arrival = ts
        if self._t0 is None:
            self._t0 = ts
        self._times.append((ts - self._t0) / NS_PER_S)
        self._kernel.hit(ts)
        self._since_fit += 1
        overdue = self._fit_ns is not None and ts - self._fit_ns >= self.refit_secs * NS_PER_S
        enough = len(self._times) >= self.config.min_fit_events
        if enough and (self.params is None or self._since_fit >= self.config.refit_trades or overdue):
            self._refit_later(ts)  # the maximum-likelihood fit (milliseconds) waits until the decision has left
        return True

    def _refit(self, ts: int) -> None:
        self._since_fit, self._fit_ns = 0, ts
        times = self._times.ordered()
        start = self.params or HawkesParams(0.5 * len(times) / max(times[-1] - times[0], 1e-9), 0.5, 1.0)
        params = fit(times, start, (self.config.beta_min, self.config.beta_max))
        if params is None:
            return
        self.params = params
        self.fits += 1
        # Rebuild the running kernel sum under the new decay from the kept arrivals (last one included).
        kernel = ExpKernel(params.beta)
        kernel.reset(float(np.exp(-params.beta * (times[-1] - times)).sum()), ts)
        self._kernel = kernel

    def intensity(self, ts_ns: int) -> float:
        """The conditional intensity at ``ts_ns`` (arrivals per second); 0 before the first fit."""
        if self.params is None:
            return 0.0
        return self.params.mu + self.params.alpha * self._kernel.at(ts_ns)

    def _values(self) -> dict[str, float]:
        p = self.params
        if p is None:
            return {}
        return {
            "hawkes_intensity": self.intensity(self.now_ns),
            "hawkes_mu": p.mu,
            "hawkes_alpha": p.alpha,
            "hawkes_beta": p.beta,
            "hawkes_branching": p.branching,
        }


class LiquidationCascade(EstimatorBase):
    """Liquidation-cascade severity (0..1) from trade intensity, one-sided flow and price velocity."""

    name: ClassVar[str] = "liquidation-cascade"

    @attrs.frozen
    class Config:
        """Options of the liquidation-cascade detector."""

        window_secs: float | None = attrs.field(
            default=None,
            validator=gt(0),
            metadata={"help": "Baseline horizon, seconds (default: strategy.estimation_window_secs)"},
        )
        short_secs: float = attrs.field(
            default=5.0, validator=gt(0), metadata={"help": "Horizon of the burst features, seconds"}
        )
        intensity_ref: float = attrs.field(
            default=5.0, validator=gt(1), metadata={"help": "Fast/baseline intensity ratio scoring 1"}
        )
        imbalance_floor: float = attrs.field(
            default=0.5,
            validator=[ge(0), le(0.99)],
            metadata={"help": "One-sided volume share below which imbalance scores 0"},
        )
        velocity_ref_bps: float = attrs.field(
            default=5.0, validator=gt(0), metadata={"help": "Price velocity scoring 1, bps per second"}
        )
        weight_intensity: float = attrs.field(default=1.5, validator=ge(0), metadata={"help": "Score weight"})
        weight_imbalance: float = attrs.field(default=1.5, validator=ge(0), metadata={"help": "Score weight"})
        weight_velocity: float = attrs.field(default=1.5, validator=ge(0), metadata={"help": "Score weight"})
        min_trades: int = attrs.field(default=20, validator=ge(1), metadata={"help": "Trades before warmed up"})

    def __init__(self, config: LiquidationCascade.Config, window: float) -> None:
        super().__init__()
        self.config = config
        self.window = window
        self._fast = ExpKernel(1.0 / config.short_secs)
        self._baseline = DecayedRate(window)
        self._volume = DecayedRate(window)
        self._buy = DecayedSum(config.short_secs)
        self._sell = DecayedSum(config.short_secs)
        self._ema: float | None = None
        self._ema_ns = 0
        self._lag = 0.0
        self.trades = 0
        self.features = (0.0, 0.0, 0.0)
        self.severity = 0.0

    @classmethod
    def from_config(cls, config: LiquidationCascade.Config, ctx: ComponentContext) -> LiquidationCascade:
        """Build from the ``[plugins.liquidation-cascade]`` table; the baseline defaults to the strategy window."""
        return cls(config, window_secs(config.window_secs, ctx))

    @property
    def warmed_up(self) -> bool:
        """True after ``min_trades`` trades (a baseline exists)."""
        return self.trades >= self.config.min_trades

    def _handle(self, event: Event, market: MarketState) -> bool:
        ts = self.now_ns
        if isinstance(event, Trade):
            size = float(event.size)
            self.trades += 1
            self._fast.hit(event.ts_exchange_ns)
            self._baseline.add(event.ts_exchange_ns)
            self._volume.add(event.ts_exchange_ns, size)
            (self._buy if event.side is Side.BUY else self._sell).add(event.ts_exchange_ns, size)
        mid = self.mid_or(market)
        if mid is not None:
            self._track_mid(ts, math.log(mid))
        self._score(ts)
        return True

    def _track_mid(self, ts: int, y: float) -> None:
        if self._ema is None:
            self._ema, self._ema_ns = y, ts
            return
        dt = (ts - self._ema_ns) / NS_PER_S
        if dt > 0:
            self._ema += -math.expm1(-dt / self.config.short_secs) * (y - self._ema)
            self._ema_ns = ts
        self._lag = y - self._ema

    def _score(self, ts: int) -> None:
        cfg = self.config
        base = self._baseline.rate(ts)
        fast = self._fast.at(ts) / cfg.short_secs
        intensity = 0.0
        if self.warmed_up and base > 0 and fast > 0:
            intensity = max(0.0, math.log(fast / base)) / math.log(cfg.intensity_ref)
        buy, sell = self._buy.value(ts), self._sell.value(ts)
        expected = self._volume.rate(ts) * cfg.short_secs
        denom = max(buy + sell, expected)
        imbalance = abs(buy - sell) / denom if denom > 0 else 0.0
        imbalance = max(0.0, imbalance - cfg.imbalance_floor) / (1.0 - cfg.imbalance_floor)
        velocity = abs(self._lag) * BPS / cfg.short_secs / cfg.velocity_ref_bps
        self.features = (intensity, imbalance, velocity)
        score = cfg.weight_intensity * intensity + cfg.weight_imbalance * imbalance + cfg.weight_velocity * velocity
        self.severity = math.tanh(0.5 * score)

    def _values(self) -> dict[str, float]:
        intensity, imbalance, velocity = self.features
        return {
            "cascade_severity": self.severity,
            "cascade_intensity_excess": intensity,
            "cascade_imbalance_excess": imbalance,
            "cascade_velocity_excess": velocity,
        }


@hookimpl
def mmtool_register_estimators() -> list[type]:
    """Register the Hawkes estimator and the liquidation-cascade detector."""
    return [Hawkes, LiquidationCascade]
