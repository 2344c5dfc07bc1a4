"""The simulated exchange as a synchronous stream of core events: market, matching engine, latency and timers.

:class:`Simulation` is what a backtester drives in a plain loop (``submit_now`` / ``next_event``); the ``sim``
adapter wraps it for asyncio. Time only moves through the :class:`ManualClock` it owns.

Timing: an action submitted when the clock reads ``now`` reaches the matching engine at ``now + order_latency``
(exchange time). Everything the exchange says, market data and answers alike, is stamped with that exchange
time and reaches us ``market_data_latency`` later (``ts_local_ns``); events come out in ``ts_local_ns`` order
and the clock is advanced to each event's local time as it is handed out. Ties are broken actions first, then
market, then timers, so the stream depends only on the seed and on what was submitted when.
"""

from __future__ import annotations

import heapq
from collections import deque
from collections.abc import Sequence

from mmtool.core.clock import ManualClock
from mmtool.core.rounding import AssetRules, to_decimal
from mmtool.core.types import (
    Action,
    BookLevel,
    BookUpdate,
    Cancel,
    Connection,
    Event,
    Fill,
    Funding,
    L2Book,
    MidUpdate,
    Modify,
    Order,
    OrderStatus,
    OrderUpdate,
    Place,
    Position,
    Timer,
    Trade,
)
from mmtool.plugins.exchanges.sim.config import SimConfig
from mmtool.plugins.exchanges.sim.ledger import AccountState, FillRecord
from mmtool.plugins.exchanges.sim.market import NS, BookStep, FundingStep, SweepStep, SyntheticMarket
from mmtool.plugins.exchanges.sim.matching import (
    FundingRecord,
    MatchingEngine,
    OrderRecord,
    OrderRequest,
    Record,
    TradeRecord,
)
from mmtool.plugins.exchanges.sim.units import DecimalCache

#: 2026-01-01T00:00:00Z: every simulation starts here, so runs are reproducible (and funding falls on the hour).
EPOCH_NS = 1_767_225_600 * NS
#: Prefixes of the reasons of failed modifies and cancels (the convention the order manager follows).
MODIFY_PREFIX = "modify: "
CANCEL_PREFIX = "cancel: "
CANCEL_FAILURE_TEXT = "Simulated exchange error: cancel refused (cancel_failures)."

_ACTION, _MARKET, _TIMER = 0, 1, 2


class Simulation:
    """Market, matching engine and latency as one synchronous, deterministic stream of core events."""

    def __init__(self, config: SimConfig, asset: str = "ETH", *, leverage: int = 3, start_ns: int = EPOCH_NS) -> None:
        self.config = config
        self.asset = asset
        self.clock = ManualClock(start_ns)
        self.market = SyntheticMarket(config, start_ns)
        self.rules = AssetRules(asset, config.sz_decimals, config.max_leverage)
        self.engine = MatchingEngine(
            self.rules,
            self.market.book,
            asset_id=0,
            deposit=to_decimal(config.balance_usd),
            leverage=max(1, min(leverage, config.max_leverage)),
            maker_fee=to_decimal(config.maker_fee),
            taker_fee=to_decimal(config.taker_fee),
            hash_salt=f"sim-{config.seed}",
        )
        self._order_latency = int(config.order_latency_ms * 1_000_000)
        self._md_latency = int(config.market_data_latency_ms * 1_000_000)
        self._timer_interval = max(1, int(config.timer_interval_ms * 1_000_000))
        self._next_timer = start_ns + self._timer_interval
        self._end_ns = start_ns + int(config.duration_secs * NS) if config.duration_secs > 0 else None
        self._pending: list[tuple[int, int, Action]] = []
        self._seq = 0
        self._cancel_failures_left = config.cancel_failures
        self._sizes = DecimalCache(config.sz_decimals)
        self._buffer: deque[Event] = deque([Connection(True, start_ns, start_ns)])

    # ------------------------------------------------------------------------------------------- stepping

    def peek_time(self) -> int | None:
        """Local time of the next event, without producing it; None when the stream has ended."""
        if self._buffer:
            return self._buffer[0].ts_local_ns
        key, _ = self._next_happening()
        return None if self._end_ns is not None and key > self._end_ns else key

    def next_event(self) -> Event | None:
        """Produce the next event (advancing the clock to its local time); None when the stream has ended."""
        while not self._buffer:
            key, kind = self._next_happening()
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

    def _next_happening(self) -> tuple[int, int]:
        candidates = [(self.market.next_time() + self._md_latency, _MARKET), (self._next_timer, _TIMER)]
        if self._pending:
            candidates.append((self._pending[0][0] + self._md_latency, _ACTION))
        return min(candidates)

    def _market_step(self) -> None:
        step = self.market.step()
        if step is None:
            return
        ts = step.ts_ns
        if isinstance(step, BookStep):
            self.engine.on_book(ts)
            self._flush()
            self._buffer.append(self._book_update(ts))
            if step.mid_changed:
                mid = self.engine.mark()
                if mid is not None:
                    self._buffer.append(MidUpdate(self.asset, mid, ts, ts + self._md_latency))
        elif isinstance(step, SweepStep):
            self.engine.on_sweep(step.side, step.levels, ts, step.hidden)
            self._flush()
        elif isinstance(step, FundingStep):
            self.engine.on_funding(step.rate, ts)
            self._flush()

    def _book_update(self, ts: int) -> BookUpdate:
        price, size = self.engine.price, self._sizes
        book = self.market.book
        bids = tuple(BookLevel(price(p), size(s), n) for p, s, n in book.bids)
        asks = tuple(BookLevel(price(p), size(s), n) for p, s, n in book.asks)
        return BookUpdate(self.asset, L2Book(bids, asks), ts, ts + self._md_latency)

    def _apply(self, action: Action, ts: int) -> None:
        local = ts + self._md_latency
        if action.asset != self.asset:
            prefix = {Modify: MODIFY_PREFIX, Cancel: CANCEL_PREFIX}.get(type(action), "")
            status = OrderStatus.RESTING if isinstance(action, Cancel) else OrderStatus.REJECTED
            reason = f"{prefix}Unknown asset {action.asset!r}: this simulator trades {self.asset}."
            self._buffer.append(OrderUpdate(action.asset, action.cloid, status, ts, local, reason=reason))
            return
        if isinstance(action, Place):
            request = OrderRequest(action.cloid, action.side, action.price, action.size, action.tif, action.reduce_only)
            result = self.engine.place(request, ts)
            self._flush()
            if not result.ok:
                self._buffer.append(
                    OrderUpdate(self.asset, action.cloid, OrderStatus.REJECTED, ts, local, price=action.price,
                                size=action.size, reason=result.error)
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
                                oid=live.oid if live else None, reason=MODIFY_PREFIX + result.error)
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
            self._buffer.append(self._translate(record))

    def _translate(self, record: Record) -> Event:
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
            return Trade(self.asset, record.price, record.size, record.side, record.tid, ts, local)
        assert isinstance(record, FundingRecord)
        return Funding(self.asset, record.rate, record.payment, ts, local)

