"""Acting on the rate limits that :mod:`.ratelimit` accounts: refresh, stop placing, report 429s.

The address budget is refreshed from ``userRateLimit``; when it runs down to ``cancel_reserve`` placing stops
(cancels go on) until a refresh shows room again. A 429 or a rate-limit rejection becomes a ``RateLimited`` event.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from mmtool.core.types import RateLimited

if TYPE_CHECKING:
    from mmtool.plugins.exchanges.hyperliquid.adapter import HyperliquidAdapter

log = logging.getLogger("mmtool.hyperliquid")


class Throttle:
    """Keeps the adapter within the exchange's rate limits and tells the engine when it hits one."""

    def __init__(self, adapter: HyperliquidAdapter) -> None:
        self._adapter = adapter
        self._budget_blocked = False
        self._ip_blocked = False

    async def refresh(self) -> None:
        """Update the address budget from ``userRateLimit``; placing resumes once it is above the reserve."""
        adapter = self._adapter
        answer = await adapter.rest.info({"type": "userRateLimit", "user": adapter.user})
        if isinstance(answer, Mapping):
            adapter.limits.address.update(answer)
            if self._budget_blocked and adapter.limits.headroom > adapter.config.cancel_reserve:
                self._budget_blocked = False
                log.warning("Address rate budget available again",
                            extra={"fields": {"headroom": adapter.limits.headroom}})

    def placing_room(self) -> int:
        """How many places and modifies may go out now: the address budget above the cancel reserve (a batch of
        n counts n), and none while the IP weight of one more action does not fit in the minute's window (sent
        anyway, it would be refused, and enough refusals trip the rate-limit kill switch). Cancels are not held."""
        adapter = self._adapter
        room = adapter.limits.headroom - adapter.config.cancel_reserve
        ip_full = room > 0 and adapter.limits.ip.delay_for(1) > 0
        if ip_full != self._ip_blocked:
            self._ip_blocked = ip_full
            if ip_full:
                log.warning("IP request weight exhausted for this minute: places and modifies held back",
                            extra={"fields": {"ip_weight_used": adapter.limits.ip.used}})
        if ip_full:
            return 0
        if (room <= 0) != self._budget_blocked:
            self._budget_blocked = room <= 0
            if room <= 0:
                log.error(
                    "Address rate budget exhausted: placing stops, cancels go on",
                    extra={"fields": {"headroom": adapter.limits.headroom, "reserve": adapter.config.cancel_reserve}},
                )
        return max(room, 0)

    def rate_limited(self, reason: str) -> None:
        """Count a rate-limit answer and emit it as a ``RateLimited`` event."""
        adapter = self._adapter
        now = adapter.clock.now_ns()
        adapter.limits.rate_limited += 1
        adapter._emitter.put(RateLimited(now, now, reason[:200]))
