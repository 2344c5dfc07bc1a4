"""Each built-in risk monitor fires at its threshold and not before, warns near it, and reads its config."""

from __future__ import annotations

import math

import pluggy
import pytest

from mmtool.core import hookspecs
from mmtool.core.components import RiskMonitor
from mmtool.core.config import DEFAULT_RISK_MONITORS
from mmtool.core.errors import ConfigError
from mmtool.core.types import RiskLevel, Verdict
from mmtool.plugins.risk_monitors import limits, market
from mmtool.plugins.risk_monitors.limits import DailyLoss, Drawdown, PositionLimit, PositionValue
from mmtool.plugins.risk_monitors.market import Cascade, RateLimit, StaleData

NS = 1_000_000_000
OK, WARN, PAUSE, REDUCE, KILL = (
    RiskLevel.OK,
    RiskLevel.WARN,
    RiskLevel.PAUSE,
    RiskLevel.REDUCE_ONLY,
    RiskLevel.KILL,
)


def build(cls, make_ctx, config=None, **settings):
    return cls.from_config(config if config is not None else cls.Config(), make_ctx(**settings))


def assert_figures(verdict, **expected):
    """A WARN or worse names its figures; an OK is the monitor's shared figure-less verdict."""
    if verdict.level is OK:
        assert verdict.figures == {}
        assert verdict is Verdict.ok(verdict.monitor), "an OK verdict is shared, not built per event"
    else:
        for key, value in expected.items():
            assert verdict.figures[key] == value, key


# ------------------------------------------------------------------------------------------------ daily-loss


@pytest.mark.parametrize(
    ("daily", "level"),
    [(-500.0, KILL), (-500.01, KILL), (-499.99, WARN), (-400.0, WARN), (-399.99, OK), (250.0, OK)],
)
def test_daily_loss_fires_at_the_limit(make_ctx, make_state, daily, level):
    verdict = build(DailyLoss, make_ctx).check(make_state(pnl={"daily": daily}))
    assert verdict.level is level
    assert verdict.monitor == "daily-loss"
    assert_figures(verdict, value=-daily, limit=500.0)


def test_daily_loss_reads_risk_settings_and_its_own_override(make_ctx, make_state):
    state = make_state(pnl={"daily": -150.0})
    assert build(DailyLoss, make_ctx, risk={"max_daily_loss_usd": 150.0}).check(state).level is KILL
    override = DailyLoss.Config(max_daily_loss_usd=1000.0)
    assert build(DailyLoss, make_ctx, override, risk={"max_daily_loss_usd": 150.0}).check(state).level is OK


def test_warn_verdict_says_near_limit(make_ctx, make_state):
    verdict = build(DailyLoss, make_ctx).check(make_state(pnl={"daily": -450.0}))
    assert (verdict.level, verdict.reason) == (WARN, "near limit")


def test_warn_fraction_override(make_ctx, make_state):
    state = make_state(pnl={"daily": -450.0})
    assert build(DailyLoss, make_ctx, DailyLoss.Config(warn_fraction=0.95)).check(state).level is OK
    assert (
        build(DailyLoss, make_ctx, risk={"warn_fraction": 0.5}).check(make_state(pnl={"daily": -250.0})).level is WARN
    )


def test_not_a_number_is_a_kill(make_ctx, make_state):
    verdict = build(DailyLoss, make_ctx).check(make_state(pnl={"daily": math.nan}))
    assert verdict.level is KILL


# -------------------------------------------------------------------------------------------------- drawdown


@pytest.mark.parametrize(
    ("session", "level"),
    # capital 20,000 x 5 % = 1,000 USD; peak 3,000: drawdown = 3,000 - session.
    [(2000.0, WARN), (1999.99, KILL), (2000.01, WARN), (2200.0, WARN), (2200.01, OK), (3000.0, OK)],
)
def test_drawdown_fires_above_pct_of_capital(make_ctx, make_state, session, level):
    state = make_state(pnl={"session": session, "peak": 3000.0}, capital_usd=20_000.0)
    verdict = build(Drawdown, make_ctx).check(state)
    assert verdict.level is level
    assert_figures(verdict, limit=1000.0, base=20_000.0)


def test_drawdown_base_falls_back_to_position_value_limit(make_ctx, make_state):
    monitor = build(Drawdown, make_ctx, risk={"max_position_value_usd": 4000.0, "max_drawdown_pct": 10.0})
    at = monitor.check(make_state(pnl={"session": 0.0, "peak": 400.0}, capital_usd=0.0))
    above = monitor.check(make_state(pnl={"session": -0.01, "peak": 400.0}, capital_usd=0.0))
    assert at.figures["base"] == 4000.0 and at.figures["limit"] == 400.0
    assert (at.level, above.level) == (WARN, KILL)


# -------------------------------------------------------------------------------------------- position-value


@pytest.mark.parametrize(
    ("position", "level"),
    # mid 2,000: 5 units = 10,000 USD, the limit; warn from 8,000 (4 units).
    [(5.0, WARN), (5.0001, KILL), (-5.0001, KILL), (4.0, WARN), (3.9999, OK)],
)
def test_position_value_fires_above_the_limit(make_ctx, make_state, position, level):
    verdict = build(PositionValue, make_ctx).check(make_state(position=position, mid=2000.0))
    assert verdict.level is level
    assert_figures(verdict, limit=10_000.0)


def test_position_value_is_zero_before_the_first_mid(make_ctx, make_state):
    assert build(PositionValue, make_ctx).check(make_state(position=50.0, mid=None)).level is OK


# -------------------------------------------------------------------------------------------- position-limit


@pytest.mark.parametrize(
    ("position", "level"),
    [(2.0, REDUCE), (-2.0, REDUCE), (2.5, REDUCE), (1.9999, WARN), (-1.6, WARN), (1.5999, OK), (0.0, OK)],
)
def test_position_limit_goes_reduce_only_at_the_limit(make_ctx, make_state, position, level):
    verdict = build(PositionLimit, make_ctx).check(make_state(position=position))
    assert verdict.level is level
    assert verdict.monitor == "position-limit"


def test_position_limit_reads_trading_settings(make_ctx, make_state):
    monitor = build(PositionLimit, make_ctx, trading={"max_absolute_position_size": 0.5})
    assert monitor.check(make_state(position=0.5)).level is REDUCE
    assert monitor.check(make_state(position=0.3)).level is OK


# ------------------------------------------------------------------------------------------------ stale-data


@pytest.mark.parametrize(
    ("age_ns", "level"),
    [(5 * NS, KILL), (5 * NS - 1, WARN), (5 * NS + 1, KILL), (4 * NS, WARN), (4 * NS - 1, OK), (0, OK)],
)
def test_stale_data_fires_after_the_limit(make_ctx, make_state, age_ns, level):
    verdict = build(StaleData, make_ctx).check(make_state(ts_ns=100 * NS + age_ns, last_market_ts_ns=100 * NS))
    assert verdict.level is level
    assert_figures(verdict, value=age_ns / NS, limit=5.0)


def test_stale_data_is_silent_before_the_first_market_event(make_ctx, make_state):
    verdict = build(StaleData, make_ctx).check(make_state(ts_ns=10_000 * NS, last_market_ts_ns=0))
    assert verdict.level is OK
    assert build(StaleData, make_ctx).wake_at_ns(make_state(ts_ns=10_000 * NS, last_market_ts_ns=0)) is None


@pytest.mark.parametrize("warn_fraction", [0.8, 0.7, 1 / 3, 1.0])
@pytest.mark.parametrize("limit_secs", [5.0, 1.5, 0.123456789])
def test_stale_data_wakes_when_its_verdict_changes_warning_then_kill(make_ctx, make_state, warn_fraction, limit_secs):
    monitor = build(StaleData, make_ctx, risk={"stale_data_secs": limit_secs, "warn_fraction": warn_fraction})
    last = 100 * NS

    def level(ts: int) -> RiskLevel:
        return monitor.check(make_state(ts_ns=ts, last_market_ts_ns=last)).level

    ts = last
    seen = [level(ts)]
    while True:
        wake = monitor.wake_at_ns(make_state(ts_ns=ts, last_market_ts_ns=last))
        if wake is None:
            break
        # The verdict is the same until the wake-up and changes at it: the earliest time it can change.
        assert wake > ts and level(wake - 1) is seen[-1] and level(wake) is not seen[-1]
        ts = wake
        seen.append(level(ts))
    assert seen[0] is OK and seen[-1] is KILL
    assert ts == last + monitor.limit_ns


# --------------------------------------------------------------------------------------------------- cascade


@pytest.mark.parametrize(
    ("severity", "level"),
    [(0.95, KILL), (1.0, KILL), (0.9499, PAUSE), (0.7, PAUSE), (0.6999, WARN), (0.5, OK), (None, OK)],
)
def test_cascade_levels(make_ctx, make_state, severity, level):
    values = {} if severity is None else {"cascade_severity": severity}
    verdict = build(Cascade, make_ctx).check(make_state(values=values))
    assert verdict.level is level
    assert_figures(verdict, value=severity)


def test_cascade_pause_resumes_by_itself_after_the_cooldown(make_ctx, make_state):
    monitor = build(Cascade, make_ctx, risk={"pause_cooldown_secs": 60.0})
    t0 = 100 * NS
    first = monitor.check(make_state(ts_ns=t0, values={"cascade_severity": 0.8}))
    assert first.level is PAUSE
    assert first.figures["resume_at_ns"] == float(t0 + 60 * NS)
    calm = {"cascade_severity": 0.1}
    assert monitor.check(make_state(ts_ns=t0 + 30 * NS, values=calm)).level is PAUSE
    assert monitor.check(make_state(ts_ns=t0 + 60 * NS - 1, values=calm)).level is PAUSE
    assert monitor.check(make_state(ts_ns=t0 + 60 * NS, values=calm)).level is OK
    assert monitor.check(make_state(ts_ns=t0 + 61 * NS, values=calm)).level is OK


def test_cascade_pause_is_extended_while_the_condition_lasts(make_ctx, make_state):
    monitor = build(Cascade, make_ctx)
    t0 = 100 * NS
    monitor.check(make_state(ts_ns=t0, values={"cascade_severity": 0.8}))
    again = monitor.check(make_state(ts_ns=t0 + 30 * NS, values={"cascade_severity": 0.75}))
    assert again.figures["resume_at_ns"] == float(t0 + 90 * NS)
    assert monitor.check(make_state(ts_ns=t0 + 89 * NS, values={})).level is PAUSE
    assert monitor.check(make_state(ts_ns=t0 + 90 * NS, values={})).level is OK


def test_cascade_can_go_reduce_only_instead(make_ctx, make_state):
    monitor = build(Cascade, make_ctx, Cascade.Config(cascade_action="reduce_only"))
    assert monitor.check(make_state(values={"cascade_severity": 0.8})).level is REDUCE
    monitor = build(Cascade, make_ctx, risk={"cascade_action": "reduce_only"})
    assert monitor.check(make_state(values={"cascade_severity": 0.8})).level is REDUCE


def test_cascade_refuses_pause_threshold_above_kill(make_ctx):
    with pytest.raises(ConfigError, match=r"plugins.cascade.cascade_pause_severity: must be < cascade_kill_severity"):
        build(Cascade, make_ctx, Cascade.Config(cascade_pause_severity=0.96))
    with pytest.raises(ValueError, match="pause severity must be < kill severity"):
        Cascade(0.5, 0.6, RiskLevel.PAUSE, NS, 0.8)


# ------------------------------------------------------------------------------------------------ rate-limit


def _errors(count: int, end_ns: int) -> tuple[int, ...]:
    return tuple(end_ns - i * NS for i in range(count))


@pytest.mark.parametrize(("count", "level"), [(10, KILL), (11, KILL), (9, WARN), (8, WARN), (7, OK), (0, OK)])
def test_rate_limit_fires_at_the_count(make_ctx, make_state, count, level):
    ts = 100 * NS
    verdict = build(RateLimit, make_ctx).check(make_state(ts_ns=ts, rate_limit_errors_ns=_errors(count, ts)))
    assert verdict.level is level
    assert_figures(verdict, value=float(count))


def test_rate_limit_counts_only_the_window(make_ctx, make_state):
    monitor = build(RateLimit, make_ctx, risk={"max_rate_limit_errors": 2, "rate_limit_window_secs": 10.0})
    ts = 100 * NS
    edge = ts - 10 * NS
    assert monitor.check(make_state(ts_ns=ts, rate_limit_errors_ns=(edge, ts))).level is not KILL
    assert monitor.check(make_state(ts_ns=ts, rate_limit_errors_ns=(edge + 1, ts))).level is KILL


# -------------------------------------------------------------------------------------------- registration


ALL = (DailyLoss, Drawdown, PositionValue, PositionLimit, StaleData, Cascade, RateLimit)


def test_plugins_register_every_default_monitor():
    manager = pluggy.PluginManager(hookspecs.PROJECT)
    manager.add_hookspecs(hookspecs)
    manager.register(limits)
    manager.register(market)
    classes = [c for batch in manager.hook.mmtool_register_risk_monitors() for c in batch]
    names = [c.name for c in classes]
    assert len(names) == len(set(names))
    assert set(DEFAULT_RISK_MONITORS) == set(names)


@pytest.mark.parametrize("cls", ALL)
def test_monitor_follows_the_component_contract(cls, make_ctx, make_state):
    monitor = build(cls, make_ctx)
    assert isinstance(monitor, RiskMonitor)
    assert cls.__doc__.strip().splitlines()[0].endswith(".")
    verdict = monitor.check(make_state())
    assert verdict.level is OK
    assert verdict.monitor == cls.name


@pytest.mark.parametrize("cls", ALL)
def test_monitor_config_rejects_a_negative_fraction(cls):
    with pytest.raises(ValueError, match=r"must be > 0 \(got -0.5\)"):
        cls.Config(warn_fraction=-0.5)
