"""The nonce manager: strictly increasing, never reused, across bursts, threads, clock jumps and restarts."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from mmtool.plugins.exchanges.hyperliquid.errors import NonceStateError
from mmtool.plugins.exchanges.hyperliquid.nonce import NonceManager

T0 = 1_700_000_000_000


class FakeClock:
    """A settable millisecond clock."""

    def __init__(self, now: int = T0) -> None:
        self.now = now

    def __call__(self) -> int:
        return self.now


def test_follows_the_clock_and_bursts_go_up_by_one() -> None:
    clock = FakeClock()
    nm = NonceManager(clock, None)
    assert [nm.next() for _ in range(3)] == [T0, T0 + 1, T0 + 2]
    clock.now = T0 + 100
    assert nm.next() == T0 + 100
    assert nm.last == T0 + 100


def test_clock_going_backwards_never_goes_backwards() -> None:
    clock = FakeClock()
    nm = NonceManager(clock, None)
    first = nm.next()
    clock.now = T0 - 60_000
    assert [nm.next() for _ in range(3)] == [first + 1, first + 2, first + 3]
    clock.now = T0 + 5
    assert nm.next() == T0 + 5


def test_threads_hammering_get_unique_increasing_nonces() -> None:
    clock = FakeClock()
    nm = NonceManager(clock, None)
    per_thread: list[list[int]] = [[] for _ in range(8)]
    start = threading.Barrier(8)

    def work(out: list[int]) -> None:
        start.wait()
        for i in range(2000):
            if i % 100 == 0:
                clock.now += 1  # the clock moves now and then while others are issuing
            out.append(nm.next())

    threads = [threading.Thread(target=work, args=(out,)) for out in per_thread]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [n for out in per_thread for n in out]
    assert len(set(everything)) == len(everything) == 16_000
    for out in per_thread:
        assert out == sorted(out) and len(set(out)) == len(out)


def test_asyncio_tasks_get_unique_nonces() -> None:
    nm = NonceManager(FakeClock(), None)

    async def burst() -> list[int]:
        out = []
        for _ in range(200):
            out.append(nm.next())
            await asyncio.sleep(0)
        return out

    async def main() -> list[list[int]]:
        return await asyncio.gather(*(burst() for _ in range(5)))

    results = asyncio.run(main())
    flat = [n for r in results for n in r]
    assert len(set(flat)) == 1000 and all(r == sorted(r) for r in results)


def test_restart_resumes_above_everything_issued(tmp_path: Path) -> None:
    state = tmp_path / "nonce"
    clock = FakeClock()
    nm = NonceManager(clock, state, reserve_ms=1000)
    issued = [nm.next() for _ in range(2500)]  # a burst runs past the first reserved block
    assert int(state.read_text()) > issued[-1]
    # Crash and restart with the clock set back: the new manager still starts above every issued nonce.
    clock.now = T0 - 3_600_000
    again = NonceManager(clock, state, reserve_ms=1000)
    assert again.next() > issued[-1]


def test_state_file_is_written_ahead_in_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mmtool.plugins.exchanges.hyperliquid.nonce as nonce_mod

    writes: list[int] = []
    real_write = nonce_mod._write_state

    def counting(path: Path, value: int) -> None:
        writes.append(value)
        real_write(path, value)

    monkeypatch.setattr(nonce_mod, "_write_state", counting)
    clock = FakeClock()
    nm = NonceManager(clock, tmp_path / "n", reserve_ms=10_000)
    for step in range(100):
        clock.now = T0 + step * 50  # 5 s of clock time
        nm.next()
    assert writes == [T0 + 10_000]
    clock.now = T0 + 10_001
    nm.next()
    assert writes == [T0 + 10_000, T0 + 20_001]
    assert list(tmp_path.iterdir()) == [tmp_path / "n"]  # no temporary file left behind


def test_a_failed_write_issues_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import mmtool.plugins.exchanges.hyperliquid.nonce as nonce_mod

    def full_disk(src: object, dst: object) -> None:
        raise OSError(28, "No space left on device")

    nm = NonceManager(FakeClock(), tmp_path / "nonce")
    monkeypatch.setattr(nonce_mod.os, "replace", full_disk)
    with pytest.raises(NonceStateError, match="cannot write"):
        nm.next()
    assert nm.last == 0
    assert list(tmp_path.iterdir()) == []  # the temporary file is cleaned up
    monkeypatch.undo()
    assert nm.next() == T0


@pytest.mark.parametrize("content", ["", "abc", "-5", "12.5"])
def test_corrupt_state_is_refused(tmp_path: Path, content: str) -> None:
    state = tmp_path / "nonce"
    state.write_text(content)
    with pytest.raises(NonceStateError, match="corrupt"):
        NonceManager(FakeClock(), state)


def test_reserve_must_be_positive() -> None:
    with pytest.raises(ValueError, match="reserve_ms must be >= 1"):
        NonceManager(FakeClock(), None, reserve_ms=0)


def test_one_process_per_state_file_and_the_next_one_resumes_above_it(tmp_path: Path) -> None:
    path = tmp_path / "nonce.json"
    clock = FakeClock()
    first, second = NonceManager(clock, path), NonceManager(clock, path)
    first.acquire()
    issued = [first.next() for _ in range(5)]
    with pytest.raises(NonceStateError, match=rf"another process \(pid {os.getpid()}\) is signing with this key"):
        second.acquire()
    first.release()
    second.acquire()  # the first let go (a clean exit): the second takes over, above all the first issued
    assert second.next() > max(issued)
    second.release()


def test_a_lock_held_by_another_process_refuses_the_start_until_it_exits(tmp_path: Path) -> None:
    path = tmp_path / "nonce.json"
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time\n"
         "from pathlib import Path\n"
         "from mmtool.plugins.exchanges.hyperliquid.nonce import NonceManager\n"
         f"NonceManager(lambda: {T0}, Path({str(path)!r})).acquire()\n"
         "print('locked', flush=True)\n"
         "time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(NonceStateError, match=rf"pid {holder.pid}"):
            NonceManager(FakeClock(), path).acquire()
    finally:
        holder.kill()  # a crash, even: the kernel drops its lock
        holder.wait()
    later = NonceManager(FakeClock(), path)
    later.acquire()
    later.release()
