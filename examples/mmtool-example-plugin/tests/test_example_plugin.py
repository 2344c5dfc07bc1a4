"""Tests of the example plugin, written as a plugin author would, with mmtool.testing."""

from __future__ import annotations

from decimal import Decimal

from mmtool_example_plugin import monitor, strategy
from mmtool_example_plugin.monitor import MaxOpenOrders
from mmtool_example_plugin.strategy import MidSpread

from mmtool.api import RiskLevel
from mmtool.testing import make_component_context, make_params, make_quote_context, make_risk_state


def test_registers_through_the_hooks(plugin_manager) -> None:
    registry = plugin_manager(strategy, monitor)
    assert registry.errors == []
    assert registry.get("strategy", "example-mid-spread") is MidSpread
    assert registry.get("risk_monitor", "max-open-orders") is MaxOpenOrders


def test_quotes_around_fair() -> None:
    quoter = MidSpread.from_config(MidSpread.Config(half_spread_bps=10.0), make_component_context())
    ladder = quoter.quote(make_quote_context(make_params(mid=2000.0)))
    assert ladder.bids[0].price == Decimal("1998") and ladder.asks[0].price == Decimal("2002")
    assert ladder.bids[0].size == ladder.asks[0].size == Decimal("0.5")


def test_monitor_pauses_above_limit() -> None:
    watcher = MaxOpenOrders.from_config(MaxOpenOrders.Config(max_open_orders=10), make_component_context())
    assert watcher.check(make_risk_state(open_orders=11)).level is RiskLevel.PAUSE
