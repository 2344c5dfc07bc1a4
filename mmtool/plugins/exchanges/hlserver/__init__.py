"""A local exchange speaking Hyperliquid's wire protocol (``POST /info``, ``POST /exchange``, WebSocket ``/ws``),
backed by the simulated exchange's matching engine and seeded synthetic markets, with signature checks, nonces,
rate limits, liquidations and fault injection.

In-process use (tests)::

    async with LocalExchange(ServerConfig(port=0)) as ex:
        ex.url        # http://127.0.0.1:<port>, the SDK's base_url
        ex.state      # the Venue: accounts, engines, ledgers
        ex.journal    # accepted actions, fills, faults

From the command line: ``mmtool exchange serve``. See ``docs/local-exchange.md``.
"""

from mmtool.plugins.exchanges.hlserver.app import LocalExchange
from mmtool.plugins.exchanges.hlserver.config import AssetSpec, FaultConfig, ServerConfig, StallWindow

__all__ = ["AssetSpec", "FaultConfig", "LocalExchange", "ServerConfig", "StallWindow"]
