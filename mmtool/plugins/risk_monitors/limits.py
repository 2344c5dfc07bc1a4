"""Risk monitors on the account's own numbers: daily loss, drawdown, position value and position size.

Each reads its limit from ``[risk]`` / ``[trading]``; its ``[plugins.<name>]`` table may override it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import attrs

from mmtool.core.config import gt, le
from mmtool.core.hookspecs import hookimpl
from mmtool.core.types import RiskLevel, Verdict
from mmtool.plugins.risk_monitors._threshold import judge, override, pick

if TYPE_CHECKING:
    from mmtool.core.components import ComponentContext, RiskState


_WARN_HELP = "Warn at this fraction of the limit (default: risk.warn_fraction)"


@attrs.frozen
class DailyLoss:
    """Kill when the day's PnL falls to minus the daily loss limit."""

    name: ClassVar[str] = "daily-loss"

    @attrs.frozen
    class Config:
        """Overrides of ``risk.max_daily_loss_usd`` and ``risk.warn_fraction``."""

        max_daily_loss_usd: float | None = override([gt(0)], "Daily loss limit, USD (default: risk.max_daily_loss_usd)")
        warn_fraction: float | None = override([gt(0), le(1)], _WARN_HELP)

    limit_usd: float
    warn_fraction: float

    @classmethod
    def from_config(cls, config: DailyLoss.Config, ctx: ComponentContext) -> DailyLoss:
        """Build from the monitor's config, falling back to ``[risk]``."""
        risk = ctx.settings.risk
        return cls(
            pick(config.max_daily_loss_usd, risk.max_daily_loss_usd), pick(config.warn_fraction, risk.warn_fraction)
        )

    def check(self, state: RiskState) -> Verdict:
        """KILL when ``-pnl.daily >= limit`` (the loss reaching the limit fires)."""
        return judge(
            self.name,
            -state.pnl.daily,
            self.limit_usd,
            level=RiskLevel.KILL,
            reason="daily loss limit reached",
            warn_fraction=self.warn_fraction,
        )


@attrs.frozen
class Drawdown:
    """Kill when the session PnL drops more than a percentage of capital below its peak.

    The base of the percentage is ``state.capital_usd`` (the account value the limits were checked against);
    when that is unknown (0) it is the position value limit, ``risk.max_position_value_usd``. It fires when
    the drawdown exceeds the limit, strictly: a drawdown exactly at the limit is still allowed.
    """

    name: ClassVar[str] = "drawdown"

    @attrs.frozen
    class Config:
        """Overrides of ``risk.max_drawdown_pct`` and ``risk.warn_fraction``."""

        max_drawdown_pct: float | None = override(
            [gt(0), le(100)], "Drawdown limit, % of capital (default: risk.max_drawdown_pct)"
        )
        warn_fraction: float | None = override([gt(0), le(1)], _WARN_HELP)

    max_drawdown_pct: float
    fallback_base_usd: float
    warn_fraction: float

    @classmethod
    def from_config(cls, config: Drawdown.Config, ctx: ComponentContext) -> Drawdown:
        """Build from the monitor's config, falling back to ``[risk]``."""
        risk = ctx.settings.risk
        return cls(
            pick(config.max_drawdown_pct, risk.max_drawdown_pct),
            risk.max_position_value_usd,
            pick(config.warn_fraction, risk.warn_fraction),
        )

    def check(self, state: RiskState) -> Verdict:
        """KILL when ``pnl.drawdown > max_drawdown_pct% x base``."""
        base = state.capital_usd if state.capital_usd > 0 else self.fallback_base_usd
        # pct * base / 100 rather than pct / 100 * base: exact for round figures (5 % of 10,000 is 500.0).
        limit = self.max_drawdown_pct * base / 100.0
        return judge(
            self.name,
            state.pnl.drawdown,
            limit,
            level=RiskLevel.KILL,
            reason="drawdown limit exceeded",
            warn_fraction=self.warn_fraction,
            strict=True,
            extra={"base": base},
        )


@attrs.frozen
class PositionValue:
    """Kill when the position's value (|position| x mid) exceeds its limit."""

    name: ClassVar[str] = "position-value"

    @attrs.frozen
    class Config:
        """Overrides of ``risk.max_position_value_usd`` and ``risk.warn_fraction``."""

        max_position_value_usd: float | None = override(
            [gt(0)], "Position value limit, USD (default: risk.max_position_value_usd)"
        )
        warn_fraction: float | None = override([gt(0), le(1)], _WARN_HELP)

    limit_usd: float
    warn_fraction: float

    @classmethod
    def from_config(cls, config: PositionValue.Config, ctx: ComponentContext) -> PositionValue:
        """Build from the monitor's config, falling back to ``[risk]``."""
        risk = ctx.settings.risk
        return cls(
            pick(config.max_position_value_usd, risk.max_position_value_usd),
            pick(config.warn_fraction, risk.warn_fraction),
        )

    def check(self, state: RiskState) -> Verdict:
        """KILL when ``state.position_value > limit`` (strictly above)."""
        return judge(
            self.name,
            state.position_value,
            self.limit_usd,
            level=RiskLevel.KILL,
            reason="position value limit exceeded",
            warn_fraction=self.warn_fraction,
            strict=True,
        )


@attrs.frozen
class PositionLimit:
    """Reduce-only while |position| is at or beyond the position limit; normal again once back under."""

    name: ClassVar[str] = "position-limit"

    @attrs.frozen
    class Config:
        """Overrides of ``trading.max_absolute_position_size`` and ``risk.warn_fraction``."""

        max_absolute_position_size: float | None = override(
            [gt(0)], "Position limit, units of the asset (default: trading.max_absolute_position_size)"
        )
        warn_fraction: float | None = override([gt(0), le(1)], _WARN_HELP)

    limit: float
    warn_fraction: float

    @classmethod
    def from_config(cls, config: PositionLimit.Config, ctx: ComponentContext) -> PositionLimit:
        """Build from the monitor's config, falling back to ``[trading]`` and ``[risk]``."""
        return cls(
            pick(config.max_absolute_position_size, ctx.settings.trading.max_absolute_position_size),
            pick(config.warn_fraction, ctx.settings.risk.warn_fraction),
        )

    def check(self, state: RiskState) -> Verdict:
        """REDUCE_ONLY when ``|position| >= limit``."""
        return judge(
            self.name,
            abs(state.position),
            self.limit,
            level=RiskLevel.REDUCE_ONLY,
            reason="position limit reached",
            warn_fraction=self.warn_fraction,
        )


@hookimpl
def mmtool_register_risk_monitors() -> list[type]:
    """Register the account-limit monitors."""
    return [DailyLoss, Drawdown, PositionValue, PositionLimit]
