"""The parts of ``mmtool parity``: book adjustment, our orders over time, fill matching, causes, journal reading."""

from __future__ import annotations

import sqlite3
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from mmtool.backtest.parity import (
    ParityError,
    _unmatched_cause,
    ack_delays_ns,
    add_orders,
    find_journal,
    load_session,
    match_fills,
    remove_orders,
    replay_settings,
    resting_at,
)
from mmtool.cli import main
from mmtool.core.config_loader import load_settings
from mmtool.core.types import (
    BookLevel,
    Cancel,
    Fill,
    L2Book,
    Liquidity,
    Modify,
    Order,
    OrderStatus,
    OrderUpdate,
    Place,
    Side,
)
from mmtool.observe.journal import Journal, session_settings

D = Decimal
BOOK = L2Book(
    (BookLevel(D("100.0"), D("1.5"), 3), BookLevel(D("99.9"), D("0.2"), 1)),
    (BookLevel(D("100.1"), D("0.7"), 2), BookLevel(D("100.2"), D("2"), 4)),
)


def _fill(tid: str, side: Side, price: str, ts_ms: int, *, size: str = "0.1", cloid: str | None = None,
          liquidity: Liquidity = Liquidity.MAKER) -> Fill:
    return Fill("ETH", cloid, None, tid, side, D(price), D(size), D("0.01"), liquidity, ts_ms * 1_000_000,
                ts_ms * 1_000_000)


def test_remove_orders_takes_our_size_and_count_out_and_drops_emptied_levels() -> None:
    ours = [(Side.BUY, D("100.0"), D("0.5")), (Side.BUY, D("99.9"), D("0.2")), (Side.SELL, D("100.2"), D("1"))]
    book, changed = remove_orders(BOOK, ours)
    assert changed == 3
    assert book.bids == (BookLevel(D("100.0"), D("1.0"), 2),)
    assert book.asks == (BookLevel(D("100.1"), D("0.7"), 2), BookLevel(D("100.2"), D("1"), 3))
    assert remove_orders(BOOK, []) == (BOOK, 0)


def test_add_orders_is_the_inverse_and_opens_new_levels_in_price_order() -> None:
    ours = [(Side.BUY, D("100.0"), D("0.5")), (Side.SELL, D("100.15"), D("0.3")), (Side.BUY, D("99.95"), D("1"))]
    book = add_orders(BOOK, ours)
    assert [lv.price for lv in book.bids] == [D("100.0"), D("99.95"), D("99.9")]
    assert [lv.price for lv in book.asks] == [D("100.1"), D("100.15"), D("100.2")]
    assert book.bids[0] == BookLevel(D("100.0"), D("2.0"), 4)
    assert remove_orders(book, ours)[0] == BOOK


def _records() -> list[tuple[int, int, int, object]]:
    items: list[tuple[int, int, object]] = [
        (10, 1, Place("c1", "ETH", Side.BUY, D("100"), D("1"))),
        (10, 1, Place("c2", "ETH", Side.SELL, D("101"), D("1"))),
        (25, 0, OrderUpdate("ETH", "c1", OrderStatus.RESTING, 25, 25, oid=1, price=D("100"), size=D("1"))),
        (30, 0, OrderUpdate("ETH", "c2", OrderStatus.REJECTED, 30, 30, reason="post only")),
        (40, 0, _fill("t1", Side.BUY, "100", 0, size="0.4", cloid="c1")),
        (50, 1, Modify("c1", "ETH", Side.BUY, D("99.5"), D("0.6"), new_cloid="c3")),
        (70, 0, OrderUpdate("ETH", "c3", OrderStatus.RESTING, 70, 70, oid=2, price=D("99.5"), size=D("0.6"))),
        (80, 1, Cancel("c3", "ETH")),
        (95, 0, OrderUpdate("ETH", "c3", OrderStatus.CANCELLED, 95, 95)),
    ]
    return [(ts, phase, i, item) for i, (ts, phase, item) in enumerate(items)]


def test_our_orders_over_time_follow_acks_fills_modifies_and_cancels() -> None:
    at = resting_at(_records(), [5, 20, 30, 45, 60, 75, 90, 100])

    def view(ts: int) -> list[tuple[Side, Decimal, Decimal]]:
        return [(o.side, o.price, o.remaining) for o in at[ts]]

    assert view(5) == view(20) == [], "not in the book before its ack"
    assert view(30) == [(Side.BUY, D("100"), D("1"))], "the rejected place never rested"
    assert view(45) == view(60) == [(Side.BUY, D("100"), D("0.6"))], "a fill reduces it; a modify waits for its ack"
    assert view(75) == view(90) == [(Side.BUY, D("99.5"), D("0.6"))], "a cancel in flight still rests"
    assert view(100) == []


def test_ack_delay_is_the_first_answer_after_each_place() -> None:
    assert ack_delays_ns(_records()) == [15, 20]


def test_fills_match_by_side_price_and_time_closest_first() -> None:
    live = [_fill("a", Side.BUY, "100", 1000), _fill("b", Side.SELL, "101", 2000), _fill("c", Side.BUY, "99", 5000)]
    backtest = [
        _fill("x", Side.BUY, "100.01", 1300),  # 1 bps, 0.3 s away: matches a
        _fill("y", Side.BUY, "100", 1900),  # same price but further: left over
        _fill("z", Side.SELL, "101", 2040),  # matches b
        _fill("w", Side.BUY, "98", 5000),  # 100 bps away from c: no match
    ]
    pairs = match_fills(live, backtest, 1_000_000_000, 5.0)
    matched = {(p.live.trade_id, p.backtest.trade_id) for p in pairs if p.live and p.backtest}
    assert matched == {("a", "x"), ("b", "z")}
    assert sorted(p.live.trade_id for p in pairs if p.backtest is None and p.live) == ["c"]
    assert sorted(p.backtest.trade_id for p in pairs if p.live is None and p.backtest) == ["w", "y"]
    ab = next(p for p in pairs if p.live and p.live.trade_id == "a")
    assert ab.shift_ns == 300_000_000 and ab.price_diff_bps == pytest.approx(-1.0)


def test_an_unmatched_fill_is_queue_when_the_other_run_rested_as_well_or_better() -> None:
    fill = _fill("a", Side.BUY, "100", 0)

    def order(side: Side, price: str) -> Order:
        return Order("c", "ETH", side, D(price), D("1"), OrderStatus.RESTING, oid=1)

    assert _unmatched_cause(fill, [order(Side.BUY, "100")]) == "queue"
    assert _unmatched_cause(fill, [order(Side.BUY, "100.5")]) == "queue", "a better bid was not filled either"
    assert _unmatched_cause(fill, [order(Side.BUY, "99.9"), order(Side.SELL, "100")]) == "quotes"
    taker = _fill("t", Side.BUY, "100", 0, liquidity=Liquidity.TAKER)
    assert _unmatched_cause(taker, [order(Side.BUY, "100")]) == "quotes"


def test_find_journal_takes_a_file_or_a_directory_with_exactly_one(tmp_path: Path) -> None:
    with pytest.raises(ParityError, match="found none"):
        find_journal(tmp_path)
    (tmp_path / "a.sqlite").write_bytes(b"")
    assert find_journal(tmp_path) == tmp_path / "a.sqlite" == find_journal(tmp_path / "a.sqlite")
    (tmp_path / "b.sqlite").write_bytes(b"")
    with pytest.raises(ParityError, match="a.sqlite, b.sqlite"):
        find_journal(tmp_path)
    with pytest.raises(ParityError, match="no such file"):
        find_journal(tmp_path / "missing")


def _journal(path: Path, settings: dict | None = None) -> None:
    journal = Journal(path)
    journal.open_session(network="localhost", asset="BTC", strategy="glft", seed=None, started_ns=1,
                         start_position=D(0), start_entry=D(0), adverse_horizon_s=5.0, capital_usd=1000.0,
                         settings=settings)
    journal.close()


def test_session_settings_keep_only_what_a_replay_needs_and_come_back_from_the_journal(tmp_path: Path) -> None:
    settings = load_settings(None, env={}, overrides={
        "plugins.glft-ladder.min_spread_bps": 3.0, "plugins.webhook.url": "https://hooks.example.com/secret",
        "strategy.ladder.num_levels": 3,
    })
    stored = session_settings(settings)
    assert set(stored) == {"trading", "strategy", "risk", "plugins"}
    assert stored["plugins"] == {"glft-ladder": {"min_spread_bps": 3.0}}, "no other table, so no secret"
    _journal(tmp_path / "j.sqlite", stored)
    replayed, source = replay_settings(load_settings(None, env={}), load_session(tmp_path / "j.sqlite"))
    assert source == "journal" and replayed.strategy.ladder.num_levels == 3
    assert replayed.plugins["glft-ladder"] == {"min_spread_bps": 3.0} and replayed.trading == settings.trading


def test_a_journal_from_before_stored_settings_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    _journal(path)
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE sessions DROP COLUMN settings")  # as written by the first schema
    conn.commit()
    conn.close()
    session = load_session(path)
    assert session.settings is None and session.asset == "BTC" and session.ended_ns == 1
    settings, source = replay_settings(load_settings(None, env={}), session)
    assert source == "config" and settings.strategy.strategy_type == "glft" and settings.trading.asset == "BTC"
    Journal(path).close()  # opening it for writing adds the column back
    conn = sqlite3.connect(path)
    assert "settings" in {row[1] for row in conn.execute("PRAGMA table_info(sessions)")}
    conn.close()


def test_the_command_reports_a_missing_journal_cleanly(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    result = CliRunner().invoke(main, ["parity", "--journal", str(tmp_path / "nope"), "--data", str(tmp_path / "data")])
    assert result.exit_code != 0 and "no such file or directory" in result.output
