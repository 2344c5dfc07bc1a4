"""``mmtool run``: trade one asset with one strategy on the simulator or a live network."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import click

from mmtool.cli import get_registry, get_settings
from mmtool.core import eventloop
from mmtool.core.config_loader import resolve_private_key, validate_components
from mmtool.core.errors import ConfigError, MmtoolError
from mmtool.core.runner import RunOptions
from mmtool.core.session import run_session
from mmtool.observe.wiring import build_observation

#: Exit code after a kill switch fired (a normal stop exits 0).
EXIT_KILLED = 3


def parse_speed(value: str) -> float:
    """``max`` (or ``inf``) means as fast as possible; otherwise simulated seconds per wall second (> 0)."""
    if value.strip().lower() in ("max", "inf"):
        return math.inf
    try:
        speed = float(value)
    except ValueError as exc:
        raise click.BadParameter(f"{value!r} is not a number or 'max'") from exc
    if not speed > 0:
        raise click.BadParameter(f"must be > 0 or 'max' (got {value})")
    return speed


def _overrides(opts: dict[str, Any]) -> dict[str, Any]:
    mapping = {
        "strategy": "strategy.strategy_type",
        "network": "network.name",
        "base_url": "network.base_url",
        "asset": "trading.asset",
        "target_liquidity": "trading.target_liquidity",
        "risk_aversion": "trading.risk_aversion",
        "max_position": "trading.max_absolute_position_size",
        "leverage": "trading.leverage",
        "max_daily_loss": "risk.max_daily_loss_usd",
        "log_level": "logging.level",
        "log_file": "logging.file",
        "log_format": "logging.format",
        "metrics_port": "monitoring.metrics_port",
    }
    out = {key: opts[name] for name, key in mapping.items() if opts.get(name) is not None}
    if opts.get("yes_mainnet"):
        out["network.confirm_mainnet"] = True
    return out


@click.command("run")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Config file (market_maker.toml).")
@click.option("--strategy", help="Strategy plugin name, e.g. glft-ladder.")
@click.option("--network", type=click.Choice(["sim", "localhost", "testnet", "mainnet"]), help="Where to trade.")
@click.option("--base-url", help="Point the network at another API address.")
@click.option("--yes-mainnet", is_flag=True, help="Confirm trading real money on mainnet.")
@click.option("--asset", help="Perpetual to trade, e.g. ETH.")
@click.option("--duration", type=float, help="Stop after this many (simulated) seconds; default: until Ctrl+C.")
@click.option("--speed", default="1", show_default=True, help="Simulated seconds per wall second, or 'max'.")
@click.option("--seed", type=int, help="Seed of the simulated market (reproducible runs).")
@click.option("--target-liquidity", type=float, help="Total size quoted per side, asset units.")
@click.option("--risk-aversion", type=float, help="GLFT risk aversion gamma.")
@click.option("--max-position", type=float, help="Absolute position limit, asset units.")
@click.option("--leverage", type=int, help="Leverage.")
@click.option("--max-daily-loss", type=float, help="Kill switch: maximum daily loss in USD.")
@click.option("--log-level", type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], case_sensitive=False))
@click.option("--log-file", type=click.Path(dir_okay=False), help="Also log to this file.")
@click.option("--log-format", type=click.Choice(["pretty", "json", "compact"]), help="Log format.")
@click.option("--metrics-port", type=int, help="Prometheus metrics port (0 disables).")
@click.option("--summary-json", type=click.Path(dir_okay=False), help="Write the run summary here at exit.")
@click.option("--reset-kill", is_flag=True, help="Remove a previous kill marker and trade with reduced limits.")
@click.option("--journal", "journal_path", type=click.Path(dir_okay=False),
              help="Journal the session into this SQLite file (also on the simulator).")
@click.option("--no-journal", is_flag=True, help="Do not journal this session.")
@click.option("--live/--no-live", "live_status", default=None,
              help="Live status view (default: when stdout is a terminal and monitoring.live_status).")
@click.pass_context
def run_command(ctx: click.Context, **opts: Any) -> None:
    """Run the market maker (default: on the in-process simulated exchange)."""
    speed = parse_speed(opts["speed"])
    overrides = _overrides(opts)
    if opts.get("seed") is not None:
        overrides["plugins.sim.seed"] = opts["seed"]
    overrides["plugins.sim.speed"] = speed
    if "logging.level" in overrides:
        overrides["logging.level"] = str(overrides["logging.level"]).upper()
    try:
        if opts["duration"] is not None and not opts["duration"] > 0:
            raise ConfigError(f"--duration must be > 0 (got {opts['duration']})")
        registry = get_registry(ctx)
        registry.raise_errors()
        settings = get_settings(ctx, opts["config_path"], overrides)
        if settings.network.name == "mainnet" and not settings.network.confirm_mainnet:
            raise ConfigError(
                "network.name: 'mainnet' trades real money; pass --yes-mainnet or set network.confirm_mainnet = true"
            )
        validate_components(settings, registry)
        if settings.network.name != "sim":
            settings = resolve_private_key(settings, registry)
        options = RunOptions(
            duration_s=opts["duration"],
            flatten_on_kill=settings.risk.flatten_on_kill,
            kill_marker=Path(settings.risk.kill_marker),
        )
        # Observability wiring: metrics endpoint, journal (+ recovery), alerts, live status.
        observation = build_observation(
            settings, registry, seed=opts.get("seed"),
            journal_file=Path(opts["journal_path"]) if opts.get("journal_path") else None,
            journal=False if opts["no_journal"] else None, live_status=opts["live_status"],
        )
        try:
            outcome = eventloop.run(
                run_session(settings, registry, options, seed=opts.get("seed"), reset_kill=opts["reset_kill"],
                            observers=observation.observers, on_connected=observation.on_connected),
                settings.network.event_loop,
            )
        finally:
            observation.close()
    except MmtoolError as exc:
        raise click.ClickException(str(exc)) from exc
    if opts.get("summary_json"):
        Path(opts["summary_json"]).write_text(json.dumps(outcome.summary, indent=2, sort_keys=False) + "\n")
    if outcome.summary["kill_switch_events"]:
        ctx.exit(EXIT_KILLED)
    left = outcome.summary["open_orders_at_exit"]
    if left < 0:
        raise click.ClickException("could not confirm that no order is left open at exit: the exchange did not "
                                   "answer; check it by hand")
    if left:
        raise click.ClickException(f"{left} orders left open at exit")
