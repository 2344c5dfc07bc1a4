"""The risk aggregator: severity ordering, kill latch, reset and re-entry, exceptions, transition logging."""

from __future__ import annotations

import logging
from typing import ClassVar

import pytest

from mmtool.core.risk import EXTERNAL, KillEvent, RiskAggregator, format_figures
from mmtool.core.types import RiskLevel, Verdict
from mmtool.plugins.risk_monitors.limits import PositionLimit
from mmtool.plugins.risk_monitors.market import Cascade

NS = 1_000_000_000


class Scripted:
    """A monitor whose next verdicts are set by the test."""

    name: ClassVar[str] = "scripted"

    def __init__(self, name: str, level: RiskLevel = RiskLevel.OK, reason: str = "") -> None:
        self.name = name  # type: ignore[misc]
        self.level = level
        self.reason = reason
        self.calls = 0

    def check(self, state):
        self.calls += 1
        return Verdict(self.level, self.reason, {"value": 1.0, "limit": 2.0}, self.name)


class Exploding:
    """A monitor with a bug."""

    name: ClassVar[str] = "exploding"

    def check(self, state):
        raise ZeroDivisionError("boom")


def test_most_severe_verdict_wins(make_state):
    monitors = [Scripted("a", RiskLevel.WARN), Scripted("b", RiskLevel.REDUCE_ONLY), Scripted("c", RiskLevel.PAUSE)]
    verdict = RiskAggregator(monitors).evaluate(make_state())
    assert (verdict.level, verdict.monitor) == (RiskLevel.REDUCE_ONLY, "b")


def test_ties_go_to_the_first_in_config_order(make_state):
    monitors = [Scripted("a", RiskLevel.OK), Scripted("b", RiskLevel.WARN), Scripted("c", RiskLevel.WARN)]
    assert RiskAggregator(monitors).evaluate(make_state()).monitor == "b"
    assert RiskAggregator([Scripted("x"), Scripted("y")]).evaluate(make_state()).monitor == "x"


def test_no_monitors_is_ok(make_state):
    assert RiskAggregator([]).evaluate(make_state()).level is RiskLevel.OK


def test_kill_latches_until_reset(make_state, caplog):
    monitor = Scripted("a", RiskLevel.KILL, "loss")
    agg = RiskAggregator([monitor])
    with caplog.at_level(logging.ERROR, logger="mmtool.risk"):
        first = agg.evaluate(make_state(ts_ns=1 * NS))
        monitor.level = RiskLevel.OK
        second = agg.evaluate(make_state(ts_ns=2 * NS))
    assert first.level is second.level is RiskLevel.KILL
    assert agg.killed
    assert second.reason == "loss"
    assert monitor.calls == 1  # latched: monitors are not consulted while killed
    assert agg.kill_events == [KillEvent(1 * NS, "a", "loss", {"value": 1.0, "limit": 2.0})]
    triggered = [r for r in caplog.records if "KILL SWITCH TRIGGERED" in r.getMessage()]
    assert len(triggered) == 1
    assert triggered[0].levelno == logging.ERROR
    assert "reason=loss" in triggered[0].getMessage() and "limit=2" in triggered[0].getMessage()
    agg.reset(3 * NS)
    assert not agg.killed
    assert agg.evaluate(make_state(ts_ns=4 * NS)).level is RiskLevel.OK


def test_reset_then_kill_again_latches_anew(make_state):
    monitor = Scripted("a", RiskLevel.KILL, "loss")
    agg = RiskAggregator([monitor])
    agg.evaluate(make_state(ts_ns=1 * NS))
    agg.reset(2 * NS)
    agg.evaluate(make_state(ts_ns=3 * NS))
    assert [e.ts_ns for e in agg.kill_events] == [1 * NS, 3 * NS]


def test_manual_kill(make_state, caplog):
    agg = RiskAggregator([Scripted("a")])
    with caplog.at_level(logging.ERROR, logger="mmtool.risk"):
        agg.kill("operator asked", {"position": 1.5}, 7 * NS)
        agg.kill("asked twice", {}, 8 * NS)
    assert agg.killed
    verdict = agg.evaluate(make_state())
    assert (verdict.level, verdict.monitor, verdict.reason) == (RiskLevel.KILL, EXTERNAL, "operator asked")
    assert agg.kill_events == [KillEvent(7 * NS, EXTERNAL, "operator asked", {"position": 1.5})]
    assert sum("KILL SWITCH TRIGGERED" in r.getMessage() for r in caplog.records) == 1


def test_reentry_scales_limits_for_the_period():
    agg = RiskAggregator([], reentry_secs=300.0, reentry_fraction=0.25)
    assert agg.limit_scale(0) == 1.0
    agg.kill("test", {}, 1 * NS)
    agg.reset(10 * NS)
    assert agg.limit_scale(10 * NS) == 0.25
    assert agg.limit_scale(310 * NS - 1) == 0.25
    assert agg.limit_scale(310 * NS) == 1.0


def test_no_reentry_period_by_default():
    agg = RiskAggregator([])
    agg.kill("test", {}, 1 * NS)
    agg.reset(2 * NS)
    assert agg.limit_scale(2 * NS) == 1.0


def test_from_settings_reads_the_reentry_settings(make_settings):
    agg = RiskAggregator.from_settings([], make_settings(risk={"reentry_secs": 5.0, "reentry_fraction": 0.4}).risk)
    agg.reset(0)
    assert (agg.limit_scale(4 * NS), agg.limit_scale(5 * NS)) == (0.4, 1.0)


@pytest.mark.parametrize(("secs", "fraction"), [(-1.0, 0.5), (0.0, 0.0), (0.0, 1.5)])
def test_bad_reentry_settings_are_refused(secs, fraction):
    with pytest.raises(ValueError, match="reentry"):
        RiskAggregator([], reentry_secs=secs, reentry_fraction=fraction)


def test_a_raising_monitor_is_a_kill_logged_once_and_counted(make_state, caplog):
    agg = RiskAggregator([Scripted("a", RiskLevel.WARN), Exploding()])
    with caplog.at_level(logging.ERROR, logger="mmtool.risk"):
        verdict = agg.evaluate(make_state(ts_ns=42))
        agg.reset(43)
        agg.evaluate(make_state(ts_ns=44))
    assert verdict.level is RiskLevel.KILL
    assert verdict.monitor == "exploding"
    assert "ZeroDivisionError" in verdict.reason
    assert agg.errors == 2
    raised = [r for r in caplog.records if "treating it as KILL" in r.getMessage()]
    assert len(raised) == 1
    message = raised[0].getMessage()
    assert "exploding" in message and "test_risk_aggregator.Exploding" in message and "ts=42" in message
    assert raised[0].exc_info is not None


def test_warn_is_logged_on_the_transition_only(make_state, caplog):
    monitor = Scripted("near", RiskLevel.WARN, "near limit")
    agg = RiskAggregator([monitor])
    with caplog.at_level(logging.WARNING, logger="mmtool.risk"):
        for ts in range(3):
            agg.evaluate(make_state(ts_ns=ts))
        monitor.level = RiskLevel.OK
        agg.evaluate(make_state(ts_ns=3))
        monitor.level = RiskLevel.WARN
        agg.evaluate(make_state(ts_ns=4))
    detected = [r for r in caplog.records if "Kill switch condition detected" in r.getMessage()]
    assert len(detected) == 2
    assert all(r.levelno == logging.WARNING for r in detected)
    assert "monitor=near" in detected[0].getMessage() and "value=1 limit=2" in detected[0].getMessage()


def test_reduce_only_entry_and_exit_with_position_limit(make_ctx, make_state, caplog):
    agg = RiskAggregator([PositionLimit.from_config(PositionLimit.Config(), make_ctx())])
    with caplog.at_level(logging.WARNING, logger="mmtool.risk"):
        levels = [agg.evaluate(make_state(position=p)).level for p in (1.0, 2.0, 2.1, 1.99, 1.0)]
    assert levels == [
        RiskLevel.OK,
        RiskLevel.REDUCE_ONLY,
        RiskLevel.REDUCE_ONLY,
        RiskLevel.WARN,
        RiskLevel.OK,
    ]
    messages = [r.getMessage() for r in caplog.records]
    assert sum("Reduce-only mode entered" in m for m in messages) == 1
    assert sum("Reduce-only mode exited" in m for m in messages) == 1
    assert not agg.killed


def test_pause_and_automatic_resume_are_logged(make_ctx, make_state, caplog):
    agg = RiskAggregator([Cascade.from_config(Cascade.Config(pause_cooldown_secs=10.0), make_ctx())])
    with caplog.at_level(logging.INFO, logger="mmtool.risk"):
        paused = agg.evaluate(make_state(ts_ns=1 * NS, values={"cascade_severity": 0.8}))
        still = agg.evaluate(make_state(ts_ns=5 * NS, values={"cascade_severity": 0.1}))
        resumed = agg.evaluate(make_state(ts_ns=11 * NS, values={"cascade_severity": 0.1}))
    assert (paused.level, still.level, resumed.level) == (RiskLevel.PAUSE, RiskLevel.PAUSE, RiskLevel.OK)
    messages = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert sum("Trading paused" in m for m in messages) == 1
    assert sum("Trading resumed" in m for m in messages) == 1
    assert any(f"resume_at_ns={11 * NS}" in m for m in messages)


def test_monitor_name_is_filled_in_when_missing(make_state):
    class Anonymous:
        name: ClassVar[str] = "anon"

        def check(self, state):
            return Verdict(RiskLevel.WARN, "x")

    assert RiskAggregator([Anonymous()]).evaluate(make_state()).monitor == "anon"


def test_format_figures_keeps_nanosecond_timestamps_whole():
    assert format_figures({"value": 0.5, "limit": 12345.678, "resume_at_ns": 1_700_000_000_000_000_000.0}) == (
        "value=0.5 limit=12345.678 resume_at_ns=1700000000000000000"
    )


class Waking(Scripted):
    """A scripted monitor that asks to be woken at a set time (or raises when asked, with ``at="raise"``)."""

    def __init__(self, name: str, at) -> None:
        super().__init__(name)
        self.at = at

    def wake_at_ns(self, state):
        if self.at == "raise":
            raise RuntimeError("bug")
        return self.at


def test_wake_up_is_the_earliest_future_time_any_monitor_asks_for(make_state, caplog):
    state = make_state(ts_ns=100 * NS)
    monitors = [Scripted("plain"), Waking("late", 107 * NS), Waking("early", 103 * NS), Waking("none", None),
                Waking("past", 100 * NS)]
    agg = RiskAggregator(monitors)
    agg.evaluate(state)
    assert agg.wake_at_ns == 103 * NS, "no wake-up at or before the state's own time"
    assert RiskAggregator([Scripted("plain"), Waking("none", None)]).evaluate(state) is not None
    no_wakers = RiskAggregator([Scripted("plain")])
    no_wakers.evaluate(state)
    assert no_wakers.wake_at_ns is None

    # A monitor that raises when asked loses its wake-up only: counted, logged once, the others still count.
    broken = RiskAggregator([Waking("broken", "raise"), Waking("early", 103 * NS)])
    with caplog.at_level(logging.ERROR, logger="mmtool.risk"):
        assert broken.evaluate(state).level is RiskLevel.OK
        broken.evaluate(state)
    assert broken.wake_at_ns == 103 * NS and broken.errors == 2
    assert sum("raised in wake_at_ns" in r.getMessage() for r in caplog.records) == 1


def test_no_wake_up_once_killed(make_state):
    kill = Waking("kill", 103 * NS)
    agg = RiskAggregator([kill, Waking("early", 102 * NS)])
    agg.evaluate(make_state(ts_ns=100 * NS))
    assert agg.wake_at_ns == 102 * NS
    kill.level = RiskLevel.KILL
    agg.evaluate(make_state(ts_ns=101 * NS))
    assert agg.killed and agg.wake_at_ns is None
    agg.reset(105 * NS)
    kill.level = RiskLevel.OK
    agg.evaluate(make_state(ts_ns=101 * NS))
    assert agg.wake_at_ns == 102 * NS
    agg.kill("operator", {}, 101 * NS)
    assert agg.wake_at_ns is None
