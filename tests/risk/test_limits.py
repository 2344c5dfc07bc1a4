"""Limits sized to the account: refusals when the capital cannot carry them, and derivation from capital."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmtool.core.config import RiskConfig, Settings, TradingConfig
from mmtool.core.errors import ConfigError
from mmtool.core.limits import check_limits, derive_from_capital, size_warnings


def make(risk=None, trading=None) -> Settings:
    return Settings(risk=RiskConfig(**(risk or {})), trading=TradingConfig(**(trading or {})))


def test_defaults_fit_a_large_enough_account():
    assert check_limits(make(), 10_000.0, 3500.0) == []


def test_small_account_reports_every_problem():
    problems = check_limits(make(), 400.0, 3500.0)
    assert len(problems) == 3
    assert "risk.max_daily_loss_usd (500) is larger than the account value (400 USD)" in problems[0]
    assert "trading.max_absolute_position_size" in problems[1] and "2,333.33 USD of margin at 3x" in problems[1]
    assert "risk.max_position_value_usd (10,000.00) is beyond leverage x account value" in problems[2]


def test_margin_refusal_depends_on_leverage():
    tight = make(trading={"leverage": 3}, risk={"max_position_value_usd": 6000.0})
    loose = make(trading={"leverage": 5}, risk={"max_position_value_usd": 6000.0})
    assert len(check_limits(tight, 2000.0 - 0.01, 3000.0)) == 2  # margin 2,000 and buying power 5,999.97
    assert check_limits(loose, 2000.0 - 0.01, 3000.0) == []


def test_limits_exactly_at_the_account_pass():
    exact = make(risk={"max_daily_loss_usd": 2000.0, "max_position_value_usd": 6000.0})
    # 2 ETH x 3,000 = 6,000 USD; at 3x that is 2,000 of margin: exactly the account.
    assert check_limits(exact, 2000.0, 3000.0) == []


def test_no_capital_or_no_mid_is_a_problem():
    assert check_limits(make(), 0.0, 3500.0) == ["account value is 0 USD: there is no capital to trade with"]
    assert any("mid price must be > 0" in p for p in check_limits(make(), 10_000.0, 0.0))


def test_derive_without_capital_changes_nothing():
    settings = make()
    assert derive_from_capital(settings, 3000.0) is settings


def test_derive_from_capital_sets_defaults():
    derived = derive_from_capital(make(trading={"capital_usd": 10_000.0, "leverage": 3}), 3000.0)
    assert derived.risk.max_position_value_usd == 15_000.0  # C x L x 0.5
    assert derived.risk.max_daily_loss_usd == 200.0  # 2 % of C
    assert derived.risk.max_order_notional_usd == 3750.0  # a quarter of the position value limit
    assert derived.trading.max_absolute_position_size == 5.0  # 15,000 / 3,000
    assert derived.trading.target_liquidity == 1.25  # a quarter of the position limit


def test_derive_keeps_what_the_user_set():
    user = make(
        trading={"capital_usd": 10_000.0, "max_absolute_position_size": 1.0},
        risk={"max_daily_loss_usd": 300.0, "max_position_value_usd": 4000.0},
    )
    derived = derive_from_capital(user, 3000.0)
    assert derived.risk.max_daily_loss_usd == 300.0
    assert derived.risk.max_position_value_usd == 4000.0
    assert derived.risk.max_order_notional_usd == 1000.0  # from the user's position value limit
    assert derived.trading.max_absolute_position_size == 1.0
    assert derived.trading.target_liquidity == 0.25


def test_derive_without_mid_sets_only_usd_limits():
    derived = derive_from_capital(make(trading={"capital_usd": 1000.0}))
    assert derived.risk.max_daily_loss_usd == 20.0
    assert derived.trading.max_absolute_position_size == TradingConfig().max_absolute_position_size
    assert derived.trading.target_liquidity == TradingConfig().target_liquidity


def test_derive_refuses_a_capital_too_small_for_any_size():
    with pytest.raises(ConfigError, match="trading.capital_usd: 0.001 is too small"):
        derive_from_capital(make(trading={"capital_usd": 0.001, "leverage": 1}), 100_000.0)


@settings(max_examples=200, deadline=None)
@given(
    capital=st.floats(min_value=100.0, max_value=1e7),
    leverage=st.integers(min_value=1, max_value=50),
    mid=st.floats(min_value=0.01, max_value=200_000.0),
)
def test_derived_limits_always_fit_the_capital(capital, leverage, mid):
    derived = derive_from_capital(make(trading={"capital_usd": capital, "leverage": leverage}), mid)
    assert check_limits(derived, capital, mid) == []


def test_size_warnings_name_the_field_and_the_size_that_would_fit():
    # The defaults (0.5 a side over 5 levels) fit ETH; they are far off for BTC and for DOGE.
    assert size_warnings(make(), 10.0, 3500.0) == []
    [big] = size_warnings(make(trading={"asset": "BTC"}), 10.0, 95_000.0)
    assert "about 0.1 BTC = 9,500.00 USD a level" in big and "risk.max_order_notional_usd (5,000.00)" in big
    assert "at most 0.263158 BTC a side for 5 levels" in big
    [small] = size_warnings(make(trading={"asset": "DOGE"}), 10.0, 0.3)
    assert "0.5 DOGE a side = 0.15 USD at 0.3" in small and "minimum order value of 10 USD" in small
    assert "at least 33.3333 DOGE a side" in small
    assert size_warnings(make(), 10.0, 0.0) == []


@settings(max_examples=200, deadline=None)
@given(side=st.floats(1e-4, 1e4), mid=st.floats(1e-3, 1e6), cap=st.floats(100.0, 1e6),
       levels=st.integers(1, 20))
def test_the_size_a_warning_suggests_clears_it(side, mid, cap, levels):
    """Following a warning's advice (the smallest or largest side it names) makes that warning go away."""
    base = {"trading": {"target_liquidity": side}, "risk": {"max_order_notional_usd": cap}}
    current = make(**base)
    current = Settings(risk=current.risk, trading=current.trading,
                       strategy=attrs.evolve(current.strategy, ladder=attrs.evolve(current.strategy.ladder,
                                                                                      num_levels=levels)))
    for warning in size_warnings(current, 10.0, mid):
        advised = (10.0 / mid) * 1.000001 if "below the exchange's minimum" in warning else (
            levels * cap / mid) * 0.999999
        fixed = attrs.evolve(current, trading=attrs.evolve(current.trading, target_liquidity=advised))
        kind = "minimum" if "below the exchange's minimum" in warning else "max_order_notional"
        assert not any(kind in w for w in size_warnings(fixed, 10.0, mid))
