"""Throughput and peak memory of the backtester with the full default plugin set, on the synthetic market.

Run: ``.venv/bin/python benchmarks/bench_backtest.py [--events N] [--seed S]`` (default: a million events).

The default config is used as is: the ``glft-ladder`` strategy, the default estimators and risk monitors, the
simulated exchange's default latencies. The run stops after N engine events; when a kill switch ends a run
first (a synthetic liquidation cascade can trip it), the next seed carries on. The synthetic market alone produces
about 15.6 market events per simulated second (book refreshes, trade prints, mids) plus a timer per second;
quoting adds our acknowledgements and fills, so the engine sees more, about 18 to 27 events per simulated second
depending on how often the strategy requotes. A million events is therefore roughly 10 to 17 simulated hours;
the figures printed give the exact simulated time. Peak memory is the process's maximum resident set
(``resource.getrusage``), so it includes the interpreter and the libraries.
"""

from __future__ import annotations

import argparse
import logging
import resource
import sys
import time

from mmtool.backtest.loop import BacktestOptions, run_backtest
from mmtool.backtest.spec import BacktestSpec, build_exchange
from mmtool.core.config_loader import load_settings
from mmtool.core.plugins import load_registry

DEFAULT_EVENTS = 1_000_000


def _rss_mib() -> float:
    """Peak resident set size of this process so far, MiB (Linux reports KiB, macOS bytes)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=DEFAULT_EVENTS, help="engine events to process")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic market")
    args = parser.parse_args(argv)
    logging.disable(logging.CRITICAL)  # per-fill and risk lines would time the terminal, not the backtester
    settings = load_settings(None, env={})
    registry = load_registry()
    rss_before = _rss_mib()
    events = simulated = fills = 0
    segments: list[str] = []
    seed = args.seed
    started = time.perf_counter()
    # A kill switch (a synthetic liquidation cascade, say) ends a backtest as it ends a live run: go on with the
    # next seed until the budget is spent, so the figure covers the full plugin set over N events.
    while events < args.events:
        spec = BacktestSpec(seed=seed, max_events=args.events - events)
        result = run_backtest(settings, registry, build_exchange(spec, settings),
                              BacktestOptions(max_events=spec.max_events, seed=seed))
        s = result.summary
        events += s["events_processed"]
        simulated += s["duration"]
        fills += s["fills"]
        segments.append(f"seed {seed}: {s['events_processed']:,} events, {s['stop_reason']}")
        seed += 1
    wall = time.perf_counter() - started
    print(f"events              {events:,} ({len(segments)} run(s): {'; '.join(segments)})")
    print(f"simulated time      {simulated:,.0f} s ({simulated / 3600:.2f} h, {events / simulated:.1f} events/s)")
    print(f"wall time           {wall:,.1f} s ({simulated / wall:,.0f}x real time)")
    print(f"throughput          {events / wall:,.0f} events/s ({wall / events * 1e6:,.0f} us/event)")
    print(f"peak RSS            {_rss_mib():,.0f} MiB (before the runs: {rss_before:,.0f} MiB)")
    print(f"strategy            {settings.strategy.strategy_type}, {fills:,} fills")

if __name__ == "__main__":
    main()
