"""The safety audit: our record of live orders against the exchange's list, as a pure function.

Three kinds of discrepancy come out of :func:`audit_orders`:

- **orphans**: orders the exchange lists on our asset that the engine does not know as live (never ours, or
  finished locally longer ago than the grace period); the adapter cancels them. With ``scope="prefix"`` only
  orders whose cloid carries one of our cloid prefixes count (an account shared with other software);
  ``scope="asset"`` takes every order on the asset but a foreign trigger order (see below); ``scope="none"``
  never cancels.
- **missing**: orders we hold live that the exchange does not list, and whose last action is older than the
  grace period and has no answer still awaited; the adapter asks ``orderStatus`` what became of them.
- **mismatched**: orders both sides list with a different price or resting size (no modify in flight).

Trigger orders (stops, take-profits) are judged like any other: ours are known to the registry from the moment
they are sent until they end, so the audit never takes them for orphans; ``frontendOpenOrders`` lists them with
their limit price and size, which is what the registry holds. A trigger order that is neither known nor carries
one of our cloid prefixes is the account owner's own protection (the engine never places one), so under
``foreign_triggers="keep"`` (the default) no scope claims it: it is reported in ``kept_triggers``, never
cancelled, and ``cancel_all`` leaves it too. ``foreign_triggers="cancel"`` treats it like any unknown order.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from decimal import Decimal
from typing import Any, Literal

import attrs

from mmtool.core.types import Side, TriggerSpec
from mmtool.plugins.exchanges.hyperliquid.messages import dec, side_of
from mmtool.plugins.exchanges.hyperliquid.state import CLOID_PREFIX_LEN, LocalOrder, OrderRegistry
from mmtool.plugins.exchanges.hyperliquid.wire import trigger_from_listing

Scope = Literal["asset", "prefix", "none"]
SCOPES: tuple[str, ...] = ("asset", "prefix", "none")
ForeignTriggers = Literal["keep", "cancel"]
FOREIGN_TRIGGERS: tuple[str, ...] = ("keep", "cancel")


@attrs.frozen
class ExchangeOrder:
    """One open order as the exchange lists it (``openOrders`` / ``frontendOpenOrders``).

    ``trigger`` is set for a trigger order listed by ``frontendOpenOrders`` (its ``orderType`` and ``triggerPx``;
    ``openOrders`` does not say).
    """

    coin: str
    oid: int
    side: Side
    price: Decimal
    size: Decimal
    cloid: str | None = None
    trigger: TriggerSpec | None = None

    @classmethod
    def from_wire(cls, item: Mapping[str, Any]) -> ExchangeOrder:
        """Parse ``{"coin", "limitPx", "oid", "side", "sz", "cloid"?, "orderType"?, "triggerPx"?, ...}``."""
        return cls(
            coin=str(item["coin"]),
            oid=int(item["oid"]),
            side=side_of(item["side"]),
            price=dec(item["limitPx"], "limitPx"),
            size=dec(item["sz"], "sz"),
            cloid=item.get("cloid") or None,
            trigger=trigger_from_listing(item.get("orderType"), item.get("triggerPx")),
        )


@attrs.frozen
class AuditFindings:
    """What the audit found; empty tuples when the two views agree.

    ``kept_triggers`` are foreign trigger orders left in place: not a discrepancy, so not in :attr:`count`.
    """

    orphans: tuple[ExchangeOrder, ...] = ()
    missing: tuple[LocalOrder, ...] = ()
    mismatched: tuple[tuple[LocalOrder, ExchangeOrder], ...] = ()
    kept_triggers: tuple[ExchangeOrder, ...] = ()

    @property
    def count(self) -> int:
        """Number of discrepancies."""
        return len(self.orphans) + len(self.missing) + len(self.mismatched)


def claims(
    order: ExchangeOrder, scope: Scope, prefixes: Collection[str], foreign_triggers: ForeignTriggers = "keep"
) -> bool:
    """Whether an order on our asset that the registry does not know is taken as ours (to cancel).

    One of our cloid prefixes always claims it; ``scope="asset"`` claims the rest, but for a trigger order under
    ``foreign_triggers="keep"``. ``scope="none"`` still claims prefixed orders here: the audit does not cancel
    orphans then, but ``cancel_all`` does cancel what carries our prefix.
    """
    if order.cloid is not None and order.cloid[:CLOID_PREFIX_LEN] in prefixes:
        return True
    return scope == "asset" and (order.trigger is None or foreign_triggers == "cancel")


def audit_orders(
    registry: OrderRegistry,
    listed: Iterable[ExchangeOrder],
    *,
    asset: str,
    now_ns: int,
    grace_ns: int,
    in_flight: Collection[str] = (),
    scope: Scope = "asset",
    foreign_triggers: ForeignTriggers = "keep",
) -> AuditFindings:
    """Compare our live orders with the exchange's open orders on ``asset`` (see the module docstring).

    ``in_flight`` holds the cloids of actions whose answer is still awaited: never judged either way.
    """
    listed_here = [o for o in listed if o.coin == asset]
    by_cloid = {o.cloid: o for o in listed_here if o.cloid}
    by_oid = {o.oid: o for o in listed_here}
    orphans: list[ExchangeOrder] = []
    kept: list[ExchangeOrder] = []
    for order in listed_here:
        cloid = order.cloid
        if cloid is not None and cloid in in_flight:
            continue
        local = registry.get(cloid) if cloid else None
        if local is None and cloid is None:
            key = registry.cloid_of_oid(order.oid)
            local = registry.get(key) if key else None
        if local is not None:
            continue
        finished = registry.finished_at(cloid) if cloid else None
        if finished is not None and now_ns - finished < grace_ns:
            continue
        if not claims(order, scope, registry.prefixes, foreign_triggers):
            if order.trigger is not None:
                kept.append(order)
        elif scope != "none":
            orphans.append(order)
    missing: list[LocalOrder] = []
    mismatched: list[tuple[LocalOrder, ExchangeOrder]] = []
    for local in registry.live():
        if local.asset != asset or local.cloid in in_flight:
            continue
        if local.modify is not None and local.modify.new_cloid in in_flight:
            continue
        seen = by_cloid.get(local.cloid) or (by_oid.get(local.oid) if local.oid is not None else None)
        if seen is None:
            if now_ns - local.last_action_ns >= grace_ns:
                missing.append(local)
            continue
        if local.modify is None and now_ns - local.last_action_ns >= grace_ns and (
            seen.price != local.price or seen.size != local.remaining
        ):
            mismatched.append((local, seen))
    return AuditFindings(tuple(orphans), tuple(missing), tuple(mismatched), tuple(kept))
