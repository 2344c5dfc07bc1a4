"""Accounts of the local exchange: collateral, one matching engine per traded asset, order history, fills.

An account is keyed by its lower-case address. Positions, entry prices, realized PnL, fees and funding live in the
per-asset :class:`~mmtool.plugins.exchanges.sim.matching.MatchingEngine` ledgers; the account adds the USDC
collateral they share (cross margin) and the exchange-wide identifiers (order ids, trade ids), and keeps its
trigger orders until they fire (:class:`~mmtool.plugins.exchanges.hlserver.triggers.TriggerBook`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import attrs

from mmtool.core.types import ZERO, Side, Tif, TriggerSpec
from mmtool.plugins.exchanges.hlserver.triggers import TriggerBook
from mmtool.plugins.exchanges.sim.matching import MatchingEngine

#: Engine keys of orders sent without a client order id start with this (never a valid cloid).
PRIVATE_KEY_PREFIX = "noc:"


@attrs.define
class OrderInfo:
    """What the exchange remembers of one order (open or not), as ``orderStatus`` and ``openOrders`` show it.

    A trigger order carries its ``trigger``; ``triggered`` turns True when it fires and becomes a real order.
    """

    oid: int
    coin: str
    asset: int
    key: str
    side: Side
    limit_px: Decimal
    orig_sz: Decimal
    sz: Decimal
    tif: Tif
    reduce_only: bool
    timestamp: int
    status: str = "open"
    status_ts: int = 0
    trigger: TriggerSpec | None = None
    triggered: bool = False

    @property
    def cloid(self) -> str | None:
        """The client order id, or None for an order sent without one."""
        return None if self.key.startswith(PRIVATE_KEY_PREFIX) else self.key

    @property
    def is_open(self) -> bool:
        """True while the order rests on the book."""
        return self.status == "open"


class Account:
    """One address's state on the exchange."""

    def __init__(self, address: str, collateral: Decimal, created_ms: int) -> None:
        self.address = address
        self.collateral = collateral
        self.created_ms = created_ms
        self.engines: dict[int, MatchingEngine] = {}
        self.leverage: dict[int, int] = {}
        self.orders: dict[int, OrderInfo] = {}
        self.by_cloid: dict[str, int] = {}
        self.local_oids: dict[tuple[int, int], int] = {}
        self.fills: list[dict[str, Any]] = []
        self.funding: list[dict[str, Any]] = []
        self.cum_volume = ZERO
        self.requests_used = 0
        self.last_overdraft_ms = 0
        self.scheduled_cancel_ms: int | None = None
        self.schedule_triggers: list[int] = []
        #: Trigger orders waiting for their price (listed among the open orders, not on the book).
        self.triggers = TriggerBook()

    def open_orders(self) -> list[OrderInfo]:
        """Resting orders, oldest first."""
        return [o for o in self.orders.values() if o.is_open]

    def has_position(self) -> bool:
        """True when any asset's position is not flat."""
        return any(e.account.position != 0 for e in self.engines.values())

    def order_by_ref(self, ref: int | str) -> OrderInfo | None:
        """An order by exchange id or client order id."""
        if isinstance(ref, str):
            oid = self.by_cloid.get(ref)
            return self.orders.get(oid) if oid is not None else None
        return self.orders.get(ref)
