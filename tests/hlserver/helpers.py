"""Helpers for the local exchange server tests: a server on a background event loop, a fake clock, signing."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

import eth_account
import requests

from mmtool.plugins.exchanges.hlserver import LocalExchange, ServerConfig
from mmtool.plugins.exchanges.hyperliquid.signing import (
    APPROVE_AGENT_PRIMARY_TYPE,
    APPROVE_AGENT_TYPES,
    Signer,
)
from mmtool.plugins.exchanges.hyperliquid.wire import approve_agent_action, exchange_request, order_action, order_wire

T = TypeVar("T")


class FakeClock:
    """A wall clock that tests move by hand (ns)."""

    def __init__(self) -> None:
        self.now = time.time_ns()
        self._lock = threading.Lock()

    def __call__(self) -> int:
        with self._lock:
            return self.now

    def advance(self, seconds: float) -> None:
        """Move forward."""
        with self._lock:
            self.now += int(seconds * 1e9)


class ServerThread:
    """A :class:`LocalExchange` serving from its own event loop thread, so blocking clients can call it."""

    def __init__(self, config: ServerConfig, clock: Callable[[], int] | None = None) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.ex = LocalExchange(config, clock_ns=clock or time.time_ns)

    def start(self) -> LocalExchange:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.ex.start(), self.loop).result(10)
        return self.ex

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self.ex.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` on the server's loop (state is only touched there) and return its result."""

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(10)

    def tick(self) -> None:
        """Run one server tick now (advance markets, push, faults)."""
        self.call(self.ex.tick)

    @property
    def url(self) -> str:
        return self.ex.url

    def info(self, body: dict[str, Any]) -> Any:
        r = requests.post(self.url + "/info", json=body, timeout=5)
        assert r.status_code == 200, r.text
        return r.json()

    def post(self, path: str, body: Any) -> requests.Response:
        return requests.post(self.url + path, json=body, timeout=5)


class Trader:
    """A key that signs requests for the local exchange with our own signing module (testnet by default)."""

    _last_nonce = 0
    _nonce_lock = threading.Lock()

    def __init__(self, server: ServerThread, key: str | None = None, is_mainnet: bool = False) -> None:
        self.server = server
        self.key = key or eth_account.Account.create().key.hex()
        self.signer = Signer(self.key)
        self.address = self.signer.address
        self.is_mainnet = is_mainnet

    @classmethod
    def nonce(cls) -> int:
        with cls._nonce_lock:
            cls._last_nonce = max(int(time.time() * 1000), cls._last_nonce + 1)
            return cls._last_nonce

    def open(self) -> Trader:
        """Make the exchange see the address (it credits the starting balance)."""
        self.server.info({"type": "clearinghouseState", "user": self.address})
        return self

    def body(self, action: dict[str, Any], nonce: int | None = None, vault: str | None = None) -> dict[str, Any]:
        nonce = nonce if nonce is not None else self.nonce()
        signature = self.signer.sign_l1_action(action, vault, nonce, None, self.is_mainnet)
        return exchange_request(action, nonce, signature, vault)

    def send(self, action: dict[str, Any], nonce: int | None = None, vault: str | None = None) -> Any:
        r = self.server.post("/exchange", self.body(action, nonce, vault))
        assert r.status_code == 200, r.text
        return r.json()

    def order(self, asset: int, is_buy: bool, price: str, size: str, tif: str = "Alo", reduce_only: bool = False,
              cloid: str | None = None, vault: str | None = None) -> Any:
        wire = order_wire(asset, is_buy, Decimal(price), Decimal(size), reduce_only, tif, cloid)
        return self.send(order_action([wire]), vault=vault)

    def approve(self, agent: str, name: str | None = None) -> Any:
        nonce = self.nonce()
        action = approve_agent_action(agent, name, nonce, self.is_mainnet)
        signature = self.signer.sign_user_action(action, APPROVE_AGENT_TYPES, APPROVE_AGENT_PRIMARY_TYPE,
                                                 self.is_mainnet)
        r = self.server.post("/exchange", exchange_request(action, nonce, signature))
        assert r.status_code == 200, r.text
        return r.json()


def mid(server: ServerThread, coin: str = "ETH") -> Decimal:
    """The coin's current mid."""
    return Decimal(server.info({"type": "allMids"})[coin])


def statuses(response: Any) -> list[Any]:
    """The statuses of an ok order/cancel answer."""
    assert response["status"] == "ok", response
    return response["response"]["data"]["statuses"]


class WsClient:
    """A blocking WebSocket client that reads JSON messages by channel."""

    def __init__(self, server: ServerThread) -> None:
        from websockets.sync.client import connect

        self._cm = connect(server.ex.ws_url, open_timeout=5)
        self.ws = self._cm.__enter__()
        greeting = self.ws.recv(timeout=5)
        assert greeting == "Websocket connection established."

    def send(self, message: dict[str, Any]) -> None:
        import json

        self.ws.send(json.dumps(message))

    def subscribe(self, subscription: dict[str, Any]) -> dict[str, Any]:
        """Subscribe and return the acknowledgement."""
        self.send({"method": "subscribe", "subscription": subscription})
        return self.next("subscriptionResponse")

    def recv(self, timeout: float = 5.0) -> Any:
        import json

        text = self.ws.recv(timeout=timeout)
        return json.loads(text)

    def next(self, channel: str, timeout: float = 5.0, where: Callable[[Any], bool] | None = None) -> Any:
        """The next message on ``channel`` (matching ``where``), skipping others."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {channel} message within {timeout} s")
            msg = self.recv(left)
            if msg.get("channel") == channel and (where is None or where(msg)):
                return msg

    def close(self) -> None:
        self._cm.__exit__(None, None, None)
