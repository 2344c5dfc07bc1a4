"""Builders for the backtest tests: hand-made recorded events, a replayed exchange over them, a stepping clock,
and a small Hyperliquid-like WebSocket server that speaks the subscription protocol."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from websockets.exceptions import ConnectionClosed

from mmtool.backtest.replay import ReplayExchange
from mmtool.core.rounding import to_wire
from mmtool.core.types import BookLevel, BookUpdate, Event, L2Book, MidUpdate, Side, Trade
from mmtool.plugins.exchanges.sim.config import SimConfig
from mmtool.plugins.exchanges.sim.simulator import EPOCH_NS, Simulation

MS = 1_000_000
NS = 1_000_000_000
T0 = EPOCH_NS


def book(bids: Sequence[tuple[str, float]], asks: Sequence[tuple[str, float]], t_s: float) -> BookUpdate:
    """A recorded book at ``t_s`` seconds after T0 (sizes in ETH)."""
    ts = T0 + round(t_s * NS)

    def levels(pairs: Sequence[tuple[str, float]]) -> tuple[BookLevel, ...]:
        return tuple(BookLevel(Decimal(p), Decimal(str(s))) for p, s in pairs)

    return BookUpdate("ETH", L2Book(levels(bids), levels(asks)), ts, ts)


def trade(price: str, size: float, aggressor: Side, t_s: float, tid: str = "t") -> Trade:
    """A recorded public trade at ``t_s`` seconds after T0."""
    ts = T0 + round(t_s * NS)
    return Trade("ETH", Decimal(price), Decimal(str(size)), aggressor, tid, ts, ts)


def replay(events: Sequence[Any], *, order_latency_ms: float = 10.0, md_latency_ms: float = 0.0) -> ReplayExchange:
    """A replayed ETH exchange (szDecimals 4) over ``events``."""
    config = SimConfig(order_latency_ms=order_latency_ms, market_data_latency_ms=md_latency_ms)
    return ReplayExchange(events, config, "ETH", sz_decimals=4)


def drain(exchange: Any) -> list[Event]:
    """Every remaining event of an exchange."""
    out = []
    while (event := exchange.next_event()) is not None:
        out.append(event)
    return out


class SteppingClock:
    """A clock that moves ``step_ns`` forward each time it is read: recorded times without wall time."""

    def __init__(self, start_ns: int, step_ns: int) -> None:
        self._now = start_ns
        self._step = step_ns

    def now_ns(self) -> int:
        """The next tick."""
        self._now += self._step
        return self._now


ASSET_CTX = {
    "channel": "activeAssetCtx",
    "data": {
        "coin": "ETH",
        "ctx": {
            "funding": "0.0000125", "openInterest": "250000.1", "prevDayPx": "3450.2", "dayNtlVlm": "1.0e9",
            "premium": "0.0001", "oraclePx": "3500.1", "markPx": "3500.2", "midPx": "3500.15",
            "impactPxs": ["3500.1", "3500.2"], "dayBaseVlm": "300000.0",
        },
    },
}


def wire_messages(events: Sequence[Event]) -> list[dict[str, Any]]:
    """Reference-shaped WebSocket messages (l2Book, trades, allMids) for synthetic market events."""
    messages: list[dict[str, Any]] = [ASSET_CTX]
    for event in events:
        if isinstance(event, BookUpdate):
            levels = [[{"px": to_wire(lv.price), "sz": to_wire(lv.size), "n": lv.count} for lv in side]
                      for side in (event.book.bids, event.book.asks)]
            messages.append({"channel": "l2Book",
                             "data": {"coin": "ETH", "time": event.ts_exchange_ns // MS, "levels": levels}})
        elif isinstance(event, Trade):
            wire = {"coin": "ETH", "side": event.side.value, "px": to_wire(event.price), "sz": to_wire(event.size),
                    "time": event.ts_exchange_ns // MS, "hash": "0x" + "ab" * 32, "tid": int(event.trade_id),
                    "users": ["0x" + "11" * 20, "0x" + "22" * 20]}
            last = messages[-1]
            if last["channel"] == "trades" and last["data"][-1]["time"] == wire["time"]:
                last["data"].append(wire)
            else:
                messages.append({"channel": "trades", "data": [wire]})
        elif isinstance(event, MidUpdate):
            messages.append({"channel": "allMids", "data": {"mids": {"ETH": to_wire(event.mid), "BTC": "65000.5"}}})
    return messages


def synthetic_messages(seconds: float, seed: int = 4) -> list[dict[str, Any]]:
    """The synthetic market's first ``seconds`` (no orders of ours) as WebSocket messages."""
    sim = Simulation(SimConfig(seed=seed, duration_secs=seconds))
    return wire_messages(drain(sim))


class FakeHyperliquid:
    """Serves ``messages`` to a client once it subscribed to every channel they use; answers pings."""

    def __init__(self, messages: Sequence[dict[str, Any]]) -> None:
        self.messages = list(messages)
        self.subscriptions: list[dict[str, Any]] = []
        self.sent = 0
        self._streams: list[asyncio.Task] = []

    async def handler(self, websocket: Any) -> None:
        """One client connection (a client going away is no error)."""
        with contextlib.suppress(ConnectionClosed):
            await self._serve(websocket)

    async def _serve(self, websocket: Any) -> None:
        wanted = {m["channel"] for m in self.messages}
        subscribed: set[str] = set()
        async for raw in websocket:
            request = json.loads(raw)
            if request.get("method") == "ping":
                await websocket.send(json.dumps({"channel": "pong"}))
            elif request.get("method") == "subscribe":
                subscription = request["subscription"]
                self.subscriptions.append(subscription)
                subscribed.add(subscription["type"])
                await websocket.send(json.dumps({"channel": "subscriptionResponse", "data": request}))
                if subscribed >= wanted and not self._streams:
                    self._streams.append(asyncio.create_task(self._stream(websocket)))

    async def _stream(self, websocket: Any) -> None:
        for message in self.messages:
            await websocket.send(json.dumps(message))
            self.sent += 1
