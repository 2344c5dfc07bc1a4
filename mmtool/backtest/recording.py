"""The recording format: append-only gzip files of JSON lines, rotated hourly, safe to kill at any moment.

One line per WebSocket message::

    {"recv_ns": 1767225600123456789, "exch_ms": 1767225600120, "msg": {"channel": "l2Book", "data": {...}}}

``recv_ns`` is the local receive time (wall clock, ns), ``exch_ms`` the exchange's timestamp when the message
carries one (``l2Book``, ``trades``), else null. Files are named ``<ASSET>-<YYYYmmddTHH>[-n].jsonl.gz`` after the
UTC hour of their first line; a new file starts every hour and whenever the recorder restarts.

Durability: each line is written as a gzip *sync flush* (``GzipFile.flush()``, ``Z_SYNC_FLUSH``) and handed to
the operating system at once, so the deflate stream on disk is complete up to the last whole line at any time.
A killed recorder leaves a file without its gzip trailer; :func:`iter_lines` reads such files up to the last
complete line and drops the partial one. Closed files are ordinary gzip (``zcat`` reads them).
"""

from __future__ import annotations

import gzip
import heapq
import json
import logging
import zlib
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import attrs

log = logging.getLogger("mmtool.recording")

NS = 1_000_000_000
HOUR_NS = 3600 * NS
SUFFIX = ".jsonl.gz"
_CHUNK = 1 << 20


@attrs.frozen
class RecordedLine:
    """One recorded message with its local receive time (ns) and the exchange's timestamp (ms) if any."""

    recv_ns: int
    exch_ms: int | None
    msg: dict[str, Any]


class RecordingWriter:
    """Appends recorded messages to hourly gzip files in ``out_dir``; every line is flushed to the OS at once."""

    def __init__(self, out_dir: str | Path, asset: str, *, rotate_ns: int = HOUR_NS) -> None:
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.asset = asset
        self.rotate_ns = rotate_ns
        self.files: list[Path] = []
        self.lines = 0
        self._file: gzip.GzipFile | None = None
        self._raw: BinaryIO | None = None
        self._period: int | None = None

    def write(self, recv_ns: int, exch_ms: int | None, msg: dict[str, Any]) -> None:
        """Append one message (rotating to a new file when its hour starts)."""
        period = recv_ns // self.rotate_ns
        if self._file is None or period != self._period:
            self._open(period, recv_ns)
        assert self._file is not None
        line = json.dumps({"recv_ns": recv_ns, "exch_ms": exch_ms, "msg": msg}, separators=(",", ":"))
        self._file.write(line.encode() + b"\n")
        self._file.flush()  # Z_SYNC_FLUSH, then the OS: a kill loses at most this line
        self.lines += 1

    def close(self) -> None:
        """Finish the current file (gzip trailer included)."""
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._raw is not None:
            self._raw.close()  # GzipFile never closes a file object it was given
            self._raw = None

    def _open(self, period: int, recv_ns: int) -> None:
        self.close()
        stamp = datetime.fromtimestamp(recv_ns / NS, UTC).strftime("%Y%m%dT%H")
        path = self.out_dir / f"{self.asset}-{stamp}{SUFFIX}"
        n = 0
        while path.exists():
            n += 1
            path = self.out_dir / f"{self.asset}-{stamp}-{n}{SUFFIX}"
        # mtime=0 keeps the gzip header free of wall time; the lines carry the times.
        self._raw = open(path, "wb")
        self._file = gzip.GzipFile(filename=path.name, mode="wb", fileobj=self._raw, mtime=0)
        self._period = period
        self.files.append(path)
        log.info("Recording to a new file", extra={"fields": {"path": str(path)}})


def _decompressed(path: Path) -> Iterator[bytes]:
    """The decompressed bytes of a gzip file of one or more members, tolerating a truncated last member."""
    decoder = zlib.decompressobj(wbits=31)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            while chunk:
                yield decoder.decompress(chunk)
                if not decoder.eof:
                    break
                chunk = decoder.unused_data
                decoder = zlib.decompressobj(wbits=31)
    try:
        yield decoder.flush()
    except zlib.error:
        return


def _file_lines(path: Path) -> Iterator[RecordedLine]:
    buffer = b""
    try:
        for data in _decompressed(path):
            buffer += data
            *whole, buffer = buffer.split(b"\n")
            for raw in whole:
                line = _parse(raw, path)
                if line is not None:
                    yield line
    except zlib.error as exc:
        # Bytes after a crash that are not a valid stream: keep what was read before them.
        log.warning("Recording file is corrupt after this point", extra={"fields": {"path": str(path),
                                                                                     "error": str(exc)}})
    if buffer:
        log.info("Dropped a partial last line", extra={"fields": {"path": str(path), "bytes": len(buffer)}})


def _parse(raw: bytes, path: Path) -> RecordedLine | None:
    if not raw.strip():
        return None
    try:
        obj = json.loads(raw)
        return RecordedLine(int(obj["recv_ns"]), obj.get("exch_ms"), obj["msg"])
    except (ValueError, KeyError, TypeError):
        log.warning("Skipped a malformed recorded line", extra={"fields": {"path": str(path)}})
        return None


def recording_files(directory: str | Path) -> list[Path]:
    """The recording files in ``directory``, sorted by name."""
    return sorted(Path(directory).glob(f"*{SUFFIX}"))


def iter_lines(directory: str | Path) -> Iterator[RecordedLine]:
    """Every recorded line in ``directory``, in receive-time order (files are merged; ties keep file order)."""
    files = recording_files(directory)
    if not files:
        raise FileNotFoundError(f"no recording files (*{SUFFIX}) in {directory}")
    yield from heapq.merge(*(_file_lines(path) for path in files), key=lambda line: line.recv_ns)
