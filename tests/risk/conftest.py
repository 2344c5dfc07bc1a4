"""Builders for the risk tests: settings, component contexts and hand-made risk states."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs
import pytest

from mmtool.core.components import ComponentContext, PnlSnapshot, RiskState
from mmtool.core.config import RiskConfig, Settings, TradingConfig
from mmtool.core.rounding import AssetRules

NS = 1_000_000_000


def _settings(risk: dict[str, Any] | None = None, trading: dict[str, Any] | None = None) -> Settings:
    return Settings(trading=TradingConfig(**(trading or {})), risk=RiskConfig(**(risk or {})))


@pytest.fixture
def rules() -> AssetRules:
    """ETH-like rules: 4 size decimals, so prices carry at most 2 decimals and 5 significant figures."""
    return AssetRules("ETH", sz_decimals=4)


@pytest.fixture
def make_settings() -> Callable[..., Settings]:
    """``make_settings(risk={...}, trading={...})``."""
    return _settings


@pytest.fixture
def make_ctx(rules: AssetRules) -> Callable[..., ComponentContext]:
    """``make_ctx(risk={...}, trading={...})``: a component context for ETH."""

    def build(risk: dict[str, Any] | None = None, trading: dict[str, Any] | None = None) -> ComponentContext:
        return ComponentContext("ETH", rules, _settings(risk, trading))

    return build


@pytest.fixture
def make_state() -> Callable[..., RiskState]:
    """``make_state(**fields)``: a calm risk state at t = 100 s with market data just in; override anything.

    ``pnl`` may be given as a dict of :class:`PnlSnapshot` fields.
    """

    def build(**kw: Any) -> RiskState:
        pnl = kw.pop("pnl", {})
        base = RiskState(
            asset="ETH",
            ts_ns=100 * NS,
            mid=3500.0,
            position=0.0,
            max_position=2.0,
            pnl=PnlSnapshot(**pnl) if isinstance(pnl, dict) else pnl,
            last_market_ts_ns=100 * NS,
            open_orders=0,
        )
        return attrs.evolve(base, **kw)

    return build
