"""Record Hyperliquid market data from the WebSocket: ``l2Book``, ``trades``, ``allMids`` and ``activeAssetCtx``.

Messages are written as they arrive (see :mod:`mmtool.backtest.recording` for the format); the local receive
time comes from an injected clock (wall time by default: recording is I/O, not trading logic). The connection is
kept alive with Hyperliquid's application ping every ``ping_interval_s`` and re-established with capped
exponential backoff when it drops; the subscriptions are sent again on each connection.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import attrs
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from mmtool.backtest.recording import HOUR_NS, RecordingWriter
from mmtool.core.clock import Clock, WallClock

log = logging.getLogger("mmtool.recorder")

#: WebSocket addresses of the networks.
NETWORK_WS = {
    "mainnet": "wss://api.hyperliquid.xyz/ws",
    "testnet": "wss://api.hyperliquid-testnet.xyz/ws",
    "localhost": "ws://localhost:3001/ws",
}
#: Channels that are protocol chatter, not market data.
_SKIPPED = frozenset({"subscriptionResponse", "pong", "post"})


def ws_url(network: str, base_url: str | None = None) -> str:
    """The WebSocket address for a network, or for ``base_url`` (``http(s)://host[:port]`` or ``ws(s)://...``;
    ``/ws`` is appended when the address has no path)."""
    if base_url is None:
        try:
            return NETWORK_WS[network]
        except KeyError as exc:
            raise ValueError(f"unknown network {network!r}; one of {', '.join(NETWORK_WS)}") from exc
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"base URL must look like http(s)://host[:port] or ws(s)://host[:port] (got {base_url!r})")
    path = parts.path if parts.path not in ("", "/") else "/ws"
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def subscriptions(asset: str) -> list[dict[str, str]]:
    """The subscriptions a recording of ``asset`` needs."""
    return [
        {"type": "l2Book", "coin": asset},
        {"type": "trades", "coin": asset},
        {"type": "allMids"},
        {"type": "activeAssetCtx", "coin": asset},
    ]


def exchange_ms(msg: dict[str, Any]) -> int | None:
    """The exchange's timestamp of a message in ms, when it carries one."""
    data = msg.get("data")
    if msg.get("channel") == "l2Book" and isinstance(data, dict) and "time" in data:
        return int(data["time"])
    if msg.get("channel") == "trades" and isinstance(data, list) and data:
        return max(int(t["time"]) for t in data if isinstance(t, dict) and "time" in t)
    return None


@attrs.define
class RecorderStats:
    """What a recording session wrote."""

    messages: Counter[str] = attrs.field(factory=Counter)
    connections: int = 0
    malformed: int = 0
    files: list[Path] = attrs.field(factory=list)


class Recorder:
    """Connects, subscribes and writes every market-data message until the duration ends or it is cancelled."""

    def __init__(
        self,
        url: str,
        asset: str,
        out_dir: str | Path,
        *,
        clock: Clock | None = None,
        ping_interval_s: float = 50.0,
        reconnect_max_s: float = 30.0,
        rotate_ns: int = HOUR_NS,
    ) -> None:
        self.url = url
        self.asset = asset
        self.clock = clock or WallClock()
        self.ping_interval_s = ping_interval_s
        self.reconnect_max_s = reconnect_max_s
        self.writer = RecordingWriter(out_dir, asset, rotate_ns=rotate_ns)
        self.stats = RecorderStats()

    async def run(self, duration_s: float | None = None) -> RecorderStats:
        """Record until ``duration_s`` seconds have passed (None: until cancelled); always closes the files."""
        loop = asyncio.get_running_loop()
        deadline = None if duration_s is None else loop.time() + duration_s
        backoff = 0.5
        try:
            while deadline is None or loop.time() < deadline:
                try:
                    await self._session(deadline)
                    backoff = 0.5
                except (OSError, ConnectionClosed, InvalidHandshake, TimeoutError) as exc:
                    log.warning("Market-data connection lost; reconnecting",
                                extra={"fields": {"url": self.url, "error": repr(exc), "retry_s": backoff}})
                    remaining = None if deadline is None else deadline - loop.time()
                    await asyncio.sleep(backoff if remaining is None else max(0.0, min(backoff, remaining)))
                    backoff = min(backoff * 2, self.reconnect_max_s)
        finally:
            self.writer.close()
            self.stats.files = list(self.writer.files)
        return self.stats

    async def _session(self, deadline: float | None) -> None:
        """One connection: subscribe, then write messages and ping until the deadline."""
        loop = asyncio.get_running_loop()
        try:
            websocket = await connect(self.url, max_size=None, ping_interval=None, open_timeout=10)
        except InvalidURI as exc:
            raise ValueError(f"invalid WebSocket address {self.url!r}: {exc}") from exc
        try:
            self.stats.connections += 1
            for subscription in subscriptions(self.asset):
                await websocket.send(json.dumps({"method": "subscribe", "subscription": subscription}))
            log.info("Recording market data", extra={"fields": {"url": self.url, "asset": self.asset}})
            next_ping = loop.time() + self.ping_interval_s
            while True:
                now = loop.time()
                if deadline is not None and now >= deadline:
                    return
                if now >= next_ping:
                    await websocket.send(json.dumps({"method": "ping"}))
                    next_ping = now + self.ping_interval_s
                wait = next_ping - now if deadline is None else min(next_ping, deadline) - now
                try:
                    # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow a cancellation that
                    # lands as the message arrives, and this loop would then never end.
                    async with asyncio.timeout(max(wait, 0.0)):
                        raw = await websocket.recv()
                except TimeoutError:
                    continue
                self._write(raw)
        finally:
            await websocket.close()  # a normal close (1000), even when cancelled

    def _write(self, raw: str | bytes) -> None:
        recv_ns = self.clock.now_ns()
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        if not text.lstrip().startswith("{"):
            return  # plain-text chatter such as Hyperliquid's "Websocket connection established."
        try:
            msg = json.loads(text)
            channel = msg.get("channel")
            exch = exchange_ms(msg)
        except (ValueError, AttributeError, TypeError):
            self.stats.malformed += 1
            return
        if channel in _SKIPPED or channel is None:
            return
        self.writer.write(recv_ns, exch, msg)
        self.stats.messages[str(channel)] += 1
