"""Observability and durable records: Prometheus metrics, the SQLite journal, alerts, the live status view,
the PnL attribution and the session report. Everything here watches the engine through
:class:`mmtool.core.runner.RunObserver` and never decides anything."""
