"""The ``sim`` exchange adapter: the simulated exchange behind the :class:`ExchangeAdapter` protocol."""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, ClassVar

from mmtool.core.errors import ExchangeError
from mmtool.core.rounding import AssetRules
from mmtool.core.types import Action, Event, Order, Position
from mmtool.plugins.exchanges.sim.config import SimConfig
from mmtool.plugins.exchanges.sim.ledger import AccountState, FillRecord
from mmtool.plugins.exchanges.sim.simulator import Simulation

if TYPE_CHECKING:
    from mmtool.core.components import ComponentContext

#: With speed=inf, yield to the event loop this often so signals (Ctrl+C) and other tasks get through.
YIELD_EVERY = 100


class SimAdapter:
    """In-process simulated exchange: a seeded synthetic ETH-like market and a queue-aware matching engine.

    ``events()`` is a thin asyncio wrapper over the synchronous :class:`Simulation` (``next_event`` /
    ``submit_now``); wall time is read only to pace the stream at ``speed`` simulated seconds per second, never
    for a decision, so the events depend only on the seed and on what was submitted when.
    """

    name: ClassVar[str] = "sim"
    Config: ClassVar[type[SimConfig]] = SimConfig

    def __init__(self, config: SimConfig, asset: str = "ETH", *, leverage: int = 3) -> None:
        self.config = config
        self.asset = asset
        self.sim = Simulation(config, asset, leverage=leverage)
        self.clock = self.sim.clock
        self._wake = asyncio.Event()
        self._closed = False
        self._connected = False

    @classmethod
    def from_config(cls, config: SimConfig, ctx: ComponentContext) -> SimAdapter:
        """Build the adapter for the context's asset, at the configured trading leverage."""
        return cls(config, ctx.asset, leverage=ctx.settings.trading.leverage)

    # ------------------------------------------------------------------------------------ the protocol

    async def connect(self) -> None:
        """Nothing to open: the exchange lives in this process."""
        self._connected = True

    async def close(self) -> None:
        """Stop the event stream."""
        self._closed = True
        self._wake.set()

    def rules(self, asset: str) -> AssetRules:
        """Tick, lot and notional rules of the simulated asset."""
        if asset != self.asset:
            raise ExchangeError(f"sim: unknown asset {asset!r}; this simulator trades {self.asset}")
        return self.sim.rules

    async def events(self) -> AsyncIterator[Event]:
        """Core events in simulated-time order, paced at ``speed`` (no sleeping at all with ``speed=inf``)."""
        loop = asyncio.get_running_loop()
        speed = self.config.speed
        paced = math.isfinite(speed)
        anchor_wall = loop.time()
        anchor_sim = self.clock.now_ns()
        count = 0
        while not self._closed:
            due = self.sim.peek_time()
            if due is None:
                return
            if paced:
                delay = anchor_wall + (due - anchor_sim) / 1e9 / speed - loop.time()
                if delay > 0:
                    # A submit may schedule something earlier than ``due``: wake up and look again.
                    self._wake.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(delay):  # not wait_for: it can swallow a cancellation (3.11)
                            await self._wake.wait()
                    continue
            event = self.sim.next_event()
            if event is None:
                return
            yield event
            count += 1
            if count % YIELD_EVERY == 0:
                await asyncio.sleep(0)

    async def submit(self, actions: Sequence[Action]) -> None:
        """Send actions; each reaches the matching engine ``order_latency_ms`` of simulated time later."""
        self.sim.submit_now(actions)
        self._wake.set()

    async def open_orders(self) -> list[Order]:
        """Our open orders according to the simulated exchange."""
        return self.sim.open_orders()

    async def position(self) -> Position:
        """Our position according to the simulated exchange."""
        return self.sim.position()

    def mid_price(self) -> Decimal | None:
        """The mid now (the book's, or the latent price before the first book), for sizing checks at start."""
        mark = self.sim.engine.mark()
        return mark if mark is not None else self.rules(self.sim.asset).round_price(self.sim.market.price)

    async def account_value(self) -> float:
        """Account value in USDC: balance plus unrealized PnL at the mid."""
        return float(self.sim.account_state().account_value)

    async def cancel_all(self) -> int:
        """Cancel every open order of ours now (the first ``cancel_failures`` cancels fail); return how many
        remain open."""
        return self.sim.cancel_all_now()

    # ------------------------------------------------------------------- synchronous API (backtests, tests)

    def next_event(self) -> Event | None:
        """The next event, without asyncio; None once the stream has ended (``duration_secs``)."""
        return self.sim.next_event()

    def submit_now(self, actions: Sequence[Action]) -> None:
        """Send actions without asyncio (same timing as :meth:`submit`)."""
        self.sim.submit_now(actions)

    @property
    def ledger(self) -> list[FillRecord]:
        """Every fill of ours, in order: the exchange's ground truth to compare with the client's records."""
        return self.sim.ledger

    def account_state(self) -> AccountState:
        """Position, entry, realized PnL, fees, funding, balance and account value (Decimal)."""
        return self.sim.account_state()
