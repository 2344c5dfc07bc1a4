"""Millisecond nonces that only go up: never reused, never backwards, across bursts, threads and restarts.

The exchange keeps the 100 highest nonces of each signer and refuses one that was used or is below the smallest
of them, so a nonce manager must never hand out the same number twice, not even after a crash. Each nonce is
``max(clock_ms(), last + 1)``. With a state file, the manager writes ahead: before issuing a nonce above the
number on disk it atomically records ``nonce + reserve_ms`` there, so after a crash or restart it starts above
anything it could have issued. The file is rewritten about once per ``reserve_ms`` of clock time, not per nonce.

One process per signer: two processes signing with one key would each follow the clock from their own last
nonce, so one would issue numbers the other already used, or fall below the smallest of the 100 the exchange
keeps once the other has sent a burst. A connected adapter therefore holds an exclusive lock on the state file
(:meth:`NonceManager.acquire`, ``<state>.lock``, released by the kernel if the process dies); a second process
with the same key and state file is refused at start with a message saying so. Give each process its own API
wallet (agent key): agents are free to approve, and each has its own nonces at the exchange.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows: no advisory locks there, one process per key is on the user
    fcntl = None  # type: ignore[assignment]

from mmtool.plugins.exchanges.hyperliquid.errors import NonceStateError

#: How far ahead of the last issued nonce the state file is written (ms): one write per this much clock time.
DEFAULT_RESERVE_MS = 10_000


def _read_state(path: Path) -> int:
    try:
        text = path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return 0
    except OSError as exc:
        raise NonceStateError(f"cannot read the nonce state {path}: {exc}") from exc
    try:
        value = int(text)
    except ValueError:
        raise NonceStateError(f"the nonce state {path} is corrupt (expected an integer, got {text[:40]!r})") from None
    if value < 0:
        raise NonceStateError(f"the nonce state {path} is corrupt (negative: {value})")
    return value


def _write_state(path: Path, value: int) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(tmp, "w", encoding="ascii") as f:
            f.write(f"{value}\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        # The rename itself must be durable too, or a crash could bring back the old, lower number.
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise NonceStateError(f"cannot write the nonce state {path}: {exc}") from exc


class NonceManager:
    """Issues strictly increasing millisecond nonces for one signer; thread-safe and safe to call from asyncio.

    :param clock_ms: the wall clock in milliseconds (injected, so tests control it).
    :param state_path: where the write-ahead mark is kept across restarts; ``None`` keeps nothing on disk.
    :param reserve_ms: how far ahead the mark is written.
    """

    def __init__(
        self,
        clock_ms: Callable[[], int],
        state_path: Path | None = None,
        reserve_ms: int = DEFAULT_RESERVE_MS,
    ) -> None:
        if reserve_ms < 1:
            raise ValueError(f"reserve_ms must be >= 1 (got {reserve_ms})")
        self._clock = clock_ms
        self._path = state_path
        self._reserve = reserve_ms
        # A plain lock: the critical section is tiny (a state-file write at most once per reserve_ms), so holding
        # it from a coroutine never stalls the event loop noticeably, and it also guards against other threads.
        self._lock = threading.Lock()
        self._reserved = _read_state(state_path) if state_path is not None else 0
        self._last = self._reserved
        self._lock_fd: int | None = None

    def acquire(self) -> None:
        """Hold the state file's lock (until :meth:`release` or the process ends); NonceStateError when another
        process holds it. Reads the state again once held: another process may have moved it meanwhile."""
        if self._path is None or fcntl is None or self._lock_fd is not None:
            return
        lock_path = self._path.with_name(self._path.name + ".lock")
        try:
            lock_path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise NonceStateError(f"cannot open the nonce lock {lock_path}: {exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = os.pread(fd, 32, 0).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            if isinstance(exc, BlockingIOError):
                raise NonceStateError(
                    f"another process (pid {holder}) is signing with this key ({lock_path} is locked): two processes "
                    "with one key reuse each other's nonces; give each process its own API wallet (agent key)"
                ) from None
            raise NonceStateError(f"cannot lock the nonce state {lock_path}: {exc}") from exc
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
        self._lock_fd = fd
        with self._lock:
            self._reserved = max(self._reserved, _read_state(self._path))
            self._last = max(self._last, self._reserved)

    def release(self) -> None:
        """Let go of the state file's lock (a no-op when not held)."""
        fd, self._lock_fd = self._lock_fd, None
        if fd is not None:
            os.close(fd)  # closing the descriptor drops the lock

    @property
    def last(self) -> int:
        """The last nonce issued (or the restored write-ahead mark, before the first one)."""
        return self._last

    def next(self) -> int:
        """The next nonce: the clock's milliseconds, or ``last + 1`` when the clock has not moved past it."""
        with self._lock:
            nonce = max(int(self._clock()), self._last + 1)
            if self._path is not None and nonce > self._reserved:
                mark = nonce + self._reserve
                _write_state(self._path, mark)
                self._reserved = mark
            self._last = nonce
            return nonce
