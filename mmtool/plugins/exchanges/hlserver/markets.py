"""One listed perpetual: its seeded synthetic market, rules, public trade prints and funding history."""

from __future__ import annotations

from collections import deque
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from mmtool.core.rounding import AssetRules
from mmtool.core.types import ZERO
from mmtool.plugins.exchanges.sim.market import MarketConfig, SyntheticMarket
from mmtool.plugins.exchanges.sim.matching import MatchingEngine
from mmtool.plugins.exchanges.sim.units import DecimalCache

if TYPE_CHECKING:
    from mmtool.plugins.exchanges.hlserver.config import AssetSpec, ServerConfig

#: Recent public trades kept per asset.
MAX_TRADES = 1000


class AssetMarket:
    """A perpetual: the synthetic market (seed ``config.seed + index``) and every account's engine on it."""

    def __init__(self, index: int, spec: AssetSpec, config: ServerConfig, start_ns: int) -> None:
        self.index = index
        self.spec = spec
        self.name = spec.name
        overrides = dict(config.market)
        cascades = sorted([*overrides.pop("cascade_at_secs", []), *config.faults.cascade_at_secs])
        self.market_config = MarketConfig(
            **{
                **overrides,
                "seed": config.seed + index,
                "start_price": spec.start_price,
                "sz_decimals": spec.sz_decimals,
                "cascade_at_secs": cascades,
            }
        )
        self.forced_cascades_ns = {start_ns + int(s * 1e9) for s in cascades}
        self.market = SyntheticMarket(self.market_config, start_ns)
        self.rules = AssetRules(spec.name, spec.sz_decimals, spec.max_leverage)
        self.price = DecimalCache(self.rules.max_price_decimals)
        self.size = DecimalCache(spec.sz_decimals)
        self.engines: dict[str, MatchingEngine] = {}
        self.funding_rate = Decimal(repr(self.market_config.funding_mean_rate))
        self.funding_history: list[dict[str, Any]] = []
        self.trades: deque[dict[str, Any]] = deque(maxlen=MAX_TRADES)
        self.pending_trades: list[dict[str, Any]] = []
        self.day_ntl_volume = ZERO
        self.day_base_volume = ZERO
        self.book_dirty = True
        self.mid_dirty = True

    def mark(self) -> Decimal | None:
        """The synthetic book's mid (the mark and oracle price here), or None before the first book."""
        mid2 = self.market.book.mid_units2()
        if mid2 is None:
            return None
        return self.price(mid2) / 2

    def best(self) -> tuple[Decimal | None, Decimal | None]:
        """Best bid and ask of the synthetic book."""
        book = self.market.book
        bid = self.price(book.bids[0][0]) if book.bids else None
        ask = self.price(book.asks[0][0]) if book.asks else None
        return bid, ask

    def open_interest(self) -> Decimal:
        """Sum of the accounts' long positions (asset units)."""
        return sum((e.account.position for e in self.engines.values() if e.account.position > 0), ZERO)
