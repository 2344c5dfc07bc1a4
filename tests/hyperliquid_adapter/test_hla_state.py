"""The adapter's own bookkeeping: order registry, fill ledger, the audit function and rate-limit accounting."""

from __future__ import annotations

from decimal import Decimal

import attrs
from hypothesis import given
from hypothesis import strategies as st

from mmtool.core.types import (
    Fill,
    Liquidity,
    Modify,
    OrderStatus,
    OrderUpdate,
    Place,
    Side,
    Tif,
    TriggerKind,
    TriggerSpec,
)
from mmtool.plugins.exchanges.hyperliquid.ratelimit import (
    AddressBudget,
    IpWeights,
    RateLimits,
    action_weight,
    info_weight,
    tolerance_step,
)
from mmtool.plugins.exchanges.hyperliquid.reconcile import ExchangeOrder, audit_orders, claims
from mmtool.plugins.exchanges.hyperliquid.state import FillLedger, OrderRegistry

PREFIX = "0x00000000000000aa"
NS = 1_000_000_000


def cl(n: int, prefix: str = PREFIX) -> str:
    return f"{prefix}{n:016x}"


def place(n: int, price: str = "3500", size: str = "0.1") -> Place:
    return Place(cl(n), "ETH", Side.BUY, Decimal(price), Decimal(size), Tif.ALO)


def upd(cloid: str, status: OrderStatus, **kw: object) -> OrderUpdate:
    return OrderUpdate("ETH", cloid, status, 0, kw.pop("ts", 0), **kw)  # type: ignore[arg-type]


def fill(cloid: str | None, tid: str, size: str, side: Side = Side.BUY, oid: int | None = None) -> Fill:
    return Fill("ETH", cloid, oid, tid, side, Decimal(3500), Decimal(size), Decimal(0), Liquidity.MAKER, 0, 0)


def test_registry_follows_place_ack_fill_and_finish() -> None:
    reg = OrderRegistry()
    reg.placed(place(1), 0)
    reg.apply(upd(cl(1), OrderStatus.RESTING, oid=7, price=Decimal(3500), size=Decimal("0.1")))
    order = reg.get(cl(1))
    assert order is not None and order.acked and order.oid == 7 and reg.cloid_of_oid(7) == cl(1)
    reg.apply_fill(fill(None, "t1", "0.04", oid=7))
    assert reg.get(cl(1)).filled == Decimal("0.04")  # type: ignore[union-attr]
    reg.apply_fill(fill(cl(1), "t2", "0.06"))
    assert reg.get(cl(1)) is None and reg.knows(cl(1)) and reg.cloid_of_oid(7) == cl(1)
    assert PREFIX in reg.prefixes


def test_registry_modify_rekeys_and_retires_the_old_oid() -> None:
    reg = OrderRegistry()
    reg.placed(place(1), 0)
    reg.apply(upd(cl(1), OrderStatus.RESTING, oid=7))
    reg.modify_sent(Modify(cl(1), "ETH", Side.BUY, Decimal(3499), Decimal("0.2"), new_cloid=cl(2)), 1)
    assert reg.get(cl(2)) is reg.get(cl(1))
    reg.apply(upd(cl(2), OrderStatus.RESTING, oid=8, price=Decimal(3499), size=Decimal("0.2")))
    order = reg.get(cl(2))
    assert order is not None and order.cloid == cl(2) and order.price == Decimal(3499) and order.modify is None
    assert 7 in order.retired_oids and reg.cloid_of_oid(8) == cl(2)


def test_registry_failed_modify_and_failed_cancel_keep_the_order() -> None:
    reg = OrderRegistry()
    reg.placed(place(1), 0)
    reg.apply(upd(cl(1), OrderStatus.RESTING, oid=7))
    reg.modify_sent(Modify(cl(1), "ETH", Side.BUY, Decimal(3499), Decimal("0.2"), new_cloid=cl(2)), 1)
    reg.apply(upd(cl(1), OrderStatus.REJECTED, reason="modify: Cannot modify"))
    order = reg.get(cl(1))
    assert order is not None and order.modify is None and order.price == Decimal(3500) and reg.get(cl(2)) is None
    reg.cancel_sent(cl(1), 2)
    reg.apply(upd(cl(1), OrderStatus.RESTING, reason="cancel: Order was never placed"))
    assert reg.get(cl(1)) is not None and not reg.get(cl(1)).cancel_pending  # type: ignore[union-attr]


@given(st.lists(st.tuples(st.integers(0, 30), st.sampled_from(["0.1", "0.2", "1"]), st.booleans()), max_size=60))
def test_fill_ledger_counts_each_trade_id_once(fills: list[tuple[int, str, bool]]) -> None:
    ledger = FillLedger("ETH")
    expected: dict[int, Decimal] = {}
    for tid, size, buy in fills:
        side = Side.BUY if buy else Side.SELL
        accepted = ledger.accept(fill(None, str(tid), size, side))
        assert accepted == (tid not in expected)
        expected.setdefault(tid, Decimal(size) * side.sign)
    assert ledger.position == sum(expected.values(), Decimal(0))


def test_fill_ledger_seed_blocks_and_is_bounded() -> None:
    ledger = FillLedger("ETH", keep=3)
    ledger.seed("a", 10)
    assert not ledger.accept(fill(None, "a", "1")) and ledger.last_fill_ms == 10
    for tid in "bcd":
        ledger.accept(fill(None, tid, "1"))
    assert not ledger.seen("a") and ledger.seen("d")


def listed(cloid: str | None, oid: int, price: str = "3500", size: str = "0.1", coin: str = "ETH") -> ExchangeOrder:
    return ExchangeOrder(coin, oid, Side.BUY, Decimal(price), Decimal(size), cloid)


def test_audit_finds_orphans_missing_and_mismatches() -> None:
    reg = OrderRegistry()
    for n in (1, 2, 3):
        reg.placed(place(n), 0)
        reg.apply(upd(cl(n), OrderStatus.RESTING, oid=n))
    reg.placed(place(4), 9 * NS)  # too recent to judge
    reg.placed(place(5), 0)  # answer still awaited
    found = audit_orders(
        reg,
        [
            listed(cl(1), 1),
            listed(cl(2), 2, price="3400"),
            listed(cl(9), 9),
            listed(None, 10),
            listed(cl(11, "0x00000000000000bb"), 11),
            listed(cl(12), 12, coin="BTC"),
        ],
        asset="ETH",
        now_ns=10 * NS,
        grace_ns=3 * NS,
        in_flight={cl(5)},
    )
    assert [o.oid for o in found.orphans] == [9, 10, 11]
    assert [o.cloid for o in found.missing] == [cl(3)]
    assert [(local.cloid, seen.price) for local, seen in found.mismatched] == [(cl(2), Decimal(3400))]
    assert found.count == 5
    prefix_only = audit_orders(reg, [listed(cl(9), 9), listed(None, 10), listed(cl(11, "0x00000000000000bb"), 11)],
                               asset="ETH", now_ns=10 * NS, grace_ns=3 * NS, scope="prefix")
    assert [o.oid for o in prefix_only.orphans] == [9]
    assert not audit_orders(reg, [listed(cl(9), 9)], asset="ETH", now_ns=10 * NS, grace_ns=0, scope="none").orphans


def test_foreign_trigger_orders_are_kept_and_reported_unless_configured_otherwise() -> None:
    reg = OrderRegistry()
    reg.placed(place(1), 0)
    reg.apply(upd(cl(1), OrderStatus.RESTING, oid=1))
    stop = TriggerSpec(Decimal(3300), True, TriggerKind.STOP_LOSS)
    owners_stop = attrs.evolve(listed(None, 20), trigger=stop)
    owners_take = attrs.evolve(listed("0x" + "cd" * 16, 21), trigger=stop)
    our_old_stop = attrs.evolve(listed(cl(22), 22), trigger=stop)  # one of our prefixes: ours, whatever it is
    owners_limit = listed(None, 23)
    book = [listed(cl(1), 1), owners_stop, owners_take, our_old_stop, owners_limit]
    expected = {  # (scope, foreign_triggers) -> (orphans, kept)
        ("asset", "keep"): ([22, 23], [20, 21]),
        ("asset", "cancel"): ([20, 21, 22, 23], []),
        ("prefix", "keep"): ([22], [20, 21]),
        ("prefix", "cancel"): ([22], [20, 21]),
        ("none", "keep"): ([], [20, 21]),
        ("none", "cancel"): ([], [20, 21]),
    }
    for (scope, foreign), (orphans, kept) in expected.items():
        found = audit_orders(reg, book, asset="ETH", now_ns=10 * NS, grace_ns=0, scope=scope,
                             foreign_triggers=foreign)
        assert [o.oid for o in found.orphans] == orphans, (scope, foreign)
        assert [o.oid for o in found.kept_triggers] == kept, (scope, foreign)
        assert found.count == len(orphans), "a kept trigger is not a discrepancy"
        # What the audit leaves is never claimed by cancel_all either; what it cancels is.
        for order in book[1:]:
            if order.oid in kept:
                assert not claims(order, scope, reg.prefixes, foreign)
            if order.oid in orphans:
                assert claims(order, scope, reg.prefixes, foreign)


def test_audit_spares_recently_finished_orders() -> None:
    reg = OrderRegistry()
    reg.placed(place(1), 0)
    reg.apply(upd(cl(1), OrderStatus.CANCELLED, ts=5 * NS))
    assert not audit_orders(reg, [listed(cl(1), 1)], asset="ETH", now_ns=6 * NS, grace_ns=3 * NS).orphans
    assert audit_orders(reg, [listed(cl(1), 1)], asset="ETH", now_ns=9 * NS, grace_ns=3 * NS).orphans


def test_weights_and_ip_window() -> None:
    assert info_weight("l2Book") == 2 and info_weight("openOrders") == 20 and info_weight("userRole") == 60
    assert action_weight(1) == 1 and action_weight(39) == 1 and action_weight(40) == 2 and action_weight(85) == 3
    now = [0.0]
    ip = IpWeights(100, clock=lambda: now[0])
    ip.spend(60)
    now[0] = 30.0
    ip.spend(30)
    assert ip.used == 90 and ip.delay_for(10) == 0.0 and ip.delay_for(20) == 30.0
    now[0] = 60.0
    assert ip.used == 30 and abs(ip.headroom - 0.7) < 1e-9


def test_address_budget_and_tolerance_multiplier() -> None:
    budget = AddressBudget()
    limits = RateLimits(IpWeights(1200, clock=lambda: 0.0), budget, low_water=1000, max_multiplier=4.0)
    assert limits.tolerance_multiplier() == 1.0
    budget.update({"cumVlm": "2500.5", "nRequestsUsed": 12_000, "nRequestsCap": 12_500})
    assert limits.headroom == 500 and budget.cum_volume == 2500.5
    assert abs(limits.tolerance_multiplier() - 2.5) < 1e-9
    budget.spend(600)
    assert limits.headroom == -100 and limits.tolerance_multiplier() == 4.0
    fresh = RateLimits(IpWeights(100, clock=lambda: 0.0), AddressBudget(), low_water=1000, ip_low_share=0.5)
    fresh.ip.spend(75)
    assert abs(fresh.tolerance_multiplier() - (1 + 3 * 0.5)) < 1e-9


def test_the_announced_tolerance_moves_in_quarter_steps_with_hysteresis() -> None:
    # A budget spent and refilled at the same pace keeps the raw multiplier near a midpoint (1.125): the
    # tolerance stays put instead of flipping between x1.00 and x1.25 every few seconds.
    current, changes = 1.0, 0
    for raw in [1.10, 1.15, 1.12, 1.17, 1.08, 1.13] * 5:
        wanted = tolerance_step(current, raw)
        changes += wanted != current
        current = wanted
    assert current == 1.0 and changes == 0
    assert tolerance_step(1.0, 1.19) == 1.25, "three quarters of a step past it, it moves to the nearest step"
    assert tolerance_step(1.25, 1.08) == 1.25 and tolerance_step(1.25, 1.06) == 1.0
    assert tolerance_step(1.0, 3.9) == 4.0 and tolerance_step(4.0, 1.0) == 1.0, "a big move goes all the way"
