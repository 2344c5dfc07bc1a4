"""The ``max-open-orders`` risk monitor: pause while too many of our orders rest on the book."""

from __future__ import annotations

from typing import ClassVar

import attrs

from mmtool.api import ComponentContext, RiskLevel, RiskState, Verdict, ge, gt, hookimpl, le, option


@attrs.frozen
class MaxOpenOrders:
    """Pause quoting while more orders are open than the limit; warn as the count nears it."""

    name: ClassVar[str] = "max-open-orders"

    @attrs.frozen
    class Config:
        """Options of ``max-open-orders`` (the ``[plugins.max-open-orders]`` table)."""

        max_open_orders: int = option(20, "Pause while more than this many of our orders are open", validator=ge(1))
        warn_fraction: float = option(
            0.8, "Warn when the count reaches this fraction of the limit", validator=[gt(0), le(1)]
        )

    config: Config

    @classmethod
    def from_config(cls, config: MaxOpenOrders.Config, ctx: ComponentContext) -> MaxOpenOrders:
        """Build from the config table."""
        return cls(config)

    def check(self, state: RiskState) -> Verdict:
        """OK, WARN near the limit, PAUSE above it; the figures say how many and the limit."""
        count, limit = state.open_orders, self.config.max_open_orders
        figures = {"open_orders": float(count), "limit": float(limit)}
        if count > limit:
            return Verdict(RiskLevel.PAUSE, f"{count} open orders > limit {limit}", figures, self.name)
        if count >= self.config.warn_fraction * limit:
            return Verdict(RiskLevel.WARN, f"{count} open orders, limit {limit}", figures, self.name)
        return Verdict.ok(self.name)


@hookimpl
def mmtool_register_risk_monitors() -> list[type]:
    """Register ``max-open-orders``."""
    return [MaxOpenOrders]
