"""One backtest as a value: where the market comes from, the seed, duration and latencies; and running it.

Shared by ``mmtool backtest`` and every point of ``mmtool sweep``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from mmtool.backtest.exchange import Latency, sim_config, synthetic_exchange
from mmtool.backtest.loop import BacktestOptions, BacktestResult, ProgressHook, run_backtest
from mmtool.backtest.replay import replay_exchange

if TYPE_CHECKING:
    from mmtool.backtest.exchange import BacktestExchange
    from mmtool.core.config import Settings
    from mmtool.core.plugins import Registry


@attrs.frozen
class BacktestSpec:
    """What to replay: the synthetic market (``data`` None) with ``seed``, or the recording in ``data``."""

    data: str | None = None
    seed: int | None = None
    duration_s: float | None = None
    latency: Latency = Latency()
    sz_decimals: int | None = None
    sample_interval_s: float = 1.0
    max_events: int | None = None

    def __attrs_post_init__(self) -> None:
        if self.data is None and self.duration_s is None and self.max_events is None:
            raise ValueError("a synthetic backtest needs a duration (or an event budget)")
        if self.duration_s is not None and not self.duration_s > 0:
            raise ValueError(f"duration must be > 0 (got {self.duration_s})")

    @property
    def source(self) -> str:
        """``synthetic`` or the recording's directory, as the summary shows it."""
        return "synthetic" if self.data is None else self.data


def build_exchange(spec: BacktestSpec, settings: Settings) -> BacktestExchange:
    """The synchronous exchange for a spec: the seeded synthetic market, or the replayed recording."""
    if spec.data is None:
        return synthetic_exchange(settings, seed=spec.seed, latency=spec.latency)
    config = sim_config(settings, latency=spec.latency)
    return replay_exchange(spec.data, config, settings.trading.asset, leverage=settings.trading.leverage,
                           sz_decimals=spec.sz_decimals)


def execute(spec: BacktestSpec, settings: Settings, registry: Registry, *,
            on_progress: ProgressHook | None = None) -> BacktestResult:
    """Run one backtest and return its result (summary included)."""
    exchange = build_exchange(spec, settings)
    config = sim_config(settings, latency=spec.latency)
    extra: dict[str, Any] = {
        "data": spec.source,
        "order_latency_ms": config.order_latency_ms,
        "market_data_latency_ms": config.market_data_latency_ms,
    }
    options = BacktestOptions(duration_s=spec.duration_s, max_events=spec.max_events, seed=spec.seed,
                              sample_interval_s=spec.sample_interval_s)
    network = "sim" if spec.data is None else "replay"
    return run_backtest(settings, registry, exchange, options, network=network, extra=extra, on_progress=on_progress)


def summary_text(summary: dict[str, Any]) -> str:
    """The summary as written to ``summary.json``: stable key order, two-space indent, trailing newline."""
    return json.dumps(summary, indent=2, allow_nan=False) + "\n"


def write_outputs(result: BacktestResult, out: str | Path, *, report: bool = True) -> list[Path]:
    """Write ``summary.json`` (and ``report.html``) into ``out``; return the paths written."""
    from mmtool.backtest.report import render_report

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = [folder / "summary.json"]
    written[0].write_text(summary_text(result.summary), encoding="utf-8")
    if report:
        page = folder / "report.html"
        title = f"mmtool backtest: {result.summary['strategy']} on {result.summary['asset']} ({result.summary['data']})"
        page.write_text(render_report(result, title), encoding="utf-8")
        written.append(page)
    return written
