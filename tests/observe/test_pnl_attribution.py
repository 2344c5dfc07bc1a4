"""The PnL split adds up to the total PnL: for random fills and marks, and for a simulated session."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmtool.core.portfolio import Portfolio
from mmtool.core.types import Fill, Funding, Liquidity, Side
from mmtool.observe.pnl_attribution import AttributedFill, PnlAttribution, attribute
from mmtool.observe.report import build_report

from .conftest import Observed

NS = 1_000_000_000
prices = st.decimals(min_value=Decimal("1000"), max_value=Decimal("5000"), places=1)
sizes = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("3"), places=4)
fills = st.lists(
    st.tuples(st.booleans(), sizes, prices, prices, st.integers(0, 20 * NS), st.decimals(-1, 1, places=6)),
    min_size=1, max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(fills=fills, start=st.decimals(-2, 2, places=3), entry=prices, mark=prices,
       funding=st.decimals(-5, 5, places=4))
def test_components_add_up_to_the_portfolio_total(fills, start, entry, mark, funding) -> None:
    portfolio = Portfolio("ETH")
    portfolio.reset_position(start, entry)
    live = PnlAttribution(5.0, start, entry, keep_resolved=True)
    records, ts = [], 0
    for i, (buy, size, price, mid, gap, fee) in enumerate(fills):
        ts += gap
        side = Side.BUY if buy else Side.SELL
        portfolio.mark(mid)
        live.on_mid(ts, mid)
        assert portfolio.on_fill(Fill("ETH", None, None, str(i), side, price, size, fee, Liquidity.MAKER, ts, ts))
        live.on_fill(str(i), side.sign, size, price, mid, ts)
        records.append([side.sign, size, price, mid])
    live.on_mid(ts + 6 * NS, mark)  # every horizon passes at the final mark
    portfolio.mark(mark)
    portfolio.on_funding(Funding("ETH", Decimal("0.0001"), funding, ts, ts))
    split = live.split(portfolio.mark_price, portfolio.fees, portfolio.funding)
    assert abs(split.total - portfolio.total()) < Decimal("1e-12")
    assert split.fees == -portfolio.fees and split.funding == portfolio.funding
    # The journal's view (mid_h per fill) gives the same split.
    mid_h = dict(live.resolved)
    offline = attribute([AttributedFill(s, q, p, m, mid_h.get(str(i))) for i, (s, q, p, m) in enumerate(records)],
                        portfolio.mark_price, portfolio.fees, portfolio.funding, start, entry)
    assert offline == split


def test_spread_capture_and_adverse_selection_signs() -> None:
    live = PnlAttribution(1.0)
    live.on_fill("a", +1, Decimal("1"), Decimal("99"), Decimal("100"), 0)  # bought 1 below the mid
    live.on_mid(2 * NS, Decimal("97"))  # ...and the mid fell 3: adverse
    split = live.split(Decimal("98"), Decimal("0.1"), Decimal("0"))
    assert split.spread_capture == Decimal("1")
    assert split.adverse_selection == Decimal("-3")
    assert split.inventory == Decimal("1")
    assert split.total == Decimal("-1.1")  # bought at 99, marked at 98, paid 0.1


def test_session_split_matches_summary_and_report(observed: Observed) -> None:
    engine = observed.engine
    p = engine.portfolio
    split = observed.attribution.split(p.mark_price, p.fees, p.funding)
    assert split.total == pytest.approx(p.total(), abs=Decimal("1e-12"))
    assert float(split.total) == pytest.approx(observed.summary["total_pnl"], abs=1e-6)
    report = build_report(observed.journal_path)
    assert report["pnl_split"]["total"] == pytest.approx(observed.summary["total_pnl"], abs=1e-6)
    for name, part in split.as_floats().items():
        assert report["pnl_split"][name] == pytest.approx(part, abs=1e-6), name
