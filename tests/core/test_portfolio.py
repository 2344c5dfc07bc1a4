"""Position, average entry, realized/unrealized PnL, fees, funding, dedup and the daily roll, in exact Decimal."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmtool.core.portfolio import NS_PER_DAY, Portfolio
from mmtool.core.types import Fill, Funding, Liquidity, Position, Side

D = Decimal
ASSET = "ETH"


class Fills:
    """Builds fills with fresh trade ids."""

    def __init__(self) -> None:
        self.n = 0

    def __call__(self, side: Side, size: str, price: str, fee: str = "0", ts: int = 1, asset: str = ASSET) -> Fill:
        self.n += 1
        return Fill(asset, None, None, f"t{self.n}", side, D(price), D(size), D(fee), Liquidity.MAKER, ts, ts)


def funding(payment: str, ts: int = 1, asset: str = ASSET) -> Funding:
    return Funding(asset, D("0.0001"), D(payment), ts, ts)


def test_hand_computed_average_entry_and_realized() -> None:
    make, pf = Fills(), Portfolio(ASSET)
    pf.on_fill(make(Side.BUY, "1", "100"))
    pf.on_fill(make(Side.BUY, "1", "110"))
    assert pf.position == D("2") and pf.entry_price == D("105") and pf.realized == 0
    pf.on_fill(make(Side.SELL, "1.5", "120"))
    assert pf.realized == D("22.5")
    assert pf.position == D("0.5") and pf.entry_price == D("105")
    # Crossing through zero: closes 0.5 at 90 (-7.5) and opens a 0.5 short at 90.
    pf.on_fill(make(Side.SELL, "1", "90"))
    assert pf.realized == D("15")
    assert pf.position == D("-0.5") and pf.entry_price == D("90")
    pf.mark(D("80"))
    assert pf.unrealized() == D("5")  # (80 - 90) * -0.5
    # Cover the short at 85: +2.5 realized, flat.
    pf.on_fill(make(Side.BUY, "0.5", "85"))
    assert pf.realized == D("17.5") and pf.position == 0 and pf.entry_price == 0
    assert pf.unrealized() == 0
    assert pf.fills == 5
    assert pf.volume == D("100") + D("110") + D("180") + D("90") + D("42.5")
    assert pf.max_abs_position == D("2")


def test_short_side_accounting() -> None:
    make, pf = Fills(), Portfolio(ASSET)
    pf.on_fill(make(Side.SELL, "2", "100"))
    pf.on_fill(make(Side.SELL, "2", "90"))
    assert pf.position == D("-4") and pf.entry_price == D("95")
    pf.on_fill(make(Side.BUY, "1", "80"))
    assert pf.realized == D("15")
    pf.mark(100.0)
    assert pf.unrealized() == D("-15")  # (100 - 95) * -3


def test_exact_close_to_flat_then_reopen() -> None:
    make, pf = Fills(), Portfolio(ASSET)
    pf.on_fill(make(Side.BUY, "3", "100"))
    pf.on_fill(make(Side.SELL, "3", "101"))
    assert pf.position == 0 and pf.realized == D("3") and pf.entry_price == 0
    pf.on_fill(make(Side.SELL, "1", "102"))
    assert pf.position == D("-1") and pf.entry_price == D("102")
    assert pf.to_position() == Position(ASSET, D("-1"), D("102"))


def test_fees_and_funding_enter_the_total() -> None:
    make, pf = Fills(), Portfolio(ASSET)
    pf.on_fill(make(Side.BUY, "1", "100", fee="0.015"))
    pf.on_fill(make(Side.SELL, "1", "101", fee="-0.005"))  # maker rebate
    pf.on_funding(funding("-0.25"))
    pf.on_funding(funding("0.05"))
    pf.on_funding(funding("99", asset="BTC"))  # another asset's payment
    assert pf.fees == D("0.010") and pf.funding == D("-0.20")
    assert pf.total() == D("1") - D("0.010") - D("0.20")
    snap = pf.snapshot(1)
    assert snap.realized == 1.0 and snap.fees == pytest.approx(0.01) and snap.funding == pytest.approx(-0.2)
    assert snap.total == pytest.approx(0.79) and snap.session == pytest.approx(0.79)


def test_duplicate_trade_ids_are_dropped() -> None:
    make, pf = Fills(), Portfolio(ASSET)
    f = make(Side.BUY, "1", "100")
    assert pf.on_fill(f) is True
    assert pf.on_fill(f) is False
    assert pf.position == 1 and pf.duplicate_fills == 1 and pf.fills == 1


def test_trade_id_window_is_bounded() -> None:
    make, pf = Fills(), Portfolio(ASSET, max_seen_trade_ids=3)
    fills = [make(Side.BUY, "1", "100") for _ in range(4)]
    for f in fills:
        assert pf.on_fill(f)
    assert len(pf._seen) == 3
    assert pf.on_fill(fills[3]) is False  # still remembered
    assert pf.on_fill(fills[0]) is True  # fell out of the window
    with pytest.raises(ValueError):
        Portfolio(ASSET, max_seen_trade_ids=0)


def test_foreign_and_invalid_fills() -> None:
    make, pf = Fills(), Portfolio(ASSET)
    assert pf.on_fill(make(Side.BUY, "1", "100", asset="BTC")) is False
    assert pf.foreign_fills == 1 and pf.position == 0
    with pytest.raises(ValueError):
        pf.on_fill(make(Side.BUY, "0", "100"))


def test_mark_validation_and_unrealized_before_mark() -> None:
    make, pf = Fills(), Portfolio(ASSET)
    pf.on_fill(make(Side.BUY, "1", "100"))
    assert pf.unrealized() == 0 and pf.mark_price is None
    pf.mark(100.1)
    assert pf.mark_price == D("100.1") and pf.unrealized() == D("0.1")
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError):
            pf.mark(bad)


def test_reset_position_adopts_exchange_truth() -> None:
    make, pf = Fills(), Portfolio(ASSET)
    pf.on_fill(make(Side.BUY, "1", "100"))
    pf.on_fill(make(Side.SELL, "0.5", "110"))
    pf.reset_position(D("-2"), D("3000"))
    assert pf.position == D("-2") and pf.entry_price == D("3000") and pf.realized == D("5")
    assert pf.max_abs_position == D("2")
    pf.on_fill(make(Side.BUY, "1", "2900"))
    assert pf.realized == D("105")
    pf.reset_position(D("0"), D("0"))
    assert pf.position == 0 and pf.entry_price == 0


def test_daily_rolls_at_utc_midnight_and_peak_tracks_session() -> None:
    make = Fills()
    day0 = 19_000 * NS_PER_DAY
    pf = Portfolio(ASSET, day_start_ns=day0)
    pf.on_fill(make(Side.BUY, "1", "100", ts=day0 + 10))
    pf.mark(110)
    snap = pf.snapshot(day0 + 20)
    assert snap.session == 10 and snap.daily == 10 and snap.peak == 10
    pf.mark(104)
    snap = pf.snapshot(day0 + 30)
    assert snap.session == 4 and snap.peak == 10 and snap.drawdown == 6
    # First snapshot of the next day: the day's PnL starts from the total at the roll.
    snap = pf.snapshot(day0 + NS_PER_DAY + 5)
    assert snap.daily == 0 and snap.session == 4
    pf.mark(101)
    snap = pf.snapshot(day0 + NS_PER_DAY + 6)
    assert snap.daily == -3 and snap.session == 1 and snap.peak == 10
    # Time going backwards never rolls back.
    assert pf.snapshot(day0 + 1).daily == -3


def test_fill_on_a_new_day_rolls_before_applying() -> None:
    make = Fills()
    pf = Portfolio(ASSET)  # day_start_ns 0: the first fill's day is a new day
    pf.on_fill(make(Side.BUY, "1", "100", fee="1", ts=5 * NS_PER_DAY + 1))
    assert pf.snapshot(5 * NS_PER_DAY + 2).daily == -1
    pf.on_funding(funding("2", ts=6 * NS_PER_DAY + 1))
    snap = pf.snapshot(6 * NS_PER_DAY + 2)
    assert snap.daily == 2 and snap.session == 1


def test_peak_starts_at_zero() -> None:
    make, pf = Fills(), Portfolio(ASSET)
    pf.on_fill(make(Side.BUY, "1", "100", fee="0.5"))
    snap = pf.snapshot(2)
    assert snap.peak == 0 and snap.drawdown == 0.5


# ------------------------------------------------------------------------------------------------- property

_PRICES = st.integers(min_value=1, max_value=200_000).map(lambda n: D(n).scaleb(-2))  # 0.01 .. 2000.00
_SIZES = st.integers(min_value=1, max_value=50_000).map(lambda n: D(n).scaleb(-4))  # 0.0001 .. 5
_FILLS = st.lists(st.tuples(st.sampled_from([Side.BUY, Side.SELL]), _SIZES, _PRICES), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(_FILLS, _PRICES)
def test_realized_plus_unrealized_equals_cash_flow(fills: list[tuple[Side, Decimal, Decimal]], mark: Decimal) -> None:
    make, pf = Fills(), Portfolio(ASSET)
    cash = D(0)
    position = D(0)
    for side, size, price in fills:
        pf.on_fill(make(side, str(size), str(price)))
        cash -= side.sign * size * price
        position += side.sign * size
    pf.mark(mark)
    assert pf.position == position
    assert pf.realized + pf.unrealized() == cash + position * mark
    assert pf.volume == sum(size * price for _, size, price in fills)
    if position != 0:
        assert min(p for _, _, p in fills) <= pf.entry_price <= max(p for _, _, p in fills)


@settings(max_examples=200, deadline=None)
@given(_FILLS)
def test_round_trip_at_one_price_realizes_nothing(fills: list[tuple[Side, Decimal, Decimal]]) -> None:
    make, pf = Fills(), Portfolio(ASSET)
    for side, size, _ in fills:
        pf.on_fill(make(side, str(size), "123.45"))
    pf.mark(D("123.45"))
    assert pf.realized == 0 and pf.unrealized() == 0
