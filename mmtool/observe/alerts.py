"""Alerts: what happened (kill, pause, reconnect storm, reconciliation) and a dispatcher that hands each alert
to the alert sinks on a background thread, so a slow or failing sink never blocks the trading loop.

The queue is bounded: when it is full the alert is dropped and counted. A sink that raises is logged and
counted; the next alert is tried again.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal, Protocol

import attrs

log = logging.getLogger("mmtool.alerts")

AlertKind = Literal["kill", "pause", "reconnect_storm", "reconciliation"]
ALERT_KINDS: tuple[str, ...] = ("kill", "pause", "reconnect_storm", "reconciliation")


def _freeze(fields: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(fields))


@attrs.frozen
class Alert:
    """One alert: its kind, the asset, a one-line message, the event time and the figures behind it."""

    kind: str
    asset: str
    message: str
    ts_ns: int
    fields: Mapping[str, Any] = attrs.field(factory=dict, converter=_freeze)

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape sinks send: ``source``, ``kind``, ``asset``, ``message``, ``ts_ns`` and ``fields``."""
        return {
            "source": "mmtool",
            "kind": self.kind,
            "asset": self.asset,
            "message": self.message,
            "ts_ns": self.ts_ns,
            "fields": dict(self.fields),
        }


class AlertSink(Protocol):
    """What an alert sink plugin provides (kind ``alert_sink``); ``send`` runs on the dispatcher's thread."""

    name: str

    def send(self, alert: Alert) -> None:
        """Deliver one alert; may block (up to the sink's own timeout) and may raise."""

    def close(self) -> None:
        """Release resources at the end of the session."""


_STOP = object()


class AlertDispatcher:
    """Sends alerts to every sink from one daemon thread, through a bounded queue.

    ``sent``, ``failed`` (a sink raised) and ``dropped`` (queue full) count deliveries; they are read by the
    metrics observer.
    """

    def __init__(self, sinks: Sequence[AlertSink], queue_size: int = 256) -> None:
        if queue_size < 1:
            raise ValueError(f"queue_size must be >= 1 (got {queue_size})")
        self.sinks = list(sinks)
        self.sent = 0
        self.failed = 0
        self.dropped = 0
        self._queue: queue.Queue[object] = queue.Queue(maxsize=queue_size)
        self._thread = threading.Thread(target=self._work, name="mmtool-alerts", daemon=True)
        self._started = False

    def start(self) -> None:
        """Start the sending thread (idempotent)."""
        if not self._started:
            self._started = True
            self._thread.start()

    def publish(self, alert: Alert) -> bool:
        """Queue an alert without blocking; False (and counted in ``dropped``) when the queue is full."""
        log.warning("Alert", extra={"fields": {"kind": alert.kind, "message": alert.message, **alert.fields}})
        if not self.sinks:
            return True
        try:
            self._queue.put_nowait(alert)
        except queue.Full:
            self.dropped += 1
            return False
        return True

    def close(self, timeout_s: float = 5.0) -> None:
        """Send what is queued (waiting at most ``timeout_s``), stop the thread and close the sinks."""
        if self._started:
            deadline = time.monotonic() + timeout_s
            while not self._queue.empty() and time.monotonic() < deadline:
                time.sleep(0.01)
            try:
                self._queue.put(_STOP, timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Full:
                log.error("Alerts still queued at exit were dropped", extra={"fields": {"queued": self._queue.qsize()}})
            self._thread.join(max(deadline - time.monotonic(), 0.1))
        for sink in self.sinks:
            try:
                sink.close()
            except Exception as exc:  # closing must not hide the session's own outcome
                log.error("Alert sink failed to close", extra={"fields": {"sink": sink.name, "error": repr(exc)}})

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            if item is _STOP:
                return
            assert isinstance(item, Alert)
            for sink in self.sinks:
                try:
                    sink.send(item)
                    self.sent += 1
                except Exception as exc:  # a failing sink is logged, counted and dropped for this alert
                    self.failed += 1
                    log.error(
                        "Alert sink failed",
                        extra={"fields": {"sink": sink.name, "kind": item.kind, "error": repr(exc)}},
                    )
