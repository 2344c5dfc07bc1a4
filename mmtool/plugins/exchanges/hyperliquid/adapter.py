"""The ``hyperliquid`` exchange adapter: mainnet, testnet and the local exchange behind one protocol.

Events come from one WebSocket (book, trades, mids, our fills, order updates, user events, asset context) and
are translated by :mod:`.messages`; a Timer is emitted every second. Actions go out as one signed batch per kind
and submit call (Places as one ``order``, Modifies as one ``batchModify``, Cancels as one ``cancelByCloid``),
posted over the WebSocket when it is up and over REST otherwise; ``submit`` returns once the bytes are sent and
the answers come back later as events (:meth:`HyperliquidAdapter.sent_stamps` says when each batch left).
:class:`HyperliquidAdapter` owns the connection's life (connect, the periodic tasks, close) and the state its
parts share; each concern lives in its own module:

- :mod:`.feed`: WebSocket messages into events (fills passed on once per trade id);
- :mod:`.supervisor`: on a disconnect it emits ``Connection(up=False)``, reconnects with jittered exponential
  backoff, resubscribes, fetches the fills it missed, audits orders and position, and only then emits
  ``Connection(up=True)``;
- :mod:`.outbound`: local refusals, batching, signing, WebSocket post with REST fallback, answers into events;
- :mod:`.outcomes`: an action whose outcome is unknown (timeout, dropped socket, 5xx) is never resent blindly:
  the adapter asks ``orderStatus`` by cloid first, then resends only what the exchange never saw;
- :mod:`.audit`: an audit every few seconds cancels orphan orders, settles orders the exchange no longer lists,
  recovers missed fills and logs and counts every discrepancy (:attr:`HyperliquidAdapter.discrepancies`);
- :mod:`.deadman`: a dead man's switch (``scheduleCancel``) is refreshed while the loop is healthy and cleared on
  a clean exit;
- :mod:`.throttle`: the request weight and the address budget are accounted (:attr:`HyperliquidAdapter.limits`,
  :mod:`.ratelimit`); 429s become ``RateLimited`` events and :meth:`HyperliquidAdapter.tolerance_multiplier`
  widens as the budget runs low;
- :mod:`.account`: metadata (asset rules), position, account value, fill history and leverage over REST;
- :mod:`.emitter`: every event goes through one outlet that keeps the order registry and fill ledger in step.

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
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from mmtool.core.clock import NS_PER_MS, Clock, WallClock
from mmtool.core.errors import ConfigError, ExchangeError
from mmtool.core.rounding import AssetRules
from mmtool.core.types import Action, Event, Fill, Order, OrderStatus, Position, RequoteTolerance, Timer
from mmtool.core.wakeup import WakeUp
from mmtool.plugins.exchanges.hyperliquid.account import Account
from mmtool.plugins.exchanges.hyperliquid.audit import Auditor
from mmtool.plugins.exchanges.hyperliquid.config import NETWORK_URLS, HyperliquidConfig
from mmtool.plugins.exchanges.hyperliquid.deadman import DeadManSwitch
from mmtool.plugins.exchanges.hyperliquid.emitter import Emitter
from mmtool.plugins.exchanges.hyperliquid.feed import Feed
from mmtool.plugins.exchanges.hyperliquid.nonce import NonceManager
from mmtool.plugins.exchanges.hyperliquid.outbound import Outbound
from mmtool.plugins.exchanges.hyperliquid.outcomes import OutcomeResolver
from mmtool.plugins.exchanges.hyperliquid.ratelimit import AddressBudget, IpWeights, RateLimits, tolerance_step
from mmtool.plugins.exchanges.hyperliquid.rest import RestClient
from mmtool.plugins.exchanges.hyperliquid.signing import Signer, address_to_bytes
from mmtool.plugins.exchanges.hyperliquid.state import FillLedger, OrderRegistry
from mmtool.plugins.exchanges.hyperliquid.supervisor import Supervisor
from mmtool.plugins.exchanges.hyperliquid.throttle import Throttle
from mmtool.plugins.exchanges.hyperliquid.wire import OrderResult
from mmtool.plugins.exchanges.hyperliquid.ws import WsConnection, ws_url

if TYPE_CHECKING:
    from mmtool.core.components import ComponentContext
    from mmtool.core.types import Place


log = logging.getLogger("mmtool.hyperliquid")



def _is_mainnet(network: str) -> bool:
    return network == "mainnet"


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
        try:
            self.ws_url = ws_url(self.base_url)
        except ValueError as exc:
            raise ConfigError(f"network.base_url: {exc}") from None
        self.signer = Signer(private_key)
        addresses: dict[str, str | None] = {}
        for field, value in (("account_address", account_address), ("vault_address", vault_address)):
            if value:
                try:
                    addresses[field] = "0x" + address_to_bytes(value).hex()  # one spelling: 0x and lower case
                except ValueError as exc:
                    raise ConfigError(f"network.{field}: {exc}") from None
        #: The main account the configuration names (None: the signer's own, or whatever it is an agent of).
        self.account_address = addresses.get("account_address")
        self.vault_address = addresses.get("vault_address")
        #: The account whose state is read: the vault or subaccount, else the master account, else the signer.
        #: ``connect`` checks it with the exchange (``userRole`` of the signer) before reading anything.
        self.user = self.vault_address or self.account_address or self.signer.address.lower()
        #: The account as the core knows it (the journal's venue is the network and this).
        self.account_id = self.user
        self.leverage = leverage
        self.clock: Clock = clock or WallClock()
        nonce_path = self._nonce_path(config.nonce_state_path)
        self.nonces = NonceManager(lambda: self.clock.now_ns() // NS_PER_MS, nonce_path)
        self.limits = RateLimits(
            IpWeights(config.ip_weight_per_minute),
            AddressBudget(),
            low_water=config.budget_low_water,
            max_multiplier=config.max_tolerance_multiplier,
        )
        # The parts, one concern each; they reach the shared state below through this adapter.
        self._emitter = Emitter(self)
        self._throttle = Throttle(self)
        self._account = Account(self)
        self._feed = Feed(self)
        self._outbound = Outbound(self)
        self._outcomes = OutcomeResolver(self)
        self._auditor = Auditor(self)
        self._supervisor = Supervisor(self)
        self._dead_man_switch = DeadManSwitch(self)
        self.rest = RestClient(
            self.base_url,
            self.limits,
            timeout_s=config.request_timeout_secs,
            connect_timeout_s=config.connect_timeout_secs,
            retries=config.info_retries,
            on_rate_limited=self._throttle.rate_limited,
        )
        self.orders = OrderRegistry()
        self.ledger = FillLedger(asset)
        self.asset_ids: dict[str, int] = {}
        self._rules: dict[str, AssetRules] = {}
        self.mid: Decimal | None = None
        self.asset_ctx: Mapping[str, Any] = {}
        self._queue: asyncio.Queue[Event | None] = asyncio.Queue()
        #: A Timer when the engine next needs one (see :meth:`wake_at`).
        self._wakeup = WakeUp(self.clock, self._queue.put_nowait)
        self._ws: WsConnection | None = None
        self._connected = False
        self._closing = False
        self._tasks: list[asyncio.Task[Any]] = []
        self._last_pull_ns = 0
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
            self.nonces.acquire()  # one process per signer: before anything is signed
            await self._account.check_signer()  # before anything is read: whose account this is
            await self._account.load_meta()
            await self._account.load_mid()
            position, _ = await self._account.position()
            self.ledger.position = position
            await self._refresh_rate_limit()
            await self._account.seed_fills()
            if self.config.set_leverage and self.leverage:
                await self._account.set_leverage(self.leverage)
            self._ws = await self._supervisor.open()
            await self._audit(grace_ns=0, why="connect")
        except BaseException:
            await self._shutdown_io()
            raise
        self._connected = True
        self._last_pull_ns = self.clock.now_ns()
        self._spawn(self._supervisor.run(), "hl-supervisor")
        self._spawn(self._tick(), "hl-timer")
        self._spawn(self._every(self.config.rate_limit_refresh_secs, self._refresh_rate_limit), "hl-ratelimit")
        if self.config.audit_interval_secs > 0:
            self._spawn(self._every(self.config.audit_interval_secs, self._periodic_audit), "hl-audit")
        if self.config.dead_man_switch:
            self._spawn(self._dead_man_switch.run(), "hl-deadman")
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
        await self._outbound.submit(actions)

    def wake_at(self, ts_ns: int | None) -> None:
        """Emit a Timer event when the clock reaches ``ts_ns`` (the latest call wins; None: none wanted).

        The runner passes ``Engine.next_wake_ns`` after every event, so a stale-data kill fires at its limit
        rather than at the next periodic Timer (up to ``timer_interval_secs`` later).
        """
        if not self._closing:
            self._wakeup.at(ts_ns)

    def sent_stamps(self) -> list[int]:
        """When each signed batch of the latest ``submit`` was handed to the socket (or REST), on this clock (ns).

        Batches go out within ``submit``, so right after it returns the list holds one stamp per batch sent
        (none for actions refused locally); the runner times the order path with it.
        """
        return list(self._outbound.stamps)

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
            for o in await self._auditor.listed_ours()
        ]

    async def position(self) -> Position:
        """Our position on the asset according to the exchange (``clearinghouseState``)."""
        size, entry = await self._account.position()
        return Position(self.asset, size, entry)

    async def fill_history(self, since_ns: int) -> list[Fill]:
        """Our fills on the asset since a time (exchange time, ns), oldest first: what the journal recovers at
        start-up after a crash (``userFillsByTime``, page by page)."""
        return await self._account.fills_since(since_ns // NS_PER_MS)

    async def account_value(self) -> float:
        """The account's value in USDC (``marginSummary.accountValue``)."""
        return await self._account.value()

    async def cancel_all(self) -> int:
        """Cancel every open order of ours on the asset at the exchange; return how many it still lists.

        Foreign trigger orders (``foreign_triggers = "keep"``) are not ours: they stay, and are named in the log.
        """
        listed = await self._auditor.listed_ours()
        if listed:
            await self._auditor.cancel_listed(listed, why="cancel_all")
            listed = await self._auditor.listed_ours()
        self._last_remaining = len(listed)
        kept = self._auditor.kept_triggers
        if kept:
            log.info("Foreign trigger orders left in place", extra={"fields": {"oids": sorted(kept)}})
        return self._last_remaining

    async def close(self) -> None:
        """Clear the dead man's switch after a clean exit, stop the tasks and close the connections."""
        if self._closing:
            return
        self._closing = True
        self._connected = False
        self._wakeup.cancel()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if self._outbound.batches:
            await asyncio.wait(list(self._outbound.batches), timeout=2.0)
        await self._dead_man_switch.disarm(self._last_remaining)
        await self._shutdown_io()
        self._emitter.release_held(self.clock.now_ns(), force=True)  # no fill is kept from the engine
        self._queue.put_nowait(None)

    # ------------------------------------------------------------------ delegates kept for tests and tools

    def batch_action(self, kind: str, items: Sequence[Action]) -> dict[str, Any]:
        """The unsigned action for a batch of one kind (``order``, ``modify``, ``cancel``), recorded as sent."""
        return self._outbound.batch_action(kind, items)

    def sign(self, action: Mapping[str, Any], expires_after: int | None = None) -> dict[str, Any]:
        """The ``/exchange`` body of an action: a fresh nonce, the signature, the vault address and expiry."""
        return self._outbound.sign(action, expires_after)

    def expiry_ms(self, kind: str) -> int | None:
        """The ``expiresAfter`` a batch of this kind (``order``, ``modify``, ``cancel``) sent now carries."""
        return self._outbound.expiry_ms(kind)

    def _on_message(self, channel: str, data: Any, ts: int) -> None:
        """Translate one WebSocket message (already decoded) into events (see :class:`.feed.Feed`)."""
        self._feed.on_message(channel, data, ts)

    async def _signed(self, action: Mapping[str, Any], batch_len: int = 1) -> Any:
        """Send an action over REST and return the answer; raise the typed error of an ``err`` answer."""
        return await self._outbound.signed(action, batch_len)

    def _place_result(self, place: Place, result: OrderResult) -> None:
        """Emit the answer to one place (see :meth:`.outbound.Outbound.place_result`)."""
        self._outbound.place_result(place, result)

    async def _audit(self, grace_ns: int, why: str) -> None:
        """Compare orders and position with the exchange; repair what can be repaired, count every discrepancy."""
        await self._auditor.run(grace_ns, why)

    # --------------------------------------------------------------------------------------- periodic tasks

    async def _refresh_rate_limit(self) -> None:
        """Refresh the address budget (named so: the periodic job's log names it)."""
        await self._throttle.refresh()

    async def _periodic_audit(self) -> None:
        """The periodic audit (named so: the periodic job's log names it)."""
        await self._auditor.periodic()

    async def _tick(self) -> None:
        sent = 1.0
        while True:
            await asyncio.sleep(self.config.timer_interval_secs)
            now = self.clock.now_ns()
            wanted = tolerance_step(sent, self.tolerance_multiplier())
            if wanted != sent:
                # Both budgets, since either can be the one that is short. Scarcer is a warning; easing is news.
                level = logging.WARNING if wanted > sent else logging.INFO
                sent = wanted
                log.log(level, "Rate budget: requote tolerance x%.2f", wanted,
                        extra={"fields": {"address_headroom": self.budget_headroom,
                                          "ip_weight_free": round(self.limits.ip.headroom, 3)}})
                self._queue.put_nowait(RequoteTolerance(wanted, now, now))
            self._emitter.release_held(now)  # fills that waited too long for their order's acknowledgement
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
        self.nonces.release()

    def _now_ms(self) -> int:
        return self.clock.now_ns() // NS_PER_MS
