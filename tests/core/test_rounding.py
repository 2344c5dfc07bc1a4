"""Hyperliquid's tick and lot rules: hand cases from the exchange's documentation and hypothesis properties."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mmtool.core.errors import RoundingError
from mmtool.core.rounding import AGGRESSIVE, NEAREST, PASSIVE, AssetRules, from_wire, to_decimal, to_wire
from mmtool.core.types import Side

D = Decimal


def perp(sz_decimals: int) -> AssetRules:
    return AssetRules("X", sz_decimals)


def spot(sz_decimals: int) -> AssetRules:
    return AssetRules("X/USDC", sz_decimals, is_spot=True)


def exchange_accepts(price: Decimal, rules: AssetRules) -> bool:
    """The rule as the exchange states it, written independently of ``AssetRules.is_valid_price``."""
    if price <= 0:
        return False
    if price == price.to_integral_value():
        return True
    text = f"{price.normalize():f}"
    decimals = len(text.split(".")[1]) if "." in text else 0
    significant = text.replace(".", "").lstrip("0")
    max_decimals = (8 if rules.is_spot else 6) - rules.sz_decimals
    return len(significant) <= 5 and decimals <= max(max_decimals, 0)


def previous_valid(price: Decimal, rules: AssetRules) -> Decimal:
    """The next valid price below a valid one (the tick is finer just under a power of ten)."""
    return price - rules.tick(price - rules.tick(price) / 10)


# -------------------------------------------------------------------------------------------------- hand cases


@pytest.mark.parametrize(
    ("rules", "price", "expected"),
    [
        (perp(4), "3500.123", "3500.1"),  # 5 significant figures
        (perp(4), "123456.7", "123457"),  # integers are always allowed, whatever their length
        (perp(0), "0.0123456", "0.012346"),  # 6 decimals at szDecimals 0
        (perp(4), "0.0123456", "0.01"),  # only 2 decimals at szDecimals 4
        (perp(5), "1.2345", "1.2"),  # 1 decimal at szDecimals 5
        (perp(6), "1.5", "2"),  # 0 decimals: integers only (half-even)
        (perp(1), "25.123456", "25.123"),
        (perp(2), "1234.5678", "1234.6"),
        (perp(3), "99999.5", "100000"),
        (spot(0), "0.0000123456", "0.00001235"),  # spot allows 8 - szDecimals decimals
        (spot(2), "0.000123456", "0.000123"),
        (spot(2), "1.23456", "1.2346"),
    ],
)
def test_hand_cases_nearest(rules: AssetRules, price: str, expected: str) -> None:
    assert rules.round_price(D(price), direction=NEAREST) == D(expected)
    assert rules.is_valid_price(D(expected))


def test_hand_cases_passive_and_aggressive() -> None:
    rules = perp(4)
    assert rules.round_price(D("3500.19"), Side.BUY) == D("3500.1")
    assert rules.round_price(D("3500.11"), Side.SELL) == D("3500.2")
    assert rules.round_price(D("3500.11"), Side.BUY, AGGRESSIVE) == D("3500.2")
    assert rules.round_price(D("3500.19"), Side.SELL, AGGRESSIVE) == D("3500.1")
    assert rules.round_price(D("9.99996"), Side.SELL) == D("10")  # carry into the next magnitude
    assert rules.round_price(3500.15, Side.BUY) == D("3500.1")  # floats go through their shortest repr


def test_validity_hand_cases() -> None:
    rules = perp(4)
    assert rules.is_valid_price(D("123456"))
    assert rules.is_valid_price(D("3500.1"))
    assert not rules.is_valid_price(D("3500.12"))  # 6 significant figures
    assert not rules.is_valid_price(D("1.234"))  # 3 decimals at szDecimals 4
    assert not rules.is_valid_price(D("0")) and not rules.is_valid_price(D("-1"))
    assert rules.is_valid_size(D("0.0001")) and not rules.is_valid_size(D("0.00015"))
    assert not rules.is_valid_size(D("0"))


def test_sizes_hand_cases() -> None:
    rules = perp(3)
    assert rules.lot == D("0.001")
    assert rules.round_size(D("1.23456")) == D("1.234")
    assert rules.round_size(D("1.2341"), "up") == D("1.235")
    assert rules.round_size(D("1.2345"), "nearest") == D("1.234")  # half-even
    assert perp(0).round_size(D("7.9")) == D("7")


def test_min_size_hand_cases() -> None:
    assert perp(4).min_size(D("3500")) == D("0.0029")  # 10 / 3500 = 0.002857...
    assert perp(0).min_size(D("3")) == D("4")
    assert perp(2).min_size(D("10")) == D("1")  # exactly 10 USDC is enough


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D("3500.50"), "3500.5"),
        (D("100"), "100"),
        (D("1E+3"), "1000"),
        (D("0.00001234"), "0.00001234"),
        (D("-0.0"), "0"),
        (D("-2.50"), "-2.5"),
        (0.1, "0.1"),
        (D("123456789012345678901234567890"), "123456789012345678901234567890"),
    ],
)
def test_to_wire_hand_cases(value: Decimal | float, text: str) -> None:
    assert to_wire(value) == text


@pytest.mark.parametrize("value", [D("0.000000001"), 1e-9, 0.1 + 0.2, D("NaN"), D("Infinity"), float("inf")])
def test_to_wire_refuses(value: Decimal | float) -> None:
    with pytest.raises(RoundingError):
        to_wire(value)


@pytest.mark.parametrize("price", [D("0"), D("-5"), D("NaN"), float("nan"), float("inf")])
def test_bad_prices_raise_rounding_error(price: Decimal | float) -> None:
    rules = perp(2)
    with pytest.raises(RoundingError):
        rules.round_price(price)
    with pytest.raises(RoundingError):
        rules.min_size(price)


def test_bad_sizes_and_wire_text_raise_rounding_error() -> None:
    with pytest.raises(RoundingError):
        perp(2).round_size(D("-1"))
    with pytest.raises(RoundingError):
        perp(2).round_size(D("Infinity"))
    with pytest.raises(RoundingError):
        from_wire("NaN")
    assert from_wire("3500.5") == D("3500.5")


def test_price_that_rounds_to_zero_is_refused() -> None:
    with pytest.raises(RoundingError, match="rounds to zero"):
        perp(0).round_price(D("0.0000001"), Side.BUY)
    assert perp(0).round_price(D("0.0000001"), Side.SELL) == D("0.000001")


def test_huge_values_do_not_overflow_the_decimal_context() -> None:
    assert perp(0).round_price(D("1e30")) == D("1e30")
    assert perp(2).round_size(D("1e30")) == D("1e30")


# -------------------------------------------------------------------------------------------------- properties

_RULES = st.one_of(st.integers(0, 5).map(perp), st.integers(0, 7).map(spot))
# Prices over many magnitudes: 1e-8 .. 1e7, up to 9 significant digits.
_PRICES = st.builds(
    lambda m, e: D(m).scaleb(e), st.integers(1, 999_999_999), st.integers(-16, -2)
).filter(lambda p: D("1e-8") <= p <= D("1e7"))
_SIDES = st.sampled_from([Side.BUY, Side.SELL])


def _round_or_skip(rules: AssetRules, price: Decimal, side: Side | None, direction: str) -> Decimal:
    try:
        return rules.round_price(price, side, direction)
    except RoundingError:
        # Only a price below the smallest tick, rounded down, may be refused.
        assert price < D(1).scaleb(-rules.max_price_decimals)
        assume(False)
        raise


@settings(max_examples=300, deadline=None)
@given(_RULES, _PRICES, _SIDES)
def test_passive_rounding_is_valid_tight_and_never_more_aggressive(
    rules: AssetRules, price: Decimal, side: Side
) -> None:
    rounded = _round_or_skip(rules, price, side, PASSIVE)
    assert exchange_accepts(rounded, rules)
    assert rules.is_valid_price(rounded)
    if side is Side.BUY:
        assert rounded <= price < rounded + rules.tick(rounded)
    else:
        assert previous_valid(rounded, rules) < price <= rounded


@settings(max_examples=300, deadline=None)
@given(_RULES, _PRICES, _SIDES)
def test_aggressive_rounding_goes_the_other_way(rules: AssetRules, price: Decimal, side: Side) -> None:
    rounded = _round_or_skip(rules, price, side, AGGRESSIVE)
    assert exchange_accepts(rounded, rules)
    assert (rounded >= price) if side is Side.BUY else (rounded <= price)


@settings(max_examples=300, deadline=None)
@given(_RULES, _PRICES)
def test_nearest_is_within_half_a_tick(rules: AssetRules, price: Decimal) -> None:
    rounded = _round_or_skip(rules, price, None, NEAREST)
    assert exchange_accepts(rounded, rules)
    assert abs(rounded - price) <= rules.tick(price) / 2


@settings(max_examples=300, deadline=None)
@given(_RULES, _PRICES, st.sampled_from([None, Side.BUY, Side.SELL]), st.sampled_from([PASSIVE, AGGRESSIVE, NEAREST]))
def test_rounding_is_idempotent(rules: AssetRules, price: Decimal, side: Side | None, direction: str) -> None:
    rounded = _round_or_skip(rules, price, side, direction)
    for again_side in (None, Side.BUY, Side.SELL):
        for again in (PASSIVE, AGGRESSIVE, NEAREST):
            assert rules.round_price(rounded, again_side, again) == rounded


@settings(max_examples=300, deadline=None)
@given(_RULES, st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False), _SIDES)
def test_float_inputs_round_like_their_repr(rules: AssetRules, price: float, side: Side) -> None:
    try:
        expected = rules.round_price(D(repr(price)), side)
    except RoundingError:
        with pytest.raises(RoundingError):
            rules.round_price(price, side)
        return
    assert rules.round_price(price, side) == expected


_SIZES = st.builds(lambda m, e: D(m).scaleb(e), st.integers(0, 10**9), st.integers(-12, 0))


@settings(max_examples=300, deadline=None)
@given(_RULES, _SIZES)
def test_sizes_are_lot_multiples(rules: AssetRules, size: Decimal) -> None:
    down = rules.round_size(size)
    up = rules.round_size(size, "up")
    nearest = rules.round_size(size, "nearest")
    for s in (down, up, nearest):
        assert s % rules.lot == 0
        assert s == 0 or rules.is_valid_size(s)
        assert rules.round_size(s) == s and rules.round_size(s, "up") == s  # idempotent
    assert down <= size <= up
    assert up - down in (0, rules.lot)
    assert abs(nearest - size) <= rules.lot / 2


@settings(max_examples=300, deadline=None)
@given(_RULES, _PRICES)
def test_min_size_meets_min_notional_and_is_the_smallest(rules: AssetRules, price: Decimal) -> None:
    rounded = _round_or_skip(rules, price, None, NEAREST)
    size = rules.min_size(rounded)
    assert rules.is_valid_size(size)
    assert rules.meets_min_notional(rounded, size)
    assert not rules.meets_min_notional(rounded, size - rules.lot)


@settings(max_examples=300, deadline=None)
@given(_RULES, _PRICES, _SIZES)
def test_to_wire_is_canonical_and_round_trips(rules: AssetRules, price: Decimal, size: Decimal) -> None:
    rounded = _round_or_skip(rules, price, None, NEAREST)
    lots = rules.round_size(size)
    for value in (rounded, lots, -rounded):
        if value.as_tuple().exponent < -8:  # type: ignore[operator]
            # Spot prices may carry up to 8 decimals, sizes fewer: all of them fit the wire's 8.
            pytest.fail(f"{value} needs more than 8 decimals")
        text = to_wire(value)
        assert "e" not in text.lower()
        assert text != "-0"
        if "." in text:
            assert not text.endswith("0") and not text.endswith(".")
        assert from_wire(text) == value
        assert to_wire(from_wire(text)) == text


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 10**6), st.integers(9, 14), st.integers(0, 10**6))
def test_to_wire_refuses_more_than_8_decimals(digit: int, decimals: int, whole: int) -> None:
    value = D(whole) + D(digit).scaleb(-decimals)
    assume(value != value.quantize(D("1e-8")))
    with pytest.raises(RoundingError):
        to_wire(value)


@settings(max_examples=200, deadline=None)
@given(st.decimals(min_value=D("-1e9"), max_value=D("1e9"), places=8, allow_nan=False, allow_infinity=False))
def test_to_wire_accepts_every_8_decimal_value(value: Decimal) -> None:
    assert from_wire(to_wire(value)) == value
    assert to_decimal(to_wire(value)) == value
