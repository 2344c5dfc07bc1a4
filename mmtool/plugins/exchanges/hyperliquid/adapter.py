"""The ``hyperliquid`` exchange adapter: mainnet, testnet and the local exchange behind one protocol.

Events come from one WebSocket (book, trades, mids, our fills, order updates, user events, asset context) and
are translated by :mod:`.messages`; a Timer is emitted every second. Actions go out as one signed batch per kind
and submit call (Places as one ``order``, Modifies as one ``batchModify``, Cancels as one ``cancelByCloid``),
posted over the WebSocket when it is up and over REST otherwise; ``submit`` returns once the bytes are sent and
the answers come back later as events. Safety around that:

- an action whose outcome is unknown (timeout, dropped socket, 5xx) is never resent blindly: the adapter asks
  ``orderStatus`` by cloid first, then resends only what the exchange never saw (cancels are idempotent);
- on a disconnect it emits ``Connection(up=False)``, reconnects with jittered exponential backoff, resubscribes,
  fetches the fills it missed (``userFillsByTime``, deduplicated by trade id), audits orders and position, and
  only then emits ``Connection(up=True)``;
- an audit every few seconds cancels orphan orders, settles orders the exchange no longer lists, recovers missed
  fills and logs and counts every discrepancy (:attr:`HyperliquidAdapter.discrepancies`);
- a dead man's switch (``scheduleCancel``) is refreshed while the loop is healthy and cleared on a clean exit;
- the request weight and the address budget are accounted (:attr:`HyperliquidAdapter.limits`); 429s become
  ``RateLimited`` events and :meth:`HyperliquidAdapter.tolerance_multiplier` widens as the budget runs low.

Trigger orders (a ``Place`` with ``trigger``) go out in the same ``order`` batch with a ``{"trigger": ...}`` order
type and grouping ``na``. The exchange acknowledges one with ``resting`` (or ``waitingForTrigger``), says
``triggered`` when it fires, then fills it: each of these reaches the engine as an ``OrderUpdate`` (RESTING, then
RESTING again, then the fill and FILLED). ``open_orders`` reports a listed trigger order with its trigger.

Trading with an agent (API wallet) key: the key signs, ``network.account_address`` (or ``network.vault_address``
for a vault or subaccount, which is also sent as ``vaultAddress``) is the account whose state is read.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mmtool.core.clock import Clock, WallClock
from mmtool.core.errors import ConfigError, ExchangeError
from mmtool.core.rounding import AssetRules
from mmtool.core.tracking import MODIFY_FAILED_PREFIX
from mmtool.core.types import (
    ZERO,
    Action,
    Cancel,
    Connection,
    Event,
    Fill,
    Modify,
    Order,
    OrderStatus,
    OrderUpdate,
    Place,
    Position,
    PositionSnapshot,
    RateLimited,
    RequoteTolerance,
    Side,
    Tif,
    Timer,
)
from mmtool.plugins.exchanges.hyperliquid import codec, messages
from mmtool.plugins.exchanges.hyperliquid import errors as hl_errors
from mmtool.plugins.exchanges.hyperliquid.config import NETWORK_URLS, HyperliquidConfig
from mmtool.plugins.exchanges.hyperliquid.nonce import NonceManager
from mmtool.plugins.exchanges.hyperliquid.ratelimit import AddressBudget, IpWeights, RateLimits, action_weight
from mmtool.plugins.exchanges.hyperliquid.reconcile import ExchangeOrder, audit_orders
from mmtool.plugins.exchanges.hyperliquid.rest import NotSent, OutcomeUnknown, RestClient, TransportError
from mmtool.plugins.exchanges.hyperliquid.signing import Signer, address_to_bytes
from mmtool.plugins.exchanges.hyperliquid.state import CANCEL_FAILED_PREFIX, FillLedger, OrderRegistry
from mmtool.plugins.exchanges.hyperliquid.wire import (
    OrderResult,
    OrderResultKind,
    Trigger,
    batch_modify_action,
    cancel_action,
    cancel_by_cloid_action,
    exchange_request,
    order_action,
    order_wire,
    parse_cancel_statuses,
    parse_order_statuses,
    raise_for_status,
    schedule_cancel_action,
    update_leverage_action,
)
from mmtool.plugins.exchanges.hyperliquid.ws import ConnectionLost, WsConnection, ws_url

if TYPE_CHECKING:
    from mmtool.core.components import ComponentContext

log = logging.getLogger("mmtool.hyperliquid")

NS = 1_000_000_000
MS = 1_000_000
IOC_REMAINDER = "ioc remainder canceled"
NOT_LISTED = "no longer listed by the exchange"
NEVER_SEEN = "never reached the exchange"


def _is_mainnet(network: str) -> bool:
    return network == "mainnet"


def _is_trigger(action: Action) -> bool:
    return isinstance(action, Place) and action.trigger is not None


def _order_type(place: Place) -> Tif | Trigger:
    """The wire order type of a Place: its time in force, or its trigger."""
    return Trigger.from_spec(place.trigger) if place.trigger is not None else place.tif


class HyperliquidAdapter:
    """Hyperliquid perpetuals (mainnet, testnet, local exchange): signed batches out, WebSocket events in."""

    name: ClassVar[str] = "hyperliquid"
    Config: ClassVar[type[HyperliquidConfig]] = HyperliquidConfig
    #: The engine may send Modify actions (``batchModify``).
    supports_modify: ClassVar[bool] = True

    def __init__(
        self,
        config: HyperliquidConfig,
        *,
        asset: str,
        network: str,
        private_key: str,
        base_url: str | None = None,
        account_address: str | None = None,
        vault_address: str | None = None,
        leverage: int | None = None,
        clock: Clock | None = None,
    ) -> None:
        if network not in NETWORK_URLS and base_url is None:
            served = ", ".join(NETWORK_URLS)
            raise ConfigError(f"network.name: the hyperliquid adapter serves {served} (got {network!r})")
        self.config = config
        self.asset = asset
        self.network = network
        self.is_mainnet = _is_mainnet(network)
        self.base_url = (base_url or NETWORK_URLS[network]).rstrip("/")
        self.ws_url = ws_url(self.base_url)
        self.signer = Signer(private_key)
        for field, value in (("account_address", account_address), ("vault_address", vault_address)):
            if value is not None:
                try:
                    address_to_bytes(value)
                except ValueError as exc:
                    raise ConfigError(f"network.{field}: {exc}") from None
        self.vault_address = vault_address.lower() if vault_address else None
        #: The account whose state is read: the vault or subaccount, else the master account, else the signer.
        self.user = (vault_address or account_address or self.signer.address).lower()
        self.leverage = leverage
        self.clock: Clock = clock or WallClock()
        nonce_path = self._nonce_path(config.nonce_state_path)
        self.nonces = NonceManager(lambda: self.clock.now_ns() // MS, nonce_path)
        self.limits = RateLimits(
            IpWeights(config.ip_weight_per_minute),
            AddressBudget(),
            low_water=config.budget_low_water,
            max_multiplier=config.max_tolerance_multiplier,
        )
        self.rest = RestClient(
            self.base_url,
            self.limits,
            timeout_s=config.request_timeout_secs,
            connect_timeout_s=config.connect_timeout_secs,
            retries=config.info_retries,
            on_rate_limited=self._on_rate_limited,
        )
        self.orders = OrderRegistry()
        self.ledger = FillLedger(asset)
        self.asset_ids: dict[str, int] = {}
        self._rules: dict[str, AssetRules] = {}
        self.mid: Decimal | None = None
        self.asset_ctx: Mapping[str, Any] = {}
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        self._ws: WsConnection | None = None
        self._connected = False
        self._closing = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._batches: set[asyncio.Task[Any]] = set()
        self._in_flight: dict[str, int] = {}
        self._audit_lock = asyncio.Lock()
        self._rng = random.Random()
        self._last_pull_ns = 0
        self._post_only_until_ns = 0
        self._budget_blocked = False
        self._dead_man_armed = False
        self._dead_man_errors: set[str] = set()
        self._last_remaining = -1
        #: Discrepancies the audit found (orphans, missing orders, mismatches, position), lifetime.
        self.discrepancies = 0
        #: Fills recovered by REST after being missed on the WebSocket.
        self.recovered_fills = 0
        #: WebSocket reconnections after a drop.
        self.reconnects = 0
        #: Messages that were not the documented shape (logged and skipped).
        self.malformed = 0
        #: Actions refused locally (post-only mode, rate budget, unknown asset).
        self.refused = 0

    @classmethod
    def from_config(cls, config: HyperliquidConfig, ctx: ComponentContext) -> HyperliquidAdapter:
        """Build the adapter for the context's asset and the settings' network, key and account."""
        settings = ctx.settings
        net = settings.network
        if not settings.private_key:
            raise ConfigError(
                f"network.name: {net.name!r} needs a private key: set HYPERLIQUID_PRIVATE_KEY or "
                "HYPERLIQUID_KEY_FILE (a 0600 file); it is never read from the config"
            )
        try:
            return cls(
                config,
                asset=ctx.asset,
                network=net.name,
                private_key=settings.private_key,
                base_url=net.base_url,
                account_address=net.account_address,
                vault_address=net.vault_address,
                leverage=settings.trading.leverage,
            )
        except ValueError as exc:  # the Signer's messages never carry the key
            raise ConfigError(f"private key: {exc}") from None

    def _nonce_path(self, template: str) -> Path | None:
        if not template:
            return None
        return Path(template.format(address=self.signer.address.lower())).expanduser()

    # ------------------------------------------------------------------------------------------ metrics

    @property
    def budget_headroom(self) -> int:
        """Address requests left before the exchange throttles us (for metrics)."""
        return self.limits.headroom

    def tolerance_multiplier(self) -> float:
        """Factor for ``trading.max_bps_diff``: 1 with ample rate budget, up to ``max_tolerance_multiplier``."""
        return self.limits.tolerance_multiplier()

    def mid_price(self) -> Decimal | None:
        """The asset's latest mid (from allMids), for sizing checks before trading."""
        return self.mid

    @property
    def connected(self) -> bool:
        """True while the WebSocket is up and resynchronised."""
        return self._connected

    # -------------------------------------------------------------------------------------- the protocol

    def rules(self, asset: str) -> AssetRules:
        """Tick, lot and leverage rules of an asset, from ``meta`` (after ``connect``)."""
        try:
            return self._rules[asset]
        except KeyError:
            raise ExchangeError(f"hyperliquid: unknown asset {asset!r} (connect first, or check the name)") from None

    async def connect(self) -> None:
        """Load metadata, account state and rate limits, open the WebSocket, cancel orphans, start the timers."""
        log.info(
            "Connecting to Hyperliquid",
            extra={
                "fields": {
                    "network": self.network,
                    "url": self.base_url,
                    "signer": self.signer.address,
                    "account": self.user,
                    "vault": self.vault_address,
                }
            },
        )
        try:
            await self._load_meta()
            mids = await self.rest.info({"type": "allMids"})
            if isinstance(mids, Mapping) and mids.get(self.asset) is not None:
                self.mid = messages.dec(mids[self.asset], "mid")
            position, _ = await self._exchange_position()
            self.ledger.position = position
            await self._refresh_rate_limit()
            history = await self.rest.info({"type": "userFills", "user": self.user})
            for item in history if isinstance(history, list) else []:
                if isinstance(item, Mapping) and item.get("tid") is not None:
                    self.ledger.seed(str(item["tid"]), item.get("time", 0) if isinstance(item.get("time"), int) else 0)
            self.ledger.last_fill_ms = max(self.ledger.last_fill_ms, self._now_ms())
            if self.config.set_leverage and self.leverage:
                await self._set_leverage(self.leverage)
            self._ws = await self._open_ws()
            await self._audit(grace_ns=0, why="connect")
        except BaseException:
            await self._shutdown_io()
            raise
        self._connected = True
        self._last_pull_ns = self.clock.now_ns()
        self._spawn(self._supervise(), "hl-supervisor")
        self._spawn(self._tick(), "hl-timer")
        self._spawn(self._every(self.config.rate_limit_refresh_secs, self._refresh_rate_limit), "hl-ratelimit")
        if self.config.audit_interval_secs > 0:
            self._spawn(self._every(self.config.audit_interval_secs, self._periodic_audit), "hl-audit")
        if self.config.dead_man_switch:
            self._spawn(self._dead_man(), "hl-deadman")
        log.info(
            "Connected to Hyperliquid",
            extra={
                "fields": {
                    "asset": self.asset,
                    "asset_id": self.asset_ids[self.asset],
                    "sz_decimals": self._rules[self.asset].sz_decimals,
                    "position": str(self.ledger.position),
                    "budget_headroom": self.budget_headroom,
                }
            },
        )

    async def events(self) -> AsyncIterator[Event]:
        """Core events as they arrive, with a Timer at least every second; ends when the adapter closes."""
        while True:
            event = await self._queue.get()
            if event is None:
                return
            self._last_pull_ns = self.clock.now_ns()
            yield event

    async def submit(self, actions: Sequence[Action]) -> None:
        """Sign and send the actions as one batch per kind (cancels, modifies, places); answers come as events."""
        now = self.clock.now_ns()
        places: list[Place] = []
        modifies: list[Modify] = []
        cancels: list[Cancel] = []
        for action in actions:
            if action.asset not in self.asset_ids:
                self._refuse(action, f"unknown asset {action.asset!r}", now)
            elif isinstance(action, Cancel):
                cancels.append(action)
            elif self._post_only_mode(now) and (action.tif is not Tif.ALO or _is_trigger(action)):
                log.error(
                    "Exchange accepts only post-only orders (after an upgrade): %s order refused",
                    "trigger" if _is_trigger(action) else action.tif.value,
                    extra={"fields": {"cloid": action.cloid, "reduce_only": action.reduce_only}},
                )
                self._refuse(action, "post-only mode: the exchange accepts only Alo orders for now", now)
            elif self.limits.headroom <= self.config.cancel_reserve:
                if not self._budget_blocked:
                    self._budget_blocked = True
                    log.error(
                        "Address rate budget exhausted: placing stops, cancels go on",
                        extra={"fields": {"headroom": self.limits.headroom, "reserve": self.config.cancel_reserve}},
                    )
                self._refuse(action, "address rate budget exhausted", now)
            elif isinstance(action, Modify):
                modifies.append(action)
            else:
                places.append(action)
        if cancels:
            await self._send_batch("cancel", cancels)
        if modifies:
            await self._send_batch("modify", modifies)
        if places:
            await self._send_batch("order", places)

    async def open_orders(self) -> list[Order]:
        """Our open orders on the asset according to the exchange (``frontendOpenOrders``)."""
        now = self.clock.now_ns()
        return [
            Order(
                cloid=o.cloid or f"oid:{o.oid}",
                asset=o.coin,
                side=o.side,
                price=o.price,
                size=o.size,
                status=OrderStatus.RESTING,
                oid=o.oid,
                created_ns=now,
                updated_ns=now,
                trigger=o.trigger,
            )
            for o in await self._listed_ours()
        ]

    async def position(self) -> Position:
        """Our position on the asset according to the exchange (``clearinghouseState``)."""
        size, entry = await self._exchange_position()
        return Position(self.asset, size, entry)

    async def account_value(self) -> float:
        """The account's value in USDC (``marginSummary.accountValue``)."""
        state = await self.rest.info({"type": "clearinghouseState", "user": self.user})
        try:
            return float(state["marginSummary"]["accountValue"])
        except (KeyError, TypeError, ValueError) as exc:
            raise hl_errors.MalformedResponse("clearinghouseState without marginSummary.accountValue") from exc

    async def cancel_all(self) -> int:
        """Cancel every open order of ours on the asset at the exchange; return how many it still lists."""
        listed = await self._listed_ours()
        if listed:
            await self._cancel_listed(listed, why="cancel_all")
            listed = await self._listed_ours()
        self._last_remaining = len(listed)
        return self._last_remaining

    async def close(self) -> None:
        """Clear the dead man's switch after a clean exit, stop the tasks and close the connections."""
        if self._closing:
            return
        self._closing = True
        self._connected = False
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._batches:
            await asyncio.wait(list(self._batches), timeout=2.0)
        if self._dead_man_armed:
            if self._last_remaining == 0:
                await self._schedule_cancel(None)
            else:
                log.warning(
                    "Dead man's switch left armed: orders may still rest",
                    extra={"fields": {"open_orders": self._last_remaining}},
                )
        await self._shutdown_io()
        self._queue.put_nowait(None)

    # --------------------------------------------------------------------------------------------- sending

    async def _send_batch(self, kind: str, items: Sequence[Action], retried: bool = False) -> None:
        """Record, sign and send one batch; a task awaits the answer and turns it into events."""
        action = self.batch_action(kind, items)
        keys = [getattr(a, "new_cloid", None) or a.cloid for a in items]
        for key in keys:
            self._in_flight[key] = self._in_flight.get(key, 0) + 1
        send = self._post_action(action, len(items))
        task = asyncio.ensure_future(self._finish_batch(kind, list(items), send, keys, retried))
        self._batches.add(task)
        task.add_done_callback(self._batches.discard)
        # Let the send start now (the bytes leave within this call when the socket is up).
        await asyncio.sleep(0)

    def batch_action(self, kind: str, items: Sequence[Action]) -> dict[str, Any]:
        """The unsigned action for a batch of one kind (``order``, ``modify``, ``cancel``), recorded as sent."""
        now = self.clock.now_ns()
        asset_id = self.asset_ids[items[0].asset]
        if kind == "order":
            places = [a for a in items if isinstance(a, Place)]
            for p in places:
                self.orders.placed(p, now)
            # A standalone trigger order goes in the plain "na" grouping, as the SDK sends it.
            return order_action(
                [
                    order_wire(asset_id, p.side is Side.BUY, p.price, p.size, p.reduce_only, _order_type(p), p.cloid)
                    for p in places
                ]
            )
        if kind == "modify":
            modifies = [a for a in items if isinstance(a, Modify)]
            for m in modifies:
                self.orders.modify_sent(m, now)
            return batch_modify_action(
                [
                    (m.cloid, order_wire(asset_id, m.side is Side.BUY, m.price, m.size, m.reduce_only, m.tif,
                                         m.new_cloid or m.cloid))
                    for m in modifies
                ]
            )
        for c in items:
            self.orders.cancel_sent(c.cloid, now)
        return cancel_by_cloid_action([(asset_id, c.cloid) for c in items])

    def sign(self, action: Mapping[str, Any]) -> dict[str, Any]:
        """The ``/exchange`` body of an action: a fresh nonce, the signature, the vault address."""
        nonce = self.nonces.next()
        signature = self.signer.sign_l1_action(action, self.vault_address, nonce, None, self.is_mainnet)
        return exchange_request(action, nonce, signature, self.vault_address)

    def _post_action(self, action: Mapping[str, Any], batch_len: int) -> Awaitable[Any]:
        """Sign now; return an awaitable of the answer (over the WebSocket when up, else REST)."""
        body = self.sign(action)
        self.limits.address.spend(batch_len)
        ws = self._ws
        if self.config.use_ws_post and ws is not None and ws.up:
            return self._post_ws(ws, body, batch_len)
        return self.rest.exchange(codec.dumps(body), batch_len)

    async def _post_ws(self, ws: WsConnection, body: Mapping[str, Any], batch_len: int) -> Any:
        try:
            future = await ws.send_post("action", body)
        except ConnectionLost:
            # Not sent: the socket was already closed. REST is the fallback.
            return await self.rest.exchange(codec.dumps(body), batch_len)
        self.limits.ip.spend(action_weight(batch_len))
        try:
            return await asyncio.wait_for(future, self.config.post_timeout_secs)
        except TimeoutError:
            raise OutcomeUnknown(f"no answer over the WebSocket within {self.config.post_timeout_secs} s") from None

    async def _finish_batch(
        self, kind: str, items: list[Action], send: Awaitable[Any], keys: list[str], retried: bool
    ) -> None:
        try:
            try:
                answer = await send
                if kind == "cancel":
                    results: list[Any] = parse_cancel_statuses(answer, len(items))
                else:
                    results = parse_order_statuses(answer, len(items))
            except hl_errors.RateLimited as exc:
                self._emit_rate_limited(exc.message)
                self._reject_all(kind, items, f"rate limited: {exc.message}")
                return
            except NotSent as exc:
                self._reject_all(kind, items, f"not sent: {exc.message}")
                return
            except (OutcomeUnknown, ConnectionLost, TransportError, hl_errors.MalformedResponse) as exc:
                log.warning(
                    "Action outcome unknown; asking the exchange",
                    extra={"fields": {"kind": kind, "orders": len(items), "error": str(exc)}},
                )
                await self._recover(kind, items, retried)
                return
            except hl_errors.ExchangeRejected as exc:
                self._note_rejection(exc)
                self._reject_all(kind, items, exc.message)
                return
            if kind == "order":
                for place, result in zip(items, results, strict=True):
                    assert isinstance(place, Place)
                    self._place_result(place, result)
            elif kind == "modify":
                failed = [
                    m.cloid for m, r in zip(items, results, strict=True)
                    if isinstance(m, Modify) and not self._modify_result(m, r)
                ]
                if failed:
                    # A modify of an order that is gone: find out how it ended.
                    await self._settle(failed)
            else:
                gone: list[str] = []
                for cancel, result in zip(items, results, strict=True):
                    if result.ok:
                        self._emit_update(cancel.asset, cancel.cloid, OrderStatus.CANCELLED)
                    else:
                        self._emit_update(cancel.asset, cancel.cloid, OrderStatus.RESTING,
                                          reason=CANCEL_FAILED_PREFIX + (result.error or ""))
                        gone.append(cancel.cloid)
                if gone:
                    # "Never placed, already canceled, or filled": find out which, so the engine learns it.
                    await self._settle(gone)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must not kill the loop silently: log it, let the audit repair
            log.error("Failed to process an action answer", exc_info=exc, extra={"fields": {"kind": kind}})
        finally:
            for key in keys:
                left = self._in_flight.get(key, 0) - 1
                if left > 0:
                    self._in_flight[key] = left
                else:
                    self._in_flight.pop(key, None)

    def _place_result(self, place: Place, result: OrderResult) -> None:
        if result.kind in (OrderResultKind.RESTING, OrderResultKind.WAITING):
            self._emit_update(place.asset, place.cloid, OrderStatus.RESTING, oid=result.oid, price=place.price,
                              size=place.size)
        elif result.kind is OrderResultKind.FILLED:
            total = result.total_sz or ZERO
            if total >= place.size:
                self._emit_update(place.asset, place.cloid, OrderStatus.FILLED, oid=result.oid)
            elif place.tif is Tif.IOC:
                self._emit_update(place.asset, place.cloid, OrderStatus.CANCELLED, oid=result.oid,
                                  reason=IOC_REMAINDER)
            else:
                self._emit_update(place.asset, place.cloid, OrderStatus.PARTIALLY_FILLED, oid=result.oid)
        else:
            text = result.error or "rejected"
            self._note_rejection(hl_errors.error_from_message(text))
            self._emit_update(place.asset, place.cloid, OrderStatus.REJECTED, price=place.price, size=place.size,
                              reason=text)

    def _modify_result(self, modify: Modify, result: OrderResult) -> bool:
        """Emit the answer to one modify; False when the exchange refused it."""
        key = modify.new_cloid or modify.cloid
        ok = True
        if result.kind in (OrderResultKind.RESTING, OrderResultKind.WAITING):
            self._emit_update(modify.asset, key, OrderStatus.RESTING, oid=result.oid, price=modify.price,
                              size=modify.size)
        elif result.kind is OrderResultKind.FILLED:
            self._emit_update(modify.asset, key, OrderStatus.FILLED, oid=result.oid)
        else:
            text = result.error or "rejected"
            self._note_rejection(hl_errors.error_from_message(text))
            self._emit_update(modify.asset, modify.cloid, OrderStatus.REJECTED,
                              reason=f"{MODIFY_FAILED_PREFIX} {text}")
            ok = False
        self._release_deferred(key)
        return ok

    def _reject_all(self, kind: str, items: Sequence[Action], reason: str) -> None:
        for item in items:
            self._refuse(item, reason, self.clock.now_ns(), kind_sent=kind)

    def _refuse(self, action: Action, reason: str, now: int, kind_sent: str | None = None) -> None:
        """Turn an action that will not (or did not) reach the book into the answer the order manager expects."""
        if kind_sent is None:
            self.refused += 1
        if isinstance(action, Place):
            self._emit(OrderUpdate(action.asset, action.cloid, OrderStatus.REJECTED, now, now, price=action.price,
                                   size=action.size, reason=reason))
        elif isinstance(action, Modify):
            self._emit(OrderUpdate(action.asset, action.cloid, OrderStatus.REJECTED, now, now,
                                   reason=f"{MODIFY_FAILED_PREFIX} {reason}"))
            self._release_deferred(action.new_cloid or action.cloid)
        else:
            self._emit(OrderUpdate(action.asset, action.cloid, OrderStatus.RESTING, now, now,
                                   reason=CANCEL_FAILED_PREFIX + reason))

    def _note_rejection(self, error: hl_errors.ExchangeRejected) -> None:
        if isinstance(error, hl_errors.RateLimited):
            self._emit_rate_limited(error.message)
        elif isinstance(error, hl_errors.PostOnlyModeOnly):
            if not self._post_only_mode(self.clock.now_ns()):
                log.error(
                    "Exchange is in post-only mode (network upgrade): quoting continues with Alo orders only",
                    extra={"fields": {"hold_secs": self.config.post_only_hold_secs}},
                )
            self._post_only_until_ns = self.clock.now_ns() + int(self.config.post_only_hold_secs * NS)

    def _post_only_mode(self, now: int) -> bool:
        return now < self._post_only_until_ns

    # ------------------------------------------------------------------------------------- unknown outcomes

    async def _order_status(self, cloid: str) -> Mapping[str, Any] | None:
        """The exchange's ``{"order", "status", "statusTimestamp"}`` for a cloid, or None when it never saw it."""
        answer = await self.rest.info({"type": "orderStatus", "user": self.user, "oid": cloid})
        if not isinstance(answer, Mapping):
            raise hl_errors.MalformedResponse("orderStatus: expected an object")
        if answer.get("status") == "order" and isinstance(answer.get("order"), Mapping):
            return answer["order"]
        if answer.get("status") == "unknownOid":
            return None
        raise hl_errors.MalformedResponse(f"orderStatus: unexpected answer {answer!r}"[:200])

    def _emit_status(self, status: Mapping[str, Any], cloid: str) -> OrderUpdate | None:
        try:
            update = messages.order_update(status, self.clock.now_ns(), cloid=cloid)
        except hl_errors.MalformedResponse as exc:
            self._malformed("orderStatus", exc)
            return None
        if update.asset == self.asset:
            self._route_update(update)
        return update

    async def _recover(self, kind: str, items: list[Action], retried: bool) -> None:
        """Find out what became of a batch whose answer was lost; resend only what the exchange never saw."""
        try:
            resend: list[Action] = []
            for item in items:
                if kind == "order":
                    status = await self._order_status(item.cloid)
                    if status is None:
                        resend.append(item)
                    else:
                        self._emit_status(status, item.cloid)
                elif isinstance(item, Modify):
                    await self._recover_modify(item)
                else:
                    status = await self._order_status(item.cloid)
                    if status is None:
                        self._emit_update(item.asset, item.cloid, OrderStatus.CANCELLED, reason=NEVER_SEEN)
                    elif status.get("status") == "open":
                        resend.append(item)
                    else:
                        self._emit_status(status, item.cloid)
        except (hl_errors.HyperliquidError, ExchangeError) as exc:
            log.error("Could not recover an action's outcome; the audit will", extra={"fields": {"error": str(exc)}})
            return
        if not resend:
            return
        if retried:
            self._reject_all(kind, resend, "outcome unknown twice; not sent again")
            return
        log.warning("Resending what the exchange never saw", extra={"fields": {"kind": kind, "orders": len(resend)}})
        await self._send_batch(kind, resend, retried=True)

    async def _recover_modify(self, modify: Modify) -> None:
        if modify.new_cloid:
            status = await self._order_status(modify.new_cloid)
            if status is not None:
                self._emit_status(status, modify.new_cloid)
                self._release_deferred(modify.new_cloid)
                return
        status = await self._order_status(modify.cloid)
        order = status.get("order") if status else None
        if status is not None and status.get("status") == "open" and isinstance(order, Mapping):
            if order.get("limitPx") == str(modify.price) and order.get("sz") == str(modify.size):
                self._emit_status(status, modify.cloid)
            else:
                self._emit_update(modify.asset, modify.cloid, OrderStatus.REJECTED,
                                  reason=f"{MODIFY_FAILED_PREFIX} outcome unknown; the order rests unchanged")
        elif status is not None:
            self._emit_update(modify.asset, modify.cloid, OrderStatus.REJECTED,
                              reason=f"{MODIFY_FAILED_PREFIX} outcome unknown")
            self._emit_status(status, modify.cloid)
        else:
            self._emit_update(modify.asset, modify.cloid, OrderStatus.REJECTED,
                              reason=f"{MODIFY_FAILED_PREFIX} the exchange does not know the order")
        self._release_deferred(modify.new_cloid or modify.cloid)

    async def _settle(self, cloids: Sequence[str]) -> None:
        """Ask the exchange what became of orders it would not cancel or modify, and emit their end."""
        for cloid in cloids:
            try:
                status = await self._order_status(cloid)
            except (hl_errors.HyperliquidError, ExchangeError) as exc:
                log.warning("orderStatus failed", extra={"fields": {"cloid": cloid, "error": str(exc)}})
                continue
            if status is not None and status.get("status") != "open":
                self._emit_status(status, cloid)

    # ------------------------------------------------------------------------------------------- events

    def _emit(self, event: Event) -> None:
        if isinstance(event, OrderUpdate):
            self.orders.apply(event)
        self._queue.put_nowait(event)

    def _emit_fill(self, fill: Fill) -> bool:
        """Pass on a fill of ours once (dedup by trade id); True when it was new."""
        if not self.ledger.accept(fill):
            return False
        if fill.asset != self.asset:
            return False
        self.orders.apply_fill(fill)
        self._queue.put_nowait(fill)
        return True

    def _emit_update(
        self,
        asset: str,
        cloid: str,
        status: OrderStatus,
        *,
        oid: int | None = None,
        price: Decimal | None = None,
        size: Decimal | None = None,
        reason: str = "",
    ) -> None:
        now = self.clock.now_ns()
        self._emit(OrderUpdate(asset, cloid, status, now, now, oid=oid, price=price, size=size, reason=reason))

    def _emit_rate_limited(self, reason: str) -> None:
        now = self.clock.now_ns()
        self.limits.rate_limited += 1
        self._queue.put_nowait(RateLimited(now, now, reason[:200]))

    def _on_rate_limited(self, reason: str) -> None:
        self._emit_rate_limited(reason)

    def _route_update(self, update: OrderUpdate) -> None:
        """Emit an order update from the exchange, unless a modify explains it (see ``LocalOrder.deferred``)."""
        order = self.orders.get(update.cloid)
        if order is None:
            if not self.orders.knows(update.cloid):
                return  # not one of ours
            self._emit(update)
            return
        if update.status is OrderStatus.CANCELLED and update.oid is not None:
            if update.oid in order.retired_oids:
                return
            if order.modify is not None and update.oid == order.oid:
                order.deferred.append(update)
                return
        self._emit(update)

    def _release_deferred(self, cloid: str) -> None:
        order = self.orders.get(cloid)
        if order is None or order.modify is not None or not order.deferred:
            return
        deferred, order.deferred = order.deferred, []
        for update in deferred:
            if update.oid not in order.retired_oids:
                self._emit(update)

    def _malformed(self, where: str, exc: Exception) -> None:
        self.malformed += 1
        log.warning("Malformed exchange message skipped", extra={"fields": {"channel": where, "error": str(exc)}})

    def _on_message(self, channel: str, data: Any, ts: int) -> None:
        """Translate one WebSocket message (already decoded) into events."""
        try:
            if channel == "l2Book":
                if isinstance(data, Mapping) and data.get("coin") == self.asset:
                    self._queue.put_nowait(messages.book_update(data, ts, self.config.book_depth))
            elif channel == "trades":
                for trade in messages.trades(data, self.asset, ts):
                    self._queue.put_nowait(trade)
            elif channel == "allMids":
                update = messages.mid_update(data, self.asset, ts)
                if update is not None:
                    self.mid = update.mid
                    self._queue.put_nowait(update)
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
                if isinstance(ctx, Mapping) and data.get("coin") == self.asset:
                    self.asset_ctx = ctx
        except hl_errors.MalformedResponse as exc:
            self._malformed(channel, exc)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self._malformed(channel, exc)

    def _on_order_updates(self, data: Any, ts: int) -> None:
        if not isinstance(data, list):
            raise hl_errors.MalformedResponse("orderUpdates: expected a list")
        for item in data:
            order = item.get("order") if isinstance(item, Mapping) else None
            if not isinstance(order, Mapping) or order.get("coin") != self.asset:
                continue
            cloid = order.get("cloid") or (
                self.orders.cloid_of_oid(order["oid"]) if isinstance(order.get("oid"), int) else None
            )
            if cloid is None:
                continue
            self._route_update(messages.order_update(item, ts, cloid=cloid))

    def _fill_from(self, item: Mapping[str, Any], ts: int) -> Fill:
        oid = item.get("oid")
        cloid = self.orders.cloid_of_oid(oid) if isinstance(oid, int) and not item.get("cloid") else None
        return messages.fill(item, ts, cloid=cloid)

    def _on_user_fills(self, data: Any, ts: int) -> None:
        if not isinstance(data, Mapping) or not isinstance(data.get("fills"), list):
            raise hl_errors.MalformedResponse("userFills: expected {user, fills}")
        if data.get("user", self.user).lower() != self.user:
            return
        if data.get("isSnapshot"):
            # Recent history, not new fills: only what is newer than the last fill seen was missed.
            horizon = self.ledger.last_fill_ms
            recovered = 0
            for item in data["fills"]:
                fill = self._fill_from(item, ts)
                if fill.ts_exchange_ns // MS > horizon and self._emit_fill(fill):
                    recovered += 1
                else:
                    self.ledger.seed(fill.trade_id)
            if recovered:
                self.recovered_fills += recovered
                log.warning("Fills recovered from the userFills snapshot", extra={"fields": {"fills": recovered}})
            return
        for item in data["fills"]:
            self._emit_fill(self._fill_from(item, ts))

    def _on_user_event(self, data: Any, ts: int) -> None:
        if not isinstance(data, Mapping):
            raise hl_errors.MalformedResponse("user event: expected an object")
        for item in data.get("fills") or ():
            self._emit_fill(self._fill_from(item, ts))
        funding = data.get("funding")
        if funding is not None:
            event = messages.funding(funding, ts)
            if event.asset == self.asset:
                self._queue.put_nowait(event)
        for item in data.get("nonUserCancel") or ():
            if isinstance(item, Mapping) and item.get("coin") == self.asset and isinstance(item.get("oid"), int):
                cloid = self.orders.cloid_of_oid(item["oid"])
                if cloid is not None:
                    self._route_update(OrderUpdate(self.asset, cloid, OrderStatus.CANCELLED, ts, ts,
                                                   oid=item["oid"], reason="nonUserCancel"))
        if data.get("liquidation") is not None:
            log.critical("Liquidation event", extra={"fields": {"liquidation": str(data["liquidation"])[:300]}})

    # ------------------------------------------------------------------------------------ connection life

    async def _open_ws(self) -> WsConnection:
        ws = await WsConnection.open(
            self.ws_url,
            self._on_message,
            self.clock.now_ns,
            ping_interval_s=self.config.ping_interval_secs,
            open_timeout_s=self.config.connect_timeout_secs,
            compression=self.config.ws_compression,
        )
        subs: list[dict[str, Any]] = [
            {"type": "l2Book", "coin": self.asset},
            {"type": "trades", "coin": self.asset},
            {"type": "activeAssetCtx", "coin": self.asset},
            {"type": "orderUpdates", "user": self.user},
            {"type": "userFills", "user": self.user},
            {"type": "userEvents", "user": self.user},
        ]
        if self.config.subscribe_all_mids:
            subs.insert(0, {"type": "allMids"})
        await ws.subscribe(subs)
        return ws

    async def _supervise(self) -> None:
        """Watch the socket; on a drop, reconnect with jittered backoff, resynchronise, then report it up."""
        while not self._closing:
            ws = self._ws
            assert ws is not None
            reason = await ws.wait_closed()
            if self._closing:
                return
            self._connected = False
            self.reconnects += 1
            dropped_ms = self._now_ms()
            now = self.clock.now_ns()
            self._queue.put_nowait(Connection(False, now, now, reason))
            log.warning("WebSocket lost; reconnecting", extra={"fields": {"reason": reason}})
            delay = self.config.reconnect_min_secs
            while not self._closing:
                await asyncio.sleep(self._rng.uniform(delay / 2, delay))
                try:
                    self._ws = await self._open_ws()
                except Exception as exc:  # any failure to reconnect is retried after a longer pause
                    log.warning("Reconnect failed", extra={"fields": {"error": repr(exc), "next_delay_s": delay}})
                    delay = min(delay * 2, self.config.reconnect_max_secs)
                    continue
                try:
                    await self._resync(dropped_ms)
                except (hl_errors.HyperliquidError, ExchangeError) as exc:
                    log.warning("Resync failed; reconnecting again", extra={"fields": {"error": str(exc)}})
                    await self._ws.close()
                    delay = min(delay * 2, self.config.reconnect_max_secs)
                    continue
                break
            if self._closing:
                return
            self._connected = True
            now = self.clock.now_ns()
            self._queue.put_nowait(Connection(True, now, now, "resynchronised"))
            log.info("WebSocket back and resynchronised", extra={"fields": {"reconnects": self.reconnects}})

    async def _resync(self, dropped_ms: int) -> None:
        """After a reconnect: missed fills first, then the order and position audit (no grace)."""
        since = min(self.ledger.last_fill_ms or dropped_ms, dropped_ms)
        await self._recover_fills(since)
        await self._audit(grace_ns=0, why="reconnect")

    async def _recover_fills(self, since_ms: int) -> int:
        start = max(since_ms - int(self.config.fill_lookback_secs * 1000), 0)
        answer = await self.rest.info(
            {"type": "userFillsByTime", "user": self.user, "startTime": start, "endTime": self._now_ms() + 1000}
        )
        if not isinstance(answer, list):
            raise hl_errors.MalformedResponse("userFillsByTime: expected a list")
        ts = self.clock.now_ns()
        recovered = 0
        for item in sorted(answer, key=lambda f: f.get("time", 0) if isinstance(f, Mapping) else 0):
            try:
                fill = self._fill_from(item, ts)
            except hl_errors.MalformedResponse as exc:
                self._malformed("userFillsByTime", exc)
                continue
            if self._emit_fill(fill):
                recovered += 1
                log.warning(
                    "Missed fill recovered",
                    extra={"fields": {"trade_id": fill.trade_id, "side": fill.side.value, "price": str(fill.price),
                                      "size": str(fill.size)}},
                )
        self.recovered_fills += recovered
        return recovered

    async def _tick(self) -> None:
        sent = 1.0
        while True:
            await asyncio.sleep(self.config.timer_interval_secs)
            now = self.clock.now_ns()
            # Quantised so the engine hears of real changes in budget pressure, not of every request spent.
            wanted = round(self.tolerance_multiplier() * 4.0) / 4.0
            if wanted != sent:
                sent = wanted
                log.warning("Rate budget: requote tolerance x%.2f", wanted,
                            extra={"fields": {"headroom": self.budget_headroom}})
                self._queue.put_nowait(RequoteTolerance(wanted, now, now))
            self._queue.put_nowait(Timer(now, now))

    async def _every(self, interval: float, job: Callable[[], Awaitable[Any]]) -> None:
        while True:
            await asyncio.sleep(interval)
            try:
                await job()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a periodic job failing must not stop the others; it retries next time
                log.warning("Periodic job failed", extra={"fields": {"job": getattr(job, "__name__", "?"),
                                                                      "error": repr(exc)}})

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        self._tasks.append(asyncio.ensure_future(coro))
        self._tasks[-1].set_name(name)

    async def _shutdown_io(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        self.rest.close()

    def _now_ms(self) -> int:
        return self.clock.now_ns() // MS

    # -------------------------------------------------------------------------------------- account reads

    async def _load_meta(self) -> None:
        meta = await self.rest.info({"type": "meta"})
        universe = meta.get("universe") if isinstance(meta, Mapping) else None
        if not isinstance(universe, list):
            raise hl_errors.MalformedResponse("meta: expected a universe list")
        for index, info in enumerate(universe):
            name = info.get("name")
            self.asset_ids[name] = index
            self._rules[name] = AssetRules(name, int(info["szDecimals"]), int(info.get("maxLeverage", 50)))
        if self.asset not in self.asset_ids:
            raise ConfigError(
                f"trading.asset: {self.asset!r} is not listed by {self.base_url} "
                f"(it lists {', '.join(list(self.asset_ids)[:20])})"
            )

    async def _exchange_position(self) -> tuple[Decimal, Decimal]:
        state = await self.rest.info({"type": "clearinghouseState", "user": self.user})
        positions = state.get("assetPositions") if isinstance(state, Mapping) else None
        if not isinstance(positions, list):
            raise hl_errors.MalformedResponse("clearinghouseState without assetPositions")
        for item in positions:
            pos = item.get("position") if isinstance(item, Mapping) else None
            if isinstance(pos, Mapping) and pos.get("coin") == self.asset:
                entry = pos.get("entryPx")
                return messages.dec(pos.get("szi"), "szi"), messages.dec(entry, "entryPx") if entry else ZERO
        return ZERO, ZERO

    async def _refresh_rate_limit(self) -> None:
        answer = await self.rest.info({"type": "userRateLimit", "user": self.user})
        if isinstance(answer, Mapping):
            self.limits.address.update(answer)
            if self._budget_blocked and self.limits.headroom > self.config.cancel_reserve:
                self._budget_blocked = False
                log.warning("Address rate budget available again", extra={"fields": {"headroom": self.limits.headroom}})

    async def _signed(self, action: Mapping[str, Any], batch_len: int = 1) -> Any:
        """Send an action over REST and return the answer; raise the typed error of an ``err`` answer."""
        body = self.sign(action)
        self.limits.address.spend(batch_len)
        try:
            answer = await self.rest.exchange(codec.dumps(body), batch_len)
            raise_for_status(answer)
        except hl_errors.RateLimited as exc:
            self._emit_rate_limited(exc.message)
            raise
        return answer

    async def _set_leverage(self, leverage: int) -> None:
        rules = self._rules[self.asset]
        wanted = min(leverage, rules.max_leverage)
        try:
            await self._signed(update_leverage_action(self.asset_ids[self.asset], True, wanted))
            log.info("Leverage set", extra={"fields": {"asset": self.asset, "leverage": wanted, "cross": True}})
        except (hl_errors.HyperliquidError, ExchangeError) as exc:
            log.warning("Could not set leverage", extra={"fields": {"leverage": wanted, "error": str(exc)}})

    async def _schedule_cancel(self, time_ms: int | None) -> None:
        try:
            await self._signed(schedule_cancel_action(time_ms))
        except (hl_errors.HyperliquidError, ExchangeError) as exc:
            if str(exc) not in self._dead_man_errors:
                self._dead_man_errors.add(str(exc))
                log.warning("scheduleCancel refused", extra={"fields": {"error": str(exc), "time": time_ms}})
            return
        self._dead_man_armed = time_ms is not None
        if time_ms is None:
            log.info("Dead man's switch cleared")

    def _healthy(self) -> bool:
        """The loop is healthy when the socket is up and the runner pulled an event recently."""
        stale_ns = int(2 * self.config.dead_man_refresh_secs * NS)
        return self._connected and self.clock.now_ns() - self._last_pull_ns < stale_ns

    async def _dead_man(self) -> None:
        horizon_ms = int(self.config.dead_man_horizon_secs * 1000)
        while True:
            if self._healthy():
                await self._schedule_cancel(self._now_ms() + horizon_ms)
            await asyncio.sleep(self.config.dead_man_refresh_secs)

    # ---------------------------------------------------------------------------------------------- audit

    async def _listed(self) -> list[ExchangeOrder]:
        answer = await self.rest.info({"type": "frontendOpenOrders", "user": self.user})
        if not isinstance(answer, list):
            raise hl_errors.MalformedResponse("frontendOpenOrders: expected a list")
        listed = []
        for item in answer:
            try:
                listed.append(ExchangeOrder.from_wire(item))
            except (KeyError, TypeError, ValueError, hl_errors.MalformedResponse) as exc:
                self._malformed("frontendOpenOrders", exc)
        return listed

    async def _listed_ours(self) -> list[ExchangeOrder]:
        """Open orders on the asset that count as ours under ``orphan_scope`` (known ones always do)."""
        ours = []
        for order in await self._listed():
            if order.coin != self.asset:
                continue
            known = order.cloid is not None and self.orders.knows(order.cloid)
            prefixed = order.cloid is not None and order.cloid[:18] in self.orders.prefixes
            if known or self.config.orphan_scope == "asset" or prefixed:
                ours.append(order)
        return ours

    async def _cancel_listed(self, listed: Sequence[ExchangeOrder], why: str) -> None:
        asset_id = self.asset_ids[self.asset]
        with_cloid = [o for o in listed if o.cloid]
        without = [o for o in listed if not o.cloid]
        for action, group in (
            (cancel_by_cloid_action([(asset_id, o.cloid or "") for o in with_cloid]), with_cloid),
            (cancel_action([(asset_id, o.oid) for o in without]), without),
        ):
            if not group:
                continue
            try:
                results = parse_cancel_statuses(await self._signed(action, len(group)), len(group))
            except (hl_errors.HyperliquidError, ExchangeError) as exc:
                log.warning("Cancel failed", extra={"fields": {"why": why, "orders": len(group), "error": str(exc)}})
                continue
            for order, result in zip(group, results, strict=False):
                if result.ok and order.cloid and self.orders.get(order.cloid) is not None:
                    self._emit_update(self.asset, order.cloid, OrderStatus.CANCELLED, oid=order.oid, reason=why)

    async def _periodic_audit(self) -> None:
        if self._connected:
            await self._audit(grace_ns=int(self.config.audit_grace_secs * NS), why="periodic")

    async def _audit(self, grace_ns: int, why: str) -> None:
        """Compare orders and position with the exchange; repair what can be repaired, count every discrepancy."""
        async with self._audit_lock:
            listed = await self._listed()
            now = self.clock.now_ns()
            findings = audit_orders(
                self.orders,
                listed,
                asset=self.asset,
                now_ns=now,
                grace_ns=grace_ns,
                in_flight=set(self._in_flight),
                scope=self.config.orphan_scope,
            )
            for orphan in findings.orphans:
                self._discrepancy(
                    "orphan order on the exchange: cancelling", why, cloid=orphan.cloid, oid=orphan.oid,
                    side=orphan.side.value, price=str(orphan.price), size=str(orphan.size),
                )
            if findings.orphans:
                await self._cancel_listed(findings.orphans, why="orphan")
            for local, seen in findings.mismatched:
                self._discrepancy(
                    "order differs from the exchange's", why, cloid=local.cloid, local_price=str(local.price),
                    exchange_price=str(seen.price), local_remaining=str(local.remaining),
                    exchange_size=str(seen.size),
                )
            for local in findings.missing:
                if self.orders.get(local.cloid) is None:
                    continue  # settled meanwhile
                status = await self._order_status(local.cloid)
                if status is not None and status.get("status") == "open":
                    continue  # listed a moment later: no discrepancy
                self._discrepancy(
                    "order not listed by the exchange", why, cloid=local.cloid, oid=local.oid,
                    status=status.get("status") if status else "unknown",
                )
                if status is not None:
                    self._emit_status(status, local.cloid)
                elif local.acked:
                    self._emit_update(local.asset, local.cloid, OrderStatus.CANCELLED, oid=local.oid,
                                      reason=NOT_LISTED)
                else:
                    self._emit_update(local.asset, local.cloid, OrderStatus.REJECTED, reason=NEVER_SEEN)
            await self._audit_position(why)

    async def _audit_position(self, why: str) -> None:
        exchange_pos, _ = await self._exchange_position()
        if exchange_pos == self.ledger.position:
            return
        await self._recover_fills(self.ledger.last_fill_ms)
        if exchange_pos != self.ledger.position:
            # The exchange may have moved on since we asked: judge against a fresh read.
            exchange_pos, _ = await self._exchange_position()
        if exchange_pos != self.ledger.position:
            exchange_pos, entry = await self._exchange_position()
            self._discrepancy(
                "position differs from the exchange's", why, local=str(self.ledger.position),
                exchange=str(exchange_pos), difference=str(exchange_pos - self.ledger.position),
            )
            # The exchange is the truth: adopt it here and tell the engine to do the same.
            self.ledger.position = exchange_pos
            now = self.clock.now_ns()
            self._emit(PositionSnapshot(self.asset, exchange_pos, entry, now, now))

    def _discrepancy(self, what: str, why: str, **figures: Any) -> None:
        self.discrepancies += 1
        log.warning("Reconciliation: " + what, extra={"fields": {"audit": why, **figures}})
