"""``mmtool record``: record an asset's market data from Hyperliquid's WebSocket for backtests."""

from __future__ import annotations

import asyncio
from typing import Any

import click


@click.command("record")
@click.option("--asset", required=True, help="Asset to record, e.g. ETH.")
@click.option("--network", type=click.Choice(["mainnet", "testnet", "localhost"]), default="mainnet",
              show_default=True, help="Where to record from.")
@click.option("--base-url", help="Another API address (http(s)://host[:port] or ws(s)://host[:port]/ws).")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Folder for the recording files.")
@click.option("--duration", type=float, help="Stop after this many seconds (default: until Ctrl+C).")
def record_command(**opts: Any) -> None:
    """Record l2Book, trades, allMids and activeAssetCtx to hourly gzip files (replay them with backtest --data)."""
    from mmtool.backtest.recorder import Recorder, ws_url

    try:
        url = ws_url(opts["network"], opts["base_url"])
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    if opts["duration"] is not None and not opts["duration"] > 0:
        raise click.UsageError(f"--duration must be > 0 (got {opts['duration']})")
    recorder = Recorder(url, opts["asset"], opts["out"])
    click.echo(f"recording {opts['asset']} from {url} into {opts['out']} (Ctrl+C stops)", err=True)
    try:
        stats = asyncio.run(recorder.run(opts["duration"]))
    except KeyboardInterrupt:
        stats = recorder.stats
        stats.files = list(recorder.writer.files)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    counts = ", ".join(f"{channel} {n}" for channel, n in sorted(stats.messages.items())) or "no messages"
    click.echo(f"recorded {counts} over {stats.connections} connection(s) into {len(stats.files)} file(s)")
