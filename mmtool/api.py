"""The public API for plugin authors: import from here, everything else in mmtool is private.

Example::

    import attrs
    from mmtool.api import ComponentContext, QuoteContext, Ladder, hookimpl, option, gt

    class MyStrategy:
        \"\"\"Quote one level a side.\"\"\"
        name = "my-strategy"
        requires = ()

        @attrs.frozen
        class Config:
            half_spread_bps: float = option(10.0, "Half-spread in bps", validator=gt(0))
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import attrs

from mmtool.core.clock import Clock, ManualClock, WallClock
from mmtool.core.components import (
    KINDS,
    ComponentContext,
    Estimator,
    ExchangeAdapter,
    MarketState,
    PnlSnapshot,
    QuoteContext,
    RiskMonitor,
    RiskState,
    Strategy,
)
from mmtool.core.config import LadderConfig, Settings, ge, gt, le
from mmtool.core.errors import (
    ConfigError,
    ExchangeError,
    MmtoolError,
    PluginLoadError,
    RoundingError,
    UnknownComponentError,
)
from mmtool.core.hookspecs import hookimpl
from mmtool.core.logsetup import log_event
from mmtool.core.rounding import AGGRESSIVE, NEAREST, PASSIVE, AssetRules, from_wire, to_decimal, to_wire
from mmtool.core.types import (
    Action,
    BookLevel,
    BookUpdate,
    Cancel,
    Connection,
    Event,
    Fill,
    Funding,
    L2Book,
    Ladder,
    Liquidity,
    MarketParams,
    MidUpdate,
    Modify,
    Order,
    OrderStatus,
    OrderUpdate,
    Place,
    Position,
    Quote,
    RiskLevel,
    Side,
    Tif,
    Timer,
    Trade,
    Verdict,
)


def option(default: Any, help: str, *, validator: Callable[..., Any] | list[Callable[..., Any]] | None = None) -> Any:
    """A ``Config`` field with a default, the ``help`` text ``generate-config`` writes above it, and validators.

    Mutable defaults (lists, dicts) are copied per instance.
    """
    if isinstance(default, list | dict | set):
        return attrs.field(factory=lambda: type(default)(default), validator=validator, metadata={"help": help})
    return attrs.field(default=default, validator=validator, metadata={"help": help})


def one_of(*allowed: Any) -> Callable[[Any, attrs.Attribute, Any], None]:
    """Validator: the value must be one of ``allowed`` (message lists them)."""

    def check(inst: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value not in allowed:
            raise ValueError(f"{value!r} is not one of {', '.join(repr(a) for a in allowed)}")

    return check


__all__ = [
    "AGGRESSIVE",
    "KINDS",
    "NEAREST",
    "PASSIVE",
    "Action",
    "AssetRules",
    "BookLevel",
    "BookUpdate",
    "Cancel",
    "Clock",
    "ComponentContext",
    "ConfigError",
    "Connection",
    "Estimator",
    "Event",
    "ExchangeAdapter",
    "ExchangeError",
    "Fill",
    "Funding",
    "L2Book",
    "Ladder",
    "LadderConfig",
    "Liquidity",
    "ManualClock",
    "MarketParams",
    "MarketState",
    "MidUpdate",
    "MmtoolError",
    "Modify",
    "Order",
    "OrderStatus",
    "OrderUpdate",
    "Place",
    "PluginLoadError",
    "PnlSnapshot",
    "Position",
    "Quote",
    "QuoteContext",
    "RiskLevel",
    "RiskMonitor",
    "RiskState",
    "RoundingError",
    "Settings",
    "Side",
    "Strategy",
    "Tif",
    "Timer",
    "Trade",
    "UnknownComponentError",
    "Verdict",
    "WallClock",
    "from_wire",
    "ge",
    "gt",
    "hookimpl",
    "le",
    "log_event",
    "one_of",
    "option",
    "to_decimal",
    "to_wire",
]
