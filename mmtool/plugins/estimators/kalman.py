"""Local-level Kalman smoothing of the mid, its noise variances estimated online from mid changes.

Model, in log price per mid observation: ``x_t = x_{t-1} + w`` (state noise Q), ``y_t = x_t + v``
(observation noise R). The changes ``d_t = y_t - y_{t-1} = w_t + v_t - v_{t-1}`` have variance ``Q + 2R``
and lag-1 autocovariance ``-R``. From decayed second moments ``g0 = E[d^2]`` and ``g1 = E[d_t d_{t-1}]``:
``R = max(-g1, 0)`` and ``Q = max(g0 - 2R, min_q_fraction * g0)`` (the floor keeps the filter tracking when
noise dominates). ``kalman_q`` and ``kalman_r`` are in (log-return)^2 per observation; ``kalman_mid`` is the
filtered price.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

import attrs

from mmtool.core.config import ge, gt, le
from mmtool.core.hookspecs import hookimpl
from mmtool.core.types import BookUpdate, MidUpdate
from mmtool.plugins.estimators._common import EstimatorBase, window_secs
from mmtool.plugins.estimators._windows import DecayedSum

if TYPE_CHECKING:
    from mmtool.core.components import ComponentContext, MarketState
    from mmtool.core.types import Event


class Kalman(EstimatorBase):
    """Kalman-filtered mid (local level), Q and R from the autocovariance of mid changes."""

    name: ClassVar[str] = "kalman"

    @attrs.frozen
    class Config:
        """Options of the Kalman mid filter."""

        window_secs: float | None = attrs.field(
            default=None,
            validator=gt(0),
            metadata={"help": "Decay of the moment estimates, seconds (default: strategy.estimation_window_secs)"},
        )
        min_q_fraction: float = attrs.field(
            default=0.01, validator=[gt(0), le(1)], metadata={"help": "Floor of Q as a fraction of Var(d)"}
        )
        min_observations: int = attrs.field(
            default=50, validator=ge(2), metadata={"help": "Mid observations before warmed up"}
        )

    def __init__(self, config: Kalman.Config, window: float) -> None:
        super().__init__()
        self.config = config
        self.window = window
        self._d2 = DecayedSum(window)
        self._dd = DecayedSum(window)
        self._n = DecayedSum(window)
        self._nn = DecayedSum(window)
        self._last_y: float | None = None
        self._last_d: float | None = None
        self.observations = 0
        self.x: float | None = None
        self.p = 0.0

    @classmethod
    def from_config(cls, config: Kalman.Config, ctx: ComponentContext) -> Kalman:
        """Build from the ``[plugins.kalman]`` table; the window defaults to the strategy's."""
        return cls(config, window_secs(config.window_secs, ctx))

    @property
    def warmed_up(self) -> bool:
        """True after ``min_observations`` mid observations."""
        return self.observations >= self.config.min_observations

    @property
    def r(self) -> float:
        """Observation noise variance per observation."""
        n = self._nn.value()
        return max(-self._dd.value() / n, 0.0) if n > 0 else 0.0

    @property
    def q(self) -> float:
        """State noise variance per observation, floored."""
        n = self._n.value()
        if n <= 0:
            return 0.0
        g0 = self._d2.value() / n
        return max(g0 - 2.0 * self.r, self.config.min_q_fraction * g0)

    def _handle(self, event: Event, market: MarketState) -> bool:
        if not isinstance(event, BookUpdate | MidUpdate) or self.mid is None:
            return True
        ts = event.ts_exchange_ns
        y = math.log(self.mid)
        self.observations += 1
        if self._last_y is not None:
            d = y - self._last_y
            self._d2.add(ts, d * d)
            self._n.add(ts, 1.0)
            if self._last_d is not None:
                self._dd.add(ts, d * self._last_d)
                self._nn.add(ts, 1.0)
            self._last_d = d
        self._last_y = y
        self._filter(y)
        return True

    def _filter(self, y: float) -> None:
        if self.x is None:
            self.x, self.p = y, 0.0
            return
        q, r = self.q, self.r
        predicted = self.p + q
        if predicted + r <= 0:
            self.x = y
            return
        gain = predicted / (predicted + r)
        self.x += gain * (y - self.x)
        self.p = (1.0 - gain) * predicted

    def _values(self) -> dict[str, float]:
        if self.x is None:
            return {}
        return {"kalman_mid": math.exp(self.x), "kalman_q": self.q, "kalman_r": self.r}


@hookimpl
def mmtool_register_estimators() -> list[type]:
    """Register the Kalman mid filter."""
    return [Kalman]
