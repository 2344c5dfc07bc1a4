"""Turn a recording of Hyperliquid WebSocket messages into core events, in receive-time order.

``l2Book`` becomes :class:`BookUpdate`, each ``trades`` entry a :class:`Trade`, the asset's ``allMids`` entry a
:class:`MidUpdate`. ``activeAssetCtx`` carries the current funding rate; at each top of the hour (Hyperliquid
pays funding hourly) the reader yields a :class:`Funding` with that rate and ``payment`` 0: the market's funding,
which the replayed exchange turns into our own payment. Events carry the exchange's timestamp when the message
has one (else the receive time) as ``ts_exchange_ns`` and the receive time as ``ts_local_ns``. Malformed
messages are logged, counted and skipped, as a live adapter does.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from mmtool.backtest.recording import HOUR_NS, RecordedLine, iter_lines, recording_files
from mmtool.core.types import BookLevel, BookUpdate, Funding, L2Book, MidUpdate, Side, Trade

log = logging.getLogger("mmtool.recording")

MS = 1_000_000
#: What a recording's events can be.
MarketEvent = BookUpdate | Trade | MidUpdate | Funding


def _levels(raw: list[dict[str, Any]]) -> tuple[BookLevel, ...]:
    return tuple(BookLevel(Decimal(level["px"]), Decimal(level["sz"]), int(level.get("n", 1))) for level in raw)


def message_events(line: RecordedLine, asset: str) -> list[MarketEvent]:
    """The core events of one recorded message for ``asset`` (empty for other assets and other channels).

    :raises ValueError, KeyError, TypeError, InvalidOperation: on a malformed message.
    """
    channel = line.msg.get("channel")
    data = line.msg.get("data")
    local = line.recv_ns
    exch = local if line.exch_ms is None else int(line.exch_ms) * MS
    if channel == "l2Book":
        if data.get("coin") != asset:
            return []
        bids, asks = data["levels"]
        ts = int(data["time"]) * MS if "time" in data else exch
        return [BookUpdate(asset, L2Book(_levels(bids), _levels(asks)), ts, local)]
    if channel == "trades":
        return [
            Trade(asset, Decimal(t["px"]), Decimal(t["sz"]), Side(t["side"]), str(t["tid"]), int(t["time"]) * MS,
                  local)
            for t in data
            if t.get("coin") == asset
        ]
    if channel == "allMids":
        mid = data["mids"].get(asset)
        return [] if mid is None else [MidUpdate(asset, Decimal(mid), exch, local)]
    return []


def _funding_rate(line: RecordedLine, asset: str) -> Decimal | None:
    if line.msg.get("channel") != "activeAssetCtx":
        return None
    data = line.msg.get("data") or {}
    if data.get("coin") != asset:
        return None
    return Decimal(data["ctx"]["funding"])


def recording_asset(directory: str | Path) -> str:
    """The asset of a recording: the prefix of its file names (``ETH-20260101T00.jsonl.gz``)."""
    files = recording_files(directory)
    if not files:
        raise FileNotFoundError(f"no recording files in {directory}")
    return files[0].name.split("-", 1)[0]


def iter_recording(directory: str | Path, asset: str | None = None) -> Iterator[MarketEvent]:
    """Core events of a recording in receive-time order (``asset`` defaults to the files' asset)."""
    asset = asset or recording_asset(directory)
    rate: Decimal | None = None
    next_funding: int | None = None
    bad = 0
    for line in iter_lines(directory):
        if next_funding is None:
            next_funding = (line.recv_ns // HOUR_NS + 1) * HOUR_NS
        while line.recv_ns >= next_funding:
            if rate is not None:
                yield Funding(asset, rate, Decimal(0), next_funding, line.recv_ns)
            next_funding += HOUR_NS
        try:
            found = _funding_rate(line, asset)
            if found is not None:
                rate = found
                continue
            yield from message_events(line, asset)
        except (ValueError, KeyError, TypeError, AttributeError, InvalidOperation) as exc:
            bad += 1
            if bad <= 10:
                log.warning("Skipped a malformed recorded message",
                            extra={"fields": {"channel": line.msg.get("channel"), "error": repr(exc)}})
