"""Every extension point of mmtool, declared and documented here.

A plugin is a module (or object) registered under the entry-point group ``mmtool`` that implements some of
these hooks with :data:`hookimpl`. Registration hooks return component classes and have no side effects;
pluggy runs only at start-up, never per market event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    import click

PROJECT = "mmtool"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def mmtool_register_strategies() -> list[type]:
    """Return the strategy classes this plugin provides.

    Called once when the plugin manager loads. Each class follows :class:`mmtool.core.components.Strategy`:
    ``name``, ``Config``, ``requires``, ``from_config(config, ctx)`` and ``quote(ctx) -> Ladder``.

    :return: a list of strategy classes (empty if none).

    Example::

        @hookimpl
        def mmtool_register_strategies():
            return [MyStrategy]
    """


@hookspec
def mmtool_register_estimators() -> list[type]:
    """Return the estimator classes this plugin provides.

    Called once when the plugin manager loads. Each class follows
    :class:`mmtool.core.components.Estimator`: ``name``, ``Config``, ``from_config(config, ctx)``,
    ``on_event(event, market)``, ``values()`` and ``warmed_up``.

    :return: a list of estimator classes (empty if none).

    Example::

        @hookimpl
        def mmtool_register_estimators():
            return [MyVolatility]
    """


@hookspec
def mmtool_register_risk_monitors() -> list[type]:
    """Return the risk monitor classes this plugin provides.

    Called once when the plugin manager loads. Each class follows
    :class:`mmtool.core.components.RiskMonitor`: ``name``, ``Config``, ``from_config(config, ctx)`` and
    ``check(state) -> Verdict``.

    :return: a list of risk monitor classes (empty if none).

    Example::

        @hookimpl
        def mmtool_register_risk_monitors():
            return [MaxOpenOrders]
    """


@hookspec
def mmtool_register_exchanges() -> list[type]:
    """Return the exchange adapter classes this plugin provides.

    Called once when the plugin manager loads. Each class follows
    :class:`mmtool.core.components.ExchangeAdapter`. The adapter's ``name`` is what ``--network`` maps to
    through the config (``sim`` for the simulator, ``hyperliquid`` for the live exchange).

    :return: a list of exchange adapter classes (empty if none).

    Example::

        @hookimpl
        def mmtool_register_exchanges():
            return [MyExchangeAdapter]
    """


@hookspec
def mmtool_register_commands() -> list[click.Command]:
    """Return extra ``mmtool`` subcommands (click commands) this plugin adds to the CLI.

    Called once when the CLI starts. A command whose name clashes with a built-in or another plugin's
    command is refused with an error naming both plugins.

    :return: a list of ``click.Command`` objects (empty if none).

    Example::

        @hookimpl
        def mmtool_register_commands():
            return [my_click_command]
    """


@hookspec(firstresult=True)
def mmtool_resolve_secret(name: str, settings: Any) -> str | None:
    """Return the secret called ``name`` (e.g. ``"private_key"``) or None to let the next plugin try.

    Called when a component needs a secret, so a plugin can fetch keys from a vault or keyring. The
    built-in resolver reads ``HYPERLIQUID_PRIVATE_KEY`` from the environment or a ``.env`` file, or a key
    file with 0600 permissions. First non-None result wins. A secret is never logged.

    :param name: the secret's name, e.g. ``"private_key"``.
    :param settings: the loaded :class:`mmtool.core.config.Settings`.
    :return: the secret, or None.

    Example::

        @hookimpl
        def mmtool_resolve_secret(name, settings):
            return keyring.get_password("mmtool", name) if name == "private_key" else None
    """


@hookspec
def mmtool_register_metrics() -> list[type]:
    """Return metric source classes: each adds its own Prometheus metrics to a session's metrics endpoint.

    Called once per session that serves metrics (``--metrics-port``). A class has a ``name`` and two methods:
    ``create(registry, asset)`` (classmethod) declares its metrics in the session's own
    ``prometheus_client.CollectorRegistry`` and returns an instance; ``update(engine)`` refreshes them and is
    called at every gauge refresh (every ``monitoring.refresh_events`` events and each status interval),
    never per event. A source that raises is logged, counted and dropped; trading goes on.

    :return: a list of metric source classes (empty if none).

    Example::

        @hookimpl
        def mmtool_register_metrics():
            return [QueueDepthMetrics]
    """


@hookspec
def mmtool_register_alert_sinks() -> list[type]:
    """Return the alert sink classes this plugin provides (kind ``alert_sink``).

    Called once when the plugin manager loads. Each class has ``name``, ``Config``, ``from_config(config,
    ctx)``, ``send(alert)`` and ``close()``. Sinks named in ``[alerts] sinks`` receive every
    :class:`mmtool.observe.alerts.Alert` (kill, pause, reconnect storm, reconciliation) from a background
    thread with a bounded queue, so a slow sink never blocks trading; one that raises is logged and counted.

    :return: a list of alert sink classes (empty if none).

    Example::

        @hookimpl
        def mmtool_register_alert_sinks():
            return [PagerDutySink]
    """
