"""Fill intensity ``lambda(delta) = A * exp(-kappa * delta)`` per side, from trade depths and our own fills.

Trades: a buy aggressor reaches the ask side at depth ``delta = (px - mid) / mid``, a sell aggressor the bid
side at ``(mid - px) / mid``. ``lambda(delta)`` is the rate of trades reaching depth ``delta`` or beyond, so
with exponential depths the depth bin ``m`` past the touch is geometric: ``P(m) = (1 - q) q^m`` with
``q = exp(-kappa h)`` for bin width ``h``. We keep exponentially decayed counts per depth bin and side and
take the *binned, censored maximum likelihood* estimate, closed form::

    q = W / (W + N_u),   W = sum_m m * c_m (+ M * c_overflow),   N_u = uncensored count,   kappa = -ln q / h

Bins start at the bin of the (decayed mean) half-spread, since no trade happens inside the touch; trades
measured inside it (stale mid) fold into the first bin. The rate at that bin's lower edge is the decayed count
per decayed second, which extrapolated back to the mid gives ``A = (N / T) * exp(kappa * delta_touch)``.
Binning makes the fit indifferent to tick discreteness, and the overflow bin to rare sweeps.

Our fills (once ``min_own_fills`` are seen on a side) measure the intensity *per order* directly: fills per
second of our orders' resting time in each depth bin; a weighted least squares of ``ln lambda`` on depth
(weights = fill counts) gives their ``kappa`` and ``A``, blended in with weight ``own_fills_weight``.

``intensity_confidence`` (0..1) is the smaller side's decayed trade count over ``full_confidence_trades``; it
is 0 until both sides have a fit. ``book_depth_decay`` (slope of ln displayed size against depth, sign
flipped) is a diagnostic only: the displayed book's shape gives a kappa orders of magnitude too small.

The fits are refreshed at most every ``refit_secs`` once new trades or fills came in. The refit (a few hundred
microseconds) runs in :meth:`Intensity.after_decision`, after the engine has sent the decision of the event that
made it due, so it is never on the order path; its result counts from the next event's decision on. So do a
market event's credit of our orders' resting time and the book fit, which that decision does not read.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

import attrs
import numpy as np

from mmtool.core.config import ge, gt, le
from mmtool.core.hookspecs import hookimpl
from mmtool.core.types import BookUpdate, Fill, OrderUpdate, Side, Trade
from mmtool.plugins.estimators._common import BPS, NS_PER_S, RefitAfterDecision, positive, window_secs
from mmtool.plugins.estimators._orders import OrderBookOfOurs, side_at
from mmtool.plugins.estimators._windows import DecayedHistogram, DecayedSum

if TYPE_CHECKING:
    from mmtool.core.components import ComponentContext, MarketState
    from mmtool.core.types import Event, L2Book


def geometric_kappa(counts: np.ndarray, start: int, width: float) -> float | None:
    """Binned, right-censored MLE of kappa from decayed counts per depth bin (last bin = overflow)."""
    last = counts.shape[0] - 1
    if start >= last:
        return None
    c = counts[start:].copy()
    c[0] += counts[:start].sum()
    m = np.arange(c.shape[0], dtype=float)
    uncensored = c[:-1].sum()
    w = float((m[:-1] * c[:-1]).sum() + m[-1] * c[-1])
    if uncensored <= 0 or w <= 0:
        return None
    q = w / (w + uncensored)
    return -math.log(q) / width


def wls_kappa(fills: np.ndarray, exposure: np.ndarray, width: float) -> tuple[float, float] | None:
    """Weighted least squares of ln(fills / exposure) on bin-centre depth; returns (kappa, A) or None."""
    ok = (fills > 0.5) & (exposure > 0)
    if ok.sum() < 2:
        return None
    depth = (np.nonzero(ok)[0] + 0.5) * width
    y = np.log(fills[ok] / exposure[ok])
    w = fills[ok]
    dm = np.average(depth, weights=w)
    ym = np.average(y, weights=w)
    sxx = float((w * (depth - dm) ** 2).sum())
    if sxx <= 0:
        return None
    slope = float((w * (depth - dm) * (y - ym)).sum()) / sxx
    return -slope, math.exp(ym - slope * dm)


@attrs.frozen
class SideFit:
    """Fitted intensity of one side, with the decayed trade count behind it."""

    kappa: float
    arrival_a: float
    count: float


class Intensity(RefitAfterDecision):
    """Order-flow intensity kappa and A per side, by binned MLE on trade depths plus our own fills."""

    name: ClassVar[str] = "intensity"

    @attrs.frozen
    class Config:
        """Options of the intensity estimator."""

        window_secs: float | None = attrs.field(
            default=None,
            validator=gt(0),
            metadata={"help": "Decay horizon in seconds (default: strategy.estimation_window_secs)"},
        )
        bin_bps: float = attrs.field(default=0.5, validator=gt(0), metadata={"help": "Depth bin width, bps"})
        max_depth_bps: float = attrs.field(
            default=50.0, validator=gt(0), metadata={"help": "Deepest bin (beyond it: overflow, censored), bps"}
        )
        full_confidence_trades: float = attrs.field(
            default=200.0, validator=gt(0), metadata={"help": "Decayed trades per side for confidence 1"}
        )
        min_trades: float = attrs.field(
            default=30.0, validator=ge(1), metadata={"help": "Decayed trades per side before warmed up"}
        )
        min_own_fills: float = attrs.field(
            default=20.0, validator=ge(1), metadata={"help": "Decayed own fills per side before they count"}
        )
        own_fills_weight: float = attrs.field(
            default=0.5,
            validator=[ge(0), le(1)],
            metadata={"help": "Weight of the own-fill fit once there are enough fills (0..1)"},
        )
        kappa_min: float = attrs.field(default=10.0, validator=gt(0), metadata={"help": "Lowest kappa, 1/fraction"})
        kappa_max: float = attrs.field(
            default=1e6, validator=gt(0), metadata={"help": "Highest kappa, 1/fraction"}
        )
        refit_secs: float = attrs.field(
            default=1.0, validator=ge(0), metadata={"help": "Refit at most this often, seconds of event time"}
        )
        book_fit_every: int = attrs.field(
            default=10, validator=ge(1), metadata={"help": "Fit the book-depth diagnostic every N book updates"}
        )

    def __init__(self, config: Intensity.Config, window: float) -> None:
        super().__init__()
        self.config = config
        self.window = window
        self.width = config.bin_bps / BPS
        bins = max(int(math.ceil(config.max_depth_bps / config.bin_bps)), 2) + 1
        self._trades = {s: DecayedHistogram(bins, window) for s in Side}
        self._fills = {s: DecayedHistogram(bins, window) for s in Side}
        self._exposure = {s: DecayedHistogram(bins, window) for s in Side}
        self._half_spread = DecayedSum(window)
        self._spread_weight = DecayedSum(window)
        self._start_ns: int | None = None
        self._orders = OrderBookOfOurs()
        self._exposure_ns: int | None = None
        self._exposure_mid: float | None = None
        self._fit_ns: int | None = None
        self._dirty = False
        self._books = 0
        self._book_decay: float | None = None
        self.fits: dict[Side, SideFit] = {}
        self._cache: dict[str, float] = {"intensity_confidence": 0.0}
        #: Work a market event left for :meth:`after_decision`: the exposure credit up to a time, a book to fit.
        self._accrue_at: int | None = None
        self._book_to_fit: L2Book | None = None

    @classmethod
    def from_config(cls, config: Intensity.Config, ctx: ComponentContext) -> Intensity:
        """Build from the ``[plugins.intensity]`` table; the window defaults to the strategy's."""
        return cls(config, window_secs(config.window_secs, ctx))

    @property
    def warmed_up(self) -> bool:
        """True once both sides have a fit on at least ``min_trades`` decayed trades."""
        return len(self.fits) == 2 and min(f.count for f in self.fits.values()) >= self.config.min_trades

    def _bin(self, depth: float) -> int:
        return int(max(depth, 0.0) / self.width)

    def _handle(self, event: Event, market: MarketState) -> bool:
        ts = event.ts_exchange_ns
        if self._start_ns is None:
            self._start_ns = ts
        if isinstance(event, OrderUpdate | Fill):
            # Credit the resting time before our orders change.
            self._accrue_exposure(ts)
        elif not isinstance(event, Trade):
            # A market event moves the mid, not our orders: the credit up to now can wait for after_decision (it
            # only feeds the next refit, which runs after it). Trades change neither, so they need not settle it.
            self._accrue_at = ts
        if isinstance(event, Trade):
            mid = self.mid_or(market)
            if mid is None:
                return True
            price = float(event.price)
            # The buy aggressor lifts the asks: it fills resting sells, i.e. the ask side of our ladder.
            side = Side.SELL if event.side is Side.BUY else Side.BUY
            depth = (price - mid) / mid if side is Side.SELL else (mid - price) / mid
            self._trades[side].add(ts, self._bin(depth))
            if self.touch is not None:
                self._half_spread.add(ts, 0.5 * self.touch.spread)
                self._spread_weight.add(ts, 1.0)
            self._dirty = True
        elif isinstance(event, Fill):
            mid = self.mid_or(market)
            if mid is None:
                return True
            self._orders.on_fill(event)
            price = float(event.price)
            depth = (mid - price) / mid if event.side is Side.BUY else (price - mid) / mid
            self._fills[event.side].add(ts, self._bin(depth))
            self._dirty = True
        elif isinstance(event, OrderUpdate):
            price = positive(event.price)
            touch = self.touch
            side = side_at(price, touch.bid, touch.ask) if price is not None and touch is not None else None
            if not self._orders.on_update(event, side, 0.0):
                return False
        elif isinstance(event, BookUpdate):
            self._books += 1
            if self._books % self.config.book_fit_every == 0:
                self._book_to_fit = event.book  # a diagnostic: fitted after the decision
        if self._dirty and (self._fit_ns is None or ts - self._fit_ns >= self.config.refit_secs * NS_PER_S):
            # The refit (a few hundred µs of fitting) waits until this event's decision has been sent.
            self._refit_later(ts)
        return True

    def after_decision(self) -> None:
        """The exposure credit and book fit a market event left for after the decision, then a due refit."""
        ts = self._accrue_at
        if ts is not None:
            self._accrue_at = None
            self._accrue_exposure(ts)
        book = self._book_to_fit
        if book is not None:
            self._book_to_fit = None
            self._fit_book(book)
        super().after_decision()

    def _work_due(self) -> bool:
        return self._accrue_at is not None or self._book_to_fit is not None or super()._work_due()

    def _accrue_exposure(self, ts: int) -> None:
        """Credit our resting orders with the time since the last event, at their depth from the mid then."""
        last, mid = self._exposure_ns, self._exposure_mid
        self._exposure_ns, self._exposure_mid = ts, self.mid
        if last is None or mid is None or ts <= last or not self._orders.orders:
            return
        dt = (ts - last) / NS_PER_S
        bins: dict[Side, list[int]] = {Side.BUY: [], Side.SELL: []}
        for order in self._orders.orders.values():
            depth = (mid - order.price) / mid if order.side is Side.BUY else (order.price - mid) / mid
            bins[order.side].append(self._bin(depth))
        for side, indices in bins.items():
            self._exposure[side].add_many(ts, indices, dt)

    def _refit(self, ts: int) -> None:
        self._accrue_exposure(ts)
        self._fit_ns, self._dirty = ts, False
        cfg = self.config
        assert self._start_ns is not None
        elapsed = (ts - self._start_ns) / NS_PER_S
        exposure = self.window * -math.expm1(-elapsed / self.window)
        if exposure <= 0:
            return
        weight = self._spread_weight.value(ts)
        touch_depth = self._half_spread.value(ts) / weight if weight > 0 else 0.0
        start = self._bin(touch_depth)
        for side in Side:
            counts = self._trades[side].counts(ts)
            kappa = geometric_kappa(counts, start, self.width)
            if kappa is None:
                continue
            kappa = min(max(kappa, cfg.kappa_min), cfg.kappa_max)
            total = float(counts.sum())
            arrival = total / exposure * math.exp(kappa * start * self.width)
            fills = self._fills[side].counts(ts)
            if fills.sum() >= cfg.min_own_fills and cfg.own_fills_weight > 0:
                own = wls_kappa(fills, self._exposure[side].counts(ts), self.width)
                if own is not None and own[0] > 0:
                    w = cfg.own_fills_weight
                    kappa = (1 - w) * kappa + w * min(max(own[0], cfg.kappa_min), cfg.kappa_max)
                    arrival = math.exp((1 - w) * math.log(arrival) + w * math.log(own[1]))
            self.fits[side] = SideFit(kappa, arrival, total)
        self._publish()

    def _publish(self) -> None:
        out: dict[str, float] = {}
        bid, ask = self.fits.get(Side.BUY), self.fits.get(Side.SELL)
        if bid is not None:
            out.update(kappa_bid=bid.kappa, arrival_a_bid=bid.arrival_a)
        if ask is not None:
            out.update(kappa_ask=ask.kappa, arrival_a_ask=ask.arrival_a)
        if bid is not None and ask is not None:
            # Pooled: the count-weighted kappa, and the mean per-side arrival rate.
            total = bid.count + ask.count
            out["kappa"] = (bid.kappa * bid.count + ask.kappa * ask.count) / total
            out["arrival_a"] = 0.5 * (bid.arrival_a + ask.arrival_a)
            out["intensity_confidence"] = min(1.0, min(bid.count, ask.count) / self.config.full_confidence_trades)
        else:
            out["intensity_confidence"] = 0.0
        self._cache = out

    def _fit_book(self, book: L2Book) -> None:
        """Least-squares slope of log size on depth over the book's levels, smoothed (plain floats: 40 points
        cost numpy more in call overhead than the arithmetic)."""
        mid = self.mid
        if mid is None:
            return
        depth, log_size = [], []
        log = math.log
        for levels in (book.bids, book.asks):
            for level in levels:
                price, size = positive(level.price), positive(level.size)
                if price is None or size is None:
                    return
                depth.append(abs(price - mid) / mid)
                log_size.append(log(size))
        n = len(depth)
        if n < 3:
            return
        mean_x, mean_y = sum(depth) / n, sum(log_size) / n
        sxx = sxy = 0.0
        for x, y in zip(depth, log_size, strict=True):
            dx = x - mean_x
            sxx += dx * dx
            sxy += dx * (y - mean_y)
        if sxx <= 0:
            return
        decay = -sxy / sxx
        self._book_decay = decay if self._book_decay is None else 0.9 * self._book_decay + 0.1 * decay

    def _values(self) -> dict[str, float]:
        out = dict(self._cache)
        if self._book_decay is not None:
            out["book_depth_decay"] = self._book_decay
        return out


@hookimpl
def mmtool_register_estimators() -> list[type]:
    """Register the intensity estimator."""
    return [Intensity]
