"""The state the observers of one session share: counters the engine does not keep, and the alert dispatcher."""

from __future__ import annotations

from typing import Any

import attrs

from mmtool.observe.alerts import Alert, AlertDispatcher


@attrs.define
class ObserveHub:
    """Counters the observers share (reconnects, reconciliation discrepancies, journal errors) and the alerts.

    The journal, the alert watcher and the metrics observer of one session hold the same hub.
    """

    asset: str
    dispatcher: AlertDispatcher | None = None
    reconnects: int = 0
    reconciliation_discrepancies: int = 0
    journal_errors: int = 0
    recovered_fills: int = 0

    def alert(self, kind: str, message: str, ts_ns: int, **fields: Any) -> None:
        """Publish an alert to the sinks (a no-op without a dispatcher)."""
        if self.dispatcher is not None:
            self.dispatcher.publish(Alert(kind, self.asset, message, ts_ns, fields))

    def discrepancy(self, message: str, ts_ns: int, **fields: Any) -> None:
        """Count a reconciliation discrepancy and raise a ``reconciliation`` alert."""
        self.reconciliation_discrepancies += 1
        self.alert("reconciliation", message, ts_ns, **fields)
