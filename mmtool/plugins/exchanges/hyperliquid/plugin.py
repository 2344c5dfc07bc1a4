"""Entry-point module of the Hyperliquid exchange: registers the ``hyperliquid`` adapter."""

from __future__ import annotations

from mmtool.core.hookspecs import hookimpl
from mmtool.plugins.exchanges.hyperliquid.adapter import HyperliquidAdapter


@hookimpl
def mmtool_register_exchanges() -> list[type]:
    """Register the Hyperliquid adapter (mainnet, testnet, localhost)."""
    return [HyperliquidAdapter]
