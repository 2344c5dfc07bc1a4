"""Hyperliquid messages to core events: books, trades, mids, fills, order statuses and funding.

Every function takes the decoded JSON of one message (or one item of it) and the local arrival time, and returns
core events with exact ``Decimal`` prices and sizes. A message that is not the documented shape raises
:class:`~mmtool.plugins.exchanges.hyperliquid.errors.MalformedResponse`; the adapter logs, counts and skips it.

Order statuses (``orderUpdates`` items, ``orderStatus`` answers) map to :class:`OrderStatus` as follows:

=================================================================  ==========================================
exchange status                                                    core status
=================================================================  ==========================================
``open``, ``triggered`` (a trigger order fired),                   RESTING (an acknowledgement)
``waitingForTrigger``, ``waitingForFill``
``filled``                                                         FILLED
``rejected`` and every ``...Rejected`` (``badAloPxRejected``,      REJECTED, the status as the reason
``minTradeNtlRejected``, ``perpMarginRejected``, ``tickRejected``,
``reduceOnlyRejected``, ``iocCancelRejected``, ...)
``canceled`` and every ``...Canceled`` / ``...Cancel``             CANCELLED, the status as the reason
(``marginCanceled``, ``reduceOnlyCanceled``,
``siblingFilledCanceled``, ``selfTradeCanceled``,
``liquidatedCanceled``, ``scheduledCancel``, ...)
=================================================================  ==========================================

``filled_size`` is never set on the updates built here: the exchange reports fills separately (``userFills``),
and the order manager adds those to its cumulative ``filled``; a cumulative figure on the update as well would
count a fill twice when the update arrives first.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from mmtool.core.clock import NS_PER_MS
from mmtool.core.types import (
    BookLevel,
    BookUpdate,
    Fill,
    Funding,
    L2Book,
    Liquidity,
    MidUpdate,
    OrderStatus,
    OrderUpdate,
    Side,
    Trade,
)
from mmtool.plugins.exchanges.hyperliquid.errors import MalformedResponse

_SIDES = {"B": Side.BUY, "A": Side.SELL}
# A trigger order waiting for its price (or its parent's fill) and one that just fired are both acknowledged.
_SPECIAL = {
    "open": OrderStatus.RESTING, "triggered": OrderStatus.RESTING, "waitingForTrigger": OrderStatus.RESTING,
    "waitingForFill": OrderStatus.RESTING, "filled": OrderStatus.FILLED,
}


#: No number the exchange sends comes near 10^±100; one beyond is malformed (``"1e999999"`` is a finite Decimal
#: whose float is infinite, and which overflows Decimal arithmetic downstream).
_MAX_EXPONENT = 100


def dec(value: Any, field: str = "number") -> Decimal:
    """A wire decimal string (or integer) as an exact, finite ``Decimal`` of sane magnitude; MalformedResponse
    otherwise."""
    try:
        d = Decimal(value) if isinstance(value, str | int) and not isinstance(value, bool) else None
    except (InvalidOperation, ValueError):
        d = None
    if d is None or not d.is_finite() or (d and not -_MAX_EXPONENT < d.adjusted() < _MAX_EXPONENT):
        raise MalformedResponse(f"{field}: expected a decimal string, got {_shown(value)}")
    return d


def _shown(value: Any) -> str:
    """A bad value for an error message: short, and never the text of a huge integer (which str() refuses)."""
    if isinstance(value, int) and value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def side_of(value: Any) -> Side:
    """``"B"`` (bid, buy) or ``"A"`` (ask, sell) as a :class:`Side`."""
    side = _SIDES.get(value)
    if side is None:
        raise MalformedResponse(f"side: expected 'B' or 'A', got {value!r}")
    return side


def order_status(status: str) -> OrderStatus:
    """The core status of an exchange order status string (see the module table)."""
    found = _SPECIAL.get(status)
    if found is not None:
        return found
    lowered = status.lower()
    if lowered.endswith("rejected"):
        return OrderStatus.REJECTED
    if "cancel" in lowered:
        return OrderStatus.CANCELLED
    raise MalformedResponse(f"unknown order status {status!r}")


def _ms(value: Any, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedResponse(f"{field}: expected milliseconds, got {value!r}")
    return value


def _levels(raw: Any, depth: int) -> tuple[BookLevel, ...]:
    # Built afresh every time: a cache of levels by wire text was measured to cost twice as much as building them,
    # since its lookups miss the CPU caches when a message arrives after a quiet spell.
    if type(raw) is not list:
        raise MalformedResponse("l2Book: a side is not a list")
    try:
        return tuple(
            [BookLevel(Decimal(level["px"]), Decimal(level["sz"]), level.get("n", 1)) for level in raw[:depth]]
        )
    except (KeyError, TypeError, AttributeError, InvalidOperation) as exc:
        raise MalformedResponse(f"l2Book: bad level in {str(raw[:depth])[:200]}") from exc


def book_update(data: Mapping[str, Any], ts_local_ns: int, depth: int = 20) -> BookUpdate:
    """An ``l2Book`` message's data ``{"coin", "time", "levels": [bids, asks]}`` as a :class:`BookUpdate`."""
    try:
        coin, levels, time_ms = data["coin"], data["levels"], data.get("time")
        bids, asks = levels
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedResponse("l2Book: expected coin and two sides of levels") from exc
    ts = time_ms * NS_PER_MS if isinstance(time_ms, int) else ts_local_ns
    return BookUpdate(coin, L2Book(_levels(bids, depth), _levels(asks, depth)), ts, ts_local_ns)


def trades(data: Any, asset: str, ts_local_ns: int) -> list[Trade]:
    """The public trades of ``asset`` in a ``trades`` message (the aggressor's side, trade id ``tid``)."""
    if not isinstance(data, list):
        raise MalformedResponse("trades: expected a list")
    out = []
    for item in data:
        if not isinstance(item, Mapping):
            raise MalformedResponse(f"trades: bad trade {item!r}")
        if item.get("coin") != asset:
            continue
        out.append(
            Trade(
                asset,
                dec(item.get("px"), "px"),
                dec(item.get("sz"), "sz"),
                side_of(item.get("side")),
                str(item.get("tid", item.get("hash", ""))),
                _ms(item.get("time"), "time") * NS_PER_MS,
                ts_local_ns,
            )
        )
    return out


def mid_update(data: Mapping[str, Any], asset: str, ts_local_ns: int) -> MidUpdate | None:
    """The mid of ``asset`` in an ``allMids`` message (``{"mids": {coin: px}}``), or None when absent."""
    mids = data.get("mids") if isinstance(data, Mapping) else None
    if not isinstance(mids, Mapping):
        raise MalformedResponse("allMids: expected a mids object")
    value = mids.get(asset)
    if value is None:
        return None
    return MidUpdate(asset, dec(value, "mid"), ts_local_ns, ts_local_ns)


def _positive(value: Decimal, field: str) -> Decimal:
    """``value`` when > 0; a fill's price or size never is anything else (the adapter's tally would move)."""
    if value <= 0:
        raise MalformedResponse(f"{field}: must be > 0, got {value}")
    return value


def fill(item: Mapping[str, Any], ts_local_ns: int, cloid: str | None = None) -> Fill:
    """One of our fills (``userFills``, ``userEvents``, ``userFillsByTime``) as a :class:`Fill`.

    The trade id ``tid`` is the deduplication key; ``crossed`` says we took liquidity. ``cloid`` fills in the
    client order id when the exchange's fill does not carry it (found from the order id).
    """
    if not isinstance(item, Mapping):
        raise MalformedResponse(f"fill: expected an object, got {item!r}")
    tid = item.get("tid")
    if tid is None:
        raise MalformedResponse("fill: no tid")
    oid = item.get("oid")
    return Fill(
        asset=str(item.get("coin")),
        cloid=item.get("cloid") or cloid,
        oid=oid if isinstance(oid, int) and not isinstance(oid, bool) else None,
        trade_id=str(tid),
        side=side_of(item.get("side")),
        price=_positive(dec(item.get("px"), "px"), "px"),
        size=_positive(dec(item.get("sz"), "sz"), "sz"),
        fee=dec(item.get("fee", "0"), "fee"),
        liquidity=Liquidity.TAKER if item.get("crossed") else Liquidity.MAKER,
        ts_exchange_ns=_ms(item.get("time"), "time") * NS_PER_MS,
        ts_local_ns=ts_local_ns,
    )


def order_update(item: Mapping[str, Any], ts_local_ns: int, cloid: str | None = None) -> OrderUpdate:
    """An ``orderUpdates`` item or an ``orderStatus`` inner object (``{"order", "status", "statusTimestamp"}``).

    ``cloid`` is used when the order carries none (found from its oid). An acknowledgement's ``size`` is the
    resting size (``sz``), as the order manager expects; the reason is the exchange's status for anything that
    is not an acknowledgement or a fill.
    """
    try:
        order, status = item["order"], item["status"]
        coin, oid = order["coin"], order["oid"]
    except (KeyError, TypeError) as exc:
        raise MalformedResponse(f"order update: expected order and status, got {item!r}") from exc
    if not isinstance(status, str):
        raise MalformedResponse(f"order update: status is not a string: {status!r}")
    key = order.get("cloid") or cloid
    if not key:
        raise MalformedResponse(f"order update without a client order id (oid {oid})")
    core = order_status(status)
    ts_ms = item.get("statusTimestamp", order.get("timestamp"))
    ts = ts_ms * NS_PER_MS if isinstance(ts_ms, int) and not isinstance(ts_ms, bool) else ts_local_ns
    reason = "" if core in (OrderStatus.RESTING, OrderStatus.FILLED) else status
    return OrderUpdate(
        asset=str(coin),
        cloid=key,
        status=core,
        ts_exchange_ns=ts,
        ts_local_ns=ts_local_ns,
        oid=oid if isinstance(oid, int) else None,
        price=dec(order.get("limitPx"), "limitPx") if core is OrderStatus.RESTING else None,
        size=dec(order.get("sz"), "sz") if core is OrderStatus.RESTING else None,
        reason=reason,
    )


def funding(entry: Mapping[str, Any], ts_local_ns: int) -> Funding:
    """A ``userEvents`` funding entry ``{"time", "coin", "usdc", "szi", "fundingRate"}`` (usdc > 0: received)."""
    if not isinstance(entry, Mapping):
        raise MalformedResponse(f"funding: expected an object, got {entry!r}")
    return Funding(
        asset=str(entry.get("coin")),
        rate=dec(entry.get("fundingRate"), "fundingRate"),
        payment=dec(entry.get("usdc"), "usdc"),
        ts_exchange_ns=_ms(entry.get("time"), "time") * NS_PER_MS,
        ts_local_ns=ts_local_ns,
    )
