"""Helpers for the adapter's tests against a real local exchange (real sockets, no mocks of the wire)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import attrs
import requests

from mmtool.core.types import Event, OrderUpdate, Side
from mmtool.plugins.exchanges.hlserver.app import LocalExchange
from mmtool.plugins.exchanges.hlserver.config import ServerConfig
from mmtool.plugins.exchanges.hyperliquid.adapter import HyperliquidAdapter
from mmtool.plugins.exchanges.hyperliquid.config import HyperliquidConfig
from mmtool.plugins.exchanges.hyperliquid.signing import APPROVE_AGENT_PRIMARY_TYPE, APPROVE_AGENT_TYPES, Signer
from mmtool.plugins.exchanges.hyperliquid.wire import approve_agent_action

T = TypeVar("T")
KEY = "0x" + "4f" * 32
MASTER_KEY = "0x" + "5e" * 32
AGENT_KEY = "0x" + "6d" * 32
#: Quiet adapter defaults for tests: no periodic audit or dead man's switch unless a test asks.
QUIET = HyperliquidConfig(nonce_state_path="", audit_interval_secs=0, dead_man_switch=False)


def run(coro: Awaitable[T]) -> T:
    """Run a coroutine to completion in a fresh event loop (no pytest-asyncio needed)."""
    return asyncio.run(coro)  # type: ignore[arg-type]


def cloid(n: int, prefix: int = 0xAB) -> str:
    """A cloid with the seed ``prefix``."""
    return f"0x{prefix:016x}{n:016x}"


@contextlib.asynccontextmanager
async def exchange(**overrides: Any) -> AsyncIterator[LocalExchange]:
    """A local exchange on a free port."""
    async with LocalExchange(ServerConfig(port=0, **overrides)) as ex:
        yield ex


@contextlib.asynccontextmanager
async def adapter(
    ex: LocalExchange, key: str = KEY, config: HyperliquidConfig = QUIET, **kwargs: Any
) -> AsyncIterator[HyperliquidAdapter]:
    """A connected adapter on ETH; closed (dead man's switch cleared when clean) at the end."""
    a = HyperliquidAdapter(config, asset="ETH", network="localhost", private_key=key, base_url=ex.url, **kwargs)
    await a.connect()
    try:
        yield a
    finally:
        await a.close()


@contextlib.contextmanager
def offline_adapter() -> Iterator[HyperliquidAdapter]:
    """An adapter on ETH (asset id 1) that never connects, on its own event loop: tests feed it messages."""
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    a = HyperliquidAdapter(QUIET, asset="ETH", network="localhost", private_key=KEY, base_url="http://127.0.0.1:1")
    a.asset_ids.update({"BTC": 0, "ETH": 1})
    try:
        yield a
    finally:
        a.rest.close()
        asyncio.set_event_loop(None)
        loop.close()


class Collector:
    """Pulls an adapter's events in the background and keeps them (as the runner would)."""

    def __init__(self, adapter: HyperliquidAdapter) -> None:
        self.events: list[Event] = []
        self._task = asyncio.ensure_future(self._pull(adapter))

    async def _pull(self, adapter: HyperliquidAdapter) -> None:
        async for event in adapter.events():
            self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        """The events of one type, in order."""
        return [e for e in self.events if isinstance(e, kind)]

    def updates(self, cloid: str) -> list[OrderUpdate]:
        """The order updates of one cloid."""
        return [e for e in self.events if isinstance(e, OrderUpdate) and e.cloid == cloid]

    async def wait_for(self, check: Callable[[], bool], timeout: float = 5.0) -> None:
        """Wait until ``check()`` holds (AssertionError after ``timeout``)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while not check():
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError("condition not met in time")
            await asyncio.sleep(0.02)

    async def stop(self) -> None:
        """Stop pulling."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


def passive_price(a: HyperliquidAdapter, side: Side, bps: float = 100.0) -> Decimal:
    """A price ``bps`` away from the mid on the passive side, rounded to the exchange's rules."""
    mid = a.mid_price()
    assert mid is not None
    factor = Decimal(1) - Decimal(bps) / 10_000 * side.sign
    return a.rules("ETH").round_price(mid * factor, side)


def account(ex: LocalExchange, address: str) -> Any:
    """The server's account of an address."""
    return ex.state.accounts[address.lower()]


def open_cloids(ex: LocalExchange, address: str) -> set[str | None]:
    """The cloids the server lists open for an address."""
    return {o.cloid for o in account(ex, address).open_orders()}


def server_position(ex: LocalExchange, address: str) -> Decimal:
    """The server's ETH position for an address."""
    acct = account(ex, address)
    engine = acct.engines.get(0)
    return engine.account.position if engine is not None else Decimal(0)


async def approve_agent(ex: LocalExchange, master_key: str, agent_address: str, nonce: int) -> dict[str, Any]:
    """Have the master account approve an agent wallet (user-signed ``approveAgent``, testnet chain)."""
    master = Signer(master_key)
    action = approve_agent_action(agent_address, "mm-bot", nonce, is_mainnet=False)
    signature = master.sign_user_action(action, APPROVE_AGENT_TYPES, APPROVE_AGENT_PRIMARY_TYPE, is_mainnet=False)
    body = {"action": action, "nonce": nonce, "signature": signature, "vaultAddress": None}
    loop = asyncio.get_running_loop()
    response = await loop.run_in_executor(None, lambda: requests.post(ex.url + "/exchange", json=body, timeout=5))
    return response.json()


def evolve(config: HyperliquidConfig, **changes: Any) -> HyperliquidConfig:
    """A copy of an adapter config with changes."""
    return attrs.evolve(config, **changes)


def nonce_file(tmp: Path) -> str:
    """A nonce state path template under a test's folder."""
    return str(tmp / "nonce-{address}.json")
