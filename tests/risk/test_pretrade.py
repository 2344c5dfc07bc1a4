"""Pre-trade checks: each kind of reject, good actions accepted, and the worst-case position invariant."""

from __future__ import annotations

import logging
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmtool.core.config import RiskConfig, Settings, TradingConfig
from mmtool.core.pretrade import PreTradeChecker, PreTradeResult
from mmtool.core.rounding import AssetRules
from mmtool.core.types import Cancel, Modify, Order, OrderStatus, Place, Side, Tif

D = Decimal
MID, BID, ASK = 3500.0, 3499.9, 3500.1


def place(cloid, side, price, size, **kw):
    return Place(cloid, kw.pop("asset", "ETH"), side, D(price), D(size), **kw)


def modify(cloid, side, price, size, **kw):
    return Modify(cloid, "ETH", side, D(price), D(size), **kw)


def order(cloid, side, price, size, status=OrderStatus.RESTING, filled="0"):
    return Order(cloid, "ETH", side, D(price), D(size), status, filled=D(filled))


@pytest.fixture
def checker(make_settings, rules):
    def build(**risk):
        trading = {"max_absolute_position_size": risk.pop("max_position", 2.0)}
        return PreTradeChecker(make_settings(risk=risk, trading=trading), rules)

    return build


def run(chk, actions, live=(), position="0", mid=MID, bid=BID, ask=ASK, **kw) -> PreTradeResult:
    return chk.check(actions, list(live), D(position), mid, bid, ask, **kw)


def reasons(result: PreTradeResult) -> list[str]:
    return [r for _, r in result.rejected]


def test_good_actions_are_accepted(checker):
    actions = [place("b1", Side.BUY, "3499", "0.1"), place("a1", Side.SELL, "3501.5", "0.1")]
    result = run(checker(), actions)
    assert result.accepted == tuple(actions)
    assert result.rejected == ()


@pytest.mark.parametrize(
    ("action", "fragment"),
    [
        (place("x", Side.BUY, "3499", "0.1", asset="BTC"), "asset BTC is not ETH"),
        (place("x", Side.BUY, "3499.123", "0.1"), "not a valid ETH price"),
        (place("x", Side.BUY, "3499", "0.00001"), "not a positive multiple of the lot"),
        (place("x", Side.BUY, "3499", "0"), "not a positive multiple of the lot"),
        (place("x", Side.BUY, "3499", "0.0028"), "below the exchange minimum"),
        (place("x", Side.BUY, "3499", "1.5"), "above max_order_notional_usd"),
        (place("x", Side.BUY, "3324.9", "0.1"), "beyond the 500"),
        (place("x", Side.SELL, "3675.1", "0.1"), "beyond the 500"),
        (place("x", Side.BUY, "3500.1", "0.1"), "would cross the best ask"),
        (place("x", Side.BUY, "3501", "0.1"), "would cross the best ask"),
        (place("x", Side.SELL, "3499.9", "0.1"), "would cross the best bid"),
    ],
)
def test_rejects_of_each_kind(checker, action, fragment, caplog):
    with caplog.at_level(logging.WARNING, logger="mmtool.pretrade"):
        result = run(checker(), [action])
    assert result.accepted == ()
    assert len(result.rejected) == 1
    assert fragment in result.rejected[0][1]
    records = [r for r in caplog.records if r.name == "mmtool.pretrade"]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    assert fragment in records[0].getMessage()


def test_bounds_are_inclusive(checker):
    at_band = place("b", Side.BUY, "3325", "0.1")  # exactly 500 bps below mid
    at_band_ask = place("a", Side.SELL, "3675", "0.1")  # exactly 500 bps above mid
    near_max = place("c", Side.SELL, "3571.4", "1.4")  # 4999.96 USD
    result = run(checker(), [at_band, at_band_ask, near_max])
    assert result.rejected == ()
    tight = run(checker(max_order_notional_usd=349.9), [place("d", Side.BUY, "3499", "0.1")])
    assert tight.rejected == ()
    over = run(checker(max_order_notional_usd=349.89), [place("d", Side.BUY, "3499", "0.1")])
    assert len(over.rejected) == 1


def test_exact_min_notional(checker):
    at_min = place("e", Side.BUY, "2500", "0.004")  # exactly 10 USDC
    below = place("f", Side.BUY, "2499", "0.004")
    result = run(checker(), [at_min, below], mid=2500.5, bid=2500.0, ask=2501.0)
    assert result.accepted == (at_min,)
    assert "below the exchange minimum" in reasons(result)[0]


def test_ioc_may_cross_but_not_leave_the_band(checker):
    take = place("t", Side.BUY, "3501", "0.1", tif=Tif.IOC)
    far = place("u", Side.BUY, "3700", "0.1", tif=Tif.IOC)
    result = run(checker(), [take, far])
    assert result.accepted == (take,)
    assert "beyond the 500" in reasons(result)[0]


def test_no_mid_means_no_order(checker):
    result = run(checker(), [place("x", Side.BUY, "3499", "0.1"), Cancel("y", "ETH")], mid=None, bid=None, ask=None)
    assert result.accepted == (Cancel("y", "ETH"),)
    assert "no mid price" in reasons(result)[0]


def test_missing_best_prices_skip_only_the_cross_check(checker):
    result = run(checker(), [place("x", Side.BUY, "3600", "0.1")], bid=None, ask=None)
    assert result.rejected == ()


def test_open_order_limit_counts_live_and_new_minus_cancelled(checker):
    live = [order("l1", Side.BUY, "3490", "0.1")]
    two = [place("p1", Side.BUY, "3480", "0.1"), place("p2", Side.BUY, "3470", "0.1")]
    result = run(checker(max_open_orders=2), two, live=live)
    assert result.accepted == (two[0],)
    assert "open orders would exceed 2" in reasons(result)[0]
    with_cancel = run(checker(max_open_orders=2), [*two, Cancel("l1", "ETH")], live=live)
    assert with_cancel.rejected == ()
    assert with_cancel.accepted == (Cancel("l1", "ETH"), *two)  # cancels are evaluated and returned first


def test_terminal_live_orders_are_ignored(checker):
    live = [order("l1", Side.BUY, "3490", "1.0", status=OrderStatus.FILLED)]
    result = run(checker(max_open_orders=1), [place("p", Side.BUY, "3480", "1.0")], live=live, position="1.0")
    assert result.rejected == ()


def test_duplicate_cloid_is_refused_unless_cancelled_first(checker):
    live = [order("same", Side.BUY, "3490", "0.1")]
    assert "already in use" in reasons(run(checker(), [place("same", Side.BUY, "3480", "0.1")], live=live))[0]
    result = run(checker(), [place("same", Side.BUY, "3480", "0.1"), Cancel("same", "ETH")], live=live)
    assert result.rejected == ()


# ---------------------------------------------------------------------------------------- worst-case position


def test_worst_case_position_at_the_limit_passes_and_beyond_fails(checker):
    live = [order("l1", Side.BUY, "3490", "0.3")]
    at = run(checker(), [place("p", Side.BUY, "3480", "0.2")], live=live, position="1.5")
    over = run(checker(), [place("p", Side.BUY, "3480", "0.2001")], live=live, position="1.5")
    assert at.rejected == ()
    assert "worst-case position 2.0001" in reasons(over)[0]


def test_worst_case_counts_remaining_size_and_pending_states(checker):
    live = [
        order("l1", Side.SELL, "3510", "1.0", filled="0.4"),  # 0.6 remaining
        order("l2", Side.SELL, "3520", "0.5", status=OrderStatus.PENDING_CANCEL),  # may still fill
        order("l3", Side.SELL, "3530", "0.5", status=OrderStatus.PENDING_NEW),
    ]
    ok = run(checker(), [place("p", Side.SELL, "3540", "0.4")], live=live, position="0")
    bad = run(checker(), [place("p", Side.SELL, "3540", "0.4001")], live=live, position="0")
    assert ok.rejected == ()
    assert "beyond the limit 2" in reasons(bad)[0]


def test_the_order_that_breaks_the_limit_is_the_one_rejected(checker):
    actions = [place(f"p{i}", Side.BUY, str(3490 - i), "0.5") for i in range(5)]
    result = run(checker(), actions, position="0.2")
    assert result.accepted == tuple(actions[:3])
    assert [a.cloid for a, _ in result.rejected] == ["p3", "p4"]


def test_each_side_has_its_own_worst_case(checker):
    result = run(checker(), [place("a", Side.SELL, "3510", "1.0")], position="1.9")
    assert result.rejected == ()
    over = run(checker(), [place("b", Side.BUY, "3490", "0.1001")], position="1.9")
    assert len(over.rejected) == 1


def test_cancels_free_their_order_slot_whatever_their_place_in_the_list(checker):
    live = [order("l1", Side.BUY, "3490", "0.1"), order("l2", Side.SELL, "3510", "0.1")]
    actions = [place("p", Side.BUY, "3480", "0.1"), Cancel("l1", "ETH")]
    assert run(checker(max_open_orders=2), actions, live=live).rejected == ()


def test_a_cancel_in_flight_still_counts_in_the_worst_case_position(checker):
    # The order may fill before the cancel lands: until the exchange confirms it, its size is still at risk.
    live = [order("l1", Side.BUY, "3490", "1.0")]
    actions = [place("p", Side.BUY, "3480", "1.0"), Cancel("l1", "ETH")]
    result = run(checker(), actions, live=live, position="1.0")
    assert [type(a).__name__ for a in result.accepted] == ["Cancel"]
    assert "worst-case position 3.0" in reasons(result)[0]
    pending = [order("l1", Side.BUY, "3490", "1.0", status=OrderStatus.PENDING_CANCEL)]
    assert len(run(checker(), [place("p", Side.BUY, "3480", "1.0")], live=pending, position="1.0").rejected) == 1
    assert run(checker(), [place("p", Side.BUY, "3480", "1.0")], live=[], position="1.0").rejected == ()


def test_an_order_with_a_modify_in_flight_counts_at_the_larger_of_its_sizes(checker):
    from mmtool.core.types import Quote

    live = [order("l1", Side.BUY, "3490", "0.1")]
    growing = {"l1": Quote(D("3489"), D("1.0"))}.get  # a modify to 1.0 awaits its answer
    actions = [place("p", Side.BUY, "3480", "0.9")]
    assert run(checker(), actions, live=live, position="0.5").rejected == ()
    result = run(checker(), actions, live=live, position="0.5", pending_quote=growing)
    assert "worst-case position 2.4" in reasons(result)[0]
    shrinking = {"l1": Quote(D("3489"), D("0.05"))}.get  # counts at its current 0.1 until the answer
    assert run(checker(), actions, live=live, position="1.0", pending_quote=shrinking).rejected == ()


def test_the_position_limit_scales_during_re_entry(checker):
    actions = [place("p", Side.BUY, "3480", "0.6")]
    assert run(checker(), actions, position="0.5").rejected == ()
    result = run(checker(), actions, position="0.5", limit_scale=0.5)
    assert "beyond the limit 1.0" in reasons(result)[0]


def test_modify_replaces_the_remaining_size(checker):
    live = [order("l1", Side.BUY, "3490", "0.3", filled="0.1")]
    ok = run(checker(), [modify("l1", Side.BUY, "3480", "0.5")], live=live, position="1.5")
    bad = run(checker(), [modify("l1", Side.BUY, "3480", "0.5001")], live=live, position="1.5")
    assert ok.rejected == ()
    assert "worst-case position" in reasons(bad)[0]


def test_modify_that_shrinks_is_allowed_even_over_the_limit(checker):
    live = [order("l1", Side.BUY, "3490", "1.0")]
    shrink = run(checker(), [modify("l1", Side.BUY, "3480", "0.5")], live=live, position="1.8")
    grow = run(checker(), [modify("l1", Side.BUY, "3480", "1.1")], live=live, position="1.8")
    assert shrink.rejected == ()
    assert len(grow.rejected) == 1


def test_modify_of_unknown_or_side_changing_order_is_refused(checker):
    live = [order("l1", Side.BUY, "3490", "0.1")]
    unknown = run(checker(), [modify("zz", Side.BUY, "3480", "0.1")], live=live)
    flipped = run(checker(), [modify("l1", Side.SELL, "3510", "0.1")], live=live)
    cancelled = run(checker(), [modify("l1", Side.BUY, "3480", "0.1"), Cancel("l1", "ETH")], live=live)
    assert "unknown order zz" in reasons(unknown)[0]
    assert "cannot change the side" in reasons(flipped)[0]
    assert "unknown order l1" in reasons(cancelled)[0]


def test_modify_with_a_new_cloid_moves_the_order(checker):
    live = [order("l1", Side.BUY, "3490", "0.1")]
    actions = [modify("l1", Side.BUY, "3480", "0.2", new_cloid="l1b"), modify("l1b", Side.BUY, "3470", "0.3")]
    result = run(checker(), actions, live=live)
    assert result.accepted == tuple(actions)


# ------------------------------------------------------------------------------------------------ reduce-only


@pytest.mark.parametrize(
    ("position", "action", "accepted"),
    [
        ("1.0", place("s", Side.SELL, "3510", "0.5"), True),
        ("1.0", place("s", Side.SELL, "3510", "1.0"), True),
        ("1.0", place("s", Side.SELL, "3510", "1.0001"), False),
        ("1.0", place("b", Side.BUY, "3490", "0.1"), False),
        ("-1.0", place("b", Side.BUY, "3490", "0.5"), True),
        ("-1.0", place("s", Side.SELL, "3510", "0.1"), False),
        ("0", place("b", Side.BUY, "3490", "0.1"), False),
        ("0", place("s", Side.SELL, "3510", "0.1"), False),
    ],
)
def test_reduce_only_rejects_what_would_increase_the_position(checker, position, action, accepted):
    result = run(checker(), [action, Cancel("c", "ETH")], position=position, reduce_only=True)
    assert (action in result.accepted) is accepted
    assert Cancel("c", "ETH") in result.accepted
    if not accepted:
        assert "reduce-only" in reasons(result)[0]


def test_reduce_only_applies_to_modifies(checker):
    live = [order("l1", Side.BUY, "3490", "0.1")]
    result = run(checker(), [modify("l1", Side.BUY, "3480", "0.1")], live=live, position="0.5", reduce_only=True)
    assert "reduce-only" in reasons(result)[0]


# ------------------------------------------------------------------------------------------- property (hypothesis)

LIMIT = D("2.0")
sizes = st.integers(min_value=1, max_value=150).map(lambda n: D(n) / 100)
sides = st.sampled_from([Side.BUY, Side.SELL])


def _price(side: Side) -> str:
    return "3400" if side is Side.BUY else "3600"


@st.composite
def scenarios(draw):
    position = D(draw(st.integers(min_value=-300, max_value=300))) / 100
    live = [
        order(f"l{i}", side, _price(side), str(size))
        for i, (side, size) in enumerate(draw(st.lists(st.tuples(sides, sizes), max_size=6)))
    ]
    actions = []
    for i, kind in enumerate(draw(st.lists(st.sampled_from(["place", "modify", "cancel"]), max_size=10))):
        if kind == "place":
            side = draw(sides)
            actions.append(place(f"p{i}", side, _price(side), str(draw(sizes))))
        elif live and kind == "modify":
            target = draw(st.sampled_from(live))
            actions.append(modify(target.cloid, target.side, _price(target.side), str(draw(sizes))))
        elif live:
            actions.append(Cancel(draw(st.sampled_from(live)).cloid, "ETH"))
    return position, live, actions, draw(st.booleans())


def _exposure(live, actions):
    open_size = {o.cloid: (o.side, o.remaining) for o in live}
    for a in actions:
        if isinstance(a, Cancel):
            open_size.pop(a.cloid, None)
    base = dict(open_size)
    for a in actions:
        if isinstance(a, Modify):
            open_size.pop(a.cloid)
            open_size[a.new_cloid or a.cloid] = (a.side, a.size)
        elif isinstance(a, Place):
            open_size[a.cloid] = (a.side, a.size)

    def total(book, side):
        return sum((s for sd, s in book.values() if sd is side), D(0))

    return {side: (total(base, side), total(open_size, side)) for side in Side}


PROPERTY_CHECKER = PreTradeChecker(
    Settings(
        risk=RiskConfig(max_order_notional_usd=1e9, max_open_orders=1000),
        trading=TradingConfig(max_absolute_position_size=float(LIMIT)),
    ),
    AssetRules("ETH", sz_decimals=4),
)


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_accepted_actions_never_let_the_worst_case_position_past_the_limit(scenario):
    position, live, actions, reduce_only = scenario
    chk = PROPERTY_CHECKER
    result = chk.check(actions, live, position, 3500.0, 3499.9, 3500.1, reduce_only=reduce_only)
    assert len(result.accepted) + len(result.rejected) == len(actions)
    for side, (base, after) in _exposure(live, result.accepted).items():
        worst_base = position + side.sign * base
        worst_after = position + side.sign * after
        # Never beyond the limit, or (when the live book already was) never worse than before.
        assert worst_after * side.sign <= max(LIMIT, worst_base * side.sign)
    if reduce_only:
        for a in result.accepted:
            if not isinstance(a, Cancel):
                assert a.side.sign * position < 0 and a.size <= abs(position)


def test_a_refusal_that_repeats_is_logged_once_per_check_every_ten_seconds(checker, caplog) -> None:
    """A size the limit always refuses (every event, for minutes) writes one line per 10 s, not one per event;
    each line says how many refusals it stands for, and every refusal is still returned."""
    chk = checker(max_order_notional_usd=1000.0)
    caplog.set_level(logging.WARNING, logger="mmtool.pretrade")
    refused = 0
    for tick in range(250):  # 25 s, an event every 100 ms
        result = run(chk, [place(f"b{tick}", Side.BUY, "3499", "0.5")], now_ns=tick * 100_000_000)
        refused += len(result.rejected)
    run(chk, [place("x", Side.BUY, "3499", "0.1", asset="BTC")], now_ns=25_000_000_000)  # another check: logged
    lines = [r.getMessage() for r in caplog.records]
    assert refused == 250
    assert len(lines) == 4 and all("above max_order_notional_usd" in line for line in lines[:3])
    assert "more like it" not in lines[0]
    assert all(line.endswith("(+99 more like it since the last)") for line in lines[1:3])
    assert "asset BTC is not ETH" in lines[3] and "more like it" not in lines[3]
