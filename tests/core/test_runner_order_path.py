"""The runner's order-path measurement: event received -> each signed batch handed to the socket, wall clock only."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from prometheus_client import generate_latest
from venue_doubles import FlatVenue

from mmtool.core.clock import ManualClock, WallClock
from mmtool.core.runner import Runner, RunObserver, RunOptions, RunResult
from mmtool.core.summary import SUMMARY_KEYS, latency_summary, percentile_us
from mmtool.core.types import Action, Cancel, Event, Timer
from mmtool.observe.hub import ObserveHub
from mmtool.observe.metrics import MetricsObserver

T0 = 1_760_000_000_000_000_000
US = 1_000


class SteppedWallClock(WallClock):
    """A wall clock (as far as the runner can tell) that only moves when the test says so."""

    def __init__(self, now_ns: int = T0) -> None:
        self.now = now_ns

    def now_ns(self) -> int:
        return self.now


class SteppedSimClock(ManualClock):
    """The simulator's kind of clock, moved the same way."""

    def __init__(self, now_ns: int = T0) -> None:
        super().__init__(now_ns)
        self.now = now_ns

    def now_ns(self) -> int:
        return self.now


class FakeAdapter(FlatVenue):
    """Replays events; each ``submit`` sends ``batches`` batches, ``batch_ns`` apart on the adapter's clock."""

    name = "fake"

    def __init__(self, clock: Any, events: Sequence[Event], *, batch_ns: int = 100 * US, batches: int = 1,
                 stamps: bool = True) -> None:
        self.clock = clock
        self._events = list(events)
        self.batch_ns = batch_ns
        self.batches = batches
        self.submitted: list[list[Action]] = []
        self._stamps: list[int] = []
        if stamps:
            self.sent_stamps = lambda: list(self._stamps)

    async def events(self) -> AsyncIterator[Event]:
        for event in self._events:
            self.clock.now = max(self.clock.now, event.ts_local_ns)
            yield event

    async def submit(self, actions: Sequence[Action]) -> None:
        self.submitted.append(list(actions))
        self._stamps = []
        for _ in range(self.batches):
            self.clock.now += self.batch_ns
            self._stamps.append(self.clock.now)
        self.clock.now += 7 * US  # submit returns a little after the last batch left


class FakeEngine:
    """Decides one cancel on every event whose receipt stamp is listed in ``act_on``; nothing else."""

    asset = "ETH"
    killed = False
    estimators: list = []
    position = Decimal(0)
    now_ns = T0

    def __init__(self, act_on: set[int]) -> None:
        self.act_on = act_on
        self.strategy = SimpleNamespace(name="fake")
        self.risk = SimpleNamespace(kill_events=[])
        zero = SimpleNamespace(realized=0.0, unrealized=0.0, fees=0.0, total=0.0)
        self.portfolio = SimpleNamespace(snapshot=lambda now: zero)
        self.commits = 0

    def handle(self, event: Event) -> list[Action]:
        return [Cancel(f"0x{event.ts_local_ns:032x}", "ETH")] if event.ts_local_ns in self.act_on else []

    def commit(self) -> None:
        self.commits += 1

    def stop(self, now: int) -> list[Action]:
        return []

    def live_orders(self) -> list:
        return []


class Recorder(RunObserver):
    """Keeps every order-path figure the runner reports."""

    name = "recorder"

    def __init__(self) -> None:
        self.paths: list[tuple[Event, int]] = []

    def on_order_path(self, engine: Any, event: Event, latency_ns: int) -> None:
        self.paths.append((event, latency_ns))


def timers(*offsets_us: int) -> list[Timer]:
    return [Timer(T0 + o * US, T0 + o * US) for o in offsets_us]


def run(engine: FakeEngine, adapter: FakeAdapter, *observers: RunObserver, keep: int = 200_000) -> RunResult:
    runner = Runner(engine, adapter, RunOptions(), observers=observers, keep_latencies=keep)  # type: ignore[arg-type]
    return asyncio.run(runner.run())


def test_each_batch_is_timed_from_the_receipt_of_the_event_that_caused_it() -> None:
    events = timers(0, 1_000, 2_000)
    engine = FakeEngine({events[0].ts_local_ns, events[2].ts_local_ns})
    adapter = FakeAdapter(SteppedWallClock(), events, batch_ns=150 * US, batches=2)
    recorder = Recorder()
    result = run(engine, adapter, recorder)
    assert result.wall_clock
    assert list(result.order_path_ns) == [150 * US, 300 * US] * 2, "per batch, from the adapter's send stamps"
    assert [(e.ts_local_ns, ns) for e, ns in recorder.paths] == [
        (events[0].ts_local_ns, 150 * US), (events[0].ts_local_ns, 300 * US),
        (events[2].ts_local_ns, 150 * US), (events[2].ts_local_ns, 300 * US),
    ]
    assert len(result.latencies_ns) == 3, "decision latency of every event, as before"
    assert len(adapter.submitted) == 2


def test_without_send_stamps_submit_returning_stands_for_the_bytes_leaving() -> None:
    events = timers(0)
    adapter = FakeAdapter(SteppedWallClock(), events, batch_ns=200 * US, stamps=False)
    result = run(FakeEngine({events[0].ts_local_ns}), adapter)
    assert list(result.order_path_ns) == [207 * US]


def test_a_simulated_clock_records_nothing() -> None:
    events = timers(0, 1_000)
    adapter = FakeAdapter(SteppedSimClock(), events)
    recorder = Recorder()
    result = run(FakeEngine({e.ts_local_ns for e in events}), adapter, recorder)
    assert not result.wall_clock
    assert list(result.order_path_ns) == [] and recorder.paths == []
    assert len(adapter.submitted) == 2, "the decisions are the same: only the measurement is off"
    summary = latency_summary(result)
    assert summary["order_path_count"] == 0
    assert summary["order_path_p50_us"] is None and summary["decision_latency_p50_us"] is None


def test_a_clock_stepped_back_and_the_bound_are_respected() -> None:
    events = timers(0, 1_000, 2_000, 3_000)
    clock = SteppedWallClock()
    adapter = FakeAdapter(clock, events, batch_ns=-(T0 // 2))  # the wall clock jumped back before the send
    result = run(FakeEngine({e.ts_local_ns for e in events}), adapter)
    assert list(result.order_path_ns) == []
    adapter = FakeAdapter(SteppedWallClock(), events)
    result = run(FakeEngine({e.ts_local_ns for e in events}), adapter, keep=2)
    assert list(result.order_path_ns) == [100 * US, 100 * US]


class SlowingAdapter(FakeAdapter):
    """Each batch takes 1 µs longer than the one before: the session's order path times grow steadily."""

    async def submit(self, actions: Sequence[Action]) -> None:
        self.batch_ns += US
        await super().submit(actions)


def test_a_session_longer_than_the_bound_keeps_a_sample_of_all_of_it() -> None:
    """Past ``keep_latencies`` figures the runner keeps a uniform sample of the whole session, not its start, so
    the summary's percentiles describe the session."""
    events = timers(*range(0, 400_000, 1_000))
    adapter = SlowingAdapter(SteppedWallClock(), events, batch_ns=0)
    recorder = Recorder()
    result = run(FakeEngine({e.ts_local_ns for e in events}), adapter, recorder, keep=20)
    assert len(result.order_path_ns) == 20 and len(result.latencies_ns) == 20
    assert len(recorder.paths) == 400, "observers still see every figure"
    assert all(1 * US <= ns <= 400 * US for ns in result.order_path_ns)
    assert max(result.order_path_ns) > 200 * US, "the first 20 figures would all be at most 20 µs"
    summary = latency_summary(result)
    assert summary["order_path_count"] == 400 and summary["order_path_max_us"] == 400.0, "count and max: all"


def test_summary_percentiles_in_microseconds() -> None:
    assert percentile_us([], 0.5) is None
    ordered = [i * US for i in range(1, 101)]
    assert percentile_us(ordered, 0.5) == 50.5
    assert percentile_us(ordered, 0.99) == 99.0
    assert percentile_us(ordered, 1.0) == 100.0
    result = RunResult(wall_clock=True, latencies_ns=[3 * US, 1 * US, 2 * US], order_path_ns=[500 * US, 300 * US])
    assert latency_summary(result) == {
        "decision_latency_p50_us": 2.0, "decision_latency_p99_us": 3.0, "order_path_count": 2,
        "order_path_p50_us": 400.0, "order_path_p99_us": 498.0, "order_path_max_us": 500.0,
    }
    assert set(latency_summary(result)) <= set(SUMMARY_KEYS)


def test_the_metrics_observer_bins_the_order_path() -> None:
    metrics = MetricsObserver("ETH", ObserveHub("ETH"))
    event = timers(0)[0]
    for latency_us in (40, 250, 250, 900, 70_000):
        metrics.on_order_path(None, event, latency_us * US)  # type: ignore[arg-type]
    metrics.order_path.publish()
    text = generate_latest(metrics.registry).decode()
    assert 'mm_order_path_seconds_count{asset="ETH"} 5.0' in text
    assert 'mm_order_path_seconds_bucket{asset="ETH",le="5e-05"} 1.0' in text
    assert 'mm_order_path_seconds_bucket{asset="ETH",le="0.0003"} 3.0' in text
    assert 'mm_order_path_seconds_bucket{asset="ETH",le="0.05"} 4.0' in text
    assert 'mm_order_path_seconds_bucket{asset="ETH",le="+Inf"} 5.0' in text
    assert 'mm_decision_latency_seconds_count{asset="ETH"} 0.0' in text


class Sequencer(RunObserver):
    """Notes, for each event with actions, how many batches the adapter had been given when it was told."""

    def __init__(self, name: str, before_send: bool, adapter: FakeAdapter) -> None:
        self.name = name
        self.before_send = before_send
        self.adapter = adapter
        self.seen: list[tuple[int, int]] = []

    def on_event(self, engine: Any, event: Event, actions: Sequence[Action], latency_ns: int) -> None:
        if actions:
            self.seen.append((event.ts_local_ns, len(self.adapter.submitted)))


def test_the_journal_kind_sees_an_event_before_its_actions_leave_and_watchers_after() -> None:
    events = timers(0, 1_000, 2_000)
    engine = FakeEngine({events[0].ts_local_ns, events[2].ts_local_ns})
    adapter = FakeAdapter(SteppedWallClock(), events)
    ahead = Sequencer("ahead", True, adapter)
    watcher = Sequencer("watcher", False, adapter)
    run(engine, adapter, watcher, ahead)
    assert ahead.seen == [(events[0].ts_local_ns, 0), (events[2].ts_local_ns, 1)]
    assert watcher.seen == [(events[0].ts_local_ns, 1), (events[2].ts_local_ns, 2)]


def test_the_built_in_watchers_are_told_after_the_send_and_the_journal_before() -> None:
    from mmtool.observe.journal import JournalObserver
    from mmtool.observe.pnl_attribution import AttributionObserver
    from mmtool.observe.status import LiveStatus
    from mmtool.observe.watch import AlertWatcher

    assert JournalObserver.before_send is True
    assert RunObserver.before_send is True  # a third party's observer keeps the write-ahead position
    for watcher in (MetricsObserver, AlertWatcher, AttributionObserver, LiveStatus):
        assert watcher.before_send is False, watcher.__name__


class WakingEngine(FakeEngine):
    """Asks to be woken 5 s after each event's time (as stale data would), as of its last decision."""

    next_wake_ns: int | None = None

    def handle(self, event: Event) -> list[Action]:
        self.next_wake_ns = event.ts_local_ns + 5_000_000_000
        return super().handle(event)


class WakingAdapter(FakeAdapter):
    """Records the wake-ups asked for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.wakes: list[int | None] = []

    def wake_at(self, ts_ns: int | None) -> None:
        self.wakes.append(ts_ns)


def test_the_runner_passes_the_engines_next_wake_up_to_an_adapter_that_can_wake_it() -> None:
    events = timers(0, 1_000, 2_000)
    adapter = WakingAdapter(SteppedWallClock(), events)
    engine = WakingEngine(set())
    run(engine, adapter)
    assert engine.commits >= len(events), "the runner finishes every event (after-decision work) at once"
    assert adapter.wakes[:3] == [e.ts_local_ns + 5_000_000_000 for e in events], "after every event, in order"
    # An adapter without wake_at is left alone (the FakeAdapter of the other tests has none).
    run(WakingEngine(set()), FakeAdapter(SteppedWallClock(), events))
