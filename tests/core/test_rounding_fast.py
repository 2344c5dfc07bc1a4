"""The integer-tick fast paths of AssetRules give exactly what the Decimal reference path gives.

``round_price`` of a float rounds its shortest repr; the reference is ``round_price(Decimal(repr(x)))``, which
always takes the Decimal path. Equal means the same value *and* the same Decimal digits and exponent (what
logs and journals print). Floats on a tick, one float away from a tick, and next to powers of ten are where a
float shortcut would go wrong, so they are drawn on purpose.
"""

from __future__ import annotations

import math
from decimal import Decimal

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mmtool.core.errors import RoundingError
from mmtool.core.rounding import AGGRESSIVE, NEAREST, PASSIVE, AssetRules
from mmtool.core.types import Side

D = Decimal

_RULES = st.one_of(
    st.integers(0, 6).map(lambda sz: AssetRules("X", sz)),
    st.integers(0, 8).map(lambda sz: AssetRules("X/USDC", sz, is_spot=True)),
)
_SIDES = st.sampled_from([Side.BUY, Side.SELL])
_DIRECTIONS = st.sampled_from([PASSIVE, AGGRESSIVE])


def _near_grid(mantissa: int, exponent: int, nudge: int) -> float:
    """A float on (nudge 0) or a few floats away from a short decimal ``mantissa * 10**exponent``."""
    x = float(D(mantissa).scaleb(exponent))
    step = math.inf if nudge > 0 else -math.inf
    for _ in range(abs(nudge)):
        x = math.nextafter(x, step)
    return x


_FLOATS = st.one_of(
    st.floats(min_value=1e-14, max_value=1e14, allow_nan=False, allow_infinity=False),
    st.builds(_near_grid, st.integers(1, 999_999), st.integers(-14, 6), st.integers(-2, 2)),
    st.builds(_near_grid, st.just(1), st.integers(-14, 14), st.integers(-2, 2)),  # powers of ten
    st.builds(_near_grid, st.integers(99_990, 99_999), st.integers(-12, 4), st.integers(-2, 2)),  # carries
).filter(lambda x: x > 0)


def _reference(rules: AssetRules, price: float, side: Side | None, direction: str) -> Decimal | None:
    try:
        return rules.round_price(D(repr(price)), side, direction)
    except (RoundingError, ArithmeticError):
        return None


@settings(max_examples=1500, deadline=None)
@given(_RULES, _FLOATS, _SIDES, _DIRECTIONS)
@example(AssetRules("ETH", 4), 3500.1, Side.SELL, PASSIVE)  # 3500.1 * 10 is 35001.000000000004 in floats
@example(AssetRules("ETH", 4), 3500.15, Side.BUY, PASSIVE)
@example(AssetRules("X", 0), 9.999996, Side.SELL, PASSIVE)  # carries into the next power of ten
@example(AssetRules("X", 0), 0.1, Side.BUY, AGGRESSIVE)
def test_float_price_fast_path_equals_the_decimal_path(
    rules: AssetRules, price: float, side: Side, direction: str
) -> None:
    expected = _reference(rules, price, side, direction)
    if expected is None:
        with pytest.raises((RoundingError, ArithmeticError)):
            rules.round_price(price, side, direction)
        return
    got = rules.round_price(price, side, direction)
    assert got == expected
    assert got.as_tuple() == expected.as_tuple()


@settings(max_examples=300, deadline=None)
@given(_RULES, _FLOATS)
def test_nearest_and_sideless_floats_still_round_like_their_repr(rules: AssetRules, price: float) -> None:
    for side in (None, Side.BUY):
        expected = _reference(rules, price, side, NEAREST)
        if expected is not None:
            assert rules.round_price(price, side, NEAREST).as_tuple() == expected.as_tuple()


_SIZE_FLOATS = st.one_of(
    st.floats(min_value=0.0, max_value=1e9, allow_nan=False, allow_infinity=False),
    st.builds(_near_grid, st.integers(1, 10**9), st.integers(-9, 0), st.integers(-2, 2)),
)


@settings(max_examples=1000, deadline=None)
@given(_RULES, _SIZE_FLOATS)
@example(AssetRules("ETH", 4), 0.3)  # 0.3 * 10**4 is 2999.9999999999995 in floats
@example(AssetRules("ETH", 4), 1.0005)
def test_size_lots_equals_rounding_the_size_down(rules: AssetRules, size: float) -> None:
    assert rules.size_lots(size) == int(rules.round_size(D(repr(size))) / rules.lot)


def test_size_lots_refuses_what_round_size_refuses() -> None:
    rules = AssetRules("ETH", 4)
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(RoundingError):
            rules.size_lots(bad)
    assert rules.size_lots(D("1.23456")) == 12345


@settings(max_examples=300, deadline=None)
@given(_RULES, st.integers(1, 999_999), st.integers(-8, 4))
def test_min_lots_is_min_size_in_lots_and_cached(rules: AssetRules, mantissa: int, exponent: int) -> None:
    price = D(mantissa).scaleb(exponent)
    expected = int(rules.min_size(price) / rules.lot)
    assert rules.min_lots(price) == expected
    assert rules.min_lots(price) == expected  # second answer comes from the cache


def test_min_lots_cache_stays_bounded() -> None:
    rules = AssetRules("ETH", 4)
    for i in range(10_000):
        assert rules.min_lots(D(1000 + i)) >= 1
    assert len(rules._min_lots) <= 4096
    assert rules == AssetRules("ETH", 4)  # the cache is not part of the value
