"""Return volatility on a volume clock: bipower variation (jump-robust) for sigma, realized variance for jumps.

Returns ``r_i = ln(p_i / p_{i-1})`` are sampled at each volume-bucket close (price = last valid mid, else the
trade price) and turned into per-second rates with each bucket's elapsed time ``dt_i``:

- ``realized_variance = sum r_i^2 / sum dt_i`` (fraction^2 per second; unbiased for Brownian returns);
- ``bipower_variation = (pi/2) * sum |r_i||r_{i-1}| / sum sqrt(dt_i dt_{i-1})`` (Barndorff-Nielsen & Shephard;
  ``E|r_i||r_{i-1}| = (2/pi) sigma^2 sqrt(dt_i dt_{i-1})``). Once warmed up, returns entering the bipower sums
  are winsorised at ``clip_sigmas * sigma * sqrt(dt)``: a plain bipower still lets a jump in through its
  neighbours' products, which in a finite window is a visible bias; Gaussian returns are almost never clipped;
- ``sigma = sqrt(bipower_variation)`` per sqrt(second); ``jump_ratio = RV / BV``; ``jump_flag`` when it is
  above ``jump_threshold``.

All sums decay exponentially in event time with ``tau = window_secs``.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

import attrs

from mmtool.core.config import ge, gt
from mmtool.core.hookspecs import hookimpl
from mmtool.core.types import BookUpdate, MidUpdate, Timer, Trade
from mmtool.plugins.estimators._common import EstimatorBase, window_secs
from mmtool.plugins.estimators._volume_clock import Bucket, VolumeClock
from mmtool.plugins.estimators._windows import DecayedSum

if TYPE_CHECKING:
    from mmtool.core.components import ComponentContext, MarketState
    from mmtool.core.types import Event


class Volatility(EstimatorBase):
    """Volatility per sqrt(second) by bipower variation on a volume clock, with realized variance and jumps."""

    name: ClassVar[str] = "volatility"

    @attrs.frozen
    class Config:
        """Options of the volatility estimator."""

        window_secs: float | None = attrs.field(
            default=None,
            validator=gt(0),
            metadata={"help": "Decay horizon in seconds (default: strategy.estimation_window_secs)"},
        )
        bucket_volume: float | None = attrs.field(
            default=None,
            validator=gt(0),
            metadata={"help": "Traded volume per bucket, asset units (default: auto from the volume rate)"},
        )
        target_bucket_secs: float = attrs.field(
            default=2.0, validator=gt(0), metadata={"help": "Auto bucket size aims at this many seconds"}
        )
        max_bucket_secs: float = attrs.field(
            default=30.0, validator=gt(0), metadata={"help": "Close a bucket after this long even if thin"}
        )
        jump_threshold: float = attrs.field(
            default=1.5, validator=gt(1), metadata={"help": "Raise jump_flag when RV/BV exceeds this"}
        )
        clip_sigmas: float = attrs.field(
            default=5.0, validator=gt(0), metadata={"help": "Winsorise bipower returns at this many sigmas"}
        )
        min_buckets: int = attrs.field(
            default=20, validator=ge(2), metadata={"help": "Buckets seen before the estimate is trusted"}
        )

    def __init__(self, config: Volatility.Config, window: float) -> None:
        super().__init__()
        self.config = config
        self.window = window
        self.clock = VolumeClock(config.bucket_volume, config.target_bucket_secs, config.max_bucket_secs, window)
        self._rv = DecayedSum(window)
        self._rv_dt = DecayedSum(window)
        self._bv = DecayedSum(window)
        self._bv_dt = DecayedSum(window)
        self._last_price: float | None = None
        self._prev_abs: float | None = None
        self._prev_dt = 0.0

    @classmethod
    def from_config(cls, config: Volatility.Config, ctx: ComponentContext) -> Volatility:
        """Build from the ``[plugins.volatility]`` table; the window defaults to the strategy's."""
        return cls(config, window_secs(config.window_secs, ctx))

    @property
    def warmed_up(self) -> bool:
        """True after ``min_buckets`` buckets."""
        return self.clock.buckets >= self.config.min_buckets

    def _handle(self, event: Event, market: MarketState) -> bool:
        bucket: Bucket | None = None
        if isinstance(event, Trade):
            price = self.mid_or(market) or float(event.price)
            bucket = self.clock.on_trade(event.ts_exchange_ns, float(event.size), price)
        elif isinstance(event, BookUpdate | MidUpdate | Timer):
            price = self.mid_or(market)
            if price is not None:
                bucket = self.clock.on_time(self.now_ns, price)
        if bucket is not None:
            self._on_bucket(bucket)
        return True

    def _on_bucket(self, bucket: Bucket) -> None:
        previous, self._last_price = self._last_price, bucket.price
        if previous is None:
            return
        r = math.log(bucket.price / previous)
        dt = bucket.elapsed_secs
        ts = bucket.end_ns
        self._rv.add(ts, r * r)
        self._rv_dt.add(ts, dt)
        size = abs(r)
        if self.warmed_up:
            size = min(size, self.config.clip_sigmas * self.sigma * math.sqrt(dt))
        if self._prev_abs is not None:
            self._bv.add(ts, size * self._prev_abs)
            self._bv_dt.add(ts, math.sqrt(dt * self._prev_dt))
        self._prev_abs, self._prev_dt = size, dt

    @property
    def realized_variance(self) -> float:
        """Realized variance per second (fraction^2 / s)."""
        den = self._rv_dt.value()
        return self._rv.value() / den if den > 0 else 0.0

    @property
    def bipower_variation(self) -> float:
        """Bipower variation per second (fraction^2 / s), jump-robust."""
        den = self._bv_dt.value()
        return 0.5 * math.pi * self._bv.value() / den if den > 0 else 0.0

    @property
    def sigma(self) -> float:
        """Volatility per sqrt(second) from bipower variation."""
        return math.sqrt(self.bipower_variation)

    def _values(self) -> dict[str, float]:
        out = {"volume_bucket_count": float(self.clock.buckets)}
        bv = self.bipower_variation
        if bv <= 0:
            return out
        ratio = self.realized_variance / bv
        out.update(
            sigma=math.sqrt(bv),
            realized_variance=self.realized_variance,
            bipower_variation=bv,
            jump_ratio=ratio,
            jump_flag=1.0 if ratio > self.config.jump_threshold else 0.0,
        )
        return out


@hookimpl
def mmtool_register_estimators() -> list[type]:
    """Register the volatility estimator."""
    return [Volatility]
