"""A seeded synthetic perp market that looks like Hyperliquid's ETH book: price, book, trades, funding.

The model (all defaults in :class:`MarketConfig`):

* **Price.** The log of an efficient price follows a diffusion whose volatility is itself stochastic: log-vol is
  an Ornstein-Uhlenbeck process around ``ln(vol_annual)`` (65 % annualised) with stationary standard deviation
  ``vol_of_vol`` (0.3, so vol mostly lives in 48-88 %) and mean-reversion time ``vol_reversion_secs``. Jumps are
  compound Poisson (``jump_rate_per_hour``, normal sizes of ``jump_size_bps``); liquidation cascades add a drift.
* **Book.** Refreshed at Poisson times (``book_update_hz``): ``book_levels`` levels per side on every tick from
  the touch, one-tick spread except during wide-spread spells (entered with ``wide_spread_prob`` per refresh,
  lasting ``wide_spread_secs`` on average) and cascades. Displayed size decays with distance from the touch,
  ``touch_size * exp(-k / depth_decay_levels) + depth_floor``, with log-normal noise; a level that persists
  across refreshes moves part of the way to its target each time (so queues evolve smoothly).
* **Trades.** Aggressive orders arrive as a Hawkes process with exponential kernel: intensity ``mu + sum alpha *
  exp(-beta * (t - t_i))``, defaults mu = 0.6/s, alpha = 1.2/s, beta = 2/s (branching ratio 0.6, mean rate mu / (1
  - 0.6) = 1.5/s), sampled exactly (Dassios & Zhao). The aggressor buys with probability ``0.5 + flow_drift_beta *
  tanh(z)``, z the price drift over ``flow_window_secs`` in units of its volatility. Each aggressive order first
  draws how many levels beyond the touch it sweeps, geometric with ``P(K >= k) = exp(-kappa * k * tick / price)``
  (``trade_depth_kappa`` = 4e3 per unit relative depth: a sweep reaches past 2.5 bps with probability 1/e, most
  stay within 6 bps; a volatile session's flow), then consumes every displayed level before level K and trades a
  Pareto-distributed amount (scale ``trade_size_min``, tail index ``trade_size_tail``) at level K: its displayed
  size first, anything beyond it against hidden liquidity that refills the level (so sizes keep their heavy tail
  without sweeping the whole book; when the level was the side's last one shown, the refill stays in view, a lot,
  so a side is never empty between refreshes). Trade prints therefore thin out exponentially with distance from
  the mid, so intensity fits of ``lambda(delta) = A * exp(-kappa * delta)`` recover a kappa of that order, and one
  print is published per level walked, as on Hyperliquid. A sweep leaves permanent impact: the latent price moves
  ``sweep_impact`` (0.3) of the sweep's reach from the mid its way, so the passive orders it fills are adversely
  selected.
* **Cascades.** Poisson (``cascade_rate_per_hour``) or forced at ``cascade_at_secs``: for
  ``cascade_duration_secs`` the price drifts ``cascade_move_bps`` one way (down 60 % of the time), the spread
  widens and large one-sided aggressive orders sweep deep at ``cascade_trade_rate`` per second.
* **Funding.** Every ``funding_interval_secs`` (hourly) a rate from a mean-reverting AR(1) process around
  ``funding_mean_rate`` (0.001 %/h), clamped to Hyperliquid's 4 %/h cap.

Every stream (price, book, trades, cascades, funding) draws from its own child of
``numpy.random.default_rng(seed)``, and nothing here sees our orders except through the book they consume, so the
same seed gives the same market whatever we do. The market knows no asyncio and no core events.
"""

from __future__ import annotations

import math
from decimal import Decimal

import attrs
import numpy as np

from mmtool.core.config import ge, gt, le
from mmtool.core.types import Side
from mmtool.plugins.exchanges.sim.book import SimBook
from mmtool.plugins.exchanges.sim.units import tick_units

SECONDS_PER_YEAR = 365.0 * 24 * 3600
NS = 1_000_000_000
FUNDING_CAP = 0.04
#: Cascades sweep deeper (kappa divided by this) with bigger sizes (minimum size times this).
CASCADE_DEPTH_FACTOR = 4.0
CASCADE_SIZE_FACTOR = 10.0
#: Cap of the Pareto multiplier of ``trade_size_min``, so one draw cannot be absurd.
MAX_PARETO = 10_000.0
#: Share of a persisting level's log-distance to its target closed at each refresh.
LEVEL_REVERSION = 0.25
#: Displayed size per synthetic order, to give levels a plausible order count.
SIZE_PER_ORDER = 0.3


def _help(text: str) -> dict[str, str]:
    return {"help": text}


@attrs.frozen
class MarketConfig:
    """Parameters of the synthetic market (defaults look like Hyperliquid's ETH perp)."""

    seed: int = attrs.field(default=1, metadata=_help("Random seed: the same seed gives the same market"))
    start_price: float = attrs.field(default=3500.0, validator=gt(0), metadata=_help("Initial price"))
    sz_decimals: int = attrs.field(
        default=4, validator=[ge(0), le(6)], metadata=_help("Size decimals (szDecimals): lot = 10^-szDecimals")
    )
    vol_annual: float = attrs.field(
        default=0.65, validator=gt(0), metadata=_help("Long-run annualised volatility of the price (0.65 = 65 %)")
    )
    vol_of_vol: float = attrs.field(
        default=0.3, validator=ge(0), metadata=_help("Stationary standard deviation of the log of the volatility")
    )
    vol_reversion_secs: float = attrs.field(
        default=1800.0, validator=gt(0), metadata=_help("Mean-reversion time of the log-volatility, seconds")
    )
    jump_rate_per_hour: float = attrs.field(default=1.0, validator=ge(0), metadata=_help("Price jumps per hour"))
    jump_size_bps: float = attrs.field(
        default=20.0, validator=ge(0), metadata=_help("Standard deviation of a price jump, bps")
    )
    book_update_hz: float = attrs.field(default=5.0, validator=gt(0), metadata=_help("Book refreshes per second"))
    book_levels: int = attrs.field(default=20, validator=[ge(1), le(100)], metadata=_help("Levels per book side"))
    touch_size: float = attrs.field(
        default=0.8, validator=gt(0), metadata=_help("Mean displayed size at the touch above the floor, asset units")
    )
    depth_decay_levels: float = attrs.field(
        default=10.0, validator=gt(0), metadata=_help("Levels over which displayed size decays by a factor e")
    )
    depth_floor: float = attrs.field(
        default=0.2, validator=ge(0), metadata=_help("Displayed size far from the touch, asset units")
    )
    size_noise: float = attrs.field(
        default=0.4, validator=ge(0), metadata=_help("Log-normal noise of displayed sizes (standard deviation)")
    )
    wide_spread_prob: float = attrs.field(
        default=0.01, validator=[ge(0), le(1)], metadata=_help("Chance per refresh to enter a wide-spread spell")
    )
    wide_spread_secs: float = attrs.field(
        default=1.5, validator=gt(0), metadata=_help("Mean duration of a wide-spread spell, seconds")
    )
    hawkes_mu: float = attrs.field(
        default=0.6, validator=gt(0), metadata=_help("Hawkes baseline rate of aggressive orders, per second")
    )
    hawkes_alpha: float = attrs.field(
        default=1.2, validator=ge(0), metadata=_help("Hawkes excitation: intensity jump per order, per second")
    )
    hawkes_beta: float = attrs.field(
        default=2.0, validator=gt(0), metadata=_help("Hawkes decay rate, per second (alpha/beta must be < 1)")
    )
    trade_size_min: float = attrs.field(
        default=0.25, validator=gt(0), metadata=_help("Scale of the Pareto amount an order trades at its last level")
    )
    trade_size_tail: float = attrs.field(
        default=1.2, validator=gt(0), metadata=_help("Pareto tail index of that amount (smaller is heavier)")
    )
    trade_depth_kappa: float = attrs.field(
        default=4_000.0, validator=gt(0), metadata=_help("Decay of sweep depth, per unit relative depth")
    )
    sweep_impact: float = attrs.field(
        default=0.3,
        validator=ge(0),
        metadata=_help("Permanent impact: fraction of a sweep's depth (from the mid) the latent price moves"),
    )
    flow_drift_beta: float = attrs.field(
        default=0.3, validator=[ge(0), le(0.5)], metadata=_help("How strongly the aggressor side follows the drift")
    )
    flow_window_secs: float = attrs.field(
        default=2.0, validator=gt(0), metadata=_help("Window of the drift the aggressor side follows, seconds")
    )
    cascade_rate_per_hour: float = attrs.field(
        default=0.5, validator=ge(0), metadata=_help("Random liquidation cascades per hour")
    )
    cascade_at_secs: list[float] = attrs.field(
        factory=list, metadata=_help("Force cascades at these simulated times, seconds from the start")
    )
    cascade_duration_secs: float = attrs.field(
        default=5.0, validator=gt(0), metadata=_help("Duration of a cascade, seconds")
    )
    cascade_move_bps: float = attrs.field(
        default=40.0, validator=ge(0), metadata=_help("Price move of a cascade, bps")
    )
    cascade_trade_rate: float = attrs.field(
        default=10.0, validator=gt(0), metadata=_help("One-sided aggressive orders per second during a cascade")
    )
    funding_mean_rate: float = attrs.field(
        default=0.00001, metadata=_help("Mean funding rate per interval (0.00001 = 0.001 %)")
    )
    funding_reversion: float = attrs.field(
        default=0.1,
        validator=[ge(0), le(1)],
        metadata=_help("Share of the funding rate's gap to its mean closed per interval"),
    )
    funding_vol: float = attrs.field(
        default=0.000005, validator=ge(0), metadata=_help("Standard deviation of the funding rate's innovation")
    )
    funding_interval_secs: float = attrs.field(
        default=3600.0, validator=gt(0), metadata=_help("Funding interval, seconds (Hyperliquid: hourly)")
    )

    def __attrs_post_init__(self) -> None:
        if self.hawkes_alpha >= self.hawkes_beta:
            raise ValueError(
                f"hawkes_alpha / hawkes_beta must be < 1 (got {self.hawkes_alpha} / {self.hawkes_beta})"
            )
        if any(not (t >= 0) for t in self.cascade_at_secs):
            raise ValueError(f"cascade_at_secs must be >= 0 (got {self.cascade_at_secs})")


@attrs.frozen
class BookStep:
    """The book was refreshed (``SyntheticMarket.book`` holds it); ``mid_changed`` when the mid moved."""

    ts_ns: int
    mid_changed: bool


@attrs.frozen
class SweepStep:
    """An aggressive order traded ``levels`` (price units, lots) in walk order.

    Every level but the last was displayed and is now gone; at the last level the order traded a
    Pareto-distributed amount: what was displayed there first, and ``hidden`` lots beyond it.
    """

    ts_ns: int
    side: Side
    levels: tuple[tuple[int, int], ...]
    cascade: bool = False
    hidden: int = 0


@attrs.frozen
class FundingStep:
    """A funding time with the interval's rate."""

    ts_ns: int
    rate: Decimal


MarketStep = BookStep | SweepStep | FundingStep


class _Draws:
    """Buffered draws from one generator: scalar numpy calls are slow, blocks are not."""

    def __init__(self, rng: np.random.Generator, block: int = 2048) -> None:
        self._rng = rng
        self._block = block
        self._normals: list[float] = []
        self._uniforms: list[float] = []

    def normal(self) -> float:
        """A standard normal draw."""
        if not self._normals:
            self._normals = self._rng.standard_normal(self._block).tolist()
        return self._normals.pop()

    def uniform(self) -> float:
        """A uniform draw in (0, 1]."""
        if not self._uniforms:
            self._uniforms = (1.0 - self._rng.random(self._block)).tolist()
        return self._uniforms.pop()

    def exponential(self, mean: float) -> float:
        """An exponential draw with this mean."""
        return -mean * math.log(self.uniform())


class SyntheticMarket:
    """Generates the market step by step in time order; ``book`` is the displayed book (mutable, shared)."""

    def __init__(self, config: MarketConfig, start_ns: int) -> None:
        self.config = config
        self.start_ns = start_ns
        self.price_scale = max(6 - config.sz_decimals, 0)
        self.lot_scale = config.sz_decimals
        self.book = SimBook()
        streams = np.random.default_rng(config.seed).spawn(5)
        self._price_rng, self._book_rng, self._trade_rng, self._cascade_rng, self._funding_rng = (
            _Draws(s) for s in streams
        )
        self._x = math.log(config.start_price)
        self._h_mean = math.log(config.vol_annual)
        self._h = self._h_mean
        self._t_price = start_ns
        self._flow = 0.0
        self._wide_until = -1
        self._wide_ticks = 1
        lot = 10**self.lot_scale
        self._log_targets = [
            math.log((config.touch_size * math.exp(-k / config.depth_decay_levels) + config.depth_floor) * lot)
            for k in range(config.book_levels)
        ]
        self._lots_per_order = max(1, int(SIZE_PER_ORDER * lot))
        # Hawkes state: excess intensity just after the last event, and when that was.
        self._excess = 0.0
        self._t_excess = start_ns
        self._next_trade = self._draw_next_trade(start_ns)
        self._next_book = start_ns
        self._next_funding = start_ns + int(config.funding_interval_secs * NS)
        self._funding_rate = config.funding_mean_rate
        self._forced = sorted(start_ns + int(s * NS) for s in config.cascade_at_secs)
        self._next_random_cascade = self._draw_next_cascade(start_ns)
        self._cascade_start = self._cascade_end = -1
        self._cascade_sign = -1
        self._cascade_drift = 0.0
        self._next_cascade_trade: int | None = None

    # ---------------------------------------------------------------------------------------------- public

    @property
    def price(self) -> float:
        """The efficient (latent) price now; the book is built around it."""
        return math.exp(self._x)

    @property
    def sigma_annual(self) -> float:
        """The current annualised volatility of the price process."""
        return math.exp(self._h)

    def move_price(self, price: float) -> None:
        """Move the latent price to ``price`` at once (a shock a test or a scenario imposes); the book follows at
        its next refresh, and the path goes on from there with the same random streams."""
        if not price > 0:
            raise ValueError(f"price must be > 0 (got {price})")
        self._x = math.log(price)

    def in_cascade(self, ts_ns: int) -> bool:
        """True while a liquidation cascade is under way."""
        return self._cascade_start <= ts_ns < self._cascade_end

    def next_time(self) -> int:
        """Time of the next step."""
        times = [self._next_book, self._next_trade, self._next_funding]
        if self._next_random_cascade is not None:
            times.append(self._next_random_cascade)
        if self._forced:
            times.append(self._forced[0])
        if self._next_cascade_trade is not None:
            times.append(self._next_cascade_trade)
        return min(times)

    def step(self) -> MarketStep | None:
        """Advance to the next step and return it; None for an internal step (a cascade starting)."""
        t = self.next_time()
        if t == self._next_funding:
            self._next_funding += int(self.config.funding_interval_secs * NS)
            return FundingStep(t, self._draw_funding_rate())
        if self._forced and t == self._forced[0]:
            self._forced.pop(0)
            self._start_cascade(t)
            return None
        if t == self._next_random_cascade:
            self._next_random_cascade = self._draw_next_cascade(t)
            self._start_cascade(t)
            return None
        if t == self._next_book:
            self._next_book = t + max(1, int(self._book_rng.exponential(1.0 / self.config.book_update_hz) * NS))
            return self._refresh(t)
        if t == self._next_trade:
            self._excess = self._excess * math.exp(-self.config.hawkes_beta * (t - self._t_excess) / NS)
            self._excess += self.config.hawkes_alpha
            self._t_excess = t
            self._next_trade = self._draw_next_trade(t)
            return self._sweep(t, cascade=False)
        next_trade = t + max(1, int(self._cascade_rng.exponential(1.0 / self.config.cascade_trade_rate) * NS))
        self._next_cascade_trade = next_trade if next_trade < self._cascade_end else None
        return self._sweep(t, cascade=True)

    # ------------------------------------------------------------------------------------------- private

    def _advance(self, t: int) -> None:
        """Move the latent price and volatility to time ``t``."""
        dt = (t - self._t_price) / NS
        if dt <= 0:
            return
        cfg = self.config
        rng = self._price_rng
        sigma = math.exp(self._h) / math.sqrt(SECONDS_PER_YEAR)
        dx = -0.5 * sigma * sigma * dt + sigma * math.sqrt(dt) * rng.normal()
        # At most one jump per step: steps are a fraction of a second, two jumps in one are negligible.
        if rng.uniform() > math.exp(-cfg.jump_rate_per_hour / 3600.0 * dt):
            dx += cfg.jump_size_bps * 1e-4 * rng.normal()
        overlap = min(t, self._cascade_end) - max(self._t_price, self._cascade_start)
        if overlap > 0:
            dx += self._cascade_sign * self._cascade_drift * overlap / NS
        self._x += dx
        decay = math.exp(-dt / cfg.vol_reversion_secs)
        self._h = self._h_mean + (self._h - self._h_mean) * decay
        self._h += cfg.vol_of_vol * math.sqrt(1.0 - decay * decay) * rng.normal()
        self._flow = self._flow * math.exp(-dt / cfg.flow_window_secs) + dx
        self._t_price = t

    def _spread_ticks(self, t: int) -> int:
        rng = self._book_rng
        if self.in_cascade(t):
            return 2 + min(int(rng.exponential(2.0)), 8)
        if t < self._wide_until:
            return self._wide_ticks
        if rng.uniform() <= self.config.wide_spread_prob:
            self._wide_ticks = 2 + min(int(rng.exponential(1.5)), 6)
            self._wide_until = t + int(rng.exponential(self.config.wide_spread_secs) * NS)
            return self._wide_ticks
        return 1

    def _refresh(self, t: int) -> BookStep:
        self._advance(t)
        before = self.book.mid_units2()
        spread = self._spread_ticks(t)
        mid_units = math.exp(self._x) * 10**self.price_scale
        tick = tick_units(int(mid_units), self.price_scale)
        bid_index = math.floor(mid_units / tick - (spread - 1) / 2)
        self.book.bids = self._side(bid_index, -1, tick, self.book.bids)
        self.book.asks = self._side(bid_index + spread, 1, tick, self.book.asks)
        return BookStep(t, self.book.mid_units2() != before)

    def _side(self, touch_index: int, step: int, tick: int, old: list[list[int]]) -> list[list[int]]:
        rng = self._book_rng
        noise = self.config.size_noise
        previous = {level[0]: level[1] for level in old}
        levels: list[list[int]] = []
        for k, target in enumerate(self._log_targets):
            price = (touch_index + step * k) * tick
            if price <= 0:
                break
            old_lots = previous.get(price)
            if old_lots:
                log_old = math.log(old_lots)
                log_size = log_old + LEVEL_REVERSION * (target - log_old) + 0.5 * noise * rng.normal()
            else:
                log_size = target + noise * rng.normal()
            lots = max(1, int(math.exp(log_size) + 0.5))
            levels.append([price, lots, 1 + lots // self._lots_per_order])
        return levels

    def _sweep(self, t: int, *, cascade: bool) -> SweepStep | None:
        self._advance(t)
        cfg = self.config
        rng = self._trade_rng
        kappa, size_min = cfg.trade_depth_kappa, cfg.trade_size_min
        if cascade:
            side = Side.BUY if self._cascade_sign > 0 else Side.SELL
            kappa /= CASCADE_DEPTH_FACTOR
            size_min *= CASCADE_SIZE_FACTOR
        else:
            sigma = math.exp(self._h) / math.sqrt(SECONDS_PER_YEAR)
            z = self._flow / (sigma * math.sqrt(cfg.flow_window_secs))
            side = Side.BUY if rng.uniform() <= 0.5 + cfg.flow_drift_beta * math.tanh(z) else Side.SELL
        levels = self.book.levels(side.opposite)
        u_depth, u_size = rng.uniform(), rng.uniform()
        if not levels:
            return None
        touch = levels[0][0]
        relative_tick = tick_units(touch, self.price_scale) / touch
        depth = int(math.log(u_depth) / (-kappa * relative_tick))
        depth = min(depth, len(levels) - 1)
        part = int(size_min * 10**self.lot_scale * min(u_size ** (-1.0 / cfg.trade_size_tail), MAX_PARETO))
        part = max(1, part)
        consumed = [(level[0], level[1]) for level in levels[:depth]]
        del levels[:depth]
        last = levels[0]
        # What trades at the last level beyond its displayed size meets hidden (refilled) liquidity there.
        shown = min(part, last[1])
        last[1] -= shown
        if last[1] <= 0:
            if len(levels) > 1:
                del levels[0]
            else:
                # What traded beyond the shown size met hidden liquidity that refills the level: the side's last
                # level stays in view (a lot), so a sweep never leaves a side empty until the next refresh.
                last[1] = 1
                last[2] = 1
        consumed.append((last[0], part))
        # Permanent impact: a sweep that reaches deep leaves the price moved its way, so passive orders it
        # fills are adversely selected, as on a real venue (without it every maker looks profitable).
        if cfg.sweep_impact > 0:
            mid = math.exp(self._x) * 10**self.price_scale
            reach = abs(last[0] - mid) / mid
            self._x += side.sign * cfg.sweep_impact * reach
        return SweepStep(t, side, tuple(consumed), cascade, part - shown)

    def _draw_next_trade(self, now: int) -> int:
        """Exact next event time of the exponential-kernel Hawkes process (Dassios & Zhao 2013)."""
        cfg = self.config
        rng = self._trade_rng
        wait = rng.exponential(1.0 / cfg.hawkes_mu)
        u = rng.uniform()
        if self._excess > 0:
            d = 1.0 + cfg.hawkes_beta * math.log(u) / self._excess
            if d > 0:
                wait = min(wait, -math.log(d) / cfg.hawkes_beta)
        return now + max(1, int(wait * NS))

    def _draw_next_cascade(self, now: int) -> int | None:
        rate = self.config.cascade_rate_per_hour
        if rate <= 0:
            return None
        return now + max(1, int(self._cascade_rng.exponential(3600.0 / rate) * NS))

    def _start_cascade(self, t: int) -> None:
        self._advance(t)
        cfg = self.config
        rng = self._cascade_rng
        self._cascade_sign = -1 if rng.uniform() <= 0.6 else 1
        self._cascade_start = t
        self._cascade_end = t + int(cfg.cascade_duration_secs * NS)
        self._cascade_drift = cfg.cascade_move_bps * 1e-4 / cfg.cascade_duration_secs
        self._next_cascade_trade = t + max(1, int(rng.exponential(1.0 / cfg.cascade_trade_rate) * NS))

    def _draw_funding_rate(self) -> Decimal:
        cfg = self.config
        rate = self._funding_rate
        rate += cfg.funding_reversion * (cfg.funding_mean_rate - rate) + cfg.funding_vol * self._funding_rng.normal()
        self._funding_rate = max(-FUNDING_CAP, min(FUNDING_CAP, rate))
        return Decimal(f"{self._funding_rate:.8f}")
