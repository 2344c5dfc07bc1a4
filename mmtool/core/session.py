"""Assemble a trading session from settings and the plugin registry: adapter, components, engine, runner.

This is the one place that turns names in the config into objects; the engine and runner stay ignorant of
where their components came from.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from mmtool.core.components import ComponentContext
from mmtool.core.config_loader import component_config
from mmtool.core.engine import Engine
from mmtool.core.errors import ConfigError, KillSwitchEngaged, UnknownComponentError
from mmtool.core.limits import check_limits, derive_from_capital, size_warnings
from mmtool.core.runner import Runner, RunObserver, RunOptions, RunResult
from mmtool.core.summary import build_summary

if TYPE_CHECKING:
    from mmtool.core.components import ExchangeAdapter
    from mmtool.core.config import Settings
    from mmtool.core.plugins import Registry

log = logging.getLogger("mmtool.session")

#: The exchange adapter each network is served by.
NETWORK_ADAPTERS = {"sim": "sim", "localhost": "hyperliquid", "testnet": "hyperliquid", "mainnet": "hyperliquid"}


def adapter_name(settings: Settings) -> str:
    """The exchange adapter plugin for the configured network."""
    return NETWORK_ADAPTERS[settings.network.name]


def build_adapter(settings: Settings, registry: Registry) -> ExchangeAdapter:
    """Build (not connect) the exchange adapter for the configured network."""
    name = adapter_name(settings)
    try:
        cls = registry.get("exchange", name)
    except UnknownComponentError as exc:
        raise ConfigError(
            f"network.name: {settings.network.name!r} needs the {name!r} exchange adapter, which is not available "
            f"in this installation ({exc})"
        ) from exc
    from mmtool.core.rounding import AssetRules

    ctx = ComponentContext(settings.trading.asset, AssetRules(settings.trading.asset, 4), settings)
    return cls.from_config(component_config(settings, cls), ctx)


def build_engine(settings: Settings, registry: Registry, ctx: ComponentContext, *, cloid_seed: int = 0,
                 supports_modify: bool = True, capital_usd: float = 0.0) -> Engine:
    """Build the strategy, estimators and risk monitors named in the settings, and the engine around them."""

    def make(kind: str, name: str) -> Any:
        cls = registry.get(kind, name)
        return cls.from_config(component_config(settings, cls), ctx)

    strategy = make("strategy", settings.strategy.strategy_type)
    estimators = [make("estimator", n) for n in settings.strategy.estimators]
    monitors = [make("risk_monitor", n) for n in settings.risk.monitors]
    return Engine(
        ctx=ctx,
        strategy=strategy,
        estimators=estimators,
        monitors=monitors,
        cloid_seed=cloid_seed,
        supports_modify=supports_modify,
        capital_usd=capital_usd,
    )


@attrs.frozen
class SessionOutcome:
    """A finished session: the engine (for inspection), the run result and the summary."""

    engine: Engine
    result: RunResult
    summary: dict[str, Any]


def check_kill_marker(settings: Settings, reset: bool) -> bool:
    """Refuse to start while a kill marker exists, unless ``reset``; return True when a marker was reset."""
    marker = Path(settings.risk.kill_marker)
    if not marker.exists():
        return False
    if not reset:
        text = marker.read_text()
        raise KillSwitchEngaged(
            f"a previous run was killed ({marker}: {'; '.join(filter(None, map(str.strip, text.splitlines())))}); "
            "remove the file or pass --reset-kill to trade again"
        )
    marker.unlink()
    log.warning("Kill marker removed; trading resumes with reduced limits", extra={"fields": {"path": str(marker)}})
    return True


async def run_session(
    settings: Settings,
    registry: Registry,
    options: RunOptions,
    *,
    seed: int | None = None,
    reset_kill: bool = False,
    observers: Sequence[RunObserver] = (),
    on_connected: Callable[[Engine, ExchangeAdapter], Awaitable[None]] | None = None,
) -> SessionOutcome:
    """Connect, check limits against the account, trade until stopped, shut down, and summarise.

    ``on_connected`` runs once the engine is built and the exchange's position adopted, before trading (the
    journal's recovery: reconcile the journal with the exchange's fills and position).
    """
    was_killed = check_kill_marker(settings, reset_kill)
    adapter = build_adapter(settings, registry)
    await adapter.connect()
    try:
        asset = settings.trading.asset
        rules = adapter.rules(asset)
        account_value = await adapter.account_value()
        mid = await _first_mid(adapter)
        if settings.trading.capital_usd is not None:
            settings = derive_from_capital(settings, mid)
            log.info(
                "Limits derived from capital",
                extra={
                    "fields": {
                        "capital_usd": settings.trading.capital_usd,
                        "max_position": settings.trading.max_absolute_position_size,
                        "target_liquidity": settings.trading.target_liquidity,
                        "max_daily_loss_usd": settings.risk.max_daily_loss_usd,
                        "max_position_value_usd": settings.risk.max_position_value_usd,
                    }
                },
            )
        problems = check_limits(settings, account_value, mid) if mid else []
        if problems:
            raise ConfigError(problems)
        for warning in size_warnings(settings, float(rules.min_notional), mid) if mid else []:
            log.warning("Sizing: %s", warning)
        ctx = ComponentContext(asset, rules, settings)
        engine = build_engine(
            settings,
            registry,
            ctx,
            # Cloids must never repeat at the exchange across restarts: a live session seeds them with its start
            # time; the simulator with its seed, so a seeded run is reproducible.
            cloid_seed=(seed or 0) if settings.network.name == "sim" else adapter.clock.now_ns() // 1_000_000,
            supports_modify=bool(getattr(adapter, "supports_modify", True)),
            capital_usd=settings.trading.capital_usd or account_value,
        )
        exchange_position = await adapter.position()
        if exchange_position.size != 0:
            engine.portfolio.reset_position(exchange_position.size, exchange_position.entry_price)
            log.warning("Adopted the exchange's position", extra={"fields": {"position": str(exchange_position.size)}})
        if was_killed:
            engine.risk.reset(adapter.clock.now_ns())
        # Observability wiring: start-up journal recovery.
        if on_connected is not None:
            await on_connected(engine, adapter)
    except BaseException:
        await adapter.close()
        raise
    result = await Runner(engine, adapter, options, observers=observers).run()
    summary = build_summary(engine, result, network=settings.network.name, seed=seed)
    return SessionOutcome(engine, result, summary)


async def _first_mid(adapter: ExchangeAdapter) -> float | None:
    """The exchange's mid before trading starts, when the adapter can tell (for sizing checks)."""
    mid_of = getattr(adapter, "mid_price", None)
    if callable(mid_of):
        value = mid_of()
        return float(value) if value else None
    return None
