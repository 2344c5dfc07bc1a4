"""Micro-price: the mid adjusted by book and trade-flow imbalance, with betas learned online and clamped.

``microprice = mid * (1 + clamp(beta_book * book_imbalance + beta_flow * flow_imbalance, +-max_adjust_bps))``

- ``book_imbalance = (Qb - Qa) / (Qb + Qa)`` over the first ``book_levels`` levels (in -1..1);
- ``flow_imbalance = (B - S) / (B + S)`` of aggressor volume decayed over ``flow_secs`` (in -1..1);
- betas by recursive least squares with forgetting of the forward mid return ``mid(t + h) / mid(t) - 1`` on
  the two imbalances (no intercept: a drift is not a fair-price adjustment). An observation is taken at most
  every ``sample_secs`` and waits in a small ring until ``horizon_secs`` has passed. The forgetting factor is
  ``1 - sample_secs / window_secs``. Until ``min_samples`` regressions the adjustment is zero.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

import attrs

from mmtool.core.config import ge, gt
from mmtool.core.hookspecs import hookimpl
from mmtool.core.types import BookUpdate, Side, Trade
from mmtool.plugins.estimators._common import BPS, NS_PER_S, EstimatorBase, touch_of, window_secs
from mmtool.plugins.estimators._windows import DecayedSum

if TYPE_CHECKING:
    from mmtool.core.components import ComponentContext, MarketState
    from mmtool.core.types import Event


class RecursiveLeastSquares:
    """Recursive least squares with exponential forgetting on two regressors, in plain floats.

    Two regressors need no matrix library: the update is a dozen multiplications, which numpy would spend
    microseconds of call overhead on.
    """

    def __init__(self, forgetting: float, prior_variance: float = 1e4) -> None:
        self.forgetting = forgetting
        self.theta = (0.0, 0.0)
        #: The symmetric covariance (p00, p01, p11).
        self.p = (prior_variance, 0.0, prior_variance)
        self.updates = 0

    def update(self, x0: float, x1: float, y: float) -> None:
        """Add the observation ``y ~ theta . (x0, x1)``."""
        p00, p01, p11 = self.p
        px0 = p00 * x0 + p01 * x1
        px1 = p01 * x0 + p11 * x1
        denominator = self.forgetting + x0 * px0 + x1 * px1
        g0, g1 = px0 / denominator, px1 / denominator
        t0, t1 = self.theta
        error = y - (x0 * t0 + x1 * t1)
        self.theta = (t0 + g0 * error, t1 + g1 * error)
        lam = self.forgetting
        self.p = ((p00 - g0 * px0) / lam, (p01 - g0 * px1) / lam, (p11 - g1 * px1) / lam)
        self.updates += 1


class Microprice(EstimatorBase):
    """Micro-price from book and flow imbalance, betas by recursive least squares, clamped in bps."""

    name: ClassVar[str] = "microprice"

    @attrs.frozen
    class Config:
        """Options of the micro-price estimator."""

        window_secs: float | None = attrs.field(
            default=None,
            validator=gt(0),
            metadata={"help": "Memory of the regression, seconds (default: strategy.estimation_window_secs)"},
        )
        horizon_secs: float = attrs.field(
            default=1.0, validator=gt(0), metadata={"help": "Forward mid return horizon, seconds"}
        )
        sample_secs: float = attrs.field(
            default=0.25, validator=gt(0), metadata={"help": "Take a regression sample at most this often"}
        )
        flow_secs: float = attrs.field(
            default=5.0, validator=gt(0), metadata={"help": "Decay of the trade-flow imbalance, seconds"}
        )
        book_levels: int = attrs.field(default=1, validator=ge(1), metadata={"help": "Book levels per side"})
        max_adjust_bps: float = attrs.field(
            default=2.0, validator=ge(0), metadata={"help": "Largest adjustment of the mid, bps"}
        )
        min_samples: int = attrs.field(
            default=100, validator=ge(1), metadata={"help": "Regression samples before the betas are used"}
        )

    def __init__(self, config: Microprice.Config, window: float) -> None:
        super().__init__()
        self.config = config
        self.window = window
        self.rls = RecursiveLeastSquares(max(1.0 - config.sample_secs / window, 0.5))
        self._buy = DecayedSum(config.flow_secs)
        self._sell = DecayedSum(config.flow_secs)
        self.book_imbalance = 0.0
        capacity = int(math.ceil(config.horizon_secs / config.sample_secs)) + 2
        #: The ring of samples awaiting their horizon: (ts, mid, book imbalance, flow imbalance).
        self._ring: list[tuple[int, float, float, float]] = [(0, 0.0, 0.0, 0.0)] * capacity
        self._head = 0  # next observation to resolve
        self._tail = 0  # next free slot (counts grow; index modulo capacity)
        self._last_sample_ns: int | None = None

    @classmethod
    def from_config(cls, config: Microprice.Config, ctx: ComponentContext) -> Microprice:
        """Build from the ``[plugins.microprice]`` table; the window defaults to the strategy's."""
        return cls(config, window_secs(config.window_secs, ctx))

    @property
    def warmed_up(self) -> bool:
        """True after ``min_samples`` regression updates."""
        return self.rls.updates >= self.config.min_samples

    @property
    def flow_imbalance(self) -> float:
        """Decayed aggressor buy volume minus sell volume over their sum (0 with no flow)."""
        b, s = self._buy.value(self.now_ns), self._sell.value(self.now_ns)
        return (b - s) / (b + s) if b + s > 0 else 0.0

    def _handle(self, event: Event, market: MarketState) -> bool:
        if isinstance(event, Trade):
            (self._buy if event.side is Side.BUY else self._sell).add(event.ts_exchange_ns, float(event.size))
        elif isinstance(event, BookUpdate):
            levels = self.config.book_levels
            touch = self.touch if levels == 1 else touch_of(event.book, levels)
            if touch is None:
                return False
            self.book_imbalance = (touch.bid_size - touch.ask_size) / (touch.bid_size + touch.ask_size)
        mid = self.mid_or(market)
        if mid is None:
            return True
        self._resolve(self.now_ns, mid)
        self._sample(self.now_ns, mid)
        return True

    def _resolve(self, ts: int, mid: float) -> None:
        ring = self._ring
        cap = len(ring)
        horizon = self.config.horizon_secs * NS_PER_S
        while self._head < self._tail:
            sample_ts, sample_mid, book, flow = ring[self._head % cap]
            if ts - sample_ts < horizon:
                break
            self.rls.update(book, flow, mid / sample_mid - 1.0)
            self._head += 1

    def _sample(self, ts: int, mid: float) -> None:
        if self._last_sample_ns is not None and ts - self._last_sample_ns < self.config.sample_secs * NS_PER_S:
            return
        cap = len(self._ring)
        if self._tail - self._head >= cap:
            self._head += 1  # the ring is sized for the horizon; dropping the oldest only happens on time gaps
        self._ring[self._tail % cap] = (ts, mid, self.book_imbalance, self.flow_imbalance)
        self._tail += 1
        self._last_sample_ns = ts

    def adjustment(self) -> float:
        """The clamped relative adjustment of the mid (0 before warm-up)."""
        beta_book, beta_flow = self.rls.theta
        return self._adjustment(beta_book, beta_flow, self.flow_imbalance)

    def _adjustment(self, beta_book: float, beta_flow: float, flow: float) -> float:
        if not self.warmed_up:
            return 0.0
        raw = beta_book * self.book_imbalance + beta_flow * flow
        cap = self.config.max_adjust_bps / BPS
        return min(max(raw, -cap), cap) if math.isfinite(raw) else 0.0

    def _values(self) -> dict[str, float]:
        flow = self.flow_imbalance
        beta_book, beta_flow = self.rls.theta
        out = {
            "book_imbalance": self.book_imbalance,
            "flow_imbalance": flow,
            "beta_book": beta_book,
            "beta_flow": beta_flow,
        }
        if self.mid is not None:
            out["microprice"] = self.mid * (1.0 + self._adjustment(beta_book, beta_flow, flow))
        return out


@hookimpl
def mmtool_register_estimators() -> list[type]:
    """Register the micro-price estimator."""
    return [Microprice]
