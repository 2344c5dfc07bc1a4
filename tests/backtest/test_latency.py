"""Latency shifts fills: on a planted price fall, a slower order fills later and at a lower price."""

from __future__ import annotations

from decimal import Decimal

import pytest

from mmtool.core.types import Fill, Liquidity, Place, Side, Tif

from .market import NS, T0, book, drain, replay

BEFORE = ([("3499.9", 2.0), ("3499.8", 3.0)], [("3500", 1.0), ("3500.1", 2.0)])
AFTER = ([("3489.9", 2.0), ("3489.8", 3.0)], [("3490", 1.0), ("3490.1", 2.0)])


def planted_fall() -> list:
    """The book at 3500 until 0.2 s, then 10 USD lower (through a bid at 3499.5) for the next seconds."""
    return [book(*BEFORE, 0.0), book(*BEFORE, 0.1), *(book(*AFTER, 0.2 + 0.1 * i) for i in range(20))]


def fill_of_a_bid(latency_ms: float) -> Fill:
    exchange = replay(planted_fall(), order_latency_ms=latency_ms)
    exchange.next_event()
    exchange.submit_now([Place("c1", "ETH", Side.BUY, Decimal("3499.5"), Decimal("0.1"), Tif.GTC)])
    (fill,) = [e for e in drain(exchange) if isinstance(e, Fill)]
    return fill


def test_higher_latency_fills_later_and_lower_on_a_falling_market():
    fast, slow = fill_of_a_bid(10.0), fill_of_a_bid(500.0)
    # Fast: the bid rests before the fall and is run over at its own price, as a maker.
    assert fast.ts_exchange_ns == T0 + NS // 5
    assert (fast.price, fast.liquidity) == (Decimal("3499.5"), Liquidity.MAKER)
    # Slow: it arrives after the fall and takes the new best ask.
    assert slow.ts_exchange_ns == T0 + NS // 2
    assert (slow.price, slow.liquidity) == (Decimal("3490"), Liquidity.TAKER)
    assert slow.ts_exchange_ns > fast.ts_exchange_ns and slow.price < fast.price


@pytest.mark.parametrize("md_latency_ms", [0.0, 250.0])
def test_market_data_latency_delays_what_we_see_not_the_exchange(md_latency_ms):
    exchange = replay(planted_fall(), md_latency_ms=md_latency_ms)
    exchange.next_event()
    exchange.submit_now([Place("c1", "ETH", Side.BUY, Decimal("3499.5"), Decimal("0.1"), Tif.GTC)])
    (fill,) = [e for e in drain(exchange) if isinstance(e, Fill)]
    assert fill.ts_exchange_ns == T0 + NS // 5
    assert fill.ts_local_ns == fill.ts_exchange_ns + round(md_latency_ms * 1e6)
