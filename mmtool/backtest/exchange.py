"""The synchronous exchange a backtest drives, and how to build one over the synthetic market.

Both :class:`~mmtool.plugins.exchanges.sim.simulator.Simulation` (synthetic market) and
:class:`~mmtool.backtest.replay.ReplayExchange` (recorded market) satisfy :class:`BacktestExchange`: events
come out in local-time order, actions go in at the clock's present time, and the matching engine's ledger is
the ground truth at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import attrs

from mmtool.core.config_loader import component_config
from mmtool.plugins.exchanges.sim.adapter import SimAdapter
from mmtool.plugins.exchanges.sim.config import SimConfig
from mmtool.plugins.exchanges.sim.simulator import Simulation

if TYPE_CHECKING:
    from mmtool.core.clock import ManualClock
    from mmtool.core.config import Settings
    from mmtool.core.rounding import AssetRules
    from mmtool.core.types import Action, Event, Position
    from mmtool.plugins.exchanges.sim.ledger import AccountState, FillRecord


class BacktestExchange(Protocol):
    """A deterministic exchange stepped by hand: the contract the backtest loop relies on."""

    clock: ManualClock
    rules: AssetRules

    def next_event(self) -> Event | None:
        """The next event in local-time order (advancing the clock), or None when the stream has ended."""
        ...

    def submit_now(self, actions: Sequence[Action]) -> None:
        """Send actions at the clock's present time (they reach the matching engine after the order latency)."""
        ...

    def cancel_all_now(self) -> int:
        """Cancel every open order of ours at once; return how many remain."""
        ...

    def position(self) -> Position:
        """Our position according to the exchange."""
        ...

    def account_state(self) -> AccountState:
        """The exchange's account figures (balance, PnL, fees, funding)."""
        ...

    @property
    def ledger(self) -> list[FillRecord]:
        """Every fill of ours so far, in order."""
        ...


@attrs.frozen
class Latency:
    """Simulated latencies in milliseconds; None keeps the value from ``[plugins.sim]``."""

    order_ms: float | None = None
    market_data_ms: float | None = None


def sim_config(settings: Settings, *, seed: int | None = None, latency: Latency = Latency()) -> SimConfig:
    """The ``[plugins.sim]`` table with the backtest's seed and latencies applied (never a duration: the loop
    decides when to stop, so the shutdown still sees the exchange's answers)."""
    config = component_config(settings, SimAdapter)
    assert isinstance(config, SimConfig)
    changes: dict[str, object] = {"duration_secs": 0.0}
    if seed is not None:
        changes["seed"] = seed
    if latency.order_ms is not None:
        changes["order_latency_ms"] = latency.order_ms
    if latency.market_data_ms is not None:
        changes["market_data_latency_ms"] = latency.market_data_ms
    return attrs.evolve(config, **changes)


def synthetic_exchange(settings: Settings, *, seed: int | None = None, latency: Latency = Latency()) -> Simulation:
    """The simulated exchange over the seeded synthetic market, for the configured asset and leverage."""
    config = sim_config(settings, seed=seed, latency=latency)
    return Simulation(config, settings.trading.asset, leverage=settings.trading.leverage)
