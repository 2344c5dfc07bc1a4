"""The run summary: one JSON object with stable snake_case keys (documented in ``docs/summary.md``).

Everything in it is derived from the engine's deterministic state and the exchange's word at exit, so two
runs of the simulator with the same seed give identical summaries. Wall-clock latencies are deliberately not
part of it (see ``benchmarks/``).
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
    }
    assert tuple(summary) == SUMMARY_KEYS
    return summary
