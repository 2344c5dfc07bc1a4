"""Hawkes parameters from an Ogata-thinning simulation; cascade severity during a planted burst and calm."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mmtool.core.types import Side
from mmtool.plugins.estimators._hawkes_fit import HawkesParams, excitation, log_likelihood
from mmtool.plugins.estimators.hawkes import Hawkes, LiquidationCascade

from .sim import Feed, ctx, mid, ogata_hawkes, timer, trade

MU, ALPHA, BETA = 0.5, 0.8, 2.0


@pytest.mark.parametrize("seed", [41, 42])
def test_mu_alpha_beta_within_20pct(seed: int) -> None:
    times = ogata_hawkes(MU, ALPHA, BETA, 6000.0, np.random.default_rng(seed))
    est = Hawkes.from_config(Hawkes.Config(fit_events=3000, refit_trades=1000), ctx())
    feed = Feed(est)
    for t in times:
        feed(trade(float(t), 3000.0))
    v = est.values()
    assert est.warmed_up and est.fits >= 4
    assert v["hawkes_mu"] == pytest.approx(MU, rel=0.2)
    assert v["hawkes_alpha"] == pytest.approx(ALPHA, rel=0.2)
    assert v["hawkes_beta"] == pytest.approx(BETA, rel=0.2)
    assert v["hawkes_branching"] == pytest.approx(ALPHA / BETA, abs=0.08)
    # The online intensity is the recursion under the fitted parameters.
    kept = times[-3000:]
    expected = v["hawkes_mu"] + v["hawkes_alpha"] * np.exp(-v["hawkes_beta"] * (kept[-1] - kept)).sum()
    assert v["hawkes_intensity"] == pytest.approx(expected, rel=1e-6)


def test_the_refit_waits_until_after_the_decision_and_gives_the_same_fit() -> None:
    from mmtool.core.components import MarketState

    times = ogata_hawkes(MU, ALPHA, BETA, 600.0, np.random.default_rng(7))
    deferred = Hawkes.from_config(Hawkes.Config(fit_events=500, refit_trades=200), ctx())
    at_once = Hawkes.from_config(Hawkes.Config(fit_events=500, refit_trades=200), ctx())
    waited = 0
    for t in times:
        event = trade(float(t), 3000.0)
        state = MarketState("ETH", event.ts_exchange_ns, None, 3000.0)
        deferred.on_event(event, state)
        at_once.on_event(event, state)
        at_once.after_decision()
        if deferred._refit_due is not None:
            assert deferred.params is not at_once.params, "the due fit is not published before the decision"
            waited += 1
            deferred.after_decision()
        assert deferred.params == at_once.params
    assert waited >= 3 and deferred.fits == at_once.fits >= 3 and deferred.values() == at_once.values()


def test_vectorised_excitation_matches_the_recursion() -> None:
    times = np.sort(np.random.default_rng(3).uniform(0, 500, 400))
    rec, b = [0.0], 0.0
    for i in range(1, times.size):
        b = math.exp(-1.7 * (times[i] - times[i - 1])) * (1 + b)
        rec.append(b)
    assert np.allclose(excitation(times, 1.7), rec, rtol=1e-9, atol=1e-12)
    poisson = log_likelihood(times, HawkesParams(0.8, 0.0, 1.0))
    assert poisson == pytest.approx(times.size * math.log(0.8) - 0.8 * (times[-1] - times[0]))


def test_same_timestamp_trades_are_one_arrival() -> None:
    est = Hawkes.from_config(Hawkes.Config(), ctx())
    Feed(est)(trade(1.0, 3000.0), trade(1.0, 3000.1), trade(2.0, 3000.0))
    assert len(est._times) == 2


def _calm(feed: Feed, rng: np.random.Generator, t0: float, t1: float, p: list[float], out: list[float], est) -> None:
    t = t0
    while t < t1:
        t += rng.exponential(0.2)  # 5 trades per second, random sides
        p[0] *= math.exp(rng.normal(0.0, 1e-4 * math.sqrt(0.2)))
        side = Side.BUY if rng.uniform() < 0.5 else Side.SELL
        feed(mid(t, p[0]), trade(t, p[0], float(rng.exponential(1.0)), side))
        out.append(est.values()["cascade_severity"])


def test_cascade_severity_high_in_a_one_sided_burst_and_low_when_calm() -> None:
    rng = np.random.default_rng(51)
    est = LiquidationCascade.from_config(LiquidationCascade.Config(), ctx())
    feed = Feed(est)
    p = [3000.0]
    calm: list[float] = []
    _calm(feed, rng, 0.0, 600.0, p, calm, est)
    assert est.warmed_up
    assert np.mean(calm[200:]) < 0.15 and max(calm[200:]) < 0.6
    t = 600.0
    for _ in range(500):  # 10 s of forced selling: 50 trades/s, price falling 10 bps/s
        t += 0.02
        p[0] *= 1 - 10e-4 * 0.02
        feed(mid(t, p[0]), trade(t, p[0], float(rng.exponential(3.0)), Side.SELL))
    assert est.values()["cascade_severity"] > 0.95
    after: list[float] = []
    feed(timer(t + 60.0))
    assert est.values()["cascade_severity"] < 0.3
    _calm(feed, rng, t + 60.0, t + 120.0, p, after, est)
    assert np.mean(after) < 0.2
