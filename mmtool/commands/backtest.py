"""``mmtool backtest``: replay the live engine against the simulated exchange's matching, synthetic or recorded."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mmtool.cli import get_registry, get_settings
from mmtool.core.config_loader import validate_components
from mmtool.core.errors import ConfigError

if TYPE_CHECKING:
    from mmtool.backtest.spec import BacktestSpec


def settings_overrides(ctx: click.Context, strategy: str | None, asset: str | None) -> dict[str, Any]:
    """Overrides shared by backtest and sweep: strategy, asset, and quiet logging unless asked for."""
    overrides: dict[str, Any] = {}
    if strategy:
        overrides["strategy.strategy_type"] = strategy
    if asset:
        overrides["trading.asset"] = asset
    level = ctx.find_root().params.get("log_level")
    # Per-fill INFO lines would swamp the terminal (and the run time) of a backtest. The level is passed on
    # explicitly so that sweep workers, which load their settings afresh, log at the same level.
    overrides["logging.level"] = str(level).upper() if level else "WARNING"
    return overrides


def spec_from_options(data: str | None, synthetic: bool, seed: int | None, duration: float | None,
                      latency_ms: float | None, md_latency_ms: float | None, sz_decimals: int | None,
                      sample_interval: float) -> BacktestSpec:
    """Check the market-source flags and build the :class:`BacktestSpec`."""
    from mmtool.backtest.exchange import Latency
    from mmtool.backtest.spec import BacktestSpec

    if (data is None) == (not synthetic):
        raise click.UsageError("pass exactly one of --data DIR or --synthetic")
    if synthetic and duration is None:
        raise click.UsageError("--synthetic needs --duration SECONDS")
    if data is not None and not Path(data).is_dir():
        raise click.UsageError(f"--data {data}: not a directory")
    if data is not None and seed is not None:
        raise click.UsageError("--seed applies to --synthetic only")
    try:
        return BacktestSpec(data=data, seed=1 if synthetic and seed is None else seed, duration_s=duration,
                            latency=Latency(latency_ms, md_latency_ms), sz_decimals=sz_decimals,
                            sample_interval_s=sample_interval)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc


def data_asset(data: str | None, asset: str | None) -> str | None:
    """The asset to trade: the flag, else the recording's own asset."""
    if data is None or asset:
        return asset
    from mmtool.backtest.reader import recording_asset

    try:
        return recording_asset(data)
    except FileNotFoundError as exc:
        raise click.UsageError(f"--data {data}: {exc}") from exc


def market_options(func: Any) -> Any:
    """The market-source options of backtest and sweep."""
    options = [
        click.option("--strategy", help="Strategy plugin name, e.g. glft-ladder (default: the config's)."),
        click.option("--data", type=click.Path(file_okay=False), help="Replay the market recorded in DIR."),
        click.option("--synthetic", is_flag=True, help="Use the seeded synthetic market."),
        click.option("--seed", type=int, help="Seed of the synthetic market (default 1)."),
        click.option("--duration", type=float, help="Simulated seconds to trade (required with --synthetic)."),
        click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Config file."),
        click.option("--asset", help="Asset (default: the config's, or the recording's with --data)."),
        click.option("--latency-ms", type=float, help="Order latency, ms (default: [plugins.sim] order_latency_ms)."),
        click.option("--md-latency-ms", type=float,
                     help="Extra market-data latency, ms (default: [plugins.sim] market_data_latency_ms)."),
        click.option("--sz-decimals", type=int, help="szDecimals of a recorded asset (default: inferred)."),
        click.option("--sample-interval", type=float, default=1.0, show_default=True,
                     help="Sampling interval of the time series, simulated seconds."),
    ]
    for option in reversed(options):
        func = option(func)
    return func


@click.command("backtest")
@market_options
@click.option("--out", type=click.Path(file_okay=False), default="backtest-out", show_default=True,
              help="Folder for summary.json and report.html.")
@click.option("--no-report", is_flag=True, help="Write summary.json only.")
@click.pass_context
def backtest_command(ctx: click.Context, **opts: Any) -> None:
    """Backtest a strategy: the live engine against simulated matching, on synthetic or recorded data."""
    from mmtool.backtest.spec import execute, write_outputs

    spec = spec_from_options(opts["data"], opts["synthetic"], opts["seed"], opts["duration"], opts["latency_ms"],
                             opts["md_latency_ms"], opts["sz_decimals"], opts["sample_interval"])
    registry = get_registry(ctx)
    registry.raise_errors()
    overrides = settings_overrides(ctx, opts["strategy"], data_asset(opts["data"], opts["asset"]))
    settings = get_settings(ctx, opts["config_path"], overrides)
    validate_components(settings, registry)
    started = time.perf_counter()
    try:
        with _ProgressBar(spec.duration_s) as on_progress:
            result = execute(spec, settings, registry, on_progress=on_progress)
    except (ValueError, FileNotFoundError) as exc:
        raise ConfigError(str(exc)) from exc
    wall = time.perf_counter() - started
    written = write_outputs(result, opts["out"], report=not opts["no_report"])
    s = result.summary
    click.echo(
        f"{s['strategy']} on {s['data']}: {s['duration']:.0f} s simulated, {s['events_processed']} events in "
        f"{wall:.1f} s ({s['events_processed'] / max(wall, 1e-9):,.0f} events/s); total PnL {s['total_pnl']:.2f} USD, "
        f"{s['fills']} fills, Sharpe {s['sharpe']}, max drawdown {s['max_drawdown']:.2f} USD"
    )
    for path in written:
        click.echo(f"wrote {path}")


class _ProgressBar:
    """A rich progress bar over simulated time on a terminal; nothing otherwise."""

    def __init__(self, total_s: float | None) -> None:
        self.total_s = total_s
        self._bar: Any = None

    def __enter__(self) -> Any:
        if not sys.stderr.isatty():
            return None
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(TextColumn("backtest"), BarColumn(), TextColumn("{task.completed:,.0f} s simulated"),
                             TimeElapsedColumn(), console=Console(stderr=True), transient=True)
        self._bar.start()
        task = self._bar.add_task("backtest", total=self.total_s)
        return lambda simulated_s: self._bar.update(task, completed=simulated_s)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()
