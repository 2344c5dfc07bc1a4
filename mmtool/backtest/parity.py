"""Backtest-versus-live parity: replay a journaled live or paper session's market through the backtester, with the
same strategy and settings, and compare the two side by side.

The journal gives the live side (its report, fills, actions and order updates); the recording of the same time
window is replayed through :func:`~mmtool.backtest.loop.run_backtest` over a :class:`ReplayExchange`. Before the
replay, our live orders are taken out of the recorded books (they were in the market the recorder saw, and the
backtest's own orders stand in for them), and on the local exchange our own fills are taken off the recorded
tape (there they are printed on top of the market's trades). Both sides' markouts and PnL split are computed from
the same recorded mid series, and the fills are matched by side, price and time. Every divergence gets a likely
cause from simple diagnostics (``queue``, ``quotes``, ``latency``, ``fees``, ``price``), documented in
``docs/backtesting.md`` ("Parity").
"""

from __future__ import annotations

import bisect
import itertools
import json
import sqlite3
import statistics
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from mmtool.backtest.exchange import Latency, sim_config
from mmtool.backtest.loop import BacktestOptions, run_backtest
from mmtool.backtest.metrics import MarkoutFill, markouts
from mmtool.backtest.reader import MarketEvent, iter_recording
from mmtool.backtest.replay import INFER_EVENTS, ReplayExchange, infer_sz_decimals
from mmtool.core.config import RiskConfig, StrategyConfig, TradingConfig
from mmtool.core.config_loader import structure_config
from mmtool.core.errors import ConfigError, MmtoolError
from mmtool.core.tracking import OrderManager
from mmtool.core.types import (
    BookLevel,
    BookUpdate,
    Cancel,
    Fill,
    L2Book,
    Liquidity,
    MidUpdate,
    Modify,
    Order,
    OrderStatus,
    OrderUpdate,
    Place,
    Side,
    Tif,
    Trade,
)
from mmtool.observe.journal import JournalError, connect
from mmtool.observe.pnl_attribution import AttributedFill, attribute
from mmtool.observe.report import build_report

if TYPE_CHECKING:
    from mmtool.backtest.exchange import BacktestExchange
    from mmtool.core.config import Settings
    from mmtool.core.plugins import Registry
    from mmtool.core.types import Action, Event, Position
    from mmtool.plugins.exchanges.sim.ledger import AccountState, FillRecord

NS = 1_000_000_000
MS = 1_000_000
#: Markout horizons compared, seconds.
HORIZONS_S = (1.0, 5.0, 30.0)
#: Order states in which an order of ours sits in the exchange's book (once acknowledged).
BOOK_STATES = frozenset({OrderStatus.RESTING, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_CANCEL})
#: Market data replayed after the session's end, so that the backtest's shutdown sees the exchange's answers.
SHUTDOWN_TAIL_S = 11.0
#: A matched fill counts as shifted when its times differ by the order latency or more, and at least this (ms):
#: two WebSocket connections to the same exchange already differ by a few milliseconds.
SHIFT_FLOOR_MS = 10.0
#: Fee rates closer than this (bps of notional) count as equal.
FEE_TOLERANCE_BPS = 0.01
#: Answers ordered before the actions decided at the same instant (the engine decides after the event).
_ANSWER, _ACTION = 0, 1
#: ``(time, phase, sequence, item)``: what we sent (actions) and what the exchange answered (updates, fills).
OrderRecord = tuple[int, int, int, Any]


class ParityError(MmtoolError):
    """The session cannot be compared: no journal, no session, or no recorded market for its time window."""


# --------------------------------------------------------------------------------------------- the journal


@attrs.frozen
class JournalSession:
    """One journaled session: what it ran and when, its report, and every action, order update and fill."""

    path: Path
    id: int
    network: str
    asset: str
    strategy: str
    started_ns: int
    ended_ns: int
    capital_usd: float
    start_position: Decimal
    adverse_horizon_s: float
    last_mid: Decimal | None
    settings: dict[str, Any] | None
    fills: tuple[Fill, ...]
    records: tuple[OrderRecord, ...]
    report: dict[str, Any]


def find_journal(path: str | Path) -> Path:
    """The journal file itself, or the only ``*.sqlite`` file in a run directory."""
    target = Path(path)
    if target.is_file():
        return target
    if not target.is_dir():
        raise ParityError(f"--journal {target}: no such file or directory")
    found = sorted(target.glob("*.sqlite"))
    if len(found) != 1:
        names = ", ".join(p.name for p in found) or "none"
        raise ParityError(f"--journal {target}: expected one *.sqlite journal in the directory, found {names}")
    return found[0]


def load_session(path: Path, session: int | None = None) -> JournalSession:
    """Read one session (default: the latest) of the journal at ``path``."""
    conn = connect(path, readonly=True)
    try:
        return _load(conn, path, session)
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"cannot read the journal {path}: {exc}") from exc
    finally:
        conn.close()


def _load(conn: sqlite3.Connection, path: Path, session: int | None) -> JournalSession:
    if session is None:
        row = conn.execute("SELECT * FROM sessions ORDER BY id DESC LIMIT 1").fetchone()
    else:
        row = conn.execute("SELECT * FROM sessions WHERE id = ?", (session,)).fetchone()
    if row is None:
        raise ParityError("the journal has no sessions" if session is None else f"no session {session} in {path}")
    sid, asset = row["id"], row["asset"]
    stored = row["settings"] if "settings" in row.keys() else None  # journals older than the column lack it
    fills = tuple(
        Fill(asset, f["cloid"], f["oid"], f["trade_id"], _side(f["side"]), Decimal(f["price"]), Decimal(f["size"]),
             Decimal(f["fee"]), Liquidity(f["liquidity"]), f["ts_exchange_ns"], f["ts_local_ns"])
        for f in conn.execute("SELECT * FROM fills WHERE session_id = ? ORDER BY ts_local_ns, rowid", (sid,))
    )
    records: list[OrderRecord] = [(f.ts_local_ns, _ANSWER, i, f) for i, f in enumerate(fills)]
    for u in conn.execute("SELECT * FROM order_updates WHERE session_id = ? ORDER BY id", (sid,)):
        update = OrderUpdate(asset, u["cloid"], OrderStatus(u["status"]), u["ts_ns"], u["ts_ns"], oid=u["oid"],
                             price=_dec(u["price"]), size=_dec(u["size"]), filled_size=_dec(u["filled_size"]),
                             reason=u["reason"] or "")
        records.append((u["ts_ns"], _ANSWER, len(records), update))
    for a in conn.execute("SELECT * FROM actions WHERE session_id = ? ORDER BY id", (sid,)):
        records.append((a["ts_ns"], _ACTION, len(records), _action(asset, a)))
    records.sort(key=lambda r: r[:3])
    ended = row["ended_ns"] if row["ended_ns"] is not None else row["last_ts_ns"]
    return JournalSession(
        path=path, id=sid, network=row["network"], asset=asset, strategy=row["strategy"],
        started_ns=row["started_ns"], ended_ns=ended, capital_usd=float(row["capital_usd"]),
        start_position=Decimal(row["start_position"]), adverse_horizon_s=float(row["adverse_horizon_s"]),
        last_mid=_dec(row["last_mid"]), settings=None if stored is None else json.loads(stored), fills=fills,
        records=tuple(records), report=build_report(path, sid),
    )


def _side(text: str) -> Side:
    return Side.BUY if text == "buy" else Side.SELL


def _dec(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _action(asset: str, a: sqlite3.Row) -> Action:
    if a["kind"] == "cancel":
        return Cancel(a["cloid"], asset)
    side, price, size = _side(a["side"]), Decimal(a["price"]), Decimal(a["size"])
    tif, reduce_only = Tif(a["tif"]), bool(a["reduce_only"])
    if a["kind"] == "modify":
        return Modify(a["cloid"], asset, side, price, size, tif, reduce_only, a["new_cloid"])
    return Place(a["cloid"], asset, side, price, size, tif, reduce_only)


def replay_settings(base: Settings, session: JournalSession) -> tuple[Settings, str]:
    """The settings to replay with, and where they came from (``journal`` or ``config``).

    The journal's stored ``[trading]``, ``[strategy]``, ``[risk]`` and component tables win over ``base`` (which
    supplies ``[plugins.sim]``: fees, latencies); a journal without them leaves ``base`` with the session's
    strategy and asset.
    """
    stored = session.settings
    if stored is None:
        strategy = attrs.evolve(base.strategy, strategy_type=session.strategy)
        trading = attrs.evolve(base.trading, asset=session.asset)
        return attrs.evolve(base, strategy=strategy, trading=trading), "config"
    sections: dict[str, Any] = {}
    problems: list[str] = []
    for name, cls in (("trading", TradingConfig), ("strategy", StrategyConfig), ("risk", RiskConfig)):
        value, found = structure_config(stored.get(name, {}), cls, f"journal settings: {name}")
        sections[name] = value
        problems += found
    if problems:
        raise ConfigError(problems)
    plugins = {**base.plugins, **stored.get("plugins", {})}
    return attrs.evolve(base, plugins=plugins, **sections), "journal"


# -------------------------------------------------------------------------------------------- our orders


class OwnOrders:
    """Our orders over time, replayed through the core :class:`OrderManager` from what was sent and answered."""

    def __init__(self, records: Sequence[OrderRecord]) -> None:
        self._records = records
        self._next = 0
        self._manager = OrderManager()

    def at(self, ts_ns: int) -> list[Order]:
        """Our acknowledged orders in the book at ``ts_ns`` (times must not decrease from call to call)."""
        records, manager = self._records, self._manager
        while self._next < len(records) and records[self._next][0] <= ts_ns:
            item = records[self._next][3]
            self._next += 1
            if isinstance(item, Place):
                if manager.get(item.cloid) is None:
                    manager.on_place(item, records[self._next - 1][0])
            elif isinstance(item, Modify):
                manager.on_modify(item, records[self._next - 1][0])
            elif isinstance(item, Cancel):
                manager.on_cancel(item, records[self._next - 1][0])
            elif isinstance(item, OrderUpdate):
                manager.on_update(item)
            elif isinstance(item, Fill):
                manager.on_fill(item)
        return [o for o in manager.live() if o.status in BOOK_STATES and o.oid is not None and o.remaining > 0]


def resting_at(records: Sequence[OrderRecord], times: Iterable[int]) -> dict[int, list[Order]]:
    """Our orders in the book at each of ``times`` (any order)."""
    own = OwnOrders(records)
    return {ts: own.at(ts) for ts in sorted(set(times))}


#: An order as a book sees it: side, price, resting size.
Resting = tuple[Side, Decimal, Decimal]


def _by_level(orders: Iterable[Resting]) -> dict[tuple[Side, Decimal], tuple[Decimal, int]]:
    levels: dict[tuple[Side, Decimal], tuple[Decimal, int]] = {}
    for side, price, size in orders:
        total, count = levels.get((side, price), (Decimal(0), 0))
        levels[(side, price)] = (total + size, count + 1)
    return levels


def remove_orders(book: L2Book, orders: Iterable[Resting]) -> tuple[L2Book, int]:
    """The book without these orders' sizes (and counts); return it with the number of levels changed."""
    own = _by_level(orders)
    if not own:
        return book, 0
    changed = 0

    def side(levels: tuple[BookLevel, ...], which: Side) -> tuple[BookLevel, ...]:
        nonlocal changed
        out = []
        for level in levels:
            ours = own.get((which, level.price))
            if ours is None:
                out.append(level)
                continue
            changed += 1
            size = level.size - ours[0]
            if size > 0:
                out.append(BookLevel(level.price, size, max(1, level.count - ours[1])))
        return tuple(out)

    return L2Book(side(book.bids, Side.BUY), side(book.asks, Side.SELL)), changed


def add_orders(book: L2Book, orders: Iterable[Resting]) -> L2Book:
    """The book with these orders added to their levels (new levels where the book has none), best first."""
    own = _by_level(orders)
    if not own:
        return book

    def side(levels: tuple[BookLevel, ...], which: Side) -> tuple[BookLevel, ...]:
        merged = {level.price: level for level in levels}
        for (order_side, price), (size, count) in own.items():
            if order_side is which:
                level = merged.get(price)
                merged[price] = BookLevel(price, size, count) if level is None else BookLevel(
                    price, level.size + size, level.count + count)
        return tuple(merged[p] for p in sorted(merged, reverse=which is Side.BUY))

    return L2Book(side(book.bids, Side.BUY), side(book.asks, Side.SELL))


def _resting(orders: Iterable[Order]) -> list[Resting]:
    return [(o.side, o.price, o.remaining) for o in orders]


def ack_delays_ns(records: Sequence[OrderRecord]) -> list[int]:
    """For each placed order, the time from sending it to the exchange's first answer about it (ack, reject, fill)."""
    sent: dict[str, int] = {}
    delays: list[int] = []
    for ts, _, _, item in records:
        if isinstance(item, Place):
            sent.setdefault(item.cloid, ts)
        elif isinstance(item, OrderUpdate | Fill) and item.cloid in sent:
            delays.append(ts - sent.pop(item.cloid))
    return delays


# ------------------------------------------------------------------------------------------- the market


@attrs.define
class MarketFeed:
    """The recording's events for the session's window, with our live orders taken out of the books and the
    trades in ``drop_trade_ids`` taken off the tape."""

    data: Path
    asset: str
    start_ns: int
    stop_ns: int
    own: OwnOrders | None
    drop_trade_ids: frozenset[str]
    dropped_trades: int = 0
    adjusted_books: int = 0

    def __iter__(self) -> Iterator[MarketEvent]:
        before: BookUpdate | None = None
        for event in iter_recording(self.data, self.asset):
            ts = event.ts_local_ns
            if ts < self.start_ns:
                # The book in force when the session started opens the replay, so it never starts without a book.
                if isinstance(event, BookUpdate):
                    before = event
                continue
            if ts > self.stop_ns:
                return
            if before is not None:
                yield self._book(before)
                before = None
            if isinstance(event, Trade) and event.trade_id in self.drop_trade_ids:
                self.dropped_trades += 1
                continue
            yield self._book(event) if isinstance(event, BookUpdate) else event

    def _book(self, event: BookUpdate) -> BookUpdate:
        if self.own is None:
            return event
        book, changed = remove_orders(event.book, _resting(self.own.at(event.ts_local_ns)))
        if not changed:
            return event
        self.adjusted_books += 1
        return attrs.evolve(event, book=book)


class OwnOrdersInView:
    """A replayed exchange whose books show the engine its own resting orders, as the venue's ``l2Book`` does (and
    as the live engine saw them), once the live session's orders are out of the recording."""

    def __init__(self, exchange: ReplayExchange) -> None:
        self.inner = exchange
        self.clock = exchange.clock
        self.rules = exchange.rules

    def next_event(self) -> Event | None:
        """The replay's next event; a book gains our resting orders of the moment."""
        event = self.inner.next_event()
        if isinstance(event, BookUpdate):
            orders = [(o.side, o.price, o.size) for o in self.inner.engine.open_orders()]
            if orders:
                return attrs.evolve(event, book=add_orders(event.book, orders))
        return event

    def submit_now(self, actions: Sequence[Action]) -> None:
        """Send actions (see :meth:`ReplayExchange.submit_now`)."""
        self.inner.submit_now(actions)

    def cancel_all_now(self) -> int:
        """Cancel every open order of ours at once; return how many remain."""
        return self.inner.cancel_all_now()

    def position(self) -> Position:
        """Our position according to the replayed exchange."""
        return self.inner.position()

    def account_state(self) -> AccountState:
        """The replayed exchange's account figures."""
        return self.inner.account_state()

    @property
    def ledger(self) -> list[FillRecord]:
        """Every fill of ours so far, in order."""
        return self.inner.ledger


def mid_series(data: Path, asset: str, start_ns: int, end_ns: int) -> list[tuple[int, float]]:
    """Recorded mids ``(receive time, mid)`` in ``[start_ns, end_ns]``: ``allMids``, or the books' mids without."""
    mids: list[tuple[int, float]] = []
    book_mids: list[tuple[int, float]] = []
    for event in iter_recording(data, asset):
        ts = event.ts_local_ns
        if ts > end_ns:
            break
        if isinstance(event, MidUpdate):
            mids.append((ts, float(event.mid)))
        elif isinstance(event, BookUpdate) and event.book.bids and event.book.asks:
            book_mids.append((ts, float(event.book.bids[0].price + event.book.asks[0].price) / 2))
    chosen = mids or book_mids
    # The last mid before the window is the one in force at its start.
    first = max(0, bisect.bisect_left(chosen, (start_ns, float("-inf"))) - 1)
    return chosen[first:]


def _mid_at(mids: Sequence[tuple[int, float]], times: Sequence[int], ts_ns: int) -> float | None:
    i = bisect.bisect_right(times, ts_ns) - 1
    return mids[i][1] if i >= 0 else None


# ------------------------------------------------------------------------------------------ fill matching


@attrs.frozen
class FillMatch:
    """A live fill and the backtest fill taken for the same one (either may be None: a fill only one side got)."""

    live: Fill | None
    backtest: Fill | None

    @property
    def shift_ns(self) -> int | None:
        """Backtest time minus live time (local clocks), for a matched pair."""
        if self.live is None or self.backtest is None:
            return None
        return self.backtest.ts_local_ns - self.live.ts_local_ns

    @property
    def price_diff_bps(self) -> float | None:
        """``side × (live price − backtest price)`` in bps: positive when the backtest's price was better."""
        if self.live is None or self.backtest is None:
            return None
        return self.live.side.sign * float((self.live.price - self.backtest.price) / self.live.price) * 1e4


def match_fills(live: Sequence[Fill], backtest: Sequence[Fill], window_ns: int,
                tolerance_bps: float) -> list[FillMatch]:
    """Pair live and backtest fills of the same side within ``window_ns`` and ``tolerance_bps``, greedily in live
    time order, each with the closest candidate (price and time distance, each relative to its limit)."""
    ordered = sorted(backtest, key=lambda f: f.ts_local_ns)
    times = [f.ts_local_ns for f in ordered]
    taken = [False] * len(ordered)
    pairs: list[FillMatch] = []
    for fill in sorted(live, key=lambda f: f.ts_local_ns):
        best, best_score = None, float("inf")
        lo = bisect.bisect_left(times, fill.ts_local_ns - window_ns)
        hi = bisect.bisect_right(times, fill.ts_local_ns + window_ns)
        for i in range(lo, hi):
            other = ordered[i]
            if taken[i] or other.side is not fill.side:
                continue
            bps = abs(float((other.price - fill.price) / fill.price)) * 1e4
            if bps > tolerance_bps:
                continue
            score = bps / max(tolerance_bps, 1e-9) + abs(other.ts_local_ns - fill.ts_local_ns) / max(window_ns, 1)
            if score < best_score:
                best, best_score = i, score
        if best is None:
            pairs.append(FillMatch(fill, None))
        else:
            taken[best] = True
            pairs.append(FillMatch(fill, ordered[best]))
    pairs += [FillMatch(None, f) for f, used in zip(ordered, taken, strict=True) if not used]
    return pairs


# ----------------------------------------------------------------------------------------------- options


@attrs.frozen
class ParityOptions:
    """How to replay and compare (see ``mmtool parity --help``)."""

    latency_ms: float | None = None
    md_latency_ms: float | None = None
    sz_decimals: int | None = None
    match_window_s: float = 1.0
    match_bps: float = 5.0
    remove_own_orders: bool = True
    own_trades: str = attrs.field(default="auto", validator=attrs.validators.in_(("auto", "keep", "drop")))
    top: int = 5


@attrs.define
class _Collector:
    """The backtest's side of the records: actions, order updates and fills, as the engine saw them."""

    records: list[OrderRecord] = attrs.field(factory=list)
    fills: list[Fill] = attrs.field(factory=list)

    def __call__(self, event: Event, actions: Sequence[Action]) -> None:
        ts = event.ts_local_ns
        if isinstance(event, OrderUpdate | Fill):
            self.records.append((ts, _ANSWER, len(self.records), event))
            if isinstance(event, Fill):
                self.fills.append(event)
        for action in actions:
            self.records.append((ts, _ACTION, len(self.records), action))


# ----------------------------------------------------------------------------------------------- running


def run_parity(session: JournalSession, data: str | Path, settings: Settings, registry: Registry,
               options: ParityOptions = ParityOptions(), *, settings_source: str = "journal") -> dict[str, Any]:
    """Replay the session's window of the recording in ``data`` through the backtester and compare (parity.json)."""
    data = Path(data)
    asset = session.asset
    warnings: list[str] = []
    if settings_source != "journal":
        warnings.append("the journal does not store the session's settings (written before mmtool stored them): "
                        "the replay used the config's, with the journal's strategy and asset")
    if session.start_position != 0:
        warnings.append(f"the session started with a position of {session.start_position}; the replay starts flat")
    live_delays = ack_delays_ns(session.records)
    latency_ms, latency_source = options.latency_ms, "flag"
    if latency_ms is None and live_delays:
        latency_ms, latency_source = statistics.median(live_delays) / MS, "journal"
    config = sim_config(settings, latency=Latency(latency_ms, options.md_latency_ms))
    if latency_ms is None:
        latency_source = "config"
    if session.capital_usd > 0:
        config = attrs.evolve(config, balance_usd=session.capital_usd)
    drop = options.own_trades == "drop" or (options.own_trades == "auto" and session.network == "localhost")
    feed = MarketFeed(
        data, asset, session.started_ns, session.ended_ns + round(SHUTDOWN_TAIL_S * NS),
        OwnOrders(session.records) if options.remove_own_orders else None,
        frozenset(f.trade_id for f in session.fills) if drop else frozenset(),
    )
    sz_decimals = options.sz_decimals
    if sz_decimals is None:
        sz_decimals = infer_sz_decimals(list(itertools.islice(iter_recording(data, asset), INFER_EVENTS)))
    try:
        exchange = ReplayExchange(iter(feed), config, asset, sz_decimals=sz_decimals,
                                  leverage=settings.trading.leverage)
    except ValueError as exc:
        raise ParityError(f"--data {data}: no {asset} market data from the session's start on ({exc})") from exc
    driven: BacktestExchange = OwnOrdersInView(exchange) if options.remove_own_orders else exchange
    replay_start = exchange.clock.now_ns()
    if replay_start > session.started_ns + NS:
        warnings.append(f"the recording starts {(replay_start - session.started_ns) / NS:.1f} s after the session")
    duration_s = (session.ended_ns - replay_start) / NS
    if not duration_s > 0:
        raise ParityError(f"--data {data}: the recording starts after the session ended")
    collector = _Collector()
    result = run_backtest(settings, registry, driven, BacktestOptions(duration_s=duration_s), network="replay",
                          extra={"data": str(data)}, on_event=collector)
    summary = result.summary
    if summary["stop_reason"] == "data ended":
        warnings.append("the recording ends before the session did")
    end_ns = session.ended_ns + round(max(HORIZONS_S) * NS)
    mids = mid_series(data, asset, session.started_ns, end_ns)
    bt_mark = result.engine.portfolio.mark_price
    live = _live_column(session, mids, live_delays)
    backtest = _backtest_column(summary, collector, mids, bt_mark, session.adverse_horizon_s)
    pairs = match_fills(session.fills, collector.fills, round(options.match_window_s * NS), options.match_bps)
    diagnostics = _diagnostics(session, collector, pairs, live, backtest, config.order_latency_ms)
    return {
        "session": {
            "journal": str(session.path), "id": session.id, "network": session.network, "asset": asset,
            "strategy": session.strategy, "started_ns": session.started_ns, "ended_ns": session.ended_ns,
            "duration_s": round((session.ended_ns - session.started_ns) / NS, 3), "settings_source": settings_source,
        },
        "replay": {
            "data": str(data), "start_ns": replay_start, "market_events": exchange.market_events,
            "events_processed": summary["events_processed"], "stop_reason": summary["stop_reason"],
            "order_latency_ms": round(config.order_latency_ms, 3), "latency_source": latency_source,
            "market_data_latency_ms": config.market_data_latency_ms, "sz_decimals": sz_decimals,
            "maker_fee": config.maker_fee, "taker_fee": config.taker_fee,
            "own_orders_removed": options.remove_own_orders, "books_adjusted": feed.adjusted_books,
            "own_trades_dropped": feed.dropped_trades, "mids": len(mids),
        },
        "live": live,
        "backtest": backtest,
        "difference": {key: _diff(live[key], backtest[key]) for key in live},
        "matching": _matching(pairs, options),
        "diagnostics": diagnostics,
        "divergences": _divergences(live, backtest, diagnostics)[: options.top],
        "fill_divergences": _fill_divergences(pairs, diagnostics)[: options.top],
        "warnings": warnings,
        "backtest_summary": summary,
    }


# ---------------------------------------------------------------------------------------------- columns


def _round(value: float | None, digits: int = 6) -> float | None:
    return None if value is None else round(value, digits)


def _fill_metrics(fills: Sequence[Fill], mids: Sequence[tuple[int, float]], mark: Decimal | None,
                  fees: Decimal, funding: Decimal, horizon_s: float) -> dict[str, Any]:
    """What both columns compute the same way from their fills and the recorded mids."""
    times = [ts for ts, _ in mids]
    volume = {Side.BUY: Decimal(0), Side.SELL: Decimal(0)}
    notional = {Liquidity.MAKER: Decimal(0), Liquidity.TAKER: Decimal(0)}
    paid = {Liquidity.MAKER: Decimal(0), Liquidity.TAKER: Decimal(0)}
    count: Counter[str] = Counter()
    attributed = []
    for f in fills:
        value = f.price * f.size
        volume[f.side] += value
        notional[f.liquidity] += value
        paid[f.liquidity] += f.fee
        count[f.side.value] += 1
        count[f.liquidity.value] += 1
        mid = _mid_at(mids, times, f.ts_local_ns)
        mid_h = _mid_at(mids, times, f.ts_local_ns + round(horizon_s * NS))
        horizon_seen = bool(times) and times[-1] >= f.ts_local_ns + round(horizon_s * NS)
        attributed.append(AttributedFill(
            f.side.sign, f.size, f.price, Decimal(repr(mid)) if mid is not None else f.price,
            Decimal(repr(mid_h)) if mid_h is not None and horizon_seen else None,
        ))
    split = attribute(attributed, mark, fees, funding).as_floats()
    end = times[-1] if times else 0
    marks = markouts([MarkoutFill(f.ts_local_ns, f.side.sign, float(f.price), float(f.size)) for f in fills],
                     list(mids), HORIZONS_S, end)
    out: dict[str, Any] = {
        "fills_buy": count[Side.BUY.value], "fills_sell": count[Side.SELL.value],
        "fills_maker": count["maker"], "fills_taker": count["taker"],
        "volume_buy": round(float(volume[Side.BUY]), 6), "volume_sell": round(float(volume[Side.SELL]), 6),
        "spread_capture": round(split["spread_capture"], 6), "adverse_selection": round(split["adverse_selection"], 6),
        "inventory_pnl": round(split["inventory"], 6),
    }
    for m in marks:
        out[f"markout_{m.horizon_s:g}s_bps"] = _round(m.mean_bps, 4)
        out[f"markout_{m.horizon_s:g}s_usd"] = round(m.usd, 6)
    for liquidity in (Liquidity.MAKER, Liquidity.TAKER):
        rate = paid[liquidity] / notional[liquidity] * 10_000 if notional[liquidity] else None
        out[f"{liquidity.value}_fee_bps"] = None if rate is None else round(float(rate), 4)
    return out


def _delay_ms(delays: Sequence[int]) -> float | None:
    return round(statistics.median(delays) / MS, 3) if delays else None


def _live_column(session: JournalSession, mids: Sequence[tuple[int, float]], delays: Sequence[int]) -> dict[str, Any]:
    r = session.report
    column: dict[str, Any] = {key: r[key] for key in (
        "fills", "volume", "position", "realized_pnl", "unrealized_pnl", "fees", "funding", "total_pnl",
        "orders_placed", "orders_modified", "orders_cancelled", "orders_rejected")}
    column.update(_fill_metrics(session.fills, mids, session.last_mid, Decimal(repr(r["fees"])),
                                Decimal(repr(r["funding"])), session.adverse_horizon_s))
    column["ack_delay_ms"] = _delay_ms(delays)
    return column


def _backtest_column(summary: dict[str, Any], collector: _Collector, mids: Sequence[tuple[int, float]],
                     mark: Decimal | None, horizon_s: float) -> dict[str, Any]:
    column: dict[str, Any] = {key: summary[key] for key in (
        "fills", "volume", "position", "realized_pnl", "unrealized_pnl", "fees", "funding", "total_pnl",
        "orders_placed", "orders_modified", "orders_cancelled", "orders_rejected")}
    column.update(_fill_metrics(collector.fills, mids, mark, Decimal(repr(summary["fees"])),
                                Decimal(repr(summary["funding"])), horizon_s))
    column["ack_delay_ms"] = _delay_ms(ack_delays_ns(collector.records))
    return column


def _diff(live: Any, backtest: Any) -> float | None:
    if not isinstance(live, int | float) or not isinstance(backtest, int | float):
        return None
    return round(backtest - live, 6)


# ------------------------------------------------------------------------------------------- diagnostics


def _fill_dict(fill: Fill) -> dict[str, Any]:
    return {"ts_ns": fill.ts_local_ns, "side": "buy" if fill.side is Side.BUY else "sell", "price": str(fill.price),
            "size": str(fill.size), "liquidity": fill.liquidity.value, "trade_id": fill.trade_id}


def _matching(pairs: Sequence[FillMatch], options: ParityOptions) -> dict[str, Any]:
    matched = [p for p in pairs if p.live is not None and p.backtest is not None]
    shifts = [p.shift_ns / MS for p in matched if p.shift_ns is not None]
    prices = [p.price_diff_bps for p in matched if p.price_diff_bps is not None]
    return {
        "window_s": options.match_window_s, "tolerance_bps": options.match_bps, "matched": len(matched),
        "live_only": sum(1 for p in pairs if p.backtest is None),
        "backtest_only": sum(1 for p in pairs if p.live is None),
        "median_shift_ms": _round(statistics.median(shifts), 3) if shifts else None,
        "mean_price_diff_bps": _round(statistics.fmean(prices), 4) if prices else None,
        "pairs": [
            {"live": _fill_dict(p.live), "backtest": _fill_dict(p.backtest), "shift_ms": round(p.shift_ns / MS, 3),
             "price_diff_bps": round(p.price_diff_bps or 0.0, 4)}
            for p in matched[:100] if p.live is not None and p.backtest is not None and p.shift_ns is not None
        ],
    }


def _unmatched_cause(fill: Fill, other_run_orders: Sequence[Order]) -> str:
    """``queue`` when the other run had an order of the same side resting at the fill's price or a better one
    (a bid as high or higher, an ask as low or lower) and was not filled; else ``quotes``."""
    sign = fill.side.sign
    if fill.liquidity is Liquidity.MAKER and any(
        o.side is fill.side and (o.price - fill.price) * sign >= 0 for o in other_run_orders
    ):
        return "queue"
    return "quotes"


def _diagnostics(session: JournalSession, collector: _Collector, pairs: Sequence[FillMatch], live: dict[str, Any],
                 backtest: dict[str, Any], latency_ms: float) -> dict[str, Any]:
    live_only = [p.live for p in pairs if p.live is not None and p.backtest is None]
    bt_only = [p.backtest for p in pairs if p.backtest is not None and p.live is None]
    # Whether the other run was quoting the fill's price is asked at the fill's exchange time (when it matched).
    bt_books = resting_at(collector.records, [f.ts_exchange_ns for f in live_only])
    live_books = resting_at(session.records, [f.ts_exchange_ns for f in bt_only])
    causes: dict[str, list[str]] = {"live_only": [], "backtest_only": []}
    for f in live_only:
        causes["live_only"].append(_unmatched_cause(f, bt_books[f.ts_exchange_ns]))
    for f in bt_only:
        causes["backtest_only"].append(_unmatched_cause(f, live_books[f.ts_exchange_ns]))
    shifted_ns = _shift_threshold_ns(latency_ms)
    matched = [p for p in pairs if p.shift_ns is not None]
    shifts = [p.shift_ns / MS for p in matched if p.shift_ns is not None]
    fee_diff = {
        kind: round(backtest[f"{kind}_fee_bps"] - live[f"{kind}_fee_bps"], 4)
        for kind in ("maker", "taker")
        if live[f"{kind}_fee_bps"] is not None and backtest[f"{kind}_fee_bps"] is not None
    }
    return {
        "queue": {
            "live_only_at_backtest_quote": causes["live_only"].count("queue"),
            "backtest_only_at_live_quote": causes["backtest_only"].count("queue"),
        },
        "quotes": {
            "live_only_unquoted_in_backtest": causes["live_only"].count("quotes"),
            "backtest_only_unquoted_live": causes["backtest_only"].count("quotes"),
        },
        "latency": {
            "order_latency_ms": round(latency_ms, 3),
            "live_ack_delay_ms": live["ack_delay_ms"],
            "live_ack_delay_p90_ms": _p90_ms(ack_delays_ns(session.records)),
            "backtest_ack_delay_ms": backtest["ack_delay_ms"],
            "matched_median_shift_ms": _round(statistics.median(shifts), 3) if shifts else None,
            "matched_shifted": sum(1 for p in matched if abs(p.shift_ns or 0) >= shifted_ns),
        },
        "fees": {
            "live_maker_bps": live["maker_fee_bps"], "backtest_maker_bps": backtest["maker_fee_bps"],
            "live_taker_bps": live["taker_fee_bps"], "backtest_taker_bps": backtest["taker_fee_bps"],
            "differs": any(abs(d) > FEE_TOLERANCE_BPS for d in fee_diff.values()),
        },
        "fill_causes": causes,
    }


def _shift_threshold_ns(latency_ms: float) -> float:
    return max(latency_ms, SHIFT_FLOOR_MS) * MS


def _p90_ms(delays: Sequence[int]) -> float | None:
    if not delays:
        return None
    ordered = sorted(delays)
    return round(ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))] / MS, 3)


#: Metrics whose difference comes from the fills each run got.
_FILL_DRIVEN = ("fills", "volume", "position", "realized_pnl", "unrealized_pnl", "total_pnl", "fills_buy",
                "fills_sell", "fills_maker", "fills_taker", "volume_buy", "volume_sell", "spread_capture",
                "adverse_selection", "inventory_pnl")


def _fills_cause(d: dict[str, Any]) -> tuple[str, str]:
    """The likeliest cause of different fills, with its evidence."""
    queue = d["queue"]["live_only_at_backtest_quote"] + d["queue"]["backtest_only_at_live_quote"]
    quotes = d["quotes"]["live_only_unquoted_in_backtest"] + d["quotes"]["backtest_only_unquoted_live"]
    lat = d["latency"]
    evidence = (f"fills only one run got: {queue} at a price the other was quoting, {quotes} at one it was not; "
                f"{lat['matched_shifted']} matched fills shifted by the latency or more")
    if queue or quotes:
        return ("queue" if queue >= quotes else "quotes"), evidence
    return ("latency" if lat["matched_shifted"] else "price"), evidence


def _divergences(live: dict[str, Any], backtest: dict[str, Any], d: dict[str, Any]) -> list[dict[str, Any]]:
    """Every metric that differs, largest relative difference first, with its likely cause."""
    fills_cause, fills_evidence = _fills_cause(d)
    lat, fees = d["latency"], d["fees"]
    fee_evidence = (f"fee per notional: maker live {fees['live_maker_bps']} vs backtest {fees['backtest_maker_bps']} "
                    f"bps, taker live {fees['live_taker_bps']} vs backtest {fees['backtest_taker_bps']} bps")
    ack_evidence = (f"ack delay: live median {lat['live_ack_delay_ms']} ms, backtest "
                    f"{lat['backtest_ack_delay_ms']} ms; order latency {lat['order_latency_ms']} ms")
    live_ack, bt_ack = lat["live_ack_delay_ms"], lat["backtest_ack_delay_ms"]
    acks_differ = live_ack is not None and bt_ack is not None and abs(live_ack - bt_ack) > max(1.0, 0.5 * live_ack)
    rows = []
    for key, a in live.items():
        b = backtest[key]
        if not isinstance(a, int | float) or not isinstance(b, int | float) or a == b:
            continue
        if key.endswith("_fee_bps") or (key == "fees" and fees["differs"]):
            cause, evidence = "fees", fee_evidence
        elif key.startswith("orders_") or key == "ack_delay_ms":
            cause, evidence = ("latency", ack_evidence) if acks_differ or key == "ack_delay_ms" else (
                "quotes", ack_evidence + "; the strategy requoted differently")
        elif key.startswith("markout_") and lat["matched_shifted"] and fills_cause in ("latency", "price"):
            cause, evidence = "latency", fills_evidence
        else:
            cause, evidence = fills_cause, fills_evidence
        relative = abs(b - a) / max(abs(a), abs(b), 1e-12)
        rows.append({"metric": key, "live": a, "backtest": b, "difference": round(b - a, 6),
                     "relative": round(relative, 4), "cause": cause, "evidence": evidence})
    rows.sort(key=lambda r: (-r["relative"], -abs(r["difference"]), r["metric"]))
    return rows


def _fill_divergences(pairs: Sequence[FillMatch], d: dict[str, Any]) -> list[dict[str, Any]]:
    """Fills only one run got, and matched fills shifted by about the latency, largest notional first."""
    rows = []
    causes = {kind: iter(found) for kind, found in d["fill_causes"].items()}
    threshold_ns = _shift_threshold_ns(d["latency"]["order_latency_ms"])
    for p in pairs:
        if p.backtest is None and p.live is not None:
            rows.append({"kind": "live only", **_fill_dict(p.live), "cause": next(causes["live_only"]),
                         "notional": float(p.live.price * p.live.size)})
        elif p.live is None and p.backtest is not None:
            rows.append({"kind": "backtest only", **_fill_dict(p.backtest), "cause": next(causes["backtest_only"]),
                         "notional": float(p.backtest.price * p.backtest.size)})
        elif p.live is not None and p.shift_ns is not None and abs(p.shift_ns) >= threshold_ns:
            rows.append({"kind": "shifted", **_fill_dict(p.live), "cause": "latency",
                         "shift_ms": round(p.shift_ns / MS, 3), "notional": float(p.live.price * p.live.size)})
    rows.sort(key=lambda r: (-r["notional"], r["ts_ns"]))
    return rows


def parity_text(result: dict[str, Any]) -> str:
    """``parity.json``'s text: two-space indent, trailing newline."""
    return json.dumps(result, indent=2, allow_nan=False, default=str) + "\n"
