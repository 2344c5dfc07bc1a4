"""Hyperliquid's tick and lot rules: the one place where prices and sizes are rounded.

Perp prices carry at most 5 significant figures and at most ``6 - szDecimals`` decimals (spot:
``8 - szDecimals``); an integer price is always allowed. Sizes are multiples of ``10**-szDecimals``. An order's
notional must be at least 10 USDC. Wire numbers are decimal strings without trailing zeros.
"""

from __future__ import annotations

import math
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import TypeVar

import attrs

from mmtool.core.errors import RoundingError
from mmtool.core.types import Side, TriggerSpec

SIG_FIGS = 5
PERP_MAX_DECIMALS = 6
SPOT_MAX_DECIMALS = 8
MIN_NOTIONAL = Decimal(10)
WIRE_DECIMALS = 8
#: Wide enough that quantizing any realistic price or size never overflows the default 28 digits.
_CTX = Context(prec=60)

#: Round toward the passive side: bids down, asks up, so rounding never makes a quote more aggressive.
PASSIVE = "passive"
#: Round toward the aggressive side: bids up, asks down.
AGGRESSIVE = "aggressive"
#: Round to the nearest allowed price (half-even).
NEAREST = "nearest"

#: Float prices within this range take the integer-tick path of :meth:`AssetRules.round_price`; others (and
#: anything unusual) take the Decimal path, which is the reference.
_FAST_MIN, _FAST_MAX = 1e-12, 1e12
#: ``10**m`` correctly rounded to a float, by ``m + _P10_OFFSET``; int / int true division is correctly
#: rounded, so comparing a float with these entries compares its shortest repr with the exact power of ten.
_P10_OFFSET = 16
_P10 = tuple(10**m if m >= 0 else 1 / 10**-m for m in range(-_P10_OFFSET, _P10_OFFSET + 1))
#: Entries a memo of prices or sizes holds before it is cleared (prices drift, so old entries stop being asked
#: for, and the ones in use come back at once).
MEMO_MAX = 4096
#: A float price times its tick scale this far from an integer is decided by float arithmetic alone.
_CLEAR = 1e-6


K = TypeVar("K")
V = TypeVar("V")


def remember(memo: dict[K, V], key: K, value: V, limit: int = MEMO_MAX) -> V:
    """Store ``value`` under ``key`` in a bounded memo (emptied first when full) and return it.

    The miss path of the memos on the quoting path; their hits are a plain ``dict.get``.
    """
    if len(memo) >= limit:
        memo.clear()
    memo[key] = value
    return value


def to_decimal(value: float | int | str | Decimal) -> Decimal:
    """Convert a number to Decimal through its shortest repr, so ``0.1`` becomes ``Decimal('0.1')``."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise RoundingError(f"not a finite number: {value!r}")
        return Decimal(repr(value))
    return Decimal(value)


def _mode(side: Side | None, direction: str) -> str:
    if direction == NEAREST or side is None:
        return ROUND_HALF_EVEN
    down = (side is Side.BUY) == (direction == PASSIVE)
    return ROUND_FLOOR if down else ROUND_CEILING


@attrs.frozen
class AssetRules:
    """Tick, lot and notional rules of one asset, built from the exchange's ``meta`` (``szDecimals``)."""

    asset: str
    sz_decimals: int
    max_leverage: int = 50
    is_spot: bool = False
    min_notional: Decimal = MIN_NOTIONAL
    # Derived once: these sit on the hot path of every quote.
    _lot: Decimal = attrs.field(init=False, repr=False, eq=False)
    _quanta: tuple[Decimal, ...] = attrs.field(init=False, repr=False, eq=False)
    _lots_per_unit: int = attrs.field(init=False, repr=False, eq=False)
    _min_lots: dict[Decimal, int] = attrs.field(init=False, repr=False, eq=False)
    _valid_prices: dict[Decimal, bool] = attrs.field(init=False, repr=False, eq=False)
    _tick_prices: dict[tuple[int, int], Decimal] = attrs.field(init=False, repr=False, eq=False)
    # By ``magnitude + _P10_OFFSET``: (decimals allowed, 10**decimals, ticks at the next power of ten).
    _grids: tuple[tuple[int, int, int], ...] = attrs.field(init=False, repr=False, eq=False)

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "_lot", Decimal(1).scaleb(-self.sz_decimals))
        object.__setattr__(self, "_quanta", tuple(Decimal(1).scaleb(-d) for d in range(SPOT_MAX_DECIMALS + 1)))
        object.__setattr__(self, "_lots_per_unit", 10**self.sz_decimals if self.sz_decimals >= 0 else 0)
        object.__setattr__(self, "_min_lots", {})
        object.__setattr__(self, "_valid_prices", {})
        object.__setattr__(self, "_tick_prices", {})
        grids = []
        for magnitude in range(-_P10_OFFSET, _P10_OFFSET):
            decimals = max(0, min(self.max_price_decimals, SIG_FIGS - 1 - magnitude))
            carry = magnitude + 1 + decimals
            # A negative carry exponent means even one tick reaches the next power of ten: never fast.
            grids.append((decimals, 10**decimals, 10**carry if carry >= 0 else 0))
        object.__setattr__(self, "_grids", tuple(grids))

    @property
    def max_price_decimals(self) -> int:
        """Most decimals a price may carry regardless of its magnitude."""
        base = SPOT_MAX_DECIMALS if self.is_spot else PERP_MAX_DECIMALS
        return max(base - self.sz_decimals, 0)

    @property
    def lot(self) -> Decimal:
        """The size increment, ``10**-szDecimals``."""
        return self._lot

    def price_decimals(self, price: Decimal) -> int:
        """Decimals allowed for a price of this magnitude (5 significant figures, capped)."""
        if price <= 0:
            raise RoundingError(f"{self.asset}: price must be > 0 (got {price})")
        magnitude = price.adjusted()  # floor(log10(price))
        return max(0, min(self.max_price_decimals, SIG_FIGS - 1 - magnitude))

    def tick(self, price: Decimal | float) -> Decimal:
        """The price increment at this price level."""
        return Decimal(1).scaleb(-self.price_decimals(to_decimal(price)))

    def round_price(
        self, price: Decimal | float, side: Side | None = None, direction: str = PASSIVE
    ) -> Decimal:
        """Round a price to a valid exchange price.

        With a side and ``PASSIVE`` (the default), bids round down and asks up, so a rounded quote is never
        more aggressive than asked; ``AGGRESSIVE`` does the opposite; ``NEAREST`` or no side rounds half-even.
        """
        if type(price) is float and side is not None and direction != NEAREST:
            fast = self._round_float_price(price, (side is Side.BUY) == (direction == PASSIVE))
            if fast is not None:
                return fast
        px = to_decimal(price)
        if not px.is_finite() or px <= 0:
            raise RoundingError(f"{self.asset}: price must be a finite number > 0 (got {price})")
        mode = _mode(side, direction)
        with localcontext(_CTX):
            rounded = px.quantize(self._quanta[self.price_decimals(px)], rounding=mode)
            # Rounding up can carry into the next magnitude (9.99996 -> 10.0000); re-round at the new magnitude.
            if rounded > 0 and rounded.adjusted() > px.adjusted() and not self.is_valid_price(rounded):
                rounded = rounded.quantize(self._quanta[self.price_decimals(rounded)], rounding=mode)
        if rounded <= 0:
            raise RoundingError(f"{self.asset}: price {price} rounds to zero")
        return rounded.to_integral_value() if rounded == rounded.to_integral_value() else rounded

    def round_trigger(self, trigger: TriggerSpec, side: Side) -> TriggerSpec:
        """The trigger with its price rounded to a valid exchange price, toward the passive side of ``side``.

        A sell's trigger rounds up and a buy's down: a stop loss then fires no later than asked and a take profit
        no earlier, so rounding never costs the protection or the profit the caller asked for.
        """
        rounded = self.round_price(trigger.trigger_px, side, PASSIVE)
        return trigger if rounded == trigger.trigger_px else attrs.evolve(trigger, trigger_px=rounded)

    def _round_float_price(self, price: float, down: bool) -> Decimal | None:
        """``round_price`` of a float rounded down (floor) or up (ceiling), in exact integer ticks.

        Gives exactly what the Decimal path gives for ``Decimal(repr(price))``, or None when that path must
        decide (out of range, rounds to zero, carries into the next power of ten). Why it is exact: ticks are
        far wider than a float's spacing, so a tick converts back to ``price`` only when it is the nearest one,
        and then it is ``repr(price)`` itself (the shortest string that converts back); otherwise no tick lies
        between ``repr(price)`` and the float's exact binary value, so both round to the same tick.
        """
        if not _FAST_MIN <= price <= _FAST_MAX:  # also rejects NaN
            return None
        index = math.floor(math.log10(price)) + _P10_OFFSET
        # log10 may be one off next to a power of ten; settle the magnitude against the exact powers.
        if price < _P10[index]:
            index -= 1
        elif price >= _P10[index + 1]:
            index += 1
        decimals, scale, carry = self._grids[index]
        scaled = price * scale
        ticks = math.floor(scaled)
        if _CLEAR < scaled - ticks < 1.0 - _CLEAR:
            # Far from a tick: the float product's error (~1e-16 relative) and the gap between the float and its
            # repr cannot cross a tick, so this floor is the exact one, and no tick equals the price.
            if not down:
                ticks += 1
        else:
            numerator, denominator = price.as_integer_ratio()
            ticks, remainder = divmod(numerator * scale, denominator)
            if remainder:
                nearest = ticks + 1 if 2 * remainder >= denominator else ticks
                if nearest / scale == price:
                    ticks = nearest
                elif not down:
                    ticks += 1
        if ticks <= 0 or ticks >= carry:
            return None
        key = (ticks, decimals)
        cached = self._tick_prices.get(key)
        if cached is not None:
            return cached
        if decimals == 0:
            rounded = Decimal(ticks)
        elif ticks % scale == 0:
            rounded = Decimal(ticks // scale)
        else:
            rounded = Decimal(ticks).scaleb(-decimals, _CTX)
        return remember(self._tick_prices, key, rounded)

    def size_lots(self, size: float) -> int:
        """Whole lots in ``size`` rounded down: ``int(round_size(size) / lot)``, without Decimal for a float."""
        scale = self._lots_per_unit
        if type(size) is float and scale and 0.0 <= size * scale < 2.0**50:
            numerator, denominator = size.as_integer_ratio()
            lots, remainder = divmod(numerator * scale, denominator)
            # The next lot up is the size's shortest repr exactly when it converts back to the same float.
            if remainder and (lots + 1) / scale == size:
                lots += 1
            return lots
        return int(self.round_size(size) / self.lot)

    def round_size(self, size: Decimal | float, direction: str = "down") -> Decimal:
        """Round a size to the lot: ``down`` (default, never more than asked), ``up`` or ``nearest``."""
        sz = to_decimal(size)
        if not sz.is_finite() or sz < 0:
            raise RoundingError(f"{self.asset}: size must be a finite number >= 0 (got {size})")
        mode = {"down": ROUND_FLOOR, "up": ROUND_CEILING, "nearest": ROUND_HALF_EVEN}[direction]
        with localcontext(_CTX):
            return sz.quantize(self.lot, rounding=mode)

    def is_valid_price(self, price: Decimal) -> bool:
        """True when the exchange accepts this price as is (remembered per price: quotes repeat prices)."""
        if not price.is_finite() or price <= 0:
            return False
        valid = self._valid_prices.get(price)
        if valid is None:
            valid = remember(self._valid_prices, price, self._is_valid_price(price))
        return valid

    def _is_valid_price(self, price: Decimal) -> bool:
        if price == price.to_integral_value():
            return True
        normal = price.normalize(_CTX)
        exponent = normal.as_tuple().exponent
        decimals = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        sig = len(normal.as_tuple().digits)
        return decimals <= self.max_price_decimals and sig <= SIG_FIGS

    def is_valid_size(self, size: Decimal) -> bool:
        """True when the size is a positive multiple of the lot."""
        if not size.is_finite() or size <= 0:
            return False
        # An exact multiple of the lot has no digits below it; comparing exponents avoids a quantize (and the
        # overflow a quantize of a huge size would raise).
        if size.as_tuple().exponent >= -self.sz_decimals:
            return True
        return size == size.quantize(self.lot, rounding=ROUND_FLOOR)

    def min_size(self, price: Decimal | float) -> Decimal:
        """Smallest lot-multiple size whose notional at ``price`` reaches the minimum order value."""
        px = to_decimal(price)
        if not px.is_finite() or px <= 0:
            raise RoundingError(f"{self.asset}: price must be a finite number > 0 (got {price})")
        with localcontext(_CTX):
            size = (self.min_notional / px).quantize(self.lot, rounding=ROUND_CEILING)
            # The division is rounded to the context's digits; never let that leave the notional short.
            return size if size * px >= self.min_notional else size + self.lot

    def min_lots(self, price: Decimal) -> int:
        """``min_size(price)`` in whole lots, remembered per price (a ladder asks for the same prices again)."""
        lots = self._min_lots.get(price)
        if lots is None:
            lots = remember(self._min_lots, price, int(self.min_size(price) / self.lot))
        return lots

    def meets_min_notional(self, price: Decimal, size: Decimal) -> bool:
        """True when price times size is at least the minimum order value."""
        return price * size >= self.min_notional


#: Wire text of Decimals already formatted: a ladder sends the same prices and sizes again and again, and a
#: lookup costs a tenth of the quantize and normalize. Equal Decimals (``1.50`` and ``1.5``) share one text.
_WIRE_TEXT: dict[Decimal, str] = {}


def to_wire(value: Decimal | float) -> str:
    """Format a price or size as Hyperliquid expects: at most 8 decimals, no trailing zeros, no ``-0``.

    Raises :class:`RoundingError` when 8 decimals would lose precision, so nothing is rounded silently here.
    """
    if type(value) is Decimal and value.is_finite():  # a signalling NaN cannot even be hashed
        text = _WIRE_TEXT.get(value)
        if text is None:
            text = remember(_WIRE_TEXT, value, _to_wire(value))
        return text
    return _to_wire(value)


def _to_wire(value: Decimal | float) -> str:
    d = to_decimal(value)
    if not d.is_finite():
        raise RoundingError(f"not a finite number: {value!r}")
    with localcontext(_CTX):
        q = d.quantize(Decimal(1).scaleb(-WIRE_DECIMALS), rounding=ROUND_HALF_EVEN)
    if q != d:
        raise RoundingError(f"{value} cannot be sent without rounding (more than {WIRE_DECIMALS} decimals)")
    if q == 0:
        return "0"
    text = f"{q.normalize(_CTX):f}"
    return text


def from_wire(text: str) -> Decimal:
    """Parse a wire decimal string exactly."""
    d = Decimal(text)
    if not d.is_finite():
        raise RoundingError(f"not a finite decimal: {text!r}")
    return d
