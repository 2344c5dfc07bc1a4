"""Estimators of our own fills: markouts (adverse selection) and queue position of our resting orders.

- ``markouts``: the markout of a fill at horizon ``h`` is ``side * (mid(t + h) - px) / px`` in bps (side +1
  for our buys); negative means the market moved against us after the fill. Fills wait in a fixed ring until
  each horizon passes (the mid used is the first valid one at or after ``t + h``). Published means decay
  over the window; ``summary()`` holds session totals by horizon, side and depth bucket.
  ``adverse_selection_bps = max(0, -markout at adverse_horizon_secs)``.
- ``queue-position``: for each of our resting orders, the size ahead of it: the displayed size at its price
  when acknowledged (the book the ack is compared with predates the order), reduced by trades at that price,
  capped by the displayed size less our own as the level shrinks, zero when the level is traded through or
  vanishes. Fill probability within ``horizon_secs``: ``exp(-ahead / (v * h))`` with ``ahead`` adding the
  displayed size at better prices and ``v`` the decayed aggressor volume per second hitting that side (the
  traded volume over the horizon taken as exponential).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, ClassVar

import attrs
import numpy as np

from mmtool.core.config import ge, gt
from mmtool.core.hookspecs import hookimpl
from mmtool.core.types import BookUpdate, Fill, OrderUpdate, Side, Trade
from mmtool.plugins.estimators._common import BPS, NS_PER_S, EstimatorBase, positive, window_secs
from mmtool.plugins.estimators._orders import OrderBookOfOurs, TrackedOrder, side_at
from mmtool.plugins.estimators._windows import DecayedRate, DecayedSum

if TYPE_CHECKING:
    from mmtool.core.components import ComponentContext, MarketState
    from mmtool.core.types import Event, L2Book


def _floats(values: Any) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def _horizons_ok(inst: Any, attribute: attrs.Attribute, value: tuple[float, ...]) -> None:
    if not value or any(not h > 0 for h in value):
        raise ValueError(f"must be a non-empty list of values > 0 (got {list(value)!r})")


def _edges_ok(inst: Any, attribute: attrs.Attribute, value: tuple[float, ...]) -> None:
    if any(b <= a for a, b in zip(value, value[1:], strict=False)) or any(v <= 0 for v in value):
        raise ValueError(f"must be increasing values > 0 (got {list(value)!r})")


def horizon_label(h: float) -> str:
    """``5.0`` -> ``5``, ``0.5`` -> ``0.5`` (for value names like ``markout_5s_bps``)."""
    return f"{h:g}"


class Markouts(EstimatorBase):
    """Markouts of our fills at several horizons, by side and depth; adverse selection in bps."""

    name: ClassVar[str] = "markouts"

    @attrs.frozen
    class Config:
        """Options of the markout estimator."""

        horizons_secs: tuple[float, ...] = attrs.field(
            default=(1.0, 5.0, 30.0),
            converter=_floats,
            validator=_horizons_ok,
            metadata={"help": "Markout horizons, seconds"},
        )
        adverse_horizon_secs: float = attrs.field(
            default=5.0, validator=gt(0), metadata={"help": "Horizon behind adverse_selection_bps (one of the above)"}
        )
        depth_edges_bps: tuple[float, ...] = attrs.field(
            default=(2.0, 5.0, 10.0, 25.0),
            converter=_floats,
            validator=_edges_ok,
            metadata={"help": "Edges of the fill-depth buckets, bps from the mid"},
        )
        window_secs: float | None = attrs.field(
            default=None,
            validator=gt(0),
            metadata={"help": "Decay of the published means (default: strategy.estimation_window_secs)"},
        )
        capacity: int = attrs.field(default=1024, validator=ge(1), metadata={"help": "Fills awaiting markouts"})

        def __attrs_post_init__(self) -> None:
            if self.adverse_horizon_secs not in self.horizons_secs:
                raise ValueError(
                    f"adverse_horizon_secs ({self.adverse_horizon_secs}) must be one of horizons_secs "
                    f"{list(self.horizons_secs)}"
                )

    def __init__(self, config: Markouts.Config, window: float) -> None:
        super().__init__()
        self.config = config
        self.horizons = tuple(sorted(config.horizons_secs))
        self.edges = np.asarray(config.depth_edges_bps)
        cap = config.capacity
        self._ts = np.zeros(cap, dtype=np.int64)
        self._sign = np.zeros(cap)
        self._px = np.zeros(cap)
        self._bucket = np.zeros(cap, dtype=np.int64)
        self._written = 0
        self._resolved = [0] * len(self.horizons)
        self.dropped = 0
        self.fills = 0
        self._sum = [DecayedSum(window) for _ in self.horizons]
        self._count = [DecayedSum(window) for _ in self.horizons]
        shape = (len(self.horizons), 2, self.edges.shape[0] + 1)
        self._total = np.zeros(shape)
        self._n = np.zeros(shape)

    @classmethod
    def from_config(cls, config: Markouts.Config, ctx: ComponentContext) -> Markouts:
        """Build from the ``[plugins.markouts]`` table; the window defaults to the strategy's."""
        return cls(config, window_secs(config.window_secs, ctx))

    @property
    def warmed_up(self) -> bool:
        """Always True: markouts need our fills, which need quoting."""
        return True

    def _handle(self, event: Event, market: MarketState) -> bool:
        mid = self.mid_or(market)
        if isinstance(event, Fill):
            if mid is None:
                return True
            self._record(event, mid)
        if mid is not None:
            self._resolve(self.now_ns, mid)
        return True

    def _record(self, event: Fill, mid: float) -> None:
        cap = self._ts.shape[0]
        if self._written - min(self._resolved) >= cap:
            oldest = self._written - cap
            for k, r in enumerate(self._resolved):
                if r <= oldest:
                    self._resolved[k] = oldest + 1
            self.dropped += 1
        i = self._written % cap
        price = float(event.price)
        self._ts[i] = event.ts_exchange_ns
        self._sign[i] = event.side.sign
        self._px[i] = price
        self._bucket[i] = int(np.searchsorted(self.edges, abs(price - mid) / mid * BPS, side="right"))
        self._written += 1
        self.fills += 1

    def _resolve(self, ts: int, mid: float) -> None:
        cap = self._ts.shape[0]
        for k, h in enumerate(self.horizons):
            horizon = int(h * NS_PER_S)
            r = self._resolved[k]
            while r < self._written and ts - self._ts[r % cap] >= horizon:
                i = r % cap
                markout = self._sign[i] * (mid - self._px[i]) / self._px[i] * BPS
                self._sum[k].add(ts, markout)
                self._count[k].add(ts, 1.0)
                side = 0 if self._sign[i] > 0 else 1
                self._total[k, side, self._bucket[i]] += markout
                self._n[k, side, self._bucket[i]] += 1
                r += 1
            self._resolved[k] = r

    def markout_bps(self, horizon: float) -> float | None:
        """The decayed mean markout at ``horizon`` (bps), None before any resolved fill."""
        k = self.horizons.index(horizon)
        n = self._count[k].value()
        return self._sum[k].value() / n if n > 0 else None

    def _values(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for h in self.horizons:
            m = self.markout_bps(h)
            if m is not None:
                out[f"markout_{horizon_label(h)}s_bps"] = m
        adverse = self.markout_bps(self.config.adverse_horizon_secs)
        out["adverse_selection_bps"] = max(0.0, -adverse) if adverse is not None else 0.0
        return out

    def _bucket_labels(self) -> list[str]:
        edges = [0.0, *self.edges.tolist()]
        labels = [f"{a:g}-{b:g}bps" for a, b in zip(edges, edges[1:], strict=False)]
        return [*labels, f">{edges[-1]:g}bps"]

    def summary(self) -> dict[str, Any]:
        """Session markouts for logging at shutdown: count and mean (bps) by horizon, side and depth."""

        def mean(total: np.ndarray, n: np.ndarray) -> float | None:
            return float(total.sum() / n.sum()) if n.sum() > 0 else None

        horizons: dict[str, Any] = {}
        labels = self._bucket_labels()
        for k, h in enumerate(self.horizons):
            total, n = self._total[k], self._n[k]
            horizons[f"{horizon_label(h)}s"] = {
                "count": int(n.sum()),
                "mean_bps": mean(total, n),
                "buy_bps": mean(total[0], n[0]),
                "sell_bps": mean(total[1], n[1]),
                "by_depth_bps": {
                    label: mean(total[:, j], n[:, j]) for j, label in enumerate(labels) if n[:, j].sum() > 0
                },
            }
        return {
            "fills": self.fills,
            "dropped": self.dropped,
            "adverse_selection_bps": self._values()["adverse_selection_bps"],
            "horizons": horizons,
        }


class QueuePosition(EstimatorBase):
    """Queue position and fill probability of our resting orders, from the book and the trades."""

    name: ClassVar[str] = "queue-position"

    @attrs.frozen
    class Config:
        """Options of the queue-position estimator."""

        horizon_secs: float = attrs.field(
            default=10.0, validator=gt(0), metadata={"help": "Horizon of the fill probability, seconds"}
        )
        flow_secs: float | None = attrs.field(
            default=None,
            validator=gt(0),
            metadata={"help": "Decay of the traded-volume rate (default: strategy.estimation_window_secs)"},
        )
        max_orders: int = attrs.field(default=256, validator=ge(1), metadata={"help": "Orders tracked at most"})

    def __init__(self, config: QueuePosition.Config, window: float) -> None:
        super().__init__()
        self.config = config
        self.window = window
        self.orders = OrderBookOfOurs(config.max_orders)
        # Aggressor volume by the side of the book it hits (keyed by our resting side).
        self._flow = {s: DecayedRate(window) for s in Side}
        self._book: L2Book | None = None
        self._levels: dict[Side, list[tuple[float, float]]] = {}

    @classmethod
    def from_config(cls, config: QueuePosition.Config, ctx: ComponentContext) -> QueuePosition:
        """Build from the ``[plugins.queue-position]`` table; the flow window defaults to the strategy's."""
        return cls(config, window_secs(config.flow_secs, ctx))

    @property
    def warmed_up(self) -> bool:
        """Always True: a diagnostic that needs our own orders."""
        return True

    def _displayed(self, side: Side, price: float) -> tuple[float, float]:
        """(size at ``price``, size at strictly better prices) on ``side`` of the latest book."""
        levels = self._side_levels(side)
        at = better = 0.0
        for level_price, size in levels:
            if level_price == price:
                at += size
            elif level_price > price if side is Side.BUY else level_price < price:
                better += size
            else:
                break  # levels are sorted best first
        return at, better

    def _side_levels(self, side: Side) -> list[tuple[float, float]]:
        # Converted lazily: most book updates arrive while we have no order to measure.
        levels = self._levels.get(side)
        if levels is None:
            if self._book is None:
                return []
            raw = self._book.bids if side is Side.BUY else self._book.asks
            levels = [(float(lv.price), float(lv.size)) for lv in raw]
            self._levels[side] = levels
        return levels

    def _handle(self, event: Event, market: MarketState) -> bool:
        if isinstance(event, BookUpdate):
            self._on_book(event.book)
        elif isinstance(event, Trade):
            self._on_trade(event)
        elif isinstance(event, Fill):
            self.orders.on_fill(event)
        elif isinstance(event, OrderUpdate):
            price = positive(event.price)
            touch = self.touch
            side = side_at(price, touch.bid, touch.ask) if price is not None and touch is not None else None
            ahead = self._displayed(side, price)[0] if side is not None and price is not None else 0.0
            return self.orders.on_update(event, side, ahead)
        return True

    def _on_book(self, book: L2Book) -> None:
        self._book = book
        self._levels.clear()
        for order in self.orders.orders.values():
            at_price, _ = self._displayed(order.side, order.price)
            order.queue_ahead = min(order.queue_ahead, max(0.0, at_price - order.remaining))

    def _on_trade(self, event: Trade) -> None:
        hit = Side.BUY if event.side is Side.SELL else Side.SELL  # a sell aggressor hits the bids
        size, price = float(event.size), float(event.price)
        self._flow[hit].add(event.ts_exchange_ns, size)
        for order in self.orders.orders.values():
            if order.side is not hit:
                continue
            through = price < order.price if hit is Side.BUY else price > order.price
            if through:
                order.queue_ahead = 0.0
            elif price == order.price:
                order.queue_ahead = max(0.0, order.queue_ahead - size)

    def fill_probability(self, order: TrackedOrder) -> float:
        """Probability that ``order`` starts filling within ``horizon_secs``."""
        _, better = self._displayed(order.side, order.price)
        ahead = order.queue_ahead + better
        volume = self._flow[order.side].rate(self.now_ns) * self.config.horizon_secs
        if ahead <= 0:
            return 1.0
        return math.exp(-ahead / volume) if volume > 0 else 0.0

    def _best(self, side: Side) -> TrackedOrder | None:
        best: TrackedOrder | None = None
        for order in self.orders.orders.values():
            if order.side is side and (
                best is None or (order.price > best.price if side is Side.BUY else order.price < best.price)
            ):
                best = order
        return best

    def _values(self) -> dict[str, float]:
        out: dict[str, float] = {}
        probs = []
        for side, tag in ((Side.BUY, "bid"), (Side.SELL, "ask")):
            order = self._best(side)
            if order is None:
                continue
            p = self.fill_probability(order)
            probs.append(p)
            out[f"queue_fill_prob_{tag}"] = p
            out[f"queue_ahead_{tag}"] = order.queue_ahead
        if probs:
            out["queue_fill_prob"] = sum(probs) / len(probs)
        return out


@hookimpl
def mmtool_register_estimators() -> list[type]:
    """Register the markout and queue-position estimators."""
    return [Markouts, QueuePosition]
