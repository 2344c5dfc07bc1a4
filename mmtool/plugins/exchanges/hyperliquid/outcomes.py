"""Unknown outcomes: what became of an order is asked of the exchange (``orderStatus`` by cloid), never guessed.

An action whose answer was lost (timeout, dropped socket, 5xx) is never resent blindly: places and modifies carry
an ``expiresAfter`` (``action_expiry_secs``), the lookup waits until it has passed, so that an original still on
its way can no longer execute, then each order of the batch is looked up and only what the exchange never saw is
sent again, once (cancels are idempotent: one of an
order the exchange never saw is answered CANCELLED). A modify is judged by its new cloid, then by the order it
replaced. Orders the exchange would not cancel or modify are settled the same way, and the audit uses the same
lookup for orders it no longer lists.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mmtool.core.errors import ExchangeError
from mmtool.core.tracking import MODIFY_FAILED_PREFIX, answers_modify
from mmtool.core.types import Action, Modify, OrderStatus, OrderUpdate
from mmtool.plugins.exchanges.hyperliquid import errors as hl_errors
from mmtool.plugins.exchanges.hyperliquid import messages

if TYPE_CHECKING:
    from mmtool.plugins.exchanges.hyperliquid.adapter import HyperliquidAdapter
    from mmtool.plugins.exchanges.hyperliquid.state import LocalOrder

log = logging.getLogger("mmtool.hyperliquid")

NEVER_SEEN = "never reached the exchange"
#: Past an action's ``expiresAfter`` by our clock, how long to wait more before taking "unknown" for "never
#: executed" (the exchange judges the expiry by its clock).
EXPIRY_MARGIN_MS = 1000


class OutcomeResolver:
    """Finds out from the exchange what became of orders whose answer was lost or refused, and emits it."""

    def __init__(self, adapter: HyperliquidAdapter) -> None:
        self._adapter = adapter

    async def order_status(self, cloid: str) -> Mapping[str, Any] | None:
        """The exchange's ``{"order", "status", "statusTimestamp"}`` for a cloid, or None when it never saw it."""
        adapter = self._adapter
        answer = await adapter.rest.info({"type": "orderStatus", "user": adapter.user, "oid": cloid})
        if not isinstance(answer, Mapping):
            raise hl_errors.MalformedResponse("orderStatus: expected an object")
        if answer.get("status") == "order" and isinstance(answer.get("order"), Mapping):
            return answer["order"]
        if answer.get("status") == "unknownOid":
            return None
        raise hl_errors.MalformedResponse(f"orderStatus: unexpected answer {answer!r}"[:200])

    def emit_status(self, status: Mapping[str, Any], cloid: str) -> OrderUpdate | None:
        """Emit the order update an ``orderStatus`` answer stands for (None when it is malformed)."""
        update = self._parse(status, cloid)
        if update is not None:
            self._route(update)
        return update

    def _parse(self, status: Mapping[str, Any], cloid: str) -> OrderUpdate | None:
        """The order update of an ``orderStatus`` answer; None (counted as malformed) when it is not one."""
        adapter = self._adapter
        try:
            return messages.order_update(status, adapter.clock.now_ns(), cloid=cloid)
        except hl_errors.MalformedResponse as exc:
            adapter._emitter.malformed("orderStatus", exc)
            return None

    def _route(self, update: OrderUpdate) -> None:
        adapter = self._adapter
        if update.asset == adapter.asset:
            adapter._emitter.route(update)

    async def recover(
        self, kind: str, items: list[Action], retried: bool, expires_after: int | None = None
    ) -> None:
        """Find out what became of a batch whose answer was lost; resend only what the exchange never saw.

        A batch with an ``expiresAfter`` is asked about only once it has expired (and :data:`EXPIRY_MARGIN_MS`
        more, for the clocks' difference): before that, an original still on its way could land after the
        exchange said it never saw it, and execute beside its resend.
        """
        adapter = self._adapter
        if expires_after is not None:
            wait_ms = expires_after + EXPIRY_MARGIN_MS - adapter._now_ms()
            if wait_ms > 0:
                await asyncio.sleep(wait_ms / 1000)
        try:
            resend: list[Action] = []
            for item in items:
                if kind == "order":
                    status = await self.order_status(item.cloid)
                    if status is not None:
                        self.emit_status(status, item.cloid)
                        continue
                    local = adapter.orders.get(item.cloid)
                    if local is None or local.cancel_pending:
                        # Never seen, and meanwhile cancelled (or settled): it is not wanted any more.
                        if local is not None:
                            adapter._emitter.update(item.asset, item.cloid, OrderStatus.CANCELLED, reason=NEVER_SEEN)
                        continue
                    resend.append(item)
                elif isinstance(item, Modify):
                    await self._recover_modify(item)
                else:
                    status = await self.order_status(item.cloid)
                    if status is None:
                        adapter._emitter.update(item.asset, item.cloid, OrderStatus.CANCELLED, reason=NEVER_SEEN)
                    elif status.get("status") == "open":
                        resend.append(item)
                    else:
                        self.emit_status(status, item.cloid)
        except (hl_errors.HyperliquidError, ExchangeError) as exc:
            log.error("Could not recover an action's outcome; the audit will", extra={"fields": {"error": str(exc)}})
            return
        if not resend:
            return
        if retried:
            adapter._outbound.reject_all(kind, resend, "outcome unknown twice; not sent again")
            return
        log.warning("Resending what the exchange never saw", extra={"fields": {"kind": kind, "orders": len(resend)}})
        await adapter._outbound.send_batch(kind, resend, retried=True)

    async def _recover_modify(self, modify: Modify) -> None:
        emitter = self._adapter._emitter
        if self._answered(modify):
            return
        if modify.new_cloid:
            status = await self.order_status(modify.new_cloid)
            if self._answered(modify):
                return
            if status is not None:
                self.emit_status(status, modify.new_cloid)
                emitter.release_deferred(modify.new_cloid)
                return
        status = await self.order_status(modify.cloid)
        if self._answered(modify):
            return
        if status is None:
            emitter.update(modify.asset, modify.cloid, OrderStatus.REJECTED,
                           reason=f"{MODIFY_FAILED_PREFIX} the exchange does not know the order")
        else:
            update = self._parse(status, modify.cloid) if isinstance(status.get("order"), Mapping) else None
            local = self._adapter.orders.get(modify.cloid)
            took = update is not None and local is not None and _took(local, modify, update)
            if status.get("status") == "open":
                if took and update is not None:
                    self._route(update)
                else:
                    emitter.update(modify.asset, modify.cloid, OrderStatus.REJECTED,
                                   reason=f"{MODIFY_FAILED_PREFIX} outcome unknown; the order rests unchanged")
            else:
                if took and update is not None and update.oid is not None:
                    # It took, then ended (filled or cancelled under its new oid): answer the modify, then end
                    # it, so that the order's record has the modify's size when it ends.
                    emitter.update(modify.asset, modify.cloid, OrderStatus.RESTING, oid=update.oid,
                                   price=modify.price, size=modify.size, answering=modify)
                else:
                    emitter.update(modify.asset, modify.cloid, OrderStatus.REJECTED,
                                   reason=f"{MODIFY_FAILED_PREFIX} outcome unknown")
                self.emit_status(status, modify.cloid)
        emitter.release_deferred(modify.new_cloid or modify.cloid, modify.cloid)

    def _answered(self, modify: Modify) -> bool:
        """True (and the updates its order held back are let out) when the socket answered the modify meanwhile.

        What a lookup finds then may be about a later modify in flight, which an answer judged against this one
        would end.
        """
        local = self._adapter.orders.get(modify.cloid)
        if local is None or local.modify is modify:
            return False
        self._adapter._emitter.release_deferred(modify.new_cloid or modify.cloid, modify.cloid)
        return True

    async def settle(self, cloids: Sequence[str]) -> None:
        """Ask the exchange what became of orders it would not cancel or modify, and emit their end."""
        async for cloid, status in self._statuses(cloids):
            if status is not None and status.get("status") != "open":
                self.emit_status(status, cloid)

    async def follow_existing(self, places: Sequence[Action]) -> None:
        """Places the exchange refused because an open order has their cloid (the original of a resend, landed
        after all): emit what that order is. The audit settles any the lookup cannot."""
        async for cloid, status in self._statuses([p.cloid for p in places]):
            if status is not None:
                self.emit_status(status, cloid)
            else:
                self._adapter._emitter.update(self._adapter.asset, cloid, OrderStatus.REJECTED,
                                              reason="duplicate client order id, yet no such order")

    async def _statuses(self, cloids: Sequence[str]) -> AsyncIterator[tuple[str, Mapping[str, Any] | None]]:
        """Each cloid with its ``orderStatus`` answer; one the exchange did not answer is logged and skipped."""
        for cloid in cloids:
            try:
                status = await self.order_status(cloid)
            except (hl_errors.HyperliquidError, ExchangeError) as exc:
                log.warning("orderStatus failed", extra={"fields": {"cloid": cloid, "error": str(exc)}})
                continue
            yield cloid, status


def _took(local: LocalOrder, modify: Modify, update: OrderUpdate) -> bool:
    """Whether the order found open under the modify's cloid took the modify.

    A modify that takes rests the order under a new oid, so the oid tells; the order's terms cannot (one that
    filled in part meanwhile is at neither its old terms nor the modify's). Without an oid on either side, the
    terms are judged by the rule an acknowledgement follows.
    """
    if update.oid is not None and local.oid is not None:
        return update.oid != local.oid and update.oid not in local.retired_oids
    return answers_modify(local.price, local.remaining, modify, update)
