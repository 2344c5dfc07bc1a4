"""Reconciliation: hand cases for minimality and ordering, hypothesis properties for correctness."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmtool.core.cloid import CloidGenerator
from mmtool.core.reconcile import reconcile
from mmtool.core.types import (
    Action,
    Cancel,
    Ladder,
    Modify,
    Order,
    OrderStatus,
    Place,
    Quote,
    Side,
    Tif,
)

D = Decimal
ASSET = "ETH"


def q(price: str, size: str = "1") -> Quote:
    return Quote(D(price), D(size))


def order(
    cloid: str,
    side: Side,
    price: str,
    size: str = "1",
    status: OrderStatus = OrderStatus.RESTING,
    filled: str = "0",
    asset: str = ASSET,
) -> Order:
    return Order(cloid, asset, side, D(price), D(size), status, filled=D(filled))


def run(target: Ladder, live: Sequence[Order], **kw: object) -> list[Action]:
    gen = CloidGenerator(99)
    options: dict[str, object] = {"max_bps_diff": 1.0, "new_cloid": gen.next}
    options.update(kw)
    return reconcile(target, live, asset=ASSET, **options)  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------------ hand cases


def test_empty_target_and_no_orders_means_no_action() -> None:
    assert run(Ladder.empty(), []) == []


def test_fresh_ladder_places_every_level_best_first() -> None:
    target = Ladder(bids=(q("99"), q("98")), asks=(q("101"), q("102")))
    actions = run(target, [])
    assert [(type(a), a.side, a.price) for a in actions] == [  # type: ignore[union-attr]
        (Place, Side.BUY, D("99")),
        (Place, Side.BUY, D("98")),
        (Place, Side.SELL, D("101")),
        (Place, Side.SELL, D("102")),
    ]
    assert all(isinstance(a, Place) and a.tif is Tif.ALO and not a.reduce_only for a in actions)
    assert len({a.cloid for a in actions}) == 4


def test_unchanged_ladder_means_no_action() -> None:
    target = Ladder(bids=(q("99"),), asks=(q("101"),))
    live = [order("a", Side.BUY, "99"), order("b", Side.SELL, "101")]
    assert run(target, live) == []


def test_within_price_tolerance_keeps_queue_priority() -> None:
    # 100 * 5 bps = 0.05
    live = [order("a", Side.BUY, "99.96")]
    assert run(Ladder(bids=(q("100"),)), live, max_bps_diff=5.0) == []
    assert len(run(Ladder(bids=(q("100"),)), [order("a", Side.BUY, "99.94")], max_bps_diff=5.0)) == 1


def test_one_level_moved_is_one_modify() -> None:
    target = Ladder(bids=(q("99"), q("97.5")), asks=(q("101"),))
    live = [order("a", Side.BUY, "99"), order("b", Side.BUY, "98"), order("c", Side.SELL, "101")]
    assert run(target, live) == [Modify("b", ASSET, Side.BUY, D("97.5"), D("1"))]


def test_one_level_moved_without_modify_is_cancel_then_place() -> None:
    target = Ladder(bids=(q("99"), q("97.5")))
    live = [order("a", Side.BUY, "99"), order("b", Side.BUY, "98")]
    actions = run(target, live, allow_modify=False)
    assert [type(a) for a in actions] == [Cancel, Place]
    assert actions[0] == Cancel("b", ASSET)
    assert (actions[1].price, actions[1].size) == (D("97.5"), D("1"))  # type: ignore[union-attr]


def test_whole_ladder_shift_is_all_modifies_nearest_first() -> None:
    target = Ladder(bids=(q("100"), q("99")))
    live = [order("a", Side.BUY, "99"), order("b", Side.BUY, "98")]
    # "a" at 99 keeps its place (level 99), "b" moves to 100.
    assert run(target, live) == [Modify("b", ASSET, Side.BUY, D("100"), D("1"))]


def test_levels_closer_than_the_tolerance_still_keep_every_order() -> None:
    # Greedy by distance would pair 99.02 with 99.02 and strand 99.03; the maximum matching keeps all three.
    target = Ladder(asks=(q("99.00"), q("99.01"), q("99.02")))
    live = [order("a", Side.SELL, "99.00"), order("b", Side.SELL, "99.02"), order("c", Side.SELL, "99.03")]
    assert run(target, live, max_bps_diff=2.0) == []


def test_sizes_can_make_the_best_matching_cross() -> None:
    target = Ladder(bids=(q("100.01", "2"), q("100", "1")))
    live = [order("a", Side.BUY, "100.01", "1"), order("b", Side.BUY, "100", "2")]
    assert run(target, live, max_bps_diff=5.0) == []


def test_size_change_beyond_tolerance_is_a_modify() -> None:
    target = Ladder(bids=(q("99", "1.3"),))
    live = [order("a", Side.BUY, "99", "1")]
    assert run(target, live, size_tolerance=0.1) == [Modify("a", ASSET, Side.BUY, D("99"), D("1.3"))]
    assert run(target, live, size_tolerance=0.25) == []


def test_partially_filled_order_is_judged_by_remaining_size() -> None:
    target = Ladder(bids=(q("99", "1"),))
    live = [order("a", Side.BUY, "99", "2", OrderStatus.PARTIALLY_FILLED, filled="1")]
    assert run(target, live) == []
    live = [order("a", Side.BUY, "99", "2", OrderStatus.PARTIALLY_FILLED, filled="0.5")]
    assert run(target, live) == [Modify("a", ASSET, Side.BUY, D("99"), D("1"))]


def test_extra_orders_are_cancelled_and_cancels_come_first() -> None:
    target = Ladder(bids=(q("99"),), asks=(q("101"), q("102")))
    live = [order("a", Side.BUY, "99"), order("b", Side.BUY, "98"), order("c", Side.SELL, "103")]
    actions = run(target, live)
    assert [type(a) for a in actions] == [Cancel, Modify, Place]
    assert actions[0] == Cancel("b", ASSET)
    assert actions[1] == Modify("c", ASSET, Side.SELL, D("102"), D("1"))
    assert actions[2].price == D("101")  # type: ignore[union-attr]


def test_empty_target_cancels_everything_acknowledged() -> None:
    live = [
        order("a", Side.BUY, "99"),
        order("b", Side.SELL, "101"),
        order("p", Side.BUY, "98", "1", OrderStatus.PENDING_NEW),
    ]
    assert run(Ladder.empty(), live) == [Cancel("a", ASSET), Cancel("b", ASSET)]


def test_pending_new_covers_its_level_so_nothing_is_placed_twice() -> None:
    target = Ladder(bids=(q("99", "2"),))
    live = [order("p", Side.BUY, "99", "1", OrderStatus.PENDING_NEW)]
    assert run(target, live) == []  # size differs, but an in-flight order is judged by price only


def test_pending_new_out_of_tolerance_still_covers_a_level() -> None:
    # A fast market must not stack a new order per event while the first one awaits its ack.
    target = Ladder(bids=(q("99"), q("97")))
    live = [order("p", Side.BUY, "90", "1", OrderStatus.PENDING_NEW)]
    assert [(type(a), a.price) for a in run(target, live)] == [(Place, D("99"))]  # type: ignore[union-attr]
    # Orders within tolerance cover their own level first; the far one takes what is left, however far.
    live = [
        order("p", Side.BUY, "97", "1", OrderStatus.PENDING_NEW),
        order("r", Side.BUY, "96", "1", OrderStatus.PENDING_NEW),
    ]
    assert run(target, live) == []


def test_pending_cancel_covers_nothing_and_gets_no_action() -> None:
    target = Ladder(bids=(q("99"),))
    live = [order("c", Side.BUY, "99", "1", OrderStatus.PENDING_CANCEL)]
    actions = run(target, live)
    assert [type(a) for a in actions] == [Place]


def test_in_flight_modify_covers_the_level_it_heads_to() -> None:
    target = Ladder(bids=(q("99"), q("97")))
    live = [order("m", Side.BUY, "97"), order("a", Side.BUY, "97")]
    heading = {"m": q("99")}
    flying = {"m"}.__contains__
    assert run(target, live, in_flight=flying, pending_quote=heading.get) == []
    # Without knowing where "m" heads, it is judged at 97 and "a" would be moved on top of it.
    assert run(target, live, in_flight=flying) == [Modify("a", ASSET, Side.BUY, D("99"), D("1"))]


def test_terminal_and_foreign_orders_are_ignored() -> None:
    live = [order("f", Side.BUY, "99", status=OrderStatus.FILLED), order("x", Side.BUY, "99", asset="BTC")]
    actions = run(Ladder(bids=(q("99"),)), live)
    assert [type(a) for a in actions] == [Place]


def test_levels_of_zero_size_are_ignored() -> None:
    assert run(Ladder(bids=(q("99", "0"),)), []) == []


def test_result_does_not_depend_on_live_order() -> None:
    target = Ladder(bids=(q("99"), q("98"), q("97")), asks=(q("101"),))
    live = [
        order("a", Side.BUY, "99.5"),
        order("b", Side.BUY, "96"),
        order("c", Side.BUY, "98"),
        order("d", Side.SELL, "104"),
        order("e", Side.SELL, "105"),
    ]
    expected = run(target, live)
    assert run(target, list(reversed(live))) == expected
    assert run(target, live[2:] + live[:2]) == expected


def test_tie_break_is_stable() -> None:
    # Two orders equally far from one level: the better-priced one (rank first) is moved, the other cancelled.
    target = Ladder(bids=(q("99"),))
    live = [order("b", Side.BUY, "98"), order("a", Side.BUY, "100")]
    assert run(target, live) == [Cancel("b", ASSET), Modify("a", ASSET, Side.BUY, D("99"), D("1"))]


def test_negative_tolerances_are_refused() -> None:
    with pytest.raises(ValueError):
        run(Ladder.empty(), [], max_bps_diff=-1.0)
    with pytest.raises(ValueError):
        run(Ladder.empty(), [], size_tolerance=-0.1)


# ------------------------------------------------------------------------------------------------ properties

_PRICE = st.integers(min_value=9_900, max_value=10_100).map(lambda n: D(n).scaleb(-2))
_SIZE = st.integers(min_value=1, max_value=40).map(lambda n: D(n).scaleb(-1))
_BPS = st.sampled_from([0.0, 0.5, 2.0, 10.0])
_SIZE_TOL = st.sampled_from([0.0, 0.1, 0.5])


@st.composite
def ladders(draw: st.DrawFn) -> Ladder:
    bids = sorted(draw(st.sets(_PRICE, max_size=5)), reverse=True)
    asks = sorted(draw(st.sets(_PRICE, max_size=5)))
    return Ladder(
        bids=tuple(Quote(p, draw(_SIZE)) for p in bids),
        asks=tuple(Quote(p, draw(_SIZE)) for p in asks),
    )


@st.composite
def live_orders(draw: st.DrawFn, statuses: Sequence[OrderStatus] = (OrderStatus.RESTING,)) -> list[Order]:
    gen = CloidGenerator(7)
    orders = []
    for _ in range(draw(st.integers(0, 8))):
        size = draw(_SIZE)
        filled = draw(st.integers(0, int(size * 10) - 1).map(lambda n: D(n).scaleb(-1)))
        status = draw(st.sampled_from(list(statuses)))
        if status is OrderStatus.RESTING and filled > 0:
            status = OrderStatus.PARTIALLY_FILLED
        side = draw(st.sampled_from([Side.BUY, Side.SELL]))
        orders.append(Order(gen.next(), ASSET, side, draw(_PRICE), size, status, filled=filled))
    return orders


def within(price: Decimal, size: Decimal, level: Quote, bps: float, size_tol: float) -> bool:
    return (
        abs(price - level.price) * 10_000 <= D(str(bps)) * level.price
        and abs(size - level.size) <= D(str(size_tol)) * level.size
    )


def perfect_matching(items: list[tuple[Decimal, Decimal]], levels: Sequence[Quote], ok: Callable) -> bool:
    """Brute-force bipartite matching: does every item pair with a distinct level?"""
    return len(items) == len(levels) and max_matching_size(items, levels, ok) == len(items)


def max_matching_size(items: list[tuple[Decimal, Decimal]], levels: Sequence[Quote], ok: Callable) -> int:
    """Brute-force maximum bipartite matching (augmenting paths over every pair)."""
    match: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:
        for j, level in enumerate(levels):
            if j not in seen and ok(*items[i], level):
                seen.add(j)
                if j not in match or augment(match[j], seen):
                    match[j] = i
                    return True
        return False

    return sum(augment(i, set()) for i in range(len(items)))


def apply(live: Sequence[Order], actions: Sequence[Action]) -> dict[str, tuple[Side, Decimal, Decimal]]:
    """Simulate the exchange: cancels remove, modifies move and resize (resting size), places add."""
    book = {o.cloid: (o.side, o.price, o.remaining) for o in live}
    for a in actions:
        if isinstance(a, Cancel):
            assert a.cloid in book
            del book[a.cloid]
        elif isinstance(a, Modify):
            assert a.cloid in book and book[a.cloid][0] is a.side
            book[a.cloid] = (a.side, a.price, a.size)
        else:
            assert a.cloid not in book
            book[a.cloid] = (a.side, a.price, a.size)
    return book


def assert_well_formed(live: Sequence[Order], actions: Sequence[Action]) -> None:
    kinds = [0 if isinstance(a, Cancel) else 1 if isinstance(a, Modify) else 2 for a in actions]
    assert kinds == sorted(kinds), "cancels, then modifies, then places"
    cloids = [a.cloid for a in actions]
    assert len(cloids) == len(set(cloids)), "no order gets two actions, no cloid is reused"
    live_cloids = {o.cloid for o in live}
    assert all((a.cloid in live_cloids) != isinstance(a, Place) for a in actions)
    assert all(a.asset == ASSET for a in actions)


@settings(max_examples=300, deadline=None)
@given(ladders(), live_orders(), _BPS, _SIZE_TOL, st.booleans())
def test_applying_actions_yields_the_target(
    target: Ladder, live: list[Order], bps: float, size_tol: float, allow_modify: bool
) -> None:
    actions = run(target, live, max_bps_diff=bps, size_tolerance=size_tol, allow_modify=allow_modify)
    assert_well_formed(live, actions)
    book = apply(live, actions)

    def ok(price: Decimal, size: Decimal, level: Quote) -> bool:
        return within(price, size, level, bps, size_tol)

    for side in (Side.BUY, Side.SELL):
        items = [(p, s) for sd, p, s in book.values() if sd is side]
        assert perfect_matching(items, target.side(side), ok)
    # Never more actions than the naive "cancel everything, place everything".
    assert len(actions) <= len(live) + len(target.bids) + len(target.asks)
    if allow_modify:
        # Each side: replacing the book costs at most max(#orders, #levels) actions.
        for side in (Side.BUY, Side.SELL):
            n_side = sum(1 for a in actions if a.cloid in book and book[a.cloid][0] is side) + sum(
                1 for a in actions if isinstance(a, Cancel) and any(o.cloid == a.cloid and o.side is side for o in live)
            )
            assert n_side <= max(sum(1 for o in live if o.side is side), len(target.side(side)))


@settings(max_examples=300, deadline=None)
@given(ladders(), _BPS, _SIZE_TOL, st.data())
def test_target_within_tolerance_of_live_means_no_action(
    target: Ladder, bps: float, size_tol: float, data: st.DataObject
) -> None:
    gen = CloidGenerator(5)
    live = []
    for side in (Side.BUY, Side.SELL):
        for level in target.side(side):
            max_ticks = int(D(str(bps)) * level.price / 10_000 / D("0.01"))
            price = level.price + data.draw(st.integers(-max_ticks, max_ticks)) * D("0.01")
            max_lots = int(D(str(size_tol)) * level.size / D("0.1"))
            size = max(level.size + data.draw(st.integers(-max_lots, max_lots)) * D("0.1"), D("0.1"))
            if not within(price, size, level, bps, size_tol):
                size = level.size
            live.append(Order(gen.next(), ASSET, side, price, size, OrderStatus.RESTING))
    assert run(target, live, max_bps_diff=bps, size_tolerance=size_tol) == []


_ANY_LIVE = (OrderStatus.RESTING, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_NEW, OrderStatus.PENDING_CANCEL)


@settings(max_examples=300, deadline=None)
@given(ladders(), live_orders(_ANY_LIVE), st.data())
def test_in_flight_orders_never_get_an_action(target: Ladder, live: list[Order], data: st.DataObject) -> None:
    flying = {o.cloid for o in live if data.draw(st.booleans())}
    actions = run(target, live, max_bps_diff=2.0, in_flight=flying.__contains__)
    assert_well_formed(live, actions)
    untouchable = flying | {o.cloid for o in live if o.status in (OrderStatus.PENDING_NEW, OrderStatus.PENDING_CANCEL)}
    assert untouchable.isdisjoint(a.cloid for a in actions)
    # A level that a pending-new order sits on exactly is never placed again.
    pending_at = {(o.side, o.price) for o in live if o.status is OrderStatus.PENDING_NEW}
    assert not any(isinstance(a, Place) and (a.side, a.price) in pending_at for a in actions)
    # Orders never stack: a side gets a place only for levels no in-flight or acknowledged order can serve.
    for side in (Side.BUY, Side.SELL):
        serving = sum(1 for o in live if o.side is side and o.status is not OrderStatus.PENDING_CANCEL)
        places = sum(1 for a in actions if isinstance(a, Place) and a.side is side)
        assert places == max(0, len(target.side(side)) - serving)


@settings(max_examples=100, deadline=None)
@given(ladders(), live_orders())
def test_reconcile_is_idempotent_once_applied(target: Ladder, live: list[Order]) -> None:
    actions = run(target, live, max_bps_diff=2.0, size_tolerance=0.1)
    book = apply(live, actions)
    settled = [Order(c, ASSET, side, price, size, OrderStatus.RESTING) for c, (side, price, size) in book.items()]
    assert run(target, settled, max_bps_diff=2.0, size_tolerance=0.1) == []



@settings(max_examples=300, deadline=None)
@given(ladders(), live_orders(), _BPS, _SIZE_TOL)
def test_every_keepable_order_is_kept(target: Ladder, live: list[Order], bps: float, size_tol: float) -> None:
    """A side costs exactly max(unkept orders, uncovered levels) actions, with as many orders kept as a brute-force
    maximum matching over every (order, level) pair allows: the windowed search misses no admissible pair."""
    actions = run(target, live, max_bps_diff=bps, size_tolerance=size_tol)

    def ok(price: Decimal, size: Decimal, level: Quote) -> bool:
        return within(price, size, level, bps, size_tol)

    by_cloid = {o.cloid: o for o in live}
    for side in (Side.BUY, Side.SELL):
        orders = [o for o in live if o.side is side]
        levels = target.side(side)
        kept = max_matching_size([(o.price, o.remaining) for o in orders], levels, ok)
        side_actions = [
            a for a in actions
            if (a.side if not isinstance(a, Cancel) else by_cloid[a.cloid].side) is side
        ]
        assert len(side_actions) == max(len(orders) - kept, len(levels) - kept)
