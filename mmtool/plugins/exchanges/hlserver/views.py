"""The exchange's JSON views of its state: meta, asset contexts, books, account state, orders, fills, funding."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from mmtool.core.types import ZERO
from mmtool.plugins.exchanges.hlserver.accounts import Account, OrderInfo
from mmtool.plugins.exchanges.hlserver.markets import AssetMarket
from mmtool.plugins.exchanges.hlserver.numbers import px, usd
from mmtool.plugins.exchanges.hlserver.triggers import trigger_condition
from mmtool.plugins.exchanges.hlserver.venue import Venue
from mmtool.plugins.exchanges.hyperliquid.wire import trigger_order_type

MAX_FILLS = 2000


def meta(venue: Venue) -> dict[str, Any]:
    """``meta``: the perp universe (asset id = index) with szDecimals and max leverage, and its margin tables."""
    universe = [
        {"szDecimals": a.spec.sz_decimals, "name": a.name, "maxLeverage": a.spec.max_leverage,
         "marginTableId": a.spec.max_leverage}
        for a in venue.assets
    ]
    tables = [
        [lev, {"description": "", "marginTiers": [{"lowerBound": "0.0", "maxLeverage": lev}]}]
        for lev in sorted({a.spec.max_leverage for a in venue.assets})
    ]
    return {"universe": universe, "marginTables": tables}


def asset_ctx(venue: Venue, asset: AssetMarket) -> dict[str, Any]:
    """A perp asset context: funding, open interest, mark/oracle/mid prices, volumes."""
    mark = asset.mark()
    bid, ask = asset.best()
    mark_text = px(mark) if mark is not None else "0"
    return {
        "funding": str(asset.funding_rate),
        "openInterest": px(asset.open_interest()),
        "prevDayPx": px(Decimal(repr(asset.spec.start_price))),
        "dayNtlVlm": usd(asset.day_ntl_volume),
        "premium": "0",
        "oraclePx": mark_text,
        "markPx": mark_text,
        "midPx": px(mark) if mark is not None else None,
        "impactPxs": [px(bid), px(ask)] if bid is not None and ask is not None else None,
        "dayBaseVlm": px(asset.day_base_volume),
    }


def all_mids(venue: Venue) -> dict[str, str]:
    """``allMids``: coin to mid price."""
    mids = {}
    for asset in venue.assets:
        mark = asset.mark()
        if mark is not None:
            mids[asset.name] = px(mark)
    return mids


def l2_book(venue: Venue, asset: AssetMarket) -> dict[str, Any]:
    """``l2Book``: ``{"coin", "time", "levels": [bids, asks]}``."""
    bids, asks = venue.book_levels(asset)
    return {"coin": asset.name, "time": venue.now_ms, "levels": [bids, asks]}


def bbo(venue: Venue, asset: AssetMarket) -> dict[str, Any]:
    """The ``bbo`` channel's data: best bid and ask levels (or null)."""
    bids, asks = venue.book_levels(asset, depth=1)
    return {"coin": asset.name, "time": venue.now_ms, "bbo": [bids[0] if bids else None, asks[0] if asks else None]}


def clearinghouse_state(venue: Venue, account: Account) -> dict[str, Any]:
    """``clearinghouseState``: margin summaries, withdrawable and positions (cross margin)."""
    figures = venue.margin_figures(account)
    value = figures["account_value"]
    positions: list[dict[str, Any]] = []
    signed_notional = ZERO
    for index, engine in sorted(account.engines.items()):
        ledger = engine.account
        if ledger.position == 0:
            continue
        asset = venue.assets[index]
        mark = asset.mark() or ledger.entry_price
        position_value = abs(ledger.position) * mark
        signed_notional += ledger.position * mark
        margin = position_value / engine.leverage
        unrealized = ledger.unrealized(mark)
        liq = _liquidation_price(venue, account, index, value, figures["maintenance"])
        positions.append({
            "type": "oneWay",
            "position": {
                "coin": asset.name, "szi": px(ledger.position),
                "leverage": {"type": "cross", "value": engine.leverage},
                "entryPx": px(ledger.entry_price), "positionValue": usd(position_value),
                "unrealizedPnl": usd(unrealized),
                "returnOnEquity": px((unrealized / margin).quantize(Decimal("0.0000001"))) if margin else "0",
                "liquidationPx": px(liq) if liq is not None else None, "marginUsed": usd(margin),
                "maxLeverage": asset.spec.max_leverage,
                "cumFunding": {"allTime": usd(-ledger.funding), "sinceOpen": usd(-ledger.funding),
                               "sinceChange": usd(-ledger.funding)},
            },
        })
    summary = {
        "accountValue": usd(value), "totalNtlPos": usd(figures["notional"]),
        "totalRawUsd": usd(value - signed_notional), "totalMarginUsed": usd(figures["margin_used"]),
    }
    return {
        "marginSummary": summary, "crossMarginSummary": dict(summary),
        "crossMaintenanceMarginUsed": usd(figures["maintenance"]),
        "withdrawable": usd(max(ZERO, value - figures["margin_used"])),
        "assetPositions": positions, "time": venue.now_ms,
    }


def _liquidation_price(
    venue: Venue, account: Account, index: int, value: Decimal, maintenance: Decimal
) -> Decimal | None:
    """The mark of asset ``index`` at which account value meets maintenance margin, other marks held."""
    engine = account.engines[index]
    asset = venue.assets[index]
    mark = asset.mark()
    size = engine.account.position
    if mark is None or size == 0:
        return None
    rate = Decimal(1) / (2 * asset.spec.max_leverage)
    value_without = value - size * mark
    maintenance_others = maintenance - abs(size) * mark * rate
    slope = size - abs(size) * rate
    if slope == 0:
        return None
    price = (maintenance_others - value_without) / slope
    return price if price > 0 else None


def open_order(info: OrderInfo) -> dict[str, Any]:
    """An ``openOrders`` item."""
    out: dict[str, Any] = {
        "coin": info.coin, "limitPx": px(info.limit_px), "oid": info.oid, "side": info.side.value,
        "sz": px(info.sz), "timestamp": info.timestamp, "origSz": px(info.orig_sz),
    }
    if info.cloid is not None:
        out["cloid"] = info.cloid
    return out


def frontend_order(info: OrderInfo) -> dict[str, Any]:
    """A ``frontendOpenOrders`` item (also ``orderStatus``'s order), with ``cloid`` null for an order without one.

    A trigger order shows ``isTrigger`` while it waits, its ``orderType`` (``Stop Market``, ``Take Profit Limit``,
    ...), ``triggerPx`` and ``triggerCondition`` (``Price below 3400``, then ``Triggered``), and no ``tif`` until
    it fires.
    """
    out = open_order(info)
    # Unlike openOrders (and orderUpdates), the frontend listing always carries ``cloid``: null without one.
    out.setdefault("cloid", None)
    trigger = info.trigger
    waiting = trigger is not None and not info.triggered
    out.update({
        "isPositionTpsl": False, "isTrigger": waiting,
        "orderType": trigger_order_type(trigger) if trigger is not None else "Limit", "reduceOnly": info.reduce_only,
        "tif": None if waiting else info.tif.value, "triggerCondition": trigger_condition(info),
        "triggerPx": px(trigger.trigger_px) if trigger is not None else "0.0", "children": [],
    })
    return out


def order_status(account: Account, ref: int | str) -> dict[str, Any]:
    """``orderStatus`` by oid or cloid."""
    info = account.order_by_ref(ref)
    if info is None:
        return {"status": "unknownOid"}
    return {"status": "order", "order": {"order": frontend_order(info), "status": info.status,
                                         "statusTimestamp": info.status_ts}}


def user_fills(account: Account, start: int | None = None, end: int | None = None) -> list[dict[str, Any]]:
    """``userFills`` (most recent first) or, with a start time, ``userFillsByTime`` (oldest first)."""
    if start is None:
        return list(reversed(account.fills[-MAX_FILLS:]))
    chosen = [f for f in account.fills if f["time"] >= start and (end is None or f["time"] <= end)]
    return chosen[:MAX_FILLS]


def user_funding(account: Account, start: int, end: int | None) -> list[dict[str, Any]]:
    """``userFunding``: the account's funding payments in the window."""
    return [
        {"time": f["time"], "hash": "0x" + "0" * 64,
         "delta": {"type": "funding", "coin": f["coin"], "usdc": f["usdc"], "szi": f["szi"],
                   "fundingRate": f["fundingRate"], "nSamples": None}}
        for f in account.funding
        if f["time"] >= start and (end is None or f["time"] <= end)
    ]


def funding_history(asset: AssetMarket, start: int, end: int | None) -> list[dict[str, Any]]:
    """``fundingHistory`` of one coin in the window."""
    return [f for f in asset.funding_history if f["time"] >= start and (end is None or f["time"] <= end)]
