"""The configuration schema: frozen attrs classes, one per TOML section of ``market_maker.toml``.

Each field's ``metadata["help"]`` is the comment ``generate-config`` writes above it. Validators carry the
message the user sees (``trading.risk_aversion: must be > 0 (got -1.0)``). Loading (TOML, environment, CLI
overrides, cattrs structuring and error collection) lives in :mod:`mmtool.core.config_loader`.
"""

from __future__ import annotations

from typing import Any, Literal

import attrs


def _help(text: str, **kw: Any) -> dict[str, Any]:
    return {"help": text, **kw}


def gt(bound: float):
    """Validator: the value must be strictly greater than ``bound``."""

    def check(inst: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value is not None and not value > bound:
            raise ValueError(f"must be > {bound} (got {value!r})")

    return check


def ge(bound: float):
    """Validator: the value must be at least ``bound``."""

    def check(inst: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value is not None and not value >= bound:
            raise ValueError(f"must be >= {bound} (got {value!r})")

    return check


def le(bound: float):
    """Validator: the value must be at most ``bound``."""

    def check(inst: Any, attribute: attrs.Attribute, value: Any) -> None:
        if value is not None and not value <= bound:
            raise ValueError(f"must be <= {bound} (got {value!r})")

    return check


NETWORKS = ("sim", "localhost", "testnet", "mainnet")
LOG_FORMATS = ("pretty", "json", "compact")
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@attrs.frozen
class NetworkConfig:
    """Where to trade."""

    name: Literal["sim", "localhost", "testnet", "mainnet"] = attrs.field(
        default="sim", metadata=_help("Network: sim (in-process simulator), localhost, testnet or mainnet")
    )
    base_url: str | None = attrs.field(
        default=None, metadata=_help("Override the network's API address (e.g. a local exchange on another port)")
    )
    confirm_mainnet: bool = attrs.field(
        default=False, metadata=_help("Must be true (or pass --yes-mainnet) to trade real money on mainnet")
    )
    account_address: str | None = attrs.field(
        default=None,
        metadata=_help("Master account address when signing with an approved agent (API wallet) key"),
    )
    vault_address: str | None = attrs.field(
        default=None, metadata=_help("Vault or subaccount address to trade for, if any")
    )
    event_loop: Literal["auto", "uvloop", "asyncio"] = attrs.field(
        default="auto",
        metadata=_help("Event loop: auto (uvloop when installed), uvloop (required) or asyncio"),
    )


@attrs.frozen
class TradingConfig:
    """What to trade and how much."""

    asset: str = attrs.field(default="ETH", metadata=_help("Perpetual to make markets in, e.g. ETH"))
    target_liquidity: float = attrs.field(
        default=0.5, validator=gt(0), metadata=_help("Total size quoted on each side, in units of the asset")
    )
    risk_aversion: float = attrs.field(
        default=100.0, validator=gt(0), metadata=_help("GLFT risk aversion gamma (> 0); higher skews harder")
    )
    max_bps_diff: float = attrs.field(
        default=2.0,
        validator=ge(0),
        metadata=_help("Requote tolerance: an order within this many bps of its target stays put"),
    )
    max_absolute_position_size: float = attrs.field(
        default=2.0, validator=gt(0), metadata=_help("Position limit, in units of the asset (absolute)")
    )
    leverage: int = attrs.field(default=3, validator=[ge(1), le(100)], metadata=_help("Leverage, 1 to 100"))
    maker_fee_bps: float = attrs.field(
        default=1.5, validator=ge(-10), metadata=_help("Maker fee in bps, part of the quoted spread")
    )
    capital_usd: float | None = attrs.field(
        default=None,
        validator=gt(0),
        metadata=_help("Optional capital; when set, derives default size, position and loss limits from it"),
    )


@attrs.frozen
class LadderConfig:
    """Shape of a multi-level ladder."""

    num_levels: int = attrs.field(default=5, validator=[ge(1), le(50)], metadata=_help("Levels per side"))
    min_depth_bps: float = attrs.field(
        default=2.0, validator=gt(0), metadata=_help("Depth of the innermost level floor, in bps from fair")
    )
    max_depth_bps: float = attrs.field(
        default=50.0, validator=gt(0), metadata=_help("Depth of the outermost level, in bps from fair")
    )
    geometric_spacing: bool = attrs.field(
        default=True, metadata=_help("Space levels geometrically (true) or linearly (false)")
    )

    def __attrs_post_init__(self) -> None:
        if self.max_depth_bps < self.min_depth_bps:
            raise ValueError(
                f"max_depth_bps ({self.max_depth_bps}) must be >= min_depth_bps ({self.min_depth_bps})"
            )


DEFAULT_ESTIMATORS = (
    "volatility",
    "intensity",
    "microprice",
    "liquidation-cascade",
    "markouts",
    "warmup",
)


@attrs.frozen
class StrategyConfig:
    """Which strategy and estimators to run, and how they warm up."""

    strategy_type: str = attrs.field(
        default="glft-ladder", metadata=_help("Strategy plugin name (see `mmtool list-plugins`)")
    )
    estimators: list[str] = attrs.field(
        factory=lambda: list(DEFAULT_ESTIMATORS),
        metadata=_help("Estimator plugins to run, in order"),
    )
    estimation_window_secs: float = attrs.field(
        default=300.0, validator=gt(0), metadata=_help("Window of the parameter estimators, in seconds")
    )
    min_trades: int = attrs.field(
        default=30, validator=ge(0), metadata=_help("Trades seen before quoting starts (warm-up)")
    )
    warmup_decay_secs: float = attrs.field(
        default=20.0, validator=ge(0), metadata=_help("Seconds over which the prior defaults' influence decays")
    )
    ladder: LadderConfig = attrs.field(factory=LadderConfig, metadata=_help("Ladder shape"))


DEFAULT_RISK_MONITORS = (
    "daily-loss",
    "drawdown",
    "position-value",
    "position-limit",
    "stale-data",
    "cascade",
    "rate-limit",
)


def _below_kill_severity(inst: Any, attribute: attrs.Attribute, value: float) -> None:
    """Validator: the cascade pause threshold must sit below the kill threshold."""
    if value >= inst.cascade_kill_severity:
        raise ValueError(f"must be < cascade_kill_severity ({inst.cascade_kill_severity}) (got {value!r})")


@attrs.frozen
class RiskConfig:
    """Kill-switch limits and the risk monitors that enforce them."""

    monitors: list[str] = attrs.field(
        factory=lambda: list(DEFAULT_RISK_MONITORS), metadata=_help("Risk monitor plugins to run")
    )
    max_daily_loss_usd: float = attrs.field(
        default=500.0, validator=gt(0), metadata=_help("Kill when the day's PnL falls below minus this, USD")
    )
    max_drawdown_pct: float = attrs.field(
        default=5.0,
        validator=[gt(0), le(100)],
        metadata=_help("Kill when PnL drops this % of capital below its peak"),
    )
    max_position_value_usd: float = attrs.field(
        default=10_000.0, validator=gt(0), metadata=_help("Kill when |position| x mid exceeds this, USD")
    )
    stale_data_secs: float = attrs.field(
        default=5.0, validator=gt(0), metadata=_help("Kill after this many seconds without market data")
    )
    cascade_kill_severity: float = attrs.field(
        default=0.95,
        validator=[gt(0), le(1)],
        metadata=_help("Kill when the liquidation-cascade severity reaches this (0..1)"),
    )
    max_rate_limit_errors: int = attrs.field(
        default=10, validator=ge(1), metadata=_help("Kill after this many rate-limit errors in the window")
    )
    rate_limit_window_secs: float = attrs.field(
        default=60.0, validator=gt(0), metadata=_help("Window for counting rate-limit errors, seconds")
    )
    warn_fraction: float = attrs.field(
        default=0.8,
        validator=[gt(0), le(1)],
        metadata=_help("Log a warning when a condition reaches this fraction of its limit"),
    )
    flatten_on_kill: bool = attrs.field(
        default=False, metadata=_help("After a kill, flatten the position with reduce-only IOC orders")
    )
    kill_marker: str = attrs.field(
        default=".mmtool-kill",
        metadata=_help("File written on a kill; `mmtool run` refuses to start while it exists"),
    )
    cascade_pause_severity: float = attrs.field(
        default=0.7,
        validator=[gt(0), le(1), _below_kill_severity],
        metadata=_help("Pause (or reduce-only) when the cascade severity reaches this; below cascade_kill_severity"),
    )
    cascade_action: Literal["pause", "reduce_only"] = attrs.field(
        default="pause",
        validator=attrs.validators.in_(("pause", "reduce_only")),
        metadata=_help("What the cascade monitor does at cascade_pause_severity: pause or reduce_only"),
    )
    pause_cooldown_secs: float = attrs.field(
        default=60.0,
        validator=gt(0),
        metadata=_help("A pause lasts this many seconds after its condition was last seen, then trading resumes"),
    )
    reentry_secs: float = attrs.field(
        default=300.0,
        validator=ge(0),
        metadata=_help("After a kill is reset, trade with scaled-down limits for this many seconds (0: none)"),
    )
    reentry_fraction: float = attrs.field(
        default=0.5,
        validator=[gt(0), le(1)],
        metadata=_help("Fraction of the normal size and position limits used during re-entry"),
    )
    max_order_notional_usd: float = attrs.field(
        default=5_000.0,
        validator=gt(0),
        metadata=_help("Pre-trade: reject an order whose price x size exceeds this, USD"),
    )
    price_band_bps: float = attrs.field(
        default=500.0,
        validator=gt(0),
        metadata=_help("Pre-trade: reject an order priced further than this many bps from mid"),
    )
    max_open_orders: int = attrs.field(
        default=40, validator=ge(1), metadata=_help("Pre-trade: most orders open at once (live plus new)")
    )


@attrs.frozen
class LoggingConfig:
    """Where and how to log."""

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = attrs.field(
        default="INFO", metadata=_help("Log level")
    )
    format: Literal["pretty", "json", "compact"] = attrs.field(
        default="pretty", metadata=_help("Log format: pretty, json (one object per line) or compact")
    )
    file: str | None = attrs.field(default=None, metadata=_help("Also log to this file"))


@attrs.frozen
class MonitoringConfig:
    """Metrics endpoint."""

    metrics_port: int = attrs.field(
        default=0, validator=[ge(0), le(65535)], metadata=_help("Prometheus port; 0 disables")
    )
    bind: str = attrs.field(default="127.0.0.1", metadata=_help("Address the metrics endpoint binds"))
    allow_public_bind: bool = attrs.field(
        default=False,
        metadata=_help("Allow `bind` to be a non-loopback address (the endpoint has no authentication)"),
    )
    refresh_events: int = attrs.field(
        default=256,
        validator=ge(1),
        metadata=_help("Refresh the gauges every this many events (and at every status interval)"),
    )
    live_status: bool = attrs.field(
        default=True, metadata=_help("Show a live status view in the terminal when stdout is a TTY")
    )


@attrs.frozen
class JournalConfig:
    """The SQLite journal of orders, fills, funding and kills, for crash recovery and `mmtool report`."""

    enabled: bool = attrs.field(
        default=True, metadata=_help("Journal runs (on the simulated exchange only when `simulator` is true too)")
    )
    simulator: bool = attrs.field(
        default=True, metadata=_help("Also journal runs on the simulated exchange, so `mmtool report` works after them")
    )
    path: str = attrs.field(
        default="runs/{network}-{asset}.sqlite",
        metadata=_help("Journal file; {network} and {asset} are filled in. Each run is a session in it"),
    )
    commit_interval_ms: float = attrs.field(
        default=200.0,
        validator=ge(0),
        metadata=_help("Commit order updates at least this often (event time); fills and actions commit at once"),
    )
    synchronous: Literal["normal", "full"] = attrs.field(
        default="normal",
        validator=attrs.validators.in_(("normal", "full")),
        metadata=_help("SQLite synchronous mode: normal survives a process crash, full also a power loss"),
    )
    write_ahead: bool = attrs.field(
        default=True,
        metadata=_help(
            "Write and commit each batch, and each fill, before the next batch leaves; false: right after the "
            "send (0.1-0.25 ms less per batch live; a crash can lose the last batch's rows, whose orders the next "
            "start's audit cancels)"
        ),
    )
    checkpoint_secs: float = attrs.field(
        default=10.0,
        validator=ge(0),
        metadata=_help(
            "A background thread copies the write-ahead log into the file this often, seconds, so its disk syncs "
            "never delay an order; 0: SQLite does it during commits"
        ),
    )


@attrs.frozen
class AlertsConfig:
    """Alert sinks and what counts as a reconnect storm."""

    sinks: list[str] = attrs.field(
        factory=list, metadata=_help("Alert sink plugins to send kill, pause, reconnect and reconciliation alerts to")
    )
    queue_size: int = attrs.field(
        default=256, validator=ge(1), metadata=_help("Alerts waiting to be sent at most; more are dropped")
    )
    reconnect_storm_count: int = attrs.field(
        default=5, validator=ge(1), metadata=_help("Reconnects within reconnect_storm_secs that raise an alert")
    )
    reconnect_storm_secs: float = attrs.field(
        default=60.0, validator=gt(0), metadata=_help("Window of the reconnect-storm alert, seconds")
    )


@attrs.frozen
class Settings:
    """The whole configuration. ``plugins`` holds the raw ``[plugins.<name>]`` tables, structured later by
    each component's own ``Config``; ``private_key`` never comes from the TOML and is never shown."""

    network: NetworkConfig = attrs.field(factory=NetworkConfig)
    trading: TradingConfig = attrs.field(factory=TradingConfig)
    strategy: StrategyConfig = attrs.field(factory=StrategyConfig)
    risk: RiskConfig = attrs.field(factory=RiskConfig)
    logging: LoggingConfig = attrs.field(factory=LoggingConfig)
    monitoring: MonitoringConfig = attrs.field(factory=MonitoringConfig)
    journal: JournalConfig = attrs.field(factory=JournalConfig)
    alerts: AlertsConfig = attrs.field(factory=AlertsConfig)
    plugins: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    private_key: str | None = attrs.field(default=None, repr=False, metadata={"secret": True})
