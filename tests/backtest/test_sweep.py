"""Parameter sweeps: grid parsing and key resolution, the local process pool and a local Dask cluster give the
same results as running the points here, and the command writes its table and heat map."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner

from mmtool.backtest.spec import BacktestSpec
from mmtool.backtest.sweep import make_tasks, parse_grid, resolve_key, run_sweep, run_task
from mmtool.cli import main
from mmtool.core.plugins import load_registry

QUIET = {"logging.level": "ERROR"}


@pytest.fixture(scope="module")
def registry():
    return load_registry()


def test_grid_axes_parse_as_toml_scalars_in_order():
    grid = parse_grid(["risk_aversion=0.1,0.5,1 num_levels=3,5", "geometric_spacing=true,false"])
    assert grid == {"risk_aversion": [0.1, 0.5, 1], "num_levels": [3, 5], "geometric_spacing": [True, False]}
    for bad in (["risk_aversion"], ["=1,2"], ["a=1", "a=2"], []):
        with pytest.raises(ValueError):
            parse_grid(bad)


def test_bare_keys_resolve_in_section_order_and_dotted_keys_stay(registry):
    assert resolve_key("risk_aversion", "glft-ladder", registry) == "trading.risk_aversion"
    assert resolve_key("min_trades", "glft-ladder", registry) == "strategy.min_trades"
    assert resolve_key("num_levels", "glft-ladder", registry) == "strategy.ladder.num_levels"
    assert resolve_key("plugins.sim.order_latency_ms", "glft-ladder", registry) == "plugins.sim.order_latency_ms"
    strategy_fields = [f.name for f in registry.get("strategy", "glft-ladder").Config.__attrs_attrs__]
    own = next(name for name in strategy_fields if name not in {"risk_aversion", "num_levels"})
    assert resolve_key(own, "glft-ladder", registry) == f"plugins.glft-ladder.{own}"
    with pytest.raises(ValueError, match="no field of trading, strategy, strategy.ladder, plugins.glft-ladder"):
        resolve_key("no_such_knob", "glft-ladder", registry)


def test_process_pool_and_dask_cluster_reproduce_the_in_process_results(registry):
    spec = BacktestSpec(seed=2, duration_s=20.0)
    tasks = make_tasks({"risk_aversion": [50, 400]}, spec, registry, strategy="glft-ladder", base_overrides=QUIET)
    assert [t.overrides["trading.risk_aversion"] for t in tasks] == [50, 400]
    here = [run_task(task) for task in tasks]
    pool = run_sweep(tasks, executor="local", workers=2)
    dask = run_sweep(tasks, executor="dask", workers=2, dask_processes=False)
    assert pool == here
    assert dask == here
    assert [r["point"] for r in here] == [{"risk_aversion": 50}, {"risk_aversion": 400}]
    assert here[0]["summary"] != here[1]["summary"]


def test_sweep_command_writes_the_table_the_heat_map_and_each_summary(tmp_path):
    out = tmp_path / "sweep"
    result = CliRunner().invoke(main, [
        "sweep", "--strategy", "glft-ladder", "--grid", "risk_aversion=50,400", "num_levels=2,4",
        "--synthetic", "--seed", "1", "--duration", "15", "--workers", "1", "--out", str(out),
    ], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    with (out / "sweep.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [(r["risk_aversion"], r["num_levels"]) for r in rows] == [("50", "2"), ("50", "4"), ("400", "2"),
                                                                      ("400", "4")]
    assert {"total_pnl", "sharpe", "fills", "markout_5s_bps"} <= set(rows[0])
    assert (out / "sweep_total_pnl.png").read_bytes().startswith(b"\x89PNG")
    first = json.loads((out / "runs" / "0000.json").read_text())
    assert first["point"] == {"risk_aversion": 50, "num_levels": 2}
    assert float(rows[0]["total_pnl"]) == first["total_pnl"]
    assert "sweep results" in result.output


def test_scheduler_needs_the_dask_executor(registry):
    tasks = make_tasks({"risk_aversion": [1]}, BacktestSpec(seed=1, duration_s=1.0), registry, strategy="glft-ladder")
    with pytest.raises(Exception, match="--executor dask"):
        run_sweep(tasks, executor="local", scheduler="tcp://127.0.0.1:8786")
