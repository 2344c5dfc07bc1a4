"""Rate limits as the exchange applies them: weighted requests per IP, and a request budget per address.

IP: 1200 weight per minute (refilled continuously). ``/exchange`` weighs ``1 + floor(batch / 40)``; ``/info``
weighs 2 for the light queries, 60 for ``userRole`` and 20 for the rest. Over budget: HTTP 429.

Address: 10,000 requests plus one per USDC traded; a batch of n orders, cancels or modifies counts n. Cancels may
go further, to ``min(cap + 100000, 2 * cap)``. Once the budget is spent one request per 10 s still passes. Over
budget the exchange answers ``{"status": "err", "response": "Too many cumulative requests sent ..."}``.
"""

from __future__ import annotations

from typing import Any

from mmtool.plugins.exchanges.hlserver.accounts import Account

LIGHT_INFO = frozenset({"l2Book", "allMids", "clearinghouseState", "orderStatus", "spotClearinghouseState",
                        "exchangeStatus"})
HEAVY_INFO = frozenset({"userRole"})
DEFAULT_INFO_WEIGHT = 20
OVERDRAFT_INTERVAL_MS = 10_000
CANCEL_EXTRA = 100_000


def info_weight(kind: Any) -> int:
    """IP weight of an ``/info`` request of this type."""
    if kind in LIGHT_INFO:
        return 2
    if kind in HEAVY_INFO:
        return 60
    return DEFAULT_INFO_WEIGHT


def batch_size(body: Any) -> int:
    """How many orders, cancels or modifies an ``/exchange`` body carries (0 when it is not one)."""
    action = body.get("action") if isinstance(body, dict) else None
    if not isinstance(action, dict):
        return 0
    for name in ("orders", "cancels", "modifies"):
        items = action.get(name)
        if isinstance(items, list):
            return len(items)
    return 0


def exchange_weight(batch: int) -> int:
    """IP weight of an ``/exchange`` request carrying ``batch`` orders or cancels."""
    return 1 + max(batch, 0) // 40


class IpLimiter:
    """A token bucket per IP: ``per_minute`` weight, refilled continuously."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._buckets: dict[str, tuple[float, float]] = {}

    def take(self, ip: str, weight: int, now_s: float) -> bool:
        """Spend ``weight`` for ``ip`` if its bucket holds that much; False when the IP is over its limit."""
        tokens, last = self._buckets.get(ip, (float(self.per_minute), now_s))
        tokens = min(float(self.per_minute), tokens + (now_s - last) * self.per_minute / 60.0)
        if tokens < weight:
            self._buckets[ip] = (tokens, now_s)
            return False
        self._buckets[ip] = (tokens - weight, now_s)
        return True


def address_cap(account: Account, initial: int) -> int:
    """The address's request cap: the initial budget plus one request per USDC traded."""
    return initial + int(account.cum_volume)


def charge_address(account: Account, count: int, cancel: bool, now_ms: int, initial: int) -> str | None:
    """Count ``count`` requests against the address budget; None when allowed, else the exchange's text."""
    cap = address_cap(account, initial)
    limit = min(cap + CANCEL_EXTRA, 2 * cap) if cancel else cap
    if account.requests_used + count <= limit:
        account.requests_used += count
        return None
    if now_ms - account.last_overdraft_ms >= OVERDRAFT_INTERVAL_MS:
        account.last_overdraft_ms = now_ms
        account.requests_used += count
        return None
    return (
        f"Too many cumulative requests sent ({account.requests_used + count} > {limit}) for cumulative volume "
        f"traded ${account.cum_volume:.2f}. Place taker orders to free up 1 request per USDC traded."
    )


def user_rate_limit(account: Account, initial: int) -> dict[str, Any]:
    """The ``userRateLimit`` answer."""
    cap = address_cap(account, initial)
    return {
        "cumVlm": f"{account.cum_volume:.2f}",
        "nRequestsUsed": account.requests_used,
        "nRequestsCap": cap,
        "nRequestsSurplus": max(0, cap - account.requests_used),
    }
