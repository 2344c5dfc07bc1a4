"""The deterministic trading core: ``Engine.handle(event) -> list[Action]``.

For every event, in this order: (1) tracking of orders, position and PnL; (2) estimators update and publish
into :class:`MarketParams`; (3) risk monitors judge the state (ok, warn, pause, reduce-only, kill); (4) the
strategy proposes a target ladder, restricted by the risk verdict and the position limit; (5) reconciliation
against the live orders gives the fewest actions; (6) pre-trade checks drop any action that would breach a limit.
Then, once the driver has sent the actions (``commit``, or the next call at the latest), they are recorded as in
flight and the estimators' ``after_decision`` work (periodic refits) runs, off the order path.

No I/O, no clock reads, no randomness: time is the event's ``ts_local_ns``. The same events in the same order
always give the same actions, whether they come from the live exchange, the simulator or a replay.
"""

from __future__ import annotations

import logging
import math
import re
from collections import deque
from collections.abc import Sequence
from decimal import Decimal

import attrs

from mmtool.core.cloid import CloidGenerator
from mmtool.core.components import (
    ComponentContext,
    Estimator,
    MarketState,
    QuoteContext,
    RiskMonitor,
    RiskState,
    Strategy,
)
from mmtool.core.loglimit import LogLimiter
from mmtool.core.portfolio import Portfolio
from mmtool.core.pretrade import PreTradeChecker
from mmtool.core.reconcile import reconcile
from mmtool.core.risk import RiskAggregator
from mmtool.core.rounding import AssetRules
from mmtool.core.tracking import MODIFY_FAILED_PREFIX, OrderManager
from mmtool.core.types import (
    Action,
    BookLevel,
    BookUpdate,
    Cancel,
    Connection,
    Event,
    Fill,
    Funding,
    Ladder,
    MarketParams,
    MidUpdate,
    Modify,
    Order,
    OrderStatus,
    OrderUpdate,
    Place,
    PositionSnapshot,
    Quote,
    RateLimited,
    RequoteTolerance,
    RiskLevel,
    Side,
    Tif,
    Timer,
    Trade,
    Verdict,
)

log = logging.getLogger("mmtool.engine")

NS = 1_000_000_000
#: Largest widening of the requote tolerance an adapter may ask for.
MAX_TOLERANCE_MULTIPLIER = 10.0


@attrs.define
class EngineStats:
    """Counters of what the engine saw and decided."""

    events: int = 0
    bad_events: int = 0
    duplicate_fills: int = 0
    orders_placed: int = 0
    orders_modified: int = 0
    orders_cancelled: int = 0
    orders_rejected: int = 0
    pretrade_rejects: int = 0
    component_errors: int = 0
    rate_limit_errors: int = 0
    quotes_computed: int = 0
    position_resyncs: int = 0
    #: Post-only places and modifies held back at a price the exchange had just refused as crossing (see
    #: ``Engine._hold_crossing``).
    crossing_held: int = 0


#: Numbers in an exchange's rejection text (prices, sizes) do not make it another kind of rejection.
_DIGITS = re.compile(r"\d+(?:\.\d+)?")

#: Estimator values the engine publishes (bool counts, as an int); a tuple is quicker to test than a union.
_NUMBER = (int, float)


#: Decimal exponents beyond which a number is refused as data. A finite Decimal such as ``1e999999`` becomes an
#: infinite (or zero) float, and even 1e45 breaks the portfolio's exact arithmetic (a cost share quantized to
#: 1e-18 within 60 digits); no price, size, fee or payment comes near 10^±20.
_MAX_EXPONENT = 20


def _valid_positive(value: Decimal) -> bool:
    """Finite, > 0 and of sane magnitude: a price or a size."""
    return value.is_finite() and value > 0 and -_MAX_EXPONENT < value.adjusted() < _MAX_EXPONENT


def _valid_amount(value: Decimal | None) -> bool:
    """Absent, or finite (any sign) and of sane magnitude: fees, payments, entry prices, sizes in updates."""
    return value is None or (value.is_finite() and (not value or value.adjusted() < _MAX_EXPONENT))


def _sane_levels(levels: Sequence[BookLevel]) -> bool:
    """Every price finite, > 0 and within float range, every size finite, >= 0 and within float range: one min
    and one sum per column instead of tests per level. A NaN or an infinity makes the sum non-finite (or raises,
    as does comparing a NaN); with no negative term, a sum within range bounds every term."""
    prices = [level.price for level in levels]
    sizes = [level.size for level in levels]
    try:
        low = min(prices)
        if not (low > 0 and min(sizes) >= 0):
            return False
        price_sum, size_sum = sum(prices), sum(sizes)
        return (
            price_sum.is_finite()
            and size_sum.is_finite()
            and -_MAX_EXPONENT < low.adjusted()
            and price_sum.adjusted() < _MAX_EXPONENT
            and size_sum.adjusted() < _MAX_EXPONENT
        )
    except ArithmeticError:
        return False


class Engine:
    """Turns events into actions for one asset; see the module docstring for the steps."""

    def __init__(
        self,
        *,
        ctx: ComponentContext,
        strategy: Strategy,
        estimators: Sequence[Estimator] = (),
        monitors: Sequence[RiskMonitor] = (),
        cloid_seed: int = 0,
        supports_modify: bool = True,
        size_tolerance: float = 0.2,
        capital_usd: float = 0.0,
    ) -> None:
        self.asset = ctx.asset
        self.rules: AssetRules = ctx.rules
        self.settings = ctx.settings
        self.strategy = strategy
        self.estimators = list(estimators)
        # Whether quoting waits for each estimator's warm-up; an optional class attribute of the protocol.
        self._estimator_gates = [(e, bool(getattr(type(e), "gates_quoting", False))) for e in self.estimators]
        self.risk = RiskAggregator.from_settings(monitors, ctx.settings.risk)
        self.pretrade = PreTradeChecker(ctx.settings, ctx.rules)
        self._orders = OrderManager()
        #: The last decision's actions, returned by ``handle`` but not yet recorded as in flight (see ``commit``).
        self._uncommitted: list[Action] = []
        self._uncommitted_ns = 0
        #: Estimators' optional work after the decision (see ``Estimator``), due once an event reached them.
        self._after = [(e, hook) for e in self.estimators if callable(hook := getattr(e, "after_decision", None))]
        self._after_due = False
        self.portfolio = Portfolio(ctx.asset)
        self.cloids = CloidGenerator(cloid_seed)
        self.market = MarketState(ctx.asset)
        self.stats = EngineStats()
        self.supports_modify = supports_modify
        self.size_tolerance = size_tolerance
        self.capital_usd = capital_usd
        self.quoting = True
        self.connected = True
        self.verdict = Verdict.ok()
        self.params: MarketParams | None = None
        self.ladder = Ladder.empty()
        self.now_ns = 0
        self._last_market_ns = 0
        self._rate_limit_ns: deque[int] = deque(maxlen=1000)
        self._failed_components: set[str] = set()
        self._reduce_only_logged = False
        self._settled = False
        #: Widens max_bps_diff while the exchange's rate budget is scarce (RequoteTolerance events).
        self.tolerance_multiplier = 1.0
        self._orders_dirty = True
        #: Per side, a price the exchange refused as crossing (post-only) since the last book: quotes at or
        #: through it wait for the next book (see ``_hold_crossing``).
        self._crossing: dict[Side, Decimal] = {}
        #: Repeated warnings (bad events, rejections) are logged once per kind every 10 s of event time.
        self._log_limit = LogLimiter()

    # ------------------------------------------------------------------------------------------- public

    @property
    def killed(self) -> bool:
        """True once a kill switch fired (latched until the risk aggregator is reset)."""
        return self.risk.killed

    @property
    def next_wake_ns(self) -> int | None:
        """When (event time, ns) a risk check would change its verdict with time alone (stale market data), as
        of the last decision; None when none would. A live driver asks its adapter for a Timer event then."""
        return self.risk.wake_at_ns

    @property
    def position(self) -> Decimal:
        """Our signed position as tracked from deduplicated fills (or adopted from the exchange)."""
        return self.portfolio.position

    @property
    def orders(self) -> OrderManager:
        """Our orders, as the exchange answered them and with every returned action in flight."""
        if self._uncommitted:
            self.commit()
        return self._orders

    def live_orders(self) -> list[Order]:
        """Every order not yet in a terminal state, in flight or acknowledged."""
        return self.orders.live()

    def commit(self) -> None:
        """Finish the last event off the order path: record its actions as in flight, then run the estimators'
        ``after_decision`` work (a periodic refit) that the event made due.

        ``handle`` returns its actions before doing either, so that a driver can send them first (the runner calls
        this once the batch is handed to the socket, and after every event). Whoever does not call it loses
        nothing: the next call into the engine (``handle``, ``stop``, ``live_orders``, reading ``orders``) does it
        first, so every decision is the same either way.
        """
        if self._uncommitted:
            actions, self._uncommitted = self._uncommitted, []
            self._track_sent(actions, self._uncommitted_ns)
        if self._after_due:
            self._after_due = False
            for est, hook in self._after:
                try:
                    hook()
                except Exception as exc:  # as in on_event: a broken plugin kills, it does not stop the loop
                    self._component_failed(est, "after_decision", exc)

    def handle(self, event: Event) -> list[Action]:
        """Process one event and return the actions to send, already checked (see ``commit`` for when they
        count as in flight: before anything else reads the orders)."""
        if self._uncommitted or self._after_due:
            self.commit()
        self.stats.events += 1
        ts = event.ts_local_ns
        if ts > self.now_ns:
            self.now_ns = ts
        if not self._track(event):
            return []
        self._update_estimators(event)
        self._after_due = bool(self._after)
        return self._decide()

    def stop(self, ts_ns: int) -> list[Action]:
        """Stop quoting for good and return cancels for every acknowledged live order."""
        self.quoting = False
        if ts_ns > self.now_ns:
            self.now_ns = ts_ns
        return self._register(self._cancels_for_live())

    def flatten_actions(self, slippage_bps: float = 50.0) -> list[Action]:
        """Reduce-only IOC orders that close the position at a price through the market (used after a kill)."""
        pos = self.portfolio.position
        mid = self.market.mid
        if pos == 0 or mid is None:
            return []
        side = Side.SELL if pos > 0 else Side.BUY
        limit = mid * (1 + side.sign * slippage_bps / 1e4)
        price = self.rules.round_price(limit, side, direction="aggressive")
        size = self.rules.round_size(abs(pos))
        if size <= 0:
            return []
        place = Place(self.cloids.next(), self.asset, side, price, size, Tif.IOC, reduce_only=True)
        return self._register([place])

    # ----------------------------------------------------------------------------------------- tracking

    def _track(self, event: Event) -> bool:
        """Apply an event to the market view, orders and portfolio; False when it must be skipped."""
        if isinstance(event, BookUpdate):
            return self._on_book(event)
        if isinstance(event, Trade):
            if not (_valid_positive(event.price) and _valid_positive(event.size)):
                return self._bad(event, "trade with a non-positive or non-finite price or size")
            self.market = attrs.evolve(self.market, ts_ns=event.ts_local_ns, last_trade_price=float(event.price))
            self._last_market_ns = event.ts_local_ns
            return True
        if isinstance(event, MidUpdate):
            if not _valid_positive(event.mid):
                return self._bad(event, "mid that is not a positive finite number")
            if self.market.book is None:
                mid = float(event.mid)
                self.market = attrs.evolve(self.market, ts_ns=event.ts_local_ns, mid=mid)
                self.portfolio.mark(mid)
            self._last_market_ns = event.ts_local_ns
            return True
        if isinstance(event, Fill):
            return self._on_fill(event)
        if isinstance(event, OrderUpdate):
            if not (_valid_amount(event.price) and _valid_amount(event.size) and _valid_amount(event.filled_size)):
                return self._bad(event, "order update with a price or size that is not a sane number")
            self._orders_dirty = True
            if event.crossed and event.status is OrderStatus.REJECTED:
                self._note_crossing(event)
            before = self._orders.get(event.cloid)
            order = self._orders.on_update(event)
            if order is not None and order.status is OrderStatus.REJECTED and (
                before is None or before.status is not OrderStatus.REJECTED
            ):
                self.stats.orders_rejected += 1
                held = self._log_limit.allow(("rejected", _DIGITS.sub("#", event.reason)), self.now_ns)
                if held is not None:
                    log.warning("Order rejected", extra={"fields": {"cloid": event.cloid, "reason": event.reason,
                                                                    "more_like_it": held}})
            return True
        if isinstance(event, Funding):
            if not (_valid_amount(event.payment) and _valid_amount(event.rate)):
                return self._bad(event, "funding with a rate or payment that is not a sane number")
            self.portfolio.on_funding(event)
            log.info(
                "Funding payment",
                extra={"fields": {"rate": float(event.rate), "payment": float(event.payment)}},
            )
            return True
        if isinstance(event, PositionSnapshot):
            return self._on_position_snapshot(event)
        if isinstance(event, RateLimited):
            self.stats.rate_limit_errors += 1
            self._rate_limit_ns.append(event.ts_local_ns)
            return True
        if isinstance(event, Connection):
            self.connected = event.up
            self._orders_dirty = True
            level = logging.INFO if event.up else logging.WARNING
            log.log(level, "Exchange connection %s", "up" if event.up else "down",
                    extra={"fields": {"reason": event.reason}})
            return True
        if isinstance(event, RequoteTolerance):
            multiplier = event.multiplier if math.isfinite(event.multiplier) else 1.0
            self.tolerance_multiplier = min(max(multiplier, 1.0), MAX_TOLERANCE_MULTIPLIER)
            self._orders_dirty = True
            return True
        if isinstance(event, Timer):
            return True
        return self._bad(event, f"unknown event type {type(event).__name__}")

    def _on_book(self, event: BookUpdate) -> bool:
        book = event.book
        if not book.bids or not book.asks:
            return self._bad(event, "book with an empty side")
        if not _sane_levels(book.bids) or not _sane_levels(book.asks):
            return self._bad(event, "book level with a non-positive or non-finite price or size")
        best_bid, best_ask = book.bids[0].price, book.asks[0].price
        if best_bid >= best_ask:
            return self._bad(event, "crossed book")
        mid = float((best_bid + best_ask) / 2)
        self.market = MarketState(
            asset=self.asset,
            ts_ns=event.ts_local_ns,
            book=book,
            mid=mid,
            best_bid=float(best_bid),
            best_ask=float(best_ask),
            last_trade_price=self.market.last_trade_price,
        )
        self.portfolio.mark(mid)
        self._last_market_ns = event.ts_local_ns
        if self._crossing:
            self._crossing.clear()  # a newer view of the book: quote from it again
        return True

    def _note_crossing(self, update: OrderUpdate) -> None:
        """Remember the price of a post-only place or modify the exchange refused as crossing the book."""
        order = self._orders.get(update.cloid)
        if order is None:
            return
        price = order.price
        if update.reason.startswith(MODIFY_FAILED_PREFIX):
            pending = self._orders.pending_quote(update.cloid)
            if pending is None:
                return
            price = pending.price
        fence = self._crossing.get(order.side)
        if fence is None or (price < fence if order.side is Side.BUY else price > fence):
            self._crossing[order.side] = price

    def _hold_crossing(self, actions: list[Action]) -> list[Action]:
        """Drop post-only places and modifies at or through a price the exchange refused as crossing since the
        last book: the market is through it, and our view of the book is behind. Sent again, each would be
        refused again (a round trip and an action of the rate budget each) until a newer book moves the ladder.
        Their levels stay unquoted until then; cancels and other orders go ahead."""
        kept: list[Action] = []
        crossing = self._crossing
        for action in actions:
            if isinstance(action, Place | Modify) and action.tif is Tif.ALO:
                fence = crossing.get(action.side)
                if fence is not None and (action.price >= fence if action.side is Side.BUY else action.price <= fence):
                    self.stats.crossing_held += 1
                    continue
            kept.append(action)
        return kept

    def _on_position_snapshot(self, snap: PositionSnapshot) -> bool:
        if snap.asset != self.asset or not (_valid_amount(snap.size) and _valid_amount(snap.entry_price)):
            return self._bad(snap, "position snapshot for another asset or not a number")
        local = self.portfolio.position
        if snap.size != local:
            self.stats.position_resyncs += 1
            log.warning(
                "Position resynced from the exchange",
                extra={"fields": {"local": str(local), "exchange": str(snap.size), "diff": str(snap.size - local)}},
            )
            self.portfolio.reset_position(snap.size, snap.entry_price)
            self._orders_dirty = True
        return True

    def _on_fill(self, fill: Fill) -> bool:
        if not (_valid_positive(fill.price) and _valid_positive(fill.size) and _valid_amount(fill.fee)):
            return self._bad(fill, "fill with a non-positive or non-finite price or size, or a fee not a number")
        if not self.portfolio.on_fill(fill):
            self.stats.duplicate_fills += 1
            return False
        self._orders.on_fill(fill)
        self._orders_dirty = True
        log.info(
            "Fill processed",
            extra={
                "fields": {
                    "side": "buy" if fill.side is Side.BUY else "sell",
                    "price": str(fill.price),
                    "size": str(fill.size),
                    "fee": str(fill.fee),
                    "liquidity": fill.liquidity.value,
                    "position": str(self.portfolio.position),
                    "trade_id": fill.trade_id,
                }
            },
        )
        return True

    def _bad(self, event: Event, why: str) -> bool:
        self.stats.bad_events += 1
        held = self._log_limit.allow(("bad", why), self.now_ns)
        if held is not None:
            log.warning("Skipped bad event", extra={"fields": {"type": type(event).__name__, "why": why,
                                                               "more_like_it": held}})
        return False

    # --------------------------------------------------------------------------------------- estimators

    def _update_estimators(self, event: Event) -> None:
        for est in self.estimators:
            try:
                est.on_event(event, self.market)
            except Exception as exc:  # a broken plugin must not take the loop down: kill instead
                self._component_failed(est, "on_event", exc)

    def _component_failed(self, component: object, where: str, exc: Exception) -> None:
        name = getattr(component, "name", type(component).__name__)
        self.stats.component_errors += 1
        if name not in self._failed_components:
            self._failed_components.add(name)
            log.error(
                "Component failed",
                exc_info=exc,
                extra={
                    "fields": {
                        "component": name,
                        "class": f"{type(component).__module__}.{type(component).__qualname__}",
                        "call": where,
                        "ts_ns": self.now_ns,
                    }
                },
            )
        reason = f"component {name} failed in {where}: {exc!r}"
        self.risk.kill(reason, {"errors": self.stats.component_errors}, self.now_ns)

    def _market_params(self) -> MarketParams | None:
        if self.market.mid is None:
            return None
        values: dict[str, float] = {}
        warmed = True
        isfinite = math.isfinite
        for est, gates in self._estimator_gates:
            try:
                ready = bool(est.warmed_up)
                if gates and not ready:
                    warmed = False
                if not ready:
                    continue
                for key, value in est.values().items():
                    if type(value) is float:  # the usual case, published as is (float() would return it)
                        if isfinite(value):
                            values[key] = value
                    elif isinstance(value, _NUMBER) and isfinite(value):
                        values[key] = float(value)
            except Exception as exc:
                self._component_failed(est, "values", exc)
                warmed = False
        return MarketParams(
            asset=self.asset,
            ts_ns=self.now_ns,
            mid=self.market.mid,
            best_bid=self.market.best_bid,
            best_ask=self.market.best_ask,
            values=values,
            warmed_up=warmed,
        )

    # ----------------------------------------------------------------------------------------- decisions

    def _decide(self) -> list[Action]:
        params = self._market_params()
        self.params = params
        state = self._risk_state(params)
        self.verdict = self.risk.evaluate(state)
        target = self._target(params, self.verdict)
        changed = target != self.ladder
        if changed:
            self.ladder = target
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "Calculated ladder",
                    extra={
                        "fields": {
                            "bids": [f"{q.size}@{q.price}" for q in target.bids],
                            "asks": [f"{q.size}@{q.price}" for q in target.asks],
                            "position": str(self.portfolio.position),
                        }
                    },
                )
        if not self.connected:
            return []
        # Reconciliation depends only on the target and our orders: when neither moved since a pass that
        # wanted nothing, it would want nothing again (the common case: most events leave the rounded ladder
        # where it was).
        if self._settled and not changed and not self._orders_dirty:
            return []
        self._orders_dirty = False
        live = self._orders.live()
        actions = reconcile(
            target,
            live,
            asset=self.asset,
            max_bps_diff=self.settings.trading.max_bps_diff * self.tolerance_multiplier,
            new_cloid=self.cloids.next,
            size_tolerance=self.size_tolerance,
            allow_modify=self.supports_modify,
            in_flight=self._orders.in_flight_cloids().__contains__,
            pending_quote=self._orders.pending_quote,
        )
        self._settled = not actions
        if self._crossing:
            actions = self._hold_crossing(actions)
        if not actions:
            return []
        reduce_only = self.verdict.level >= RiskLevel.REDUCE_ONLY or self._at_limit()
        if reduce_only:
            actions = [self._as_reduce_only(a) for a in actions]
        result = self.pretrade.check(
            actions,
            live,
            self.portfolio.position,
            self.market.mid,
            self.market.best_bid,
            self.market.best_ask,
            reduce_only=reduce_only,
            now_ns=self.now_ns,
            pending_quote=self._orders.pending_quote,
            limit_scale=self.risk.limit_scale(self.now_ns),
        )
        self.stats.pretrade_rejects += len(result.rejected)
        accepted = list(result.accepted)
        self._count_sent(accepted)
        self._uncommitted = accepted
        self._uncommitted_ns = self.now_ns
        return accepted

    def _risk_state(self, params: MarketParams | None) -> RiskState:
        return RiskState(
            asset=self.asset,
            ts_ns=self.now_ns,
            mid=self.market.mid,
            position=float(self.portfolio.position),
            max_position=self.settings.trading.max_absolute_position_size,
            pnl=self.portfolio.snapshot(self.now_ns),
            last_market_ts_ns=self._last_market_ns,
            open_orders=self._orders.live_count(),
            # Read-only already (a mapping proxy), so the monitors can share it rather than get a copy.
            values=params.values if params is not None else {},
            rate_limit_errors_ns=tuple(self._rate_limit_ns),
            capital_usd=self.capital_usd,
        )

    def _at_limit(self) -> bool:
        """At or beyond the position limit (scaled down during re-entry after a kill reset)."""
        limit = self.settings.trading.max_absolute_position_size * self.risk.limit_scale(self.now_ns)
        return abs(float(self.portfolio.position)) >= limit

    def _target(self, params: MarketParams | None, verdict: Verdict) -> Ladder:
        if not self.quoting or verdict.level >= RiskLevel.KILL or verdict.level is RiskLevel.PAUSE:
            return Ladder.empty()
        if params is None or not params.warmed_up:
            return Ladder.empty()
        reduce_only = verdict.level >= RiskLevel.REDUCE_ONLY or self._at_limit()
        scale = self.risk.limit_scale(self.now_ns)
        ctx = QuoteContext(
            params=params,
            position=float(self.portfolio.position),
            max_position=self.settings.trading.max_absolute_position_size * scale,
            target_liquidity=self.settings.trading.target_liquidity * scale,
            risk_aversion=self.settings.trading.risk_aversion,
            rules=self.rules,
            ladder=self.settings.strategy.ladder,
            maker_fee_bps=self.settings.trading.maker_fee_bps,
            ts_ns=self.now_ns,
            reduce_only=reduce_only,
        )
        try:
            ladder = self.strategy.quote(ctx)
            self.stats.quotes_computed += 1
        except Exception as exc:
            self._component_failed(self.strategy, "quote", exc)
            return Ladder.empty()
        if reduce_only:
            ladder = self._reduce_only_ladder(ladder)
        elif self._reduce_only_logged:
            self._reduce_only_logged = False
            log.warning("Reduce-only mode ended", extra={"fields": {"position": str(self.portfolio.position)}})
        return ladder

    def _reduce_only_ladder(self, ladder: Ladder) -> Ladder:
        """Keep only the side that reduces the position, its total capped at the position (defence in depth)."""
        pos = self.portfolio.position
        if not self._reduce_only_logged:
            self._reduce_only_logged = True
            log.warning(
                "Reduce-only mode",
                extra={"fields": {"position": str(pos), "reason": self.verdict.reason or "position limit"}},
            )
        if pos == 0:
            return Ladder.empty()
        levels = ladder.asks if pos > 0 else ladder.bids
        room = abs(pos)
        kept: list[Quote] = []
        for q in levels:
            size = min(q.size, room)
            if size <= 0 or not self.rules.meets_min_notional(q.price, size):
                break
            kept.append(Quote(q.price, size))
            room -= size
        return Ladder(bids=(), asks=tuple(kept)) if pos > 0 else Ladder(bids=tuple(kept), asks=())

    def _as_reduce_only(self, action: Action) -> Action:
        if isinstance(action, Place | Modify):
            return attrs.evolve(action, reduce_only=True)
        return action

    def _cancels_for_live(self) -> list[Action]:
        return [
            Cancel(o.cloid, self.asset)
            for o in self.orders.live()
            if o.status is not OrderStatus.PENDING_NEW
            and o.status is not OrderStatus.PENDING_CANCEL
            and not self.orders.in_flight(o.cloid)
        ]

    def _register(self, actions: list[Action]) -> list[Action]:
        """Count and record ``actions`` as in flight now (after any decision still to be recorded)."""
        if self._uncommitted:
            self.commit()
        self._count_sent(actions)
        self._track_sent(actions, self.now_ns)
        return actions

    def _count_sent(self, actions: list[Action]) -> None:
        if actions:
            self._orders_dirty = True
        stats = self.stats
        for action in actions:
            if isinstance(action, Place):
                stats.orders_placed += 1
            elif isinstance(action, Modify):
                stats.orders_modified += 1
            else:
                stats.orders_cancelled += 1

    def _track_sent(self, actions: list[Action], ts: int) -> None:
        """Enter the actions in the order tracker, stamped ``ts`` (the time of the decision that made them)."""
        orders = self._orders
        for action in actions:
            if isinstance(action, Place):
                orders.on_place(action, ts)
            elif isinstance(action, Modify):
                orders.on_modify(action, ts)
            else:
                orders.on_cancel(action, ts)
