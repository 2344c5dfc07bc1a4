"""``mmtool sweep``: backtests over a grid of parameters, in parallel processes or on a Dask cluster."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click

from mmtool.cli import get_registry, get_settings
from mmtool.commands.backtest import data_asset, market_options, settings_overrides, spec_from_options
from mmtool.core.config_loader import validate_components
from mmtool.core.errors import ConfigError


@click.command("sweep")
@market_options
@click.option("--grid", "grid_items", multiple=True, metavar="KEY=V1,V2,...",
              help="A grid axis; repeatable, and further KEY=V1,... arguments after it are axes too.")
@click.argument("axes", nargs=-1, metavar="[KEY=V1,V2,...]...")
@click.option("--workers", type=int, help="Parallel workers (default: the number of CPUs).")
@click.option("--executor", type=click.Choice(["local", "dask"]), default="local", show_default=True,
              help="local: processes on this machine; dask: a Dask cluster.")
@click.option("--scheduler", metavar="ADDRESS", help="Dask scheduler address (default: a LocalCluster).")
@click.option("--metric", type=click.Choice(["total_pnl", "sharpe"]), default="total_pnl", show_default=True,
              help="Figure shown in the heat map.")
@click.option("--out", type=click.Path(file_okay=False), default="sweep-out", show_default=True,
              help="Folder for sweep.csv, the heat map and each point's summary.")
@click.pass_context
def sweep_command(ctx: click.Context, grid_items: tuple[str, ...], axes: tuple[str, ...], **opts: Any) -> None:
    """Backtest every point of a parameter grid and tabulate the results.

    Bare keys resolve against [trading], [strategy], [strategy.ladder], then [plugins.<strategy>] (the first that
    has the field); dotted keys are config paths. Example: mmtool sweep --strategy glft-ladder --grid
    risk_aversion=0.1,0.5,1 num_levels=3,5 --synthetic --seed 1 --duration 600
    """
    from mmtool.backtest.sweep import heatmap, make_tasks, parse_grid, result_row, run_sweep, write_csv, write_summaries

    spec = spec_from_options(opts["data"], opts["synthetic"], opts["seed"], opts["duration"], opts["latency_ms"],
                             opts["md_latency_ms"], opts["sz_decimals"], opts["sample_interval"])
    try:
        grid = parse_grid([*grid_items, *axes])
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    registry = get_registry(ctx)
    registry.raise_errors()
    base = settings_overrides(ctx, opts["strategy"], data_asset(opts["data"], opts["asset"]))
    if "logging.level" in base:
        base["logging.level"] = "ERROR"  # many runs at once: only errors are worth a line
    settings = get_settings(ctx, opts["config_path"], base)
    validate_components(settings, registry)
    root = ctx.find_root().params
    try:
        tasks = make_tasks(grid, spec, registry, strategy=settings.strategy.strategy_type, base_overrides=base,
                           config_path=opts["config_path"] or root.get("config"),
                           disabled_plugins=tuple(root.get("disable_plugin") or ()))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    workers = opts["workers"] or os.cpu_count() or 1
    workers = min(workers, len(tasks))
    click.echo(f"{len(tasks)} backtests on the {opts['executor']} executor with {workers} worker(s)", err=True)
    started = time.perf_counter()
    try:
        results = run_sweep(tasks, executor=opts["executor"], workers=workers, scheduler=opts["scheduler"])
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    rows = [result_row(r) for r in results]
    out = Path(opts["out"])
    out.mkdir(parents=True, exist_ok=True)
    csv_path = write_csv(rows, out / "sweep.csv")
    write_summaries(results, out)
    png = heatmap(rows, list(grid), opts["metric"], out / f"sweep_{opts['metric']}.png")
    _print_table(rows)
    click.echo(f"{len(rows)} backtests in {time.perf_counter() - started:.1f} s; wrote {csv_path} and {png}")


def _print_table(rows: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title="sweep results")
    for column in rows[0]:
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(*("" if v is None else f"{v:.6g}" if isinstance(v, float) else str(v) for v in row.values()))
    console = Console()
    if not console.is_terminal:
        console.width = 160  # a file or pipe: do not squeeze the columns into 80
    console.print(table)
