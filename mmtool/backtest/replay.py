"""A replayed market: the simulator's matching engine driven by recorded books and trades instead of the
synthetic market (:class:`~mmtool.plugins.exchanges.sim.simulator.Simulation` is built around its own
synthetic market, so this is a small driver of its own around :class:`MatchingEngine`).

Time: the recording's receive time is the market's clock. A recorded event received at ``T`` is applied to the
matching engine at ``T`` and reaches the engine at ``T + market_data_latency_ms`` (default 0: the recording
already carries the real feed latency). Our actions reach the matching engine ``order_latency_ms`` after they
are sent; the exchange's answers come back ``market_data_latency_ms`` later. Ties: actions, then market, then
timers, as in the simulator.

Matching, with the simulator's queue model (see :mod:`~mmtool.plugins.exchanges.sim.matching`):

* a recorded ``l2Book`` replaces the displayed book; resting orders it crosses fill as makers and queue
  positions shrink with the displayed size;
* recorded trades of one aggressive order (same receive time, exchange time and aggressor side) form one sweep,
  walked in price order: levels before the last are consumed, and at the last price the traded volume is shared
  FIFO between the displayed queue ahead of our orders and our orders; volume beyond the displayed size counts
  as hidden liquidity;
* the public tape we see is the recorded tape (original trade ids); our own fills arrive as ``Fill`` events;
* a recorded funding time charges or pays our position at the mark with the recorded rate.

The recorded market does not react to our orders: our fills take no liquidity away from later recorded events.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path

import attrs

from mmtool.backtest.reader import MarketEvent, iter_recording
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
    MidUpdate,
    Modify,
    OrderStatus,
    OrderUpdate,
    Place,
    Position,
    Side,
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
)
from mmtool.plugins.exchanges.sim.simulator import CANCEL_PREFIX, MODIFY_PREFIX

_ACTION, _MARKET, _TIMER = 0, 1, 2
#: Events read ahead to infer szDecimals when the caller does not give it.
INFER_EVENTS = 200


def infer_sz_decimals(events: Sequence[MarketEvent]) -> int:
    """The most decimals any displayed size carries in these events (Hyperliquid writes sizes without
    trailing zeros), capped at 6; 0 when there is no book."""
    decimals = 0
    for event in events:
        if isinstance(event, BookUpdate):
            for level in (*event.book.bids, *event.book.asks):
                exponent = level.size.normalize().as_tuple().exponent
                if isinstance(exponent, int):
                    decimals = max(decimals, -exponent)
    return min(decimals, 6)


class ReplayExchange:
    """The simulator's matching engine over a recorded market, as one synchronous stream of core events."""

    def __init__(
        self,
        events: Iterable[MarketEvent],
        config: SimConfig,
        asset: str,
        *,
        sz_decimals: int,
        leverage: int = 3,
    ) -> None:
        self.config = config
        self.asset = asset
        self._market: Iterator[MarketEvent] = iter(events)
        self._ahead: MarketEvent | None = next(self._market, None)
        if self._ahead is None:
            raise ValueError("the recording has no event for this asset")
        start = self._ahead.ts_local_ns
        self.clock = ManualClock(start)
        self.rules = AssetRules(asset, sz_decimals, config.max_leverage)
        self.book = SimBook()
        self.engine = MatchingEngine(
            self.rules,
            self.book,
            deposit=to_decimal(config.balance_usd),
            leverage=max(1, min(leverage, config.max_leverage)),
            maker_fee=to_decimal(config.maker_fee),
            taker_fee=to_decimal(config.taker_fee),
            hash_salt="replay",
        )
        self._price_scale = self.rules.max_price_decimals
        self._order_latency = round(config.order_latency_ms * 1_000_000)
        self._md_latency = round(config.market_data_latency_ms * 1_000_000)
        self._timer_interval = max(1, round(config.timer_interval_ms * 1_000_000))
        self._next_timer = start + self._timer_interval
        self._pending: list[tuple[int, int, Action]] = []
        self._seq = 0
        self._buffer: deque[Event] = deque([Connection(True, start, start)])
        #: Recorded events applied so far.
        self.market_events = 0

    # ------------------------------------------------------------------------------------------- stepping

    def next_event(self) -> Event | None:
        """Produce the next event (advancing the clock to its local time); None when data and answers ran out."""
        while not self._buffer:
            happening = self._next_happening()
            if happening is None:
                return None
            key, kind = happening
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
        """Cancel every open order of ours at once; return how many remain (always 0)."""
        ts = self.clock.now_ns()
        for order in self.engine.open_orders():
            self.engine.cancel(order.cloid, ts)
        self._flush()
        return len(self.engine.open_orders())

    # ------------------------------------------------------------------------------------------- queries

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
        if self._ahead is not None:
            candidates.append((self._ahead.ts_local_ns + self._md_latency, _MARKET))
            candidates.append((self._next_timer, _TIMER))
        if self._pending:
            candidates.append((self._pending[0][0] + self._md_latency, _ACTION))
        return min(candidates) if candidates else None

    def _take_ahead(self) -> MarketEvent:
        event = self._ahead
        assert event is not None
        self._ahead = next(self._market, None)
        self.market_events += 1
        return event

    def _market_step(self) -> None:
        event = self._take_ahead()
        ts = event.ts_local_ns
        local = ts + self._md_latency
        if isinstance(event, BookUpdate):
            self.book.bids = self._levels(event.book.bids)
            self.book.asks = self._levels(event.book.asks)
            self.engine.on_book(ts)
            self._flush()
            self._buffer.append(attrs.evolve(event, ts_local_ns=local))
        elif isinstance(event, Trade):
            trades = [event]
            while (
                isinstance(self._ahead, Trade)
                and self._ahead.ts_local_ns == ts
                and self._ahead.ts_exchange_ns == event.ts_exchange_ns
                and self._ahead.side is event.side
            ):
                trades.append(self._take_ahead())  # type: ignore[arg-type]
            self._sweep(event.side, trades, ts)
            self._buffer.extend(attrs.evolve(t, ts_local_ns=local) for t in trades)
        elif isinstance(event, MidUpdate):
            self._buffer.append(attrs.evolve(event, ts_local_ns=local))
        elif isinstance(event, Funding):
            self.engine.on_funding(event.rate, ts)
            self._flush()

    def _levels(self, levels: tuple[BookLevel, ...]) -> list[list[int]]:
        return [[self._px(level.price), self._lots(level.size), level.count] for level in levels]

    def _px(self, price: Decimal) -> int:
        return int(price.scaleb(self._price_scale).to_integral_value())

    def _lots(self, size: Decimal) -> int:
        return int(size.scaleb(self.rules.sz_decimals).to_integral_value())

    def _sweep(self, aggressor: Side, trades: list[Trade], ts: int) -> None:
        """Lay one aggressive order's prints over the displayed book and let the matching engine fill us."""
        volume: dict[int, int] = {}
        for trade in trades:
            px = self._px(trade.price)
            volume[px] = volume.get(px, 0) + self._lots(trade.size)
        levels = sorted(((px, lots) for px, lots in volume.items() if lots > 0), key=lambda lv: lv[0] * aggressor.sign)
        if not levels:
            return
        hit = aggressor.opposite
        for px, lots in levels[:-1]:
            self.book.consume(hit, px, lots)
        last_px, last_lots = levels[-1]
        hidden = last_lots - self.book.consume(hit, last_px, last_lots)
        self.engine.on_sweep(aggressor, levels, ts, hidden)
        self._flush()

    def _apply(self, action: Action, ts: int) -> None:
        local = ts + self._md_latency
        if action.asset != self.asset:
            prefix = {Modify: MODIFY_PREFIX, Cancel: CANCEL_PREFIX}.get(type(action), "")
            status = OrderStatus.RESTING if isinstance(action, Cancel) else OrderStatus.REJECTED
            reason = f"{prefix}Unknown asset {action.asset!r}: this replay trades {self.asset}."
            self._buffer.append(OrderUpdate(action.asset, action.cloid, status, ts, local, reason=reason))
            return
        if isinstance(action, Place):
            request = OrderRequest(action.cloid, action.side, action.price, action.size, action.tif, action.reduce_only)
            result = self.engine.place(request, ts)
            self._flush()
            if not result.ok:
                self._buffer.append(OrderUpdate(self.asset, action.cloid, OrderStatus.REJECTED, ts, local,
                                                price=action.price, size=action.size, reason=result.error))
        elif isinstance(action, Modify):
            request = OrderRequest(action.new_cloid or action.cloid, action.side, action.price, action.size,
                                   action.tif, action.reduce_only)
            result = self.engine.modify(action.cloid, request, ts)
            self._flush()
            if not result.ok:
                live = self.engine.order(action.cloid)
                self._buffer.append(OrderUpdate(self.asset, action.cloid, OrderStatus.REJECTED, ts, local,
                                                oid=live.oid if live else None, reason=MODIFY_PREFIX + result.error))
        else:
            error = self.engine.cancel(action.cloid, ts)
            self._flush()
            if error is not None:
                live = self.engine.order(action.cloid)
                self._buffer.append(OrderUpdate(self.asset, action.cloid, OrderStatus.RESTING, ts, local,
                                                oid=live.oid if live else None, reason=CANCEL_PREFIX + error))

    def _flush(self) -> None:
        for record in self.engine.drain():
            event = self._translate(record)
            if event is not None:
                self._buffer.append(event)

    def _translate(self, record: Record) -> Event | None:
        ts = record.ts_ns
        local = ts + self._md_latency
        if isinstance(record, OrderRecord):
            return OrderUpdate(self.asset, record.cloid, record.status, ts, local, oid=record.oid, price=record.price,
                               size=record.size, filled_size=record.filled, reason=record.reason)
        if isinstance(record, FillRecord):
            return Fill(self.asset, record.cloid, record.oid, record.tid, record.side, record.price, record.size,
                        record.fee, record.liquidity, ts, local)
        if isinstance(record, FundingRecord):
            return Funding(self.asset, record.rate, record.payment, ts, local)
        return None  # the matching engine's trade prints: the recorded tape stands in for them


def replay_exchange(
    directory: str | Path,
    config: SimConfig,
    asset: str,
    *,
    leverage: int = 3,
    sz_decimals: int | None = None,
) -> ReplayExchange:
    """A :class:`ReplayExchange` over the recording in ``directory`` (szDecimals inferred unless given)."""
    events = iter_recording(directory, asset)
    if sz_decimals is None:
        head = list(itertools.islice(events, INFER_EVENTS))
        sz_decimals = infer_sz_decimals(head)
        events = itertools.chain(head, events)
    return ReplayExchange(events, config, asset, sz_decimals=sz_decimals, leverage=leverage)
