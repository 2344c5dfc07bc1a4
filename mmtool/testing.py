"""Test helpers for mmtool and its plugins: an opt-in pytest plugin plus plain builder functions.

Enable in a ``conftest.py`` with ``pytest_plugins = ["mmtool.testing"]``. You get the ``plugin_manager``
fixture (a factory: ``plugin_manager(my_plugin_module)`` returns a fresh :class:`Registry` of just those
plugins) and can import the builders: :func:`make_book`, :func:`make_trade`, :func:`make_fill`,
:func:`make_params`, :func:`make_quote_context`, :func:`make_risk_state`, :func:`make_component_context`.
Prices and sizes are given as floats or strings and stored exactly as ``Decimal``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal

import pytest

from mmtool.core.components import ComponentContext, PnlSnapshot, QuoteContext, RiskState
from mmtool.core.config import LadderConfig, Settings, TradingConfig
from mmtool.core.plugins import Registry
from mmtool.core.rounding import AssetRules, to_decimal
from mmtool.core.types import BookLevel, BookUpdate, Fill, L2Book, Liquidity, MarketParams, Side, Trade

Number = float | int | str | Decimal


def _d(value: Number) -> Decimal:
    return Decimal(value) if isinstance(value, str) else to_decimal(value)


def _side(side: Side | str) -> Side:
    if isinstance(side, Side):
        return side
    return {"buy": Side.BUY, "b": Side.BUY, "bid": Side.BUY, "sell": Side.SELL, "a": Side.SELL, "ask": Side.SELL}[
        side.lower()
    ]


def make_book(
    mid: Number,
    spread: Number,
    levels: int = 5,
    size: Number = 1,
    *,
    step: Number | None = None,
    asset: str = "ETH",
    ts_ns: int = 0,
) -> BookUpdate:
    """A symmetric L2 book around ``mid``: best bid/ask ``spread`` apart, ``levels`` a side ``step`` apart
    (default: ``spread``), each of ``size``."""
    mid_d, half = _d(mid), _d(spread) / 2
    gap = _d(step) if step is not None else _d(spread)
    bids = tuple(BookLevel(mid_d - half - i * gap, _d(size)) for i in range(levels))
    asks = tuple(BookLevel(mid_d + half + i * gap, _d(size)) for i in range(levels))
    return BookUpdate(asset, L2Book(bids, asks), ts_ns, ts_ns)


def make_trade(
    price: Number,
    size: Number = 1,
    side: Side | str = "buy",
    *,
    asset: str = "ETH",
    ts_ns: int = 0,
    trade_id: str | None = None,
) -> Trade:
    """A public trade; ``side`` is the aggressor's (``"buy"``/``"sell"`` or a :class:`Side`)."""
    return Trade(asset, _d(price), _d(size), _side(side), trade_id or f"t{ts_ns}", ts_ns, ts_ns)


def make_fill(
    price: Number,
    size: Number,
    side: Side | str = "buy",
    *,
    cloid: str | None = "0x" + "0" * 32,
    fee: Number = 0,
    liquidity: Liquidity = Liquidity.MAKER,
    asset: str = "ETH",
    ts_ns: int = 0,
    trade_id: str | None = None,
    oid: int | None = None,
) -> Fill:
    """A fill of one of our orders (maker by default, no fee)."""
    return Fill(
        asset, cloid, oid, trade_id or f"f{ts_ns}", _side(side), _d(price), _d(size), _d(fee), liquidity, ts_ns, ts_ns
    )


def make_params(
    mid: float = 2000.0,
    spread: float = 1.0,
    values: Mapping[str, float] | None = None,
    *,
    asset: str = "ETH",
    ts_ns: int = 0,
    warmed_up: bool = True,
) -> MarketParams:
    """Market parameters around ``mid`` with the given estimator ``values``."""
    return MarketParams(asset, ts_ns, mid, mid - spread / 2, mid + spread / 2, dict(values or {}), warmed_up)


def make_quote_context(
    params: MarketParams | None = None,
    *,
    position: float = 0.0,
    max_position: float = 2.0,
    target_liquidity: float = 0.5,
    risk_aversion: float | None = None,
    sz_decimals: int = 4,
    reduce_only: bool = False,
    maker_fee_bps: float = 1.5,
    ladder: LadderConfig | None = None,
) -> QuoteContext:
    """A strategy's input with sane defaults (ETH-like rules, 4 size decimals)."""
    params = params or make_params()
    return QuoteContext(
        params=params,
        position=position,
        max_position=max_position,
        target_liquidity=target_liquidity,
        risk_aversion=TradingConfig().risk_aversion if risk_aversion is None else risk_aversion,
        rules=AssetRules(params.asset, sz_decimals),
        ladder=ladder or LadderConfig(),
        maker_fee_bps=maker_fee_bps,
        ts_ns=params.ts_ns,
        reduce_only=reduce_only,
    )


def make_risk_state(
    *,
    mid: float | None = 2000.0,
    position: float = 0.0,
    max_position: float = 2.0,
    open_orders: int = 0,
    ts_ns: int = 0,
    last_market_ts_ns: int | None = None,
    pnl: PnlSnapshot | None = None,
    values: Mapping[str, float] | None = None,
    asset: str = "ETH",
) -> RiskState:
    """A risk monitor's input with sane defaults (fresh market data, flat, no PnL)."""
    return RiskState(
        asset=asset,
        ts_ns=ts_ns,
        mid=mid,
        position=position,
        max_position=max_position,
        pnl=pnl or PnlSnapshot(),
        last_market_ts_ns=ts_ns if last_market_ts_ns is None else last_market_ts_ns,
        open_orders=open_orders,
        values=dict(values or {}),
    )


def make_component_context(settings: Settings | None = None, *, sz_decimals: int = 4) -> ComponentContext:
    """What ``from_config`` receives: the asset, its rules and the settings (defaults when not given)."""
    settings = settings or Settings()
    asset = settings.trading.asset
    return ComponentContext(asset, AssetRules(asset, sz_decimals), settings)


@pytest.fixture
def plugin_manager() -> Callable[..., Registry]:
    """Factory fixture: ``plugin_manager(*plugins, package="test")`` builds a fresh registry of those plugins."""

    def build(*plugins: object, package: str = "test") -> Registry:
        return Registry.from_plugins(*plugins, package=package)

    return build
