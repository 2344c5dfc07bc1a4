"""The position audit adopts the exchange's position only from a read no fill came in around, so that a fill
inside the adopted position is never counted again when its message arrives (an offline adapter whose REST
answers follow an exchange timeline: every request is one step later, and sees the fills made before it)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from hla_helpers import offline_adapter

from mmtool.core.types import Fill, PositionSnapshot
from mmtool.plugins.exchanges.hyperliquid.adapter import HyperliquidAdapter


def wire(tid: int, size: str) -> dict[str, Any]:
    return {"coin": "ETH", "px": "3500", "sz": size, "side": "B", "time": 1_000 + tid, "startPosition": "0",
            "dir": "Open Long", "closedPnl": "0", "hash": "0x0", "oid": tid, "crossed": False, "fee": "0.05",
            "tid": tid, "feeToken": "USDC"}


class Timeline:
    """An exchange whose fills happen at given request steps; ``extra`` is position that no fill explains."""

    def __init__(self, fills_at: dict[int, dict[str, Any]], extra: str = "0") -> None:
        self.fills_at = fills_at
        self.extra = Decimal(extra)
        self.step = 0
        self.reads = 0

    def made(self) -> list[dict[str, Any]]:
        return [f for at, f in sorted(self.fills_at.items()) if at <= self.step]

    async def info(self, body: dict[str, Any]) -> Any:
        self.step += 1
        if body["type"] == "clearinghouseState":
            self.reads += 1
            size = sum((Decimal(f["sz"]) for f in self.made()), self.extra)
            return {"assetPositions": [{"position": {"coin": "ETH", "szi": str(size), "entryPx": "3500"}}]}
        if body["type"] == "userFillsByTime":
            return self.made()
        raise AssertionError(body)


@pytest.fixture
def adapter() -> Iterator[HyperliquidAdapter]:
    with offline_adapter() as a:
        yield a


def engine_position(a: HyperliquidAdapter) -> Decimal:
    """What the engine ends with: fills add, a position snapshot resets."""
    position = Decimal(0)
    while not a._queue.empty():
        event = a._queue.get_nowait()
        if isinstance(event, Fill):
            position += event.size
        elif isinstance(event, PositionSnapshot):
            position = event.size
    return position


def test_a_fill_made_between_the_history_fetch_and_the_next_read_is_not_counted_twice(adapter) -> None:
    # F1 is made just before the first read (its socket message is late), F2 just before the history fetch, F3
    # just before the read after it: the old audit adopted that read (0.3), then counted F3's message again (0.4).
    timeline = Timeline({1: wire(1, "0.1"), 2: wire(2, "0.1"), 3: wire(3, "0.1")})
    adapter.rest.info = timeline.info
    asyncio.get_event_loop().run_until_complete(adapter._auditor._audit_position("periodic"))
    for f in timeline.made():  # the socket's copies of every fill arrive at last
        adapter._on_message("userFills", {"user": adapter.user, "fills": [f]}, 0)
    assert adapter.ledger.position == Decimal("0.3") == engine_position(adapter)
    assert adapter.discrepancies == 0, "missed fills explained the difference: nothing to adopt"


def test_a_real_difference_is_adopted_at_once(adapter) -> None:
    timeline = Timeline({}, extra="0.25")  # e.g. a liquidation or a trade from elsewhere: no fill of ours
    adapter.rest.info = timeline.info
    asyncio.get_event_loop().run_until_complete(adapter._auditor._audit_position("periodic"))
    assert adapter.ledger.position == Decimal("0.25") == engine_position(adapter)
    assert adapter.discrepancies == 1 and timeline.reads == 1


def test_a_position_that_keeps_moving_is_left_to_the_next_audit(adapter) -> None:
    timeline = Timeline({step: wire(step + 1, "0.1") for step in range(0, 20)}, extra="0.05")
    adapter.rest.info = timeline.info
    asyncio.get_event_loop().run_until_complete(adapter._auditor._audit_position("periodic"))
    assert adapter.discrepancies == 0 and not any(
        isinstance(e, PositionSnapshot) for e in list(adapter._queue._queue)  # type: ignore[attr-defined]
    )
