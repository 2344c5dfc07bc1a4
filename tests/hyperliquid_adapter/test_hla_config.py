"""The adapter's options refuse, by name, values the exchange would refuse every time."""

from __future__ import annotations

import pytest

from mmtool.core.config_loader import structure_config
from mmtool.plugins.exchanges.hyperliquid.config import HyperliquidConfig


@pytest.mark.parametrize("horizon", [5, 5.0, 5.4])
def test_a_dead_man_horizon_the_exchange_always_refuses_is_a_config_error(horizon: float) -> None:
    # The exchange wants the cancel time at least 5 s after its clock on arrival: now + 5 s never is.
    config, problems = structure_config(
        {"dead_man_horizon_secs": horizon, "dead_man_refresh_secs": 1.0}, HyperliquidConfig, "plugins.hyperliquid"
    )
    assert config is None or problems
    assert any("plugins.hyperliquid.dead_man_horizon_secs" in p and "5.5" in p for p in problems), problems


@pytest.mark.parametrize("horizon", [5.5, 6, 30.0])
def test_horizons_with_room_for_the_trip_are_taken(horizon: float) -> None:
    config, problems = structure_config(
        {"dead_man_horizon_secs": horizon, "dead_man_refresh_secs": 1.0}, HyperliquidConfig, "plugins.hyperliquid"
    )
    assert problems == [] and config.dead_man_horizon_secs == horizon
