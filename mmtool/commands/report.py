"""``mmtool report``: the report of a journaled session (PnL split, volume, fills, markouts, kill events)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from mmtool.cli import get_settings
from mmtool.observe.journal import journal_path
from mmtool.observe.report import build_report, list_sessions, render_report


@click.command("report")
@click.option("--journal", "journal_file", type=click.Path(dir_okay=False),
              help="Journal file (default: journal.path for the configured network and asset).")
@click.option("--config", "config_path", type=click.Path(dir_okay=False), help="Config file (market_maker.toml).")
@click.option("--session", type=int, help="Session id (default: the latest).")
@click.option("--list", "list_all", is_flag=True, help="List the journal's sessions instead.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_context
def report_command(ctx: click.Context, journal_file: str | None, config_path: str | None, session: int | None,
                   list_all: bool, as_json: bool) -> None:
    """Print the report of a journaled session: PnL split, volume, fills by side and depth, markouts, kills."""
    if journal_file:
        path = Path(journal_file)
    else:
        settings = get_settings(ctx, config_path)
        path = journal_path(settings.journal.path, settings.network.name, settings.trading.asset)
    if list_all:
        sessions = list_sessions(path)
        if as_json:
            click.echo(json.dumps(sessions, indent=2))
            return
        for s in sessions:
            click.echo(f"{s['id']:>4}  {s['network']:<8} {s['asset']:<6} {s['strategy']:<14} fills {s['fills']:<6} "
                       f"{s['stop_reason'] or 'running or crashed'}")
        return
    report = build_report(path, session)
    click.echo(json.dumps(report, indent=2) if as_json else render_report(report))
