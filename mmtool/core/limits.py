"""Limits sized to the account: refuse limits the capital cannot carry, and derive limits from a capital.

:func:`check_limits` runs at start-up, once the account value and a mid are known; ``mmtool run`` refuses
to start while it returns problems, and logs what :func:`size_warnings` finds (sizes that would keep every
order off the book). :func:`derive_from_capital` turns the optional ``trading.capital_usd`` into default
limits.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from mmtool.core.config import RiskConfig, Settings, TradingConfig
from mmtool.core.errors import ConfigError

#: Share of the buying power (capital x leverage) the position may use; the rest absorbs adverse moves.
POSITION_SHARE = 0.5
#: Daily loss limit as a share of capital.
DAILY_LOSS_SHARE = 0.02
#: Largest single order as a share of the position value limit.
ORDER_SHARE = 0.25
#: Target liquidity per side as a share of the position limit: four one-sided sweeps reach the limit.
LIQUIDITY_SHARE = 0.25
#: Derived sizes are floored to this many decimals (finer than any lot on Hyperliquid).
SIZE_DECIMALS = 6


def check_limits(settings: Settings, account_value_usd: float, mid: float) -> list[str]:
    """The problems with ``settings``' limits for an account worth ``account_value_usd`` at price ``mid``.

    Checks that the daily loss limit is not larger than the account; that the margin of a full position
    (``max_absolute_position_size x mid / leverage``) fits in the account; and that the position value limit
    is within the buying power (``leverage x account value``). Returns an empty list when all is well.
    """
    trading, risk = settings.trading, settings.risk
    if not account_value_usd > 0:
        return [f"account value is {account_value_usd:g} USD: there is no capital to trade with"]
    problems: list[str] = []
    if risk.max_daily_loss_usd > account_value_usd:
        problems.append(
            f"risk.max_daily_loss_usd ({risk.max_daily_loss_usd:g}) is larger than the account value "
            f"({account_value_usd:g} USD)"
        )
    if not mid > 0:
        problems.append(f"mid price must be > 0 to size the position limit (got {mid!r})")
    else:
        notional = trading.max_absolute_position_size * mid
        margin = notional / trading.leverage
        if margin > account_value_usd:
            problems.append(
                f"trading.max_absolute_position_size ({trading.max_absolute_position_size:g} {trading.asset} = "
                f"{notional:,.2f} USD at {mid:g}) needs {margin:,.2f} USD of margin at {trading.leverage}x; "
                f"the account has {account_value_usd:,.2f} USD"
            )
    buying_power = trading.leverage * account_value_usd
    if risk.max_position_value_usd > buying_power:
        problems.append(
            f"risk.max_position_value_usd ({risk.max_position_value_usd:,.2f}) is beyond leverage x account "
            f"value ({trading.leverage} x {account_value_usd:,.2f} = {buying_power:,.2f} USD)"
        )
    return problems


def size_warnings(settings: Settings, min_notional_usd: float, mid: float) -> list[str]:
    """Why the configured sizes would keep orders off the book at price ``mid``, each naming what to change.

    Sizes are in units of the asset, so defaults fit for one asset are far off for another. Warnings, not
    refusals: a strategy may size its orders its own way. Two cases, both for the usual ladder of
    ``strategy.ladder.num_levels`` equal levels sharing ``trading.target_liquidity`` a side:

    - a whole side is below the exchange's minimum order value, so not even one order can be placed;
    - a level is above ``risk.max_order_notional_usd``, so the pre-trade checks refuse every order.
    """
    if not mid > 0:
        return []
    trading, risk = settings.trading, settings.risk
    asset, side = trading.asset, trading.target_liquidity
    levels = settings.strategy.ladder.num_levels
    warnings = []
    if side * mid < min_notional_usd:
        warnings.append(
            f"trading.target_liquidity ({side:g} {asset} a side = {side * mid:,.2f} USD at {mid:g}) is below the "
            f"exchange's minimum order value of {min_notional_usd:g} USD: nothing can be quoted. It is in units "
            f"of {asset}: at least {min_notional_usd / mid:.6g} {asset} a side, {levels * min_notional_usd / mid:.6g}"
            f" for {levels} levels (or set trading.capital_usd to size it from a capital)"
        )
    level = side / levels
    if level * mid > risk.max_order_notional_usd:
        warnings.append(
            f"trading.target_liquidity ({side:g} {asset}) over {levels} levels is about {level:g} {asset} = "
            f"{level * mid:,.2f} USD a level at {mid:g}, above risk.max_order_notional_usd "
            f"({risk.max_order_notional_usd:,.2f}): the pre-trade checks refuse such orders. It is in units of "
            f"{asset}: at most {levels * risk.max_order_notional_usd / mid:.6g} {asset} a side for {levels} "
            f"levels, or raise risk.max_order_notional_usd (or set trading.capital_usd)"
        )
    return warnings


def _is_default(instance: Any, field: str) -> bool:
    return getattr(instance, field) == getattr(attrs.fields(type(instance)), field).default


def _floor(value: float) -> float:
    scale = 10**SIZE_DECIMALS
    return math.floor(value * scale) / scale


def derive_from_capital(settings: Settings, mid: float | None = None) -> Settings:
    """Settings whose default limits are derived from ``trading.capital_usd`` (unchanged when it is None).

    With capital ``C`` and leverage ``L``: ``risk.max_position_value_usd = C x L x 0.5``,
    ``risk.max_daily_loss_usd = 0.02 x C``, ``risk.max_order_notional_usd = 0.25 x`` the position value
    limit; and, when ``mid`` is given, ``trading.max_absolute_position_size`` = position value limit / mid and
    ``trading.target_liquidity = 0.25 x`` that position limit (sizes floored to 6 decimals). Only fields
    still at their schema default are derived: a value the user set (to anything but the default) wins.
    Raises :class:`ConfigError` when the capital is too small to give a positive size.
    """
    capital = settings.trading.capital_usd
    if capital is None:
        return settings
    trading, risk = settings.trading, settings.risk
    position_value = (
        capital * trading.leverage * POSITION_SHARE
        if _is_default(risk, "max_position_value_usd")
        else risk.max_position_value_usd
    )
    risk_changes: dict[str, float] = {}
    if _is_default(risk, "max_position_value_usd"):
        risk_changes["max_position_value_usd"] = position_value
    if _is_default(risk, "max_daily_loss_usd"):
        risk_changes["max_daily_loss_usd"] = capital * DAILY_LOSS_SHARE
    if _is_default(risk, "max_order_notional_usd"):
        risk_changes["max_order_notional_usd"] = position_value * ORDER_SHARE
    trading_changes: dict[str, float] = {}
    if mid is not None and mid > 0:
        max_size = trading.max_absolute_position_size
        if _is_default(trading, "max_absolute_position_size"):
            max_size = _floor(position_value / mid)
            trading_changes["max_absolute_position_size"] = max_size
        if _is_default(trading, "target_liquidity"):
            trading_changes["target_liquidity"] = _floor(max_size * LIQUIDITY_SHARE)
    try:
        # Evolving runs the validators again: a capital too small for a positive size fails here.
        new_risk: RiskConfig = attrs.evolve(risk, **risk_changes)
        new_trading: TradingConfig = attrs.evolve(trading, **trading_changes)
    except ValueError as exc:
        raise ConfigError(f"trading.capital_usd: {capital:g} is too small to derive limits from ({exc})") from exc
    return attrs.evolve(settings, risk=new_risk, trading=new_trading)
