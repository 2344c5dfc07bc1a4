"""The request logic behind ``POST /info`` and ``POST /exchange`` (and WebSocket ``post``), transport-free.

A body that does not deserialize into a request (wrong JSON shape, missing field, wrong type, unknown type) raises
:class:`BadRequest`, which the transports answer as the exchange does: HTTP 422 with
``Failed to deserialize the JSON body into the target type: ...``. Anything the exchange refuses after that is
``{"status": "err", "response": "<text>"}``; per-order and per-cancel refusals sit in ``statuses``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

import attrs

from mmtool.core.cloid import is_valid_cloid
from mmtool.core.types import Side, Tif, TriggerKind, TriggerSpec
from mmtool.plugins.exchanges.hlserver import views
from mmtool.plugins.exchanges.hlserver.accounts import Account
from mmtool.plugins.exchanges.hlserver.auth import (
    USER_SIGNED,
    Authorized,
    NonceStore,
    approve_agent,
    authenticate,
    is_address,
    valid_nonce_type,
)
from mmtool.plugins.exchanges.hlserver.config import ServerConfig
from mmtool.plugins.exchanges.hlserver.journal import Journal
from mmtool.plugins.exchanges.hlserver.markets import AssetMarket
from mmtool.plugins.exchanges.hlserver.numbers import is_int, parse_decimal
from mmtool.plugins.exchanges.hlserver.ratelimit import charge_address, user_rate_limit
from mmtool.plugins.exchanges.hlserver.triggers import INVALID_TRIGGER_PX
from mmtool.plugins.exchanges.hlserver.venue import Venue

DESERIALIZE = "Failed to deserialize the JSON body into the target type"
SCHEDULE_MIN_LEAD_MS = 5_000
SCHEDULE_TRIGGERS_PER_DAY = 10
DAY_MS = 86_400_000
TRIGGER_MODIFY_UNSUPPORTED = "Modifying an order into a trigger order is not supported by the local exchange."
TPSL_GROUPING_UNSUPPORTED = "Grouped TP/SL orders (normalTpsl, positionTpsl) are not supported by the local exchange."
_TIFS = {t.value: t for t in Tif}
_TPSL = {k.value: k for k in TriggerKind}


@attrs.frozen
class OrderTerms:
    """An order's terms as parsed from its wire; ``trigger`` is set for a trigger order (``tif`` is then unused)."""

    asset: AssetMarket
    side: Side
    price: Decimal
    size: Decimal
    tif: Tif
    reduce_only: bool
    trigger: TriggerSpec | None = None


class BadRequest(Exception):
    """The body is not a valid request of the exchange's API (HTTP 422)."""

    def __init__(self, detail: str) -> None:
        super().__init__(f"{DESERIALIZE}: {detail}")


def ok(kind: str, data: Any = None) -> dict[str, Any]:
    """An ``ok`` answer of ``/exchange``."""
    response: dict[str, Any] = {"type": kind}
    if data is not None:
        response["data"] = data
    return {"status": "ok", "response": response}


def err(text: str) -> dict[str, Any]:
    """An ``err`` answer of ``/exchange``."""
    return {"status": "err", "response": text}


def _field(body: Mapping[str, Any], name: str, check: Callable[[Any], bool], what: str, optional: bool = False) -> Any:
    if name not in body or (optional and body[name] is None):
        if optional:
            return None
        raise BadRequest(f"missing field `{name}`")
    value = body[name]
    if not check(value):
        raise BadRequest(f"invalid type for `{name}`: expected {what}")
    return value


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_dict(value: Any) -> bool:
    return isinstance(value, dict)


def _is_list(value: Any) -> bool:
    return isinstance(value, list)


def _is_time(value: Any) -> bool:
    return is_int(value) and 0 <= value < 2**63


class ExchangeCore:
    """Venue, journal, nonces and rules: answers info requests and executes signed actions."""

    def __init__(self, config: ServerConfig, venue: Venue, journal: Journal) -> None:
        self.config = config
        self.venue = venue
        self.journal = journal
        self.nonces = NonceStore()
        self._info: dict[str, Callable[[Mapping[str, Any]], Any]] = {
            "meta": self._meta, "metaAndAssetCtxs": self._meta_and_ctxs, "spotMeta": self._spot_meta,
            "spotMetaAndAssetCtxs": self._spot_meta_and_ctxs, "perpDexs": lambda body: [None],
            "allMids": lambda body: views.all_mids(self.venue), "l2Book": self._l2_book,
            "clearinghouseState": self._clearinghouse, "openOrders": self._open_orders,
            "frontendOpenOrders": self._frontend_open_orders, "userFills": self._user_fills,
            "userFillsByTime": self._user_fills_by_time, "orderStatus": self._order_status,
            "userRateLimit": self._user_rate_limit, "fundingHistory": self._funding_history,
            "userFunding": self._user_funding, "userFees": self._user_fees, "userRole": self._user_role,
        }

    # ---------------------------------------------------------------------------------------------- info

    def info(self, body: Any) -> Any:
        """Answer an ``/info`` body; raises :class:`BadRequest` for one that is not a request."""
        if not isinstance(body, dict):
            raise BadRequest("expected a JSON object")
        kind = _field(body, "type", _is_str, "a string")
        handler = self._info.get(kind)
        if handler is None:
            raise BadRequest(f"unknown variant `{kind[:64]}`")
        return handler(body)

    def _user(self, body: Mapping[str, Any]) -> Account:
        address = _field(body, "user", is_address, "an address")
        return self.venue.account(address)

    def _asset(self, body: Mapping[str, Any], name: str = "coin") -> AssetMarket | None:
        coin = _field(body, name, _is_str, "a string")
        return self.venue.by_name.get(coin)

    def _window(self, body: Mapping[str, Any]) -> tuple[int, int | None]:
        return (_field(body, "startTime", _is_time, "an integer"),
                _field(body, "endTime", _is_time, "an integer", optional=True))

    def _meta(self, body: Mapping[str, Any]) -> Any:
        dex = body.get("dex", "")
        if dex not in ("", None):
            return {"universe": [], "marginTables": []}
        return views.meta(self.venue)

    def _meta_and_ctxs(self, body: Mapping[str, Any]) -> Any:
        return [views.meta(self.venue), [views.asset_ctx(self.venue, a) for a in self.venue.assets]]

    def _spot_meta(self, body: Mapping[str, Any]) -> Any:
        return {"universe": [], "tokens": []}

    def _spot_meta_and_ctxs(self, body: Mapping[str, Any]) -> Any:
        return [{"universe": [], "tokens": []}, []]

    def _l2_book(self, body: Mapping[str, Any]) -> Any:
        asset = self._asset(body)
        return views.l2_book(self.venue, asset) if asset is not None else None

    def _clearinghouse(self, body: Mapping[str, Any]) -> Any:
        return views.clearinghouse_state(self.venue, self._user(body))

    def _open_orders(self, body: Mapping[str, Any]) -> Any:
        return [views.open_order(o) for o in reversed(self._user(body).open_orders())]

    def _frontend_open_orders(self, body: Mapping[str, Any]) -> Any:
        return [views.frontend_order(o) for o in reversed(self._user(body).open_orders())]

    def _user_fills(self, body: Mapping[str, Any]) -> Any:
        return views.user_fills(self._user(body))

    def _user_fills_by_time(self, body: Mapping[str, Any]) -> Any:
        account = self._user(body)
        start, end = self._window(body)
        return views.user_fills(account, start, end)

    def _order_status(self, body: Mapping[str, Any]) -> Any:
        account = self._user(body)
        ref = _field(body, "oid", lambda v: is_int(v) or is_valid_cloid(v), "an oid or a cloid")
        return views.order_status(account, ref)

    def _user_role(self, body: Mapping[str, Any]) -> Any:
        """``{"role": "agent", "data": {"user": master}}`` for an approved API wallet, ``{"role": "user"}`` for an
        account this exchange has seen, ``{"role": "missing"}`` otherwise (it opens no account, unlike the others)."""
        address = _field(body, "user", is_address, "an address").lower()
        agent = self.venue.agents.get(address)
        if agent is not None:
            return {"role": "agent", "data": {"user": agent[0]}}
        return {"role": "user"} if address in self.venue.accounts else {"role": "missing"}

    def _user_rate_limit(self, body: Mapping[str, Any]) -> Any:
        return user_rate_limit(self._user(body), self.config.address_initial_budget)

    def _funding_history(self, body: Mapping[str, Any]) -> Any:
        asset = self._asset(body)
        start, end = self._window(body)
        return views.funding_history(asset, start, end) if asset is not None else []

    def _user_funding(self, body: Mapping[str, Any]) -> Any:
        account = self._user(body)
        start, end = self._window(body)
        return views.user_funding(account, start, end)

    def _user_fees(self, body: Mapping[str, Any]) -> Any:
        self._user(body)
        return {"userAddRate": str(self.config.maker_fee), "userCrossRate": str(self.config.taker_fee),
                "feeSchedule": {"add": str(self.config.maker_fee), "cross": str(self.config.taker_fee)},
                "dailyUserVlm": [], "activeReferralDiscount": "0.0"}

    # ------------------------------------------------------------------------------------------ exchange

    def exchange(self, body: Any) -> dict[str, Any]:
        """Authenticate and execute an ``/exchange`` body; raises :class:`BadRequest` for a malformed one."""
        if not isinstance(body, dict):
            raise BadRequest("expected a JSON object")
        action = _field(body, "action", _is_dict, "an object")
        nonce = _field(body, "nonce", valid_nonce_type, "an unsigned integer")
        signature = _field(body, "signature", _is_dict, "an object")
        vault = _field(body, "vaultAddress", is_address, "an address", optional=True)
        expires = _field(body, "expiresAfter", _is_time, "an integer", optional=True)
        kind = _field(action, "type", _is_str, "a string")
        executor = self._actions.get(kind)
        if executor is None and kind not in USER_SIGNED:
            raise BadRequest(f"unknown variant `{kind[:64]}`")
        prepared = self._prepare(kind, action)
        auth = authenticate(
            self.venue, self.nonces, action, nonce, signature, vault, expires, self.config.is_mainnet
        )
        if isinstance(auth, str):
            return err(auth)
        count, is_cancel = prepared
        if kind not in USER_SIGNED:
            limited = charge_address(auth.account, count, is_cancel, self.venue.now_ms,
                                     self.config.address_initial_budget)
            if limited is not None:
                return err(limited)
        response = executor(auth, action) if executor is not None else self._approve(auth, action)
        self.journal.write(
            self.venue.now_ms, "action", user=auth.account.address, signer=auth.signer, nonce=nonce,
            vaultAddress=vault, action=action, response=response,
        )
        return response

    @property
    def _actions(self) -> dict[str, Callable[[Authorized, Mapping[str, Any]], dict[str, Any]]]:
        return {
            "order": self._order, "cancel": self._cancel, "cancelByCloid": self._cancel_by_cloid,
            "modify": self._modify, "batchModify": self._batch_modify, "scheduleCancel": self._schedule_cancel,
            "updateLeverage": self._update_leverage,
        }

    def _prepare(self, kind: str, action: Mapping[str, Any]) -> tuple[int, bool]:
        """Check the action's shape before authenticating; how many requests it counts and if it cancels."""
        if kind == "order":
            orders = _field(action, "orders", _is_list, "a list")
            for wire in orders:
                self._check_wire(wire)
            _field(action, "grouping", lambda v: isinstance(v, str | dict), "a grouping")
            return max(1, len(orders)), False
        if kind == "cancel":
            cancels = _field(action, "cancels", _is_list, "a list")
            for item in cancels:
                if not isinstance(item, dict):
                    raise BadRequest("a cancel must be an object")
                _field(item, "a", is_int, "an integer")
                _field(item, "o", is_int, "an integer")
            return max(1, len(cancels)), True
        if kind == "cancelByCloid":
            cancels = _field(action, "cancels", _is_list, "a list")
            for item in cancels:
                if not isinstance(item, dict):
                    raise BadRequest("a cancel must be an object")
                _field(item, "asset", is_int, "an integer")
                _field(item, "cloid", is_valid_cloid, "a cloid (0x and 32 hex digits)")
            return max(1, len(cancels)), True
        if kind == "modify":
            self._check_modify(action)
            return 1, False
        if kind == "batchModify":
            modifies = _field(action, "modifies", _is_list, "a list")
            for item in modifies:
                if not isinstance(item, dict):
                    raise BadRequest("a modify must be an object")
                self._check_modify(item)
            return max(1, len(modifies)), False
        if kind == "scheduleCancel":
            _field(action, "time", _is_time, "an integer", optional=True)
        elif kind == "updateLeverage":
            _field(action, "asset", is_int, "an integer")
            _field(action, "isCross", _is_bool, "a bool")
            _field(action, "leverage", is_int, "an integer")
        return 1, False

    def _check_modify(self, item: Mapping[str, Any]) -> None:
        _field(item, "oid", lambda v: is_int(v) or is_valid_cloid(v), "an oid or a cloid")
        self._check_wire(_field(item, "order", _is_dict, "an object"))

    @staticmethod
    def _check_wire(wire: Any) -> None:
        if not isinstance(wire, dict):
            raise BadRequest("an order must be an object")
        _field(wire, "a", is_int, "an integer")
        _field(wire, "b", _is_bool, "a bool")
        _field(wire, "p", _is_str, "a string")
        _field(wire, "s", _is_str, "a string")
        _field(wire, "r", _is_bool, "a bool")
        _field(wire, "c", is_valid_cloid, "a cloid (0x and 32 hex digits)", optional=True)
        order_type = _field(wire, "t", _is_dict, "an object")
        if "limit" in order_type:
            limit = order_type["limit"]
            if not isinstance(limit, dict) or limit.get("tif") not in _TIFS:
                raise BadRequest("unknown variant for `tif`: expected Alo, Ioc or Gtc")
        elif "trigger" in order_type:
            trigger = _field(order_type, "trigger", _is_dict, "an object")
            _field(trigger, "isMarket", _is_bool, "a bool")
            _field(trigger, "triggerPx", _is_str, "a string")
            if trigger.get("tpsl") not in _TPSL:
                raise BadRequest("unknown variant for `tpsl`: expected tp or sl")
        else:
            raise BadRequest("order type must be `limit` or `trigger`")

    def _parse_order(self, wire: Mapping[str, Any]) -> OrderTerms | str:
        """The order's terms, or its per-order error text."""
        index = wire["a"]
        if not 0 <= index < len(self.venue.assets):
            return f"Invalid asset {index}."
        price = parse_decimal(wire["p"])
        if price is None or price <= 0:
            return f"Order has invalid price. asset={index}"
        size = parse_decimal(wire["s"])
        if size is None or size < 0:
            return f"Order has invalid size. asset={index}"
        if size == 0:
            return f"Order has zero size. asset={index}"
        side = Side.BUY if wire["b"] else Side.SELL
        asset = self.venue.assets[index]
        order_type = wire["t"]
        if "trigger" not in order_type:
            return OrderTerms(asset, side, price, size, _TIFS[order_type["limit"]["tif"]], wire["r"])
        trigger = order_type["trigger"]
        trigger_px = parse_decimal(trigger["triggerPx"])
        if trigger_px is None:
            return f"{INVALID_TRIGGER_PX} asset={index}"
        spec = TriggerSpec(trigger_px, trigger["isMarket"], _TPSL[trigger["tpsl"]])
        return OrderTerms(asset, side, price, size, Tif.GTC, wire["r"], spec)

    def _order(self, auth: Authorized, action: Mapping[str, Any]) -> dict[str, Any]:
        grouped = action["grouping"] != "na"
        statuses = []
        for wire in action["orders"]:
            parsed = self._parse_order(wire)
            if isinstance(parsed, str):
                statuses.append({"error": parsed})
                continue
            t = parsed
            cloid = wire.get("c")
            if t.trigger is None:
                statuses.append(self.venue.place(auth.account, t.asset, t.side, t.price, t.size, t.tif, t.reduce_only,
                                                 cloid))
            elif grouped:
                # Children tied to a parent's fill or to the position need more than a trigger book: refuse them.
                statuses.append({"error": TPSL_GROUPING_UNSUPPORTED})
            else:
                statuses.append(self.venue.place_trigger(auth.account, t.asset, t.side, t.price, t.size, t.reduce_only,
                                                         cloid, t.trigger))
        return ok("order", {"statuses": statuses})

    def _cancel(self, auth: Authorized, action: Mapping[str, Any]) -> dict[str, Any]:
        statuses: list[Any] = []
        for item in action["cancels"]:
            error = self.venue.cancel(auth.account, item["a"], item["o"])
            statuses.append("success" if error is None else {"error": error})
        return ok("cancel", {"statuses": statuses})

    def _cancel_by_cloid(self, auth: Authorized, action: Mapping[str, Any]) -> dict[str, Any]:
        statuses: list[Any] = []
        for item in action["cancels"]:
            error = self.venue.cancel(auth.account, item["asset"], item["cloid"])
            statuses.append("success" if error is None else {"error": error})
        return ok("cancel", {"statuses": statuses})

    def _modify_one(self, account: Account, item: Mapping[str, Any]) -> dict[str, Any]:
        wire = item["order"]
        parsed = self._parse_order(wire)
        if isinstance(parsed, str):
            return {"error": parsed}
        if parsed.trigger is not None:
            return {"error": TRIGGER_MODIFY_UNSUPPORTED}
        t = parsed
        return self.venue.modify(account, item["oid"], t.asset, t.side, t.price, t.size, t.tif, t.reduce_only,
                                 wire.get("c"))

    def _modify(self, auth: Authorized, action: Mapping[str, Any]) -> dict[str, Any]:
        status = self._modify_one(auth.account, action)
        if "error" in status:
            return err(status["error"])
        return ok("default")

    def _batch_modify(self, auth: Authorized, action: Mapping[str, Any]) -> dict[str, Any]:
        return ok("order", {"statuses": [self._modify_one(auth.account, item) for item in action["modifies"]]})

    def _schedule_cancel(self, auth: Authorized, action: Mapping[str, Any]) -> dict[str, Any]:
        account = auth.account
        when = action.get("time")
        now = self.venue.now_ms
        if when is None:
            account.scheduled_cancel_ms = None
            return ok("default")
        if when < now + SCHEDULE_MIN_LEAD_MS:
            return err("Scheduled cancel time too early, must be at least 5 seconds after current time.")
        if sum(1 for t in account.schedule_triggers if t > now - DAY_MS) >= SCHEDULE_TRIGGERS_PER_DAY:
            return err("Too many scheduled cancel triggers today.")
        account.scheduled_cancel_ms = when
        return ok("default")

    def _update_leverage(self, auth: Authorized, action: Mapping[str, Any]) -> dict[str, Any]:
        index, leverage = action["asset"], action["leverage"]
        if not 0 <= index < len(self.venue.assets):
            return err(f"Invalid asset {index}.")
        asset = self.venue.assets[index]
        if not action["isCross"]:
            return err("Isolated margin is not supported by the local exchange.")
        if not 1 <= leverage <= asset.spec.max_leverage:
            return err(f"Invalid leverage value: {leverage} (maximum {asset.spec.max_leverage} for {asset.name}).")
        account = auth.account
        account.leverage[index] = leverage
        engine = account.engines.get(index)
        if engine is not None:
            engine.leverage = leverage
        return ok("default")

    def _approve(self, auth: Authorized, action: Mapping[str, Any]) -> dict[str, Any]:
        error = approve_agent(self.venue, auth.account, action)
        return err(error) if error is not None else ok("default")
