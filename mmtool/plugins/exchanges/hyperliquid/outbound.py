"""The outbound path: actions to signed batches, sent over the WebSocket or REST, answers back as events.

``submit`` refuses locally what cannot reach the book (unknown asset, post-only mode after a network upgrade,
address budget exhausted: cancels always go on), then sends one signed batch per kind (Cancels as one
``cancelByCloid``, Modifies as one ``batchModify``, Places as one ``order``, in that order) and returns once the
bytes are sent. Each batch of a ``submit`` call is stamped on the adapter's clock when it is handed to the socket
(the WebSocket ``send`` returned: the frame is written to the transport) or to the REST client's worker pool
(:attr:`Outbound.stamps`, for the runner's order-path latency). A task awaits each answer and turns it into
``OrderUpdate`` events following the order manager's conventions. An answer that never comes (timeout, dropped
socket, 5xx) is handed to :mod:`.outcomes`, never resent blindly. Trigger orders go out in the same ``order`` batch
with a ``{"trigger": ...}`` order type and grouping ``na``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from mmtool.core.clock import NS_PER_S
from mmtool.core.tracking import MODIFY_FAILED_PREFIX
from mmtool.core.types import ZERO, Action, Cancel, Modify, OrderStatus, OrderUpdate, Place, Side, Tif
from mmtool.plugins.exchanges.hyperliquid import codec
from mmtool.plugins.exchanges.hyperliquid import errors as hl_errors
from mmtool.plugins.exchanges.hyperliquid.ratelimit import action_weight
from mmtool.plugins.exchanges.hyperliquid.rest import NotSent, OutcomeUnknown, TransportError
from mmtool.plugins.exchanges.hyperliquid.state import CANCEL_FAILED_PREFIX
from mmtool.plugins.exchanges.hyperliquid.wire import (
    OrderResult,
    OrderResultKind,
    Trigger,
    batch_modify_action,
    cancel_by_cloid_action,
    exchange_request,
    order_action,
    order_wire,
    parse_cancel_statuses,
    parse_order_statuses,
    raise_for_status,
)
from mmtool.plugins.exchanges.hyperliquid.ws import ConnectionLost

if TYPE_CHECKING:
    from mmtool.plugins.exchanges.hyperliquid.adapter import HyperliquidAdapter

log = logging.getLogger("mmtool.hyperliquid")

IOC_REMAINDER = "ioc remainder canceled"


def _is_trigger(action: Action) -> bool:
    return isinstance(action, Place) and action.trigger is not None


def _order_type(place: Place) -> Tif | Trigger:
    """The wire order type of a Place: its time in force, or its trigger."""
    return Trigger.from_spec(place.trigger) if place.trigger is not None else place.tif


class Outbound:
    """Sends the adapter's actions as signed batches and turns the answers into events."""

    def __init__(self, adapter: HyperliquidAdapter) -> None:
        self._adapter = adapter
        #: Tasks awaiting the answer of a batch (``close`` waits for them briefly).
        self.batches: set[asyncio.Task[Any]] = set()
        #: Cloids of batches sent and not yet answered, with how many (the audit leaves them alone).
        self.in_flight: dict[str, int] = {}
        self._post_only_until_ns = 0
        #: When each batch of the latest ``submit`` was handed to the socket or the REST client (adapter clock, ns).
        self.stamps: list[int] = []

    async def submit(self, actions: Sequence[Action]) -> None:
        """Sign and send the actions as one batch per kind (cancels, modifies, places); answers come as events."""
        adapter = self._adapter
        # A fresh list: a late stamp of an earlier call never lands in this call's.
        stamps: list[int] = []
        self.stamps = stamps
        now = adapter.clock.now_ns()
        places: list[Place] = []
        modifies: list[Modify] = []
        cancels: list[Cancel] = []
        room: int | None = None  # places and modifies the rate limits let out now (asked once, on the first)
        for action in actions:
            if action.asset not in adapter.asset_ids:
                self.refuse(action, f"unknown asset {action.asset!r}", now)
            elif isinstance(action, Cancel):
                cancels.append(action)
            elif self._post_only_mode(now) and (action.tif is not Tif.ALO or _is_trigger(action)):
                log.error(
                    "Exchange accepts only post-only orders (after an upgrade): %s order refused",
                    "trigger" if _is_trigger(action) else action.tif.value,
                    extra={"fields": {"cloid": action.cloid, "reduce_only": action.reduce_only}},
                )
                self.refuse(action, "post-only mode: the exchange accepts only Alo orders for now", now)
            else:
                if room is None:
                    room = adapter._throttle.placing_room()
                if room <= 0:
                    self.refuse(action, "rate budget exhausted (address or IP)", now)
                    continue
                room -= 1
                if isinstance(action, Modify):
                    modifies.append(action)
                else:
                    places.append(action)
        if cancels:
            await self.send_batch("cancel", cancels, stamps=stamps)
        if modifies:
            await self.send_batch("modify", modifies, stamps=stamps)
        if places:
            await self.send_batch("order", places, stamps=stamps)

    async def send_batch(
        self, kind: str, items: Sequence[Action], retried: bool = False, *, stamps: list[int] | None = None
    ) -> None:
        """Record, sign and send one batch; a task awaits the answer and turns it into events.

        :param stamps: gets the adapter clock's time when the batch is handed to the socket or the REST client.
        """
        expires = self.expiry_ms(kind)
        action = self.batch_action(kind, items)
        keys = [getattr(a, "new_cloid", None) or a.cloid for a in items]
        for key in keys:
            self.in_flight[key] = self.in_flight.get(key, 0) + 1
        send, sent = await self._post_action(action, len(items), stamps, expires)
        task = asyncio.ensure_future(self._finish_batch(kind, list(items), send, keys, retried, expires))
        self.batches.add(task)
        task.add_done_callback(self.batches.discard)
        if not sent:
            # Over REST the task sends: let it start now.
            await asyncio.sleep(0)

    def batch_action(self, kind: str, items: Sequence[Action]) -> dict[str, Any]:
        """The unsigned action for a batch of one kind (``order``, ``modify``, ``cancel``), recorded as sent."""
        self.record_sent(kind, items)
        return self.wire_action(kind, items)

    def record_sent(self, kind: str, items: Sequence[Action]) -> None:
        """Enter a batch of one kind in the order registry as sent now."""
        adapter = self._adapter
        now = adapter.clock.now_ns()
        registry = adapter.orders
        if kind == "order":
            for p in items:
                if isinstance(p, Place):
                    registry.placed(p, now)
        elif kind == "modify":
            for m in items:
                if isinstance(m, Modify):
                    registry.modify_sent(m, now)
        else:
            for c in items:
                registry.cancel_sent(c.cloid, now)

    def wire_action(self, kind: str, items: Sequence[Action]) -> dict[str, Any]:
        """The unsigned action for a batch of one kind, built from the items alone (nothing is recorded)."""
        ids = self._adapter.asset_ids  # each item its own asset's id: a batch may mix assets
        if kind == "order":
            # A standalone trigger order goes in the plain "na" grouping, as the SDK sends it.
            return order_action(
                [
                    order_wire(ids[p.asset], p.side is Side.BUY, p.price, p.size, p.reduce_only, _order_type(p),
                               p.cloid)
                    for p in items
                    if isinstance(p, Place)
                ]
            )
        if kind == "modify":
            return batch_modify_action(
                [
                    (m.cloid, order_wire(ids[m.asset], m.side is Side.BUY, m.price, m.size, m.reduce_only, m.tif,
                                         m.new_cloid or m.cloid))
                    for m in items
                    if isinstance(m, Modify)
                ]
            )
        return cancel_by_cloid_action([(ids[c.asset], c.cloid) for c in items])

    def expiry_ms(self, kind: str) -> int | None:
        """The ``expiresAfter`` of a batch of this kind sent now: places and modifies expire
        ``action_expiry_secs`` after they are sent (None: cancels, which may land late harmlessly, or 0 s)."""
        secs = self._adapter.config.action_expiry_secs
        if kind == "cancel" or secs <= 0:
            return None
        return self._adapter._now_ms() + int(secs * 1000)

    def sign(self, action: Mapping[str, Any], expires_after: int | None = None) -> dict[str, Any]:
        """The ``/exchange`` body of an action: a fresh nonce, the signature, the vault address and expiry."""
        adapter = self._adapter
        nonce = adapter.nonces.next()
        signature = adapter.signer.sign_l1_action(
            action, adapter.vault_address, nonce, expires_after, adapter.is_mainnet
        )
        return exchange_request(action, nonce, signature, adapter.vault_address, expires_after)

    async def signed(self, action: Mapping[str, Any], batch_len: int = 1) -> Any:
        """Send an action over REST and return the answer; raise the typed error of an ``err`` answer."""
        adapter = self._adapter
        body = self.sign(action)
        adapter.limits.address.spend(batch_len)
        try:
            answer = await adapter.rest.exchange(codec.dumps(body), batch_len)
            raise_for_status(answer)
        except hl_errors.RateLimited as exc:
            adapter._throttle.rate_limited(exc.message)
            raise
        return answer

    async def _post_action(
        self, action: Mapping[str, Any], batch_len: int, stamps: list[int] | None, expires_after: int | None = None
    ) -> tuple[Awaitable[Any], bool]:
        """Sign now and, when the WebSocket is up, send now; return an awaitable of the answer and whether the
        bytes already left (over REST the batch task sends them).

        The WebSocket send happens here rather than in the batch task so that no other ready work on the event
        loop runs between deciding and sending. Whatever the send raises is raised again by the awaitable, inside
        the batch task, where every outcome is handled.
        """
        adapter = self._adapter
        body = self.sign(action, expires_after)
        adapter.limits.address.spend(batch_len)
        ws = adapter._ws
        if not (adapter.config.use_ws_post and ws is not None and ws.up):
            return self._post_rest(body, batch_len, stamps), False
        try:
            future = await ws.send_post("action", body)
        except ConnectionLost:
            # Not sent: the socket was already closed. REST is the fallback.
            return self._post_rest(body, batch_len, stamps), False
        except Exception as exc:  # handed to the batch task, which logs and settles every outcome
            return _raise(exc), True
        if stamps is not None:
            stamps.append(adapter.clock.now_ns())
        adapter.limits.ip.spend(action_weight(batch_len))
        return self._answer(future), True

    async def _post_rest(self, body: Mapping[str, Any], batch_len: int, stamps: list[int] | None) -> Any:
        data = codec.dumps(body)
        if stamps is not None:
            # Handed to the REST client, whose worker thread sends it: its HTTP time is not in the stamp.
            stamps.append(self._adapter.clock.now_ns())
        return await self._adapter.rest.exchange(data, batch_len)

    async def _answer(self, future: asyncio.Future[Any]) -> Any:
        """The answer to a batch posted over the WebSocket, or :class:`OutcomeUnknown` after the post timeout."""
        timeout = self._adapter.config.post_timeout_secs
        try:
            return await asyncio.wait_for(future, timeout)
        except TimeoutError:
            raise OutcomeUnknown(f"no answer over the WebSocket within {timeout} s") from None

    async def _finish_batch(
        self,
        kind: str,
        items: list[Action],
        send: Awaitable[Any],
        keys: list[str],
        retried: bool,
        expires_after: int | None = None,
    ) -> None:
        adapter = self._adapter
        emitter = adapter._emitter
        try:
            try:
                answer = await send
                if kind == "cancel":
                    results: list[Any] = parse_cancel_statuses(answer, len(items))
                else:
                    results = parse_order_statuses(answer, len(items))
            except hl_errors.RateLimited as exc:
                adapter._throttle.rate_limited(exc.message)
                self.reject_all(kind, items, f"rate limited: {exc.message}")
                return
            except NotSent as exc:
                self.reject_all(kind, items, f"not sent: {exc.message}")
                return
            except (OutcomeUnknown, ConnectionLost, TransportError, hl_errors.MalformedResponse) as exc:
                log.warning(
                    "Action outcome unknown; asking the exchange",
                    extra={"fields": {"kind": kind, "orders": len(items), "error": str(exc)}},
                )
                await adapter._outcomes.recover(kind, items, retried, expires_after)
                return
            except hl_errors.ExchangeRejected as exc:
                self._note_rejection(exc)
                self.reject_all(kind, items, exc.message)
                return
            if kind == "order":
                exists: list[Place] = []
                for place, result in zip(items, results, strict=True):
                    assert isinstance(place, Place)
                    if not self.place_result(place, result):
                        exists.append(place)
                if exists:
                    # An order with the cloid is open (the original of a resend landed after all): follow it.
                    await adapter._outcomes.follow_existing(exists)
            elif kind == "modify":
                failed = [
                    m.cloid for m, r in zip(items, results, strict=True)
                    if isinstance(m, Modify) and not self._modify_result(m, r)
                ]
                if failed:
                    # A modify of an order that is gone: find out how it ended.
                    await adapter._outcomes.settle(failed)
            else:
                gone: list[str] = []
                for cancel, result in zip(items, results, strict=True):
                    if result.ok:
                        emitter.update(cancel.asset, cancel.cloid, OrderStatus.CANCELLED)
                    else:
                        emitter.update(cancel.asset, cancel.cloid, OrderStatus.RESTING,
                                       reason=CANCEL_FAILED_PREFIX + (result.error or ""))
                        gone.append(cancel.cloid)
                if gone:
                    # "Never placed, already canceled, or filled": find out which, so the engine learns it.
                    await adapter._outcomes.settle(gone)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must not kill the loop silently: log it, let the audit repair
            log.error("Failed to process an action answer", exc_info=exc, extra={"fields": {"kind": kind}})
        finally:
            for key in keys:
                left = self.in_flight.get(key, 0) - 1
                if left > 0:
                    self.in_flight[key] = left
                else:
                    self.in_flight.pop(key, None)

    def place_result(self, place: Place, result: OrderResult) -> bool:
        """Emit the answer to one place: RESTING with its oid, FILLED (or what is left of it), or REJECTED.

        False, emitting nothing, when the exchange says an open order already has the cloid: ours, which the
        caller then looks up (cloids carry this run's prefix, so it is the original of a resend).
        """
        emitter = self._adapter._emitter
        if result.kind in (OrderResultKind.RESTING, OrderResultKind.WAITING):
            emitter.update(place.asset, place.cloid, OrderStatus.RESTING, oid=result.oid, price=place.price,
                           size=place.size)
        elif result.kind is OrderResultKind.FILLED:
            total = result.total_sz or ZERO
            if total >= place.size:
                emitter.update(place.asset, place.cloid, OrderStatus.FILLED, oid=result.oid)
            elif place.tif is Tif.IOC:
                emitter.update(place.asset, place.cloid, OrderStatus.CANCELLED, oid=result.oid,
                               reason=IOC_REMAINDER)
            else:
                emitter.update(place.asset, place.cloid, OrderStatus.PARTIALLY_FILLED, oid=result.oid)
        else:
            text = result.error or "rejected"
            error = hl_errors.error_from_message(text)
            if isinstance(error, hl_errors.DuplicateCloid):
                return False
            self._note_rejection(error)
            emitter.update(place.asset, place.cloid, OrderStatus.REJECTED, price=place.price, size=place.size,
                           reason=text, crossed=isinstance(error, hl_errors.PostOnlyWouldCross))
        return True

    def _modify_result(self, modify: Modify, result: OrderResult) -> bool:
        """Emit the answer to one modify; False when the exchange refused it."""
        emitter = self._adapter._emitter
        key = modify.new_cloid or modify.cloid
        ok = True
        if result.kind in (OrderResultKind.RESTING, OrderResultKind.WAITING):
            emitter.update(modify.asset, key, OrderStatus.RESTING, oid=result.oid, price=modify.price,
                           size=modify.size, answering=modify)
        elif result.kind is OrderResultKind.FILLED:
            emitter.update(modify.asset, key, OrderStatus.FILLED, oid=result.oid, answering=modify)
        else:
            text = result.error or "rejected"
            error = hl_errors.error_from_message(text)
            self._note_rejection(error)
            emitter.update(modify.asset, modify.cloid, OrderStatus.REJECTED, reason=f"{MODIFY_FAILED_PREFIX} {text}",
                           crossed=isinstance(error, hl_errors.PostOnlyWouldCross))
            ok = False
        emitter.release_deferred(key, modify.cloid)
        return ok

    def reject_all(self, kind: str, items: Sequence[Action], reason: str) -> None:
        """Answer every action of a batch that did not reach the book as refused (not counted as refused)."""
        for item in items:
            self.refuse(item, reason, self._adapter.clock.now_ns(), kind_sent=kind)

    def refuse(self, action: Action, reason: str, now: int, kind_sent: str | None = None) -> None:
        """Turn an action that will not (or did not) reach the book into the answer the order manager expects."""
        adapter = self._adapter
        emitter = adapter._emitter
        if kind_sent is None:
            adapter.refused += 1
        if isinstance(action, Place):
            emitter.emit(OrderUpdate(action.asset, action.cloid, OrderStatus.REJECTED, now, now, price=action.price,
                                     size=action.size, reason=reason))
        elif isinstance(action, Modify):
            emitter.emit(OrderUpdate(action.asset, action.cloid, OrderStatus.REJECTED, now, now,
                                     reason=f"{MODIFY_FAILED_PREFIX} {reason}"))
            emitter.release_deferred(action.new_cloid or action.cloid, action.cloid)
        else:
            emitter.emit(OrderUpdate(action.asset, action.cloid, OrderStatus.RESTING, now, now,
                                     reason=CANCEL_FAILED_PREFIX + reason))

    def _note_rejection(self, error: hl_errors.ExchangeRejected) -> None:
        adapter = self._adapter
        if isinstance(error, hl_errors.RateLimited):
            adapter._throttle.rate_limited(error.message)
        elif isinstance(error, hl_errors.PostOnlyModeOnly):
            if not self._post_only_mode(adapter.clock.now_ns()):
                log.error(
                    "Exchange is in post-only mode (network upgrade): quoting continues with Alo orders only",
                    extra={"fields": {"hold_secs": adapter.config.post_only_hold_secs}},
                )
            self._post_only_until_ns = adapter.clock.now_ns() + int(adapter.config.post_only_hold_secs * NS_PER_S)

    def _post_only_mode(self, now: int) -> bool:
        return now < self._post_only_until_ns


async def _raise(exc: BaseException) -> Any:
    """An awaitable that raises ``exc``: a send's failure, surfaced where the batch's outcome is handled."""
    raise exc
