"""The run summary: one JSON object with stable snake_case keys (documented in ``docs/summary.md``).

Everything in it is derived from the engine's deterministic state and the exchange's word at exit, so two
runs of the simulator with the same seed give identical summaries. The wall-clock latencies (decision and order
path) are filled in only for a session on a wall clock (a live exchange); on a simulated clock they are null and
the order-path count 0, so simulator summaries stay reproducible.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mmtool.core.engine import NS

if TYPE_CHECKING:
    from mmtool.core.engine import Engine
    from mmtool.core.runner import RunResult

SUMMARY_KEYS = (
    "strategy",
    "asset",
    "network",
    "seed",
    "duration",
    "events_processed",
    "orders_placed",
    "orders_modified",
    "orders_cancelled",
    "orders_rejected",
    "pretrade_rejects",
    "crossing_held",
    "fills",
    "volume",
    "realized_pnl",
    "unrealized_pnl",
    "total_pnl",
    "fees",
    "funding",
    "position",
    "exchange_position",
    "max_abs_position",
    "position_limit",
    "open_orders_at_exit",
    "kill_switch_events",
    "kill_switch_reasons",
    "stop_reason",
    "bad_events",
    "duplicate_fills",
    "decision_latency_p50_us",
    "decision_latency_p99_us",
    "order_path_count",
    "order_path_p50_us",
    "order_path_p99_us",
    "order_path_max_us",
)


def build_summary(engine: Engine, result: RunResult, *, network: str, seed: int | None) -> dict[str, Any]:
    """Collect the summary of a finished run."""
    portfolio = engine.portfolio
    pnl = portfolio.snapshot(engine.now_ns)
    stats = engine.stats
    kills = engine.risk.kill_events
    summary: dict[str, Any] = {
        "strategy": engine.strategy.name,
        "asset": engine.asset,
        "network": network,
        "seed": seed,
        "duration": round((result.ended_ns - result.started_ns) / NS, 3),
        "events_processed": stats.events,
        "orders_placed": stats.orders_placed,
        "orders_modified": stats.orders_modified,
        "orders_cancelled": stats.orders_cancelled,
        "orders_rejected": stats.orders_rejected,
        "pretrade_rejects": stats.pretrade_rejects,
        "crossing_held": stats.crossing_held,
        "fills": portfolio.fills,
        "volume": round(float(portfolio.volume), 6),
        "realized_pnl": round(pnl.realized, 6),
        "unrealized_pnl": round(pnl.unrealized, 6),
        "total_pnl": round(pnl.total, 6),
        "fees": round(pnl.fees, 6),
        "funding": round(pnl.funding, 6),
        "position": float(portfolio.position),
        "exchange_position": None if result.exchange_position is None else float(result.exchange_position),
        "max_abs_position": float(portfolio.max_abs_position),
        "position_limit": engine.settings.trading.max_absolute_position_size,
        "open_orders_at_exit": result.open_orders_at_exit,
        "kill_switch_events": len(kills),
        "kill_switch_reasons": [f"{k.monitor}: {k.reason}" for k in kills],
        "stop_reason": result.stop_reason,
        "bad_events": stats.bad_events,
        "duplicate_fills": stats.duplicate_fills,
        **latency_summary(result),
    }
    assert tuple(summary) == SUMMARY_KEYS
    return summary


def latency_summary(result: RunResult) -> dict[str, Any]:
    """Decision and order-path percentiles in µs; null (count 0) unless the session ran on a wall clock."""
    decision = sorted(result.latencies_ns) if result.wall_clock else []
    path = sorted(result.order_path_ns) if result.wall_clock else []
    # A long session's figures are a sample (see RunResult); its count and maximum are kept exactly.
    longest = [result.order_path_max_ns] if path and result.order_path_max_ns is not None else path
    return {
        "decision_latency_p50_us": percentile_us(decision, 0.50),
        "decision_latency_p99_us": percentile_us(decision, 0.99),
        "order_path_count": max(result.order_paths_timed, len(path)) if path else 0,
        "order_path_p50_us": percentile_us(path, 0.50),
        "order_path_p99_us": percentile_us(path, 0.99),
        "order_path_max_us": percentile_us(longest, 1.0),
    }


def percentile_us(ordered_ns: list[int], q: float) -> float | None:
    """The ``q`` quantile (0..1, linear interpolation) of ascending ns values, in µs to 0.1; None when empty."""
    if not ordered_ns:
        return None
    pos = q * (len(ordered_ns) - 1)
    lo = int(pos)
    hi = min(lo + 1, len(ordered_ns) - 1)
    value = ordered_ns[lo] + (ordered_ns[hi] - ordered_ns[lo]) * (pos - lo)
    return round(value / 1e3, 1)
