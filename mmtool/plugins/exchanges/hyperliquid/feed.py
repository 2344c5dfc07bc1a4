"""The inbound WebSocket side: each decoded message becomes core events (through :mod:`.messages`).

Book, trades and mids of the asset go out as they are; order updates are matched to our cloids (by oid when the
exchange omits the cloid) and routed past pending modifies; fills arrive on two channels (userFills and
userEvents) and are passed on once per trade id. The ``isSnapshot`` userFills message is history, not new fills:
it passes on only the fills of this session not seen yet (missed while the socket was down) and seeds the rest.
A malformed message, or one malformed item of a message, is logged, counted and skipped.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from mmtool.core.clock import NS_PER_MS
from mmtool.core.types import Fill, OrderStatus, OrderUpdate
from mmtool.plugins.exchanges.hyperliquid import errors as hl_errors
from mmtool.plugins.exchanges.hyperliquid import messages

if TYPE_CHECKING:
    from mmtool.plugins.exchanges.hyperliquid.adapter import HyperliquidAdapter

log = logging.getLogger("mmtool.hyperliquid")
#: What a message of an unexpected shape raises on its way through the parsers.
_MALFORMED = (hl_errors.MalformedResponse, KeyError, TypeError, ValueError, AttributeError, ArithmeticError)


class Feed:
    """Translates the adapter's WebSocket messages into core events."""

    def __init__(self, adapter: HyperliquidAdapter) -> None:
        self._adapter = adapter
        #: Channels we did not subscribe to that came anyway (an exchange upgrade): logged once each.
        self._unexpected: set[str] = set()

    def on_message(self, channel: str, data: Any, ts: int) -> None:
        """Translate one WebSocket message (already decoded) into events."""
        adapter = self._adapter
        emitter = adapter._emitter
        try:
            if channel == "l2Book":
                if isinstance(data, Mapping) and data.get("coin") == adapter.asset:
                    emitter.put(messages.book_update(data, ts, adapter.config.book_depth))
            elif channel == "trades":
                for trade in messages.trades(data, adapter.asset, ts):
                    emitter.put(trade)
            elif channel == "allMids":
                update = messages.mid_update(data, adapter.asset, ts)
                if update is not None:
                    adapter.mid = update.mid
                    emitter.put(update)
            elif channel == "orderUpdates":
                self._on_order_updates(data, ts)
            elif channel == "userFills":
                self._on_user_fills(data, ts)
            elif channel == "user":
                self._on_user_event(data, ts)
            elif channel == "error":
                log.warning("Exchange WebSocket error", extra={"fields": {"error": str(data)[:300]}})
            elif channel == "activeAssetCtx":
                ctx = data.get("ctx") if isinstance(data, Mapping) else None
                if isinstance(ctx, Mapping) and data.get("coin") == adapter.asset:
                    adapter.asset_ctx = ctx
            elif channel in self._unexpected:
                adapter.malformed += 1  # counted every time, logged the first time only
            else:
                self._unexpected.add(channel)
                raise hl_errors.MalformedResponse(f"unexpected channel {channel[:40]!r} (logged once)")
        except _MALFORMED as exc:
            emitter.malformed(channel, exc)

    @contextlib.contextmanager
    def _item(self, channel: str) -> Iterator[None]:
        """Skip (log and count) one malformed item of a message, so that the items after it still count."""
        try:
            yield
        except _MALFORMED as exc:
            self._adapter._emitter.malformed(channel, exc)

    def fill_from(self, item: Any, ts: int) -> Fill:
        """A fill from its wire form, with our cloid looked up by oid when the exchange left it out."""
        if not isinstance(item, Mapping):
            raise hl_errors.MalformedResponse(f"fill: expected an object, got {type(item).__name__}")
        oid = item.get("oid")
        cloid = self._adapter.orders.cloid_of_oid(oid) if isinstance(oid, int) and not item.get("cloid") else None
        return messages.fill(item, ts, cloid=cloid)

    def _on_order_updates(self, data: Any, ts: int) -> None:
        if not isinstance(data, list):
            raise hl_errors.MalformedResponse("orderUpdates: expected a list")
        adapter = self._adapter
        for item in data:
            order = item.get("order") if isinstance(item, Mapping) else None
            if not isinstance(order, Mapping) or order.get("coin") != adapter.asset:
                continue
            cloid = order.get("cloid") or (
                adapter.orders.cloid_of_oid(order["oid"]) if isinstance(order.get("oid"), int) else None
            )
            if cloid is None:
                continue
            with self._item("orderUpdates"):  # one bad update must not cost the others in its message
                adapter._emitter.route(messages.order_update(item, ts, cloid=cloid))

    def _on_user_fills(self, data: Any, ts: int) -> None:
        if not isinstance(data, Mapping) or not isinstance(data.get("fills"), list):
            raise hl_errors.MalformedResponse("userFills: expected {user, fills}")
        adapter = self._adapter
        if data.get("user", adapter.user).lower() != adapter.user:
            return
        if data.get("isSnapshot"):
            # Recent history, not new fills: the session's start seeded the account's history, so a fill in it
            # not seen yet is one this session missed (while the socket was down, or delivered out of order),
            # whatever its time relative to the last fill seen; only fills older than the seeded history are not.
            floor = adapter.ledger.history_floor_ms
            recovered = 0
            for item in data["fills"]:
                with self._item("userFills"):
                    fill = self.fill_from(item, ts)
                    if fill.ts_exchange_ns // NS_PER_MS >= floor and adapter._emitter.fill(fill):
                        recovered += 1
                    else:
                        adapter.ledger.seed(fill.trade_id)
            if recovered:
                adapter.recovered_fills += recovered
                log.warning("Fills recovered from the userFills snapshot", extra={"fields": {"fills": recovered}})
            return
        for item in data["fills"]:
            with self._item("userFills"):
                adapter._emitter.fill(self.fill_from(item, ts))

    def _on_user_event(self, data: Any, ts: int) -> None:
        if not isinstance(data, Mapping):
            raise hl_errors.MalformedResponse("user event: expected an object")
        adapter = self._adapter
        for item in data.get("fills") or ():
            with self._item("user"):
                adapter._emitter.fill(self.fill_from(item, ts))
        funding = data.get("funding")
        if funding is not None:
            with self._item("user"):
                event = messages.funding(funding, ts)
                if event.asset == adapter.asset:
                    adapter._emitter.put(event)
        for item in data.get("nonUserCancel") or ():
            if isinstance(item, Mapping) and item.get("coin") == adapter.asset and isinstance(item.get("oid"), int):
                cloid = adapter.orders.cloid_of_oid(item["oid"])
                if cloid is not None:
                    adapter._emitter.route(OrderUpdate(adapter.asset, cloid, OrderStatus.CANCELLED, ts, ts,
                                                       oid=item["oid"], reason="nonUserCancel"))
        if data.get("liquidation") is not None:
            log.critical("Liquidation event", extra={"fields": {"liquidation": str(data["liquidation"])[:300]}})
