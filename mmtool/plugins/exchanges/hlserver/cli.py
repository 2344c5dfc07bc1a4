"""``mmtool exchange``: the local Hyperliquid-compatible exchange's commands (``serve``)."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path

import attrs
import click

from mmtool.core.errors import ConfigError
from mmtool.plugins.exchanges.hlserver.app import LocalExchange
from mmtool.plugins.exchanges.hlserver.config import (
    CHAINS,
    DEFAULT_ASSETS,
    FaultConfig,
    ServerConfig,
    StallWindow,
    load_faults,
    parse_assets,
)


def _stall(text: str) -> StallWindow:
    try:
        at, duration = (float(part) for part in text.split(":"))
        return StallWindow(at, duration)
    except ValueError as exc:
        raise click.BadParameter(f"expected AT:DURATION seconds, e.g. 10:5 (got {text!r}): {exc}") from None


@click.group("exchange")
def exchange() -> None:
    """Run a local exchange that speaks Hyperliquid's API (for rehearsals and end-to-end tests)."""


@exchange.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (loopback by default).")
@click.option("--port", default=3001, show_default=True, type=click.IntRange(0, 65535), help="Port (0: any free).")
@click.option("--seed", default=1, show_default=True, type=int, help="Seed of the synthetic markets.")
@click.option("--assets", default=",".join(a.name for a in DEFAULT_ASSETS), show_default=True,
              help="Listed perps: names (ETH,BTC,SOL,HYPE,DOGE) or NAME:PRICE:SZDECIMALS[:MAXLEV].")
@click.option("--balance", default=100_000.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="USDC credited to an address the first time the exchange sees it.")
@click.option("--chain", default="testnet", show_default=True, type=click.Choice(CHAINS),
              help="Network signatures must be for (the SDK signs localhost requests as testnet).")
@click.option("--log-json", type=click.Path(dir_okay=False, path_type=Path),
              help="Append a JSON-lines journal of accepted actions, fills and faults to this file.")
@click.option("--faults", "faults_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Fault scenario TOML file; the fault flags below override it.")
@click.option("--fault-seed", type=int, help="Seed of the fault generator.")
@click.option("--drop-ws-every", type=click.FloatRange(min=0), help="Close every WebSocket every N seconds.")
@click.option("--drop-ws-prob", type=click.FloatRange(0, 1), help="Chance per second to drop each WebSocket.")
@click.option("--ws-delay-ms", type=click.FloatRange(min=0), help="Delay every WebSocket message (ms).")
@click.option("--ws-jitter-ms", type=click.FloatRange(min=0), help="Extra random WebSocket delay, up to (ms).")
@click.option("--duplicate-user-events", type=click.FloatRange(0, 1), help="Chance a user message is sent twice.")
@click.option("--reorder-user-events", type=click.FloatRange(0, 1), help="Chance a user message swaps with the next.")
@click.option("--http-429", type=click.FloatRange(0, 1), help="Share of HTTP requests answered 429.")
@click.option("--http-5xx", type=click.FloatRange(0, 1), help="Share of HTTP requests answered 502/503.")
@click.option("--stall-book", multiple=True, metavar="AT:DURATION", help="Freeze the WS market data (seconds).")
@click.option("--cascade-at", multiple=True, type=float, help="Force a liquidation cascade at this second.")
def serve(
    host: str, port: int, seed: int, assets: str, balance: float, chain: str, log_json: Path | None,
    faults_path: Path | None, fault_seed: int | None, drop_ws_every: float | None, drop_ws_prob: float | None,
    ws_delay_ms: float | None, ws_jitter_ms: float | None, duplicate_user_events: float | None,
    reorder_user_events: float | None, http_429: float | None, http_5xx: float | None, stall_book: tuple[str, ...],
    cascade_at: tuple[float, ...],
) -> None:
    """Serve POST /info, POST /exchange and the WebSocket /ws until interrupted."""
    try:
        listed = parse_assets(assets)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--assets") from None
    faults = load_faults(faults_path) if faults_path is not None else FaultConfig()
    overrides = {
        "seed": fault_seed, "ws_drop_every_secs": drop_ws_every, "ws_drop_prob_per_sec": drop_ws_prob,
        "ws_delay_ms": ws_delay_ms, "ws_delay_jitter_ms": ws_jitter_ms,
        "duplicate_user_events_prob": duplicate_user_events, "reorder_user_events_prob": reorder_user_events,
        "http_429_prob": http_429, "http_5xx_prob": http_5xx,
        "stall_book": tuple(_stall(s) for s in stall_book) or None, "cascade_at_secs": cascade_at or None,
    }
    faults = attrs.evolve(faults, **{k: v for k, v in overrides.items() if v is not None})
    config = ServerConfig(host=host, port=port, seed=seed, assets=listed, balance=balance, chain=chain,
                          faults=faults, log_json=log_json)
    try:
        asyncio.run(_serve(config))
    except OSError as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc}") from exc


async def _serve(config: ServerConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with LocalExchange(config) as ex:
        names = ",".join(a.name for a in config.assets)
        click.echo(f"local exchange listening on {ex.url} (ws {ex.ws_url}); assets {names}; chain {config.chain}; "
                   f"seed {config.seed}", err=True)
        await stop.wait()
