"""Position and PnL of one asset from deduplicated fills, funding payments and marks, in exact ``Decimal``.

Average-entry accounting, as the exchange reports it: adding to a position moves the average entry to the
size-weighted mean; reducing it realizes ``(exit - entry) * closed size * sign(position)``; a fill that
crosses through zero realizes the whole old position and opens the rest at the fill price.

The open position is carried as its signed cost basis (``entry * position``) rather than its average entry:
adds and full closes are then exact sums, and the only division (the share of the cost a partial reduce
removes) is rounded once, to 1e-18, and that same amount leaves the cost and enters the realized PnL. So
``realized + unrealized`` always equals the cash-flow PnL ``sum(-side * size * price) + position * mark``.

Fees are positive when paid (maker rebates negative); funding is positive when received. Fills are
deduplicated by ``trade_id`` over a bounded window of the most recent ids.
"""

from __future__ import annotations

import math
from collections import deque
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext

from mmtool.core.components import PnlSnapshot
from mmtool.core.rounding import to_decimal
from mmtool.core.types import ZERO, Fill, Funding, Position

NS_PER_DAY = 86_400 * 1_000_000_000
#: Precision of a partial reduce's share of the cost basis: far below any exchange tick.
_COST_QUANTUM = Decimal("1e-18")
#: Enough digits that sums of exchange prices, sizes and 18-decimal cost shares are exact.
_EXACT = Context(prec=60, rounding=ROUND_HALF_EVEN)


class Portfolio:
    """Tracks the signed position, average entry, realized and unrealized PnL, fees, funding and volume."""

    def __init__(self, asset: str, day_start_ns: int = 0, max_seen_trade_ids: int = 100_000) -> None:
        if max_seen_trade_ids < 1:
            raise ValueError(f"max_seen_trade_ids must be >= 1 (got {max_seen_trade_ids})")
        self.asset = asset
        self._max_seen = max_seen_trade_ids
        self._seen: set[str] = set()
        self._seen_order: deque[str] = deque()
        self._position = ZERO
        self._cost = ZERO  # signed: entry * position
        self._mark: Decimal | None = None
        self._realized = ZERO
        self._fees = ZERO
        self._funding = ZERO
        self._volume = ZERO
        self._fills = 0
        self._max_abs_position = ZERO
        self._day = day_start_ns // NS_PER_DAY
        self._day_base = ZERO  # session total at the start of the current UTC day
        self._peak = ZERO
        self._last_snapshot: tuple[tuple[Decimal | None, ...], PnlSnapshot] | None = None
        #: Fills ignored because their trade id was seen already.
        self.duplicate_fills = 0
        #: Fills ignored because they are for another asset.
        self.foreign_fills = 0

    # ----------------------------------------------------------------------------------------- figures

    @property
    def position(self) -> Decimal:
        """Signed position in units of the asset (positive long)."""
        return self._position

    @property
    def entry_price(self) -> Decimal:
        """Average entry price of the open position (0 when flat)."""
        if self._position == 0:
            return ZERO
        return self._cost / self._position

    @property
    def mark_price(self) -> Decimal | None:
        """The last mark price, or None before the first."""
        return self._mark

    @property
    def realized(self) -> Decimal:
        """Realized PnL in USD, before fees and funding."""
        return self._realized

    @property
    def fees(self) -> Decimal:
        """Fees paid in USD (rebates count negative)."""
        return self._fees

    @property
    def funding(self) -> Decimal:
        """Funding received in USD (payments count negative)."""
        return self._funding

    @property
    def volume(self) -> Decimal:
        """Traded notional in USD: the sum of ``|size * price|`` over fills."""
        return self._volume

    @property
    def fills(self) -> int:
        """Number of (deduplicated) fills applied."""
        return self._fills

    @property
    def max_abs_position(self) -> Decimal:
        """Largest absolute position held so far."""
        return self._max_abs_position

    def unrealized(self) -> Decimal:
        """``(mark - entry) * position`` in USD; 0 before the first mark."""
        if self._mark is None or self._position == 0:
            return ZERO
        with localcontext(_EXACT):
            return self._mark * self._position - self._cost

    def total(self) -> Decimal:
        """Session PnL: realized plus unrealized, less fees, plus funding."""
        with localcontext(_EXACT):
            return self._realized + self.unrealized() - self._fees + self._funding

    def to_position(self) -> Position:
        """The position as a :class:`~mmtool.core.types.Position` value."""
        return Position(self.asset, self._position, self.entry_price)

    def snapshot(self, ts_ns: int) -> PnlSnapshot:
        """PnL figures at ``ts_ns``: ``daily`` counts from the start of its UTC day, ``peak`` is the highest
        session PnL seen at a snapshot (starting at 0, the session's start)."""
        self._roll_day(ts_ns)
        # The engine asks on every event; most events (trades, timers, acks) change none of the inputs.
        inputs = (self._mark, self._position, self._cost, self._realized, self._fees, self._funding, self._day_base)
        if self._last_snapshot is not None and inputs == self._last_snapshot[0]:
            return self._last_snapshot[1]
        unrealized = self.unrealized()
        with localcontext(_EXACT):
            total = self._realized + unrealized - self._fees + self._funding
            if total > self._peak:
                self._peak = total
            daily = total - self._day_base
        snap = PnlSnapshot(
            realized=float(self._realized),
            unrealized=float(unrealized),
            fees=float(self._fees),
            funding=float(self._funding),
            session=float(total),
            daily=float(daily),
            peak=float(self._peak),
        )
        self._last_snapshot = (inputs, snap)
        return snap

    # ------------------------------------------------------------------------------------------ inputs

    def on_fill(self, fill: Fill) -> bool:
        """Apply a fill; False (counted in ``duplicate_fills``) when its trade id was seen already.

        A fill for another asset is ignored, returns False and is counted in ``foreign_fills``.
        """
        if fill.asset != self.asset:
            self.foreign_fills += 1
            return False
        if not (fill.size.is_finite() and fill.size > 0 and fill.price.is_finite() and fill.price > 0
                and fill.fee.is_finite()):
            raise ValueError(f"fill {fill.trade_id}: price and size must be finite and > 0, the fee finite")
        if fill.trade_id in self._seen:
            self.duplicate_fills += 1
            return False
        self._roll_day(fill.ts_local_ns)
        with localcontext(_EXACT):
            self._apply(fill.side.sign * fill.size, fill.price)
            self._fees += fill.fee
            self._volume += fill.size * fill.price
        self._remember(fill.trade_id)  # only once applied: a fill that could not be is not taken for a duplicate
        self._fills += 1
        return True

    def on_funding(self, funding: Funding) -> None:
        """Add a funding payment (positive received) to the funding PnL; other assets' payments are ignored."""
        if funding.asset != self.asset:
            return
        self._roll_day(funding.ts_local_ns)
        with localcontext(_EXACT):
            self._funding += funding.payment

    def mark(self, mid: float | Decimal) -> None:
        """Set the mark price used for the unrealized PnL."""
        if isinstance(mid, float) and not math.isfinite(mid):
            raise ValueError(f"mark price must be finite and > 0 (got {mid})")
        price = to_decimal(mid)
        if not price.is_finite() or price <= 0:
            raise ValueError(f"mark price must be finite and > 0 (got {mid})")
        self._mark = price

    def reset_position(self, size: Decimal, entry_price: Decimal) -> None:
        """Adopt the exchange's position and entry price (realized PnL, fees and funding are kept).

        The adopted position's unrealized PnL counts from ``entry_price``; pass the current mid instead to
        start it flat.
        """
        with localcontext(_EXACT):
            self._position = size
            self._cost = size * entry_price if size != 0 else ZERO
        self._track_max()

    # ----------------------------------------------------------------------------------------- private

    def _apply(self, qty: Decimal, price: Decimal) -> None:
        """Apply a signed quantity at a price (inside the exact context)."""
        pos = self._position
        if pos == 0 or (pos > 0) == (qty > 0):
            self._cost += qty * price
            self._position = pos + qty
        elif abs(qty) < abs(pos):
            # Partial reduce: the closed share of the cost leaves the basis and is realized against the exit.
            removed = (self._cost * (-qty) / pos).quantize(_COST_QUANTUM, rounding=ROUND_HALF_EVEN)
            self._realized += -qty * price - removed
            self._cost -= removed
            self._position = pos + qty
        else:
            # Full close, possibly crossing through zero: realize the whole old position, open the rest.
            self._realized += pos * price - self._cost
            rest = pos + qty
            self._position = rest
            self._cost = rest * price
        self._track_max()

    def _track_max(self) -> None:
        if abs(self._position) > self._max_abs_position:
            self._max_abs_position = abs(self._position)

    def _remember(self, trade_id: str) -> None:
        self._seen.add(trade_id)
        self._seen_order.append(trade_id)
        if len(self._seen_order) > self._max_seen:
            self._seen.discard(self._seen_order.popleft())

    def _roll_day(self, ts_ns: int) -> None:
        day = ts_ns // NS_PER_DAY
        if day > self._day:
            self._day = day
            self._day_base = self.total()
