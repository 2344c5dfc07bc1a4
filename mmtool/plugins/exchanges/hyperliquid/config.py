"""Options of the ``hyperliquid`` exchange adapter: its ``[plugins.hyperliquid]`` table."""

from __future__ import annotations

from typing import Any, Literal

import attrs

from mmtool.core.config import ge, gt, le
from mmtool.plugins.exchanges.hyperliquid.reconcile import FOREIGN_TRIGGERS, SCOPES

#: The REST base URL of each network (the WebSocket is the same host at ``/ws``).
NETWORK_URLS = {
    "mainnet": "https://api.hyperliquid.xyz",
    "testnet": "https://api.hyperliquid-testnet.xyz",
    "localhost": "http://localhost:3001",
}


#: The shortest dead man's switch horizon: the exchange wants a scheduleCancel time at least 5 s after its own
#: clock when the request arrives, so a horizon of exactly 5 s from ours is always refused; the half second
#: covers the trip and the difference between the two clocks.
MIN_DEAD_MAN_HORIZON_SECS = 5.5


def _help(text: str) -> dict[str, Any]:
    return {"help": text}


def _one_of(values: tuple[str, ...]):
    def check(inst: Any, attribute: attrs.Attribute, value: str) -> None:
        if value not in values:
            raise ValueError(f"must be one of {', '.join(values)} (got {value!r})")

    return check


@attrs.frozen
class HyperliquidConfig:
    """Connection, safety and rate-limit options of the Hyperliquid adapter."""

    nonce_state_path: str = attrs.field(
        default="~/.mmtool/nonce-{address}.json",
        metadata=_help("Nonce write-ahead file ({address}: the signing address); empty keeps nothing on disk"),
    )
    use_ws_post: bool = attrs.field(
        default=True, metadata=_help("Send orders and cancels over the WebSocket when it is up (REST otherwise)")
    )
    request_timeout_secs: float = attrs.field(
        default=10.0, validator=gt(0), metadata=_help("REST read timeout, seconds")
    )
    connect_timeout_secs: float = attrs.field(
        default=3.0, validator=gt(0), metadata=_help("REST and WebSocket connect timeout, seconds")
    )
    post_timeout_secs: float = attrs.field(
        default=5.0, validator=gt(0), metadata=_help("Wait this long for the answer to a WebSocket post, s")
    )
    action_expiry_secs: float = attrs.field(
        default=5.0,
        validator=ge(0),
        metadata=_help(
            "Places and modifies carry expiresAfter this long after they are sent, so that one whose answer was"
            " lost is looked up (and resent if never seen) only once it can no longer execute; 0: no expiry"
        ),
    )
    info_retries: int = attrs.field(
        default=3, validator=[ge(0), le(10)], metadata=_help("Retries of an info request (never of an action)")
    )
    ping_interval_secs: float = attrs.field(
        default=50.0, validator=[gt(0), le(59)], metadata=_help("Heartbeat, s; the exchange drops a socket idle 60 s")
    )
    reconnect_min_secs: float = attrs.field(
        default=0.25, validator=gt(0), metadata=_help("First reconnect backoff, seconds (doubles, jittered)")
    )
    reconnect_max_secs: float = attrs.field(
        default=10.0, validator=gt(0), metadata=_help("Longest reconnect backoff, seconds")
    )
    timer_interval_secs: float = attrs.field(
        default=1.0, validator=[gt(0), le(1)], metadata=_help("Emit a Timer event this often, seconds")
    )
    book_depth: int = attrs.field(default=20, validator=ge(1), metadata=_help("Book levels kept per side"))
    subscribe_all_mids: bool = attrs.field(default=True, metadata=_help("Subscribe to allMids (MidUpdate events)"))
    ws_compression: bool = attrs.field(
        default=False, metadata=_help("permessage-deflate on the WebSocket (less bandwidth, more latency)")
    )
    audit_interval_secs: float = attrs.field(
        default=5.0, validator=ge(0), metadata=_help("Audit orders and position this often, s; 0: off")
    )
    audit_grace_secs: float = attrs.field(
        default=3.0, validator=ge(0), metadata=_help("An order acted on more recently than this is not judged yet")
    )
    orphan_scope: Literal["asset", "prefix", "none"] = attrs.field(
        default="asset",
        validator=_one_of(SCOPES),
        metadata=_help(
            "Which unknown open orders to cancel: asset (every order on the asset), prefix (our cloid prefixes), none"
        ),
    )
    foreign_triggers: Literal["keep", "cancel"] = attrs.field(
        default="keep",
        validator=_one_of(FOREIGN_TRIGGERS),
        metadata=_help(
            "Trigger orders on the asset that are not ours (the owner's stops, take-profits): keep (left in place, "
            "reported) or cancel (like any unknown order under orphan_scope)"
        ),
    )
    fill_lookback_secs: float = attrs.field(
        default=5.0, validator=ge(0), metadata=_help("Fetch missed fills from this long before the last one seen")
    )
    dead_man_switch: bool = attrs.field(
        default=True, metadata=_help("Keep a scheduleCancel armed while healthy; cleared on a clean shutdown")
    )
    dead_man_refresh_secs: float = attrs.field(
        default=10.0, validator=gt(0), metadata=_help("Refresh the dead man's switch this often, seconds")
    )
    dead_man_horizon_secs: float = attrs.field(
        default=30.0,
        validator=ge(MIN_DEAD_MAN_HORIZON_SECS),
        metadata=_help(
            "Cancel everything this long after the last refresh (>= 5.5 s: the exchange refuses a time less than"
            " 5 s ahead when it arrives)"
        ),
    )
    rate_limit_refresh_secs: float = attrs.field(
        default=60.0, validator=gt(0), metadata=_help("Read userRateLimit this often, seconds")
    )
    ip_weight_per_minute: int = attrs.field(
        default=1200, validator=ge(1), metadata=_help("IP request weight allowed per minute")
    )
    budget_low_water: int = attrs.field(
        default=1000, validator=ge(0), metadata=_help("Address requests left below which the requote tolerance widens")
    )
    max_tolerance_multiplier: float = attrs.field(
        default=4.0, validator=ge(1), metadata=_help("Requote tolerance multiplier when the budget is gone")
    )
    cancel_reserve: int = attrs.field(
        default=50, validator=ge(0), metadata=_help("Address requests kept for cancels: places stop below this")
    )
    post_only_hold_secs: float = attrs.field(
        default=60.0, validator=gt(0), metadata=_help("After a post-only-mode answer, refuse IOC/GTC for this long")
    )
    set_leverage: bool = attrs.field(
        default=True, metadata=_help("Set trading.leverage (cross) on the asset at connect")
    )

    def __attrs_post_init__(self) -> None:
        if self.reconnect_max_secs < self.reconnect_min_secs:
            raise ValueError(
                f"reconnect_max_secs ({self.reconnect_max_secs}) must be >= reconnect_min_secs "
                f"({self.reconnect_min_secs})"
            )
        if self.dead_man_horizon_secs <= self.dead_man_refresh_secs:
            raise ValueError(
                f"dead_man_horizon_secs ({self.dead_man_horizon_secs}) must be > dead_man_refresh_secs "
                f"({self.dead_man_refresh_secs})"
            )
