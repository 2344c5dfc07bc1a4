"""The risk aggregator: runs every risk monitor per event and turns their verdicts into one.

The aggregate is the most severe verdict (ties: the first monitor in config order). A KILL latches until
:meth:`RiskAggregator.reset`, after which trading re-enters with limits scaled by ``reentry_fraction`` for
``reentry_secs``. A monitor that raises is a bug: it is logged once, counted, and its verdict becomes KILL.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import TYPE_CHECKING

import attrs

from mmtool.core.types import RiskLevel, Verdict

if TYPE_CHECKING:
    from mmtool.core.components import RiskMonitor, RiskState
    from mmtool.core.config import RiskConfig

log = logging.getLogger("mmtool.risk")

NS = 1_000_000_000
#: ``KillEvent.monitor`` of a kill asked for from outside the monitors (CLI, runner, operator).
EXTERNAL = "external"


def _freeze(figures: Mapping[str, float]) -> Mapping[str, float]:
    return MappingProxyType(dict(figures))


@attrs.frozen
class KillEvent:
    """One firing of the kill switch: when, which monitor, why, and the figures behind it."""

    ts_ns: int
    monitor: str
    reason: str
    figures: Mapping[str, float] = attrs.field(factory=dict, converter=_freeze)


def format_figures(figures: Mapping[str, float]) -> str:
    """Figures as ``name=value`` pairs for a log line (``value=512.3 limit=500``)."""
    # Timestamps in ns (resume_at_ns) are whole numbers that %g would cut to 6 digits.
    return " ".join(f"{k}={v:.0f}" if k.endswith("_ns") else f"{k}={v:.10g}" for k, v in figures.items())


def _plugin_class(monitor: object) -> str:
    cls = type(monitor)
    return f"{cls.__module__}.{cls.__qualname__}"


class RiskAggregator:
    """Evaluates the risk monitors in config order and keeps the kill latch and the re-entry period.

    ``kill_events`` lists every firing of the kill switch (one per latch); ``errors`` counts monitor exceptions.
    """

    def __init__(
        self, monitors: Sequence[RiskMonitor], *, reentry_secs: float = 0.0, reentry_fraction: float = 0.5
    ) -> None:
        if reentry_secs < 0:
            raise ValueError(f"reentry_secs must be >= 0 (got {reentry_secs})")
        if not 0 < reentry_fraction <= 1:
            raise ValueError(f"reentry_fraction must be in (0, 1] (got {reentry_fraction})")
        self.monitors: tuple[RiskMonitor, ...] = tuple(monitors)
        self._names = tuple(str(getattr(m, "name", type(m).__name__)) for m in self.monitors)
        self.reentry_ns = round(reentry_secs * NS)
        self.reentry_fraction = reentry_fraction
        self.kill_events: list[KillEvent] = []
        self.errors = 0
        self._latched: Verdict | None = None
        self._reentry_until_ns: int | None = None
        self._levels: dict[int, RiskLevel] = {}
        self._failed: set[int] = set()
        self._mode = RiskLevel.OK
        #: Monitors with the optional ``wake_at_ns`` (see :class:`~mmtool.core.components.RiskMonitor`).
        self._wakers = tuple(
            (index, waker) for index, m in enumerate(self.monitors)
            if callable(waker := getattr(m, "wake_at_ns", None))
        )
        self._failed_wakers: set[int] = set()
        #: The earliest time (event ns) at which a monitor's verdict changes with time alone, after the last
        #: :meth:`evaluate`; None when no monitor expects one or once killed.
        self.wake_at_ns: int | None = None

    @classmethod
    def from_settings(cls, monitors: Sequence[RiskMonitor], risk: RiskConfig) -> RiskAggregator:
        """An aggregator with the re-entry settings of ``[risk]``."""
        return cls(monitors, reentry_secs=risk.reentry_secs, reentry_fraction=risk.reentry_fraction)

    @property
    def killed(self) -> bool:
        """True from a KILL until :meth:`reset`."""
        return self._latched is not None

    def evaluate(self, state: RiskState) -> Verdict:
        """Run every monitor on ``state`` and return the most severe verdict (the latched kill once killed)."""
        if self._latched is not None:
            self.wake_at_ns = None
            return self._latched
        worst: Verdict | None = None
        levels = self._levels
        for index, monitor in enumerate(self.monitors):
            verdict = self._check(index, monitor, state)
            level = verdict.level
            if level is RiskLevel.WARN and levels.get(index, RiskLevel.OK) is not RiskLevel.WARN:
                self._log_warn(verdict)
            levels[index] = level
            if worst is None or level > worst.level:
                worst = verdict
        if worst is None:
            worst = Verdict.ok()
        if worst.level is RiskLevel.KILL:
            self._latch(worst, state.ts_ns)
        else:
            self._log_mode(worst)
            if self._wakers:
                self.wake_at_ns = self._next_wake(state)
        return worst

    def kill(self, reason: str, figures: Mapping[str, float], ts_ns: int) -> None:
        """Fire the kill switch from outside the monitors (operator, runner); no-op while already killed."""
        if self._latched is None:
            self._latch(Verdict(RiskLevel.KILL, reason, figures, EXTERNAL), ts_ns)

    def reset(self, ts_ns: int) -> None:
        """Clear the kill latch and start the re-entry period at ``ts_ns``."""
        if self._latched is not None:
            log.warning("Kill switch reset at ts=%d (was: %s)", ts_ns, self._latched.reason)
        self._latched = None
        self._levels.clear()
        self._mode = RiskLevel.OK
        self._reentry_until_ns = ts_ns + self.reentry_ns if self.reentry_ns > 0 else None
        if self._reentry_until_ns is not None:
            log.info(
                "Re-entry: limits scaled to %g until ts=%d (%g s)",
                self.reentry_fraction,
                self._reentry_until_ns,
                self.reentry_ns / NS,
            )

    def limit_scale(self, ts_ns: int) -> float:
        """Factor for size and position limits: ``reentry_fraction`` during re-entry, else 1.0."""
        if self._reentry_until_ns is not None and ts_ns < self._reentry_until_ns:
            return self.reentry_fraction
        return 1.0

    # ------------------------------------------------------------------------------------------- internals

    def _next_wake(self, state: RiskState) -> int | None:
        """The earliest ``wake_at_ns`` after ``state.ts_ns``. One that raises only loses its wake-up (its
        ``check`` still runs every event): logged once, counted in ``errors``."""
        wake: int | None = None
        for index, waker in self._wakers:
            try:
                at = waker(state)
            except Exception:
                self.errors += 1
                if index not in self._failed_wakers:
                    self._failed_wakers.add(index)
                    log.exception("Risk monitor %s (%s) raised in wake_at_ns; it gets no wake-up",
                                  self._names[index], _plugin_class(self.monitors[index]))
                continue
            if at is not None and at > state.ts_ns and (wake is None or at < wake):
                wake = at
        return wake

    def _check(self, index: int, monitor: RiskMonitor, state: RiskState) -> Verdict:
        name = self._names[index]
        try:
            verdict = monitor.check(state)
        except Exception as exc:
            self.errors += 1
            if index not in self._failed:
                self._failed.add(index)
                log.exception(
                    "Risk monitor %s (%s) raised at event ts=%d; treating it as KILL",
                    name,
                    _plugin_class(monitor),
                    state.ts_ns,
                )
            return Verdict(RiskLevel.KILL, f"risk monitor raised {type(exc).__name__}: {exc}", {}, name)
        return verdict if verdict.monitor else attrs.evolve(verdict, monitor=name)

    def _log_warn(self, verdict: Verdict) -> None:
        """Log a monitor's entry into WARN (once per transition)."""
        log.warning(
            "Kill switch condition detected: monitor=%s reason=%s %s",
            verdict.monitor,
            verdict.reason,
            format_figures(verdict.figures),
        )

    def _log_mode(self, worst: Verdict) -> None:
        """Log entering and leaving pause and reduce-only, once per transition of the aggregate."""
        previous, self._mode = self._mode, worst.level
        if previous is worst.level:
            return
        if previous is RiskLevel.REDUCE_ONLY:
            log.warning("Reduce-only mode exited")
        elif previous is RiskLevel.PAUSE:
            log.info("Trading resumed after pause")
        if worst.level is RiskLevel.REDUCE_ONLY:
            log.warning(
                "Reduce-only mode entered: monitor=%s reason=%s %s",
                worst.monitor,
                worst.reason,
                format_figures(worst.figures),
            )
        elif worst.level is RiskLevel.PAUSE:
            log.info(
                "Trading paused: monitor=%s reason=%s %s", worst.monitor, worst.reason, format_figures(worst.figures)
            )

    def _latch(self, verdict: Verdict, ts_ns: int) -> None:
        self._latched = verdict
        self.wake_at_ns = None
        self._mode = RiskLevel.KILL
        self.kill_events.append(KillEvent(ts_ns, verdict.monitor, verdict.reason, verdict.figures))
        log.error(
            "KILL SWITCH TRIGGERED: monitor=%s reason=%s %s",
            verdict.monitor,
            verdict.reason,
            format_figures(verdict.figures),
        )
