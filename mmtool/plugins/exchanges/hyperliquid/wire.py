"""Hyperliquid wire formats: action builders with the exchange's exact key order, and response parsing.

L1 actions are hashed as msgpack with the dicts' key order, so every builder here writes keys in exactly the
order the exchange (and the official SDK) uses; a different order is a different hash and a rejected signature.
Prices and sizes are exact ``Decimal`` values, formatted by :func:`mmtool.core.rounding.to_wire`.

Responses: ``{"status": "ok", "response": {"type": ..., "data": {"statuses": [...]}}}`` or
``{"status": "err", "response": "<text>"}``. A whole-request error raises the typed error from
:mod:`~mmtool.plugins.exchanges.hyperliquid.errors`; per-order and per-cancel outcomes come back as values.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

import attrs

from mmtool.core.cloid import is_valid_cloid
from mmtool.core.errors import MmtoolError
from mmtool.core.rounding import from_wire, to_wire
from mmtool.core.types import Tif, TriggerKind, TriggerSpec
from mmtool.plugins.exchanges.hyperliquid.errors import (
    ExchangeRejected,
    MalformedResponse,
    error_from_message,
)
from mmtool.plugins.exchanges.hyperliquid.signing import (
    DEFAULT_SIGNATURE_CHAIN_ID,
    address_to_bytes,
)

Grouping = Literal["na", "normalTpsl", "positionTpsl"]
_GROUPINGS = ("na", "normalTpsl", "positionTpsl")


@attrs.frozen
class Trigger:
    """A trigger (stop or take-profit) order type: fires at ``trigger_px``, then as market or as a limit order."""

    trigger_px: Decimal
    is_market: bool
    tpsl: Literal["tp", "sl"]

    def __attrs_post_init__(self) -> None:
        if self.tpsl not in ("tp", "sl"):
            raise ValueError(f"tpsl must be 'tp' or 'sl' (got {self.tpsl!r})")

    @classmethod
    def from_spec(cls, spec: TriggerSpec) -> Trigger:
        """The wire order type of a core :class:`~mmtool.core.types.TriggerSpec`."""
        return cls(spec.trigger_px, spec.is_market, spec.kind.value)  # type: ignore[arg-type]


#: ``orderType`` of a trigger order in ``frontendOpenOrders`` / ``orderStatus``, by (kind, is_market).
TRIGGER_ORDER_TYPES: dict[tuple[TriggerKind, bool], str] = {
    (TriggerKind.STOP_LOSS, True): "Stop Market",
    (TriggerKind.STOP_LOSS, False): "Stop Limit",
    (TriggerKind.TAKE_PROFIT, True): "Take Profit Market",
    (TriggerKind.TAKE_PROFIT, False): "Take Profit Limit",
}
_TRIGGER_BY_ORDER_TYPE = {name: key for key, name in TRIGGER_ORDER_TYPES.items()}


def trigger_order_type(spec: TriggerSpec) -> str:
    """The ``orderType`` the exchange lists a trigger order under, e.g. ``"Stop Market"``."""
    return TRIGGER_ORDER_TYPES[(spec.kind, spec.is_market)]


def trigger_from_listing(order_type: Any, trigger_px: Any) -> TriggerSpec | None:
    """The trigger of a listed order (``orderType``, ``triggerPx`` of ``frontendOpenOrders``), None for a limit.

    A ``triggerPx`` that is not a positive decimal makes the listing malformed (:class:`MalformedResponse`).
    """
    key = _TRIGGER_BY_ORDER_TYPE.get(order_type) if isinstance(order_type, str) else None
    if key is None:
        return None
    px = _decimal(trigger_px, "triggerPx")
    if px <= 0:
        raise MalformedResponse(f"triggerPx: expected a positive price, got {trigger_px!r}")
    return TriggerSpec(px, key[1], key[0])


@attrs.frozen
class Builder:
    """A builder fee: ``address`` receives ``fee_tenths_bp`` tenths of a basis point of the order notional."""

    address: str
    fee_tenths_bp: int

    def __attrs_post_init__(self) -> None:
        address_to_bytes(self.address)
        if isinstance(self.fee_tenths_bp, bool) or not isinstance(self.fee_tenths_bp, int) or self.fee_tenths_bp < 0:
            raise ValueError(f"fee_tenths_bp must be an integer >= 0 (got {self.fee_tenths_bp!r})")


def _check_cloid(cloid: str) -> str:
    if not is_valid_cloid(cloid):
        raise ValueError(f"cloid must be '0x' and 32 lower-case hex digits (got {cloid!r})")
    return cloid


def _order_type_wire(order_type: Tif | str | Trigger) -> dict[str, Any]:
    if isinstance(order_type, Trigger):
        return {
            "trigger": {
                "isMarket": order_type.is_market,
                "triggerPx": to_wire(order_type.trigger_px),
                "tpsl": order_type.tpsl,
            }
        }
    tif = Tif(order_type) if isinstance(order_type, str) else order_type
    if not isinstance(tif, Tif):
        raise ValueError(f"order type must be a Tif, 'Alo'/'Ioc'/'Gtc' or a Trigger (got {order_type!r})")
    return {"limit": {"tif": tif.value}}


def order_wire(
    asset: int,
    is_buy: bool,
    px: Decimal,
    sz: Decimal,
    reduce_only: bool,
    order_type: Tif | str | Trigger,
    cloid: str | None = None,
) -> dict[str, Any]:
    """One order on the wire: ``{"a", "b", "p", "s", "r", "t", "c"?}`` in that order.

    ``px`` and ``sz`` must already be valid for the asset (rounded by ``AssetRules``); they are formatted
    exactly, and :class:`~mmtool.core.errors.RoundingError` is raised if that would need rounding.
    """
    wire: dict[str, Any] = {
        "a": asset,
        "b": is_buy,
        "p": to_wire(px),
        "s": to_wire(sz),
        "r": reduce_only,
        "t": _order_type_wire(order_type),
    }
    if cloid is not None:
        wire["c"] = _check_cloid(cloid)
    return wire


def order_action(
    wires: Sequence[Mapping[str, Any]], grouping: Grouping = "na", builder: Builder | None = None
) -> dict[str, Any]:
    """The ``order`` action for a batch of order wires: ``{"type", "orders", "grouping", "builder"?}``."""
    if grouping not in _GROUPINGS:
        raise ValueError(f"grouping must be one of {', '.join(_GROUPINGS)} (got {grouping!r})")
    action: dict[str, Any] = {"type": "order", "orders": list(wires), "grouping": grouping}
    if builder is not None:
        action["builder"] = {"b": builder.address.lower(), "f": builder.fee_tenths_bp}
    return action


def cancel_action(cancels: Iterable[tuple[int, int]]) -> dict[str, Any]:
    """The ``cancel`` action for ``(asset, oid)`` pairs: ``{"type", "cancels": [{"a", "o"}]}``."""
    return {"type": "cancel", "cancels": [{"a": asset, "o": oid} for asset, oid in cancels]}


def cancel_by_cloid_action(cancels: Iterable[tuple[int, str]]) -> dict[str, Any]:
    """The ``cancelByCloid`` action for ``(asset, cloid)`` pairs: ``{"type", "cancels": [{"asset", "cloid"}]}``."""
    return {
        "type": "cancelByCloid",
        "cancels": [{"asset": asset, "cloid": _check_cloid(cloid)} for asset, cloid in cancels],
    }


def _oid_or_cloid(oid: int | str) -> int | str:
    return _check_cloid(oid) if isinstance(oid, str) else oid


def modify_action(oid: int | str, order: Mapping[str, Any]) -> dict[str, Any]:
    """The ``modify`` action: replace the order ``oid`` (exchange id or cloid) by ``order`` (an order wire)."""
    return {"type": "modify", "oid": _oid_or_cloid(oid), "order": dict(order)}


def batch_modify_action(modifies: Iterable[tuple[int | str, Mapping[str, Any]]]) -> dict[str, Any]:
    """The ``batchModify`` action for ``(oid or cloid, order wire)`` pairs: ``{"type", "modifies": [...]}``."""
    return {
        "type": "batchModify",
        "modifies": [{"oid": _oid_or_cloid(oid), "order": dict(order)} for oid, order in modifies],
    }


def schedule_cancel_action(time_ms: int | None) -> dict[str, Any]:
    """The ``scheduleCancel`` action (dead man's switch): cancel all at ``time_ms``; ``None`` clears it."""
    action: dict[str, Any] = {"type": "scheduleCancel"}
    if time_ms is not None:
        action["time"] = time_ms
    return action


def update_leverage_action(asset: int, is_cross: bool, leverage: int) -> dict[str, Any]:
    """The ``updateLeverage`` action: ``{"type", "asset", "isCross", "leverage"}``."""
    if isinstance(leverage, bool) or not isinstance(leverage, int) or leverage < 1:
        raise ValueError(f"leverage must be an integer >= 1 (got {leverage!r})")
    return {"type": "updateLeverage", "asset": asset, "isCross": is_cross, "leverage": leverage}


def _user_signed_head(action_type: str, is_mainnet: bool) -> dict[str, Any]:
    return {
        "type": action_type,
        "signatureChainId": DEFAULT_SIGNATURE_CHAIN_ID,
        "hyperliquidChain": "Mainnet" if is_mainnet else "Testnet",
    }


def approve_agent_action(agent_address: str, agent_name: str | None, nonce: int, is_mainnet: bool) -> dict[str, Any]:
    """The user-signed ``approveAgent`` action; without a name, ``agentName`` is left out (and signed as ``""``).

    Sign it with ``APPROVE_AGENT_TYPES`` / ``APPROVE_AGENT_PRIMARY_TYPE`` and send ``nonce`` as the request's nonce.
    """
    address_to_bytes(agent_address)
    action = _user_signed_head("approveAgent", is_mainnet)
    action["agentAddress"] = agent_address
    if agent_name is not None:
        action["agentName"] = agent_name
    action["nonce"] = nonce
    return action


def usd_send_action(destination: str, amount: Decimal, time_ms: int, is_mainnet: bool) -> dict[str, Any]:
    """The user-signed ``usdSend`` action (USDC transfer on the exchange); ``time_ms`` is also the nonce."""
    address_to_bytes(destination)
    action = _user_signed_head("usdSend", is_mainnet)
    action.update({"destination": destination, "amount": to_wire(amount), "time": time_ms})
    return action


def withdraw_action(destination: str, amount: Decimal, time_ms: int, is_mainnet: bool) -> dict[str, Any]:
    """The user-signed ``withdraw3`` action (withdrawal to the bridge); ``time_ms`` is also the nonce."""
    address_to_bytes(destination)
    action = _user_signed_head("withdraw3", is_mainnet)
    action.update({"destination": destination, "amount": to_wire(amount), "time": time_ms})
    return action


def exchange_request(
    action: Mapping[str, Any],
    nonce: int,
    signature: Mapping[str, Any],
    vault_address: str | None = None,
    expires_after: int | None = None,
) -> dict[str, Any]:
    """The JSON body of ``POST /exchange``; ``expiresAfter`` is included only when given."""
    body: dict[str, Any] = {
        "action": action,
        "nonce": nonce,
        "signature": signature,
        "vaultAddress": vault_address,
    }
    if expires_after is not None:
        body["expiresAfter"] = expires_after
    return body


# ------------------------------------------------------------------------------------------------ responses


class OrderResultKind(enum.Enum):
    """What became of one order of a batch."""

    RESTING = "resting"
    FILLED = "filled"
    #: A trigger order accepted and waiting (``waitingForTrigger`` / ``waitingForFill``).
    WAITING = "waiting"
    ERROR = "error"


@attrs.frozen
class OrderResult:
    """The exchange's answer for one order of an ``order``/``modify``/``batchModify`` request."""

    kind: OrderResultKind
    oid: int | None = None
    cloid: str | None = None
    total_sz: Decimal | None = None
    avg_px: Decimal | None = None
    error: str | None = None

    @property
    def rejection(self) -> ExchangeRejected | None:
        """The typed error for an ``error`` result, else None."""
        return error_from_message(self.error) if self.error is not None else None


@attrs.frozen
class CancelResult:
    """The exchange's answer for one cancel of a ``cancel``/``cancelByCloid`` request."""

    ok: bool
    error: str | None = None

    @property
    def rejection(self) -> ExchangeRejected | None:
        """The typed error for a failed cancel (``OrderNotFound`` for an unknown order), else None."""
        return error_from_message(self.error) if self.error is not None else None


def raise_for_status(response: Any) -> Mapping[str, Any]:
    """Return the ``response`` part of an ``ok`` answer; raise the typed error of an ``err`` answer."""
    if not isinstance(response, Mapping):
        raise MalformedResponse(f"expected a JSON object, got {type(response).__name__}")
    status = response.get("status")
    if status == "err":
        text = response.get("response")
        raise error_from_message(text if isinstance(text, str) else repr(text))
    if status != "ok":
        raise MalformedResponse(f"unknown status {status!r}")
    inner = response.get("response")
    if not isinstance(inner, Mapping):
        raise MalformedResponse("an ok answer without a response object")
    return inner


def _statuses(response: Any, expected: int | None) -> list[Any]:
    inner = raise_for_status(response)
    data = inner.get("data")
    statuses = data.get("statuses") if isinstance(data, Mapping) else None
    if not isinstance(statuses, list):
        raise MalformedResponse("an ok answer without data.statuses")
    if expected is not None and len(statuses) != expected:
        # A payload rejected in pre-validation gets a single error for the whole batch: it applies to each item.
        if len(statuses) == 1 and isinstance(statuses[0], Mapping) and "error" in statuses[0]:
            return statuses * expected
        raise MalformedResponse(f"expected {expected} statuses, got {len(statuses)}")
    return statuses


def _decimal(value: Any, field: str) -> Decimal:
    if not isinstance(value, str | int):
        raise MalformedResponse(f"{field}: expected a decimal string, got {value!r}")
    try:
        return from_wire(str(value))
    except (ArithmeticError, ValueError, MmtoolError) as exc:
        raise MalformedResponse(f"{field}: not a decimal: {value!r}") from exc


def _oid(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MalformedResponse(f"oid: expected an integer, got {value!r}")
    return value


def _order_result(status: Any) -> OrderResult:
    if isinstance(status, str) and status in ("waitingForTrigger", "waitingForFill"):
        return OrderResult(OrderResultKind.WAITING)
    if not isinstance(status, Mapping) or len(status) != 1:
        raise MalformedResponse(f"unknown order status {status!r}")
    if "resting" in status:
        body = status["resting"]
        if not isinstance(body, Mapping):
            raise MalformedResponse(f"malformed resting status {status!r}")
        return OrderResult(OrderResultKind.RESTING, oid=_oid(body.get("oid")), cloid=body.get("cloid"))
    if "filled" in status:
        body = status["filled"]
        if not isinstance(body, Mapping):
            raise MalformedResponse(f"malformed filled status {status!r}")
        return OrderResult(
            OrderResultKind.FILLED,
            oid=_oid(body.get("oid")),
            cloid=body.get("cloid"),
            total_sz=_decimal(body.get("totalSz"), "totalSz"),
            avg_px=_decimal(body.get("avgPx"), "avgPx"),
        )
    if "error" in status:
        return OrderResult(OrderResultKind.ERROR, error=str(status["error"]))
    raise MalformedResponse(f"unknown order status {status!r}")


def parse_order_statuses(response: Any, expected: int | None = None) -> list[OrderResult]:
    """The per-order results of an ``order``, ``modify`` or ``batchModify`` answer, in request order.

    ``expected`` is the number of orders sent: a single error answered for a whole batch is then repeated for
    each order, and any other count mismatch is a :class:`MalformedResponse`. A whole-request ``err`` raises
    its typed error.
    """
    return [_order_result(s) for s in _statuses(response, expected)]


def parse_cancel_statuses(response: Any, expected: int | None = None) -> list[CancelResult]:
    """The per-cancel results of a ``cancel`` or ``cancelByCloid`` answer, in request order (see above)."""
    results = []
    for status in _statuses(response, expected):
        if status == "success":
            results.append(CancelResult(ok=True))
        elif isinstance(status, Mapping) and "error" in status:
            results.append(CancelResult(ok=False, error=str(status["error"])))
        else:
            raise MalformedResponse(f"unknown cancel status {status!r}")
    return results
