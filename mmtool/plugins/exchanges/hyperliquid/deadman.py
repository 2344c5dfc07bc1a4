"""The dead man's switch: ``scheduleCancel`` pushed ahead while the loop is healthy, cleared on a clean exit.

While the WebSocket is up and the runner pulls events, the exchange is asked every ``dead_man_refresh_secs`` to
cancel all our orders ``dead_man_horizon_secs`` from now; if the process hangs or dies the orders go. On a clean
exit with no order left the switch is cleared; otherwise it is left armed, and said so.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from mmtool.core.clock import NS_PER_S
from mmtool.core.errors import ExchangeError
from mmtool.plugins.exchanges.hyperliquid import errors as hl_errors
from mmtool.plugins.exchanges.hyperliquid.wire import schedule_cancel_action

if TYPE_CHECKING:
    from mmtool.plugins.exchanges.hyperliquid.adapter import HyperliquidAdapter

log = logging.getLogger("mmtool.hyperliquid")

#: Pauses before each new attempt to clear the switch at shutdown (seconds).
CLEAR_RETRY_SECS = (0.25, 0.5, 1.0)
#: After those, a clear refused by the rate limit is tried once more this much later: with the address budget
#: spent the exchange allows one request every 10 s, and the last refresh may have just taken it.
RATE_LIMITED_RETRY_SECS = 10.5


class DeadManSwitch:
    """Keeps the exchange's ``scheduleCancel`` armed while the adapter's loop is healthy."""

    def __init__(self, adapter: HyperliquidAdapter) -> None:
        self._adapter = adapter
        #: True once a scheduleCancel with a time was accepted, until one without a time is.
        self.armed = False
        self._errors: set[str] = set()
        #: Whether the last refusal was a rate limit (the address budget spent: one request per 10 s).
        self._rate_limited = False

    async def schedule_cancel(self, time_ms: int | None) -> None:
        """Ask the exchange to cancel all our orders at ``time_ms`` (None clears it); each refusal logged once."""
        try:
            await self._adapter._outbound.signed(schedule_cancel_action(time_ms))
        except (hl_errors.HyperliquidError, ExchangeError) as exc:
            self._rate_limited = isinstance(exc, hl_errors.RateLimited)
            if str(exc) not in self._errors:
                self._errors.add(str(exc))
                log.warning("scheduleCancel refused", extra={"fields": {"error": str(exc), "time": time_ms}})
            return
        self.armed = time_ms is not None
        if time_ms is None:
            log.info("Dead man's switch cleared")

    def healthy(self) -> bool:
        """The loop is healthy when the socket is up and the runner pulled an event recently."""
        adapter = self._adapter
        stale_ns = int(2 * adapter.config.dead_man_refresh_secs * NS_PER_S)
        return adapter._connected and adapter.clock.now_ns() - adapter._last_pull_ns < stale_ns

    async def run(self) -> None:
        """Push the cancel time ahead every ``dead_man_refresh_secs`` while healthy (a task, until cancelled)."""
        adapter = self._adapter
        horizon_ms = int(adapter.config.dead_man_horizon_secs * 1000)
        while True:
            if self.healthy():
                await self.schedule_cancel(adapter._now_ms() + horizon_ms)
            await asyncio.sleep(adapter.config.dead_man_refresh_secs)

    async def disarm(self, open_orders: int) -> None:
        """On close: clear the switch when no order is left, else leave it armed and warn.

        Clearing is idempotent, so a refused clear (a 5xx, a timeout) is tried again after each of
        :data:`CLEAR_RETRY_SECS`: a switch left armed fires later for nothing and spends one of the day's triggers.
        """
        if not self.armed:
            return
        if open_orders == 0:
            for pause in (*CLEAR_RETRY_SECS, None):
                await self.schedule_cancel(None)
                if not self.armed or pause is None:
                    break
                await asyncio.sleep(pause)
            if self.armed and self._rate_limited:
                # A spent address budget allows one request every 10 s: wait for the next slot, once.
                log.info("Dead man's switch clear refused by the rate limit: trying again in %s s",
                         RATE_LIMITED_RETRY_SECS)
                await asyncio.sleep(RATE_LIMITED_RETRY_SECS)
                await self.schedule_cancel(None)
            if self.armed:
                log.warning("Dead man's switch left armed: the exchange refused to clear it; it fires for nothing")
        else:
            log.warning(
                "Dead man's switch left armed: orders may still rest",
                extra={"fields": {"open_orders": open_orders}},
            )
