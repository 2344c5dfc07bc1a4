"""Drive the official hyperliquid-python-sdk offline, as an independent reference for our wire and signatures.

The SDK's ``Exchange`` is built with a fixed ``meta`` (no network), its clock is pinned to a chosen nonce, and
``_post_action`` is replaced by a recorder, so each SDK call returns exactly what it would have posted.
"""

from __future__ import annotations

from typing import Any

import pytest
from eth_account import Account
from hyperliquid import exchange as sdk_exchange
from hyperliquid.exchange import Exchange
from hyperliquid.utils.constants import MAINNET_API_URL, TESTNET_API_URL

COINS = ["BTC", "ETH", "SOL", "DOGE"]
META = {"universe": [{"name": c, "szDecimals": d} for c, d in zip(COINS, [5, 4, 2, 0], strict=True)]}
KEY = "0x" + "4c" * 32


class SdkExchange:
    """An offline SDK ``Exchange`` whose calls return ``(action, signature, nonce)`` instead of posting."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, key: str = KEY) -> None:
        self.monkeypatch = monkeypatch
        self.key = key
        self.wallet = Account.from_key(key)

    def build(
        self, *, mainnet: bool, nonce: int, vault: str | None = None, expires_after: int | None = None
    ) -> Exchange:
        """An SDK exchange for the network, pinned to ``nonce``, recording what it would post."""
        self.monkeypatch.setattr(sdk_exchange, "get_timestamp_ms", lambda: nonce)
        url = MAINNET_API_URL if mainnet else TESTNET_API_URL
        ex = Exchange(
            self.wallet, url, meta=META, vault_address=vault, spot_meta={"universe": [], "tokens": []}
        )
        ex.set_expires_after(expires_after)

        def record(action: Any, signature: Any, nonce: int) -> tuple[Any, Any, int]:
            return action, signature, nonce

        self.monkeypatch.setattr(ex, "_post_action", record)
        return ex
