"""Frozen value types shared by the core and every plugin: events, orders, quotes, ladders, actions.

Everything compared with the exchange (prices, sizes, fills, positions) is exact ``Decimal``; floats live
only inside the math (estimators, strategies) and in :class:`MarketParams`.

Every event carries ``ts_exchange_ns`` (the exchange's timestamp, or the simulator's time) and
``ts_local_ns`` (stamped by the driver from the injected clock when the event arrived). The engine only ever
reads time from these fields.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from decimal import Decimal
from types import MappingProxyType

import attrs

ZERO = Decimal(0)


class Side(enum.Enum):
    """Side of an order, a fill or the aggressor of a trade."""

    # Identity hashing in C: Enum's own __hash__ is Python code, and these key dicts on every event.
    __hash__ = object.__hash__

    BUY = "B"
    SELL = "A"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        """The other side."""
        return Side.SELL if self is Side.BUY else Side.BUY


class Tif(enum.Enum):
    """Time in force, with Hyperliquid's wire names."""

    # Identity hashing in C: Enum's own __hash__ is Python code, and these key dicts on every event.
    __hash__ = object.__hash__

    ALO = "Alo"  # add liquidity only: post-only, rejected if it would cross
    IOC = "Ioc"
    GTC = "Gtc"


class OrderStatus(enum.Enum):
    """Lifecycle state of one of our orders, keyed by client order id."""

    # Identity hashing in C: Enum's own __hash__ is Python code, and these key dicts on every event.
    __hash__ = object.__hash__

    PENDING_NEW = "pending_new"
    RESTING = "resting"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    PENDING_CANCEL = "pending_cancel"
    CANCELLED = "cancelled"
    REJECTED = "rejected"

    @property
    def is_terminal(self) -> bool:
        """True once no further fill can happen."""
        return self in TERMINAL_STATUSES


#: The statuses after which no further fill can happen (a set: hot loops test membership without the property).
TERMINAL_STATUSES = frozenset({OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED})


class TriggerKind(enum.Enum):
    """What a trigger order is for, with Hyperliquid's wire names (``tpsl``): take profit or stop loss."""

    TAKE_PROFIT = "tp"
    STOP_LOSS = "sl"


class Liquidity(enum.Enum):
    """Whether a fill added (maker) or removed (taker) liquidity."""

    # Identity hashing in C: Enum's own __hash__ is Python code, and these key dicts on every event.
    __hash__ = object.__hash__

    MAKER = "maker"
    TAKER = "taker"


class RiskLevel(enum.IntEnum):
    """Verdict of a risk monitor, ordered by severity: the aggregate is the maximum."""

    OK = 0
    WARN = 1
    PAUSE = 2
    REDUCE_ONLY = 3
    KILL = 4


# ---------------------------------------------------------------------------------------------- market data


@attrs.frozen
class BookLevel:
    """One price level of an L2 book."""

    price: Decimal
    size: Decimal
    count: int = 1


@attrs.frozen
class L2Book:
    """An L2 book snapshot: bids best (highest) first, asks best (lowest) first."""

    bids: tuple[BookLevel, ...]
    asks: tuple[BookLevel, ...]

    @property
    def best_bid(self) -> Decimal | None:
        """Highest bid price, or None on an empty side."""
        return self.bids[0].price if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        """Lowest ask price, or None on an empty side."""
        return self.asks[0].price if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        """Mid of the best prices, or None when a side is empty."""
        if not self.bids or not self.asks:
            return None
        return (self.bids[0].price + self.asks[0].price) / 2


@attrs.frozen
class BookUpdate:
    """A new L2 book snapshot for an asset."""

    asset: str
    book: L2Book
    ts_exchange_ns: int
    ts_local_ns: int


@attrs.frozen
class Trade:
    """A public trade; ``side`` is the aggressor's side."""

    asset: str
    price: Decimal
    size: Decimal
    side: Side
    trade_id: str
    ts_exchange_ns: int
    ts_local_ns: int


@attrs.frozen
class MidUpdate:
    """A new mid price published by the exchange."""

    asset: str
    mid: Decimal
    ts_exchange_ns: int
    ts_local_ns: int


@attrs.frozen
class Fill:
    """A fill of one of our orders. ``trade_id`` is unique per fill and is the deduplication key."""

    asset: str
    cloid: str | None
    oid: int | None
    trade_id: str
    side: Side
    price: Decimal
    size: Decimal
    fee: Decimal
    liquidity: Liquidity
    ts_exchange_ns: int
    ts_local_ns: int


@attrs.frozen
class OrderUpdate:
    """The exchange's word on one of our orders: acknowledged, rejected, cancelled, filled.

    ``filled_size`` is the cumulative filled size when the exchange reports it (None otherwise);
    ``reason`` carries the exchange's rejection or cancellation text; ``crossed`` says the exchange refused a
    post-only place or modify because its price would have crossed the book (the market is through that price).
    """

    asset: str
    cloid: str
    status: OrderStatus
    ts_exchange_ns: int
    ts_local_ns: int
    oid: int | None = None
    price: Decimal | None = None
    size: Decimal | None = None
    filled_size: Decimal | None = None
    reason: str = ""
    crossed: bool = False


@attrs.frozen
class Funding:
    """A funding payment: ``rate`` per interval, ``payment`` signed in USD (positive means we received)."""

    asset: str
    rate: Decimal
    payment: Decimal
    ts_exchange_ns: int
    ts_local_ns: int


@attrs.frozen
class Timer:
    """A periodic tick from the driver, so time-based logic runs without market events."""

    ts_exchange_ns: int
    ts_local_ns: int


@attrs.frozen
class Connection:
    """The adapter's connection to the exchange went up or down."""

    up: bool
    ts_exchange_ns: int
    ts_local_ns: int
    reason: str = ""


@attrs.frozen
class PositionSnapshot:
    """The exchange's word on our position, sent by an adapter's audit when it differs from our fills' sum.

    The engine adopts it: the position is never trusted from local arithmetic alone when the exchange can
    be asked.
    """

    asset: str
    size: Decimal
    entry_price: Decimal
    ts_exchange_ns: int
    ts_local_ns: int


@attrs.frozen
class RequoteTolerance:
    """The adapter asks for ``max_bps_diff × multiplier`` as the requote tolerance (multiplier >= 1).

    Sent when the exchange's rate-limit budget runs low (and again when it recovers), so the maker spends its
    budget on requotes that matter instead of widening its spreads into fewer fills.
    """

    multiplier: float
    ts_exchange_ns: int
    ts_local_ns: int


@attrs.frozen
class RateLimited:
    """The exchange refused a request for exceeding a rate limit (HTTP 429 or its error text)."""

    ts_exchange_ns: int
    ts_local_ns: int
    reason: str = ""


Event = (
    BookUpdate | Trade | MidUpdate | Fill | OrderUpdate | Funding | Timer | Connection | RateLimited | PositionSnapshot
    | RequoteTolerance
)
MARKET_EVENTS = (BookUpdate, Trade, MidUpdate)


# ------------------------------------------------------------------------------------------------- actions


@attrs.frozen
class TriggerSpec:
    """What makes an order a trigger (stop or take-profit) order: it waits unseen until the mark price reaches
    ``trigger_px``, then executes as a market order (``is_market``) or as a limit order at the order's price.

    A take profit fires when the price moves in the position's favour (a sell once the price rises to the
    trigger, a buy once it falls to it), a stop loss when it moves against it (a sell once the price falls to
    the trigger, a buy once it rises to it).
    """

    trigger_px: Decimal
    is_market: bool
    kind: TriggerKind

    def fires_above(self, side: Side) -> bool:
        """True when an order of ``side`` fires at or above the trigger price, False at or below it."""
        return (side is Side.SELL) == (self.kind is TriggerKind.TAKE_PROFIT)

    def fires(self, side: Side, mark: Decimal) -> bool:
        """True when ``mark`` meets the trigger condition of an order of ``side``."""
        return mark >= self.trigger_px if self.fires_above(side) else mark <= self.trigger_px


@attrs.frozen
class Place:
    """Place a new order. ``cloid`` is generated by the engine so the answer can be matched and retried.

    With ``trigger`` set the order is a trigger order: the exchange holds it until its trigger price is reached
    (``price`` is then its limit price, or the worst price of a market trigger).
    """

    cloid: str
    asset: str
    side: Side
    price: Decimal
    size: Decimal
    tif: Tif = Tif.ALO
    reduce_only: bool = False
    trigger: TriggerSpec | None = None


@attrs.frozen
class Modify:
    """Change the price and size of a resting order; it may be given a new client order id."""

    cloid: str
    asset: str
    side: Side
    price: Decimal
    size: Decimal
    tif: Tif = Tif.ALO
    reduce_only: bool = False
    new_cloid: str | None = None


@attrs.frozen
class Cancel:
    """Cancel an order by client order id."""

    cloid: str
    asset: str


Action = Place | Modify | Cancel


# ------------------------------------------------------------------------------------------ orders & quotes


@attrs.frozen
class Order:
    """Our view of one order, as tracked by the order manager; ``trigger`` is set for a trigger order."""

    cloid: str
    asset: str
    side: Side
    price: Decimal
    size: Decimal
    status: OrderStatus
    tif: Tif = Tif.ALO
    reduce_only: bool = False
    oid: int | None = None
    filled: Decimal = ZERO
    created_ns: int = 0
    updated_ns: int = 0
    trigger: TriggerSpec | None = None

    @property
    def remaining(self) -> Decimal:
        """Size still open."""
        return self.size - self.filled


@attrs.frozen
class Quote:
    """One level of a ladder: an exact, exchange-rounded price and size."""

    price: Decimal
    size: Decimal


@attrs.frozen
class Ladder:
    """What a strategy wants resting: bids best (highest) first, asks best (lowest) first. Either may be empty."""

    bids: tuple[Quote, ...] = ()
    asks: tuple[Quote, ...] = ()

    def side(self, side: Side) -> tuple[Quote, ...]:
        """The levels of one side."""
        return self.bids if side is Side.BUY else self.asks

    @staticmethod
    def empty() -> Ladder:
        """A ladder with no level on either side."""
        return Ladder((), ())


@attrs.frozen
class Position:
    """Signed position (positive long) and its average entry price."""

    asset: str
    size: Decimal = ZERO
    entry_price: Decimal = ZERO


def _freeze_values(values: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(values))


@attrs.frozen
class MarketParams:
    """What strategies read: the market's state and every estimator's published values.

    ``values`` maps an estimator value name (``sigma``, ``kappa``, ``arrival_a``, ``microprice``...) to a
    float; ``warmed_up`` is True once every estimator in use says it is.
    """

    asset: str
    ts_ns: int
    mid: float
    best_bid: float | None
    best_ask: float | None
    values: Mapping[str, float] = attrs.field(factory=dict, converter=_freeze_values)
    warmed_up: bool = False

    @property
    def fair(self) -> float:
        """Microprice when an estimator publishes one, else the mid."""
        return self.values.get("microprice", self.mid)

    def get(self, name: str, default: float) -> float:
        """An estimator value, or ``default`` when no estimator publishes it."""
        return self.values.get(name, default)


@attrs.frozen
class Verdict:
    """A risk monitor's judgement: the level, a short reason and the figures behind it."""

    level: RiskLevel
    reason: str = ""
    figures: Mapping[str, float] = attrs.field(factory=dict, converter=_freeze_values)
    monitor: str = ""

    @staticmethod
    def ok(monitor: str = "") -> Verdict:
        """A verdict that restricts nothing, without figures: one shared value per monitor name.

        Every monitor judges every event and nearly every verdict is OK; nothing reads an OK verdict's figures
        (the aggregator keeps only the worst, and the log, metrics and alerts speak of WARN and above), so an OK
        costs a dictionary lookup instead of a frozen value built and dropped per event.
        """
        verdict = _OK_VERDICTS.get(monitor)
        if verdict is None:
            verdict = _OK_VERDICTS[monitor] = Verdict(RiskLevel.OK, "", {}, monitor)
        return verdict


#: The shared OK verdicts of :meth:`Verdict.ok`, by monitor name (a handful: one per monitor).
_OK_VERDICTS: dict[str, Verdict] = {}
