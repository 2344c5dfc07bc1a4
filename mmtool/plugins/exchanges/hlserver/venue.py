"""The exchange's state machine: markets advanced to the wall clock, accounts, orders, fills, funding, liquidations.

Everything here is synchronous and runs on the event loop's thread, so requests never interleave inside an
operation. Each operation drains the engines it touched at once and translates their records into the exchange's
wire objects (fills, order updates, funding), queued in :attr:`Venue.outbox` for the WebSocket hub as
``(subscription key, message)`` pairs and journalled.

Trigger orders wait in their account's trigger book (see :mod:`.triggers`) and are checked against the mark after
every market step; a fired one becomes an order of the account's engine under the same oid.

Accounts do not trade with each other: each account's orders are matched against the synthetic market's book (the
market is exogenous and does not see them), which is what the simulated exchange models. Every account's resting
orders are shown in the public book all the same.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from mmtool.core.rounding import AssetRules, to_decimal
from mmtool.core.types import ZERO, OrderStatus, Side, Tif, TriggerSpec
from mmtool.plugins.exchanges.hlserver.accounts import PRIVATE_KEY_PREFIX, Account, OrderInfo
from mmtool.plugins.exchanges.hlserver.config import ServerConfig
from mmtool.plugins.exchanges.hlserver.journal import Journal
from mmtool.plugins.exchanges.hlserver.markets import AssetMarket
from mmtool.plugins.exchanges.hlserver.numbers import px, usd
from mmtool.plugins.exchanges.hlserver.triggers import check_trigger_order, execution_terms, refused_status
from mmtool.plugins.exchanges.sim.ledger import FillRecord
from mmtool.plugins.exchanges.sim.market import BookStep, FundingStep, SweepStep
from mmtool.plugins.exchanges.sim.matching import (
    IOC_REMAINDER_CANCELED,
    MISSING_ORDER_ERROR,
    REDUCE_ONLY_CANCELED,
    SELF_TRADE_CANCELED,
    FundingRecord,
    MatchingEngine,
    OrderRecord,
    OrderRequest,
)

NS_PER_MS = 1_000_000
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
#: Hyperliquid's default leverage for a new position (cross), capped at the asset's maximum.
DEFAULT_LEVERAGE = 20
TRIGGER_MODIFY_UNSUPPORTED = "Trigger orders cannot be modified on the local exchange; cancel and place again."
#: Liquidation orders are Ioc limits this far through the mark, so they take whatever the book holds.
LIQUIDATION_SLIPPAGE = Decimal("0.5")
_CANCEL_STATUS = {
    "": "canceled",
    SELF_TRADE_CANCELED: "selfTradeCanceled",
    REDUCE_ONLY_CANCELED: "reduceOnlyCanceled",
    IOC_REMAINDER_CANCELED: "canceled",
}
Key = tuple[str, ...]


def direction(start: Decimal, side: Side, size: Decimal) -> str:
    """The ``dir`` of a fill: Open Long, Close Short, Short > Long, and the mirror cases."""
    end = start + size * side.sign
    if side is Side.BUY:
        if start >= 0:
            return "Open Long"
        return "Close Short" if end <= 0 else "Short > Long"
    if start <= 0:
        return "Open Short"
    return "Close Long" if end >= 0 else "Long > Short"


class Venue:
    """All markets and accounts of the local exchange; ``advance(now_ns)`` moves every market to the present."""

    def __init__(self, config: ServerConfig, start_ns: int, journal: Journal) -> None:
        self.config = config
        self.journal = journal
        self.start_ns = start_ns
        self.now_ns = start_ns
        self.assets = [AssetMarket(i, spec, config, start_ns) for i, spec in enumerate(config.assets)]
        self.by_name = {a.name: a for a in self.assets}
        self.accounts: dict[str, Account] = {}
        self.agents: dict[str, tuple[str, str]] = {}
        self.outbox: list[tuple[Key, dict[str, Any]]] = []
        self.liquidations: list[dict[str, Any]] = []
        self._balance = to_decimal(config.balance)
        self._maker_fee = to_decimal(config.maker_fee)
        self._taker_fee = to_decimal(config.taker_fee)
        self._next_oid = 1
        # Trade ids are unique for the exchange's lifetime on Hyperliquid; here they start from this instance's
        # start time, so a restarted local exchange never reuses one (a journal keys fills by trade id).
        self._next_tid = start_ns // NS_PER_MS * 1000 + 1
        self._next_private = 1
        self._liquidating: dict[str, Any] | None = None

    # ------------------------------------------------------------------------------------------------ time

    @property
    def now_ms(self) -> int:
        """The exchange's present, milliseconds since the epoch."""
        return self.now_ns // NS_PER_MS

    def advance(self, now_ns: int) -> None:
        """Run every market up to ``now_ns``, then fire due dead man's switches and liquidations."""
        self.now_ns = max(self.now_ns, now_ns)
        for asset in self.assets:
            market = asset.market
            while market.next_time() <= self.now_ns:
                due = market.next_time()
                step = market.step()
                if step is None:
                    if market.in_cascade(due):
                        self._cascade_started(asset, due)
                elif isinstance(step, BookStep):
                    for address, engine in list(asset.engines.items()):
                        engine.on_book(step.ts_ns)
                        self._drain(self.accounts[address], asset, engine)
                    asset.book_dirty = True
                    asset.mid_dirty = asset.mid_dirty or step.mid_changed
                elif isinstance(step, SweepStep):
                    for address, engine in list(asset.engines.items()):
                        engine.on_sweep(step.side, step.levels, step.ts_ns, step.hidden)
                        self._drain(self.accounts[address], asset, engine)
                    for price_units, lots in step.levels:
                        self._print(asset, step.ts_ns, step.side, asset.price(price_units), asset.size(lots), None)
                    asset.book_dirty = True
                elif isinstance(step, FundingStep):
                    self._funding(asset, step)
                    continue
                if step is not None:
                    self._fire_triggers(asset, step.ts_ns)
        now_ms = self.now_ms
        for account in list(self.accounts.values()):
            if account.scheduled_cancel_ms is not None and now_ms >= account.scheduled_cancel_ms:
                account.scheduled_cancel_ms = None
                account.schedule_triggers.append(now_ms)
                cancelled = self.cancel_all(account, "scheduledCancel")
                self.journal.write(now_ms, "scheduled_cancel", user=account.address, cancelled=cancelled)
            if account.has_position():
                self._check_liquidation(account)

    # -------------------------------------------------------------------------------------------- accounts

    def account(self, address: str) -> Account:
        """The account of ``address`` (lower-case hex), opened with the configured balance when first seen."""
        key = address.lower()
        found = self.accounts.get(key)
        if found is None:
            found = self.accounts[key] = Account(key, self._balance, self.now_ms)
            self.journal.write(self.now_ms, "account_opened", user=key, balance=str(self._balance))
        return found

    def engine(self, account: Account, asset: AssetMarket) -> MatchingEngine:
        """The account's engine on ``asset``, created on first use."""
        engine = asset.engines.get(account.address)
        if engine is None:
            leverage = account.leverage.get(asset.index, min(DEFAULT_LEVERAGE, asset.spec.max_leverage))
            engine = MatchingEngine(
                asset.rules, asset.market.book, asset_id=asset.index, deposit=ZERO, leverage=leverage,
                maker_fee=self._maker_fee, taker_fee=self._taker_fee, hash_salt=f"{account.address}:{asset.name}",
            )
            asset.engines[account.address] = engine
            account.engines[asset.index] = engine
            account.leverage[asset.index] = leverage
        return engine

    def margin_figures(self, account: Account) -> dict[str, Decimal]:
        """Account value, notional, initial margin used and maintenance margin, in USDC."""
        value = account.collateral
        notional = used = maintenance = ZERO
        for index, engine in account.engines.items():
            asset = self.assets[index]
            mark = asset.mark()
            value += engine.account.account_value(mark) - engine.account.deposit
            if mark is not None and engine.account.position != 0:
                position_value = abs(engine.account.position) * mark
                notional += position_value
                used += position_value / engine.leverage
                maintenance += position_value / (2 * asset.spec.max_leverage)
        return {"account_value": value, "notional": notional, "margin_used": used, "maintenance": maintenance}

    def _prepare_margin(self, account: Account, index: int) -> None:
        """Set the engine's deposit so its own margin check is the account's cross-margin check."""
        others = ZERO
        for other_index, engine in account.engines.items():
            if other_index == index:
                continue
            mark = self.assets[other_index].mark()
            pnl = engine.account.account_value(mark) - engine.account.deposit
            orders = sum((o.price * o.size for o in engine.open_orders()), ZERO)
            exposure = abs(engine.account.position) * mark if mark is not None else ZERO
            others += pnl - (exposure + orders) / engine.leverage
        account.engines[index].account.deposit = account.collateral + others

    # -------------------------------------------------------------------------------------------- orders

    def place(
        self, account: Account, asset: AssetMarket, side: Side, price: Decimal, size: Decimal, tif: Tif,
        reduce_only: bool, cloid: str | None,
    ) -> dict[str, Any]:
        """Place one order; the order status object of the exchange's answer."""
        if cloid is not None and cloid in account.by_cloid and account.orders[account.by_cloid[cloid]].is_open:
            return {"error": f"Duplicate client order id. asset={asset.index}"}
        engine = self.engine(account, asset)
        self._prepare_margin(account, asset.index)
        key = cloid if cloid is not None else self._private_key()
        ts = self.now_ns
        result = engine.place(OrderRequest(key, side, price, size, tif, reduce_only), ts)
        if not result.ok:
            engine.drain()
            return {"error": result.error}
        assert result.oid is not None
        oid = self._register(account, asset, result.oid, key, side, price, size, tif, reduce_only)
        self._drain(account, asset, engine)
        return self._status(result.status, oid, cloid, result.filled, result.avg_price)

    def place_trigger(
        self, account: Account, asset: AssetMarket, side: Side, price: Decimal, size: Decimal, reduce_only: bool,
        cloid: str | None, trigger: TriggerSpec,
    ) -> dict[str, Any]:
        """Accept a trigger order into the account's trigger book; the order status object of the answer.

        The answer is ``resting`` with the new oid, as for a standalone trigger order on the exchange; one whose
        condition already holds fires at once (its fate follows on the WebSocket and in ``orderStatus``).
        """
        if cloid is not None and cloid in account.by_cloid and account.orders[account.by_cloid[cloid]].is_open:
            return {"error": f"Duplicate client order id. asset={asset.index}"}
        engine = asset.engines.get(account.address)
        position = engine.account.position if engine is not None else ZERO
        error = check_trigger_order(asset.rules, asset.index, side, price, size, trigger, reduce_only, position)
        if error:
            return {"error": error}
        key = cloid if cloid is not None else self._private_key()
        oid = self._next_oid
        self._next_oid += 1
        now = self.now_ms
        info = OrderInfo(
            oid=oid, coin=asset.name, asset=asset.index, key=key, side=side, limit_px=price, orig_sz=size, sz=size,
            tif=Tif.IOC if trigger.is_market else Tif.GTC, reduce_only=reduce_only, timestamp=now, status="open",
            status_ts=now, trigger=trigger,
        )
        account.orders[oid] = info
        if cloid is not None:
            account.by_cloid[cloid] = oid
        account.triggers.add(info)
        self._publish_update(account, info)
        self._fire_triggers(asset, self.now_ns, account)
        return self._status("resting", oid, cloid, ZERO, None)

    def modify(
        self, account: Account, ref: int | str, asset: AssetMarket, side: Side, price: Decimal, size: Decimal,
        tif: Tif, reduce_only: bool, cloid: str | None,
    ) -> dict[str, Any]:
        """Modify a resting order (by oid or cloid) to new terms; the order status object of the answer."""
        info = account.order_by_ref(ref)
        if info is None or not info.is_open or info.asset != asset.index:
            return {"error": "Cannot modify canceled or filled order"}
        if info.oid in account.triggers:
            return {"error": TRIGGER_MODIFY_UNSUPPORTED}
        engine = self.engine(account, asset)
        self._prepare_margin(account, asset.index)
        key = cloid if cloid is not None else info.key
        result = engine.modify(info.key, OrderRequest(key, side, price, size, tif, reduce_only), self.now_ns)
        if not result.ok:
            engine.drain()
            return {"error": result.error}
        # As on the exchange, a modified order is a new order: the old oid is cancelled and the order rests (or
        # fills) under a fresh oid, with the new cloid or the old one.
        now = self.now_ms
        info.status, info.status_ts = "canceled", now
        cancelled = (("orderUpdates", account.address), {"channel": "orderUpdates",
                                                          "data": [self.order_update(info)]})
        mark = len(self.outbox)
        assert result.oid is not None
        oid = self._register(account, asset, result.oid, key, side, price, size, tif, reduce_only)
        self._drain(account, asset, engine)
        # The exchange announces the replacement first (``open`` or ``filled`` under the new oid), then the old oid's
        # ``canceled``, which carries the same cloid as the now live replacement.
        self.outbox.insert(self._after_order_updates(account, mark), cancelled)
        return self._status(result.status, oid, account.orders[oid].cloid, result.filled, result.avg_price)

    def _after_order_updates(self, account: Account, start: int) -> int:
        """The outbox position just after the account's first ``orderUpdates`` message queued from ``start`` on."""
        for index in range(start, len(self.outbox)):
            if self.outbox[index][0] == ("orderUpdates", account.address):
                return index + 1
        return len(self.outbox)

    def cancel(self, account: Account, asset_index: int, ref: int | str, status: str | None = None) -> str | None:
        """Cancel an order by oid or cloid on ``asset_index``; None, or the exchange's error text."""
        info = account.order_by_ref(ref)
        missing = f"{MISSING_ORDER_ERROR} asset={asset_index}"
        if info is None or not info.is_open or info.asset != asset_index:
            return missing
        if account.triggers.discard(info.oid):
            info.status, info.status_ts = status or "canceled", self.now_ms
            self._publish_update(account, info)
            return None
        asset = self.assets[asset_index]
        engine = self.engine(account, asset)
        error = engine.cancel(info.key, self.now_ns)
        self._drain(account, asset, engine, status)
        return None if error is None else missing

    def cancel_all(self, account: Account, status: str) -> int:
        """Cancel every open order of the account (dead man's switch, liquidation); how many were cancelled."""
        cancelled = [
            {"coin": info.coin, "oid": info.oid}
            for info in account.open_orders()
            if self.cancel(account, info.asset, info.oid, status) is None
        ]
        if cancelled:
            message = {"channel": "user", "data": {"nonUserCancel": cancelled}}
            self.outbox.append((("userEvents", account.address), message))
        return len(cancelled)

    def _fire_triggers(self, asset: AssetMarket, ts_ns: int, only: Account | None = None) -> None:
        """Fire the trigger orders on ``asset`` (of every account, or of ``only``) whose condition the mark meets."""
        mark = asset.mark()
        if mark is None:
            return
        for account in [only] if only is not None else list(self.accounts.values()):
            if len(account.triggers) == 0:
                continue
            for info in account.triggers.due(asset.index, mark):
                self._fire(account, asset, info, ts_ns)

    def _fire(self, account: Account, asset: AssetMarket, info: OrderInfo, ts_ns: int) -> None:
        """Turn a trigger order whose condition holds into a real order under the same oid."""
        now = ts_ns // NS_PER_MS
        info.triggered = True
        info.status, info.status_ts = "triggered", now
        self._publish_update(account, info)
        self.journal.write(now, "trigger_fired", user=account.address, oid=info.oid, coin=asset.name,
                           markPx=px(asset.mark() or ZERO))
        price, tif = execution_terms(info, asset.rules)
        engine = self.engine(account, asset)
        self._prepare_margin(account, asset.index)
        info.tif = tif
        result = engine.place(OrderRequest(info.key, info.side, price, info.sz, tif, info.reduce_only), ts_ns)
        if not result.ok:
            engine.drain()
            info.status, info.status_ts = refused_status(result.error), now
            self._publish_update(account, info)
            return
        assert result.oid is not None
        account.local_oids[(asset.index, result.oid)] = info.oid
        self._drain(account, asset, engine)

    def _publish_update(self, account: Account, info: OrderInfo) -> None:
        asset = self.assets[info.asset]
        asset.book_dirty = True
        self.outbox.append((("orderUpdates", account.address), {"channel": "orderUpdates",
                                                                "data": [self.order_update(info)]}))

    def _private_key(self) -> str:
        key = f"{PRIVATE_KEY_PREFIX}{self._next_private}"
        self._next_private += 1
        return key

    def _register(
        self, account: Account, asset: AssetMarket, local_oid: int, key: str, side: Side, price: Decimal,
        size: Decimal, tif: Tif, reduce_only: bool,
    ) -> int:
        oid = self._next_oid
        self._next_oid += 1
        account.local_oids[(asset.index, local_oid)] = oid
        now = self.now_ms
        account.orders[oid] = OrderInfo(
            oid=oid, coin=asset.name, asset=asset.index, key=key, side=side, limit_px=price, orig_sz=size,
            sz=size, tif=tif, reduce_only=reduce_only, timestamp=now, status="new", status_ts=now,
        )
        if not key.startswith(PRIVATE_KEY_PREFIX):
            account.by_cloid[key] = oid
        return oid

    @staticmethod
    def _status(kind: str, oid: int, cloid: str | None, filled: Decimal, avg: Decimal | None) -> dict[str, Any]:
        if kind == "resting":
            body: dict[str, Any] = {"oid": oid}
        else:
            body = {"totalSz": px(filled), "avgPx": px(avg if avg is not None else ZERO), "oid": oid}
        if cloid is not None:
            body["cloid"] = cloid
        return {kind: body}

    # ----------------------------------------------------------------------------------- engine records

    def _drain(self, account: Account, asset: AssetMarket, engine: MatchingEngine, cancel_status: str | None = None
               ) -> None:
        fills: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        for record in engine.drain():
            if isinstance(record, FillRecord):
                fills.append(self._fill(account, asset, record))
            elif isinstance(record, OrderRecord):
                update = self._order_record(account, asset, record, cancel_status)
                if update is not None:
                    updates.append(update)
            elif isinstance(record, FundingRecord):
                self._funding_payment(account, asset, engine, record)
        if updates:
            asset.book_dirty = True
            self.outbox.append((("orderUpdates", account.address), {"channel": "orderUpdates", "data": updates}))
        if fills:
            self.outbox.append(
                (("userFills", account.address), {"channel": "userFills", "data": {"user": account.address,
                                                                                   "fills": fills}})
            )
            self.outbox.append((("userEvents", account.address), {"channel": "user", "data": {"fills": fills}}))

    def _order_record(
        self, account: Account, asset: AssetMarket, record: OrderRecord, cancel_status: str | None
    ) -> dict[str, Any] | None:
        oid = account.local_oids.get((asset.index, record.oid))
        info = account.orders.get(oid) if oid is not None else None
        if info is None:
            return None
        now = record.ts_ns // NS_PER_MS
        info.sz = record.size
        info.limit_px = record.price
        if record.status in (OrderStatus.RESTING, OrderStatus.PARTIALLY_FILLED):
            info.status = "open"
            if record.status is OrderStatus.PARTIALLY_FILLED:
                # A partial fill is announced by its fill; the order's status has not changed.
                return None
        elif record.status is OrderStatus.FILLED:
            info.status = "filled"
        else:
            info.status = cancel_status or _CANCEL_STATUS.get(record.reason, "canceled")
        info.status_ts = now
        return self.order_update(info)

    @staticmethod
    def order_update(info: OrderInfo) -> dict[str, Any]:
        """An ``orderUpdates`` item (also the shape of ``orderStatus``'s inner order, less frontend fields)."""
        order: dict[str, Any] = {
            "coin": info.coin, "side": info.side.value, "limitPx": px(info.limit_px), "sz": px(info.sz),
            "oid": info.oid, "timestamp": info.timestamp, "origSz": px(info.orig_sz),
        }
        if info.cloid is not None:
            order["cloid"] = info.cloid
        return {"order": order, "status": info.status, "statusTimestamp": info.status_ts}

    def _fill(self, account: Account, asset: AssetMarket, record: FillRecord) -> dict[str, Any]:
        tid = self._tid()
        oid = account.local_oids.get((asset.index, record.oid), 0)
        ms = record.ts_ns // NS_PER_MS
        fill: dict[str, Any] = {
            "coin": asset.name, "px": px(record.price), "sz": px(record.size), "side": record.side.value,
            "time": ms, "startPosition": px(record.start_position),
            "dir": direction(record.start_position, record.side, record.size), "closedPnl": usd(record.closed_pnl),
            "hash": self._hash(tid), "oid": oid, "crossed": record.crossed, "fee": usd(record.fee), "tid": tid,
            "feeToken": "USDC", "twapId": None,
        }
        if self._liquidating is not None:
            fill["liquidation"] = dict(self._liquidating)
        account.fills.append(fill)
        account.cum_volume += record.price * record.size
        aggressor = record.side if record.crossed else record.side.opposite
        self._print(asset, record.ts_ns, aggressor, record.price, record.size, (account.address, record.side), tid)
        self.journal.write(ms, "fill", user=account.address, **fill)
        return fill

    def _print(
        self, asset: AssetMarket, ts_ns: int, aggressor: Side, price: Decimal, size: Decimal,
        ours: tuple[str, Side] | None, tid: int | None = None,
    ) -> None:
        tid = tid if tid is not None else self._tid()
        buyer = seller = ZERO_ADDRESS
        if ours is not None:
            if ours[1] is Side.BUY:
                buyer = ours[0]
            else:
                seller = ours[0]
        trade = {
            "coin": asset.name, "side": aggressor.value, "px": px(price), "sz": px(size),
            "time": ts_ns // NS_PER_MS, "hash": self._hash(tid), "tid": tid, "users": [buyer, seller],
        }
        asset.trades.append(trade)
        asset.pending_trades.append(trade)
        asset.day_ntl_volume += price * size
        asset.day_base_volume += size

    def _tid(self) -> int:
        tid = self._next_tid
        self._next_tid += 1
        return tid

    def _hash(self, tid: int) -> str:
        return "0x" + hashlib.sha256(f"hl-local:{self.config.seed}:{tid}".encode()).hexdigest()

    # ------------------------------------------------------------------------------- funding, cascades

    def _funding(self, asset: AssetMarket, step: FundingStep) -> None:
        asset.funding_rate = step.rate
        ms = step.ts_ns // NS_PER_MS
        asset.funding_history.append({"coin": asset.name, "fundingRate": str(step.rate), "premium": "0", "time": ms})
        for address, engine in list(asset.engines.items()):
            if engine.account.position != 0:
                engine.on_funding(step.rate, step.ts_ns)
                self._drain(self.accounts[address], asset, engine)

    def _funding_payment(
        self, account: Account, asset: AssetMarket, engine: MatchingEngine, record: FundingRecord
    ) -> None:
        ms = record.ts_ns // NS_PER_MS
        entry = {
            "time": ms, "coin": asset.name, "usdc": usd(record.payment), "szi": px(engine.account.position),
            "fundingRate": str(record.rate),
        }
        account.funding.append(entry)
        self.outbox.append((("userEvents", account.address), {"channel": "user", "data": {"funding": entry}}))
        self.journal.write(ms, "funding", user=account.address, **entry)

    def _cascade_started(self, asset: AssetMarket, ts_ns: int) -> None:
        forced = ts_ns in asset.forced_cascades_ns
        ms = ts_ns // NS_PER_MS
        if forced:
            self.journal.write(ms, "fault", fault="cascade", coin=asset.name)
        else:
            self.journal.write(ms, "cascade", coin=asset.name)

    # --------------------------------------------------------------------------------------- liquidation

    def _check_liquidation(self, account: Account) -> None:
        figures = self.margin_figures(account)
        if figures["maintenance"] <= 0 or figures["account_value"] >= figures["maintenance"]:
            return
        ms = self.now_ms
        cancelled = self.cancel_all(account, "liquidatedCanceled")
        closed: list[dict[str, Any]] = []
        for index, engine in list(account.engines.items()):
            position = engine.account.position
            asset = self.assets[index]
            mark = asset.mark()
            if position == 0 or mark is None:
                continue
            side = Side.SELL if position > 0 else Side.BUY
            limit = mark * (1 - LIQUIDATION_SLIPPAGE) if side is Side.SELL else mark * (1 + LIQUIDATION_SLIPPAGE)
            self._liquidating = {"liquidatedUser": account.address, "markPx": px(mark), "method": "market"}
            try:
                status = self.place(
                    account, asset, side, _round(asset.rules, limit), abs(position), Tif.IOC, True, None
                )
            finally:
                self._liquidating = None
            closed.append({"coin": asset.name, "szi": px(position), "markPx": px(mark), "status": status})
        record = {
            "user": account.address, "accountValue": usd(figures["account_value"]),
            "maintenanceMargin": usd(figures["maintenance"]), "cancelled": cancelled, "closed": closed,
        }
        self.liquidations.append({"time": ms, **record})
        self.journal.write(ms, "liquidation", **record)
        event = {
            "lid": len(self.liquidations), "liquidator": ZERO_ADDRESS, "liquidated_user": account.address,
            "liquidated_ntl_pos": usd(figures["notional"]),
            "liquidated_account_value": usd(figures["account_value"]),
        }
        self.outbox.append((("userEvents", account.address), {"channel": "user", "data": {"liquidation": event}}))

    # -------------------------------------------------------------------------------------------- views

    def take_outbox(self) -> list[tuple[Key, dict[str, Any]]]:
        """Hand over (and clear) the user-channel messages queued since the last call."""
        out, self.outbox = self.outbox, []
        return out

    def book_levels(self, asset: AssetMarket, depth: int = 20) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The public L2 book: synthetic liquidity plus every account's resting orders, ``depth`` levels a side."""
        sides: list[list[dict[str, Any]]] = []
        book = asset.market.book
        for side, levels in ((Side.BUY, book.bids), (Side.SELL, book.asks)):
            merged: dict[Decimal, list[Any]] = {}
            for price_units, lots, count in levels:
                merged[asset.price(price_units)] = [asset.size(lots), count]
            for engine in asset.engines.values():
                for order in engine.open_orders():
                    if order.side is side:
                        level = merged.setdefault(order.price, [ZERO, 0])
                        level[0] += order.size
                        level[1] += 1
            prices = sorted(merged, reverse=side is Side.BUY)[:depth]
            sides.append([{"px": px(p), "sz": px(merged[p][0]), "n": merged[p][1]} for p in prices])
        return sides[0], sides[1]

    def iter_accounts(self) -> Iterable[Account]:
        """Every account, in the order they were opened."""
        return self.accounts.values()


def _round(rules: AssetRules, price: Decimal) -> Decimal:
    return rules.round_price(max(price, Decimal("0.000001")))
