"""The alert watcher: turns kills, pauses, reconnect storms and a position mismatch at exit into alerts."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from mmtool.core.runner import RunObserver
from mmtool.core.types import Connection, RiskLevel

if TYPE_CHECKING:
    from mmtool.core.components import ExchangeAdapter
    from mmtool.core.engine import Engine
    from mmtool.core.runner import RunResult
    from mmtool.core.types import Action, Event
    from mmtool.observe.hub import ObserveHub

log = logging.getLogger("mmtool.observe")
NS = 1_000_000_000


class AlertWatcher(RunObserver):
    """Watches the engine after every event for the conditions that page an operator.

    - ``kill``: a new entry in the risk aggregator's kill events;
    - ``pause``: the aggregate verdict enters PAUSE (or REDUCE_ONLY) from a milder level;
    - ``reconnect_storm``: ``storm_count`` reconnects within ``storm_secs`` of event time (once per storm);
    - ``reconciliation``: the engine's position differs from the exchange's at exit.
    Per event it costs a type check, a length and a level comparison.
    """

    name = "alerts"
    #: Watches only: told about each event after its actions were submitted, off the order path.
    before_send = False

    def __init__(self, hub: ObserveHub, storm_count: int = 5, storm_secs: float = 60.0) -> None:
        self.hub = hub
        self.storm_count = storm_count
        self.storm_ns = int(storm_secs * NS)
        self._kills = 0
        self._level = RiskLevel.OK
        self._reconnects: deque[int] = deque(maxlen=storm_count)
        self._storming = False
        self._was_down = False

    def on_start(self, engine: Engine, adapter: ExchangeAdapter) -> None:
        """Start counting from the engine's state at start (a reset kill is not re-reported)."""
        self._kills = len(engine.risk.kill_events)
        self._level = engine.verdict.level

    def on_event(self, engine: Engine, event: Event, actions: Sequence[Action], latency_ns: int) -> None:
        """Check the event and the engine's verdict for an alert condition."""
        if type(event) is Connection:
            self._connection(event)
        kills = engine.risk.kill_events
        if len(kills) > self._kills:
            for kill in kills[self._kills :]:
                self.hub.alert(
                    "kill",
                    f"KILL SWITCH TRIGGERED: {kill.monitor}: {kill.reason}",
                    kill.ts_ns,
                    monitor=kill.monitor,
                    reason=kill.reason,
                    **dict(kill.figures),
                )
            self._kills = len(kills)
        level = engine.verdict.level
        if level is not self._level:
            if level in (RiskLevel.PAUSE, RiskLevel.REDUCE_ONLY) and self._level < level:
                verdict = engine.verdict
                what = "paused" if level is RiskLevel.PAUSE else "reduce-only"
                self.hub.alert(
                    "pause",
                    f"Trading {what}: {verdict.monitor}: {verdict.reason}",
                    engine.now_ns,
                    level=level.name.lower(),
                    monitor=verdict.monitor,
                    reason=verdict.reason,
                )
            self._level = level

    def _connection(self, event: Connection) -> None:
        if not event.up:
            self._was_down = True
            return
        if not self._was_down:
            return
        self._was_down = False
        self.hub.reconnects += 1
        ts = event.ts_local_ns
        self._reconnects.append(ts)
        full = len(self._reconnects) == self.storm_count
        storming = full and ts - self._reconnects[0] <= self.storm_ns
        if storming and not self._storming:
            self.hub.alert(
                "reconnect_storm",
                f"{self.storm_count} reconnects within {self.storm_ns / NS:g} s",
                ts,
                reconnects=self.hub.reconnects,
            )
        self._storming = storming

    def on_stop(self, engine: Engine, result: RunResult) -> None:
        """Compare the engine's position with the exchange's word at exit."""
        exchange = result.exchange_position
        if exchange is not None and exchange != engine.position:
            log.error(
                "Position differs from the exchange at exit",
                extra={"fields": {"position": str(engine.position), "exchange_position": str(exchange)}},
            )
            self.hub.discrepancy(
                "position differs from the exchange at exit",
                engine.now_ns,
                position=str(engine.position),
                exchange_position=str(exchange),
            )
