"""Reconciliation: the fewest actions that turn our live orders into the target ladder.

Each side is handled on its own, in four steps:

1. **In flight.** Orders that await an answer (PENDING_NEW, PENDING_CANCEL, or ``in_flight(cloid)``) get no
   action. Those not being cancelled still *cover* a target level, so nothing is placed twice: first the
   levels within ``max_bps_diff`` of their price (by price only: the size is fixed once acknowledged), then,
   for those left over, the nearest uncovered level however far. So while answers are awaited the number of
   orders on a side never grows beyond the ladder: a fast market does not stack a new order per event; the
   stale in-flight order is moved once it is acknowledged. An order with a modify in flight is judged at the
   price the modify gives it when ``pending_quote`` knows it.
2. **Keep.** An acknowledged order within ``max_bps_diff`` bps of a level's price (relative to the level's
   price) whose remaining size is within ``size_tolerance`` (a fraction of the level's size) keeps its place
   and its queue priority: no action.
3. **Modify.** With ``allow_modify``, uncovered levels are served by modifying leftover acknowledged orders of
   the same side, nearest price first; ``Modify.size`` is the size that should rest afterwards.
4. **Place and cancel.** Levels still uncovered get a post-only (ALO) ``Place`` with a cloid from
   ``new_cloid()``; leftover acknowledged orders are cancelled.

Matching is deterministic. Steps 1 and 2 find a *maximum* matching (every kept order saves an action: a
side costs ``max(unkept orders, uncovered levels)`` actions): first greedily by price distance, every
admissible (order, level) pair sorted by (distance, level index, order price rank, cloid) and taken when both
ends are free, then augmenting paths (Kuhn's algorithm, orders by price rank, levels nearest first) for the
orders the greedy pass left out, which can happen when levels are closer together than the tolerance.
Step 3 pairs leftovers with levels greedily by distance, with the same tie-break; orders are ranked best
price first and levels indexed best first, so ties resolve the same way every time.

Output: cancels first (they free margin and order slots), then modifies, then places; bids before asks within
each group, levels best first. Terminal orders, orders of another asset, trigger orders (stops and take-profits are
not quotes) and levels of non-positive size are ignored. ``reduce_only`` is left False: the engine decides it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from decimal import Decimal

from mmtool.core.rounding import remember, to_decimal
from mmtool.core.types import (
    TERMINAL_STATUSES,
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

_BPS = Decimal(10_000)
#: A float price test this far from its bound cannot be wrong (float errors are ~1e-16 relative); nearer, the
#: exact Decimal test decides.
_INSIDE, _OUTSIDE = 1.0 - 1e-9, 1.0 + 1e-9
#: Statuses whose order awaits the exchange's answer (looked up once: enum member access is not free).
_PENDING_CANCEL = OrderStatus.PENDING_CANCEL
_AWAITING = (OrderStatus.PENDING_NEW, OrderStatus.PENDING_CANCEL)


_CLOID = operator.attrgetter("cloid")
_PRICE = operator.attrgetter("price")
#: The tolerances as Decimals, by their float: they are settings, so the same few values come back every call.
_DECIMALS: dict[float, Decimal] = {}


def _decimal_of(value: float) -> Decimal:
    found = _DECIMALS.get(value)
    if found is None:
        found = remember(_DECIMALS, value, to_decimal(value), limit=256)
    return found


def _never_in_flight(cloid: str) -> bool:
    return False


def _no_pending_quote(cloid: str) -> Quote | None:
    return None


def reconcile(
    target: Ladder,
    live: Sequence[Order],
    *,
    asset: str,
    max_bps_diff: float,
    new_cloid: Callable[[], str],
    size_tolerance: float = 0.0,
    allow_modify: bool = True,
    in_flight: Callable[[str], bool] = _never_in_flight,
    pending_quote: Callable[[str], Quote | None] = _no_pending_quote,
) -> list[Action]:
    """Return the actions (cancels, then modifies, then places) that make ``live`` match ``target``.

    :param target: the wanted ladder, bids and asks best first, prices and sizes already rounded.
    :param live: our non-terminal orders (others are ignored).
    :param asset: the asset quoted; orders of other assets are left alone.
    :param max_bps_diff: an order within this many bps of a level's price keeps its place.
    :param new_cloid: called once per ``Place``, in output order.
    :param size_tolerance: an order whose remaining size is within this fraction of a level's size keeps it.
    :param allow_modify: when False, a moved level costs a cancel and a place.
    :param in_flight: True for an order with an action awaiting the exchange's answer.
    :param pending_quote: the price and size an in-flight modify will give an order, if known.
    """
    if max_bps_diff < 0 or size_tolerance < 0:
        raise ValueError(f"max_bps_diff and size_tolerance must be >= 0 (got {max_bps_diff}, {size_tolerance})")
    bps = _decimal_of(max_bps_diff)
    size_tol = _decimal_of(size_tolerance)
    # One pass over the orders for both sides (the caller's order is kept; each side is sorted later).
    by_side: dict[Side, list[Order]] = {Side.BUY: [], Side.SELL: []}
    for o in live:
        if o.asset == asset and o.status not in TERMINAL_STATUSES and o.trigger is None:
            by_side[o.side].append(o)
    cancels: list[Action] = []
    modifies: list[Action] = []
    places: list[tuple[Side, Quote]] = []
    for side in (Side.BUY, Side.SELL):
        levels = [q for q in target.side(side) if q.size > 0]
        orders = by_side[side]
        if not levels and not orders:
            continue
        plan = _reconcile_side(side, levels, orders, bps, size_tol, allow_modify, in_flight, pending_quote)
        cancels.extend(Cancel(o.cloid, asset) for o in plan.cancel)
        modifies.extend(Modify(o.cloid, asset, side, q.price, q.size, tif=Tif.ALO) for o, q in plan.modify)
        places.extend((side, q) for q in plan.place)
    placed: list[Action] = [Place(new_cloid(), asset, side, q.price, q.size, tif=Tif.ALO) for side, q in places]
    return [*cancels, *modifies, *placed]


class _SidePlan:
    """What one side needs: orders to cancel, (order, level) pairs to modify, levels to place."""

    __slots__ = ("cancel", "modify", "place")

    def __init__(self) -> None:
        self.cancel: list[Order] = []
        self.modify: list[tuple[Order, Quote]] = []
        self.place: list[Quote] = []


def _reconcile_side(
    side: Side,
    levels: list[Quote],
    orders: list[Order],
    bps: Decimal,
    size_tol: Decimal,
    allow_modify: bool,
    in_flight: Callable[[str], bool],
    pending_quote: Callable[[str], Quote | None],
) -> _SidePlan:
    # Best price first (highest bid, lowest ask), cloid as the tie-break, so the result never depends on the
    # order the caller listed them in.
    # Two stable sorts with C-level keys: by cloid, then by price (descending for bids).
    orders = sorted(orders, key=_CLOID)
    orders.sort(key=_PRICE, reverse=side is Side.BUY)
    frozen: list[tuple[int, Order, Quote]] = []
    acked: list[tuple[int, Order]] = []
    for rank, order in enumerate(orders):
        if order.status in _AWAITING or in_flight(order.cloid):
            if order.status is not _PENDING_CANCEL:
                frozen.append((rank, order, pending_quote(order.cloid) or Quote(order.price, order.remaining)))
        else:
            acked.append((rank, order))
    # A price is within bps of a level when |price - level| * 10^4 <= bps * level, a size when
    # |size - level| <= tol * level.
    prices = [level.price for level in levels]
    covered: set[int] = set()
    # 1. In-flight orders cover levels within the price tolerance, then the leftovers the nearest levels.
    if frozen:
        pairs = []
        for rank, order, q in frozen:
            for i, level_price in enumerate(prices):
                distance = abs(q.price - level_price)
                if distance * _BPS <= bps * level_price:
                    pairs.append((distance, i, rank, order.cloid))
        matched = _max_matching(pairs)
        covered.update(i for i, _ in matched)
        busy = {cloid for _, cloid in matched}
        pairs = [
            (abs(q.price - level_price), i, rank, order.cloid)
            for rank, order, q in frozen
            if order.cloid not in busy
            for i, level_price in enumerate(prices)
            if i not in covered
        ]
        covered.update(i for _, i, _, _ in _greedy(pairs, set(), set()))
    # 2. Acknowledged orders close enough in price and size keep their place. Floats settle the price test for
    # every pair clear of the boundary; the exact Decimal test decides the rest, so the outcome is exact.
    by_cloid = {order.cloid: order for _, order in acked}
    used: set[str] = set()
    pairs = []
    if acked:
        bps_f = float(bps)
        open_levels = []
        ordered = True  # levels best first, as the ladder gives them (a caller's may not be)
        previous = None
        for i, level_price in enumerate(prices):
            if i not in covered:
                level_f = float(level_price)
                if previous is not None and (level_f > previous if side is Side.BUY else level_f < previous):
                    ordered = False
                previous = level_f
                open_levels.append((i, level_f, bps_f * level_f))
        # Orders and levels are both sorted best first, so the levels within reach of an order form a window
        # that only moves outwards: a level too far on the inner side of one order is too far for every later
        # order, and past the first level too far on the outer side every later level is farther still.
        buy = side is Side.BUY
        start = 0
        n_open = len(open_levels)
        for rank, order in acked:
            price = order.price
            price_f = float(price)
            while ordered and start < n_open:
                _, level_f, room_f = open_levels[start]
                inner = level_f - price_f if buy else price_f - level_f
                if inner * 1e4 <= room_f * _OUTSIDE:
                    break
                start += 1
            for j in range(start, n_open):
                i, level_f, room_f = open_levels[j]
                lhs = abs(price_f - level_f) * 1e4
                if lhs > room_f * _OUTSIDE:
                    if ordered:
                        break
                    continue
                distance = abs(price - prices[i])
                if lhs >= room_f * _INSIDE and distance * _BPS > bps * prices[i]:
                    continue
                level = levels[i]
                if abs(order.remaining - level.size) <= size_tol * level.size:
                    pairs.append((distance, i, rank, order.cloid))
    for i, cloid in _max_matching(pairs):
        covered.add(i)
        used.add(cloid)
    plan = _SidePlan()
    # 3. Leftover acknowledged orders are moved to the uncovered levels, nearest first.
    if allow_modify:
        spare = [(rank, order) for rank, order in acked if order.cloid not in used]
        open_levels = [i for i in range(len(prices)) if i not in covered]
        if len(spare) == 1 and len(open_levels) == 1:
            # The usual requote: one order moves to one level (what the greedy pass would pick).
            moved = [(open_levels[0], spare[0][1].cloid)]
        else:
            pairs = [
                (abs(order.price - prices[i]), i, rank, order.cloid) for rank, order in spare for i in open_levels
            ]
            moved = sorted((i, cloid) for _, i, _, cloid in _greedy(pairs, covered, used))
        for i, cloid in moved:
            covered.add(i)
            used.add(cloid)
            plan.modify.append((by_cloid[cloid], levels[i]))
    # 4. Whatever is still uncovered is placed; whatever is still unused is cancelled.
    plan.place = [level for i, level in enumerate(levels) if i not in covered]
    plan.cancel = [order for _, order in acked if order.cloid not in used]
    return plan


def _greedy(
    pairs: list[tuple[Decimal, int, int, str]], taken_levels: set[int], taken_orders: set[str]
) -> list[tuple[Decimal, int, int, str]]:
    """Pick pairs by increasing (distance, level index, order rank, cloid), each level and order at most once."""
    levels = set(taken_levels)
    orders = set(taken_orders)
    chosen = []
    for pair in sorted(pairs):
        _, i, _, cloid = pair
        if i in levels or cloid in orders:
            continue
        levels.add(i)
        orders.add(cloid)
        chosen.append(pair)
    return chosen


def _max_matching(pairs: list[tuple[Decimal, int, int, str]]) -> list[tuple[int, str]]:
    """A maximum matching of the admissible pairs, as (level index, cloid) sorted by level: greedy by
    distance first, then augmenting paths from the orders left out, tried by price rank, levels nearest first."""
    if len({i for _, i, _, _ in pairs}) == len(pairs) == len({cloid for *_, cloid in pairs}):
        # No level and no order is in two pairs (the usual case): every pair is in the matching.
        return sorted((i, cloid) for _, i, _, cloid in pairs)
    order_at = {i: cloid for _, i, _, cloid in _greedy(pairs, set(), set())}
    matched = set(order_at.values())
    adjacency: dict[str, list[int]] = {}
    rank_of: dict[str, int] = {}
    for _, i, rank, cloid in sorted(pairs):
        adjacency.setdefault(cloid, []).append(i)
        rank_of[cloid] = rank

    def augment(cloid: str, seen: set[int]) -> bool:
        for i in adjacency[cloid]:
            if i in seen:
                continue
            seen.add(i)
            holder = order_at.get(i)
            if holder is None or augment(holder, seen):
                order_at[i] = cloid
                return True
        return False

    for cloid in sorted((c for c in adjacency if c not in matched), key=rank_of.__getitem__):
        augment(cloid, set())
    return sorted(order_at.items())
