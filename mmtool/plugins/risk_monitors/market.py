"""Risk monitors on the market and the connection: stale data, liquidation cascades, rate-limit errors.

Each reads its limit from ``[risk]``; its ``[plugins.<name>]`` table may override it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar, Literal

import attrs

from mmtool.core.config import ge, gt, le
from mmtool.core.errors import ConfigError
from mmtool.core.hookspecs import hookimpl
from mmtool.core.types import RiskLevel, Verdict
from mmtool.plugins.risk_monitors._threshold import NEAR_LIMIT, judge, override, pick

if TYPE_CHECKING:
    from mmtool.core.components import ComponentContext, RiskState

NS = 1_000_000_000
CASCADE_VALUE = "cascade_severity"


_WARN_HELP = "Warn at this fraction of the limit (default: risk.warn_fraction)"


@attrs.frozen
class StaleData:
    """Kill when no market data has arrived for too long.

    The age is ``state.ts_ns - state.last_market_ts_ns``; it fires once the age reaches the limit. Before the
    first market event (``last_market_ts_ns == 0``) there is nothing to be stale and it stays OK.
    """

    name: ClassVar[str] = "stale-data"

    @attrs.frozen
    class Config:
        """Overrides of ``risk.stale_data_secs`` and ``risk.warn_fraction``."""

        stale_data_secs: float | None = override([gt(0)], "Seconds without market data (default: risk.stale_data_secs)")
        warn_fraction: float | None = override([gt(0), le(1)], _WARN_HELP)

    limit_ns: int
    warn_fraction: float

    @classmethod
    def from_config(cls, config: StaleData.Config, ctx: ComponentContext) -> StaleData:
        """Build from the monitor's config, falling back to ``[risk]``."""
        risk = ctx.settings.risk
        secs = pick(config.stale_data_secs, risk.stale_data_secs)
        return cls(round(secs * NS), pick(config.warn_fraction, risk.warn_fraction))

    def check(self, state: RiskState) -> Verdict:
        """KILL when ``ts_ns - last_market_ts_ns >= stale_data_secs``."""
        if state.last_market_ts_ns <= 0:
            return Verdict.ok(self.name)
        age_ns = state.ts_ns - state.last_market_ts_ns
        # Compared in integer ns so "exactly 5 s" is exact; the figures are reported in seconds.
        if age_ns >= self.limit_ns:
            return Verdict(RiskLevel.KILL, "market data is stale", self._figures(age_ns), self.name)
        if age_ns >= self.warn_fraction * self.limit_ns:
            return Verdict(RiskLevel.WARN, NEAR_LIMIT, self._figures(age_ns), self.name)
        return Verdict.ok(self.name)

    def _figures(self, age_ns: int) -> dict[str, float]:
        return {"value": age_ns / NS, "limit": self.limit_ns / NS}

    def wake_at_ns(self, state: RiskState) -> int | None:
        """When the verdict next changes if no market data arrives: the warning, then the kill (event time, ns).

        So an adapter that can wake the engine at a given time makes the kill fire at the limit itself, not at
        the next periodic timer (up to a second later). None before the first market event and once stale.
        """
        last = state.last_market_ts_ns
        if last <= 0:
            return None
        age_ns = state.ts_ns - last
        # ``check`` warns at age >= warn_fraction * limit: for an integer age, the same as age >= ceil(...).
        warn_ns = math.ceil(self.warn_fraction * self.limit_ns)
        if age_ns < warn_ns:
            return last + warn_ns
        if age_ns < self.limit_ns:
            return last + self.limit_ns
        return None


class Cascade:
    """Pause (or go reduce-only) in a liquidation cascade, and kill in a severe one.

    Reads ``values["cascade_severity"]`` (0..1, published by the ``liquidation-cascade`` estimator; absent
    means 0). KILL once it reaches ``cascade_kill_severity``. From ``cascade_pause_severity`` it answers
    ``cascade_action`` (PAUSE or REDUCE_ONLY) until ``pause_cooldown_secs`` after the severity was last at or
    above that threshold, with ``figures["resume_at_ns"]``; then it resumes by itself. WARN from
    ``warn_fraction`` of the pause threshold.
    """

    name: ClassVar[str] = "cascade"

    @attrs.frozen
    class Config:
        """Overrides of the ``[risk]`` cascade settings."""

        cascade_kill_severity: float | None = override(
            [gt(0), le(1)], "Kill at this severity (default: risk.cascade_kill_severity)"
        )
        cascade_pause_severity: float | None = override(
            [gt(0), le(1)], "Pause or reduce-only at this severity (default: risk.cascade_pause_severity)"
        )
        cascade_action: Literal["pause", "reduce_only"] | None = attrs.field(
            default=None,
            validator=attrs.validators.optional(attrs.validators.in_(("pause", "reduce_only"))),
            metadata={"help": "pause or reduce_only (default: risk.cascade_action)"},
        )
        pause_cooldown_secs: float | None = override(
            [gt(0)], "Seconds the pause lasts after the condition (default: risk.pause_cooldown_secs)"
        )
        warn_fraction: float | None = override([gt(0), le(1)], _WARN_HELP)

    def __init__(
        self,
        kill_severity: float,
        pause_severity: float,
        action: RiskLevel,
        cooldown_ns: int,
        warn_fraction: float,
    ) -> None:
        if not pause_severity < kill_severity:
            raise ValueError(f"pause severity must be < kill severity ({pause_severity} >= {kill_severity})")
        if action not in (RiskLevel.PAUSE, RiskLevel.REDUCE_ONLY):
            raise ValueError(f"action must be PAUSE or REDUCE_ONLY (got {action.name})")
        self.kill_severity = kill_severity
        self.pause_severity = pause_severity
        self.action = action
        self.cooldown_ns = cooldown_ns
        self.warn_fraction = warn_fraction
        self._resume_at_ns: int | None = None

    @classmethod
    def from_config(cls, config: Cascade.Config, ctx: ComponentContext) -> Cascade:
        """Build from the monitor's config, falling back to ``[risk]``."""
        risk = ctx.settings.risk
        action = pick(config.cascade_action, risk.cascade_action)  # type: ignore[arg-type]
        kill = pick(config.cascade_kill_severity, risk.cascade_kill_severity)
        pause = pick(config.cascade_pause_severity, risk.cascade_pause_severity)
        if not pause < kill:
            raise ConfigError(
                f"plugins.{cls.name}.cascade_pause_severity: must be < cascade_kill_severity ({kill}) (got {pause})"
            )
        return cls(
            kill_severity=kill,
            pause_severity=pause,
            action=RiskLevel.PAUSE if action == "pause" else RiskLevel.REDUCE_ONLY,
            cooldown_ns=round(pick(config.pause_cooldown_secs, risk.pause_cooldown_secs) * NS),
            warn_fraction=pick(config.warn_fraction, risk.warn_fraction),
        )

    def check(self, state: RiskState) -> Verdict:
        """KILL at the kill severity; PAUSE/REDUCE_ONLY from the pause severity until the cool-down ends."""
        severity = float(state.values.get(CASCADE_VALUE, 0.0))
        verdict = judge(
            self.name,
            severity,
            self.kill_severity,
            level=RiskLevel.KILL,
            reason="liquidation cascade",
            warn_fraction=1.0,
        )
        if verdict.level is RiskLevel.KILL:
            return verdict
        if severity >= self.pause_severity:
            self._resume_at_ns = state.ts_ns + self.cooldown_ns
        if self._resume_at_ns is not None:
            if state.ts_ns < self._resume_at_ns:
                figures = self._figures(severity)
                figures["resume_at_ns"] = float(self._resume_at_ns)
                return Verdict(self.action, "liquidation cascade: cooling down", figures, self.name)
            self._resume_at_ns = None
        if severity >= self.warn_fraction * self.pause_severity:
            return Verdict(RiskLevel.WARN, NEAR_LIMIT, self._figures(severity), self.name)
        return Verdict.ok(self.name)

    def _figures(self, severity: float) -> dict[str, float]:
        return {"value": severity, "limit": self.pause_severity, "kill_limit": self.kill_severity}


@attrs.frozen
class RateLimit:
    """Kill after too many rate-limit errors (HTTP 429) within a window.

    Counts the timestamps in ``state.rate_limit_errors_ns`` with ``ts_ns - window < t <= ts_ns``; fires
    when the count reaches ``max_rate_limit_errors``.
    """

    name: ClassVar[str] = "rate-limit"

    @attrs.frozen
    class Config:
        """Overrides of ``risk.max_rate_limit_errors``, ``risk.rate_limit_window_secs``, ``risk.warn_fraction``."""

        max_rate_limit_errors: int | None = override(
            [ge(1)], "Errors in the window (default: risk.max_rate_limit_errors)"
        )
        rate_limit_window_secs: float | None = override(
            [gt(0)], "Window, seconds (default: risk.rate_limit_window_secs)"
        )
        warn_fraction: float | None = override([gt(0), le(1)], _WARN_HELP)

    max_errors: int
    window_ns: int
    warn_fraction: float

    @classmethod
    def from_config(cls, config: RateLimit.Config, ctx: ComponentContext) -> RateLimit:
        """Build from the monitor's config, falling back to ``[risk]``."""
        risk = ctx.settings.risk
        return cls(
            int(pick(config.max_rate_limit_errors, risk.max_rate_limit_errors)),
            round(pick(config.rate_limit_window_secs, risk.rate_limit_window_secs) * NS),
            pick(config.warn_fraction, risk.warn_fraction),
        )

    def check(self, state: RiskState) -> Verdict:
        """KILL when the errors inside the window number ``max_rate_limit_errors`` or more."""
        start = state.ts_ns - self.window_ns
        count = sum(1 for t in state.rate_limit_errors_ns if start < t <= state.ts_ns)
        return judge(
            self.name,
            float(count),
            float(self.max_errors),
            level=RiskLevel.KILL,
            reason="too many rate-limit errors",
            warn_fraction=self.warn_fraction,
        )


@hookimpl
def mmtool_register_risk_monitors() -> list[type]:
    """Register the market and connection monitors."""
    return [StaleData, Cascade, RateLimit]
