"""The WebSocket's life: open and subscribe, and after a drop reconnect, resynchronise, then report it.

On a drop the adapter emits ``Connection(up=False)``, reconnects with jittered exponential backoff
(``reconnect_min_secs`` doubling up to ``reconnect_max_secs``), resubscribes, fetches the fills it missed
(``userFillsByTime``, deduplicated by trade id), audits orders and position, and only then emits
``Connection(up=True)``. A failed resync, whatever the failure, closes the socket and counts as a failed attempt.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import TYPE_CHECKING, Any

from mmtool.core.errors import ExchangeError
from mmtool.core.types import Connection
from mmtool.plugins.exchanges.hyperliquid import errors as hl_errors
from mmtool.plugins.exchanges.hyperliquid.ws import WsConnection

if TYPE_CHECKING:
    from mmtool.plugins.exchanges.hyperliquid.adapter import HyperliquidAdapter

log = logging.getLogger("mmtool.hyperliquid")


class Supervisor:
    """Opens the adapter's subscribed WebSocket and keeps it up, resynchronising after every reconnect."""

    def __init__(self, adapter: HyperliquidAdapter) -> None:
        self._adapter = adapter
        self._rng = random.Random()

    async def open(self) -> WsConnection:
        """Open the WebSocket (messages go to the adapter's feed) and subscribe to the asset's and our channels."""
        adapter = self._adapter
        ws = await WsConnection.open(
            adapter.ws_url,
            adapter._feed.on_message,
            adapter.clock.now_ns,
            ping_interval_s=adapter.config.ping_interval_secs,
            open_timeout_s=adapter.config.connect_timeout_secs,
            compression=adapter.config.ws_compression,
        )
        subs: list[dict[str, Any]] = [
            {"type": "l2Book", "coin": adapter.asset},
            {"type": "trades", "coin": adapter.asset},
            {"type": "activeAssetCtx", "coin": adapter.asset},
            {"type": "orderUpdates", "user": adapter.user},
            {"type": "userFills", "user": adapter.user},
            {"type": "userEvents", "user": adapter.user},
        ]
        if adapter.config.subscribe_all_mids:
            subs.insert(0, {"type": "allMids"})
        await ws.subscribe(subs)
        return ws

    async def run(self) -> None:
        """Watch the socket; on a drop, reconnect with jittered backoff, resynchronise, then report it up."""
        adapter = self._adapter
        while not adapter._closing:
            ws = adapter._ws
            assert ws is not None
            reason = await ws.wait_closed()
            if adapter._closing:
                return
            adapter._connected = False
            adapter.reconnects += 1
            dropped_ms = adapter._now_ms()
            now = adapter.clock.now_ns()
            adapter._emitter.put(Connection(False, now, now, reason))
            log.warning("WebSocket lost; reconnecting", extra={"fields": {"reason": reason}})
            delay = adapter.config.reconnect_min_secs
            while not adapter._closing:
                await asyncio.sleep(self._rng.uniform(delay / 2, delay))
                try:
                    adapter._ws = await self.open()
                except Exception as exc:  # any failure to reconnect is retried after a longer pause
                    log.warning("Reconnect failed", extra={"fields": {"error": repr(exc), "next_delay_s": delay}})
                    delay = min(delay * 2, adapter.config.reconnect_max_secs)
                    continue
                try:
                    await self.resync(dropped_ms)
                except (hl_errors.HyperliquidError, ExchangeError) as exc:
                    log.warning("Resync failed; reconnecting again", extra={"fields": {"error": str(exc)}})
                    await adapter._ws.close()
                    delay = min(delay * 2, adapter.config.reconnect_max_secs)
                    continue
                except Exception as exc:  # a bug on the way: this task must not die and leave us disconnected
                    log.error("Resync failed unexpectedly; reconnecting again", exc_info=exc)
                    await adapter._ws.close()
                    delay = min(delay * 2, adapter.config.reconnect_max_secs)
                    continue
                break
            if adapter._closing:
                return
            adapter._connected = True
            now = adapter.clock.now_ns()
            adapter._emitter.put(Connection(True, now, now, "resynchronised"))
            log.info("WebSocket back and resynchronised", extra={"fields": {"reconnects": adapter.reconnects}})

    async def resync(self, dropped_ms: int) -> None:
        """After a reconnect: missed fills first, then the order and position audit (no grace)."""
        adapter = self._adapter
        since = min(adapter.ledger.last_fill_ms or dropped_ms, dropped_ms)
        await adapter._auditor.recover_fills(since)
        await adapter._auditor.run(grace_ns=0, why="reconnect")
