"""Parameter sweeps: a grid of config overrides, one backtest per point, run in parallel processes or on Dask.

Grid keys: a dotted key (``trading.risk_aversion``, ``plugins.sim.order_latency_ms``) is used as is. A bare
name is looked up, in this order, among the fields of ``[trading]``, ``[strategy]``, ``[strategy.ladder]`` and
the selected strategy's ``[plugins.<strategy>]`` table; the first section that has it wins. Values are read as
TOML scalars (``0.5``, ``3``, ``true``), anything else as text.

Each point is a picklable :class:`SweepTask`; :func:`run_task` rebuilds the plugin registry and the settings in
the worker, so tasks run the same in a spawned process, a Dask worker or in this process.
"""

from __future__ import annotations

import csv
import itertools
import logging
import multiprocessing
import tomllib
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import attrs

from mmtool.backtest.spec import BacktestSpec, execute, summary_text
from mmtool.core.config import LadderConfig, StrategyConfig, TradingConfig
from mmtool.core.errors import ConfigError, UnknownComponentError

if TYPE_CHECKING:
    from mmtool.core.plugins import Registry

log = logging.getLogger("mmtool.sweep")

#: Summary figures copied into the results table, in column order.
RESULT_COLUMNS = (
    "total_pnl",
    "sharpe",
    "max_drawdown",
    "fills",
    "fill_ratio",
    "volume",
    "fees",
    "markout_5s_bps",
    "mean_abs_inventory",
    "time_at_limit",
    "kill_switch_events",
)
Executor = Literal["local", "dask"]


def parse_value(text: str) -> Any:
    """A grid value as a TOML scalar (number, boolean), else the text itself."""
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text.strip()


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """``["risk_aversion=0.1,0.5", "num_levels=3,5"]`` (items may also be space-separated) to an ordered grid."""
    grid: dict[str, list[Any]] = {}
    for item in (part for text in items for part in text.split()):
        key, sep, values = item.partition("=")
        key = key.strip()
        if not sep or not key or not values.strip():
            raise ValueError(f"grid axis {item!r}: write KEY=V1,V2,...")
        if key in grid:
            raise ValueError(f"grid axis {key!r} given twice")
        grid[key] = [parse_value(v) for v in values.split(",") if v.strip()]
    if not grid:
        raise ValueError("the grid is empty: give at least one KEY=V1,V2,... axis")
    return grid


def _field_names(cls: type) -> set[str]:
    return {field.name for field in attrs.fields(cls)}


def resolve_key(key: str, strategy: str, registry: Registry) -> str:
    """The config path of a grid key (see the module docstring for the rule)."""
    if "." in key:
        return key
    sections: list[tuple[str, set[str]]] = [
        ("trading", _field_names(TradingConfig)),
        ("strategy", _field_names(StrategyConfig) - {"ladder"}),
        ("strategy.ladder", _field_names(LadderConfig)),
    ]
    try:
        strategy_cls = registry.get("strategy", strategy)
        sections.append((f"plugins.{strategy}", _field_names(strategy_cls.Config)))
    except UnknownComponentError:
        pass  # an unknown strategy is reported when the settings are validated
    for prefix, names in sections:
        if key in names:
            return f"{prefix}.{key}"
    where = ", ".join(prefix for prefix, _ in sections)
    raise ValueError(f"grid key {key!r} is no field of {where}; use a dotted key such as plugins.<name>.{key}")


@attrs.frozen
class SweepTask:
    """One grid point: the overrides it applies and the backtest to run (picklable)."""

    index: int
    point: dict[str, Any]
    overrides: dict[str, Any]
    spec: BacktestSpec
    config_path: str | None = None
    disabled_plugins: tuple[str, ...] = ()


def make_tasks(
    grid: dict[str, list[Any]],
    spec: BacktestSpec,
    registry: Registry,
    *,
    strategy: str,
    base_overrides: dict[str, Any] | None = None,
    config_path: str | None = None,
    disabled_plugins: Sequence[str] = (),
) -> list[SweepTask]:
    """One task per point of the grid's cartesian product (the first axis varies slowest)."""
    paths = {key: resolve_key(key, strategy, registry) for key in grid}
    tasks = []
    for index, values in enumerate(itertools.product(*grid.values())):
        point = dict(zip(grid, values, strict=True))
        overrides = dict(base_overrides or {})
        overrides.update({paths[key]: value for key, value in point.items()})
        tasks.append(SweepTask(index, point, overrides, spec, config_path, tuple(disabled_plugins)))
    return tasks


def run_task(task: SweepTask) -> dict[str, Any]:
    """Run one grid point; return its full summary plus ``point`` (the grid values) and ``index``."""
    from mmtool.core.config_loader import load_settings, validate_components
    from mmtool.core.logsetup import setup_logging
    from mmtool.core.plugins import load_registry

    registry = load_registry(disabled=task.disabled_plugins)
    registry.raise_errors()
    settings = load_settings(task.config_path, overrides=task.overrides)
    if multiprocessing.parent_process() is not None:
        # A spawned worker starts with bare logging: give it the run's level and format.
        setup_logging(settings.logging.level, settings.logging.format, settings.logging.file)
    validate_components(settings, registry)
    result = execute(task.spec, settings, registry)
    return {"index": task.index, "point": task.point, "summary": result.summary}


def run_local(tasks: Sequence[SweepTask], workers: int) -> list[dict[str, Any]]:
    """Run the tasks in ``workers`` spawned processes (in this process when ``workers`` is 1)."""
    if workers <= 1:
        return [run_task(task) for task in tasks]
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        return list(pool.map(run_task, tasks))


def run_dask(tasks: Sequence[SweepTask], workers: int, scheduler: str | None = None,
             processes: bool = True) -> list[dict[str, Any]]:
    """Run the tasks on a Dask cluster: the scheduler at ``scheduler``, else a LocalCluster of ``workers``."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError as exc:
        raise ConfigError("the dask executor needs dask.distributed: pip install 'mmtool[dask]'") from exc
    if scheduler:
        with Client(scheduler) as client:
            return _gather(client, tasks)
    with LocalCluster(n_workers=max(workers, 1), threads_per_worker=1, processes=processes,
                      dashboard_address=None) as cluster, Client(cluster) as client:
        return _gather(client, tasks)


def _gather(client: Any, tasks: Sequence[SweepTask]) -> list[dict[str, Any]]:
    futures = client.map(run_task, list(tasks), pure=False)
    return client.gather(futures)


def run_sweep(tasks: Sequence[SweepTask], *, executor: Executor = "local", workers: int = 1,
              scheduler: str | None = None, dask_processes: bool = True) -> list[dict[str, Any]]:
    """Run every task on the chosen executor; results come back in task order."""
    if executor == "dask":
        results = run_dask(tasks, workers, scheduler, dask_processes)
    elif scheduler:
        raise ConfigError("--scheduler needs --executor dask")
    else:
        results = run_local(tasks, workers)
    return sorted(results, key=lambda r: r["index"])


def result_row(result: dict[str, Any]) -> dict[str, Any]:
    """One row of the results table: the grid values, then the figures of :data:`RESULT_COLUMNS`."""
    s = result["summary"]
    figures = {
        "total_pnl": s["total_pnl"],
        "sharpe": s["sharpe"],
        "max_drawdown": s["max_drawdown"],
        "fills": s["fills"],
        "fill_ratio": s["fill_ratio"],
        "volume": s["volume"],
        "fees": s["fees"],
        "markout_5s_bps": s["markouts"].get("5s", {}).get("mean_bps"),
        "mean_abs_inventory": s["inventory"]["mean_abs"],
        "time_at_limit": s["inventory"]["time_at_limit"],
        "kill_switch_events": s["kill_switch_events"],
    }
    return {**result["point"], **figures}


def write_csv(rows: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write the results table as CSV (empty cells for missing figures)."""
    target = Path(path)
    with target.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in rows)
    return target


def write_summaries(results: Sequence[dict[str, Any]], folder: str | Path) -> None:
    """Keep each point's full summary as ``runs/<index>.json``."""
    runs = Path(folder) / "runs"
    runs.mkdir(parents=True, exist_ok=True)
    for result in results:
        (runs / f"{result['index']:04d}.json").write_text(summary_text({"point": result["point"],
                                                                       **result["summary"]}))


def heatmap(rows: Sequence[dict[str, Any]], axes: Sequence[str], metric: str, path: str | Path) -> Path:
    """A heat map of ``metric`` over the first two grid axes (one row for a single axis); points that differ
    only in further axes are averaged."""
    import math

    from mmtool.backtest.report import plt

    x_key = axes[0]
    y_key = axes[1] if len(axes) > 1 else None
    xs = list(dict.fromkeys(row[x_key] for row in rows))
    ys = list(dict.fromkeys(row[y_key] for row in rows)) if y_key else [None]
    cells: dict[tuple[Any, Any], list[float]] = {}
    for row in rows:
        value = row.get(metric)
        if value is not None and math.isfinite(value):
            cells.setdefault((row[x_key], row[y_key] if y_key else None), []).append(float(value))
    grid = [[sum(cells[(x, y)]) / len(cells[(x, y)]) if (x, y) in cells else math.nan for x in xs] for y in ys]
    fig, ax = plt.subplots(figsize=(1.6 + 1.1 * len(xs), 1.4 + 0.8 * len(ys)))
    image = ax.imshow(grid, cmap="RdYlGn", origin="lower", aspect="auto")
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_yticks(range(len(ys)), [str(y) for y in ys] if y_key else [""])
    ax.set_xlabel(x_key)
    if y_key:
        ax.set_ylabel(y_key)
    for j, line in enumerate(grid):
        for i, value in enumerate(line):
            if math.isfinite(value):
                ax.text(i, j, f"{value:.3g}", ha="center", va="center", fontsize=8)
    fig.colorbar(image, ax=ax, label=metric)
    ax.set_title(f"{metric} over the grid")
    target = Path(path)
    fig.savefig(target, dpi=90, bbox_inches="tight")
    plt.close(fig)
    return target
