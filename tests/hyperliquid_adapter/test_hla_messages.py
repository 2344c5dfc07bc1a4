"""Wire messages to core events: books, trades, mids, fills, every order status, funding, malformed input."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mmtool.core.types import Liquidity, OrderStatus, Side
from mmtool.plugins.exchanges.hyperliquid import messages as m
from mmtool.plugins.exchanges.hyperliquid.errors import MalformedResponse

T = 1_700_000_000_000
LOCAL = 5


def test_book_update_keeps_exact_levels_and_exchange_time() -> None:
    data = {
        "coin": "ETH",
        "time": T,
        "levels": [
            [{"px": "3500.1", "sz": "1.5", "n": 3}, {"px": "3500", "sz": "2", "n": 1}],
            [{"px": "3500.2", "sz": "0.0001", "n": 1}],
        ],
    }
    event = m.book_update(data, LOCAL)
    assert event.asset == "ETH" and event.ts_exchange_ns == T * 1_000_000 and event.ts_local_ns == LOCAL
    assert event.book.best_bid == Decimal("3500.1") and event.book.best_ask == Decimal("3500.2")
    assert event.book.bids[0].count == 3 and event.book.asks[0].size == Decimal("0.0001")
    assert len(m.book_update(data, LOCAL, depth=1).book.bids) == 1


@pytest.mark.parametrize(
    "bad",
    [{"coin": "ETH"}, {"coin": "ETH", "levels": [[{"px": "x", "sz": "1"}], []]}, {"coin": "ETH", "levels": [[]]}],
)
def test_malformed_books_raise(bad: dict) -> None:
    with pytest.raises(MalformedResponse):
        m.book_update(bad, LOCAL)


def test_trades_of_other_coins_are_skipped() -> None:
    data = [
        {"coin": "ETH", "side": "A", "px": "3500", "sz": "0.5", "time": T, "tid": 7, "hash": "0x1"},
        {"coin": "BTC", "side": "B", "px": "95000", "sz": "1", "time": T, "tid": 8, "hash": "0x2"},
    ]
    [trade] = m.trades(data, "ETH", LOCAL)
    assert trade.side is Side.SELL and trade.trade_id == "7" and trade.price == Decimal(3500)


def test_mid_update_and_missing_coin() -> None:
    assert m.mid_update({"mids": {"ETH": "3500.5"}}, "ETH", LOCAL).mid == Decimal("3500.5")
    assert m.mid_update({"mids": {"BTC": "1"}}, "ETH", LOCAL) is None
    with pytest.raises(MalformedResponse):
        m.mid_update({"nope": 1}, "ETH", LOCAL)


def test_fill_fields_liquidity_and_cloid_fallback() -> None:
    item = {
        "coin": "ETH", "px": "3500.5", "sz": "0.1", "side": "B", "time": T, "startPosition": "0", "dir": "Open Long",
        "closedPnl": "0", "hash": "0xab", "oid": 42, "crossed": True, "fee": "0.157", "tid": 99, "feeToken": "USDC",
    }
    fill = m.fill(item, LOCAL, cloid="0x" + "1" * 32)
    assert fill.trade_id == "99" and fill.oid == 42 and fill.cloid == "0x" + "1" * 32
    assert fill.liquidity is Liquidity.TAKER and fill.fee == Decimal("0.157") and fill.side is Side.BUY
    maker = m.fill({**item, "crossed": False, "cloid": "0x" + "2" * 32}, LOCAL, cloid="0x" + "1" * 32)
    assert maker.liquidity is Liquidity.MAKER and maker.cloid == "0x" + "2" * 32
    with pytest.raises(MalformedResponse):
        m.fill({**item, "tid": None}, LOCAL)
    with pytest.raises(MalformedResponse):
        m.fill({**item, "side": "X"}, LOCAL)
    for field, bad in (("sz", "-0.1"), ("sz", "0"), ("px", "-3500"), ("px", "0")):
        with pytest.raises(MalformedResponse, match=field):  # the adapter's position tally must not move
            m.fill({**item, field: bad}, LOCAL)


STATUSES = [
    ("open", OrderStatus.RESTING),
    ("triggered", OrderStatus.RESTING),
    ("filled", OrderStatus.FILLED),
    ("canceled", OrderStatus.CANCELLED),
    ("marginCanceled", OrderStatus.CANCELLED),
    ("reduceOnlyCanceled", OrderStatus.CANCELLED),
    ("siblingFilledCanceled", OrderStatus.CANCELLED),
    ("selfTradeCanceled", OrderStatus.CANCELLED),
    ("liquidatedCanceled", OrderStatus.CANCELLED),
    ("scheduledCancel", OrderStatus.CANCELLED),
    ("delistedCanceled", OrderStatus.CANCELLED),
    ("openInterestCapCanceled", OrderStatus.CANCELLED),
    ("vaultWithdrawalCanceled", OrderStatus.CANCELLED),
    ("rejected", OrderStatus.REJECTED),
    ("badAloPxRejected", OrderStatus.REJECTED),
    ("minTradeNtlRejected", OrderStatus.REJECTED),
    ("perpMarginRejected", OrderStatus.REJECTED),
    ("tickRejected", OrderStatus.REJECTED),
    ("reduceOnlyRejected", OrderStatus.REJECTED),
    ("iocCancelRejected", OrderStatus.REJECTED),
    ("insufficientSpotBalanceRejected", OrderStatus.REJECTED),
    ("oracleRejected", OrderStatus.REJECTED),
]


@pytest.mark.parametrize(("text", "status"), STATUSES)
def test_every_order_status_maps(text: str, status: OrderStatus) -> None:
    item = {
        "order": {"coin": "ETH", "side": "B", "limitPx": "3500", "sz": "0.25", "oid": 5, "timestamp": T,
                  "origSz": "0.5", "cloid": "0x" + "a" * 32},
        "status": text,
        "statusTimestamp": T + 1,
    }
    update = m.order_update(item, LOCAL)
    assert update.status is status and update.oid == 5 and update.cloid == "0x" + "a" * 32
    assert update.ts_exchange_ns == (T + 1) * 1_000_000
    assert update.filled_size is None, "fills arrive on their own channel"
    if status is OrderStatus.RESTING:
        assert update.price == Decimal(3500) and update.size == Decimal("0.25") and update.reason == ""
    elif status is OrderStatus.FILLED:
        assert update.reason == ""
    else:
        assert update.reason == text


def test_unknown_status_and_missing_cloid_are_malformed() -> None:
    base = {"order": {"coin": "ETH", "side": "B", "limitPx": "1", "sz": "1", "oid": 5}, "status": "open"}
    with pytest.raises(MalformedResponse):
        m.order_update(base, LOCAL)
    assert m.order_update(base, LOCAL, cloid="0x" + "b" * 32).cloid == "0x" + "b" * 32
    with pytest.raises(MalformedResponse):
        m.order_update({**base, "status": "weird"}, LOCAL, cloid="0x" + "b" * 32)


def test_funding_sign_is_kept() -> None:
    event = m.funding({"time": T, "coin": "ETH", "usdc": "-0.52", "szi": "1.2", "fundingRate": "0.0000125"}, LOCAL)
    assert event.payment == Decimal("-0.52") and event.rate == Decimal("0.0000125")


@pytest.mark.parametrize(
    "value",
    [None, 1.5, True, "abc", "NaN", "Infinity", "1e999999", "-1e999999", "1e-999999", "1e100",
     pytest.param(10**5000, id="a-5000-digit-integer")],
)
def test_dec_refuses_non_decimals_and_absurd_magnitudes(value: object) -> None:
    with pytest.raises(MalformedResponse) as raised:
        m.dec(value)
    assert len(str(raised.value)) < 120


@pytest.mark.parametrize("value", ["0", "-0", "0.00000001", "123456789012.5", "1e-20", "-3500.1", 7])
def test_dec_takes_every_number_the_exchange_sends(value: object) -> None:
    assert m.dec(value) == Decimal(value)

