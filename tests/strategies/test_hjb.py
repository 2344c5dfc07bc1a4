"""The exact finite-horizon HJB solution: against the closed form, near the horizon, at the bounds, cached."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from mmtool.plugins.strategies.glft_math import alpha, asymptotic_quote, base_half_spread, eta, omega
from mmtool.plugins.strategies.hjb import Hjb, time_to_horizon
from mmtool.plugins.strategies.hjb_solver import HjbCache, HjbKey, log_v, solve

from ._build import WARM, make_ctx, side_total

SIGMA, GAMMA, KAPPA, A = 1e-4, 100.0, 3000.0, 1.0


def _exact_depths(q: int, table) -> tuple[float, float]:
    base = base_half_spread(GAMMA, KAPPA)
    return base + table.bid_term(q), base + table.ask_term(q)


def test_log_v_matches_an_eigendecomposition():
    a, e, q_max, tau = alpha(SIGMA, GAMMA, KAPPA), eta(GAMMA, KAPPA, A), 6, 40.0
    q = np.arange(-q_max, q_max + 1, dtype=float)
    m = np.diag(a * q * q) - e * (np.eye(2 * q_max + 1, k=1) + np.eye(2 * q_max + 1, k=-1))
    lam, vec = np.linalg.eigh(m)
    v = vec @ (np.exp(-lam * tau) * (vec.T @ np.ones(2 * q_max + 1)))
    lv = log_v(a, e, q_max, tau)
    np.testing.assert_allclose(lv - lv[q_max], np.log(v) - np.log(v[q_max]), rtol=1e-9, atol=1e-9)


def test_small_horizon_expansion():
    # v ≈ 1 − Mτ·1: v_0 ≈ 1 + 2ητ, v_1 ≈ 1 − (α − 2η)τ at Q = 2, so ln(v_0/v_1) ≈ ατ for small τ.
    a, e, tau = 0.01, 0.3, 1e-4
    lv = log_v(a, e, 2, tau)
    assert lv[2] - lv[3] == pytest.approx(a * tau, rel=1e-3)


@functools.cache
def _far_table():
    return solve(SIGMA, GAMMA, KAPPA, A, 30, 5000.0)


@pytest.mark.parametrize("q", [-4, -1, 0, 1, 4])
def test_far_from_the_horizon_the_exact_solution_matches_the_closed_form(q):
    # κω ≈ 0.064 ≪ 1 and |q| ≪ Q: the regime where the asymptotic formula is accurate.
    table = _far_table()
    bid, ask = _exact_depths(q, table)
    closed = asymptotic_quote(q, SIGMA, GAMMA, KAPPA, A)
    w = omega(SIGMA, GAMMA, KAPPA, A)
    assert bid == pytest.approx(closed.bid_depth, abs=0.03 * w * (abs(q) + 1))
    assert ask == pytest.approx(closed.ask_depth, abs=0.03 * w * (abs(q) + 1))


def test_near_the_horizon_the_inventory_term_shrinks_to_zero():
    skews = []
    for tau in (1000.0, 100.0, 10.0, 1.0, 0.01):
        bid, ask = _exact_depths(5, solve(SIGMA, GAMMA, KAPPA, A, 20, tau))
        skews.append((bid - ask) / 2)
    assert all(s > 0 for s in skews)
    assert all(a > b for a, b in zip(skews, skews[1:], strict=False))
    assert skews[-1] < 1e-3 * skews[0]


def test_table_has_no_bid_at_plus_q_and_no_ask_at_minus_q():
    table = solve(SIGMA, GAMMA, KAPPA, A, 5, 300.0)
    assert len(table.bid_terms) == 10 == len(table.ask_terms)  # bids for q=-5..4, asks for q=-4..5
    # Symmetry of the model: the bid at q equals the ask at -q.
    np.testing.assert_allclose(table.bid_terms, table.ask_terms[::-1], rtol=1e-9, atol=1e-15)


def test_no_overflow_for_long_horizons_and_fast_flow():
    table = solve(SIGMA, GAMMA, KAPPA, 500.0, 50, 1e6)
    assert np.all(np.isfinite(table.bid_terms)) and np.all(np.isfinite(table.ask_terms))


def test_strategy_at_the_inventory_bounds_quotes_one_side():
    strategy = Hjb(Hjb.Config())
    long = strategy.quote(make_ctx(position=2.0))
    short = strategy.quote(make_ctx(position=-2.0))
    assert long.bids == () and side_total(long.asks) > 0
    assert short.asks == () and side_total(short.bids) > 0


def test_strategy_skew_agrees_with_glft_in_the_rolling_default():
    strategy = Hjb(Hjb.Config(horizon_secs=3000.0))
    plan = strategy.plan(make_ctx(position=0.3))
    closed = asymptotic_quote(3.0, SIGMA, GAMMA, KAPPA, A)
    assert plan.skew_bps == pytest.approx(closed.skew * 1e4, rel=0.03)
    assert plan.model_half_spread_bps == pytest.approx(closed.half_spread * 1e4, rel=0.01)


def test_second_call_with_the_same_inputs_does_not_recompute():
    strategy = Hjb(Hjb.Config(recompute_tolerance=0.02))
    strategy.quote(make_ctx())
    strategy.quote(make_ctx(position=0.7))
    assert strategy.cache.solves == 1
    strategy.quote(make_ctx(values={**WARM, "sigma": 1.01e-4}))
    assert strategy.cache.solves == 1  # within 2%
    strategy.quote(make_ctx(values={**WARM, "sigma": 1.1e-4}))
    assert strategy.cache.solves == 2
    strategy.quote(make_ctx(gamma=150.0))
    assert strategy.cache.solves == 3
    strategy.quote(make_ctx(gamma=150.0, max_position=3.0))  # the grid Q changes
    assert strategy.cache.solves == 4


def test_cache_key_tolerance():
    key = HjbKey(1e-4, 100.0, 3000.0, 1.0, 20, 300.0)
    assert key.close_to(HjbKey(1.01e-4, 101.0, 2990.0, 1.01, 20, 300.0), 0.02)
    assert not key.close_to(HjbKey(1e-4, 100.0, 3000.0, 1.0, 21, 300.0), 0.02)
    assert not key.close_to(HjbKey(1e-4, 100.0, 3000.0, 1.05, 20, 300.0), 0.02)
    cache = HjbCache(tolerance=0.0)
    cache.table(key)
    cache.table(key)
    assert cache.solves == 1


def test_periodic_horizon_buckets_time():
    ns = 1_000_000_000
    assert time_to_horizon(123 * ns, 300.0, "rolling", 1.0) == 300.0
    assert time_to_horizon(0, 300.0, "periodic", 1.0) == 300.0
    assert time_to_horizon(100 * ns + ns // 2, 300.0, "periodic", 1.0) == 200.0
    assert time_to_horizon(299 * ns + 999, 300.0, "periodic", 1.0) == 1.0
    strategy = Hjb(Hjb.Config(horizon_mode="periodic", horizon_secs=60.0, time_bucket_secs=5.0))
    strategy.quote(make_ctx(ts_ns=1 * ns))
    strategy.quote(make_ctx(ts_ns=4 * ns))
    assert strategy.cache.solves == 1
    strategy.quote(make_ctx(ts_ns=6 * ns))
    assert strategy.cache.solves == 2


def test_periodic_skew_shrinks_towards_the_period_end():
    ns = 1_000_000_000
    strategy = Hjb(Hjb.Config(horizon_mode="periodic", horizon_secs=600.0, time_bucket_secs=1.0))
    early = strategy.plan(make_ctx(position=1.0, ts_ns=10 * ns))
    late = strategy.plan(make_ctx(position=1.0, ts_ns=599 * ns))
    assert 0 < late.skew_bps < early.skew_bps
