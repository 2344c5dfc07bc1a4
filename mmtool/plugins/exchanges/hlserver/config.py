"""Settings of the local Hyperliquid-compatible exchange: listening address, assets, accounts, limits and faults.

A fault scenario is a TOML file with the fields of :class:`FaultConfig`, at the top level or under ``[faults]``::

    seed = 7
    ws_drop_every_secs = 30.0
    ws_delay_ms = 200
    http_5xx_prob = 0.05

    [[stall_book]]
    at_secs = 10.0
    duration_secs = 5.0
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Literal

import attrs

from mmtool.core.config import ge, gt, le
from mmtool.core.config_loader import structure_config
from mmtool.core.errors import ConfigError

Chain = Literal["mainnet", "testnet"]
CHAINS: tuple[str, ...] = ("mainnet", "testnet")


def _help(text: str) -> dict[str, str]:
    return {"help": text}


def _in(values: tuple[str, ...]):
    def check(inst: Any, attribute: attrs.Attribute, value: str) -> None:
        if value not in values:
            raise ValueError(f"must be one of {', '.join(values)} (got {value!r})")

    return check


@attrs.frozen
class AssetSpec:
    """One perpetual listed by the local exchange: its name, starting price, size decimals and max leverage."""

    name: str = attrs.field(metadata=_help("Coin name, e.g. ETH"))
    start_price: float = attrs.field(validator=gt(0), metadata=_help("Initial price of the synthetic market"))
    sz_decimals: int = attrs.field(validator=[ge(0), le(6)], metadata=_help("Size decimals (szDecimals)"))
    max_leverage: int = attrs.field(default=50, validator=[ge(1), le(100)], metadata=_help("Maximum leverage"))


#: Assets known by name: realistic prices, the exchange's szDecimals and max leverage.
KNOWN_ASSETS: dict[str, AssetSpec] = {
    "ETH": AssetSpec("ETH", 3500.0, 4, 25),
    "BTC": AssetSpec("BTC", 95000.0, 5, 40),
    "SOL": AssetSpec("SOL", 180.0, 2, 20),
    "HYPE": AssetSpec("HYPE", 30.0, 2, 10),
    "DOGE": AssetSpec("DOGE", 0.3, 0, 10),
}
DEFAULT_ASSETS: tuple[AssetSpec, ...] = (KNOWN_ASSETS["ETH"], KNOWN_ASSETS["BTC"])


def parse_assets(text: str) -> tuple[AssetSpec, ...]:
    """Assets from ``ETH,BTC`` or ``NAME:PRICE:SZDECIMALS[:MAXLEV]`` items; ValueError names a bad item."""
    specs: list[AssetSpec] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        fields = item.split(":")
        name = fields[0].upper()
        if len(fields) == 1:
            if name not in KNOWN_ASSETS:
                known = ", ".join(KNOWN_ASSETS)
                raise ValueError(f"unknown asset {name!r}: use one of {known} or NAME:PRICE:SZDECIMALS[:MAXLEV]")
            specs.append(KNOWN_ASSETS[name])
        elif len(fields) in (3, 4):
            try:
                lev = int(fields[3]) if len(fields) == 4 else 50
                specs.append(AssetSpec(name, float(fields[1]), int(fields[2]), lev))
            except ValueError as exc:
                raise ValueError(f"bad asset {item!r}: {exc}") from None
        else:
            raise ValueError(f"bad asset {item!r}: expected NAME or NAME:PRICE:SZDECIMALS[:MAXLEV]")
    names = [s.name for s in specs]
    if not specs or len(set(names)) != len(names):
        raise ValueError(f"assets must be a non-empty list of distinct names (got {text!r})")
    return tuple(specs)


@attrs.frozen
class StallWindow:
    """A period during which the WebSocket market-data feed is frozen (clients see stale data)."""

    at_secs: float = attrs.field(validator=ge(0), metadata=_help("Start, seconds after the server started"))
    duration_secs: float = attrs.field(validator=gt(0), metadata=_help("Length of the stall, seconds"))


@attrs.frozen
class FaultConfig:
    """Faults the server injects, all drawn from one seeded generator; every injected fault is journalled."""

    seed: int = attrs.field(default=0, metadata=_help("Seed of the fault generator"))
    ws_drop_every_secs: float = attrs.field(
        default=0.0, validator=ge(0), metadata=_help("Close every WebSocket connection this often, seconds; 0: never")
    )
    ws_drop_prob_per_sec: float = attrs.field(
        default=0.0, validator=[ge(0), le(1)], metadata=_help("Chance per second that each connection is dropped")
    )
    ws_delay_ms: float = attrs.field(default=0.0, validator=ge(0), metadata=_help("Delay of every outgoing WS message"))
    ws_delay_jitter_ms: float = attrs.field(
        default=0.0, validator=ge(0), metadata=_help("Uniform extra delay of WS messages, up to this many ms")
    )
    duplicate_user_events_prob: float = attrs.field(
        default=0.0, validator=[ge(0), le(1)], metadata=_help("Chance that a user-channel message is sent twice")
    )
    reorder_user_events_prob: float = attrs.field(
        default=0.0, validator=[ge(0), le(1)], metadata=_help("Chance that a user message swaps with the next one")
    )
    http_429_prob: float = attrs.field(
        default=0.0, validator=[ge(0), le(1)], metadata=_help("Share of HTTP requests answered 429")
    )
    http_5xx_prob: float = attrs.field(
        default=0.0, validator=[ge(0), le(1)], metadata=_help("Share of HTTP requests answered 502/503")
    )
    stall_book: tuple[StallWindow, ...] = attrs.field(
        default=(), converter=tuple, metadata=_help("Windows during which the WS market-data feed is frozen")
    )
    cascade_at_secs: tuple[float, ...] = attrs.field(
        default=(), converter=tuple, metadata=_help("Force a liquidation cascade in every market at these times")
    )

    @property
    def active(self) -> bool:
        """True when any fault is configured."""
        return self != FaultConfig(seed=self.seed)


@attrs.frozen
class ServerConfig:
    """Everything ``mmtool exchange serve`` and :class:`LocalExchange` accept."""

    host: str = attrs.field(default="127.0.0.1", metadata=_help("Address to bind (loopback by default)"))
    port: int = attrs.field(default=3001, validator=[ge(0), le(65535)], metadata=_help("Port; 0 picks a free one"))
    seed: int = attrs.field(default=1, metadata=_help("Seed of the synthetic markets (asset i uses seed + i)"))
    assets: tuple[AssetSpec, ...] = attrs.field(default=DEFAULT_ASSETS, converter=tuple)
    balance: float = attrs.field(
        default=100_000.0, validator=gt(0), metadata=_help("USDC credited to an address the first time it is seen")
    )
    chain: str = attrs.field(
        default="testnet", validator=_in(CHAINS),
        metadata=_help("Network the signatures must be for: the SDK signs localhost requests as testnet"),
    )
    market: dict[str, Any] = attrs.field(
        factory=dict, metadata=_help("Overrides of the synthetic market model (MarketConfig fields), all assets")
    )
    faults: FaultConfig = attrs.field(factory=FaultConfig)
    log_json: Path | None = attrs.field(default=None, metadata=_help("JSON-lines journal of actions, fills, faults"))
    tick_ms: float = attrs.field(default=50.0, validator=gt(0), metadata=_help("Market clock tick, milliseconds"))
    max_body_bytes: int = attrs.field(default=1 << 20, validator=ge(1024), metadata=_help("Largest request body"))
    ws_idle_timeout_secs: float = attrs.field(
        default=60.0, validator=gt(0), metadata=_help("Close a WebSocket silent for this long")
    )
    ip_weight_per_minute: int = attrs.field(default=1200, validator=ge(1), metadata=_help("IP request weight budget"))
    ws_connections_per_ip: int = attrs.field(default=100, validator=ge(1), metadata=_help("WS connections per IP"))
    ws_subscriptions_per_ip: int = attrs.field(default=1000, validator=ge(1), metadata=_help("Subscriptions per IP"))
    ws_messages_per_minute: int = attrs.field(default=2000, validator=ge(1), metadata=_help("WS messages per IP"))
    address_initial_budget: int = attrs.field(
        default=10_000, validator=ge(0), metadata=_help("Requests an address may send before trading volume")
    )
    maker_fee: float = attrs.field(default=0.00015, validator=ge(-0.001), metadata=_help("Maker fee rate"))
    taker_fee: float = attrs.field(default=0.00045, validator=ge(0), metadata=_help("Taker fee rate"))

    @property
    def is_mainnet(self) -> bool:
        """True when signatures must be for mainnet (phantom agent source "a")."""
        return self.chain == "mainnet"


def fault_config_from_mapping(data: dict[str, Any], origin: str = "faults") -> FaultConfig:
    """Structure a fault table; :class:`ConfigError` lists every problem, one per line, naming the key."""
    table = data.get("faults", data) if set(data) <= {"faults"} else data
    config, problems = structure_config(table, FaultConfig, "faults")
    if problems:
        raise ConfigError("\n".join(f"{origin}: {line}" for line in problems))
    return config


def load_faults(path: Path) -> FaultConfig:
    """Read a fault scenario TOML file (see the module docstring)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read fault scenario {path}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from exc
    return fault_config_from_mapping(data, str(path))
