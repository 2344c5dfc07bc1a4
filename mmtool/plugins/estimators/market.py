"""Market-state estimators: funding carry, the spread regime and the warm-up gate.

- ``funding``: the last funding rate (per interval, from Funding events), a prediction (EWMA of the rates) and
  the carry of a *long* position in bps per hour (``-predicted * 1e4 * 3600 / interval_secs``; a short earns
  the opposite).
- ``spread-regime``: the relative spread against its recent distribution, kept as exponentially decayed counts
  in log-spaced bins (about 3% wide); below or at the ``low_quantile`` bin is tight (0), above the
  ``high_quantile`` bin wide (2), else normal (1). Bins make discrete spreads (one tick most of the time)
  classify consistently.
- ``warmup``: quoting starts after ``strategy.min_trades`` trades; then the prior defaults' weight
  ``warmup_uncertainty`` falls linearly from 1 to 0 over ``strategy.warmup_decay_secs``.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, ClassVar

import attrs
import numpy as np

from mmtool.core.config import ge, gt, le
from mmtool.core.hookspecs import hookimpl
from mmtool.core.types import BookUpdate, Funding, Trade
from mmtool.plugins.estimators._common import BPS, NS_PER_S, EstimatorBase, finite, window_secs
from mmtool.plugins.estimators._windows import DecayedHistogram

if TYPE_CHECKING:
    from mmtool.core.components import ComponentContext, MarketState
    from mmtool.core.types import Event

log = logging.getLogger("mmtool.estimators.warmup")


class FundingRate(EstimatorBase):
    """Current and predicted funding rate, and the carry of a long position in bps per hour."""

    name: ClassVar[str] = "funding"

    @attrs.frozen
    class Config:
        """Options of the funding estimator."""

        interval_secs: float = attrs.field(
            default=3600.0, validator=gt(0), metadata={"help": "Funding interval the rate applies to, seconds"}
        )
        smoothing: float = attrs.field(
            default=0.3,
            validator=[gt(0), le(1)],
            metadata={"help": "Weight of the newest rate in the prediction (EWMA, 0..1]"},
        )
        max_abs_rate: float = attrs.field(
            default=0.05, validator=gt(0), metadata={"help": "Reject rates beyond this per interval as bad data"}
        )

    def __init__(self, config: FundingRate.Config) -> None:
        super().__init__()
        self.config = config
        self.rate: float | None = None
        self.predicted: float | None = None

    @classmethod
    def from_config(cls, config: FundingRate.Config, ctx: ComponentContext) -> FundingRate:
        """Build from the ``[plugins.funding]`` table."""
        return cls(config)

    @property
    def warmed_up(self) -> bool:
        """Always True: funding never blocks quoting (strategies default to no carry)."""
        return True

    def _handle(self, event: Event, market: MarketState) -> bool:
        if not isinstance(event, Funding):
            return True
        rate = finite(event.rate)
        if rate is None or abs(rate) > self.config.max_abs_rate:
            return False
        self.rate = rate
        a = self.config.smoothing
        self.predicted = rate if self.predicted is None else a * rate + (1 - a) * self.predicted
        return True

    def _values(self) -> dict[str, float]:
        if self.rate is None or self.predicted is None:
            return {}
        return {
            "funding_rate": self.rate,
            "funding_predicted": self.predicted,
            "funding_carry_bps_per_h": -self.predicted * BPS * 3600.0 / self.config.interval_secs,
        }


class SpreadRegime(EstimatorBase):
    """Spread regime (0 tight, 1 normal, 2 wide) from the spread's decayed recent distribution."""

    name: ClassVar[str] = "spread-regime"

    LOW_BPS: ClassVar[float] = 0.01
    HIGH_BPS: ClassVar[float] = 1e4
    BINS: ClassVar[int] = 480

    @attrs.frozen
    class Config:
        """Options of the spread-regime estimator."""

        window_secs: float | None = attrs.field(
            default=None,
            validator=gt(0),
            metadata={"help": "Memory of the distribution, seconds (default: strategy.estimation_window_secs)"},
        )
        low_quantile: float = attrs.field(
            default=0.25, validator=[gt(0), le(1)], metadata={"help": "At or below this quantile: tight"}
        )
        high_quantile: float = attrs.field(
            default=0.75, validator=[gt(0), le(1)], metadata={"help": "Above this quantile: wide"}
        )
        recompute_every: int = attrs.field(
            default=20, validator=ge(1), metadata={"help": "Recompute the quantiles every N book updates"}
        )
        min_samples: int = attrs.field(default=20, validator=ge(1), metadata={"help": "Books before warmed up"})

        def __attrs_post_init__(self) -> None:
            if self.high_quantile < self.low_quantile:
                raise ValueError(f"high_quantile ({self.high_quantile}) must be >= low_quantile ({self.low_quantile})")

    def __init__(self, config: SpreadRegime.Config, window: float) -> None:
        super().__init__()
        self.config = config
        self.window = window
        self._hist = DecayedHistogram(self.BINS, window)
        self._step = math.log(self.HIGH_BPS / self.LOW_BPS) / self.BINS
        self.samples = 0
        self.spread_bps: float | None = None
        self._bin = 0
        self._low_bin = 0
        self._high_bin = self.BINS

    @classmethod
    def from_config(cls, config: SpreadRegime.Config, ctx: ComponentContext) -> SpreadRegime:
        """Build from the ``[plugins.spread-regime]`` table; the window defaults to the strategy's."""
        return cls(config, window_secs(config.window_secs, ctx))

    @property
    def warmed_up(self) -> bool:
        """True after ``min_samples`` book updates."""
        return self.samples >= self.config.min_samples

    def _handle(self, event: Event, market: MarketState) -> bool:
        if not isinstance(event, BookUpdate) or self.touch is None:
            return True
        spread = self.touch.spread * BPS
        self.spread_bps = spread
        self._bin = int(math.log(max(spread, self.LOW_BPS) / self.LOW_BPS) / self._step)
        self._hist.add(event.ts_exchange_ns, self._bin)
        self.samples += 1
        if self.samples % self.config.recompute_every == 0 or self.samples == self.config.min_samples:
            cdf = np.cumsum(self._hist.counts(event.ts_exchange_ns))
            cdf /= cdf[-1]
            self._low_bin = int(np.searchsorted(cdf, self.config.low_quantile))
            self._high_bin = int(np.searchsorted(cdf, self.config.high_quantile))
        return True

    @property
    def regime(self) -> int:
        """0 tight, 1 normal, 2 wide."""
        if self._bin <= self._low_bin:
            return 0
        return 2 if self._bin > self._high_bin else 1

    def _values(self) -> dict[str, float]:
        if self.spread_bps is None:
            return {}
        out = {"spread_bps": self.spread_bps}
        if self.warmed_up:
            out["spread_regime"] = float(self.regime)
        return out


class Warmup(EstimatorBase):
    """Warm-up gate: quoting waits for enough trades, then the priors' influence decays to zero."""

    name: ClassVar[str] = "warmup"
    gates_quoting: ClassVar[bool] = True

    @attrs.frozen
    class Config:
        """Options of the warm-up gate (defaults come from ``[strategy]``)."""

        min_trades: int | None = attrs.field(
            default=None, validator=ge(0), metadata={"help": "Trades before quoting (default: strategy.min_trades)"}
        )
        decay_secs: float | None = attrs.field(
            default=None,
            validator=ge(0),
            metadata={"help": "Seconds for warmup_uncertainty to fall to 0 (default: strategy.warmup_decay_secs)"},
        )

    def __init__(self, min_trades: int, decay_secs: float) -> None:
        super().__init__()
        self.min_trades = min_trades
        self.decay_secs = decay_secs
        self.trades = 0
        self.warm_ns: int | None = None
        self._started = False

    @classmethod
    def from_config(cls, config: Warmup.Config, ctx: ComponentContext) -> Warmup:
        """Build from ``[plugins.warmup]``, defaulting to ``strategy.min_trades`` and ``warmup_decay_secs``."""
        strategy = ctx.settings.strategy
        min_trades = strategy.min_trades if config.min_trades is None else config.min_trades
        decay = strategy.warmup_decay_secs if config.decay_secs is None else config.decay_secs
        return cls(int(min_trades), float(decay))

    @property
    def warmed_up(self) -> bool:
        """True once ``min_trades`` trades were seen."""
        return self.warm_ns is not None

    def _handle(self, event: Event, market: MarketState) -> bool:
        if not self._started:
            self._started = True
            log.info(
                "Warming up parameter estimator",
                extra={"fields": {"min_trades": self.min_trades, "decay_secs": self.decay_secs}},
            )
        if isinstance(event, Trade):
            self.trades += 1
        if self.warm_ns is None and self.trades >= self.min_trades:
            self.warm_ns = self.now_ns
            log.info("Parameter estimation warmed up", extra={"fields": {"trades": self.trades}})
        return True

    @property
    def uncertainty(self) -> float:
        """1 before warm-up, then falling linearly to 0 over ``decay_secs`` of event time."""
        if self.warm_ns is None:
            return 1.0
        if self.decay_secs <= 0:
            return 0.0
        elapsed = (self.now_ns - self.warm_ns) / NS_PER_S
        return max(0.0, 1.0 - elapsed / self.decay_secs)

    def _values(self) -> dict[str, float]:
        return {"warmup_uncertainty": self.uncertainty, "warmup_trades": float(self.trades)}


@hookimpl
def mmtool_register_estimators() -> list[type]:
    """Register the funding, spread-regime and warm-up estimators."""
    return [FundingRate, SpreadRegime, Warmup]
