"""The journal: what a session wrote, deduplicated fills, bad and concurrent writes, and start-up recovery."""

from __future__ import annotations

import asyncio
import json
import math
import sqlite3
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from venue_doubles import FlatVenue

from mmtool.cli import main
from mmtool.core.config_loader import load_settings
from mmtool.core.plugins import load_registry
from mmtool.core.runner import RunObserver, RunOptions
from mmtool.core.session import run_session
from mmtool.core.types import Fill, Liquidity, Place, Position, Side, Tif, TriggerKind, TriggerSpec
from mmtool.observe.hub import ObserveHub
from mmtool.observe.journal import Journal, JournalError, JournalObserver, connect, recover
from mmtool.observe.report import build_report
from mmtool.observe.wiring import _open_journal

from .conftest import Observed

SUMMARY_KEYS = ("fills", "volume", "position", "realized_pnl", "unrealized_pnl", "total_pnl", "fees", "funding",
                "orders_placed", "orders_modified", "orders_cancelled", "orders_rejected", "kill_switch_events",
                "stop_reason", "strategy", "asset", "network", "seed", "duration")


def fill(trade_id: str, side: Side = Side.BUY, size: str = "0.1", ts: int = 10, asset: str = "ETH") -> Fill:
    return Fill(asset, "c1", 1, trade_id, side, Decimal("3500.5"), Decimal(size), Decimal("0.05"),
                Liquidity.MAKER, ts, ts)


def open_journal(path: Path, network: str = "testnet", start: str = "0", account: str = "") -> Journal:
    journal = Journal(path)
    journal.open_session(network=network, asset="ETH", strategy="glft", seed=None, started_ns=0,
                         start_position=Decimal(start), start_entry=Decimal("3500"), adverse_horizon_s=5.0,
                         capital_usd=1000.0, account=account)
    return journal


def test_report_agrees_with_the_summary(observed: Observed) -> None:
    report = build_report(observed.journal_path)
    for key in SUMMARY_KEYS:
        assert report[key] == observed.summary[key], key
    assert report["clean"] is True
    assert sum(report["fills_by_side"].values()) == sum(report["fills_by_depth"].values()) == report["fills"]
    assert report["markouts_bps"]["count"] > 0
    result = CliRunner().invoke(main, ["report", "--journal", str(observed.journal_path)])
    assert result.exit_code == 0, result.output
    assert f"fills: {observed.summary['fills']} " in result.output
    assert "split: spread capture" in result.output
    listed = CliRunner().invoke(main, ["report", "--journal", str(observed.journal_path), "--list"])
    assert "duration reached" in listed.output


def test_every_fill_of_the_session_is_journaled_once(observed: Observed) -> None:
    conn = connect(observed.journal_path, readonly=True)
    rows = conn.execute("SELECT trade_id, mid, mid_h FROM fills").fetchall()
    assert len(rows) == observed.summary["fills"] == len({r["trade_id"] for r in rows})
    assert all(r["mid"] is not None for r in rows)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


def test_a_replayed_fill_is_not_doubled(tmp_path: Path) -> None:
    journal = open_journal(tmp_path / "j.sqlite")
    assert journal.add_fill(fill("t1"), mid=Decimal("3500"), position_after=Decimal("0.1"))
    assert not journal.add_fill(fill("t1"), mid=Decimal("3500"), position_after=Decimal("0.1"))
    journal.commit()
    assert journal.conn.execute("SELECT COUNT(*) FROM fills").fetchone()[0] == 1
    journal.close()


def test_bad_writes_are_refused(tmp_path: Path) -> None:
    journal = open_journal(tmp_path / "j.sqlite")
    with pytest.raises(sqlite3.IntegrityError):
        journal.conn.execute("INSERT INTO fills (venue, trade_id, session_id, asset, ts_exchange_ns, ts_local_ns,"
                             " side, price, size, fee, liquidity) VALUES ('x', 't', 1, 'ETH', 0, 0, 'up', '1', '1',"
                             " '0', 'maker')")
    with pytest.raises(sqlite3.IntegrityError):
        journal.conn.execute("INSERT INTO actions (session_id, ts_ns, kind, cloid) VALUES (99, 0, 'place', 'c')")
    journal.close()
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"this is not a database" * 100)
    with pytest.raises(JournalError, match="cannot open the journal"):
        Journal(garbage)


def test_one_run_per_journal_and_concurrent_writers_do_not_double(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = open_journal(path)
    with pytest.raises(JournalError, match="in use by another mmtool run"):
        Journal(path)
    journal.close()
    # Below the lock, SQLite itself serialises writers: several connections replaying the same fills at once
    # leave each fill exactly once, and a reader sees consistent counts meanwhile (WAL).
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            conn = connect(path)
            for i in range(200):
                conn.execute("INSERT OR IGNORE INTO fills (venue, trade_id, session_id, asset, ts_exchange_ns,"
                             " ts_local_ns, side, price, size, fee, liquidity) VALUES ('testnet', ?, 1, 'ETH', 0, 0,"
                             " 'buy', '1', '1', '0', 'maker')", (str(i),))
                conn.commit()
            conn.close()
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    reader = connect(path, readonly=True)
    seen = [reader.execute("SELECT COUNT(*) FROM fills").fetchone()[0] for _ in range(50)]
    for t in threads:
        t.join()
    assert errors == []
    assert seen == sorted(seen)
    assert reader.execute("SELECT COUNT(*) FROM fills").fetchone()[0] == 200
    reader.close()


def test_recovery_adds_missing_fills_and_compares_positions(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = open_journal(path, start="0.5")
    journal.add_fill(fill("t1"), mid=None, position_after=None)
    journal.commit()
    journal.close()  # crashed: no close_session
    journal = Journal(path)
    exchange = [fill("t1"), fill("t2", Side.SELL, "0.3"), fill("t3", ts=-5), fill("t4", asset="BTC")]
    result = recover(journal, "testnet", "ETH", exchange, Position("ETH", Decimal("0.3")))
    assert result.crashed_sessions == (1,)
    assert result.recovered_fills == 1  # t2: t1 is known, t3 predates the session, t4 is another asset
    assert result.journal_position == Decimal("0.3")  # 0.5 + 0.1 - 0.3
    assert not result.discrepancy
    assert recover(journal, "testnet", "ETH", exchange, Position("ETH", Decimal("0.4"))).discrepancy
    row = journal.conn.execute("SELECT stop_reason, clean FROM sessions WHERE id = 1").fetchone()
    assert (row["stop_reason"], row["clean"]) == ("crashed", 0)
    assert journal.conn.execute("SELECT source FROM fills WHERE trade_id = 't2'").fetchone()[0] == "recovered"
    journal.close()
    assert build_report(path, 1)["recovered_fills"] == 1


def test_each_account_is_its_own_venue(tmp_path: Path) -> None:
    """Two accounts on one network: one's position is never compared with the other's, and the two sides of a
    trade between them (one trade id) are two fills."""
    path = tmp_path / "j.sqlite"
    alice, bob = "0x" + "a1" * 20, "0x" + "b0" * 20
    journal = open_journal(path, start="0.5", account=alice)
    assert journal.venue == f"testnet:{alice}"
    assert journal.add_fill(fill("t1"), mid=None, position_after=None)
    journal.commit()
    journal.close()
    journal = open_journal(path, account=bob)
    assert journal.add_fill(fill("t1", Side.SELL), mid=None, position_after=None), "bob's side of the same trade"
    journal.commit()
    journal.close()
    journal = Journal(path)
    # Bob's last session ended at -0.1; Alice's at 0.6. Each is compared with its own account only.
    assert not recover(journal, "testnet", "ETH", [], Position("ETH", Decimal("-0.1")), account=bob).discrepancy
    assert not recover(journal, "testnet", "ETH", [], Position("ETH", Decimal("0.6")), account=alice).discrepancy
    assert recover(journal, "testnet", "ETH", [], Position("ETH", Decimal("0.6")), account=bob).discrepancy
    carol = recover(journal, "testnet", "ETH", [], Position("ETH", Decimal(3)), account="0x" + "c4" * 20)
    assert not carol.discrepancy and carol.journal_position is None, "no earlier session of this account"
    assert journal.conn.execute("SELECT COUNT(*) FROM fills WHERE trade_id = 't1'").fetchone()[0] == 2
    journal.close()


def test_a_failing_journal_fires_the_kill_switch(tmp_path: Path) -> None:
    settings = load_settings(None, overrides={"plugins.sim.speed": math.inf, "plugins.sim.seed": 3}, env={})
    journal = Journal(tmp_path / "j.sqlite")
    hub = ObserveHub("ETH")

    class Breaker(RunObserver):
        name = "breaker"

        def __init__(self) -> None:
            self.events = 0

        def on_event(self, engine, event, actions, latency_ns) -> None:
            self.events += 1
            if self.events == 500:
                journal.conn.close()  # the disk went away

    observers = [Breaker(), JournalObserver(journal, hub, network="sim")]
    outcome = asyncio.run(run_session(settings, load_registry(), RunOptions(duration_s=120), observers=observers))
    assert outcome.summary["stop_reason"].startswith("kill switch: journal write failed")
    assert hub.journal_errors >= 1
    journal.close()


def test_a_trigger_order_is_journaled_with_its_trigger(tmp_path: Path) -> None:
    journal = open_journal(tmp_path / "j.sqlite")
    stop = TriggerSpec(Decimal("3400"), True, TriggerKind.STOP_LOSS)
    journal.add_actions(5, [
        Place("0x" + "1" * 32, "ETH", Side.SELL, Decimal("3230"), Decimal("0.5"), Tif.GTC, True, stop),
        Place("0x" + "2" * 32, "ETH", Side.BUY, Decimal("3499"), Decimal("0.5")),
    ])
    journal.commit()
    rows = journal.conn.execute("SELECT cloid, trigger FROM actions ORDER BY cloid").fetchall()
    assert json.loads(rows[0]["trigger"]) == {"px": "3400", "market": True, "kind": "sl"}
    assert rows[1]["trigger"] is None
    journal.close()


def test_a_journal_from_before_trigger_orders_gains_the_column(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    old = sqlite3.connect(path)
    old.executescript(
        "CREATE TABLE actions (id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL, ts_ns INTEGER NOT NULL,"
        " kind TEXT NOT NULL, cloid TEXT NOT NULL, new_cloid TEXT, side TEXT, price TEXT, size TEXT, tif TEXT,"
        " reduce_only INTEGER);"
        "INSERT INTO actions (session_id, ts_ns, kind, cloid) VALUES (1, 0, 'cancel', 'c');"
    )
    old.commit()
    old.close()
    conn = connect(path)
    columns = {row[1] for row in conn.execute("PRAGMA table_info(actions)")}
    assert "trigger" in columns
    assert conn.execute("SELECT cloid, trigger FROM actions").fetchone()[:] == ("c", None)
    conn.close()


def test_background_checkpoints_copy_the_log_back_off_the_commit_path(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite"
    journal = Journal(path, checkpoint_secs=0.05)
    assert journal.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0, "no checkpoint inside a commit"
    assert journal.checkpointer is not None
    journal.open_session(network="testnet", asset="ETH", strategy="glft", seed=None, started_ns=0,
                         start_position=Decimal(0), start_entry=Decimal("3500"), adverse_horizon_s=5.0,
                         capital_usd=1000.0)
    before = path.stat().st_size
    runs = journal.checkpointer.runs
    for i in range(300):
        journal.add_fill(fill(f"t{i}"), mid=Decimal("3500"), position_after=Decimal("0.1"))
        journal.commit()
    assert path.stat().st_size == before, "the commits only appended to the log"
    deadline = threading.Event()
    for _ in range(100):
        if journal.checkpointer.runs >= runs + 2:
            break
        deadline.wait(0.05)
    assert path.stat().st_size > before, "the background thread copied the log into the file"
    assert journal.checkpointer.errors == 0
    thread = journal.checkpointer._thread
    journal.close()
    assert not thread.is_alive()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT COUNT(*) FROM fills").fetchone()[0] == 300


def test_without_checkpoint_secs_sqlite_checkpoints_as_usual(tmp_path: Path) -> None:
    journal = open_journal(tmp_path / "j.sqlite")
    assert journal.checkpointer is None
    assert journal.conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 1000
    journal.close()
    # A run's journal checkpoints in the background by default.
    run_journal = _open_journal(load_settings(None, overrides={}), tmp_path / "run.sqlite", True)
    assert run_journal is not None and run_journal.checkpointer is not None
    assert run_journal.checkpointer.interval_s == 10.0
    run_journal.close()


class _Quoter:
    """One level a side, 1 USD from the mid (test double)."""

    name = "quoter"

    def quote(self, ctx):
        from mmtool.core.types import Ladder, Quote

        mid = ctx.params.mid
        return Ladder(bids=(Quote(ctx.rules.round_price(mid - 1.0, Side.BUY), Decimal("0.1")),),
                      asks=(Quote(ctx.rules.round_price(mid + 1.0, Side.SELL), Decimal("0.1")),))


class _Venue(FlatVenue):
    """Replays books on a simulated clock; at each ``submit`` notes how many actions the journal already holds."""

    name = "venue"

    def __init__(self, journal: Journal, books: list) -> None:
        from mmtool.core.clock import ManualClock

        self.clock = ManualClock(books[0].ts_local_ns)
        self.journal = journal
        self.books = books
        self.seen_at_submit: list[tuple[int, int]] = []
        self.answers: list = []

    async def events(self):
        for book in self.books:
            self.clock.advance_to(book.ts_local_ns)
            yield book
            while self.answers:  # every action is acknowledged, so the next book moves the orders
                yield self.answers.pop(0)

    async def submit(self, actions) -> None:
        from mmtool.core.types import Cancel, OrderStatus, OrderUpdate

        rows = self.journal.conn.execute("SELECT COUNT(*) FROM actions").fetchone()[0]
        self.seen_at_submit.append((len(actions), rows))
        now = self.clock.now_ns()
        for a in actions:
            if isinstance(a, Cancel):
                self.answers.append(OrderUpdate("ETH", a.cloid, OrderStatus.CANCELLED, now, now))
            else:
                cloid = getattr(a, "new_cloid", None) or a.cloid
                self.answers.append(OrderUpdate("ETH", cloid, OrderStatus.RESTING, now, now, oid=1, price=a.price,
                                                size=a.size))


@pytest.mark.parametrize("write_ahead", [True, False])
def test_write_ahead_commits_each_batch_before_it_leaves_and_write_behind_right_after(
    tmp_path: Path, write_ahead: bool
) -> None:
    from mmtool.core.components import ComponentContext
    from mmtool.core.config import Settings
    from mmtool.core.engine import Engine
    from mmtool.core.rounding import AssetRules
    from mmtool.core.runner import Runner
    from mmtool.core.types import BookLevel, BookUpdate, L2Book

    def book(mid: int, ts: int) -> BookUpdate:
        bids = (BookLevel(Decimal(mid) - Decimal("0.1"), Decimal(5)),)
        asks = (BookLevel(Decimal(mid) + Decimal("0.1"), Decimal(5)),)
        return BookUpdate("ETH", L2Book(bids, asks), ts, ts)

    settings = Settings()
    engine = Engine(ctx=ComponentContext("ETH", AssetRules("ETH", 4), settings), strategy=_Quoter())
    journal = Journal(tmp_path / "j.sqlite")
    observer = JournalObserver(journal, ObserveHub("ETH"), network="sim", write_ahead=write_ahead)
    assert observer.before_send is write_ahead
    venue = _Venue(journal, [book(3500 + 2 * i, (i + 1) * 1_000_000_000) for i in range(5)])
    asyncio.run(Runner(engine, venue, RunOptions(), observers=[observer]).run())  # type: ignore[arg-type]
    sent = 0
    for n, rows in venue.seen_at_submit:
        # Write-ahead: this batch is in the journal when it is handed over; write-behind: only the earlier ones.
        assert rows == (sent + n if write_ahead else sent)
        sent += n
    assert len(venue.seen_at_submit) >= 3
    assert journal.conn.execute("SELECT COUNT(*) FROM actions").fetchone()[0] == sent, "every batch recorded"
    journal.close()
