"""Shared plumbing of the estimators: input validation, per-stream time ordering and the last valid touch.

Every estimator derives from :class:`EstimatorBase`. It rejects and counts bad data before any math sees it:
non-finite, zero or negative prices and sizes, empty or crossed books, and events whose exchange timestamp
goes backwards *within their own stream* (trades, books, mids, fills, ...). Streams are ordered separately
because an exchange's channels are not ordered with one another: a fill can legitimately arrive stamped
before the last book update.
"""

from __future__ import annotations

import abc
import functools
import math
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar

import attrs

from mmtool.core.types import BookUpdate, Fill, Funding, L2Book, MidUpdate, Trade

if TYPE_CHECKING:
    from mmtool.core.components import ComponentContext, MarketState
    from mmtool.core.types import Event

NS_PER_S = 1_000_000_000
BPS = 1e4


def positive(value: Decimal | float | None) -> float | None:
    """``value`` as a float when it is finite and > 0, else None (NaN, infinities, sNaN, zero, negative)."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        if not value.is_finite() or value <= 0:
            return None
        return float(value)
    x = float(value)
    return x if math.isfinite(x) and x > 0 else None


def finite(value: Decimal | float | None) -> float | None:
    """``value`` as a float when it is finite (any sign), else None."""
    if value is None:
        return None
    if isinstance(value, Decimal):
        return float(value) if value.is_finite() else None
    x = float(value)
    return x if math.isfinite(x) else None


@attrs.frozen
class Touch:
    """A validated top of book: best prices and displayed sizes as floats, bid < ask."""

    bid: float
    ask: float
    bid_size: float
    ask_size: float

    @property
    def mid(self) -> float:
        """Mid of the best prices."""
        return 0.5 * (self.bid + self.ask)

    @property
    def spread(self) -> float:
        """Relative spread ``(ask - bid) / mid`` (a fraction)."""
        return (self.ask - self.bid) / self.mid


#: The last book whose top-of-book touch was computed, and that touch: every estimator asks for the touch of the
#: same book, and books are immutable, so it is computed once per book (the reference keeps the id unique).
_last_touch: tuple[L2Book | None, Touch | None] = (None, None)


def touch_of(book: L2Book, levels: int = 1) -> Touch | None:
    """The validated touch of ``book`` summing the sizes of its first ``levels`` levels; None if unusable.

    Unusable means an empty side, a bad price or size in the levels read, or a crossed or locked book.
    """
    global _last_touch
    if levels == 1:
        last_book, last = _last_touch
        if book is last_book:
            return last
        touch = _touch_of(book, 1)
        _last_touch = (book, touch)
        return touch
    return _touch_of(book, levels)


def _touch_of(book: L2Book, levels: int) -> Touch | None:
    if not book.bids or not book.asks:
        return None
    bid = positive(book.bids[0].price)
    ask = positive(book.asks[0].price)
    if bid is None or ask is None or bid >= ask:
        return None
    sizes = []
    for side in (book.bids[:levels], book.asks[:levels]):
        total = 0.0
        for level in side:
            size = positive(level.size)
            if size is None or positive(level.price) is None:
                return None
            total += size
        sizes.append(total)
    return Touch(bid, ask, sizes[0], sizes[1])


def window_secs(own: float | None, ctx: ComponentContext) -> float:
    """The estimator's own window when configured, else ``settings.strategy.estimation_window_secs``."""
    return float(own) if own is not None else float(ctx.settings.strategy.estimation_window_secs)


def value_prefix(name: str) -> str:
    """A component name as a value-name prefix (``liquidation-cascade`` -> ``liquidation_cascade``)."""
    return name.replace("-", "_")


class EstimatorBase(abc.ABC):
    """Base of the built-in estimators: validates time ordering, counts bad events, tracks the mid.

    Subclasses implement :meth:`_handle` (return False to reject the event as bad data) and
    :meth:`_values`. ``now_ns`` is the latest accepted exchange timestamp of any stream.
    """

    name: ClassVar[str]

    def __init__(self) -> None:
        self.bad_events = 0
        self.now_ns = 0
        self.touch: Touch | None = None
        self.mid: float | None = None
        self._watermarks: dict[type, int] = {}

    def on_event(self, event: Event, market: MarketState) -> None:
        """Validate ``event`` (time order, prices, sizes, book sanity) and hand it to the estimator's math."""
        ts = event.ts_exchange_ns
        kind = type(event)
        if ts < self._watermarks.get(kind, ts) or not self._valid(event):
            self.bad_events += 1
            return
        self._watermarks[kind] = ts
        self.now_ns = max(self.now_ns, ts)
        if not self._handle(event, market):
            self.bad_events += 1

    def _valid(self, event: Event) -> bool:
        if isinstance(event, BookUpdate):
            touch = touch_of(event.book)
            if touch is None:
                return False
            self.touch, self.mid = touch, touch.mid
        elif isinstance(event, MidUpdate):
            mid = positive(event.mid)
            if mid is None:
                return False
            self.mid = mid
        elif isinstance(event, Trade | Fill):
            return positive(event.price) is not None and positive(event.size) is not None
        elif isinstance(event, Funding):
            return finite(event.rate) is not None
        return True

    def mid_or(self, market: MarketState) -> float | None:
        """The last valid mid from the book or mid stream, else the engine's mid when it is usable."""
        return self.mid if self.mid is not None else positive(market.mid)

    @abc.abstractmethod
    def _handle(self, event: Event, market: MarketState) -> bool:
        """Update the estimate with a validated event; return False to count it as bad data."""

    @abc.abstractmethod
    def _values(self) -> dict[str, float]:
        """The estimator's own published values."""

    def values(self) -> Mapping[str, float]:
        """The published values plus ``<name>_bad_events``."""
        out = self._values()
        out[self._bad_events_key()] = float(self.bad_events)
        return out

    @classmethod
    @functools.cache
    def _bad_events_key(cls) -> str:
        return f"{value_prefix(cls.name)}_bad_events"


class RefitAfterDecision(EstimatorBase):
    """An estimator whose periodic refit (costly fitting) waits until the event's decision has been sent.

    Where ``_handle`` would refit it calls :meth:`_refit_later`; the engine then calls :meth:`after_decision` once
    that event's decision has left (or before the next event at the latest), which runs ``_refit(ts)``, so the fit
    first counts for the next event's decision and the fitting is never on the order path. Used on its own, the
    estimator runs a pending refit before it takes the next event in, which leaves it in the same state.
    """

    def __init__(self) -> None:
        super().__init__()
        #: The time of a refit that is due but waits for :meth:`after_decision`.
        self._refit_due: int | None = None

    def on_event(self, event: Event, market: MarketState) -> None:
        """Run work still due first (when nobody called :meth:`after_decision`), then take the event in."""
        if self._work_due():
            self.after_decision()
        super().on_event(event, market)

    def _work_due(self) -> bool:
        """True while :meth:`after_decision` has something to do (a subclass deferring more extends it)."""
        return self._refit_due is not None

    def after_decision(self) -> None:
        """Run the refit the last event made due, if any."""
        ts = self._refit_due
        if ts is not None:
            self._refit_due = None
            self._refit(ts)

    def _refit_later(self, ts: int) -> None:
        self._refit_due = ts

    @abc.abstractmethod
    def _refit(self, ts: int) -> None:
        """Fit again on the data up to ``ts`` (exchange ns) and publish the result."""
