"""A simulated session observed by every observer at once, shared by the observability tests."""

from __future__ import annotations

import asyncio
import math
import urllib.request
from pathlib import Path
from typing import Any

import attrs
import pytest

from mmtool.core.config_loader import load_settings
from mmtool.core.plugins import load_registry
from mmtool.core.runner import RunObserver, RunOptions
from mmtool.core.session import run_session
from mmtool.observe.hub import ObserveHub
from mmtool.observe.journal import Journal, JournalObserver
from mmtool.observe.metrics import MetricsObserver, MetricsServer
from mmtool.observe.pnl_attribution import AttributionObserver, PnlAttribution
from mmtool.observe.watch import AlertWatcher

SEED = 7
DURATION_S = 240.0


class Scraper(RunObserver):
    """Scrapes ``/metrics`` at the third status interval, while the session trades."""

    name = "scraper"

    def __init__(self, url: str) -> None:
        self.url = url
        self.statuses = 0
        self.mid_run: str | None = None
        self.fills_then = -1

    def on_status(self, engine: Any) -> None:
        self.statuses += 1
        if self.statuses == 3:
            self.fills_then = engine.portfolio.fills
            with urllib.request.urlopen(self.url, timeout=5) as response:
                self.mid_run = response.read().decode()


@attrs.frozen
class Observed:
    """Everything the shared session left behind."""

    summary: dict[str, Any]
    engine: Any
    attribution: PnlAttribution
    journal_path: Path
    metrics_text: str
    scraper: Scraper
    metrics: MetricsObserver
    hub: ObserveHub


@pytest.fixture(scope="session")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Observed:
    """One 240 s (simulated) session at full speed with the attribution, journal, alerts and metrics."""
    settings = load_settings(None, overrides={"plugins.sim.speed": math.inf, "plugins.sim.seed": SEED}, env={})
    registry = load_registry()
    hub = ObserveHub(settings.trading.asset)
    attribution = PnlAttribution(5.0, keep_resolved=True)
    path = tmp_path_factory.mktemp("journal") / "run.sqlite"
    journal = Journal(path)
    metrics = MetricsObserver(settings.trading.asset, hub, attribution, refresh_events=128)
    server = MetricsServer(metrics.registry, 0)
    url = f"http://127.0.0.1:{server.port}/metrics"
    scraper = Scraper(url)
    observers = [
        AttributionObserver(attribution),
        AlertWatcher(hub),
        JournalObserver(journal, hub, attribution, network="sim", seed=SEED),
        metrics,
        scraper,
    ]
    try:
        outcome = asyncio.run(
            run_session(settings, registry, RunOptions(duration_s=DURATION_S), seed=SEED, observers=observers)
        )
        with urllib.request.urlopen(url, timeout=5) as response:
            text = response.read().decode()
    finally:
        journal.close()
        server.close()
    return Observed(outcome.summary, outcome.engine, attribution, path, text, scraper, metrics, hub)
