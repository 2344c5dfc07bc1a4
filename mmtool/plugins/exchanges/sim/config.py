"""Configuration of the ``sim`` exchange adapter: the market model's parameters plus the venue's own."""

from __future__ import annotations

import attrs

from mmtool.core.config import ge, gt, le
from mmtool.plugins.exchanges.sim.market import MarketConfig


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@attrs.frozen
class SimConfig(MarketConfig):
    """The ``[plugins.sim]`` table: every market-model field of :class:`MarketConfig`, plus latency, pacing,
    account and fault-injection settings."""

    speed: float = attrs.field(
        default=1.0, validator=gt(0), metadata=_help("Simulated seconds per wall second; inf runs as fast as possible")
    )
    max_leverage: int = attrs.field(default=50, validator=[ge(1), le(100)], metadata=_help("Asset's maximum leverage"))
    balance_usd: float = attrs.field(default=100_000.0, validator=gt(0), metadata=_help("Initial USDC deposit"))
    order_latency_ms: float = attrs.field(
        default=50.0, validator=ge(0), metadata=_help("Simulated time for an action to reach the matching engine")
    )
    market_data_latency_ms: float = attrs.field(
        default=0.0, validator=ge(0), metadata=_help("Simulated time for the exchange's messages to reach us")
    )
    timer_interval_ms: float = attrs.field(
        default=1000.0, validator=gt(0), metadata=_help("Interval of Timer events, simulated milliseconds")
    )
    maker_fee: float = attrs.field(default=0.00015, validator=ge(-0.001), metadata=_help("Maker fee rate (0.015 %)"))
    taker_fee: float = attrs.field(default=0.00045, validator=ge(0), metadata=_help("Taker fee rate (0.045 %)"))
    cancel_failures: int = attrs.field(
        default=0, validator=ge(0), metadata=_help("The first N cancel requests fail with an exchange error (tests)")
    )
    duration_secs: float = attrs.field(
        default=0.0, validator=ge(0), metadata=_help("End the event stream after this much simulated time; 0: never")
    )
