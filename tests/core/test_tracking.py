"""Every transition of the order state machine, plus out-of-order, duplicate and bounded-memory behaviour."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmtool.core.cloid import CloidGenerator, is_valid_cloid
from mmtool.core.tracking import OrderManager
from mmtool.core.types import Cancel, Fill, Liquidity, Modify, OrderStatus, OrderUpdate, Place, Quote, Side

D = Decimal
ASSET = "ETH"
C1 = "0x" + "0" * 31 + "1"
C2 = "0x" + "0" * 31 + "2"
CANCEL_REJECT = "order was never placed, already canceled, or filled"


def place(cloid: str = C1, price: str = "100", size: str = "2", side: Side = Side.BUY) -> Place:
    return Place(cloid, ASSET, side, D(price), D(size))


def update(status: OrderStatus, cloid: str = C1, ts: int = 2, **kw: object) -> OrderUpdate:
    return OrderUpdate(ASSET, cloid, status, ts, ts, **kw)  # type: ignore[arg-type]


_tid = iter(range(10**9))


def fill(size: str, cloid: str | None = C1, oid: int | None = None, side: Side = Side.BUY, ts: int = 3) -> Fill:
    return Fill(ASSET, cloid, oid, f"t{next(_tid)}", side, D("100"), D(size), D("0.01"), Liquidity.MAKER, ts, ts)


def resting_manager(**place_kw: str) -> OrderManager:
    om = OrderManager()
    om.on_place(place(**place_kw), 1)
    om.on_update(update(OrderStatus.RESTING, oid=7))
    return om


def status(om: OrderManager, cloid: str = C1) -> OrderStatus:
    order = om.get(cloid)
    assert order is not None
    return order.status


# --------------------------------------------------------------------------------------------- cloids


def test_cloids_are_valid_deterministic_and_unique() -> None:
    a, b = CloidGenerator(42), CloidGenerator(42)
    ids = [a.next() for _ in range(1000)]
    assert ids == [b.next() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(is_valid_cloid(c) for c in ids)
    assert ids[0] == "0x000000000000002a0000000000000000"
    assert a.issued == 1000
    assert set(ids).isdisjoint(CloidGenerator(43).next() for _ in range(1000))


@pytest.mark.parametrize(
    "text",
    ["0x" + "a" * 31, "0x" + "A" * 32, "0x" + "g" * 32, "ab" * 17, "0x" + "a" * 33, 12, None],
)
def test_invalid_cloids(text: object) -> None:
    assert not is_valid_cloid(text)


def test_negative_seed_wraps() -> None:
    assert is_valid_cloid(CloidGenerator(-1).next())


# ----------------------------------------------------------------------------------------- from PENDING_NEW


def test_place_is_pending_new_and_in_flight() -> None:
    om = OrderManager()
    order = om.on_place(place(), 1)
    assert order.status is OrderStatus.PENDING_NEW
    assert om.in_flight(C1)
    assert om.live() == [order]
    assert om.counts["placed"] == 1
    with pytest.raises(ValueError, match="already tracked"):
        om.on_place(place(), 2)


def test_pending_new_to_resting_on_ack() -> None:
    om = OrderManager()
    om.on_place(place(), 1)
    order = om.on_update(update(OrderStatus.RESTING, oid=7))
    assert order is not None and order.status is OrderStatus.RESTING
    assert order.oid == 7 and order.updated_ns == 2
    assert not om.in_flight(C1)


def test_pending_new_to_partially_filled_by_fill_before_ack() -> None:
    om = OrderManager()
    om.on_place(place(), 1)
    order = om.on_fill(fill("0.5"))
    assert order is not None and order.status is OrderStatus.PARTIALLY_FILLED
    assert order.filled == D("0.5") and order.remaining == D("1.5")
    assert not om.in_flight(C1)  # a fill proves the order reached the book
    # The ack arriving afterwards must not lower it back to RESTING.
    assert status(om) is OrderStatus.PARTIALLY_FILLED
    om.on_update(update(OrderStatus.RESTING, oid=7, ts=4))
    assert status(om) is OrderStatus.PARTIALLY_FILLED


def test_pending_new_to_partially_filled_by_update() -> None:
    om = OrderManager()
    om.on_place(place(), 1)
    om.on_update(update(OrderStatus.PARTIALLY_FILLED, filled_size=D("1")))
    assert status(om) is OrderStatus.PARTIALLY_FILLED
    assert om.get(C1).filled == D("1")  # type: ignore[union-attr]


def test_pending_new_to_filled_immediately() -> None:
    om = OrderManager()
    om.on_place(place(), 1)
    om.on_update(update(OrderStatus.FILLED))
    assert status(om) is OrderStatus.FILLED
    assert om.get(C1).filled == D("2")  # type: ignore[union-attr]
    assert om.live() == [] and not om.in_flight(C1)
    assert om.counts["filled"] == 1
    # The fills that follow the "filled" answer are ignored, not double counted.
    om.on_fill(fill("2"))
    assert om.get(C1).filled == D("2")  # type: ignore[union-attr]
    assert om.ignored_updates == 1


def test_pending_new_to_filled_by_fills() -> None:
    om = OrderManager()
    om.on_place(place(), 1)
    om.on_fill(fill("1.5"))
    om.on_fill(fill("0.5"))
    assert status(om) is OrderStatus.FILLED


def test_pending_new_to_rejected() -> None:
    om = OrderManager()
    om.on_place(place(), 1)
    om.on_update(update(OrderStatus.REJECTED, reason="Post only order would have immediately matched"))
    assert status(om) is OrderStatus.REJECTED
    assert om.counts["rejected"] == 1 and om.anomalies == 0
    assert om.live() == []


def test_pending_new_to_cancelled() -> None:
    om = OrderManager()
    om.on_place(place(), 1)
    om.on_update(update(OrderStatus.CANCELLED))
    assert status(om) is OrderStatus.CANCELLED
    assert om.counts["cancelled"] == 1


def test_pending_new_to_pending_cancel_then_place_ack_then_confirmed() -> None:
    om = OrderManager()
    om.on_place(place(), 1)
    assert om.on_cancel(Cancel(C1, ASSET), 2).status is OrderStatus.PENDING_CANCEL  # type: ignore[union-attr]
    om.on_update(update(OrderStatus.RESTING, oid=7, ts=3))  # the place's ack, late
    assert status(om) is OrderStatus.PENDING_CANCEL and om.in_flight(C1)
    om.on_update(update(OrderStatus.CANCELLED, ts=4))
    assert status(om) is OrderStatus.CANCELLED


def test_pending_cancel_of_unacked_order_place_rejected() -> None:
    om = OrderManager()
    om.on_place(place(), 1)
    om.on_cancel(Cancel(C1, ASSET), 2)
    om.on_update(update(OrderStatus.REJECTED, reason="Insufficient margin"))
    assert status(om) is OrderStatus.REJECTED and om.anomalies == 0


def test_cancel_rejected_before_ack_returns_to_pending_new() -> None:
    om = OrderManager()
    om.on_place(place(), 1)
    om.on_cancel(Cancel(C1, ASSET), 2)
    om.on_update(update(OrderStatus.RESTING, reason=CANCEL_REJECT))
    assert status(om) is OrderStatus.PENDING_NEW and om.in_flight(C1)


# ---------------------------------------------------------------------------------- RESTING and PARTIALLY_FILLED


def test_resting_to_partially_filled_to_filled_by_fills() -> None:
    om = resting_manager()
    om.on_fill(fill("0.5"))
    assert status(om) is OrderStatus.PARTIALLY_FILLED
    om.on_fill(fill("1"))
    assert status(om) is OrderStatus.PARTIALLY_FILLED
    assert om.get(C1).filled == D("1.5")  # type: ignore[union-attr]
    om.on_fill(fill("0.5"))
    assert status(om) is OrderStatus.FILLED
    assert om.counts["filled"] == 1


def test_resting_to_filled_by_update_filled_size() -> None:
    om = resting_manager()
    om.on_update(update(OrderStatus.PARTIALLY_FILLED, filled_size=D("0.5")))
    assert status(om) is OrderStatus.PARTIALLY_FILLED
    om.on_update(update(OrderStatus.RESTING, filled_size=D("2")))
    assert status(om) is OrderStatus.FILLED


def test_filled_size_never_decreases() -> None:
    om = resting_manager()
    om.on_fill(fill("1"))
    om.on_update(update(OrderStatus.PARTIALLY_FILLED, filled_size=D("0.5")))
    assert om.get(C1).filled == D("1")  # type: ignore[union-attr]


def test_partially_filled_to_filled_by_update() -> None:
    om = resting_manager()
    om.on_fill(fill("0.5"))
    om.on_update(update(OrderStatus.FILLED))
    assert status(om) is OrderStatus.FILLED and om.get(C1).filled == D("2")  # type: ignore[union-attr]


@pytest.mark.parametrize("partial", [False, True])
def test_live_to_cancelled_by_exchange(partial: bool) -> None:
    om = resting_manager()
    if partial:
        om.on_fill(fill("0.5"))
    om.on_update(update(OrderStatus.CANCELLED, reason="marginCanceled"))
    assert status(om) is OrderStatus.CANCELLED


def test_rejection_of_acknowledged_order_is_terminal_and_an_anomaly() -> None:
    om = resting_manager()
    om.on_update(update(OrderStatus.REJECTED, reason="reduceOnlyRejected"))
    assert status(om) is OrderStatus.REJECTED and om.anomalies == 1
    om2 = resting_manager()
    om2.on_fill(fill("0.5"))
    om2.on_update(update(OrderStatus.REJECTED, reason="reduceOnlyRejected"))
    assert status(om2) is OrderStatus.CANCELLED  # its filled part happened, so it is not "rejected"


# --------------------------------------------------------------------------------------------- PENDING_CANCEL


@pytest.mark.parametrize("partial", [False, True])
def test_live_to_pending_cancel_to_cancelled(partial: bool) -> None:
    om = resting_manager()
    if partial:
        om.on_fill(fill("0.5"))
    order = om.on_cancel(Cancel(C1, ASSET), 5)
    assert order is not None and order.status is OrderStatus.PENDING_CANCEL
    assert om.in_flight(C1) and om.live() == [order]
    assert om.on_cancel(Cancel(C1, ASSET), 6) == order  # idempotent
    assert om.counts["cancel_requests"] == 1
    om.on_update(update(OrderStatus.CANCELLED, ts=7))
    assert status(om) is OrderStatus.CANCELLED and om.live() == []


def test_fill_while_pending_cancel_keeps_filling_then_filled() -> None:
    om = resting_manager()
    om.on_cancel(Cancel(C1, ASSET), 5)
    om.on_fill(fill("1"))
    assert status(om) is OrderStatus.PENDING_CANCEL
    assert om.get(C1).filled == D("1")  # type: ignore[union-attr]
    om.on_fill(fill("1"))
    assert status(om) is OrderStatus.FILLED
    # The cancel's answer comes too late and changes nothing.
    om.on_update(update(OrderStatus.RESTING, ts=9, reason=CANCEL_REJECT))
    assert status(om) is OrderStatus.FILLED and om.ignored_updates == 1


def test_pending_cancel_to_filled_by_update() -> None:
    om = resting_manager()
    om.on_cancel(Cancel(C1, ASSET), 5)
    om.on_update(update(OrderStatus.FILLED))
    assert status(om) is OrderStatus.FILLED


@pytest.mark.parametrize(("partial", "back_to"), [(False, OrderStatus.RESTING), (True, OrderStatus.PARTIALLY_FILLED)])
def test_cancel_rejected_returns_to_previous_state(partial: bool, back_to: OrderStatus) -> None:
    om = resting_manager()
    if partial:
        om.on_fill(fill("0.5"))
    om.on_cancel(Cancel(C1, ASSET), 5)
    om.on_update(update(OrderStatus.RESTING, ts=6, reason=CANCEL_REJECT))
    assert status(om) is back_to
    assert not om.in_flight(C1)
    assert om.counts["cancel_rejected"] == 1
    # A duplicate of the rejection is ignored.
    om.on_update(update(OrderStatus.RESTING, ts=6, reason=CANCEL_REJECT))
    assert status(om) is back_to and om.ignored_updates == 1


def test_fill_during_cancel_then_cancel_rejected_is_partially_filled() -> None:
    om = resting_manager()
    om.on_cancel(Cancel(C1, ASSET), 5)
    om.on_fill(fill("0.5"))
    om.on_update(update(OrderStatus.RESTING, ts=6, reason=CANCEL_REJECT))
    assert status(om) is OrderStatus.PARTIALLY_FILLED


# ----------------------------------------------------------------------------------------------------- modify


def test_modify_keeps_old_price_until_ack_then_applies() -> None:
    om = resting_manager()
    order = om.on_modify(Modify(C1, ASSET, Side.BUY, D("99"), D("3")), 5)
    assert order is not None and order.price == D("100") and order.size == D("2")
    assert order.status is OrderStatus.RESTING
    assert om.in_flight(C1)
    assert om.pending_quote(C1) == Quote(D("99"), D("3"))
    om.on_update(update(OrderStatus.RESTING, ts=6, oid=8))
    order = om.get(C1)
    assert order is not None and order.price == D("99") and order.size == D("3") and order.oid == 8
    assert order.status is OrderStatus.RESTING and not om.in_flight(C1)
    assert om.pending_quote(C1) is None
    assert om.counts["modified"] == 1


def test_modify_ack_prices_from_exchange_win() -> None:
    om = resting_manager()
    om.on_modify(Modify(C1, ASSET, Side.BUY, D("99"), D("3")), 5)
    om.on_update(update(OrderStatus.RESTING, ts=6, price=D("98.5"), size=D("2.5")))
    order = om.get(C1)
    assert order is not None and order.price == D("98.5") and order.remaining == D("2.5")


def test_duplicate_place_ack_during_modify_is_not_the_modify_ack() -> None:
    om = OrderManager()
    om.on_place(place(), 1)
    om.on_update(update(OrderStatus.RESTING, oid=7, price=D("100"), size=D("2")))
    om.on_modify(Modify(C1, ASSET, Side.BUY, D("99"), D("3")), 5)
    # The websocket's copy of the place's ack arrives after the modify was sent.
    om.on_update(update(OrderStatus.RESTING, ts=6, oid=7, price=D("100"), size=D("2")))
    order = om.get(C1)
    assert order is not None and order.price == D("100") and om.in_flight(C1)
    om.on_update(update(OrderStatus.RESTING, ts=7, oid=8, price=D("99"), size=D("3")))
    order = om.get(C1)
    assert order is not None and (order.price, order.size) == (D("99"), D("3")) and not om.in_flight(C1)
    # A late duplicate of the place's ack must not undo the modify.
    om.on_update(update(OrderStatus.RESTING, ts=8, oid=7, price=D("100"), size=D("2")))
    assert (om.get(C1).price, om.get(C1).size) == (D("99"), D("3"))  # type: ignore[union-attr]


def test_modify_of_partially_filled_order_sets_resting_size() -> None:
    om = resting_manager()
    om.on_fill(fill("0.5"))
    om.on_modify(Modify(C1, ASSET, Side.BUY, D("99"), D("1")), 5)
    om.on_update(update(OrderStatus.RESTING, ts=6))
    order = om.get(C1)
    assert order is not None
    assert (order.size, order.filled, order.remaining) == (D("1.5"), D("0.5"), D("1"))
    assert order.status is OrderStatus.PARTIALLY_FILLED


@pytest.mark.parametrize("reject_status", [OrderStatus.REJECTED, OrderStatus.RESTING])
def test_failed_modify_keeps_the_resting_order(reject_status: OrderStatus) -> None:
    om = resting_manager()
    om.on_modify(Modify(C1, ASSET, Side.BUY, D("99"), D("3")), 5)
    om.on_update(update(reject_status, ts=6, reason="modify: Post only order would have immediately matched"))
    order = om.get(C1)
    assert order is not None and order.status is OrderStatus.RESTING
    assert (order.price, order.size) == (D("100"), D("2"))
    assert not om.in_flight(C1) and om.counts["modify_rejected"] == 1
    assert om.counts["rejected"] == 0
    # A duplicate failure notice changes nothing.
    om.on_update(update(reject_status, ts=6, reason="modify: Post only order would have immediately matched"))
    assert om.get(C1) == order and om.ignored_updates == 1


def test_modify_with_new_cloid_rekeys_on_ack() -> None:
    om = resting_manager()
    om.on_modify(Modify(C1, ASSET, Side.BUY, D("99"), D("2"), new_cloid=C2), 5)
    assert om.get(C2) is om.get(C1)
    assert om.get(C1).cloid == C1  # type: ignore[union-attr]
    om.on_update(update(OrderStatus.RESTING, cloid=C2, ts=6))
    order = om.get(C2)
    assert order is not None and order.cloid == C2 and order.price == D("99")
    assert [o.cloid for o in om.live()] == [C2]
    # A late fill under the old cloid still lands on the order.
    om.on_fill(fill("0.5", cloid=C1))
    assert om.get(C2).filled == D("0.5")  # type: ignore[union-attr]


def test_failed_modify_with_new_cloid_forgets_it() -> None:
    om = resting_manager()
    om.on_modify(Modify(C1, ASSET, Side.BUY, D("99"), D("2"), new_cloid=C2), 5)
    om.on_update(update(OrderStatus.REJECTED, cloid=C1, reason="modify: Cannot modify canceled or filled order"))
    assert om.get(C2) is None and om.get(C1).price == D("100")  # type: ignore[union-attr]


def test_new_cloid_of_another_order_is_refused() -> None:
    om = resting_manager()
    om.on_place(place(C2), 2)
    with pytest.raises(ValueError, match="already used"):
        om.on_modify(Modify(C1, ASSET, Side.BUY, D("99"), D("2"), new_cloid=C2), 5)


def test_modify_and_cancel_of_terminal_or_unknown_orders_are_refused() -> None:
    om = resting_manager()
    assert om.on_modify(Modify(C2, ASSET, Side.BUY, D("99"), D("2")), 5) is None
    assert om.on_cancel(Cancel(C2, ASSET), 5) is None
    om.on_cancel(Cancel(C1, ASSET), 5)
    assert om.on_modify(Modify(C1, ASSET, Side.BUY, D("99"), D("2")), 5) is None
    om.on_update(update(OrderStatus.CANCELLED, ts=6))
    assert om.on_modify(Modify(C1, ASSET, Side.BUY, D("99"), D("2")), 7) is None
    assert om.on_cancel(Cancel(C1, ASSET), 7) is None


def test_cancel_during_modify_then_modify_ack_keeps_pending_cancel() -> None:
    om = resting_manager()
    om.on_modify(Modify(C1, ASSET, Side.BUY, D("99"), D("2")), 5)
    om.on_cancel(Cancel(C1, ASSET), 6)
    om.on_update(update(OrderStatus.RESTING, ts=7))
    order = om.get(C1)
    assert order is not None and order.status is OrderStatus.PENDING_CANCEL and order.price == D("99")
    assert om.in_flight(C1)


# ------------------------------------------------------------------------------------ terminal and anomalies


@pytest.mark.parametrize(
    "finish", [OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED], ids=lambda s: s.value
)
@pytest.mark.parametrize(
    "late", [OrderStatus.RESTING, OrderStatus.PARTIALLY_FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED]
)
def test_terminal_states_never_change(finish: OrderStatus, late: OrderStatus) -> None:
    om = OrderManager()
    om.on_place(place(), 1)
    om.on_update(update(finish))
    before = om.get(C1)
    om.on_update(update(late, ts=9, price=D("1"), filled_size=D("1")))
    assert om.get(C1) == before
    assert om.ignored_updates == 1


def test_late_fill_after_cancel_is_recorded_but_status_stays() -> None:
    om = resting_manager()
    om.on_update(update(OrderStatus.CANCELLED, ts=5))
    order = om.on_fill(fill("0.5", ts=6))
    assert order is not None and order.status is OrderStatus.CANCELLED and order.filled == D("0.5")
    assert om.late_fills == 1


def test_overfill_is_clipped_and_counted() -> None:
    om = resting_manager()
    om.on_fill(fill("1.5"))
    om.on_fill(fill("1"))
    order = om.get(C1)
    assert order is not None and order.filled == D("2") and order.status is OrderStatus.FILLED
    assert om.anomalies == 1


def test_unknown_orders_return_none() -> None:
    om = OrderManager()
    assert om.on_update(update(OrderStatus.RESTING)) is None
    assert om.on_fill(fill("1")) is None
    assert om.on_fill(fill("1", cloid=None, oid=99)) is None
    assert om.unknown_updates == 3
    assert om.get(C1) is None and not om.in_flight(C1)


def test_fill_without_cloid_matches_by_oid() -> None:
    om = resting_manager()
    order = om.on_fill(fill("0.5", cloid=None, oid=7))
    assert order is not None and order.filled == D("0.5")


def test_wrong_side_fill_is_an_anomaly() -> None:
    om = resting_manager()
    om.on_fill(fill("0.5", side=Side.SELL))
    assert om.anomalies == 1


def test_exchange_never_reports_our_pending_states() -> None:
    om = resting_manager()
    om.on_update(update(OrderStatus.PENDING_CANCEL))
    assert status(om) is OrderStatus.RESTING and om.ignored_updates == 1


def test_duplicate_updates_are_idempotent() -> None:
    om = OrderManager()
    om.on_place(place(), 1)
    ack = update(OrderStatus.RESTING, oid=7)
    om.on_update(ack)
    once = om.get(C1)
    om.on_update(ack)
    assert om.get(C1) == once


def test_live_order_is_stable_and_stale_finds_unanswered() -> None:
    om = OrderManager()
    om.on_place(place(C1), 1)
    om.on_place(place(C2, side=Side.SELL, price="101"), 2)
    om.on_update(update(OrderStatus.RESTING, cloid=C1))
    assert [o.cloid for o in om.live()] == [C1, C2]
    assert [o.cloid for o in om.stale(now_ns=10, older_than_ns=5)] == [C2]
    assert om.stale(now_ns=6, older_than_ns=5) == []


def test_remove_terminal_bounds_memory() -> None:
    om = OrderManager()
    gen = CloidGenerator(1)
    cloids = [gen.next() for _ in range(10)]
    for i, cloid in enumerate(cloids):
        om.on_place(place(cloid), i)
        om.on_update(update(OrderStatus.RESTING, cloid=cloid, oid=i))
        if i < 8:
            om.on_update(update(OrderStatus.CANCELLED, cloid=cloid))
    om.remove_terminal(keep_last=3)
    assert [om.get(c) is not None for c in cloids] == [False] * 5 + [True] * 5
    assert om.on_fill(fill("1", cloid=None, oid=0)) is None  # its oid is forgotten too
    assert len(om.live()) == 2
    with pytest.raises(ValueError):
        om.remove_terminal(-1)


def test_a_session_of_any_length_keeps_only_the_last_finished_orders() -> None:
    om = OrderManager(keep_finished=50)
    gen = CloidGenerator(2)
    cloids = [gen.next() for _ in range(5_000)]
    for i, cloid in enumerate(cloids):
        om.on_place(place(cloid), i)
        om.on_update(update(OrderStatus.RESTING, cloid=cloid, oid=i))
        if i % 100:  # every hundredth order stays live
            om.on_update(update(OrderStatus.CANCELLED, cloid=cloid))
    live = [c for i, c in enumerate(cloids) if i % 100 == 0]
    assert [o.cloid for o in om.live()] == live
    assert len(om._entries) == len(live) + 50 and len(om._oids) == len(live) + 50
    finished = [c for i, c in enumerate(cloids) if i % 100]
    assert all(om.get(c) is not None for c in finished[-50:]) and om.get(finished[-51]) is None
    assert om.counts["cancelled"] == len(finished), "the lifetime counts are kept"
    with pytest.raises(ValueError):
        OrderManager(keep_finished=-1)


def test_counts_is_read_only() -> None:
    om = OrderManager()
    with pytest.raises(TypeError):
        om.counts["placed"] = 3  # type: ignore[index]


# ------------------------------------------------------------------------------------------------- property

_EVENTS = st.lists(
    st.one_of(
        st.tuples(st.just("fill"), st.sampled_from(["0.25", "0.5", "1", "3"])),
        st.tuples(
            st.just("update"),
            st.sampled_from(list(OrderStatus)),
            st.sampled_from(["", CANCEL_REJECT, "modify: failed"]),
            st.sampled_from([None, "0.5", "1.5", "2"]),
        ),
        st.tuples(st.just("cancel")),
        st.tuples(st.just("modify"), st.sampled_from(["1", "2", "4"])),
    ),
    max_size=25,
)


@settings(max_examples=300, deadline=None)
@given(_EVENTS)
def test_random_event_sequences_keep_invariants(events: list[tuple]) -> None:
    om = OrderManager()
    om.on_place(place(), 0)
    seen_terminal: OrderStatus | None = None
    for ts, event in enumerate(events, start=1):
        before = om.get(C1)
        assert before is not None
        if event[0] == "fill":
            om.on_fill(fill(event[1], ts=ts))
        elif event[0] == "update":
            filled = D(event[3]) if event[3] is not None else None
            om.on_update(update(event[1], ts=ts, reason=event[2], filled_size=filled))
        elif event[0] == "cancel":
            om.on_cancel(Cancel(C1, ASSET), ts)
        else:
            om.on_modify(Modify(C1, ASSET, Side.BUY, D("99"), D(event[1])), ts)
        order = om.get(C1)
        assert order is not None
        assert D(0) <= order.filled <= order.size
        assert order.filled >= before.filled
        if seen_terminal is not None:
            assert order.status is seen_terminal
        if order.status.is_terminal:
            seen_terminal = order.status
            assert om.live() == [] and not om.in_flight(C1)
        else:
            assert om.live() == [order]
        # The one-pass set the engine hands to reconciliation agrees with the per-order query.
        assert om.in_flight_cloids() == {o.cloid for o in om.live() if om.in_flight(o.cloid)}
        if order.status is OrderStatus.FILLED:
            assert order.filled == order.size
        if order.status is OrderStatus.PARTIALLY_FILLED:
            assert 0 < order.filled < order.size


def test_live_count_agrees_with_the_live_list():
    from decimal import Decimal as D

    from mmtool.core.tracking import OrderManager
    from mmtool.core.types import Cancel, OrderStatus, OrderUpdate, Place, Side

    manager = OrderManager()
    manager.on_place(Place("0x" + "1" * 32, "ETH", Side.BUY, D("3500"), D("0.1")), 1)
    manager.on_place(Place("0x" + "2" * 32, "ETH", Side.SELL, D("3501"), D("0.1")), 1)
    assert manager.live_count() == len(manager.live()) == 2
    manager.on_cancel(Cancel("0x" + "1" * 32, "ETH"), 2)
    manager.on_update(OrderUpdate("ETH", "0x" + "1" * 32, OrderStatus.CANCELLED, 3, 3))
    assert manager.live_count() == len(manager.live()) == 1


def test_in_flight_cloids_follow_places_acks_modifies_and_cancels() -> None:
    om = OrderManager()
    om.on_place(place(C1), 1)
    om.on_place(place(C2, price="101"), 1)
    assert om.in_flight_cloids() == {C1, C2}
    om.on_update(update(OrderStatus.RESTING, C1, oid=7))
    assert om.in_flight_cloids() == {C2}
    new = "0x" + "0" * 31 + "3"
    om.on_modify(Modify(C1, ASSET, Side.BUY, D("99"), D("2"), new_cloid=new), 3)
    assert om.in_flight_cloids() == {C1, C2}  # judged under its current cloid until the modify's answer
    om.on_update(update(OrderStatus.RESTING, new, ts=4, oid=8, price=D("99"), size=D("2")))
    om.on_update(update(OrderStatus.CANCELLED, C2, ts=4))
    assert om.in_flight_cloids() == set()
    om.on_cancel(Cancel(new, ASSET), 5)
    assert om.in_flight_cloids() == {new}


# --------------------------------------------------------------------------------- a new oid per modify


def test_an_order_modified_thousands_of_times_under_new_oids_remembers_only_its_last_ids() -> None:
    """An exchange that gives every modify a new oid (Hyperliquid) gives a long-lived order thousands: the
    manager keeps its last ``OIDS_KEPT``, and a late fill of one of them still counts as made before the modify."""
    from mmtool.core.tracking import OIDS_KEPT

    om = resting_manager()
    for n in range(1, 2_001):
        om.on_modify(Modify(C1, ASSET, Side.BUY, D(100 + n % 2), D("2")), 1)
        om.on_update(update(OrderStatus.RESTING, oid=7 + n, price=D(100 + n % 2), size=D("2")))
    entry = om._entries[om._index[C1]]
    assert len(entry.oids) == OIDS_KEPT and len(om._oids) == OIDS_KEPT and len(entry.replaced_oids) < OIDS_KEPT
    assert om.get(C1).oid == 2_007
    om.on_fill(fill("0.5", cloid=None, oid=2_006))  # the previous oid filled just before the last modify
    order = om.get(C1)
    assert (order.filled, order.remaining, order.oid) == (D("0.5"), D("2"), 2_007), "the resting size is untouched"
    om.on_fill(fill("0.5", cloid=None, oid=2_007))
    assert om.get(C1).remaining == D("1.5") and om.anomalies == 0
