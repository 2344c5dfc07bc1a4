"""Pure functions behind the backtest summary: Sharpe, drawdown, markouts and inventory statistics.

Conventions (documented in ``docs/backtesting.md``):

* **Sharpe** of per-minute PnL changes (USD), annualised for a market that trades around the clock:
  ``mean / std (ddof=1) * sqrt(525_600)``. It is a ratio of PnL changes, not of returns on capital.
* **Max drawdown**: the largest drop of total PnL from its running peak (the peak starts at 0), USD, >= 0.
* **Markout** of a fill at horizon h: ``side * (mid(t + h) - price)``, where ``mid(t + h)`` is the last mid
  seen at or before ``t + h``; positive means the fill made money. Reported per horizon as the plain mean in
  bps of the fill price and as the USD sum (size-weighted). Fills whose horizon falls after the data are left out.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Iterable, Sequence

import attrs

#: Minutes in a year of round-the-clock trading.
MINUTES_PER_YEAR = 365 * 24 * 60


def sharpe(per_minute_pnl: Sequence[float]) -> float | None:
    """Annualised Sharpe ratio of a series of cumulative PnL values taken once a minute (first value at t=0).

    None with fewer than two changes or when the changes do not vary.
    """
    changes = [b - a for a, b in zip(per_minute_pnl, per_minute_pnl[1:], strict=False)]
    if len(changes) < 2:
        return None
    mean = sum(changes) / len(changes)
    var = sum((c - mean) ** 2 for c in changes) / (len(changes) - 1)
    if not var > 0:
        return None
    return mean / math.sqrt(var) * math.sqrt(MINUTES_PER_YEAR)


def max_drawdown(pnl: Iterable[float]) -> float:
    """The largest fall of a cumulative PnL series from its running peak (which starts at 0), in USD."""
    peak = 0.0
    worst = 0.0
    for value in pnl:
        peak = max(peak, value)
        worst = max(worst, peak - value)
    return worst


@attrs.frozen
class MarkoutFill:
    """What a markout needs of one fill: its time, side (+1 buy, -1 sell), price and size."""

    ts_ns: int
    sign: int
    price: float
    size: float


@attrs.frozen
class Markout:
    """Markouts of the fills that reached one horizon."""

    horizon_s: float
    fills: int
    mean_bps: float | None
    usd: float

    def as_dict(self) -> dict[str, float | int | None]:
        """The summary's JSON shape, rounded."""
        return {
            "fills": self.fills,
            "mean_bps": None if self.mean_bps is None else round(self.mean_bps, 6),
            "usd": round(self.usd, 6),
        }


class _Horizon:
    __slots__ = ("horizon_ns", "pending", "count", "bps_sum", "usd")

    def __init__(self, horizon_ns: int) -> None:
        self.horizon_ns = horizon_ns
        self.pending: deque[MarkoutFill] = deque()
        self.count = 0
        self.bps_sum = 0.0
        self.usd = 0.0

    def resolve(self, fill: MarkoutFill, mid: float) -> None:
        move = fill.sign * (mid - fill.price)
        self.count += 1
        self.bps_sum += move / fill.price * 1e4
        self.usd += move * fill.size


class MarkoutTracker:
    """Online markouts: fills wait in a queue per horizon until a mid after their horizon is seen.

    Memory is bounded by the fills of the last horizon, whatever the length of the run.
    """

    def __init__(self, horizons_s: Sequence[float]) -> None:
        if any(not h >= 0 for h in horizons_s):
            raise ValueError(f"horizons must be >= 0 (got {list(horizons_s)})")
        self.horizons_s = tuple(horizons_s)
        self._horizons = [_Horizon(round(h * 1e9)) for h in self.horizons_s]
        self._mid: float | None = None

    def on_fill(self, fill: MarkoutFill) -> None:
        """A fill of ours (fills must come in time order)."""
        for horizon in self._horizons:
            horizon.pending.append(fill)

    def on_mid(self, ts_ns: int, mid: float) -> None:
        """The mid changed to ``mid`` at ``ts_ns``: settle every fill whose horizon ended before it."""
        if self._mid is not None:
            self._settle(lambda target: target < ts_ns, self._mid)
        self._mid = mid

    def finish(self, end_ns: int) -> list[Markout]:
        """Settle what the data covers (horizon at or before ``end_ns``) and return one result per horizon."""
        if self._mid is not None:
            self._settle(lambda target: target <= end_ns, self._mid)
        return [
            Markout(h_s, h.count, h.bps_sum / h.count if h.count else None, h.usd)
            for h_s, h in zip(self.horizons_s, self._horizons, strict=True)
        ]

    def _settle(self, due: Callable[[int], bool], mid: float) -> None:
        for horizon in self._horizons:
            pending = horizon.pending
            while pending and due(pending[0].ts_ns + horizon.horizon_ns):
                horizon.resolve(pending.popleft(), mid)


def markouts(
    fills: Sequence[MarkoutFill], mids: Sequence[tuple[int, float]], horizons_s: Sequence[float], end_ns: int
) -> list[Markout]:
    """Markouts of ``fills`` against a mid series ``(ts_ns, mid)`` (both in time order), up to ``end_ns``."""
    tracker = MarkoutTracker(horizons_s)
    events: list[tuple[int, int, int]] = [(ts, 0, i) for i, (ts, _) in enumerate(mids)]
    events += [(f.ts_ns, 1, i) for i, f in enumerate(fills)]
    # At equal times the mid comes first: a fill sees the mid already in effect at its own time.
    for _, kind, index in sorted(events):
        if kind == 0:
            tracker.on_mid(*mids[index])
        else:
            tracker.on_fill(fills[index])
    return tracker.finish(end_ns)


@attrs.frozen
class InventoryStats:
    """Inventory over the sampled grid: mean |q|, share of samples at the limit, and the largest |q| seen."""

    mean_abs: float
    time_at_limit: float
    max_abs: float

    def as_dict(self) -> dict[str, float]:
        """The summary's JSON shape, rounded."""
        return {
            "mean_abs": round(self.mean_abs, 6),
            "time_at_limit": round(self.time_at_limit, 6),
            "max_abs": round(self.max_abs, 6),
        }


def inventory_stats(positions: Sequence[float], limit: float, max_abs: float | None = None) -> InventoryStats:
    """Statistics of sampled positions; ``max_abs`` (exact, from every fill) wins over the samples' maximum."""
    if not positions:
        return InventoryStats(0.0, 0.0, max_abs or 0.0)
    absolute = [abs(q) for q in positions]
    at_limit = sum(1 for q in absolute if q >= limit * (1 - 1e-9))
    return InventoryStats(
        mean_abs=sum(absolute) / len(absolute),
        time_at_limit=at_limit / len(absolute),
        max_abs=max(max(absolute), max_abs or 0.0),
    )
