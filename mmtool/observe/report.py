"""The session report, computed from the journal alone: PnL split, volume, fills by side and depth,
markouts, orders and kill events.

PnL figures replay the journaled fills through the core :class:`~mmtool.core.portfolio.Portfolio` from the
session's starting position, marked at the last recorded mid, and through :func:`attribute` for the split;
for a session that stopped cleanly they equal its run summary.
"""

from __future__ import annotations

import json
import sqlite3
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

from mmtool.core.portfolio import Portfolio
from mmtool.core.types import Fill, Funding, Liquidity, Side
from mmtool.observe.journal import JournalError, connect
from mmtool.observe.pnl_attribution import AttributedFill, attribute

NS = 1_000_000_000
#: Edges of the fill-depth buckets, bps from the mid at the fill (as the markouts estimator's default).
DEPTH_EDGES_BPS = (2.0, 5.0, 10.0, 25.0)


def _bucket(depth_bps: float) -> str:
    lower = 0.0
    for edge in DEPTH_EDGES_BPS:
        if depth_bps < edge:
            return f"{lower:g}-{edge:g}bps"
        lower = edge
    return f">{lower:g}bps"


def list_sessions(path: Path) -> list[dict[str, Any]]:
    """Every session in the journal: id, network, asset, start, end, stop reason, fills."""
    conn = connect(path, readonly=True)
    try:
        rows = conn.execute(
            "SELECT s.id, s.network, s.asset, s.strategy, s.started_ns, s.ended_ns, s.stop_reason, s.clean,"
            " (SELECT COUNT(*) FROM fills f WHERE f.session_id = s.id) AS fills FROM sessions s ORDER BY s.id"
        ).fetchall()
        return [dict(r) for r in rows]
    finally:
        conn.close()


def build_report(path: Path, session: int | None = None) -> dict[str, Any]:
    """The report of one session (default: the latest) of the journal at ``path``."""
    conn = connect(path, readonly=True)
    try:
        return _report(conn, session)
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"cannot read the journal {path}: {exc}") from exc
    finally:
        conn.close()


def _report(conn: sqlite3.Connection, session: int | None) -> dict[str, Any]:
    if session is None:
        row = conn.execute("SELECT * FROM sessions ORDER BY id DESC LIMIT 1").fetchone()
    else:
        row = conn.execute("SELECT * FROM sessions WHERE id = ?", (session,)).fetchone()
    if row is None:
        raise JournalError("the journal has no sessions" if session is None else f"no session {session} in journal")
    sid = row["id"]
    asset = row["asset"]
    start_pos, start_entry = Decimal(row["start_position"]), Decimal(row["start_entry"])
    portfolio = Portfolio(asset)
    if start_pos:
        portfolio.reset_position(start_pos, start_entry)
    fills = conn.execute("SELECT * FROM fills WHERE session_id = ? ORDER BY ts_local_ns, rowid", (sid,)).fetchall()
    records, sides, depth, liquidity = [], Counter(), Counter(), Counter()
    markouts: dict[str, list[float]] = {"buy": [], "sell": []}
    for f in fills:
        side = Side.BUY if f["side"] == "buy" else Side.SELL
        price, size = Decimal(f["price"]), Decimal(f["size"])
        portfolio.on_fill(Fill(asset, f["cloid"], f["oid"], f["trade_id"], side, price, size, Decimal(f["fee"]),
                               Liquidity(f["liquidity"]), f["ts_exchange_ns"], f["ts_local_ns"]))
        mid = Decimal(f["mid"]) if f["mid"] is not None else price
        mid_h = Decimal(f["mid_h"]) if f["mid_h"] is not None else None
        records.append(AttributedFill(side.sign, size, price, mid, mid_h))
        sides[f["side"]] += 1
        liquidity[f["liquidity"]] += 1
        depth[_bucket(float(abs(price - mid) / mid) * 1e4 if mid else 0.0)] += 1
        if mid_h is not None:
            markouts[f["side"]].append(side.sign * float((mid_h - price) / price) * 1e4)
    for r in conn.execute("SELECT * FROM funding WHERE session_id = ? ORDER BY ts_ns", (sid,)):
        portfolio.on_funding(Funding(asset, Decimal(r["rate"]), Decimal(r["payment"]), r["ts_ns"], r["ts_ns"]))
    mark = Decimal(row["last_mid"]) if row["last_mid"] is not None else None
    if mark is not None:
        portfolio.mark(mark)
    split = attribute(records, mark, portfolio.fees, portfolio.funding, start_pos, start_entry)
    actions = dict(conn.execute("SELECT kind, COUNT(*) FROM actions WHERE session_id = ? GROUP BY kind", (sid,)))
    updates = dict(conn.execute("SELECT status, COUNT(*) FROM order_updates WHERE session_id = ?"
                                " AND reason NOT LIKE 'modify:%' GROUP BY status",
                                (sid,)))
    kills = [
        {"ts_ns": k["ts_ns"], "monitor": k["monitor"], "reason": k["reason"], "figures": json.loads(k["figures"])}
        for k in conn.execute("SELECT * FROM kills WHERE session_id = ? ORDER BY ts_ns", (sid,))
    ]
    every = markouts["buy"] + markouts["sell"]
    ended = row["ended_ns"] if row["ended_ns"] is not None else row["last_ts_ns"]
    return {
        "session": sid,
        "network": row["network"],
        "asset": asset,
        "strategy": row["strategy"],
        "seed": row["seed"],
        "duration": round((ended - row["started_ns"]) / NS, 3),
        "stop_reason": row["stop_reason"] or "running or crashed",
        "clean": bool(row["clean"]) if row["clean"] is not None else None,
        "orders_placed": actions.get("place", 0),
        "orders_modified": actions.get("modify", 0),
        "orders_cancelled": actions.get("cancel", 0),
        "orders_rejected": updates.get("rejected", 0),
        "fills": portfolio.fills,
        "recovered_fills": sum(1 for f in fills if f["source"] == "recovered"),
        "fills_by_side": dict(sides),
        "fills_by_liquidity": dict(liquidity),
        "fills_by_depth": {label: depth[label] for label in sorted(depth, key=_depth_key)},
        "volume": round(float(portfolio.volume), 6),
        "position": float(portfolio.position),
        "realized_pnl": round(float(portfolio.realized), 6),
        "unrealized_pnl": round(float(portfolio.unrealized()), 6),
        "fees": round(float(portfolio.fees), 6),
        "funding": round(float(portfolio.funding), 6),
        "total_pnl": round(float(portfolio.total()), 6),
        "pnl_split": {k: round(v, 6) for k, v in split.as_floats().items()},
        "markout_horizon_s": row["adverse_horizon_s"],
        "markouts_bps": {
            "count": len(every),
            "mean": sum(every) / len(every) if every else None,
            "buy": sum(markouts["buy"]) / len(markouts["buy"]) if markouts["buy"] else None,
            "sell": sum(markouts["sell"]) / len(markouts["sell"]) if markouts["sell"] else None,
        },
        "kill_switch_events": len(kills),
        "kills": kills,
    }


def _depth_key(label: str) -> float:
    return float(label.lstrip(">").split("-")[0].removesuffix("bps"))


def render_report(report: dict[str, Any]) -> str:
    """The report as plain text for a terminal."""
    r = report
    lines = [
        f"Session {r['session']}: {r['asset']} on {r['network']}, strategy {r['strategy']}, seed {r['seed']}",
        f"  duration {r['duration']} s, stopped: {r['stop_reason']}",
        f"  orders: {r['orders_placed']} placed, {r['orders_modified']} modified, {r['orders_cancelled']} cancelled,"
        f" {r['orders_rejected']} rejected",
        f"  fills: {r['fills']} ({', '.join(f'{k} {v}' for k, v in r['fills_by_side'].items()) or 'none'}),"
        f" recovered {r['recovered_fills']}, volume {r['volume']:,.2f} USD, position {r['position']:g}",
        "  fills by depth: " + (", ".join(f"{k} {v}" for k, v in r["fills_by_depth"].items()) or "none"),
        "PnL (USD)",
        f"  total {r['total_pnl']:.4f} = realized {r['realized_pnl']:.4f} + unrealized {r['unrealized_pnl']:.4f}"
        f" - fees {r['fees']:.4f} + funding {r['funding']:.4f}",
    ]
    split = r["pnl_split"]
    lines.append(
        f"  split: spread capture {split['spread_capture']:.4f}, adverse selection {split['adverse_selection']:.4f},"
        f" inventory {split['inventory']:.4f}, fees {split['fees']:.4f}, funding {split['funding']:.4f}"
    )
    m = r["markouts_bps"]

    def bps(value: float | None) -> str:
        return "-" if value is None else f"{value:.2f}"

    lines.append(f"Markouts at {r['markout_horizon_s']:g} s (bps, + = in our favour): mean {bps(m['mean'])},"
                 f" buys {bps(m['buy'])}, sells {bps(m['sell'])} over {m['count']} fills")
    lines.append(f"Kill switch events: {r['kill_switch_events']}")
    lines += [f"  {k['monitor']}: {k['reason']}" for k in r["kills"]]
    return "\n".join(lines)
