"""WAL checkpoints of the journal on a background thread, so their disk syncs never delay an order.

In WAL mode with ``synchronous = NORMAL`` a commit only appends to the write-ahead log; the disk syncs happen when
the log is copied back into the database file (a checkpoint). SQLite runs one automatically inside the commit
that grows the log past 1,000 pages, so one batch in a few thousand waited milliseconds for it before it could
leave (the journal commits every batch before it is sent). The journal turns that off on its connection and this
thread checkpoints instead, on its own connection: a PASSIVE checkpoint never blocks the writer, and the sqlite3
module releases the GIL while it syncs.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from pathlib import Path

log = logging.getLogger("mmtool.journal")


class Checkpointer:
    """Checkpoints the WAL of ``path`` every ``interval_s`` seconds until :meth:`stop`."""

    def __init__(self, path: Path, interval_s: float) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0 (got {interval_s})")
        self.path = path
        self.interval_s = interval_s
        #: Checkpoints run, and those that failed (logged once each kind of error).
        self.runs = 0
        self.errors = 0
        self._stop = threading.Event()
        self._logged: set[str] = set()
        self._thread = threading.Thread(target=self._loop, name="journal-checkpoint", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread (after the checkpoint it may be running) and wait for it."""
        self._stop.set()
        self._thread.join(timeout_s)

    def _loop(self) -> None:
        try:
            conn = sqlite3.connect(self.path, timeout=5.0)
        except sqlite3.Error as exc:
            self._failed(exc)
            return
        try:
            while not self._stop.wait(self.interval_s):
                self.checkpoint(conn)
        finally:
            conn.close()

    def checkpoint(self, conn: sqlite3.Connection) -> None:
        """One PASSIVE checkpoint: copy what no reader still needs, without waiting for anyone."""
        try:
            conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.runs += 1
        except sqlite3.Error as exc:
            self._failed(exc)

    def _failed(self, exc: sqlite3.Error) -> None:
        self.errors += 1
        kind = type(exc).__name__
        if kind not in self._logged:
            self._logged.add(kind)
            # Not fatal: the log keeps growing and SQLite copies it back when the journal closes.
            log.warning("Journal checkpoint failed", extra={"fields": {"path": str(self.path), "error": str(exc)}})
