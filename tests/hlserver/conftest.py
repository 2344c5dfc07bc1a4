"""Fixtures for the local exchange server tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from mmtool.plugins.exchanges.hlserver import ServerConfig

from .helpers import ServerThread, Trader


@pytest.fixture
def make_server() -> Iterator[Callable[..., ServerThread]]:
    """Start servers with the given config (port 0); all are stopped at the end of the test."""
    started: list[ServerThread] = []

    def make(config: ServerConfig | None = None, clock: Callable[[], int] | None = None, **kw: Any) -> ServerThread:
        cfg = config if config is not None else ServerConfig(port=0, **kw)
        server = ServerThread(cfg, clock)
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def server(make_server: Callable[..., ServerThread]) -> ServerThread:
    """A default server (ETH and BTC, testnet signatures)."""
    return make_server()


@pytest.fixture
def trader(server: ServerThread) -> Trader:
    """A funded trader on the default server."""
    return Trader(server).open()


