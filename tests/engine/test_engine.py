"""The engine's loop: warm-up, quoting, reconciliation, in-flight rules, reduce-only, kills, bad input."""

from __future__ import annotations

import logging
import math
from decimal import Decimal

import attrs
import pytest

from mmtool.core.components import ComponentContext
from mmtool.core.config import Settings, TradingConfig
from mmtool.core.engine import Engine
from mmtool.core.rounding import AssetRules
from mmtool.core.types import (
    BookLevel,
    BookUpdate,
    Cancel,
    Fill,
    L2Book,
    Ladder,
    Liquidity,
    MidUpdate,
    Modify,
    OrderStatus,
    OrderUpdate,
    Place,
    Quote,
    RiskLevel,
    Side,
    Timer,
    Trade,
    Verdict,
)

NS = 1_000_000_000
RULES = AssetRules("ETH", 4)


def book(mid: float, ts: int, spread: float = 0.2) -> BookUpdate:
    bid = RULES.round_price(mid - spread / 2, Side.BUY)
    ask = RULES.round_price(mid + spread / 2, Side.SELL)
    tick = Decimal("0.1")
    bids = tuple(BookLevel(bid - i * tick, Decimal("5")) for i in range(5))
    asks = tuple(BookLevel(ask + i * tick, Decimal("5")) for i in range(5))
    return BookUpdate("ETH", L2Book(bids, asks), ts, ts)


class FixedStrategy:
    """Quotes one level a side at a fixed distance from the mid (test double)."""

    name = "fixed"
    requires = ()

    def __init__(self, offset: float = 1.0, size: str = "0.1", both_sides: bool = True) -> None:
        self.offset = offset
        self.size = Decimal(size)
        self.both_sides = both_sides
        self.calls = 0

    def quote(self, ctx):
        self.calls += 1
        mid = ctx.params.mid
        bid = Quote(ctx.rules.round_price(mid - self.offset, Side.BUY), self.size)
        ask = Quote(ctx.rules.round_price(mid + self.offset, Side.SELL), self.size)
        return Ladder(bids=(bid,), asks=(ask,))


class CountingWarmup:
    """Warm after ``n`` trades (test double)."""

    name = "count-warmup"
    gates_quoting = True

    def __init__(self, n: int) -> None:
        self.n = n
        self.seen = 0

    def on_event(self, event, market) -> None:
        if isinstance(event, Trade):
            self.seen += 1

    def values(self):
        return {"trades_seen": float(self.seen)}

    @property
    def warmed_up(self) -> bool:
        return self.seen >= self.n


class Broken:
    """Raises on every event (test double)."""

    name = "broken"

    def on_event(self, event, market) -> None:
        raise RuntimeError("boom")

    def values(self):
        return {}

    warmed_up = True


class FixedVerdict:
    """Returns whatever verdict it is told to (test double)."""

    name = "fixed-verdict"

    def __init__(self) -> None:
        self.level = RiskLevel.OK

    def check(self, state) -> Verdict:
        return Verdict(self.level, "test", {}, self.name)


def make_engine(strategy=None, estimators=(), monitors=(), **trading) -> Engine:
    settings = Settings(trading=attrs.evolve(TradingConfig(), **trading))
    ctx = ComponentContext("ETH", RULES, settings)
    return Engine(ctx=ctx, strategy=strategy or FixedStrategy(), estimators=estimators, monitors=monitors)


def ack_all(engine: Engine, actions, ts: int) -> list:
    """Acknowledge every place/modify/cancel as the exchange would, returning what the engine does next."""
    out = []
    for a in actions:
        if isinstance(a, Place | Modify):
            ack = OrderUpdate("ETH", a.cloid, OrderStatus.RESTING, ts, ts, oid=1, price=a.price, size=a.size)
            out += engine.handle(ack)
        elif isinstance(a, Cancel):
            out += engine.handle(OrderUpdate("ETH", a.cloid, OrderStatus.CANCELLED, ts, ts))
    return out


def trade(ts: int, px: str = "3500", tid: str = "t") -> Trade:
    return Trade("ETH", Decimal(px), Decimal("0.5"), Side.BUY, f"{tid}{ts}", ts, ts)


def test_no_quotes_until_warmed_up_then_one_order_a_side():
    engine = make_engine(estimators=[CountingWarmup(2)])
    assert engine.handle(book(3500, 1 * NS)) == []
    assert engine.handle(trade(2 * NS)) == []
    actions = engine.handle(trade(3 * NS))
    places = [a for a in actions if isinstance(a, Place)]
    assert {p.side for p in places} == {Side.BUY, Side.SELL}
    assert all(p.price == RULES.round_price(p.price) for p in places)


def test_target_within_tolerance_sends_nothing_and_in_flight_orders_get_no_action():
    engine = make_engine(max_bps_diff=2.0)
    first = engine.handle(book(3500, NS))
    assert len(first) == 2
    # Not yet acknowledged: a moved market must not produce actions for the in-flight orders.
    assert engine.handle(book(3510, 2 * NS)) == []
    # The acks arrive while the market sits at 3510: the orders are moved there by modify, not replaced.
    follow = ack_all(engine, first, 3 * NS)
    assert len(follow) == 2 and all(isinstance(a, Modify) for a in follow)
    assert ack_all(engine, follow, 4 * NS) == []
    # A move of 0.1 (0.3 bps) stays within the 2 bps tolerance: the orders keep their queue place.
    assert engine.handle(book(3510.1, 5 * NS)) == []
    moved = engine.handle(book(3520, 6 * NS))
    assert len(moved) == 2 and all(isinstance(a, Modify) for a in moved)
    assert {o.price for o in engine.live_orders()} == {Decimal("3509"), Decimal("3511")}, "old prices until acked"


def test_fill_dedup_by_trade_id():
    engine = make_engine()
    actions = engine.handle(book(3500, NS))
    ack_all(engine, actions, 2 * NS)
    bid = next(a for a in actions if isinstance(a, Place) and a.side is Side.BUY)
    fill = Fill("ETH", bid.cloid, 1, "T1", Side.BUY, bid.price, Decimal("0.05"), Decimal("0.01"), Liquidity.MAKER,
                3 * NS, 3 * NS)
    engine.handle(fill)
    engine.handle(fill)
    assert engine.position == Decimal("0.05")
    assert engine.stats.duplicate_fills == 1
    assert engine.orders.get(bid.cloid).status is OrderStatus.PARTIALLY_FILLED


def _odd_values(cloid: str) -> list:
    from mmtool.core.types import Funding, PositionSnapshot

    nan = Decimal("NaN")
    return [
        Fill("ETH", cloid, 1, "T9", Side.BUY, Decimal("3500"), Decimal("0.05"), nan, Liquidity.MAKER, 3 * NS, 3 * NS),
        Funding("ETH", Decimal("0.0001"), nan, 3 * NS, 3 * NS),
        Funding("ETH", Decimal("0.0001"), Decimal("sNaN"), 3 * NS, 3 * NS),
        PositionSnapshot("ETH", Decimal("0.3"), nan, 3 * NS, 3 * NS),
        OrderUpdate("ETH", cloid, OrderStatus.PARTIALLY_FILLED, 3 * NS, 3 * NS, oid=1, filled_size=nan),
        OrderUpdate("ETH", cloid, OrderStatus.RESTING, 3 * NS, 3 * NS, oid=2, price=Decimal("3499"), size=nan),
        OrderUpdate("ETH", cloid, OrderStatus.RESTING, 3 * NS, 3 * NS, oid=2, price=Decimal("1e45"), size=Decimal(1)),
    ]


@pytest.mark.parametrize("index", range(len(_odd_values("x"))))
def test_a_number_that_is_not_sane_anywhere_in_an_event_is_bad_data_and_breaks_nothing(index):
    engine = make_engine()
    actions = engine.handle(book(3500, NS))
    ack_all(engine, actions, 2 * NS)
    bid = next(a for a in actions if isinstance(a, Place) and a.side is Side.BUY)
    event = _odd_values(bid.cloid)[index]
    assert engine.handle(event) == []
    assert engine.stats.bad_events == 1
    for k in range(3):  # and the engine goes on as before
        engine.handle(book(3500 + k, (4 + k) * NS))
    assert engine.orders.get(bid.cloid).status in (OrderStatus.RESTING, OrderStatus.PENDING_CANCEL)
    assert engine.portfolio.snapshot(10 * NS).session == engine.portfolio.snapshot(10 * NS).session  # not NaN


@pytest.mark.parametrize(("price", "size"), [("1e999999", "0.05"), ("3500", "1e999999"), ("3500", "1e-999999"),
                                             ("1e45", "0.3")])
def test_a_fill_outside_float_range_is_counted_as_bad_and_moves_nothing(price, size):
    engine = make_engine()
    engine.handle(book(3500, NS))
    fill = Fill("ETH", "0x" + "0" * 32, 1, "T1", Side.BUY, Decimal(price), Decimal(size), Decimal("0.01"),
                Liquidity.MAKER, 3 * NS, 3 * NS)
    assert engine.handle(fill) == []
    assert engine.position == 0 and engine.stats.bad_events == 1


def test_after_a_kill_reset_the_scaled_limit_is_the_engines_own_limit_too():
    from mmtool.core.types import PositionSnapshot

    engine = make_engine(max_absolute_position_size=0.2)
    ack_all(engine, engine.handle(book(3500, NS)), NS)
    engine.handle(PositionSnapshot("ETH", Decimal("0.12"), Decimal("3500"), NS, NS))  # 60 % of the limit
    engine.risk.kill("test", {}, 2 * NS)
    ack_all(engine, engine.handle(book(3500, 2 * NS)), 2 * NS)
    assert engine.live_orders() == []
    engine.risk.reset(3 * NS)  # re-entry: limits at reentry_fraction (0.5) for a while
    actions = engine.handle(book(3500, 4 * NS))
    assert actions and all(a.side is Side.SELL and a.reduce_only for a in actions if isinstance(a, Place)), actions


def test_reduce_only_enforced_at_limit_even_if_strategy_quotes_both_sides():
    engine = make_engine(max_absolute_position_size=0.1)
    actions = engine.handle(book(3500, NS))
    ack_all(engine, actions, 2 * NS)
    bid = next(a for a in actions if isinstance(a, Place) and a.side is Side.BUY)
    after = engine.handle(Fill("ETH", bid.cloid, 1, "T1", Side.BUY, bid.price, Decimal("0.1"), Decimal(0),
                               Liquidity.MAKER, 3 * NS, 3 * NS))
    after += ack_all(engine, after, 4 * NS)
    after += engine.handle(book(3500, 5 * NS))
    live = engine.live_orders()
    assert live, "the reducing side keeps quoting"
    assert all(o.side is Side.SELL for o in live)
    assert sum(o.remaining for o in live) <= Decimal("0.1")


def test_broken_estimator_kills_and_cancels_everything():
    engine = make_engine()
    actions = engine.handle(book(3500, NS))
    ack_all(engine, actions, 2 * NS)
    engine.estimators.append(Broken())
    out = engine.handle(book(3500, 3 * NS))
    assert engine.killed
    assert engine.stats.component_errors == 1
    assert sorted(type(a).__name__ for a in out) == ["Cancel", "Cancel"]


def test_kill_verdict_cancels_and_stays_latched():
    monitor = FixedVerdict()
    engine = make_engine(monitors=[monitor])
    actions = engine.handle(book(3500, NS))
    ack_all(engine, actions, 2 * NS)
    monitor.level = RiskLevel.KILL
    out = engine.handle(book(3500, 3 * NS))
    assert {type(a) for a in out} == {Cancel}
    monitor.level = RiskLevel.OK
    ack_all(engine, out, 4 * NS)
    assert engine.handle(book(3500, 5 * NS)) == []
    assert engine.killed


def test_pause_withdraws_quotes_and_resumes():
    monitor = FixedVerdict()
    engine = make_engine(monitors=[monitor])
    ack_all(engine, engine.handle(book(3500, NS)), 2 * NS)
    monitor.level = RiskLevel.PAUSE
    out = engine.handle(book(3500, 3 * NS))
    assert {type(a) for a in out} == {Cancel}
    ack_all(engine, out, 4 * NS)
    monitor.level = RiskLevel.OK
    back = engine.handle(book(3500, 5 * NS))
    assert {type(a) for a in back} == {Place}


def _deep_bad(column: str, value: str) -> BookUpdate:
    """A sane touch with one bad price or size three levels down the ask side."""
    asks = [BookLevel(Decimal(3500 + i), Decimal(1)) for i in range(1, 6)]
    asks[3] = attrs.evolve(asks[3], **{column: Decimal(value)})
    return BookUpdate("ETH", L2Book((BookLevel(Decimal("3499"), Decimal(1)),), tuple(asks)), NS, NS)


@pytest.mark.parametrize(
    "bad",
    [
        BookUpdate("ETH", L2Book((), ()), NS, NS),
        BookUpdate("ETH", L2Book((BookLevel(Decimal("3501"), Decimal(1)),), (BookLevel(Decimal("3500"), Decimal(1)),)),
                   NS, NS),
        BookUpdate("ETH", L2Book((BookLevel(Decimal("-1"), Decimal(1)),), (BookLevel(Decimal("3500"), Decimal(1)),)),
                   NS, NS),
        Trade("ETH", Decimal("NaN"), Decimal(1), Side.BUY, "x", NS, NS),
        Trade("ETH", Decimal("0"), Decimal(1), Side.BUY, "x", NS, NS),
        *(_deep_bad(column, value) for column in ("price", "size") for value in ("NaN", "sNaN", "Inf", "-Inf")),
        _deep_bad("size", "-1"),
        _deep_bad("price", "0"),
        # Finite Decimals outside float range: an infinite or zero float, and Decimal overflow, downstream.
        *(_deep_bad(column, value) for column in ("price", "size") for value in ("1e999999", "1e400")),
        _deep_bad("price", "1e-999999"),
        Trade("ETH", Decimal("1e999999"), Decimal(1), Side.BUY, "x", NS, NS),
        Trade("ETH", Decimal("3500"), Decimal("1e-400"), Side.BUY, "x", NS, NS),
        MidUpdate("ETH", Decimal("1e999999"), NS, NS),
        MidUpdate("ETH", Decimal("1e-999999"), NS, NS),
    ],
)
def test_bad_market_data_is_counted_and_skipped(bad):
    engine = make_engine()
    engine.handle(book(3500, NS))
    before = engine.market
    assert engine.handle(bad) == []
    assert engine.stats.bad_events == 1
    assert engine.market == before


def test_a_bad_event_that_repeats_is_logged_once_every_ten_seconds_and_counted_every_time(caplog):
    engine = make_engine()
    engine.handle(book(3500, NS))
    caplog.set_level(logging.WARNING, logger="mmtool.engine")
    empty = L2Book((BookLevel(Decimal("3499"), Decimal(1)),), ())
    for k in range(150):  # 15 s of a book missing its asks, ten a second
        ts = 2 * NS + k * NS // 10
        assert engine.handle(BookUpdate("ETH", empty, ts, ts)) == []
    records = [r for r in caplog.records if r.getMessage() == "Skipped bad event"]
    assert engine.stats.bad_events == 150
    assert [r.fields["more_like_it"] for r in records] == [0, 99]
    assert {r.fields["why"] for r in records} == {"book with an empty side"}


def test_stop_cancels_acknowledged_orders_and_stops_quoting():
    engine = make_engine()
    actions = engine.handle(book(3500, NS))
    ack_all(engine, actions, 2 * NS)
    cancels = engine.stop(3 * NS)
    assert len(cancels) == 2 and all(isinstance(a, Cancel) for a in cancels)
    ack_all(engine, cancels, 4 * NS)
    assert engine.handle(book(3500, 5 * NS)) == []
    assert engine.live_orders() == []


def test_same_events_same_actions():
    def session() -> list:
        engine = make_engine(estimators=[CountingWarmup(1)])
        out = []
        ts = NS
        for i in range(50):
            ts += NS // 10
            acts = engine.handle(book(3500 + (i % 7) * 0.7, ts))
            acts += engine.handle(trade(ts + 1))
            out += acts
            out += ack_all(engine, acts, ts + 2)
            out += engine.handle(Timer(ts + 3, ts + 3))
        return out

    assert session() == session()


def test_commit_after_sending_or_never_gives_the_same_decisions():
    def session(commit: bool) -> tuple[list, list]:
        engine = make_engine(estimators=[CountingWarmup(1)])
        out, stamps = [], []
        ts = NS
        for i in range(40):
            ts += NS // 10
            for event in (book(3500 + (i % 5) * 0.9, ts), trade(ts + 1)):
                acts = engine.handle(event)
                if commit:
                    engine.commit()
                out += acts
                out += ack_all(engine, acts, ts + 2)
        stamps = sorted((o.cloid, o.created_ns) for o in engine.live_orders())
        return out, stamps

    with_commit, without = session(True), session(False)
    assert with_commit == without and len(with_commit[0]) > 4


def test_actions_count_as_in_flight_before_anything_reads_the_orders_stamped_with_their_decision():
    engine = make_engine()
    places = engine.handle(book(3500, NS))
    assert len(places) == 2 and all(isinstance(a, Place) for a in places)
    # Not committed yet: reading the orders records them first, in flight since the decision.
    assert {o.cloid for o in engine.orders.live()} == {p.cloid for p in places}
    assert all(engine.orders.in_flight(p.cloid) for p in places)

    engine = make_engine()
    places = engine.handle(book(3500, NS))
    # stop() at a later time records the decision at its own time, then has nothing acknowledged to cancel.
    assert engine.stop(5 * NS) == []
    assert sorted(o.created_ns for o in engine.live_orders()) == [NS, NS]
    assert engine.stats.orders_placed == 2


class SlowEstimator:
    """Publishes a value but is never warm, and does not gate quoting (test double)."""

    name = "slow"

    def on_event(self, event, market) -> None:
        return None

    def values(self):
        return {"sigma": 123.0}

    warmed_up = False


def test_values_of_cold_estimators_are_withheld_and_only_gates_block_quoting():
    engine = make_engine(estimators=[SlowEstimator()])
    actions = engine.handle(book(3500, NS))
    assert actions, "a cold estimator that does not gate quoting does not stop quoting"
    assert "sigma" not in engine.params.values


def test_position_snapshot_from_the_exchange_overrides_local_arithmetic():
    from mmtool.core.types import PositionSnapshot

    engine = make_engine()
    engine.handle(book(3500, NS))
    engine.handle(PositionSnapshot("ETH", Decimal("0.3"), Decimal("3490"), 2 * NS, 2 * NS))
    assert engine.position == Decimal("0.3")
    assert engine.stats.position_resyncs == 1
    engine.handle(PositionSnapshot("ETH", Decimal("0.3"), Decimal("3490"), 3 * NS, 3 * NS))
    assert engine.stats.position_resyncs == 1, "agreeing snapshots change nothing"
    engine.handle(PositionSnapshot("BTC", Decimal("1"), Decimal("1"), 4 * NS, 4 * NS))
    assert engine.position == Decimal("0.3") and engine.stats.bad_events == 1


def test_requote_tolerance_widens_max_bps_diff_while_the_rate_budget_is_scarce():
    from mmtool.core.types import RequoteTolerance

    engine = make_engine(max_bps_diff=2.0)
    ack_all(engine, engine.handle(book(3500, NS)), 2 * NS)
    engine.handle(RequoteTolerance(4.0, 3 * NS, 3 * NS))
    # 3502 moves the target ~5.7 bps: beyond 2 bps, within 2 x 4 = 8 bps, so the orders keep their place.
    assert engine.handle(book(3502, 4 * NS)) == []
    # Back to the normal tolerance: the very next decision moves both orders.
    moved = engine.handle(RequoteTolerance(1.0, 5 * NS, 5 * NS))
    assert len(moved) == 2 and all(isinstance(a, Modify) for a in moved)
    engine.handle(RequoteTolerance(float("nan"), 7 * NS, 7 * NS))
    assert engine.tolerance_multiplier == 1.0


def test_next_wake_is_when_stale_data_would_warn_then_kill():
    from mmtool.plugins.risk_monitors.market import StaleData

    settings = Settings()
    stale = StaleData.from_config(StaleData.Config(), ComponentContext("ETH", RULES, settings))
    engine = make_engine(monitors=[stale])
    assert engine.next_wake_ns is None, "nothing to wait for before market data"
    engine.handle(book(3500, NS))
    warn_at = NS + math.ceil(settings.risk.warn_fraction * settings.risk.stale_data_secs * NS)
    assert engine.next_wake_ns == warn_at
    engine.handle(Timer(warn_at, warn_at))
    assert engine.verdict.level is RiskLevel.WARN
    kill_at = NS + round(settings.risk.stale_data_secs * NS)
    assert engine.next_wake_ns == kill_at
    engine.handle(Timer(kill_at, kill_at))
    assert engine.killed and engine.next_wake_ns is None


class Deferring:
    """Records when the engine calls it: events, the decision's read of its values, and its after-decision work."""

    name = "deferring"

    def __init__(self, raise_after: bool = False) -> None:
        self.calls: list[str] = []
        self.raise_after = raise_after

    def on_event(self, event, market) -> None:
        self.calls.append(f"event@{event.ts_local_ns // NS}")

    def values(self):
        self.calls.append("values")
        return {}

    def after_decision(self) -> None:
        self.calls.append("after")
        if self.raise_after:
            raise RuntimeError("boom")

    warmed_up = True


def test_after_decision_work_runs_after_the_decision_and_before_the_next_event_with_or_without_commit():
    committed, lazy = Deferring(), Deferring()
    for est, commit in ((committed, True), (lazy, False)):
        engine = make_engine(estimators=[est])
        for s in (1, 2, 3):
            engine.handle(book(3500, s * NS))
            assert est.calls[-1] == "values", "the decision read the values before any after-decision work"
            if commit:
                engine.commit()
                assert est.calls[-1] == "after"
    assert committed.calls == ["event@1", "values", "after", "event@2", "values", "after", "event@3", "values",
                               "after"]
    assert lazy.calls == committed.calls[:-1], "the same order; the last one waits for the next call"
    # An event the engine skips reaches no estimator and makes nothing due.
    engine = make_engine(estimators=[Deferring()])
    engine.handle(book(3500, NS, spread=-0.2))
    engine.commit()
    assert engine.estimators[0].calls == []


def test_after_decision_that_raises_fires_the_kill_switch(caplog):
    engine = make_engine(estimators=[Deferring(raise_after=True)])
    engine.handle(book(3500, NS))
    with caplog.at_level(logging.ERROR):
        engine.commit()
    assert engine.killed and engine.stats.component_errors == 1
    assert any("after_decision" in str(getattr(r, "fields", "")) for r in caplog.records)


def test_a_price_refused_as_crossing_is_not_sent_again_until_a_newer_book():
    engine = make_engine()
    places = engine.handle(book(3500, NS))
    ask = next(a for a in places if a.side is Side.SELL)
    # The market moved through our ask; the exchange refused it. Our book is behind: the ladder wants it again.
    refused = OrderUpdate("ETH", ask.cloid, OrderStatus.REJECTED, 2 * NS, 2 * NS, price=ask.price, size=ask.size,
                          reason="Post only order would have immediately matched", crossed=True)
    assert engine.handle(refused) == [] and engine.stats.crossing_held == 1
    assert engine.handle(Timer(3 * NS, 3 * NS)) == [], "held until a book says where the market is"
    again = engine.handle(book(3500, 4 * NS))
    assert [(a.side, a.price) for a in again] == [(Side.SELL, ask.price)], "a newer book: quoted again"

    # A rejection for another reason is re-sent at once (as before).
    engine = make_engine()
    places = engine.handle(book(3500, NS))
    ask = next(a for a in places if a.side is Side.SELL)
    other = OrderUpdate("ETH", ask.cloid, OrderStatus.REJECTED, 2 * NS, 2 * NS, price=ask.price, size=ask.size,
                        reason="Insufficient margin to place order.")
    assert [(a.side, a.price) for a in engine.handle(other)] == [(Side.SELL, ask.price)]
    assert engine.stats.crossing_held == 0


def test_a_modify_refused_as_crossing_holds_that_price_and_nothing_else():
    engine = make_engine()
    places = engine.handle(book(3500, NS))
    ack_all(engine, places, NS)
    moved = engine.handle(book(3501, 2 * NS))  # the ladder moves one tick up: both orders are modified
    bid_move = next(a for a in moved if isinstance(a, Modify) and a.side is Side.BUY)
    ask_move = next(a for a in moved if isinstance(a, Modify) and a.side is Side.SELL)
    ack_all(engine, [ask_move], 2 * NS)
    refused = OrderUpdate("ETH", bid_move.cloid, OrderStatus.REJECTED, 3 * NS, 3 * NS,
                          reason="modify: Post only order would have immediately matched", crossed=True)
    assert engine.handle(refused) == [], "the bid's new price is held; the ask already rests where it should"
    order = next(o for o in engine.live_orders() if o.side is Side.BUY)
    assert order.price < bid_move.price, "the bid still rests at its old price"
    assert engine.handle(Timer(4 * NS, 4 * NS)) == [] and engine.stats.crossing_held == 2
    # The next book clears the hold: the bid moves to where that book puts it.
    lower = engine.handle(book(3499, 5 * NS))
    assert any(isinstance(a, Modify) and a.side is Side.BUY and a.price < bid_move.price for a in lower)
