"""Time series of a backtest sampled on a fixed grid of simulated time, so memory grows with the duration only
(one row per interval), never with the event rate."""

from __future__ import annotations

import math
from array import array
from typing import TYPE_CHECKING

from mmtool.core.types import Side

if TYPE_CHECKING:
    from mmtool.core.engine import Engine

NS = 1_000_000_000
MINUTE_NS = 60 * NS
#: Sampled columns, in order. Prices in USD, position in asset units, PnL in USD, sigma per sqrt(second)
#: (relative), kappa per unit relative depth, as the estimators publish them; NaN where unknown.
COLUMNS = (
    "t_s",
    "mid",
    "best_bid",
    "best_ask",
    "our_bid",
    "our_ask",
    "position",
    "realized",
    "unrealized",
    "fees",
    "funding",
    "total",
    "sigma",
    "kappa",
)
_TOTAL = COLUMNS.index("total") - 1  # index in a row, which has no t_s


def _num(value: float | None) -> float:
    return math.nan if value is None else float(value)


class Series:
    """Samples the engine's state every ``interval_s`` of simulated time, and its total PnL every minute."""

    def __init__(self, start_ns: int, interval_s: float = 1.0, max_fill_points: int = 50_000) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be > 0 (got {interval_s})")
        self.start_ns = start_ns
        self.interval_ns = max(1, round(interval_s * NS))
        self.columns: dict[str, array] = {name: array("d") for name in COLUMNS}
        #: Total PnL at each whole minute from the start (the first value is 0 at t=0).
        self.minute_pnl = array("d", [0.0])
        #: Fills for the plots: (t_s, price, +1 buy / -1 sell), at most ``max_fill_points`` of them.
        self.fills: list[tuple[float, float, int]] = []
        self.fills_dropped = 0
        self._max_fills = max_fill_points
        self._next = start_ns + self.interval_ns
        self._next_minute = start_ns + MINUTE_NS

    def __len__(self) -> int:
        return len(self.columns["t_s"])

    def column(self, name: str) -> list[float]:
        """One column as a list."""
        return self.columns[name].tolist()

    def advance(self, engine: Engine, ts_ns: int) -> None:
        """Record every grid point up to ``ts_ns`` with the engine's state now (call before the event at
        ``ts_ns`` is handled, so each point holds the state in effect at its time)."""
        if ts_ns < self._next and ts_ns < self._next_minute:
            return
        row = self._row(engine)
        while self._next <= ts_ns:
            self._append((self._next - self.start_ns) / NS, row)
            self._next += self.interval_ns
        while self._next_minute <= ts_ns:
            self.minute_pnl.append(row[_TOTAL])
            self._next_minute += MINUTE_NS

    def on_fill(self, ts_ns: int, price: float, side: Side) -> None:
        """Keep a fill for the plots (the first ``max_fill_points`` only)."""
        if len(self.fills) < self._max_fills:
            self.fills.append(((ts_ns - self.start_ns) / NS, price, side.sign))
        else:
            self.fills_dropped += 1

    def _append(self, t_s: float, row: tuple[float, ...]) -> None:
        self.columns["t_s"].append(t_s)
        for name, value in zip(COLUMNS[1:], row, strict=True):
            self.columns[name].append(value)

    def _row(self, engine: Engine) -> tuple[float, ...]:
        market = engine.market
        bids = [o.price for o in engine.live_orders() if o.side is Side.BUY]
        asks = [o.price for o in engine.live_orders() if o.side is Side.SELL]
        pnl = engine.portfolio.snapshot(engine.now_ns)
        values = engine.params.values if engine.params is not None else {}
        return (
            _num(market.mid),
            _num(market.best_bid),
            _num(market.best_ask),
            float(max(bids)) if bids else math.nan,
            float(min(asks)) if asks else math.nan,
            float(engine.portfolio.position),
            pnl.realized,
            pnl.unrealized,
            pnl.fees,
            pnl.funding,
            pnl.total,
            _num(values.get("sigma")),
            _num(values.get("kappa")),
        )
