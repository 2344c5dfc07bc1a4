"""The account and the market's metadata over REST: asset rules, mid, position, value, fill history, leverage.

State is always read for :attr:`.HyperliquidAdapter.user` (the vault or subaccount, else the master account, else
the signer), never for an agent key.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from mmtool.core.errors import ConfigError, ExchangeError
from mmtool.core.rounding import AssetRules
from mmtool.core.types import ZERO
from mmtool.plugins.exchanges.hyperliquid import errors as hl_errors
from mmtool.plugins.exchanges.hyperliquid import messages
from mmtool.plugins.exchanges.hyperliquid.wire import update_leverage_action

if TYPE_CHECKING:
    from mmtool.plugins.exchanges.hyperliquid.adapter import HyperliquidAdapter

log = logging.getLogger("mmtool.hyperliquid")


class Account:
    """Reads the adapter's account and the market's metadata from ``/info``; sets the leverage."""

    def __init__(self, adapter: HyperliquidAdapter) -> None:
        self._adapter = adapter

    async def load_meta(self) -> None:
        """Asset ids and rules from ``meta``; a ConfigError when the traded asset is not listed."""
        adapter = self._adapter
        meta = await adapter.rest.info({"type": "meta"})
        universe = meta.get("universe") if isinstance(meta, Mapping) else None
        if not isinstance(universe, list):
            raise hl_errors.MalformedResponse("meta: expected a universe list")
        for index, info in enumerate(universe):
            name = info.get("name")
            adapter.asset_ids[name] = index
            adapter._rules[name] = AssetRules(name, int(info["szDecimals"]), int(info.get("maxLeverage", 50)))
        if adapter.asset not in adapter.asset_ids:
            raise ConfigError(
                f"trading.asset: {adapter.asset!r} is not listed by {adapter.base_url} "
                f"(it lists {', '.join(list(adapter.asset_ids)[:20])})"
            )

    async def load_mid(self) -> None:
        """The asset's mid from ``allMids``, until the WebSocket brings fresher ones."""
        adapter = self._adapter
        mids = await adapter.rest.info({"type": "allMids"})
        if isinstance(mids, Mapping) and mids.get(adapter.asset) is not None:
            adapter.mid = messages.dec(mids[adapter.asset], "mid")

    async def position(self) -> tuple[Decimal, Decimal]:
        """Size and entry price of our position on the asset (``clearinghouseState``); zeros when flat."""
        adapter = self._adapter
        state = await adapter.rest.info({"type": "clearinghouseState", "user": adapter.user})
        positions = state.get("assetPositions") if isinstance(state, Mapping) else None
        if not isinstance(positions, list):
            raise hl_errors.MalformedResponse("clearinghouseState without assetPositions")
        for item in positions:
            pos = item.get("position") if isinstance(item, Mapping) else None
            if isinstance(pos, Mapping) and pos.get("coin") == adapter.asset:
                entry = pos.get("entryPx")
                return messages.dec(pos.get("szi"), "szi"), messages.dec(entry, "entryPx") if entry else ZERO
        return ZERO, ZERO

    async def value(self) -> float:
        """The account's value in USDC (``marginSummary.accountValue``)."""
        adapter = self._adapter
        state = await adapter.rest.info({"type": "clearinghouseState", "user": adapter.user})
        try:
            return float(state["marginSummary"]["accountValue"])
        except (KeyError, TypeError, ValueError) as exc:
            raise hl_errors.MalformedResponse("clearinghouseState without marginSummary.accountValue") from exc

    async def seed_fills(self) -> None:
        """Seed fill deduplication with recent ``userFills``; fills before now count as seen."""
        adapter = self._adapter
        history = await adapter.rest.info({"type": "userFills", "user": adapter.user})
        for item in history if isinstance(history, list) else []:
            if isinstance(item, Mapping) and item.get("tid") is not None:
                adapter.ledger.seed(str(item["tid"]), item.get("time", 0) if isinstance(item.get("time"), int) else 0)
        adapter.ledger.last_fill_ms = max(adapter.ledger.last_fill_ms, adapter._now_ms())

    async def set_leverage(self, leverage: int) -> None:
        """Set cross leverage on the asset (capped at its maximum); a refusal is logged, not raised."""
        adapter = self._adapter
        rules = adapter._rules[adapter.asset]
        wanted = min(leverage, rules.max_leverage)
        try:
            await adapter._outbound.signed(update_leverage_action(adapter.asset_ids[adapter.asset], True, wanted))
            log.info("Leverage set", extra={"fields": {"asset": adapter.asset, "leverage": wanted, "cross": True}})
        except (hl_errors.HyperliquidError, ExchangeError) as exc:
            log.warning("Could not set leverage", extra={"fields": {"leverage": wanted, "error": str(exc)}})
