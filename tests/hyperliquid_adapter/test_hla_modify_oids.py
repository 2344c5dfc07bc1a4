"""A modified order lives on under a new oid: stale news of the oids it had before must not move it.

On Hyperliquid a successful modify cancels the order's oid and rests (or fills) the order under a new one; fills
name the order by oid alone. The messages of an oid the order no longer has (the place's or an earlier modify's
acknowledgement, its cancellation, its fills) can come after the answers of a later modify, from the post
response or the socket. Each test feeds the adapter such an ordering, message by message, and plays its events
into an :class:`OrderManager` as the engine would: both must end with the order the exchange has.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from hla_helpers import cloid, offline_adapter

from mmtool.core.tracking import OIDS_KEPT, OrderManager
from mmtool.core.types import Fill, Modify, OrderStatus, OrderUpdate, Place, Side, Tif
from mmtool.plugins.exchanges.hyperliquid.adapter import HyperliquidAdapter
from mmtool.plugins.exchanges.hyperliquid.wire import OrderResult, OrderResultKind

T = 1_700_000_000_000
C = cloid(1)
A, B, D = 31, 32, 33


class Session:
    """An offline adapter whose events go, as the engine's would, into an order manager."""

    def __init__(self, adapter: HyperliquidAdapter) -> None:
        self.a = adapter
        self.om = OrderManager()
        self.tid = 0

    def pump(self) -> None:
        while not self.a._queue.empty():
            event = self.a._queue.get_nowait()
            if isinstance(event, OrderUpdate):
                self.om.on_update(event)
            elif isinstance(event, Fill):
                self.om.on_fill(event)

    def place(self, price: str, size: str, oid: int) -> None:
        """Place C and have it acknowledged (response) with ``oid``."""
        place = Place(C, "ETH", Side.BUY, Decimal(price), Decimal(size), Tif.ALO)
        self.om.on_place(place, 0)
        self.a._outbound.batch_action("order", [place])
        self.a._outbound.place_result(place, OrderResult(OrderResultKind.RESTING, oid=oid))
        self.pump()

    def modify(self, price: str, size: str, new_cloid: str | None = None, of: str = C) -> Modify:
        """Send a modify (recorded by both sides, as the engine and the adapter's outbound do)."""
        modify = Modify(of, "ETH", Side.BUY, Decimal(price), Decimal(size), new_cloid=new_cloid)
        self.om.on_modify(modify, 0)
        self.a._outbound.batch_action("modify", [modify])
        return modify

    def answer(self, modify: Modify, oid: int) -> None:
        """The post response of a modify: resting under ``oid``."""
        self.a._outbound._modify_result(modify, OrderResult(OrderResultKind.RESTING, oid=oid))
        self.pump()

    def ws(self, status: str, oid: int, price: str, size: str, key: str = C) -> None:
        """An ``orderUpdates`` message about one oid (the exchange names the cloid)."""
        order = {"coin": "ETH", "side": "B", "limitPx": price, "sz": size, "oid": oid, "timestamp": T,
                 "origSz": size, "cloid": key}
        self.a._on_message("orderUpdates", [{"order": order, "status": status, "statusTimestamp": T}], 1)
        self.pump()

    def fill(self, oid: int, size: str, price: str = "3500") -> None:
        """A maker fill of ``oid``, without a cloid (as the exchange sends it)."""
        self.tid += 1
        item = {"coin": "ETH", "px": price, "sz": size, "side": "B", "time": T, "startPosition": "0",
                "dir": "Open Long", "closedPnl": "0", "hash": "0x00", "oid": oid, "crossed": False, "fee": "0",
                "tid": self.tid, "feeToken": "USDC"}
        self.a._on_message("userFills", {"user": self.a.user, "fills": [item]}, 1)
        self.pump()

    def agree(self, key: str, price: str, remaining: str, oid: int) -> None:
        """The engine's order and the adapter's record both rest at ``price`` with ``remaining``, under ``oid``."""
        order = self.om.get(key)
        local = self.a.orders.get(key)
        assert order is not None and local is not None
        assert not order.status.is_terminal, order
        assert (order.cloid, order.price, order.remaining) == (key, Decimal(price), Decimal(remaining)), order
        assert (local.price, local.remaining, local.oid) == (Decimal(price), Decimal(remaining), oid), local
        assert not self.om.in_flight(key) and local.modify is None


def recover(s: Session, modify: Modify, order_status: Callable[[str], Awaitable[dict[str, Any]]]) -> None:
    """Run the outcome resolver on a modify whose answer was lost, with ``order_status`` as the exchange's."""
    s.a._outcomes.order_status = order_status  # type: ignore[method-assign]
    asyncio.get_event_loop().run_until_complete(s.a._outcomes.recover("modify", [modify], retried=False))
    s.pump()


def found(status: str, oid: int, price: str, size: str, orig: str) -> Callable[[str], Awaitable[dict[str, Any]]]:
    """The exchange's ``orderStatus`` answer about the order (asked by any cloid): ``status`` under ``oid``."""

    async def order_status(key: str) -> dict[str, Any]:
        order = {"coin": "ETH", "side": "B", "limitPx": price, "sz": size, "oid": oid, "timestamp": T,
                 "origSz": orig, "cloid": key}
        return {"order": order, "status": status, "statusTimestamp": T}

    return order_status


@pytest.fixture
def s() -> Iterator[Session]:
    with offline_adapter() as a:
        yield Session(a)


def test_a_late_answer_of_an_earlier_modify_is_not_taken_for_the_next_ones(s: Session) -> None:
    """Modify 1 is acknowledged on the socket, its order partly fills, modify 2 goes out, and only then does the
    post response of modify 1 come: it names the oid the order has (B), at modify 1's terms. It is not modify 2's
    answer (that one gives the order a new oid), so it must neither end modify 2 nor let B's cancellation, which
    modify 2 causes, end the order."""
    s.place("3500", "1", A)
    m1 = s.modify("3499", "1")
    s.ws("canceled", A, "3500", "1")
    s.ws("open", B, "3499", "1")
    s.fill(B, "0.4", "3499")
    s.agree(C, "3499", "0.6", B)
    m2 = s.modify("3498", "0.6")
    s.answer(m1, B)  # late: modify 1's answer
    assert s.om.in_flight(C) and s.a.orders.get(C).modify is m2, "modify 2 is still in flight"
    s.ws("canceled", B, "3499", "0.6")
    s.ws("open", D, "3498", "0.6")
    s.answer(m2, D)
    s.agree(C, "3498", "0.6", D)


def test_a_late_answer_naming_a_replaced_oid_does_not_take_the_order_back_to_it(s: Session) -> None:
    """Modify 1 and modify 2 are both acknowledged on the socket before modify 1's post response comes, which
    names the oid the order had in between (B). The order keeps its oid (D): when modify 3 then replaces D, D's
    cancellation is modify 3's doing, not the end of the order."""
    s.place("3500", "1", A)
    m1 = s.modify("3499", "1")
    s.ws("canceled", A, "3500", "1")
    s.ws("open", B, "3499", "1")
    m2 = s.modify("3498", "1")
    s.ws("canceled", B, "3499", "1")
    s.ws("open", D, "3498", "1")
    s.answer(m1, B)  # late
    s.agree(C, "3498", "1", D)
    s.modify("3497", "1")
    s.ws("canceled", D, "3498", "1")
    assert s.om.get(C).status is OrderStatus.RESTING and s.a.orders.get(C) is not None, "modify 3 explains it"
    s.ws("open", 34, "3497", "1")
    s.answer(m2, D)  # later still
    s.agree(C, "3497", "1", 34)


def test_a_late_acknowledgement_of_the_place_is_not_taken_for_a_modify(s: Session) -> None:
    """The place's acknowledgement on the socket (oid A) lags behind the post responses of modify 1 and of the
    place: it comes while modify 2 is in flight, at terms that are neither the order's nor modify 2's."""
    s.place("3500", "1", A)
    m1 = s.modify("3499", "0.8")
    s.answer(m1, B)
    s.modify("3498", "0.8")
    s.ws("open", A, "3500", "1")  # the place's, late
    s.ws("canceled", A, "3500", "1")
    s.ws("open", B, "3499", "0.8")
    assert s.om.in_flight(C) and s.om.get(C).price == Decimal("3499")
    s.ws("canceled", B, "3499", "0.8")
    s.ws("open", D, "3498", "0.8")
    s.agree(C, "3498", "0.8", D)


def test_a_fill_of_the_replaced_oid_that_comes_after_the_modify_does_not_shrink_the_new_order(s: Session) -> None:
    """The old oid filled in part just before the modify landed; the modify's answer comes before that fill's
    message. The new oid rests with the modify's whole size, so the fill must not take from it: the order ends
    only when the new oid has filled in full, as it does on the exchange."""
    s.place("3500", "1", A)
    m1 = s.modify("3499", "0.5")
    s.answer(m1, B)
    s.fill(A, "0.3")  # happened before the modify, reported after its answer
    s.ws("canceled", A, "3500", "0.7")
    s.ws("open", B, "3499", "0.5")
    s.agree(C, "3499", "0.5", B)
    s.fill(B, "0.3", "3499")
    s.agree(C, "3499", "0.2", B)
    s.fill(B, "0.2", "3499")
    assert s.om.get(C).status is OrderStatus.FILLED and s.om.get(C).filled == Decimal("0.8")
    assert s.a.orders.get(C) is None and s.om.anomalies == 0


def test_the_lookup_of_a_modify_the_socket_answered_meanwhile_leaves_the_next_modify_in_flight(s: Session) -> None:
    """Modify 1's answer is lost, but the socket acknowledges it; its order partly fills and modify 2 goes out.
    The outcome resolver's lookup for modify 1 then finds the order open under B with what is left: that says
    nothing about modify 2, which must stay in flight until its own answer."""
    s.place("3500", "1", A)
    m1 = s.modify("3499", "1")
    s.ws("canceled", A, "3500", "1")
    s.ws("open", B, "3499", "1")
    s.fill(B, "0.4", "3499")
    s.modify("3498", "0.6")
    recover(s, m1, found("open", B, "3499", "0.6", "1"))
    assert s.om.in_flight(C) and s.a.orders.get(C).modify is not None, "modify 2 is still in flight"
    s.ws("canceled", B, "3499", "0.6")
    s.ws("open", D, "3498", "0.6")
    s.agree(C, "3498", "0.6", D)


def test_a_lost_modify_that_never_took_is_judged_by_the_oid_the_order_still_has(s: Session) -> None:
    """Modify 1's answer is lost and it never took, but the order partly filled meanwhile (that fill is not known
    yet): the lookup finds it open under its old oid with less left. Neither the old terms nor the modify's: by
    value it would pass for the modify's answer, by oid it plainly is not (a modify that takes gives a new oid).
    The modify failed, and the order must not stay in flight for ever."""
    s.place("3500", "1", A)
    m1 = s.modify("3499", "0.5")
    recover(s, m1, found("open", A, "3500", "0.6", "1"))
    assert s.om.counts["modify_rejected"] == 1, "the modify failed"
    s.fill(A, "0.4")  # the audit recovers it
    s.agree(C, "3500", "0.6", A)


def test_the_answer_of_the_modify_in_flight_is_taken_even_when_it_keeps_the_oid(s: Session) -> None:
    """Were the exchange to keep an order's oid through a modify, the socket's ``open`` for that oid would be
    dropped as a stale acknowledgement, but the modify's own post response must still answer it: otherwise the
    order would stay "modify in flight" for good, and the engine would never move it again."""
    s.place("3500", "1", A)
    m1 = s.modify("3499", "1")
    s.ws("open", A, "3499", "1")  # dropped: the modify in flight is taken to give a new oid
    assert s.om.in_flight(C)
    s.answer(m1, A)
    s.agree(C, "3499", "1", A)


def test_a_lost_modify_that_took_and_then_filled_is_answered_before_the_order_ends(s: Session) -> None:
    """Modify 1's answer is lost; by the time the exchange is asked, the order took it (new oid B) and filled in
    full there. The order ends FILLED with the modify's size counted, not the size it had before the modify."""
    s.place("3500", "1", A)
    s.fill(A, "0.2")
    m1 = s.modify("3499", "0.5")
    recover(s, m1, found("filled", B, "3499", "0", "0.5"))
    order = s.om.get(C)
    assert order.status is OrderStatus.FILLED and order.price == Decimal("3499"), order
    assert (order.size, order.filled) == (Decimal("0.7"), Decimal("0.7")), "0.2 before the modify, 0.5 after"
    assert s.om.counts["modify_rejected"] == 0 and s.a.orders.get(C) is None


def test_an_order_modified_thousands_of_times_keeps_a_bounded_record_and_ignores_old_news(s: Session) -> None:
    """Every modify gives the order a new oid: the adapter's record keeps the order's last ``OIDS_KEPT`` ids (its
    finish no longer walks every oid of every order), and news of a recent old one is still recognised."""
    s.place("3500", "1", A)
    for n in range(1, 1_001):
        m = s.modify(str(3500 - n % 2), "1")
        s.answer(m, A + n)
    local = s.a.orders.get(C)
    assert len(local.oids) == OIDS_KEPT and len(s.a.orders._oids) == OIDS_KEPT
    assert len(local.retired_oids) < OIDS_KEPT
    s.ws("canceled", A + 999, "3500", "1")  # the previous oid's cancellation, late
    s.agree(C, "3500", "1", A + 1_000)
    s.fill(A + 1_000, "1", "3500")
    assert s.a.orders.get(C) is None and s.a.orders._oids == {} and s.om.get(C).status is OrderStatus.FILLED
