"""The component protocols every plugin implements, and the contexts the core hands them.

A component class has a stable kebab-case ``name`` (what users type; unique across all kinds), a nested
frozen attrs ``Config`` class (its ``[plugins.<name>]`` TOML table, defaults wherever a sane one exists), a
docstring whose first line is its one-line description, and a ``from_config(config, ctx)`` classmethod.

Per market event the engine calls components directly (no pluggy on the hot path).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

import attrs

from mmtool.core.types import Action, Event, L2Book, Ladder, MarketParams, Order, Position, Verdict

if TYPE_CHECKING:
    from mmtool.core.clock import Clock
    from mmtool.core.config import LadderConfig, Settings
    from mmtool.core.rounding import AssetRules

KINDS = ("strategy", "estimator", "risk_monitor", "exchange")


@attrs.frozen
class ComponentContext:
    """What a component gets when it is built: the asset, its exchange rules and the whole settings."""

    asset: str
    rules: AssetRules
    settings: Settings


@attrs.frozen
class MarketState:
    """The engine's latest view of the market, handed to estimators with every event.

    Prices are floats: this is input to the math, never compared with the exchange.
    """

    asset: str
    ts_ns: int = 0
    book: L2Book | None = None
    mid: float | None = None
    best_bid: float | None = None
    best_ask: float | None = None
    last_trade_price: float | None = None


@attrs.frozen
class QuoteContext:
    """Everything a strategy may use to build its ladder.

    Sizes are in units of the asset (ETH for ETH-PERP). ``position`` is signed (positive long).
    ``target_liquidity`` is the total size wanted on each side. ``reduce_only`` is set by the risk layer: quote
    only the side that reduces the position (the engine enforces it anyway). ``maker_fee_bps`` is the fee
    paid on a passive fill, part of the spread.
    """

    params: MarketParams
    position: float
    max_position: float
    target_liquidity: float
    risk_aversion: float
    rules: AssetRules
    ladder: LadderConfig
    maker_fee_bps: float
    ts_ns: int
    reduce_only: bool = False


@attrs.frozen
class PnlSnapshot:
    """PnL figures in USD, kept apart: realized, unrealized, fees (paid, positive), funding (received)."""

    realized: float = 0.0
    unrealized: float = 0.0
    fees: float = 0.0
    funding: float = 0.0
    session: float = 0.0
    daily: float = 0.0
    peak: float = 0.0

    @property
    def total(self) -> float:
        """Realized plus unrealized, less fees, plus funding."""
        return self.realized + self.unrealized - self.fees + self.funding

    @property
    def drawdown(self) -> float:
        """Drop of the session PnL from its peak, in USD (>= 0)."""
        return max(self.peak - self.session, 0.0)


@attrs.frozen
class RiskState:
    """What risk monitors judge, built by the engine for every event.

    ``values`` are the estimators' published values (e.g. ``cascade_severity``). ``last_market_ts_ns`` is
    the timestamp of the last market-data event; ``rate_limit_errors_ns`` the timestamps of recent 429s.
    ``capital_usd`` is the account value the limits were checked against (0 when unknown).
    """

    asset: str
    ts_ns: int
    mid: float | None
    position: float
    max_position: float
    pnl: PnlSnapshot
    last_market_ts_ns: int
    open_orders: int
    values: Mapping[str, float] = attrs.field(factory=dict)
    rate_limit_errors_ns: tuple[int, ...] = ()
    capital_usd: float = 0.0

    @property
    def position_value(self) -> float:
        """Absolute position times mid, in USD (0 before the first mid)."""
        return abs(self.position) * (self.mid or 0.0)


@runtime_checkable
class Strategy(Protocol):
    """Turns market parameters and the position into a target ladder."""

    name: ClassVar[str]
    #: Estimator value names the strategy reads (documentation and validation).
    requires: ClassVar[tuple[str, ...]]

    @classmethod
    def from_config(cls, config: Any, ctx: ComponentContext) -> Strategy: ...

    def quote(self, ctx: QuoteContext) -> Ladder:
        """Return the wanted ladder: rounded prices and sizes, bids best first, asks best first."""
        ...


@runtime_checkable
class Estimator(Protocol):
    """Learns a market parameter online from events; O(1) or amortised O(1) per event.

    The engine publishes an estimator's values only once it is warmed up (strategies use their config
    fallbacks until then). Quoting waits only for the estimators whose class sets ``gates_quoting = True``
    (the built-in ``warmup`` gate); the others warm up while the maker already quotes on its fallbacks.
    """

    name: ClassVar[str]
    # ``gates_quoting: ClassVar[bool] = True`` is optional (absent means False), so it is not a protocol
    # member: ``isinstance(x, Estimator)`` must keep accepting estimators that do not set it.
    # ``after_decision(self) -> None`` is optional too: heavy work an event made due (a periodic refit) that can
    # wait until the event's decision has been sent. The engine calls it from ``Engine.commit()``, which the runner
    # calls once the decision's batch has left, or else before the next event, so its result first counts for the
    # next event's decision, whoever drives the engine.

    @classmethod
    def from_config(cls, config: Any, ctx: ComponentContext) -> Estimator: ...

    def on_event(self, event: Event, market: MarketState) -> None:
        """Update the estimate with one event; ``market`` is the state after the event was applied."""
        ...

    def values(self) -> Mapping[str, float]:
        """The values published into :class:`MarketParams`, by name."""
        ...

    @property
    def warmed_up(self) -> bool:
        """True once the estimate is trustworthy."""
        ...


@runtime_checkable
class RiskMonitor(Protocol):
    """Judges the risk state each event: ok, warn, pause, reduce-only or kill."""

    name: ClassVar[str]

    @classmethod
    def from_config(cls, config: Any, ctx: ComponentContext) -> RiskMonitor: ...

    def check(self, state: RiskState) -> Verdict:
        """Return a verdict; the aggregate of all monitors is the most severe."""
        ...

    # ``wake_at_ns(state) -> int | None`` is optional, so it is not a protocol member: for a monitor whose verdict
    # changes with time alone (stale data), the event time (ns) at which it next would if nothing else happened.
    # The engine publishes the earliest of them (``Engine.next_wake_ns``) and the runner asks an adapter that can
    # (``wake_at``) for a Timer event then, so the check runs on time rather than at the next periodic Timer.


@runtime_checkable
class ExchangeAdapter(Protocol):
    """Connects the core to an exchange: events in, actions out. Owns wire formats, signing and health."""

    name: ClassVar[str]
    #: The clock time comes from (the simulator's clock, or wall time for a live exchange).
    clock: Clock
    # ``account_id: str`` is optional (absent means ""), so it is not a protocol member: the exchange account
    # whose orders, fills and position the adapter trades (Hyperliquid: the address whose state is read). The
    # journal keys fills and compares positions per network and account with it.

    @classmethod
    def from_config(cls, config: Any, ctx: ComponentContext) -> ExchangeAdapter: ...

    async def connect(self) -> None:
        """Open connections and load asset metadata."""
        ...

    # ``wake_at(ts_ns: int | None) -> None`` is optional, so it is not a protocol member: emit a Timer event once the
    # adapter's clock reaches ``ts_ns`` (the latest call wins; None: no wake-up wanted). The runner passes it
    # ``Engine.next_wake_ns`` after every event. A simulated exchange, whose timers are part of its replayable
    # event stream, leaves it out.

    def events(self) -> AsyncIterator[Event]:
        """Core events as they arrive, in order, with a ``Timer`` event at least every second.

        Timers let the runner and the risk monitors see time pass when the market is quiet; an adapter emits
        ``RateLimited`` when the exchange answers a request with a rate-limit error.
        """
        ...

    async def submit(self, actions: Sequence[Action]) -> None:
        """Send actions; their outcome comes back as OrderUpdate and Fill events."""
        ...

    async def open_orders(self) -> list[Order]:
        """Our open orders according to the exchange."""
        ...

    async def position(self) -> Position:
        """Our position according to the exchange."""
        ...

    async def account_value(self) -> float:
        """Account value in USD according to the exchange."""
        ...

    async def cancel_all(self) -> int:
        """Cancel every open order of ours on the asset; return how many remain open (0 when all gone)."""
        ...

    async def close(self) -> None:
        """Close connections."""
        ...

    def rules(self, asset: str) -> AssetRules:
        """Tick, lot and notional rules of an asset (after ``connect``)."""
        ...
