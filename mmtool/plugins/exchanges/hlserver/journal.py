"""The server's JSON-lines journal: every accepted action, fill, funding payment, liquidation and injected fault.

Records are kept in memory (the most recent :data:`MAX_RECORDS`, for tests and ``LocalExchange.state``) and, with
``--log-json PATH``, appended to that file one JSON object per line, flushed as written so a test can read it while
the server runs. Every record has ``ts`` (ms since the epoch) and ``kind``.
"""

from __future__ import annotations

import json
import logging
from collections import deque
from decimal import Decimal
from pathlib import Path
from typing import IO, Any

MAX_RECORDS = 100_000
log = logging.getLogger("mmtool.hlserver")


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, bytes):
        return "0x" + value.hex()
    return repr(value)


class Journal:
    """Append-only record of what the exchange accepted and did, in memory and optionally in a file."""

    def __init__(self, path: Path | None = None) -> None:
        self.records: deque[dict[str, Any]] = deque(maxlen=MAX_RECORDS)
        self._file: IO[str] | None = open(path, "a", encoding="utf-8") if path is not None else None  # noqa: SIM115

    def write(self, ts_ms: int, kind: str, **fields: Any) -> dict[str, Any]:
        """Append one record; faults are also logged at INFO so an operator sees them."""
        record = {"ts": ts_ms, "kind": kind, **fields}
        self.records.append(record)
        if self._file is not None:
            self._file.write(json.dumps(record, default=_default, separators=(",", ":")) + "\n")
            self._file.flush()
        if kind == "fault":
            log.info("fault %s", json.dumps(record, default=_default))
        return record

    def of_kind(self, kind: str) -> list[dict[str, Any]]:
        """Records of one kind, oldest first."""
        return [r for r in self.records if r["kind"] == kind]

    def close(self) -> None:
        """Close the file, if any."""
        if self._file is not None:
            self._file.close()
            self._file = None
