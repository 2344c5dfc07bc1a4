"""The journal: every order action, order update, fill, funding payment and kill of a session, in SQLite.

One file holds many sessions (one per ``mmtool run``); WAL mode lets ``mmtool report`` read while a run
writes. The journal observer writes in ``on_event``, which runs after the engine decided and before the
actions are submitted, and commits at once when the event was a fill, a funding payment or a kill, or when
actions are about to be sent; order updates alone are committed at least every ``commit_interval_ms`` of
event time. So a fill the engine saw is durable before any later action leaves, and a SIGKILL loses at most
the event being handled (which the exchange's fill history gives back at the next start, see
:func:`recover`). Fills are keyed by ``(venue, trade_id)``, so replaying a fill cannot double it. Money is
stored as decimal text, exactly.

Actions are written in ``on_submit``, which the runner calls for every batch just before it leaves (the
cancels of the shutdown and a flatten after a kill included), each batch committed before it is sent.

With ``journal.write_ahead = false`` the runner calls both hooks right after the batch was handed to the exchange
adapter instead, before it handles the next event: the journal's write and commit (0.1-0.25 ms a batch) leave
the order path, and a crash can lose the rows of the last event and batch. The exchange keeps what matters: its
fill history gives the fills back at the next start, and the audit cancels the orders of a batch nobody
recorded (our cloid prefix).

A venue is the exchange account the fills belong to: ``<network>:<account>`` for a live network (the adapter's
``account_id``; the network alone for an adapter without one), and ``sim-session-<id>`` on the simulator, whose
exchange lives and dies with its process. Two accounts on one network are two venues: their positions are never
compared with each other, and the two sides of a trade between them are two fills.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import sqlite3
from collections.abc import Iterable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from mmtool.core.config_loader import make_config_converter
from mmtool.core.errors import MmtoolError
from mmtool.core.rounding import to_decimal
from mmtool.core.runner import RunObserver
from mmtool.core.summary import build_summary
from mmtool.core.types import Cancel, Fill, Funding, Modify, OrderUpdate, Place, Side
from mmtool.observe.checkpoint import Checkpointer

if TYPE_CHECKING:
    from mmtool.core.components import ExchangeAdapter
    from mmtool.core.config import Settings
    from mmtool.core.engine import Engine
    from mmtool.core.runner import RunResult
    from mmtool.core.types import Action, Event, Position
    from mmtool.observe.hub import ObserveHub
    from mmtool.observe.pnl_attribution import PnlAttribution

log = logging.getLogger("mmtool.journal")

SCHEMA_VERSION = 1
NS = 1_000_000_000
SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    venue TEXT NOT NULL, network TEXT NOT NULL, asset TEXT NOT NULL, strategy TEXT NOT NULL, seed INTEGER,
    started_ns INTEGER NOT NULL, ended_ns INTEGER, last_ts_ns INTEGER NOT NULL,
    start_position TEXT NOT NULL, start_entry TEXT NOT NULL, last_mid TEXT,
    adverse_horizon_s REAL NOT NULL, capital_usd REAL NOT NULL,
    stop_reason TEXT, clean INTEGER, summary TEXT, pnl_split TEXT, settings TEXT
);
CREATE TABLE IF NOT EXISTS actions (
    id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL REFERENCES sessions(id), ts_ns INTEGER NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('place', 'modify', 'cancel')), cloid TEXT NOT NULL, new_cloid TEXT,
    side TEXT, price TEXT, size TEXT, tif TEXT, reduce_only INTEGER, trigger TEXT
);
CREATE TABLE IF NOT EXISTS order_updates (
    id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL REFERENCES sessions(id), ts_ns INTEGER NOT NULL,
    cloid TEXT NOT NULL, oid INTEGER, status TEXT NOT NULL, price TEXT, size TEXT, filled_size TEXT, reason TEXT
);
CREATE TABLE IF NOT EXISTS fills (
    venue TEXT NOT NULL, trade_id TEXT NOT NULL, session_id INTEGER NOT NULL REFERENCES sessions(id),
    asset TEXT NOT NULL, ts_exchange_ns INTEGER NOT NULL, ts_local_ns INTEGER NOT NULL, cloid TEXT, oid INTEGER,
    side TEXT NOT NULL CHECK (side IN ('buy', 'sell')), price TEXT NOT NULL, size TEXT NOT NULL,
    fee TEXT NOT NULL, liquidity TEXT NOT NULL, mid TEXT, mid_h TEXT, position_after TEXT,
    source TEXT NOT NULL DEFAULT 'live',
    PRIMARY KEY (venue, trade_id)
);
CREATE TABLE IF NOT EXISTS funding (
    id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL REFERENCES sessions(id), ts_ns INTEGER NOT NULL,
    rate TEXT NOT NULL, payment TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS kills (
    id INTEGER PRIMARY KEY, session_id INTEGER NOT NULL REFERENCES sessions(id), ts_ns INTEGER NOT NULL,
    monitor TEXT NOT NULL, reason TEXT NOT NULL, figures TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS fills_by_session ON fills (session_id, ts_local_ns);
CREATE INDEX IF NOT EXISTS actions_by_session ON actions (session_id);
CREATE INDEX IF NOT EXISTS updates_by_session ON order_updates (session_id);
"""


class JournalError(MmtoolError):
    """The journal cannot be opened or is in use by another run."""


def journal_path(template: str, network: str, asset: str) -> Path:
    """The journal file for a network and asset from the ``journal.path`` template."""
    try:
        return Path(template.format(network=network, asset=asset))
    except (KeyError, IndexError, ValueError) as exc:
        raise JournalError(f"journal.path: {template!r} may only use {{network}} and {{asset}} ({exc})") from exc


def _side(side: Side) -> str:
    return "buy" if side is Side.BUY else "sell"


def _text(value: Decimal | None) -> str | None:
    return None if value is None else str(value)


def connect(path: Path, *, synchronous: str = "normal", readonly: bool = False) -> sqlite3.Connection:
    """Open a journal in WAL mode (creating its schema unless ``readonly``)."""
    if readonly:
        if not path.exists():
            raise JournalError(f"no journal at {path}")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
        conn.row_factory = sqlite3.Row
        return conn
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        conn = sqlite3.connect(path, timeout=5.0)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'full' else 'NORMAL'}")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.executescript(SCHEMA)
        _add_column(conn, "sessions", "settings")
        _add_column(conn, "actions", "trigger")
        conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        conn.commit()
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"cannot open the journal {path}: {exc}") from exc
    conn.row_factory = sqlite3.Row
    return conn


def _add_column(conn: sqlite3.Connection, table: str, column: str) -> None:
    """A journal written before ``table`` had ``column`` (nullable text) gains it: sessions' settings, and the
    trigger of a trigger order's action."""
    columns = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
    if column not in columns:
        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} TEXT")


def _trigger_text(place: Place) -> str | None:
    """A trigger order's trigger as JSON (``{"px", "market", "kind"}``), None for any other order."""
    trigger = place.trigger
    if trigger is None:
        return None
    return json.dumps({"px": str(trigger.trigger_px), "market": trigger.is_market, "kind": trigger.kind.value})


def session_settings(settings: Settings) -> dict[str, Any]:
    """What a session needs to be replayed (``mmtool parity``): ``[trading]``, ``[strategy]``, ``[risk]`` and the
    ``[plugins.<name>]`` tables of the strategy, estimators and risk monitors in use (no exchange, alert or other
    table, so no secret), as JSON-ready values."""
    converter = make_config_converter()
    selected = [settings.strategy.strategy_type, *settings.strategy.estimators, *settings.risk.monitors]
    data: dict[str, Any] = {section: converter.unstructure(getattr(settings, section))
                            for section in ("trading", "strategy", "risk")}
    data["plugins"] = {name: settings.plugins[name] for name in selected if name in settings.plugins}
    return json.loads(json.dumps(data, default=str))


@attrs.frozen
class Recovery:
    """What the start-up reconciliation of the journal with the exchange found."""

    crashed_sessions: tuple[int, ...] = ()
    recovered_fills: int = 0
    journal_position: Decimal | None = None
    exchange_position: Decimal | None = None

    @property
    def discrepancy(self) -> bool:
        """True when the journal's last position differs from the exchange's."""
        return (
            self.journal_position is not None
            and self.exchange_position is not None
            and self.journal_position != self.exchange_position
        )


class Journal:
    """One open journal file, held by one run at a time (an advisory lock next to it says which)."""

    def __init__(self, path: Path, *, synchronous: str = "normal", checkpoint_secs: float = 0.0) -> None:
        """Open (or create) the journal at ``path`` and lock it for this process.

        :param checkpoint_secs: when > 0, SQLite's automatic checkpoints (run inside a commit, with their disk
            syncs) are off and a background thread checkpoints this often instead (see :mod:`.checkpoint`).
        """
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = open(f"{path}.lock", "w")  # noqa: SIM115  (held for the journal's lifetime)
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            self._lock.close()
            raise JournalError(f"the journal {path} is in use by another mmtool run") from exc
        try:
            self.conn = connect(path, synchronous=synchronous)
            if checkpoint_secs > 0:
                self.conn.execute("PRAGMA wal_autocheckpoint=0")
        except BaseException:
            self._release()
            raise
        self.checkpointer = Checkpointer(path, checkpoint_secs) if checkpoint_secs > 0 else None
        self.session_id: int | None = None
        self.venue = ""

    def close(self) -> None:
        """Stop the checkpoints, commit, close the database (SQLite copies the log back) and release the lock."""
        if self.checkpointer is not None:
            self.checkpointer.stop()
        with contextlib.suppress(sqlite3.Error):
            self.conn.commit()
            self.conn.close()
        self._release()

    def _release(self) -> None:
        with contextlib.suppress(OSError):
            fcntl.flock(self._lock, fcntl.LOCK_UN)
        self._lock.close()

    # ----------------------------------------------------------------------------------------- sessions

    def open_session(self, *, network: str, asset: str, strategy: str, seed: int | None, started_ns: int,
                     start_position: Decimal, start_entry: Decimal, adverse_horizon_s: float,
                     capital_usd: float, settings: dict[str, Any] | None = None, account: str = "") -> int:
        """Start a session and return its id; the venue is the network and ``account`` (on the simulator, the
        session itself).

        :param settings: the run's settings as :func:`session_settings` gives them (stored as JSON).
        """
        cur = self.conn.execute(
            "INSERT INTO sessions (venue, network, asset, strategy, seed, started_ns, last_ts_ns, start_position,"
            " start_entry, adverse_horizon_s, capital_usd, settings) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (network, network, asset, strategy, seed, started_ns, started_ns, str(start_position), str(start_entry),
             adverse_horizon_s, capital_usd, None if settings is None else json.dumps(settings)),
        )
        session_id = int(cur.lastrowid or 0)
        self.venue = venue_of(network, session_id, account)
        self.conn.execute("UPDATE sessions SET venue = ? WHERE id = ?", (self.venue, session_id))
        self.conn.commit()
        self.session_id = session_id
        return session_id

    def close_session(self, *, ended_ns: int, stop_reason: str, clean: bool, last_mid: Decimal | None,
                      summary: dict[str, Any] | None, pnl_split: dict[str, float] | None) -> None:
        """Record how the session ended."""
        self.conn.execute(
            "UPDATE sessions SET ended_ns = ?, last_ts_ns = MAX(last_ts_ns, ?), stop_reason = ?, clean = ?,"
            " last_mid = COALESCE(?, last_mid), summary = ?, pnl_split = ? WHERE id = ?",
            (ended_ns, ended_ns, stop_reason, int(clean), _text(last_mid),
             None if summary is None else json.dumps(summary), None if pnl_split is None else json.dumps(pnl_split),
             self.session_id),
        )
        self.conn.commit()

    # -------------------------------------------------------------------------------------------- rows

    def add_fill(self, fill: Fill, *, mid: Decimal | None, position_after: Decimal | None,
                 source: str = "live", session_id: int | None = None, venue: str | None = None) -> bool:
        """Insert a fill unless its ``(venue, trade_id)`` is known; True when it was new."""
        cur = self.conn.execute(
            "INSERT OR IGNORE INTO fills (venue, trade_id, session_id, asset, ts_exchange_ns, ts_local_ns, cloid,"
            " oid, side, price, size, fee, liquidity, mid, position_after, source)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (venue or self.venue, fill.trade_id, session_id or self.session_id, fill.asset, fill.ts_exchange_ns,
             fill.ts_local_ns, fill.cloid, fill.oid, _side(fill.side), str(fill.price), str(fill.size),
             str(fill.fee), fill.liquidity.value, _text(mid), _text(position_after), source),
        )
        return cur.rowcount == 1

    def set_mid_h(self, resolved: Iterable[tuple[str, Decimal]]) -> None:
        """Record each fill's mid one markout horizon later."""
        self.conn.executemany(
            "UPDATE fills SET mid_h = ? WHERE venue = ? AND trade_id = ?",
            [(str(mid), self.venue, trade_id) for trade_id, mid in resolved],
        )

    def add_actions(self, ts_ns: int, actions: Sequence[Action]) -> None:
        """Insert the actions about to be sent."""
        rows = []
        for a in actions:
            if isinstance(a, Place):
                rows.append((self.session_id, ts_ns, "place", a.cloid, None, _side(a.side), str(a.price), str(a.size),
                             a.tif.value, int(a.reduce_only), _trigger_text(a)))
            elif isinstance(a, Modify):
                rows.append((self.session_id, ts_ns, "modify", a.cloid, a.new_cloid, _side(a.side), str(a.price),
                             str(a.size), a.tif.value, int(a.reduce_only), None))
            elif isinstance(a, Cancel):
                rows.append((self.session_id, ts_ns, "cancel", a.cloid, None, None, None, None, None, None, None))
        self.conn.executemany(
            "INSERT INTO actions (session_id, ts_ns, kind, cloid, new_cloid, side, price, size, tif, reduce_only,"
            " trigger) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )

    def add_update(self, u: OrderUpdate) -> None:
        """Insert an order update."""
        self.conn.execute(
            "INSERT INTO order_updates (session_id, ts_ns, cloid, oid, status, price, size, filled_size, reason)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (self.session_id, u.ts_local_ns, u.cloid, u.oid, u.status.value, _text(u.price), _text(u.size),
             _text(u.filled_size), u.reason),
        )

    def add_funding(self, f: Funding) -> None:
        """Insert a funding payment."""
        self.conn.execute(
            "INSERT INTO funding (session_id, ts_ns, rate, payment) VALUES (?, ?, ?, ?)",
            (self.session_id, f.ts_local_ns, str(f.rate), str(f.payment)),
        )

    def add_kill(self, ts_ns: int, monitor: str, reason: str, figures: dict[str, float]) -> None:
        """Insert a kill-switch event."""
        self.conn.execute(
            "INSERT INTO kills (session_id, ts_ns, monitor, reason, figures) VALUES (?, ?, ?, ?, ?)",
            (self.session_id, ts_ns, monitor, reason, json.dumps(figures)),
        )

    def mark(self, ts_ns: int, mid: Decimal | None) -> None:
        """Remember the session's latest time and mark (for reports on a session that crashed)."""
        self.conn.execute(
            "UPDATE sessions SET last_ts_ns = MAX(last_ts_ns, ?), last_mid = COALESCE(?, last_mid) WHERE id = ?",
            (ts_ns, _text(mid), self.session_id),
        )

    def commit(self) -> None:
        """Make everything written so far durable."""
        self.conn.commit()

    # ----------------------------------------------------------------------------------------- recovery

    def session_position(self, session_id: int) -> Decimal:
        """The position at the end of a session by its journal: its starting position plus its fills."""
        row = self.conn.execute("SELECT start_position FROM sessions WHERE id = ?", (session_id,)).fetchone()
        position = Decimal(row["start_position"])
        for fill in self.conn.execute("SELECT side, size FROM fills WHERE session_id = ?", (session_id,)):
            size = Decimal(fill["size"])
            position += size if fill["side"] == "buy" else -size
        return position


def venue_of(network: str, session_id: int, account: str = "") -> str:
    """The exchange account fills belong to: the network and account, or the session itself on the simulator."""
    if network == "sim":
        return f"sim-session-{session_id}"
    return f"{network}:{account}" if account else network


def _previous_session(journal: Journal, venue: str, asset: str) -> sqlite3.Row | None:
    return journal.conn.execute(
        "SELECT id, started_ns FROM sessions WHERE venue = ? AND asset = ? ORDER BY id DESC LIMIT 1", (venue, asset)
    ).fetchone()


def previous_session_start(journal: Journal, network: str, asset: str, account: str = "") -> int | None:
    """When the last session on this live venue started (ns), or None (none yet, or the simulator): the time
    from which :func:`recover` needs the exchange's fills."""
    if network == "sim":
        return None
    prev = _previous_session(journal, venue_of(network, 0, account), asset)
    return None if prev is None else int(prev["started_ns"])


def recover(journal: Journal, network: str, asset: str, exchange_fills: Sequence[Fill],
            exchange_position: Position, account: str = "") -> Recovery:
    """Reconcile the journal with the exchange before a new session starts.

    Sessions that never recorded their end are marked ``crashed``. For the last session on the same venue
    (a live network and ``account``), fills the exchange reports since that session started and the journal
    lacks are added (``source = 'recovered'``), then the journal's position (that session's start plus its
    fills) is compared with the exchange's. The caller logs and counts a discrepancy.
    """
    conn = journal.conn
    crashed = tuple(r["id"] for r in conn.execute("SELECT id FROM sessions WHERE ended_ns IS NULL"))
    if crashed:
        conn.execute(
            "UPDATE sessions SET ended_ns = last_ts_ns, stop_reason = 'crashed', clean = 0 WHERE ended_ns IS NULL"
        )
        log.warning("Journal: previous session did not stop cleanly", extra={"fields": {"sessions": list(crashed)}})
    venue = venue_of(network, 0, account)
    if network == "sim":
        conn.commit()
        return Recovery(crashed_sessions=crashed)
    prev = _previous_session(journal, venue, asset)
    if prev is None:
        conn.commit()
        return Recovery(crashed_sessions=crashed, exchange_position=exchange_position.size)
    added = 0
    for fill in exchange_fills:
        if fill.asset != asset or fill.ts_exchange_ns < prev["started_ns"]:
            continue
        if journal.add_fill(fill, mid=None, position_after=None, source="recovered", session_id=prev["id"],
                            venue=venue):
            added += 1
    conn.commit()
    if added:
        log.warning("Journal: fills recovered from the exchange", extra={"fields": {"fills": added,
                                                                                  "session": prev["id"]}})
    return Recovery(
        crashed_sessions=crashed,
        recovered_fills=added,
        journal_position=journal.session_position(prev["id"]),
        exchange_position=exchange_position.size,
    )


class JournalObserver(RunObserver):
    """Writes the session into a :class:`Journal`; see the module docstring for when it commits.

    A write that fails is logged and counted, and fires the kill switch: trading on without a durable
    record of fills is not allowed.
    """

    name = "journal"

    def __init__(self, journal: Journal, hub: ObserveHub, attribution: PnlAttribution | None = None, *,
                 network: str, seed: int | None = None, commit_interval_ms: float = 200.0,
                 write_ahead: bool = True) -> None:
        #: Write ahead (the default): the runner calls this observer before each batch leaves; otherwise right
        #: after the batch was handed to the exchange adapter, off the order path (``journal.write_ahead``).
        self.before_send = write_ahead
        self.journal = journal
        self.hub = hub
        self.attribution = attribution
        self.network = network
        self.seed = seed
        self.interval_ns = int(commit_interval_ms * 1_000_000)
        self._fills = 0
        self._kills = 0
        self._dirty = False
        self._last_commit_ns = 0
        self._failed = False
        self.summary: dict[str, Any] | None = None

    def on_submit(self, engine: Engine, actions: Sequence[Action]) -> None:
        """Write and commit a batch before it leaves, or right after with ``write_ahead`` off (shutdown cancels
        and flatten orders included)."""
        if not actions:
            return
        try:
            self.journal.add_actions(engine.now_ns, actions)
            self.journal.commit()
        except sqlite3.Error as exc:
            self._fail(engine, exc)

    def on_start(self, engine: Engine, adapter: ExchangeAdapter) -> None:
        """Open the session with the position the engine starts from."""
        portfolio = engine.portfolio
        horizon = self.attribution.horizon_ns / NS if self.attribution is not None else 5.0
        self.journal.open_session(
            network=self.network, asset=engine.asset, strategy=engine.strategy.name, seed=self.seed,
            started_ns=engine.now_ns or adapter.clock.now_ns(), start_position=portfolio.position,
            start_entry=portfolio.entry_price, adverse_horizon_s=horizon, capital_usd=engine.capital_usd,
            settings=session_settings(engine.settings), account=getattr(adapter, "account_id", ""),
        )
        self._fills = portfolio.fills
        self._kills = len(engine.risk.kill_events)
        log.info("Journal session started", extra={"fields": {"path": str(self.journal.path),
                                                               "session": self.journal.session_id}})

    def on_event(self, engine: Engine, event: Event, actions: Sequence[Action], latency_ns: int) -> None:
        """Write what the event and the decision changed; commit when it matters (see the module docstring)."""
        try:
            self._write(engine, event, actions)
        except sqlite3.Error as exc:
            self._fail(engine, exc)

    def _write(self, engine: Engine, event: Event, actions: Sequence[Action]) -> None:
        journal = self.journal
        urgent = False
        kind = type(event)
        if kind is Fill:
            portfolio = engine.portfolio
            if portfolio.fills != self._fills:
                self._fills = portfolio.fills
                mid = engine.market.mid
                journal.add_fill(event, mid=None if mid is None else to_decimal(mid),
                                 position_after=portfolio.position)
                urgent = True
        elif kind is OrderUpdate:
            journal.add_update(event)
            self._dirty = True
        elif kind is Funding:
            journal.add_funding(event)
            urgent = True
        kills = engine.risk.kill_events
        if len(kills) > self._kills:
            for kill in kills[self._kills :]:
                journal.add_kill(kill.ts_ns, kill.monitor, kill.reason, dict(kill.figures))
            self._kills = len(kills)
            urgent = True
        attribution = self.attribution
        if attribution is not None and attribution.resolved:
            journal.set_mid_h(attribution.resolved)
            attribution.resolved.clear()
            self._dirty = True
        if urgent or (self._dirty and engine.now_ns - self._last_commit_ns >= self.interval_ns):
            journal.commit()
            self._dirty = False
            self._last_commit_ns = engine.now_ns

    def on_status(self, engine: Engine) -> None:
        """Record the latest mark and commit."""
        try:
            self.journal.mark(engine.now_ns, engine.portfolio.mark_price)
            self.journal.commit()
            self._dirty = False
            self._last_commit_ns = engine.now_ns
        except sqlite3.Error as exc:
            self._fail(engine, exc)

    def on_stop(self, engine: Engine, result: RunResult) -> None:
        """Close the session with the final mark, the summary and the PnL split."""
        split = None
        portfolio = engine.portfolio
        self.summary = build_summary(engine, result, network=self.network, seed=self.seed)
        if self.attribution is not None:
            split = self.attribution.split(portfolio.mark_price, portfolio.fees, portfolio.funding).as_floats()
        try:
            if self.attribution is not None and self.attribution.resolved:
                self.journal.set_mid_h(self.attribution.resolved)
                self.attribution.resolved.clear()
            self.journal.close_session(
                ended_ns=max(result.ended_ns, engine.now_ns), stop_reason=result.stop_reason,
                clean=result.shutdown_clean, last_mid=portfolio.mark_price, summary=self.summary, pnl_split=split,
            )
        except sqlite3.Error as exc:
            self._fail(engine, exc)

    def _fail(self, engine: Engine, exc: sqlite3.Error) -> None:
        self.hub.journal_errors += 1
        if not self._failed:
            self._failed = True
            log.error("Journal write failed", extra={"fields": {"path": str(self.journal.path), "error": repr(exc)}})
        engine.risk.kill(f"journal write failed: {exc}", {"journal_errors": self.hub.journal_errors}, engine.now_ns)

