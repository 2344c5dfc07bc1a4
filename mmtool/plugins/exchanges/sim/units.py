"""Exact integer units for prices and sizes inside the simulator, and their conversion to and from Decimal.

A price is held as an integer count of ``10**-price_scale`` (the smallest price step any valid price can have,
``6 - szDecimals`` decimals for a perp); a size as an integer count of lots (``10**-szDecimals``). Integer
arithmetic keeps the matching engine exact and fast; Decimal appears only at the boundary.
"""

from __future__ import annotations

from decimal import Decimal

from mmtool.core.rounding import SIG_FIGS


def to_units(value: Decimal, scale: int) -> int:
    """Convert an exact Decimal to an integer count of ``10**-scale``; ValueError if it does not fit exactly."""
    scaled = value.scaleb(scale)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"{value} is not a multiple of 1e-{scale}")
    return int(scaled)


def from_units(units: int, scale: int) -> Decimal:
    """The Decimal worth ``units * 10**-scale``, written without trailing zeros (``3500.1``, ``3500``)."""
    if scale <= 0:
        return Decimal(units * 10**-scale)
    whole, frac = divmod(abs(units), 10**scale)
    sign = "-" if units < 0 else ""
    if frac == 0:
        return Decimal(f"{sign}{whole}")
    digits = str(frac).rjust(scale, "0").rstrip("0")
    return Decimal(f"{sign}{whole}.{digits}")


def tick_units(price_units: int, scale: int) -> int:
    """The price step (in units) valid at this price: 5 significant figures, at most ``scale`` decimals.

    Integer prices are always valid, so the step never exceeds one whole unit of price.
    """
    magnitude = len(str(max(price_units, 1))) - 1 - scale  # floor(log10(price))
    decimals = max(0, min(scale, SIG_FIGS - 1 - magnitude))
    return 10 ** (scale - decimals)


class DecimalCache:
    """Memoised :func:`from_units` for one scale: book prices repeat constantly, so convert each once."""

    def __init__(self, scale: int, max_entries: int = 200_000) -> None:
        self.scale = scale
        self._max = max_entries
        self._cache: dict[int, Decimal] = {}

    def __call__(self, units: int) -> Decimal:
        """The Decimal for ``units``."""
        value = self._cache.get(units)
        if value is None:
            if len(self._cache) >= self._max:
                self._cache.clear()
            value = self._cache[units] = from_units(units, self.scale)
        return value
