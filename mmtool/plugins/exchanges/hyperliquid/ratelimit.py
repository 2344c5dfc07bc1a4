"""Rate-limit accounting: the IP's request weight per minute and the address's cumulative action budget.

- IP: every request has a weight (exchange actions ``1 + floor(batch / 40)``; ``l2Book``, ``allMids``,
  ``clearinghouseState``, ``orderStatus`` 2; ``userRole`` 60; other info requests 20) and the IP may spend 1200
  per rolling minute.
- Address: 10,000 requests plus one per USDC traded, cumulative; a batch of n orders or cancels counts n.
  ``userRateLimit`` reports ``cumVlm``, ``nRequestsUsed`` and ``nRequestsCap``; between reads we count locally.

When either runs low, :meth:`RateLimits.tolerance_multiplier` grows from 1 towards ``max_multiplier``: the engine
can multiply ``trading.max_bps_diff`` by it so that it requotes less often and spends the budget only on moves
that matter.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

#: Info request weights that differ from the default of 20.
INFO_WEIGHTS: Mapping[str, int] = {
    "l2Book": 2,
    "allMids": 2,
    "clearinghouseState": 2,
    "orderStatus": 2,
    "spotClearinghouseState": 2,
    "exchangeStatus": 2,
    "userRole": 60,
}
DEFAULT_INFO_WEIGHT = 20
WINDOW_S = 60.0
INITIAL_ADDRESS_BUDGET = 10_000


def info_weight(request_type: str) -> int:
    """The IP weight of an ``/info`` request of this type."""
    return INFO_WEIGHTS.get(request_type, DEFAULT_INFO_WEIGHT)


def action_weight(batch_len: int) -> int:
    """The IP weight of an ``/exchange`` action carrying ``batch_len`` orders or cancels."""
    return 1 + max(batch_len, 0) // 40


class IpWeights:
    """Weight spent by this IP over the last minute (a rolling window)."""

    def __init__(self, per_minute: int = 1200, clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute < 1:
            raise ValueError(f"per_minute must be >= 1 (got {per_minute})")
        self.per_minute = per_minute
        self._clock = clock
        self._spent: deque[tuple[float, int]] = deque()
        self._total = 0

    def _expire(self, now: float) -> None:
        while self._spent and now - self._spent[0][0] >= WINDOW_S:
            self._total -= self._spent.popleft()[1]

    def spend(self, weight: int) -> None:
        """Count a request of this weight, now."""
        now = self._clock()
        self._expire(now)
        self._spent.append((now, weight))
        self._total += weight

    @property
    def used(self) -> int:
        """Weight spent in the last minute."""
        self._expire(self._clock())
        return self._total

    @property
    def headroom(self) -> float:
        """Share of the minute's weight still free, 0..1."""
        return max(0.0, 1.0 - self.used / self.per_minute)

    def delay_for(self, weight: int) -> float:
        """Seconds to wait before a request of this weight fits in the window (0 when it fits now)."""
        now = self._clock()
        self._expire(now)
        excess = self._total + weight - self.per_minute
        if excess <= 0:
            return 0.0
        freed = 0
        for ts, w in self._spent:
            freed += w
            if freed >= excess:
                return max(0.0, WINDOW_S - (now - ts))
        return WINDOW_S


class AddressBudget:
    """The address's cumulative request allowance, as last read from ``userRateLimit`` plus local counting."""

    def __init__(self, cap: int = INITIAL_ADDRESS_BUDGET, used: int = 0) -> None:
        self.cap = cap
        self.used = used
        self.cum_volume = 0.0
        self.refreshed = False

    def spend(self, n: int) -> None:
        """Count an action of ``n`` orders or cancels."""
        self.used += max(n, 1)

    def update(self, answer: Mapping[str, Any]) -> None:
        """Adopt a ``userRateLimit`` answer (``cumVlm``, ``nRequestsUsed``, ``nRequestsCap``)."""
        used, cap = answer.get("nRequestsUsed"), answer.get("nRequestsCap")
        if isinstance(used, int) and isinstance(cap, int):
            self.used, self.cap = used, cap
            self.refreshed = True
        try:
            self.cum_volume = float(answer.get("cumVlm", self.cum_volume))
        except (TypeError, ValueError):
            return

    @property
    def headroom(self) -> int:
        """Requests left before the address is throttled to one every 10 s (may be negative)."""
        return self.cap - self.used


class RateLimits:
    """Both accounts together, and the quoting tolerance they suggest.

    :param low_water: address headroom (requests) below which the tolerance starts widening.
    :param max_multiplier: the tolerance multiplier when the budget is gone.
    :param ip_low_share: IP headroom share below which the tolerance starts widening.
    """

    def __init__(
        self,
        ip: IpWeights | None = None,
        address: AddressBudget | None = None,
        *,
        low_water: int = 1000,
        max_multiplier: float = 4.0,
        ip_low_share: float = 0.25,
    ) -> None:
        self.ip = ip or IpWeights()
        self.address = address or AddressBudget()
        self.low_water = low_water
        self.max_multiplier = max_multiplier
        self.ip_low_share = ip_low_share
        #: 429 answers and rate-limit error texts seen.
        self.rate_limited = 0

    @property
    def headroom(self) -> int:
        """Address requests left (the figure to export as a metric)."""
        return self.address.headroom

    def tolerance_multiplier(self) -> float:
        """1.0 with ample budget, rising linearly to ``max_multiplier`` as either budget runs out."""
        pressure = 0.0
        if self.low_water > 0:
            pressure = max(pressure, 1.0 - self.address.headroom / self.low_water)
        if self.ip_low_share > 0:
            pressure = max(pressure, 1.0 - self.ip.headroom / self.ip_low_share)
        pressure = min(max(pressure, 0.0), 1.0)
        return 1.0 + (self.max_multiplier - 1.0) * pressure


#: The requote tolerance the engine hears of moves in steps of this much...
TOLERANCE_STEP = 0.25
#: ...and only once the budget's multiplier is this many steps away from the one in force (hysteresis).
TOLERANCE_HYSTERESIS = 0.75


def tolerance_step(current: float, raw: float) -> float:
    """The tolerance multiplier to announce, given the one in force and the budget's ``raw`` multiplier.

    Quantised to :data:`TOLERANCE_STEP` so the engine hears of real changes in budget pressure, not of every
    request spent; and with hysteresis, so a multiplier hovering at the midpoint between two steps (a budget
    spent and refilled at the same pace) does not flip the tolerance, and log it, every few seconds.
    """
    if abs(raw - current) < TOLERANCE_HYSTERESIS * TOLERANCE_STEP:
        return current
    return round(raw / TOLERANCE_STEP) * TOLERANCE_STEP
