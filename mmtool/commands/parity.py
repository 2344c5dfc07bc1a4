"""``mmtool parity``: replay a journaled live or paper session through the backtester and compare them side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from mmtool.cli import get_registry, get_settings
from mmtool.commands.backtest import settings_overrides
from mmtool.core.config_loader import validate_components

#: Rows of the side-by-side table, in order, with their labels.
TABLE_ROWS = (
    ("fills", "fills"), ("fills_buy", "  buys"), ("fills_sell", "  sells"), ("fills_maker", "  maker"),
    ("fills_taker", "  taker"), ("volume", "volume (USD)"), ("volume_buy", "  bought"), ("volume_sell", "  sold"),
    ("position", "final position"), ("realized_pnl", "realized PnL"), ("unrealized_pnl", "unrealized PnL"),
    ("fees", "fees"), ("funding", "funding"), ("total_pnl", "total PnL"), ("spread_capture", "  spread capture"),
    ("adverse_selection", "  adverse selection"), ("inventory_pnl", "  inventory"),
    ("markout_1s_bps", "markout 1 s (bps)"), ("markout_5s_bps", "markout 5 s (bps)"),
    ("markout_30s_bps", "markout 30 s (bps)"), ("maker_fee_bps", "maker fee (bps)"),
    ("taker_fee_bps", "taker fee (bps)"),
    ("orders_placed", "orders placed"), ("orders_modified", "orders modified"),
    ("orders_cancelled", "orders cancelled"), ("orders_rejected", "orders rejected"),
    ("ack_delay_ms", "ack delay median (ms)"),
)


@click.command("parity")
@click.option("--journal", "journal", required=True, type=click.Path(),
              help="The session's journal: a .sqlite file or a run directory holding one.")
@click.option("--data", required=True, type=click.Path(file_okay=False),
              help="The market recorded during the session (mmtool record).")
@click.option("--session", type=int, help="Session id in the journal (default: the latest).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False),
              help="Config for [plugins.sim] (fees) and, for journals without stored settings, everything else.")
@click.option("--latency-ms", type=float,
              help="Order latency of the replay, ms (default: the journal's median time from a place to its ack).")
@click.option("--md-latency-ms", type=float,
              help="Extra market-data latency of the replay, ms (default: [plugins.sim] market_data_latency_ms).")
@click.option("--sz-decimals", type=int, help="szDecimals of the asset (default: inferred from the recording).")
@click.option("--match-window", type=float, default=1.0, show_default=True,
              help="Largest time difference of two fills taken for the same one, seconds.")
@click.option("--match-bps", type=float, default=5.0, show_default=True,
              help="Largest price difference of two fills taken for the same one, bps.")
@click.option("--keep-own-orders", is_flag=True,
              help="Leave our live orders in the recorded books (by default they are taken out).")
@click.option("--own-trades", type=click.Choice(["auto", "keep", "drop"]), default="auto", show_default=True,
              help="Our live fills on the recorded tape: auto drops them on the local exchange only.")
@click.option("--top", type=click.IntRange(min=1), default=5, show_default=True, help="Divergences to list.")
@click.option("--out", type=click.Path(file_okay=False), default="parity-out", show_default=True,
              help="Folder for parity.json.")
@click.pass_context
def parity_command(ctx: click.Context, **opts: Any) -> None:
    """Replay a journaled live or paper session through the backtester and compare fills, PnL and markouts."""
    from mmtool.backtest.parity import (
        ParityOptions,
        find_journal,
        load_session,
        parity_text,
        replay_settings,
        run_parity,
    )

    if not Path(opts["data"]).is_dir():
        raise click.UsageError(f"--data {opts['data']}: not a directory")
    for name in ("match_window", "match_bps"):
        if not opts[name] > 0:
            raise click.UsageError(f"--{name.replace('_', '-')} must be > 0 (got {opts[name]})")
    session = load_session(find_journal(opts["journal"]), opts["session"])
    registry = get_registry(ctx)
    registry.raise_errors()
    overrides = settings_overrides(ctx, session.strategy, session.asset)
    settings, source = replay_settings(get_settings(ctx, opts["config_path"], overrides), session)
    validate_components(settings, registry)
    options = ParityOptions(
        latency_ms=opts["latency_ms"], md_latency_ms=opts["md_latency_ms"], sz_decimals=opts["sz_decimals"],
        match_window_s=opts["match_window"], match_bps=opts["match_bps"],
        remove_own_orders=not opts["keep_own_orders"], own_trades=opts["own_trades"], top=opts["top"],
    )
    result = run_parity(session, opts["data"], settings, registry, options, settings_source=source)
    out = Path(opts["out"])
    out.mkdir(parents=True, exist_ok=True)
    (out / "parity.json").write_text(parity_text(result), encoding="utf-8")
    _render(result)
    click.echo(f"wrote {out / 'parity.json'}")


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.4f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _render(result: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(width=max(Console().width, 100))
    s, r = result["session"], result["replay"]
    console.print(f"Session {s['id']} ({s['strategy']} on {s['asset']}, {s['network']}, {s['duration_s']} s) against "
                  f"its replay: {r['market_events']} recorded events, order latency {r['order_latency_ms']} ms "
                  f"({r['latency_source']}), settings from the {s['settings_source']}")
    table = Table(title="live vs backtest")
    for name, justify in (("metric", "left"), ("live", "right"), ("backtest", "right"), ("difference", "right")):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for key, label in TABLE_ROWS:
        table.add_row(label, _cell(result["live"][key]), _cell(result["backtest"][key]),
                      _cell(result["difference"][key]))
    console.print(table)
    m = result["matching"]
    console.print(f"Fills matched: {m['matched']}, live only {m['live_only']}, backtest only {m['backtest_only']}; "
                  f"median time shift {_cell(m['median_shift_ms'])} ms, mean price difference "
                  f"{_cell(m['mean_price_diff_bps'])} bps")
    if result["divergences"]:
        top = Table(title="largest divergences")
        for name in ("metric", "live", "backtest", "cause", "evidence"):
            top.add_column(name, overflow="fold")
        for row in result["divergences"]:
            top.add_row(row["metric"], _cell(row["live"]), _cell(row["backtest"]), row["cause"], row["evidence"])
        console.print(top)
    for warning in result["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {warning}")
