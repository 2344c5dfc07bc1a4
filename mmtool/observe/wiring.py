"""Builds a session's observers from the settings: PnL attribution, journal, alerts, metrics, live status.

``mmtool run`` calls :func:`build_observation` before connecting (so a busy port, a public bind or a journal
in use refuse to start early), hands ``observers`` and ``on_connected`` (the journal's start-up recovery) to
:func:`mmtool.core.session.run_session`, and calls :meth:`Observation.close` at the end.
"""

from __future__ import annotations

import logging
import sys
from typing import TYPE_CHECKING, Any

import attrs

from mmtool.core.components import ComponentContext
from mmtool.core.config_loader import component_config
from mmtool.core.errors import ConfigError, UnknownComponentError
from mmtool.core.rounding import AssetRules
from mmtool.observe.alerts import AlertDispatcher
from mmtool.observe.hub import ObserveHub
from mmtool.observe.journal import Journal, JournalObserver, journal_path, previous_session_start, recover
from mmtool.observe.metrics import MetricsObserver, MetricsServer, check_bind
from mmtool.observe.pnl_attribution import AttributionObserver, PnlAttribution, adverse_horizon_secs
from mmtool.observe.status import LiveStatus
from mmtool.observe.watch import AlertWatcher

if TYPE_CHECKING:
    from pathlib import Path

    from mmtool.core.components import ExchangeAdapter
    from mmtool.core.config import Settings
    from mmtool.core.engine import Engine
    from mmtool.core.plugins import Registry
    from mmtool.core.runner import RunObserver

log = logging.getLogger("mmtool.observe")


@attrs.define
class Observation:
    """The observers of one session and what they hold open (metrics server, journal, alert thread)."""

    hub: ObserveHub
    attribution: PnlAttribution
    observers: list[RunObserver] = attrs.field(factory=list)
    metrics: MetricsObserver | None = None
    server: MetricsServer | None = None
    journal: Journal | None = None
    status: LiveStatus | None = None

    async def on_connected(self, engine: Engine, adapter: ExchangeAdapter) -> None:
        """Reconcile the journal with the exchange before trading: recover missing fills, compare positions.

        The exchange's fill history comes from the adapter's optional ``fill_history(since_ns)`` coroutine, asked
        from the start of the last session on this network and account.
        """
        if self.journal is None:
            return
        network = engine.settings.network.name
        account = getattr(adapter, "account_id", "")
        since = previous_session_start(self.journal, network, engine.asset, account)
        history = getattr(adapter, "fill_history", None)
        fills = list(await history(since)) if callable(history) and since is not None else []
        position = await adapter.position()
        result = recover(self.journal, network, engine.asset, fills, position, account)
        self.hub.recovered_fills += result.recovered_fills
        if result.discrepancy:
            fields = {"journal_position": str(result.journal_position),
                      "exchange_position": str(result.exchange_position)}
            log.error("Journal and exchange disagree on the position", extra={"fields": fields})
            self.hub.discrepancy("journal and exchange disagree on the position", engine.now_ns, **fields)

    def close(self) -> None:
        """Stop the live view, send queued alerts, close the journal and the metrics server."""
        if self.status is not None:
            self.status.close()
        if self.hub.dispatcher is not None:
            self.hub.dispatcher.close()
        if self.journal is not None:
            self.journal.close()
        if self.server is not None:
            self.server.close()


def build_alert_sinks(settings: Settings, registry: Registry) -> list[Any]:
    """Build the sinks named in ``[alerts] sinks`` from their ``[plugins.<name>]`` tables."""
    ctx = ComponentContext(settings.trading.asset, AssetRules(settings.trading.asset, 4), settings)
    sinks, problems = [], []
    for name in settings.alerts.sinks:
        try:
            cls = registry.get("alert_sink", name)
            sinks.append(cls.from_config(component_config(settings, cls), ctx))
        except UnknownComponentError as exc:
            problems.append(f"alerts.sinks: {exc}")
        except ConfigError as exc:
            problems += exc.problems
        except ValueError as exc:
            problems.append(f"plugins.{name}: {exc}")
    if problems:
        raise ConfigError(problems)
    return sinks


def metric_sources(registry: Registry) -> list[type]:
    """Metric source classes from every plugin's ``mmtool_register_metrics``."""
    return [cls for result in registry.hook.mmtool_register_metrics() for cls in (result or [])]


def build_observation(
    settings: Settings,
    registry: Registry,
    *,
    seed: int | None = None,
    journal_file: Path | None = None,
    journal: bool | None = None,
    live_status: bool | None = None,
) -> Observation:
    """Everything ``mmtool run`` observes a session with, per the settings and the CLI's choices.

    ``journal_file`` forces a journal at that path (even on the simulator); ``journal=False`` turns it off;
    ``live_status`` None means: on when configured and stdout is a terminal.
    """
    asset = settings.trading.asset
    monitoring = settings.monitoring
    if monitoring.metrics_port:
        # Refuse a public bind before anything is opened or written.
        check_bind(monitoring.bind, monitoring.allow_public_bind)
    hub = ObserveHub(asset)
    attribution = PnlAttribution(adverse_horizon_secs(settings), keep_resolved=True)
    obs = Observation(hub=hub, attribution=attribution)
    obs.observers.append(AttributionObserver(attribution))
    try:
        sinks = build_alert_sinks(settings, registry)
        if sinks:
            hub.dispatcher = AlertDispatcher(sinks, settings.alerts.queue_size)
            hub.dispatcher.start()
        obs.observers.append(AlertWatcher(hub, settings.alerts.reconnect_storm_count,
                                          settings.alerts.reconnect_storm_secs))
        obs.journal = _open_journal(settings, journal_file, journal)
        if obs.journal is not None:
            obs.observers.append(JournalObserver(
                obs.journal, hub, attribution, network=settings.network.name, seed=seed,
                commit_interval_ms=settings.journal.commit_interval_ms, write_ahead=settings.journal.write_ahead,
            ))
        if monitoring.metrics_port:
            obs.metrics = MetricsObserver(asset, hub, attribution, refresh_events=monitoring.refresh_events,
                                          sources=metric_sources(registry))
            obs.server = MetricsServer(obs.metrics.registry, monitoring.metrics_port, monitoring.bind,
                                       allow_public=monitoring.allow_public_bind)
            obs.observers.append(obs.metrics)
            log.info("Metrics served", extra={"fields": {"url": f"http://{obs.server.address}:{obs.server.port}/metrics"}})
        show = live_status if live_status is not None else monitoring.live_status and sys.stdout.isatty()
        if show:
            obs.status = LiveStatus(attribution)
            obs.observers.append(obs.status)
    except BaseException:
        obs.close()
        raise
    return obs


def _open_journal(settings: Settings, journal_file: Path | None, enabled: bool | None) -> Journal | None:
    config = settings.journal
    if enabled is False:
        return None
    if journal_file is None:
        on = config.enabled and (settings.network.name != "sim" or config.simulator)
        if not on and not enabled:
            return None
        journal_file = journal_path(config.path, settings.network.name, settings.trading.asset)
    return Journal(journal_file, synchronous=config.synchronous, checkpoint_secs=config.checkpoint_secs)
