"""The live status view of ``mmtool run`` in a terminal (rich ``Live``): market, our ladder, position, PnL
split, σ/κ, fills and the risk state, redrawn at most ``max_hz`` times a second of wall time.

Log lines keep flowing above the view (stderr is redirected through it). Without a TTY the runner's plain
``Status`` log lines are all there is.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table

from mmtool.core.runner import RunObserver
from mmtool.core.types import RiskLevel

if TYPE_CHECKING:
    from mmtool.core.components import ExchangeAdapter
    from mmtool.core.engine import Engine
    from mmtool.core.runner import RunResult
    from mmtool.core.types import Action, Event
    from mmtool.observe.pnl_attribution import PnlAttribution

_RISK_STYLE = {0: "green", 1: "yellow", 2: "yellow", 3: "magenta", 4: "bold red"}


def _fmt(value: float | None, digits: int = 4) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _sig(value: float | None, digits: int) -> str:
    """A value to ``digits`` significant figures, or a dash while its estimator is still warming up."""
    return "–" if value is None else f"{value:.{digits}g}"


def render_status(engine: Engine, attribution: PnlAttribution | None = None, levels: int = 5) -> Group:
    """The status view of an engine as rich renderables (also used by tests, without a terminal)."""
    m = engine.market
    pnl = engine.portfolio.snapshot(engine.now_ns)
    values = engine.params.values if engine.params is not None else {}
    limit = engine.settings.trading.max_absolute_position_size
    level = int(RiskLevel(engine.verdict.level))
    spread = (m.best_ask - m.best_bid) / m.mid * 1e4 if m.mid and m.best_bid and m.best_ask else None

    head = Table.grid(padding=(0, 2))
    head.add_row(
        f"[bold]{engine.asset}[/] mid {_fmt(m.mid, 2)}",
        f"spread {_fmt(spread, 2)} bps",
        f"σ {_sig(values.get('sigma'), 3)}",
        f"κ {_sig(values.get('kappa'), 4)}",
    )
    head.add_row(
        f"position {engine.position} / {limit:g}",
        f"fills {engine.portfolio.fills}",
        f"risk [{_RISK_STYLE[level]}]{RiskLevel(level).name.lower()}[/]"
        + (f" ({engine.verdict.monitor}: {engine.verdict.reason})" if level else ""),
        f"orders {len(engine.live_orders())}",
    )
    ladder = Table(title="our ladder", show_edge=False, expand=False)
    for column in ("bid size", "bid", "ask", "ask size"):
        ladder.add_column(column, justify="right")
    bids, asks = engine.ladder.bids[:levels], engine.ladder.asks[:levels]
    for i in range(max(len(bids), len(asks))):
        b = bids[i] if i < len(bids) else None
        a = asks[i] if i < len(asks) else None
        ladder.add_row(
            str(b.size) if b else "", f"[green]{b.price}[/]" if b else "",
            f"[red]{a.price}[/]" if a else "", str(a.size) if a else "",
        )
    money = Table(title="PnL (USD)", show_edge=False)
    names = ["total", "realized", "unrealized", "fees", "funding"]
    figures = [pnl.total, pnl.realized, pnl.unrealized, 0.0 - pnl.fees, pnl.funding]
    if attribution is not None:
        split = attribution.split(engine.portfolio.mark_price, engine.portfolio.fees, engine.portfolio.funding)
        parts = split.as_floats()
        names += ["spread capture", "adverse sel.", "inventory"]
        figures += [parts["spread_capture"], parts["adverse_selection"], parts["inventory"]]
    for name in names:
        money.add_column(name, justify="right")
    money.add_row(*(_fmt(f, 4) for f in figures))
    return Group(head, ladder, money)


class LiveStatus(RunObserver):
    """Redraws :func:`render_status` on each status interval and, throttled by wall time, while events flow."""

    name = "live-status"
    #: Watches only: told about each event after its actions were submitted, off the order path.
    before_send = False

    def __init__(self, attribution: PnlAttribution | None = None, *, console: Console | None = None,
                 max_hz: float = 4.0, check_every: int = 64) -> None:
        self.attribution = attribution
        self.console = console or Console()
        self.min_interval = 1.0 / max_hz
        self.check_every = check_every
        self._countdown = check_every
        self._last = 0.0
        self.live: Live | None = None

    def on_start(self, engine: Engine, adapter: ExchangeAdapter) -> None:
        """Start the live view."""
        self.live = Live(render_status(engine, self.attribution), console=self.console, auto_refresh=False,
                         redirect_stderr=True, redirect_stdout=False, transient=False)
        self.live.start()

    def on_event(self, engine: Engine, event: Event, actions: Sequence[Action], latency_ns: int) -> None:
        """Every ``check_every`` events, redraw if ``1/max_hz`` seconds of wall time passed."""
        self._countdown -= 1
        if self._countdown > 0:
            return
        self._countdown = self.check_every
        now = time.monotonic()
        if now - self._last >= self.min_interval:
            self._draw(engine, now)

    def on_status(self, engine: Engine) -> None:
        """Redraw."""
        self._draw(engine, time.monotonic())

    def on_stop(self, engine: Engine, result: RunResult) -> None:
        """Draw the final state and stop the view."""
        self._draw(engine, time.monotonic())
        if self.live is not None:
            self.live.stop()

    def _draw(self, engine: Engine, now: float) -> None:
        self._last = now
        if self.live is not None:
            self.live.update(render_status(engine, self.attribution), refresh=True)

    def close(self) -> None:
        """Stop the view if the session ended without ``on_stop`` (an error)."""
        if self.live is not None and self.live.is_started:
            self.live.stop()
