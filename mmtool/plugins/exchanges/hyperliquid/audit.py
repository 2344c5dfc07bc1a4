"""The safety audit: our orders, fills and position compared with the exchange's, repaired and counted.

It runs at connect (cancelling orders a previous run left on the asset), after every reconnect and every
``audit_interval_secs``. :func:`.reconcile.audit_orders` judges the orders; here the findings are acted on:
orphans are cancelled, orders the exchange no longer lists are settled through ``orderStatus``, missed fills are
recovered (``userFillsByTime``, deduplicated by trade id), and a position that still differs is adopted from the
exchange and announced as a ``PositionSnapshot``. Every discrepancy is logged and counted
(:attr:`.HyperliquidAdapter.discrepancies`). Foreign trigger orders (the owner's stops and take-profits) are
left in place under ``foreign_triggers = "keep"`` and logged once each.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mmtool.core.clock import NS_PER_MS, NS_PER_S
from mmtool.core.errors import ExchangeError
from mmtool.core.types import OrderStatus, PositionSnapshot
from mmtool.plugins.exchanges.hyperliquid import errors as hl_errors
from mmtool.plugins.exchanges.hyperliquid.outcomes import NEVER_SEEN
from mmtool.plugins.exchanges.hyperliquid.reconcile import ExchangeOrder, audit_orders, claims
from mmtool.plugins.exchanges.hyperliquid.wire import cancel_action, cancel_by_cloid_action, parse_cancel_statuses

if TYPE_CHECKING:
    from mmtool.plugins.exchanges.hyperliquid.adapter import HyperliquidAdapter

log = logging.getLogger("mmtool.hyperliquid")

NOT_LISTED = "no longer listed by the exchange"
#: Reads of the position one audit makes at most while fills keep coming in around them.
POSITION_READS = 3


class Auditor:
    """Reconciles the adapter's orders, fills and position with the exchange's."""

    def __init__(self, adapter: HyperliquidAdapter) -> None:
        self._adapter = adapter
        self._lock = asyncio.Lock()
        #: Foreign trigger orders (stops, take-profits of the account's owner) seen listed in the latest look, by
        #: oid; each is reported once, when first seen.
        self.kept_triggers: dict[int, ExchangeOrder] = {}
        self._reported: set[int] = set()

    async def listed(self) -> list[ExchangeOrder]:
        """Every open order of the account according to the exchange (``frontendOpenOrders``)."""
        adapter = self._adapter
        answer = await adapter.rest.info({"type": "frontendOpenOrders", "user": adapter.user})
        if not isinstance(answer, list):
            raise hl_errors.MalformedResponse("frontendOpenOrders: expected a list")
        listed = []
        for item in answer:
            try:
                listed.append(ExchangeOrder.from_wire(item))
            except (KeyError, TypeError, ValueError, hl_errors.MalformedResponse) as exc:
                adapter._emitter.malformed("frontendOpenOrders", exc)
        return listed

    async def listed_ours(self) -> list[ExchangeOrder]:
        """Open orders on the asset that count as ours: known ones, and those :func:`.reconcile.claims` takes
        under ``orphan_scope`` and ``foreign_triggers``. Foreign trigger orders left out are reported once."""
        adapter = self._adapter
        config = adapter.config
        ours = []
        kept = []
        for order in await self.listed():
            if order.coin != adapter.asset:
                continue
            known = order.cloid is not None and adapter.orders.knows(order.cloid)
            if known or claims(order, config.orphan_scope, adapter.orders.prefixes, config.foreign_triggers):
                ours.append(order)
            elif order.trigger is not None:
                kept.append(order)
        self._report_kept(kept)
        return ours

    async def cancel_listed(self, listed: Sequence[ExchangeOrder], why: str) -> None:
        """Cancel listed orders over REST (by cloid where they have one, else by oid) and emit what was cancelled."""
        adapter = self._adapter
        asset_id = adapter.asset_ids[adapter.asset]
        with_cloid = [o for o in listed if o.cloid]
        without = [o for o in listed if not o.cloid]
        for action, group in (
            (cancel_by_cloid_action([(asset_id, o.cloid or "") for o in with_cloid]), with_cloid),
            (cancel_action([(asset_id, o.oid) for o in without]), without),
        ):
            if not group:
                continue
            try:
                results = parse_cancel_statuses(await adapter._outbound.signed(action, len(group)), len(group))
            except (hl_errors.HyperliquidError, ExchangeError) as exc:
                log.warning("Cancel failed", extra={"fields": {"why": why, "orders": len(group), "error": str(exc)}})
                continue
            for order, result in zip(group, results, strict=False):
                if result.ok and order.cloid and adapter.orders.get(order.cloid) is not None:
                    adapter._emitter.update(adapter.asset, order.cloid, OrderStatus.CANCELLED, oid=order.oid,
                                            reason=why)

    async def periodic(self) -> None:
        """The periodic audit: while connected, with ``audit_grace_secs`` for recent orders."""
        adapter = self._adapter
        if adapter._connected:
            await self.run(grace_ns=int(adapter.config.audit_grace_secs * NS_PER_S), why="periodic")

    async def run(self, grace_ns: int, why: str) -> None:
        """Compare orders and position with the exchange; repair what can be repaired, count every discrepancy."""
        adapter = self._adapter
        outcomes = adapter._outcomes
        emitter = adapter._emitter
        async with self._lock:
            listed = await self.listed()
            now = adapter.clock.now_ns()
            findings = audit_orders(
                adapter.orders,
                listed,
                asset=adapter.asset,
                now_ns=now,
                grace_ns=grace_ns,
                in_flight=set(adapter._outbound.in_flight),
                scope=adapter.config.orphan_scope,
                foreign_triggers=adapter.config.foreign_triggers,
            )
            self._report_kept(findings.kept_triggers)
            for orphan in findings.orphans:
                self._discrepancy(
                    "orphan order on the exchange: cancelling", why, cloid=orphan.cloid, oid=orphan.oid,
                    side=orphan.side.value, price=str(orphan.price), size=str(orphan.size),
                )
            if findings.orphans:
                await self.cancel_listed(findings.orphans, why="orphan")
            for local, seen in findings.mismatched:
                self._discrepancy(
                    "order differs from the exchange's", why, cloid=local.cloid, local_price=str(local.price),
                    exchange_price=str(seen.price), local_remaining=str(local.remaining),
                    exchange_size=str(seen.size),
                )
            for local in findings.missing:
                if adapter.orders.get(local.cloid) is None:
                    continue  # settled meanwhile
                status = await outcomes.order_status(local.cloid)
                if adapter.orders.get(local.cloid) is None:
                    continue  # settled by the socket's news while we asked
                if status is not None and status.get("status") == "open":
                    continue  # listed a moment later: no discrepancy
                if status is not None and self._ended_within(status, grace_ns):
                    # It ended at the exchange moments ago: the socket's news is on its way, not lost. Settle it
                    # now from the answer, without calling it a discrepancy.
                    outcomes.emit_status(status, local.cloid)
                    continue
                self._discrepancy(
                    "order not listed by the exchange", why, cloid=local.cloid, oid=local.oid,
                    status=status.get("status") if status else "unknown",
                )
                if status is not None:
                    outcomes.emit_status(status, local.cloid)
                elif local.acked:
                    emitter.update(local.asset, local.cloid, OrderStatus.CANCELLED, oid=local.oid, reason=NOT_LISTED)
                else:
                    emitter.update(local.asset, local.cloid, OrderStatus.REJECTED, reason=NEVER_SEEN)
            await self._audit_position(why)

    async def _audit_position(self, why: str) -> None:
        """Compare our position with the exchange's and adopt the exchange's when the difference is real.

        A read is trusted only if no fill came in around it, by the socket or by the fill history fetched right
        after it: such a fill may or may not be inside the read, and adopting a read that holds a fill not yet
        passed on would count that fill twice when its message comes. So: read, recover missed fills, and adopt
        the read only when no fill was accepted in between; otherwise read again, up to
        :data:`POSITION_READS` times, and leave a position that keeps moving to the next audit.
        """
        adapter = self._adapter
        ledger = adapter.ledger
        for _ in range(POSITION_READS):
            accepted = ledger.accepted
            exchange_pos, entry = await adapter._account.position()
            if exchange_pos == ledger.position:
                return
            await self.recover_fills(ledger.last_fill_ms)
            if exchange_pos == ledger.position:
                return  # the read held fills we had missed: recovered now
            if ledger.accepted == accepted:
                break  # nothing came in around the read: the difference is real
        else:
            log.info("Position audit deferred: fills still arriving", extra={"fields": {"audit": why}})
            return
        self._discrepancy(
            "position differs from the exchange's", why, local=str(ledger.position),
            exchange=str(exchange_pos), difference=str(exchange_pos - ledger.position),
        )
        # The exchange is the truth: adopt it here and tell the engine to do the same.
        ledger.position = exchange_pos
        now = adapter.clock.now_ns()
        adapter._emitter.emit(PositionSnapshot(adapter.asset, exchange_pos, entry, now, now))

    async def recover_fills(self, since_ms: int) -> int:
        """Fetch our fills since a time (less ``fill_lookback_secs``) and pass on those we missed; how many.

        The history is :meth:`.Account.fills_since` (``userFillsByTime``, page by page); the emitter drops the
        fills already passed on, by trade id.
        """
        adapter = self._adapter
        start = max(since_ms - int(adapter.config.fill_lookback_secs * 1000), 0)
        recovered = 0
        for fill in await adapter._account.fills_since(start):
            if adapter._emitter.fill(fill):
                recovered += 1
                log.warning(
                    "Missed fill recovered",
                    extra={"fields": {"trade_id": fill.trade_id, "side": fill.side.value, "price": str(fill.price),
                                      "size": str(fill.size)}},
                )
        adapter.recovered_fills += recovered
        return recovered

    def _ended_within(self, status: Mapping[str, Any], grace_ns: int) -> bool:
        """True when an ``orderStatus`` answer's ``statusTimestamp`` (exchange ms) is less than ``grace_ns`` old."""
        stamp = status.get("statusTimestamp")
        if grace_ns <= 0 or not isinstance(stamp, int) or isinstance(stamp, bool):
            return False
        return (self._adapter._now_ms() - stamp) * NS_PER_MS < grace_ns

    def _report_kept(self, kept: Sequence[ExchangeOrder]) -> None:
        """Remember the foreign trigger orders listed now and log each the first time it is seen: it will move
        the position when it fires (the audit then adopts the exchange's position)."""
        self.kept_triggers = {order.oid: order for order in kept}
        for order in kept:
            if order.oid in self._reported or order.trigger is None:
                continue
            self._reported.add(order.oid)
            log.warning(
                "Foreign trigger order left in place: it is not ours, and moves the position if it fires",
                extra={"fields": {
                    "oid": order.oid, "cloid": order.cloid, "side": order.side.value, "size": str(order.size),
                    "limit_price": str(order.price), "trigger_price": str(order.trigger.trigger_px),
                    "kind": order.trigger.kind.value, "market": order.trigger.is_market,
                    # The dead man's switch, should it fire, is the exchange's cancel for the whole account.
                    "dead_man_switch": self._adapter.config.dead_man_switch,
                }},
            )

    def _discrepancy(self, what: str, why: str, **figures: Any) -> None:
        self._adapter.discrepancies += 1
        log.warning("Reconciliation: " + what, extra={"fields": {"audit": why, **figures}})
