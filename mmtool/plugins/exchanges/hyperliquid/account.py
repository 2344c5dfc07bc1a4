"""The account and the market's metadata over REST: asset rules, mid, position, value, fill history, leverage.

State is always read for :attr:`.HyperliquidAdapter.user` (the vault or subaccount, else the master account, else
the signer), never for an agent key.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from mmtool.core.clock import NS_PER_MS
from mmtool.core.errors import ConfigError, ExchangeError
from mmtool.core.rounding import AssetRules
from mmtool.core.types import ZERO, Fill
from mmtool.plugins.exchanges.hyperliquid import errors as hl_errors
from mmtool.plugins.exchanges.hyperliquid import messages
from mmtool.plugins.exchanges.hyperliquid.wire import update_leverage_action

if TYPE_CHECKING:
    from mmtool.plugins.exchanges.hyperliquid.adapter import HyperliquidAdapter

log = logging.getLogger("mmtool.hyperliquid")

#: Most fills one ``userFillsByTime`` answer holds.
FILLS_PAGE = 2000
#: Pages read at most: the exchange keeps the 10,000 most recent fills, and a page may repeat a millisecond.
MAX_FILL_PAGES = 10


def _suggestion(asset: str, listed: list[str]) -> str:
    """``"; did you mean 'ETH'?"`` for a near or differently cased name, else the first names the exchange lists."""
    by_upper = {name.upper(): name for name in listed}
    close = difflib.get_close_matches(asset.upper(), list(by_upper), n=3, cutoff=0.6)
    if close:
        return "; did you mean " + " or ".join(repr(by_upper[c]) for c in close) + "?"
    more = f", ... ({len(listed)} in all)" if len(listed) > 20 else ""
    return f" (it lists {', '.join(listed[:20])}{more})"


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
            raise ConfigError(f"trading.asset: {adapter.asset!r} is not listed by {adapter.base_url}"
                              f"{_suggestion(adapter.asset, list(adapter.asset_ids))}")

    async def check_signer(self) -> None:
        """Ask the exchange what the signing key is (``userRole``) and make sure it trades for the account read.

        An API wallet (agent) trades for its master: with no ``account_address`` configured the master is adopted
        (every read and subscription then names it, never the agent); a configured one must be that master. A key
        the exchange does not know cannot sign for another account (an agent not approved yet); a main account's
        key cannot sign for another main account. Each of these is a :class:`ConfigError` at start, instead of
        orders landing on one account while another is read. An exchange that does not answer ``userRole`` leaves
        the configuration as it is (logged).
        """
        adapter = self._adapter
        signer = adapter.signer.address.lower()
        try:
            answer = await adapter.rest.info({"type": "userRole", "user": signer})
        except (hl_errors.HyperliquidError, ExchangeError) as exc:
            log.warning("Could not ask the exchange for the signing key's role; trusting the configuration",
                        extra={"fields": {"signer": signer, "error": str(exc)}})
            return
        role = answer.get("role") if isinstance(answer, Mapping) else None
        data = answer.get("data") if isinstance(answer, Mapping) else None
        configured, vault = adapter.account_address, adapter.vault_address
        if role == "agent":
            master = data.get("user") if isinstance(data, Mapping) else None
            if not isinstance(master, str) or not master:
                raise hl_errors.MalformedResponse(f"userRole: an agent without its master: {answer!r}"[:200])
            master = master.lower()
            if configured is not None and configured != master:
                raise ConfigError(f"network.account_address: the signing key {signer} is an API wallet of {master}, "
                                  f"not of {configured}")
            if configured is None and vault is None:
                adapter.user = adapter.account_id = master
            log.info("Signing key is an API wallet", extra={"fields": {"signer": signer, "master": master,
                                                                       "account": adapter.user}})
        elif role == "missing":
            if configured is not None or vault is not None:
                raise ConfigError(
                    f"network.account_address: the exchange does not know the signing key {signer}: an API wallet "
                    f"must be approved by its account (approveAgent) before it can trade for {configured or vault}"
                )
            log.info("The exchange does not know this account yet (a new one)", extra={"fields": {"account": signer}})
        elif role == "user":
            if configured is not None and configured != signer and vault is None:
                raise ConfigError(f"network.account_address: the signing key {signer} is a main account of its own, "
                                  f"not an API wallet of {configured}")
        else:
            log.warning("Unexpected role of the signing key; trusting the configuration",
                        extra={"fields": {"signer": signer, "role": str(role)[:40]}})

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
        """Seed fill deduplication with recent ``userFills``: the account's history before this session.

        Every fill in the answer counts as seen. When the answer is full (the exchange gives at most
        :data:`FILLS_PAGE`), fills older than its oldest are history too (``FillLedger.history_floor_ms``); any other
        fill not seen yet, in a userFills snapshot after a reconnect, is one this session missed.
        """
        adapter = self._adapter
        history = await adapter.rest.info({"type": "userFills", "user": adapter.user})
        if not isinstance(history, list):
            # Without the history a snapshot's old fills could not be told from missed ones: do not start.
            raise hl_errors.MalformedResponse(f"userFills: expected a list, got {type(history).__name__}")
        times = []
        for item in history:
            if isinstance(item, Mapping) and item.get("tid") is not None:
                time_ms = item.get("time", 0) if isinstance(item.get("time"), int) else 0
                adapter.ledger.seed(str(item["tid"]), time_ms)
                times.append(time_ms)
        if len(history) >= FILLS_PAGE and times:
            adapter.ledger.history_floor_ms = min(times)
        adapter.ledger.last_fill_ms = max(adapter.ledger.last_fill_ms, adapter._now_ms())

    async def fills_since(self, since_ms: int) -> list[Fill]:
        """The account's fills on our asset from ``since_ms`` (exchange time) to now, oldest first, each once.

        ``userFillsByTime`` answers at most :data:`FILLS_PAGE` fills (and the exchange keeps only the most recent
        10,000), so a full page is followed by another over the part of the window it did not reach: after the
        last time of an oldest-first page, or before the first time of a newest-first one (the order each page
        comes in says which). The boundary millisecond is asked again and its repeats dropped by trade id. A page
        that adds nothing ends it.
        """
        adapter = self._adapter
        ts = adapter.clock.now_ns()
        start, end = since_ms, adapter._now_ms() + 1000
        fills: dict[str, Fill] = {}
        seen: set[str] = set()
        for _ in range(MAX_FILL_PAGES):
            answer = await adapter.rest.info(
                {"type": "userFillsByTime", "user": adapter.user, "startTime": start, "endTime": end}
            )
            if not isinstance(answer, list):
                raise hl_errors.MalformedResponse("userFillsByTime: expected a list")
            added = 0
            times: list[int] = []
            for item in answer:
                try:
                    fill = adapter._feed.fill_from(item, ts)
                except hl_errors.MalformedResponse as exc:
                    adapter._emitter.malformed("userFillsByTime", exc)
                    continue
                times.append(fill.ts_exchange_ns // NS_PER_MS)
                if fill.trade_id in seen:
                    continue
                seen.add(fill.trade_id)
                added += 1
                if fill.asset == adapter.asset:
                    fills[fill.trade_id] = fill
            if len(answer) < FILLS_PAGE or not added or not times:
                break
            if times[0] > times[-1]:
                end = min(times)  # newest first: what is left is older
            else:
                start = max(times)  # oldest first: what is left is newer
        else:
            log.warning("Fill history cut short", extra={"fields": {"pages": MAX_FILL_PAGES, "since_ms": since_ms}})
        # Trade ids grow with time: within a millisecond they give the exchange's order, whatever the pages' order.
        return sorted(fills.values(), key=lambda f: (f.ts_exchange_ns, len(f.trade_id), f.trade_id))

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
