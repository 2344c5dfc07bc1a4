"""A replayed market: the simulator's matching engine driven by recorded books and trades instead of the
synthetic market (:class:`~mmtool.plugins.exchanges.sim.simulator.Simulation` is built around its own
synthetic market; both share :class:`~mmtool.plugins.exchanges.sim.venue.Venue` for latency, timers and the
exchange's answers, and this module supplies the recorded market).

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

import itertools
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path

import attrs

from mmtool.backtest.reader import MarketEvent, iter_recording
from mmtool.core.rounding import AssetRules
from mmtool.core.types import (
    BookLevel,
    BookUpdate,
    Funding,
    MidUpdate,
    Side,
    Trade,
)
from mmtool.plugins.exchanges.sim.book import SimBook
from mmtool.plugins.exchanges.sim.config import SimConfig
from mmtool.plugins.exchanges.sim.venue import Venue

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


class ReplayExchange(Venue):
    """The simulator's matching engine over a recorded market, as one synchronous stream of core events."""

    venue_name = "replay"
    #: The recorded tape stands in for the matching engine's trade prints.
    publishes_trades = False

    def __init__(
        self,
        events: Iterable[MarketEvent],
        config: SimConfig,
        asset: str,
        *,
        sz_decimals: int,
        leverage: int = 3,
    ) -> None:
        self._market: Iterator[MarketEvent] = iter(events)
        self._ahead: MarketEvent | None = next(self._market, None)
        if self._ahead is None:
            raise ValueError("the recording has no event for this asset")
        self.book = SimBook()
        rules = AssetRules(asset, sz_decimals, config.max_leverage)
        super().__init__(
            config, asset, rules, self.book, start_ns=self._ahead.ts_local_ns, leverage=leverage, hash_salt="replay"
        )
        self._price_scale = rules.max_price_decimals
        #: Recorded events applied so far.
        self.market_events = 0

    def _next_market_time(self) -> int | None:
        return None if self._ahead is None else self._ahead.ts_local_ns

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
