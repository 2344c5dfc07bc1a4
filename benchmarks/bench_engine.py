"""Events per second through the whole loop, and per-event decision latency.

Runs `mmtool run`'s session on the simulated exchange at `--speed max` with the default configuration (GLFT
ladder, the default estimators and risk monitors) and prints:

- events/s through the whole loop (simulated market + matching + engine + runner), wall time;
- the engine's decision latency per event (event in -> actions out), p50 / p99 / max in microseconds;
- what the configured estimator set costs per event (on_event + values(), each estimator and in total), on
  the same simulated stream the engine sees;
- kill-switch latency: from the event that breaches a limit (market data stale past its limit) to the cancel
  actions leaving the engine, over fresh sessions warmed up on the simulator.

Usage: .venv/bin/python benchmarks/bench_engine.py [--duration SIM_SECONDS] [--seed N] [--strategy NAME]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import math
import time

import numpy as np

from mmtool.core.components import ComponentContext
from mmtool.core.config_loader import component_config, load_settings
from mmtool.core.plugins import load_registry
from mmtool.core.runner import RunOptions
from mmtool.core.session import build_adapter, build_engine, run_session
from mmtool.core.types import Cancel, Timer

NS = 1_000_000_000


def estimator_cost(registry, settings, secs: float = 600.0) -> dict[str, float]:
    """Mean µs per event of each configured estimator (on_event + values()) on a simulated session's stream."""
    adapter = build_adapter(settings, registry)
    asyncio.run(adapter.connect())
    asset = settings.trading.asset
    ctx = ComponentContext(asset, adapter.rules(asset), settings)
    engine = build_engine(settings, registry, ctx)
    twins = []
    for name in settings.strategy.estimators:
        cls = registry.get("estimator", name)
        twins.append(cls.from_config(component_config(settings, cls), ctx))
    spent = dict.fromkeys(settings.strategy.estimators, 0)
    start, events = adapter.clock.now_ns(), 0
    while adapter.clock.now_ns() - start < secs * NS:
        event = adapter.next_event()
        actions = engine.handle(event)
        for est in twins:
            t0 = time.perf_counter_ns()
            est.on_event(event, engine.market)
            est.values()
            spent[est.name] += time.perf_counter_ns() - t0
        events += 1
        adapter.submit_now(actions)
    return {name: ns / events / 1e3 for name, ns in spent.items()}


def kill_latency(registry, settings, runs: int, warm_secs: float = 60.0) -> list[float]:
    """Microseconds from the breaching event to the cancels, one figure per fresh warmed-up session."""
    figures = []
    for run in range(runs):
        adapter = build_adapter(settings, registry)
        asyncio.run(adapter.connect())
        asset = settings.trading.asset
        engine = build_engine(settings, registry, ComponentContext(asset, adapter.rules(asset), settings),
                              cloid_seed=run)
        start = adapter.clock.now_ns()
        while adapter.clock.now_ns() - start < warm_secs * NS or not engine.live_orders():
            event = adapter.next_event()
            adapter.submit_now(engine.handle(event))
        # Nothing arrives for longer than the stale-data limit: the next timer breaches it.
        late = adapter.clock.now_ns() + int((settings.risk.stale_data_secs + 1) * NS)
        t0 = time.perf_counter_ns()
        actions = engine.handle(Timer(late, late))
        elapsed = time.perf_counter_ns() - t0
        assert engine.killed and actions and all(isinstance(a, Cancel) for a in actions), actions
        figures.append(elapsed / 1e3)
    return figures


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=1800.0, help="simulated seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--strategy", default="glft-ladder")
    parser.add_argument("--kill-runs", type=int, default=20, help="fresh sessions for the kill-switch latency")
    args = parser.parse_args()
    # Records are still built (the kill switch's ERROR line is part of its latency) but printed nowhere.
    logging.getLogger().addHandler(logging.NullHandler())
    logging.getLogger().setLevel(logging.ERROR)

    registry = load_registry()
    registry.raise_errors()
    settings = load_settings(
        None,
        env={},
        overrides={
            "strategy.strategy_type": args.strategy,
            "plugins.sim.seed": args.seed,
            "plugins.sim.speed": math.inf,
        },
    )
    options = RunOptions(duration_s=args.duration, status_interval_s=1e9)
    t0 = time.perf_counter()
    outcome = asyncio.run(run_session(settings, registry, options, seed=args.seed))
    wall = time.perf_counter() - t0
    events = outcome.summary["events_processed"]
    lat = np.array(outcome.result.latencies_ns, dtype=float) / 1e3
    print(f"strategy={args.strategy} seed={args.seed} simulated_seconds={args.duration:.0f}")
    print(f"estimators={','.join(settings.strategy.estimators)}")
    print(f"monitors={','.join(settings.risk.monitors)}")
    print(f"events={events} wall_s={wall:.2f} events_per_s={events / wall:,.0f}")
    print(f"speedup_vs_real_time={args.duration / wall:,.0f}x")
    print(
        f"decision_latency_us p50={np.percentile(lat, 50):.1f} p99={np.percentile(lat, 99):.1f} "
        f"max={lat.max():.1f} mean={lat.mean():.1f}"
    )
    print(
        f"fills={outcome.summary['fills']} orders_placed={outcome.summary['orders_placed']} "
        f"orders_modified={outcome.summary['orders_modified']} orders_cancelled={outcome.summary['orders_cancelled']}"
    )
    costs = estimator_cost(registry, settings)
    detail = " ".join(f"{name}={us:.1f}" for name, us in costs.items())
    print(f"estimator_set_us_per_event total={sum(costs.values()):.1f} {detail}")
    kills = np.array(kill_latency(registry, settings, args.kill_runs))
    print(
        f"kill_switch_latency_us (breaching event -> cancels out, {len(kills)} sessions) "
        f"p50={np.percentile(kills, 50):.1f} max={kills.max():.1f}"
    )


if __name__ == "__main__":
    main()
