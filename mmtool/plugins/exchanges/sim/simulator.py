"""The simulated exchange as a synchronous stream of core events: market, matching engine, latency and timers.

:class:`Simulation` is what a backtester drives in a plain loop (``submit_now`` / ``next_event``); the ``sim``
adapter wraps it for asyncio. Time only moves through the :class:`ManualClock` it owns. The latency, timer and
answer machinery is :class:`~mmtool.plugins.exchanges.sim.venue.Venue`'s; this module supplies the synthetic market.

Timing: an action submitted when the clock reads ``now`` reaches the matching engine at ``now + order_latency``
(exchange time). Everything the exchange says, market data and answers alike, is stamped with that exchange
time and reaches us ``market_data_latency`` later (``ts_local_ns``); events come out in ``ts_local_ns`` order
and the clock is advanced to each event's local time as it is handed out. Ties are broken actions first, then
market, then timers, so the stream depends only on the seed and on what was submitted when.
"""

from __future__ import annotations

from mmtool.core.rounding import AssetRules
from mmtool.core.types import (
    BookLevel,
    BookUpdate,
    L2Book,
    MidUpdate,
)
from mmtool.plugins.exchanges.sim.config import SimConfig
from mmtool.plugins.exchanges.sim.market import NS, BookStep, FundingStep, SweepStep, SyntheticMarket
from mmtool.plugins.exchanges.sim.units import DecimalCache
from mmtool.plugins.exchanges.sim.venue import CANCEL_FAILURE_TEXT, CANCEL_PREFIX, MODIFY_PREFIX, Venue

__all__ = ["CANCEL_FAILURE_TEXT", "CANCEL_PREFIX", "EPOCH_NS", "MODIFY_PREFIX", "Simulation"]

#: 2026-01-01T00:00:00Z: every simulation starts here, so runs are reproducible (and funding falls on the hour).
EPOCH_NS = 1_767_225_600 * NS


class Simulation(Venue):
    """Market, matching engine and latency as one synchronous, deterministic stream of core events."""

    venue_name = "simulator"

    def __init__(self, config: SimConfig, asset: str = "ETH", *, leverage: int = 3, start_ns: int = EPOCH_NS) -> None:
        self.market = SyntheticMarket(config, start_ns)
        super().__init__(
            config,
            asset,
            AssetRules(asset, config.sz_decimals, config.max_leverage),
            self.market.book,
            start_ns=start_ns,
            leverage=leverage,
            hash_salt=f"sim-{config.seed}",
            end_ns=start_ns + int(config.duration_secs * NS) if config.duration_secs > 0 else None,
        )
        self._sizes = DecimalCache(config.sz_decimals)

    def _next_market_time(self) -> int:
        return self.market.next_time()

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
