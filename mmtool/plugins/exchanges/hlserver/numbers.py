"""Decimal parsing and formatting at the wire boundary: prices, sizes and USDC amounts as exchange strings."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from typing import Any

from mmtool.core.rounding import to_wire

USD = Decimal("0.000001")
WIRE = Decimal("0.00000001")


def usd(value: Decimal) -> str:
    """A USDC amount with at most six decimals, as the exchange writes balances, PnL and fees."""
    return to_wire(value.quantize(USD, rounding=ROUND_HALF_EVEN))


def px(value: Decimal) -> str:
    """A price or size (rounded to eight decimals if a division left more)."""
    return to_wire(value.quantize(WIRE, rounding=ROUND_HALF_EVEN))


def parse_decimal(value: Any) -> Decimal | None:
    """A finite Decimal from a wire string, or None when it is not one (numbers are sent as strings)."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        parsed = Decimal(value)
    except InvalidOperation:
        return None
    return parsed if parsed.is_finite() else None


def is_int(value: Any) -> bool:
    """True for a JSON integer (not a bool)."""
    return isinstance(value, int) and not isinstance(value, bool)
