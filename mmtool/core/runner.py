"""The thin asyncio shell around the engine for live and paper trading.

It pulls events from the adapter, calls :meth:`Engine.handle`, submits the actions, logs a status line, stops
at the end of the run or on a signal, and runs the graceful shutdown: stop quoting, cancel every resting
order with retries until the exchange confirms none is left, optionally flatten after a kill, log the final
position and PnL. All decisions stay in the engine; the runner only measures wall time for latency figures:
the engine's decision per event, and on a live exchange (wall clock) the order path, from an event's receipt
stamp to each signed batch it caused being handed to the socket.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from array import array
from collections.abc import AsyncIterator, Callable, MutableSequence, Sequence
from decimal import Decimal
from pathlib import Path

import attrs

from mmtool.core.clock import WallClock
from mmtool.core.components import ExchangeAdapter
from mmtool.core.engine import NS, Engine
from mmtool.core.gcquiet import quiet_gc
from mmtool.core.sample import Reservoir
from mmtool.core.types import Action, Event, RiskLevel, Timer

log = logging.getLogger("mmtool.runner")

#: How long a flatten's IOC orders may take to end (seconds of the adapter's clock).
FLATTEN_TIMEOUT_S = 5.0


class RunObserver:
    """Sees everything the runner does, for metrics, journals and live displays; never decides anything.

    ``on_event`` runs after the engine decided and BEFORE the actions are submitted, so a journal can write
    them first; an observer that only watches (metrics, alerts, displays) sets ``before_send = False`` and is
    told after ``submit`` returned, off the order path. An observer that raises is logged, counted and dropped;
    trading goes on.
    """

    name = "observer"
    #: Whether ``on_event`` must run before the event's actions leave (a write-ahead journal) or may run after
    #: they were handed to the exchange adapter (everything that only watches).
    before_send = True

    def on_start(self, engine: Engine, adapter: ExchangeAdapter) -> None:
        """The session is connected and about to trade."""

    def on_event(self, engine: Engine, event: Event, actions: Sequence[Action], latency_ns: int) -> None:
        """One event was handled; ``actions`` are about to be submitted (``before_send``) or were submitted."""

    def on_submit(self, engine: Engine, actions: Sequence[Action]) -> None:
        """Actions are about to leave the process (every batch: trading, shutdown cancels, flatten orders); for an
        observer with ``before_send = False``, they were just handed to the exchange adapter."""

    def on_order_path(self, engine: Engine, event: Event, latency_ns: int) -> None:
        """A signed batch caused by ``event`` left ``latency_ns`` after the event was received (live only).

        Called once per batch handed to the socket, after ``submit`` returned; never on a simulated clock.
        """

    def on_status(self, engine: Engine) -> None:
        """A status interval passed (simulated or exchange time)."""

    def on_stop(self, engine: Engine, result: RunResult) -> None:
        """The shutdown finished; ``result`` is final."""


@attrs.frozen
class RunOptions:
    """How long to run and how to stop."""

    duration_s: float | None = None
    status_interval_s: float = 5.0
    shutdown_timeout_s: float = 10.0
    cancel_retry_s: float = 1.0
    max_cancel_rounds: int = 8
    flatten_on_kill: bool = False
    kill_marker: Path | None = None
    #: At exit, how long fills still on their way may take to reach the engine (seconds of the adapter's clock).
    settle_timeout_s: float = 3.0


@attrs.define
class RunResult:
    """What happened, for the summary: why it stopped, the latencies and the exchange's word at exit.

    ``latencies_ns`` are the engine's decision times (every event); ``order_path_ns`` the times from an event's
    receipt to each signed batch it caused leaving, recorded only on a wall clock (``wall_clock``). A session with
    more of either than the runner keeps (``keep_latencies``) holds a uniform sample of the whole session's;
    ``order_paths_timed`` and ``order_path_max_ns`` are then still the count and the maximum of all of them.
    """

    stop_reason: str = ""
    started_ns: int = 0
    ended_ns: int = 0
    open_orders_at_exit: int = -1
    exchange_position: Decimal | None = None
    latencies_ns: MutableSequence[int] = attrs.field(factory=lambda: array("q"))
    order_path_ns: MutableSequence[int] = attrs.field(factory=lambda: array("q"))
    order_paths_timed: int = 0
    order_path_max_ns: int | None = None
    wall_clock: bool = False
    shutdown_clean: bool = False


class Runner:
    """Drives one engine with one exchange adapter until the duration ends, a signal arrives or a kill fires."""

    def __init__(
        self,
        engine: Engine,
        adapter: ExchangeAdapter,
        options: RunOptions,
        *,
        on_status: Callable[[Engine], None] | None = None,
        observers: Sequence[RunObserver] = (),
        keep_latencies: int = 200_000,
    ) -> None:
        self.engine = engine
        self.adapter = adapter
        self.options = options
        self.on_status = on_status
        self.observers = list(observers)
        self.observer_errors = 0
        #: The last handled event, its actions and its latency, for the watchers once the actions have left.
        self._watch: tuple[Event, Sequence[Action], int] | None = None
        # Event stamps and send times are only comparable with real time; a simulated clock measures nothing.
        self.result = RunResult(wall_clock=isinstance(adapter.clock, WallClock))
        self._stop_reason: str | None = None
        self._decisions = Reservoir(keep_latencies, self.result.latencies_ns)
        self._paths = Reservoir(keep_latencies, self.result.order_path_ns)
        stamps = getattr(adapter, "sent_stamps", None)
        self._sent_stamps: Callable[[], Sequence[int]] | None = stamps if callable(stamps) else None
        wake_at = getattr(adapter, "wake_at", None)
        #: The adapter's optional wake-up (see ExchangeAdapter), told of ``Engine.next_wake_ns`` after each event.
        self._wake_at: Callable[[int | None], None] | None = wake_at if callable(wake_at) else None
        self._events: AsyncIterator[Event] | None = None

    def request_stop(self, reason: str) -> None:
        """Ask the loop to stop after the event it is handling (signal handlers call this)."""
        if self._stop_reason is None:
            self._stop_reason = reason
            log.warning("Stop requested", extra={"fields": {"reason": reason}})

    async def run(self) -> RunResult:
        """Run until stopped, then shut down gracefully and close the adapter (connected by the caller)."""
        loop = asyncio.get_running_loop()
        installed = self._install_signals(loop)
        try:
            start = self.adapter.clock.now_ns()
            self.result.started_ns = start
            log.info(
                "Market maker started",
                extra={
                    "fields": {
                        "asset": self.engine.asset,
                        "strategy": self.engine.strategy.name,
                        "exchange": self.adapter.name,
                        "duration_s": self.options.duration_s,
                    }
                },
            )
            self._notify("on_start", self.engine, self.adapter)
            self._events = self.adapter.events().__aiter__()
            with quiet_gc():
                try:
                    await self._trade(start)
                except Exception as exc:
                    await self._after_failure(exc)
                    raise
                await self._shutdown()
            self._notify("on_stop", self.engine, self.result)
        finally:
            for sig in installed:
                loop.remove_signal_handler(sig)
            await self.adapter.close()
        return self.result

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> list[int]:
        installed = []
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self.request_stop, signal.Signals(sig).name)
                installed.append(sig)
            except (NotImplementedError, RuntimeError, ValueError):
                # Not the main thread (e.g. under a test runner's worker thread): stopping relies on duration.
                continue
        return installed

    async def _next(self) -> Event | None:
        assert self._events is not None
        try:
            return await self._events.__anext__()
        except StopAsyncIteration:
            return None

    def _handle(self, event: Event) -> list:
        t0 = time.perf_counter_ns()
        actions = self.engine.handle(event)
        latency = time.perf_counter_ns() - t0
        self._decisions.add(latency)
        if self.observers:
            self._notify("on_event", self.engine, event, actions, latency, before_send=True)
            self._watch = (event, actions, latency)
        return actions

    def _watched(self) -> None:
        """Tell the observers that only watch (``before_send = False``) about the last handled event, whose
        actions have been submitted by now."""
        if self._watch is not None:
            event, actions, latency = self._watch
            self._watch = None
            self._notify("on_event", self.engine, event, actions, latency, before_send=False)

    async def _submit(self, actions: Sequence[Action], cause: Event | None = None) -> None:
        """Tell the observers (a journal writes the batch first), then send it; time the order path of ``cause``."""
        if self.observers:
            self._notify("on_submit", self.engine, actions, before_send=True)
        await self.adapter.submit(actions)
        # The batch has left: now the engine records it as in flight (off the order path; see Engine.commit).
        self.engine.commit()
        if self.observers:
            self._notify("on_submit", self.engine, actions, before_send=False)
        if cause is not None and self.result.wall_clock:
            self._order_path(cause)

    def _order_path(self, cause: Event) -> None:
        """Record, per batch sent, the time from the receipt of ``cause`` to the batch being handed to the socket.

        An adapter with ``sent_stamps()`` says when each batch of the last ``submit`` was handed over (on its
        clock); for any other, ``submit`` returning stands for the bytes being sent.
        """
        sent = self._sent_stamps() if self._sent_stamps is not None else (self.adapter.clock.now_ns(),)
        for stamp in sent:
            latency = stamp - cause.ts_local_ns
            if latency < 0:
                continue  # the wall clock was stepped back between the two readings: no measurement
            self._paths.add(latency)
            self.result.order_paths_timed += 1
            if self.result.order_path_max_ns is None or latency > self.result.order_path_max_ns:
                self.result.order_path_max_ns = latency
            if self.observers:
                self._notify("on_order_path", self.engine, cause, latency)

    def _notify(self, method: str, *args: object, before_send: bool | None = None) -> None:
        """Call ``method`` on every observer (only on those whose ``before_send`` matches, when given)."""
        for observer in list(self.observers):
            if before_send is not None and bool(getattr(observer, "before_send", True)) is not before_send:
                continue
            try:
                getattr(observer, method)(*args)
            except Exception as exc:  # an observer must never stop trading
                self.observer_errors += 1
                self.observers.remove(observer)
                log.error(
                    "Observer failed and was dropped",
                    exc_info=exc,
                    extra={"fields": {"observer": observer.name, "call": method}},
                )

    async def _trade(self, start: int) -> None:
        duration_ns = None if self.options.duration_s is None else int(self.options.duration_s * NS)
        status_ns = int(self.options.status_interval_s * NS)
        next_status = start + status_ns
        while True:
            event = await self._next()
            if event is None:
                self.request_stop("event stream ended")
                return
            actions = self._handle(event)
            if actions:
                await self._submit(actions, event)
            # The event's deferred work (an estimator's refit) now, after its batch left, not before the next one.
            self.engine.commit()
            if self._wake_at is not None:
                # A time-based risk check (stale data) then runs when it is due, not at the next periodic Timer.
                self._wake_at(self.engine.next_wake_ns)
            self._watched()
            now = event.ts_local_ns
            if self.engine.killed:
                self._stop_reason = "kill switch: " + (self.engine.risk.kill_events[-1].reason
                                                       if self.engine.risk.kill_events else "triggered")
                return
            if duration_ns is not None and now - start >= duration_ns:
                self._stop_reason = self._stop_reason or "duration reached"
                return
            if self._stop_reason is not None:
                return
            if isinstance(event, Timer) and now >= next_status:
                next_status = now + status_ns
                self._status()

    def _status(self) -> None:
        self._notify("on_status", self.engine)
        if self.on_status is not None:
            self.on_status(self.engine)
            return
        log_status(self.engine)

    async def _after_failure(self, exc: Exception) -> None:
        """The trading loop raised (a bug: bad data is skipped, components' errors are caught): take every order
        off the book before the error propagates. The graceful shutdown first; if the engine cannot even do that,
        the exchange's cancel-all directly."""
        log.critical("Trading loop failed; cancelling every order before exiting", exc_info=exc)
        self._stop_reason = f"error: {exc!r}"[:200]
        try:
            await self._shutdown()
            return
        except Exception as again:
            log.critical("Shutdown after the failure failed too; cancelling at the exchange directly", exc_info=again)
        try:
            left = await self.adapter.cancel_all()
        except Exception as last:
            log.critical("Could not cancel at the exchange: orders may still rest (an armed dead man's switch "
                         "cancels them when it expires)", extra={"fields": {"error": repr(last)}})
            return
        self.result.open_orders_at_exit = left
        self.result.shutdown_clean = left == 0

    async def _shutdown(self) -> None:
        """Stop quoting, cancel everything with retries, flatten after a kill if asked, log the outcome."""
        engine, opts = self.engine, self.options
        self.result.stop_reason = self._stop_reason or "stopped"
        killed = engine.killed
        log.info("Shutting down", extra={"fields": {"reason": self.result.stop_reason}})
        try:
            await self._cancel_everything()
            await self._close_out(killed)
        finally:
            # Whatever failed on the way out, a kill still stops the next start until an operator has looked.
            if killed and opts.kill_marker is not None:
                write_kill_marker(opts.kill_marker, engine)

    async def _cancel_everything(self) -> None:
        """Cancel every live order, in rounds with a linear backoff, until the engine has none left (or time's up)."""
        engine, opts = self.engine, self.options
        now = self.adapter.clock.now_ns()
        actions = engine.stop(now)
        if actions:
            await self._submit(actions)
        deadline = now + int(opts.shutdown_timeout_s * NS)
        retry_ns = int(opts.cancel_retry_s * NS)
        next_retry = now + retry_ns
        rounds = 1
        while engine.live_orders():
            event = await self._next()
            if event is None:
                break
            actions = self._handle(event)
            if actions:
                await self._submit(actions, event)
            self._watched()
            t = event.ts_local_ns
            if t >= next_retry and engine.live_orders():
                if rounds >= opts.max_cancel_rounds or t >= deadline:
                    break
                rounds += 1
                next_retry = t + retry_ns * rounds  # linear backoff between cancel rounds
                retry = engine.stop(t)
                log.warning("Retrying cancels", extra={"fields": {"round": rounds, "orders": len(retry)}})
                if retry:
                    await self._submit(retry)

    async def _close_out(self, killed: bool) -> None:
        """After the cancels: confirm with the exchange, flatten if asked, settle the position, log the outcome."""
        engine, opts = self.engine, self.options
        remaining = await self._confirm_no_orders()
        if killed and opts.flatten_on_kill:
            try:
                await self._flatten()
            except Exception as exc:
                log.error("Flatten after the kill failed", extra={"fields": {"error": repr(exc)}})
        self.result.open_orders_at_exit = remaining
        self.result.shutdown_clean = remaining == 0
        try:
            self.result.exchange_position = (await self.adapter.position()).size
        except Exception as exc:  # the exchange may be unreachable at exit; the local figure still stands
            log.error("Could not read the exchange position at exit", extra={"fields": {"error": repr(exc)}})
        else:
            await self._settle(self.result.exchange_position)
        self.result.ended_ns = self.adapter.clock.now_ns()
        pnl = engine.portfolio.snapshot(engine.now_ns)
        log.info(
            "Final position and PnL",
            extra={
                "fields": {
                    "position": str(engine.position),
                    "exchange_position": str(self.result.exchange_position),
                    "realized_pnl": round(pnl.realized, 4),
                    "unrealized_pnl": round(pnl.unrealized, 4),
                    "fees": round(pnl.fees, 4),
                    "total_pnl": round(pnl.total, 4),
                    "open_orders": remaining,
                }
            },
        )
        for est in engine.estimators:
            summary = getattr(est, "summary", None)
            if callable(summary):
                log.info("Estimator summary", extra={"fields": {"estimator": est.name, **summary()}})
        if remaining > 0:
            log.error("ORDERS LEFT OPEN AT EXIT", extra={"fields": {"open_orders": remaining}})
        elif remaining < 0:
            log.error("COULD NOT CONFIRM THAT NO ORDER IS LEFT OPEN: the exchange did not answer; check it by hand "
                      "(the dead man's switch, where the adapter keeps one, cancels them when it fires)")

    async def _confirm_no_orders(self) -> int:
        """Ask the exchange; cancel whatever it still lists, a few times, and return how many remain, or -1 when
        the exchange could not be asked (unreachable): the shutdown goes on either way and says so."""
        remaining = 0
        for attempt in range(1, self.options.max_cancel_rounds + 1):
            try:
                remaining = await self.adapter.cancel_all()
                if remaining == 0:
                    listed = await self.adapter.open_orders()
                    if not listed:
                        return 0
                    remaining = len(listed)
            except Exception as exc:
                log.warning("cancel_all failed", extra={"fields": {"attempt": attempt, "error": repr(exc)}})
                remaining = -1
            await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
        return remaining

    async def _settle(self, exchange_position: Decimal) -> None:
        """Let fills still on their way reach the engine before the summary: a flatten's (its order's end can
        arrive before its fills) or one that raced the cancels. Events are handled until the engine's position
        is the exchange's, for at most ``settle_timeout_s`` of the adapter's clock; a difference that remains
        is the summary's to show."""
        engine = self.engine
        await self._drain_until(lambda: engine.position == exchange_position, self.options.settle_timeout_s)

    async def _drain_until(self, done: Callable[[], bool], timeout_s: float) -> None:
        """Handle events (their actions are not sent: the session is ending) until ``done()`` or ``timeout_s`` of
        the adapter's clock, or the end of the stream."""
        deadline = self.adapter.clock.now_ns() + int(timeout_s * NS)
        while not done():
            event = await self._next()
            if event is None or event.ts_local_ns > deadline:
                break
            self._handle(event)
            self._watched()

    async def _flatten(self) -> None:
        actions = self.engine.flatten_actions()
        if not actions:
            return
        log.warning("Flattening position after kill", extra={"fields": {"position": str(self.engine.position)}})
        await self._submit(actions)
        engine = self.engine
        await self._drain_until(lambda: not engine.live_orders(), FLATTEN_TIMEOUT_S)

def log_status(engine: Engine) -> None:
    """One status line: mid, spread, position, PnL, fills, risk state."""
    m = engine.market
    pnl = engine.portfolio.snapshot(engine.now_ns)
    spread_bps = (
        (m.best_ask - m.best_bid) / m.mid * 1e4 if m.mid and m.best_bid is not None and m.best_ask is not None else None
    )
    log.info(
        "Status",
        extra={
            "fields": {
                "mid": None if m.mid is None else round(m.mid, 4),
                "spread_bps": None if spread_bps is None else round(spread_bps, 2),
                "position": str(engine.position),
                "total_pnl": round(pnl.total, 4),
                "fills": engine.portfolio.fills,
                "orders": len(engine.live_orders()),
                "risk": RiskLevel(engine.verdict.level).name.lower(),
            }
        },
    )


def write_kill_marker(path: Path, engine: Engine) -> None:
    """Leave a file that stops ``mmtool run`` from starting again until an operator removes it."""
    last = engine.risk.kill_events[-1] if engine.risk.kill_events else None
    text = f"killed at ts_ns={engine.now_ns}\nreason={last.reason if last else 'unknown'}\n"
    path.write_text(text)
    log.error(
        "Kill marker written; remove it or pass --reset-kill to trade again", extra={"fields": {"path": str(path)}}
    )
