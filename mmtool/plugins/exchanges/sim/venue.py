"""A matching engine behind latency and timers, as one synchronous stream of core events.

What the synthetic simulator and the backtester's replay of recorded data share: our actions reach the matching
engine ``order_latency_ms`` after they are sent; everything the exchange says (market data and answers) is
stamped with exchange time and reaches us ``market_data_latency_ms`` later; a ``Timer`` every
``timer_interval_ms``; events come out in local-time order and the clock advances to each as it is handed out.
Ties are broken actions first, then market, then timers, so the stream depends only on the market and on what
was submitted when. Trigger orders are rejected (the simulated venue has no trigger book). Subclasses supply
the market: :meth:`Venue._next_market_time` and :meth:`Venue._market_step`.
"""

from __future__ import annotations

import abc
import heapq
from collections import deque
from collections.abc import Sequence

from mmtool.core.clock import ManualClock
from mmtool.core.rounding import AssetRules, to_decimal
from mmtool.core.types import (
    Action,
    Cancel,
    Connection,
    Event,
    Fill,
    Funding,
    Modify,
    Order,
    OrderStatus,
    OrderUpdate,
    Place,
    Position,
    Timer,
    Trade,
)
from mmtool.plugins.exchanges.sim.book import SimBook
from mmtool.plugins.exchanges.sim.config import SimConfig
from mmtool.plugins.exchanges.sim.ledger import AccountState, FillRecord
from mmtool.plugins.exchanges.sim.matching import (
    FundingRecord,
    MatchingEngine,
    OrderRecord,
    OrderRequest,
    Record,
    TradeRecord,
)

#: Prefixes of the reasons of failed modifies and cancels (the convention the order manager follows).
MODIFY_PREFIX = "modify: "
CANCEL_PREFIX = "cancel: "
CANCEL_FAILURE_TEXT = "Simulated exchange error: cancel refused (cancel_failures)."
TRIGGER_UNSUPPORTED = "Trigger orders are not supported by the simulated exchange."

_ACTION, _MARKET, _TIMER = 0, 1, 2


class Venue(abc.ABC):
    """Our orders on a :class:`MatchingEngine`, with latency, timers and the exchange's answers as core events."""

    #: How the venue names itself in rejections ("this simulator trades ETH").
    venue_name = "venue"
    #: Whether the matching engine's trade prints are published (False when a recorded tape stands in).
    publishes_trades = True

    def __init__(
        self,
        config: SimConfig,
        asset: str,
        rules: AssetRules,
        book: SimBook,
        *,
        start_ns: int,
        leverage: int,
        hash_salt: str,
        end_ns: int | None = None,
    ) -> None:
        self.config = config
        self.asset = asset
        self.rules = rules
        self.clock = ManualClock(start_ns)
        self.engine = MatchingEngine(
            rules,
            book,
            asset_id=0,
            deposit=to_decimal(config.balance_usd),
            leverage=max(1, min(leverage, config.max_leverage)),
            maker_fee=to_decimal(config.maker_fee),
            taker_fee=to_decimal(config.taker_fee),
            hash_salt=hash_salt,
        )
        self._order_latency = int(config.order_latency_ms * 1_000_000)
        self._md_latency = int(config.market_data_latency_ms * 1_000_000)
        self._timer_interval = max(1, int(config.timer_interval_ms * 1_000_000))
        self._next_timer = start_ns + self._timer_interval
        self._end_ns = end_ns
        self._pending: list[tuple[int, int, Action]] = []
        self._seq = 0
        self._cancel_failures_left = config.cancel_failures
        self._buffer: deque[Event] = deque([Connection(True, start_ns, start_ns)])

    # ------------------------------------------------------------------------------------- the market

    @abc.abstractmethod
    def _next_market_time(self) -> int | None:
        """Exchange time of the next market step; None when the market has no more."""

    @abc.abstractmethod
    def _market_step(self) -> None:
        """Apply the next market step to the matching engine and buffer what it publishes."""

    # ------------------------------------------------------------------------------------------- stepping

    def peek_time(self) -> int | None:
        """Local time of the next event, without producing it; None when the stream has ended."""
        if self._buffer:
            return self._buffer[0].ts_local_ns
        happening = self._next_happening()
        if happening is None:
            return None
        key, _ = happening
        return None if self._end_ns is not None and key > self._end_ns else key

    def next_event(self) -> Event | None:
        """Produce the next event (advancing the clock to its local time); None when the stream has ended."""
        while not self._buffer:
            happening = self._next_happening()
            if happening is None:
                return None
            key, kind = happening
            if self._end_ns is not None and key > self._end_ns:
                return None
            if kind == _ACTION:
                arrival, _, action = heapq.heappop(self._pending)
                self._apply(action, arrival)
            elif kind == _MARKET:
                self._market_step()
            else:
                self._buffer.append(Timer(key, key))
                self._next_timer += self._timer_interval
        event = self._buffer.popleft()
        self.clock.advance_to(event.ts_local_ns)
        return event

    def submit_now(self, actions: Sequence[Action]) -> None:
        """Send actions: each reaches the matching engine ``order_latency_ms`` after the clock's present time."""
        arrival = self.clock.now_ns() + self._order_latency
        for action in actions:
            self._seq += 1
            heapq.heappush(self._pending, (arrival, self._seq, action))

    def cancel_all_now(self) -> int:
        """Cancel every open order of ours at once (subject to ``cancel_failures``); return how many remain."""
        ts = self.clock.now_ns()
        for order in self.engine.open_orders():
            if self._cancel_failures_left > 0:
                self._cancel_failures_left -= 1
                self._buffer.append(self._cancel_failed(order.cloid, ts, CANCEL_FAILURE_TEXT))
            else:
                self.engine.cancel(order.cloid, ts)
                self._flush()
        return len(self.engine.open_orders())

    # ------------------------------------------------------------------------------------------- queries

    def open_orders(self) -> list[Order]:
        """Our open orders as the exchange knows them (``size`` is filled plus resting, as the tracker has it)."""
        return [
            Order(
                cloid=o.cloid, asset=self.asset, side=o.side, price=o.price, size=o.filled + o.size,
                status=OrderStatus.PARTIALLY_FILLED if o.filled > 0 else OrderStatus.RESTING, tif=o.tif,
                reduce_only=o.reduce_only, oid=o.oid, filled=o.filled, created_ns=o.created_ns,
                updated_ns=o.created_ns,
            )
            for o in self.engine.open_orders()
        ]

    def position(self) -> Position:
        """Our position and its average entry price."""
        account = self.engine.account
        return Position(self.asset, account.position, account.entry_price)

    def account_state(self) -> AccountState:
        """Position, entry, realized PnL, fees, funding, balance and account value at the current mark."""
        return self.engine.account.state(self.engine.mark())

    @property
    def ledger(self) -> list[FillRecord]:
        """Every fill of ours so far, in order (a copy)."""
        return list(self.engine.ledger)

    # ------------------------------------------------------------------------------------------- private

    def _next_happening(self) -> tuple[int, int] | None:
        candidates: list[tuple[int, int]] = []
        market = self._next_market_time()
        if market is not None:
            candidates.append((market + self._md_latency, _MARKET))
            candidates.append((self._next_timer, _TIMER))
        if self._pending:
            candidates.append((self._pending[0][0] + self._md_latency, _ACTION))
        return min(candidates) if candidates else None

    def _apply(self, action: Action, ts: int) -> None:
        local = ts + self._md_latency
        if action.asset != self.asset:
            prefix = {Modify: MODIFY_PREFIX, Cancel: CANCEL_PREFIX}.get(type(action), "")
            status = OrderStatus.RESTING if isinstance(action, Cancel) else OrderStatus.REJECTED
            reason = f"{prefix}Unknown asset {action.asset!r}: this {self.venue_name} trades {self.asset}."
            self._buffer.append(OrderUpdate(action.asset, action.cloid, status, ts, local, reason=reason))
            return
        if isinstance(action, Place) and action.trigger is not None:
            # The simulated venue has no trigger book: refusing beats resting a stop as a plain limit order.
            self._buffer.append(
                OrderUpdate(self.asset, action.cloid, OrderStatus.REJECTED, ts, local, price=action.price,
                            size=action.size, reason=TRIGGER_UNSUPPORTED)
            )
        elif isinstance(action, Place):
            request = OrderRequest(action.cloid, action.side, action.price, action.size, action.tif, action.reduce_only)
            result = self.engine.place(request, ts)
            self._flush()
            if not result.ok:
                self._buffer.append(
                    OrderUpdate(self.asset, action.cloid, OrderStatus.REJECTED, ts, local, price=action.price,
                                size=action.size, reason=result.error, crossed=result.crossed)
                )
        elif isinstance(action, Modify):
            request = OrderRequest(
                action.new_cloid or action.cloid, action.side, action.price, action.size, action.tif,
                action.reduce_only,
            )
            result = self.engine.modify(action.cloid, request, ts)
            self._flush()
            if not result.ok:
                live = self.engine.order(action.cloid)
                self._buffer.append(
                    OrderUpdate(self.asset, action.cloid, OrderStatus.REJECTED, ts, local,
                                oid=live.oid if live else None, reason=MODIFY_PREFIX + result.error,
                                crossed=result.crossed)
                )
        else:
            if self._cancel_failures_left > 0:
                self._cancel_failures_left -= 1
                self._buffer.append(self._cancel_failed(action.cloid, ts, CANCEL_FAILURE_TEXT))
                return
            error = self.engine.cancel(action.cloid, ts)
            self._flush()
            if error is not None:
                self._buffer.append(self._cancel_failed(action.cloid, ts, error))

    def _cancel_failed(self, cloid: str, ts: int, text: str) -> OrderUpdate:
        live = self.engine.order(cloid)
        return OrderUpdate(
            self.asset, cloid, OrderStatus.RESTING, ts, ts + self._md_latency,
            oid=live.oid if live else None, price=live.price if live else None,
            size=live.size if live else None, filled_size=live.filled if live else None,
            reason=CANCEL_PREFIX + text,
        )

    def _flush(self) -> None:
        for record in self.engine.drain():
            event = self._translate(record)
            if event is not None:
                self._buffer.append(event)

    def _translate(self, record: Record) -> Event | None:
        ts = record.ts_ns
        local = ts + self._md_latency
        if isinstance(record, OrderRecord):
            return OrderUpdate(
                self.asset, record.cloid, record.status, ts, local, oid=record.oid, price=record.price,
                size=record.size, filled_size=record.filled, reason=record.reason,
            )
        if isinstance(record, FillRecord):
            return Fill(
                self.asset, record.cloid, record.oid, record.tid, record.side, record.price, record.size, record.fee,
                record.liquidity, ts, local,
            )
        if isinstance(record, TradeRecord):
            if not self.publishes_trades:
                return None
            return Trade(self.asset, record.price, record.size, record.side, record.tid, ts, local)
        assert isinstance(record, FundingRecord)
        return Funding(self.asset, record.rate, record.payment, ts, local)

