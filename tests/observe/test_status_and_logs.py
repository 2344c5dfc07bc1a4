"""The live status view renders the session's state; JSON log lines are strict JSON with the core keys."""

from __future__ import annotations

import json
import logging

from rich.console import Console

from mmtool.core.logsetup import JsonFormatter
from mmtool.observe.status import LiveStatus, render_status

from .conftest import Observed


def test_status_view_shows_market_ladder_position_and_pnl(observed: Observed) -> None:
    engine = observed.engine
    console = Console(record=True, width=140, force_terminal=False)
    console.print(render_status(engine, observed.attribution))
    text = console.export_text()
    assert f"mid {engine.market.mid:,.2f}" in text
    assert f"position {engine.position} / " in text
    assert f"fills {observed.summary['fills']}" in text
    assert "spread capture" in text and "inventory" in text
    assert f"{observed.summary['total_pnl']:,.4f}" in text


def test_live_status_draws_and_stops(observed: Observed) -> None:
    console = Console(record=True, width=140, force_terminal=True)
    view = LiveStatus(observed.attribution, console=console, check_every=1, max_hz=1000)
    view.on_start(observed.engine, None)
    view.on_event(observed.engine, None, (), 0)
    view.on_status(observed.engine)
    assert view.live is not None and view.live.is_started
    view.close()
    assert not view.live.is_started
    assert "our ladder" in console.export_text()


def test_json_lines_are_strict_json() -> None:
    record = logging.LogRecord("mmtool.engine", logging.INFO, __file__, 1, "Fill processed", None, None)
    record.fields = {"price": "3500.5", "sigma": float("nan"), "bounds": [1.0, float("inf")], "level": "x"}
    line = JsonFormatter().format(record)
    parsed = json.loads(line, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))
    assert parsed["event"] == "Fill processed" and parsed["logger"] == "mmtool.engine"
    assert parsed["level"] == "INFO" and parsed["ts"].endswith("Z")
    assert parsed["sigma"] == "nan" and parsed["bounds"] == [1.0, "inf"]
    assert parsed["level_"] == "x"  # a field named like a core key does not overwrite it
