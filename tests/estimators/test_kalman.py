"""Kalman: Q and R recovered from a simulated local-level model; the filtered mid beats the raw mid."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mmtool.plugins.estimators.kalman import Kalman

from .sim import Feed, ctx, mid

Q, R = 4e-8, 2e-8  # (log-return)^2 per observation


@pytest.mark.parametrize("seed", [31, 32])
def test_q_and_r_within_15pct_and_filter_reduces_error(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 20_000
    x = math.log(3000.0) + np.cumsum(rng.normal(0.0, math.sqrt(Q), n))
    y = x + rng.normal(0.0, math.sqrt(R), n)
    est = Kalman.from_config(Kalman.Config(window_secs=1e6), ctx())
    feed = Feed(est)
    filtered = np.empty(n)
    for i in range(n):
        feed(mid(i * 0.1, math.exp(y[i])))
        filtered[i] = math.log(est.values()["kalman_mid"])
    v = est.values()
    assert est.warmed_up
    assert v["kalman_q"] == pytest.approx(Q, rel=0.15)
    assert v["kalman_r"] == pytest.approx(R, rel=0.15)
    tail = slice(n // 2, None)
    raw_err = np.sqrt(np.mean((y[tail] - x[tail]) ** 2))
    filt_err = np.sqrt(np.mean((filtered[tail] - x[tail]) ** 2))
    assert filt_err < 0.9 * raw_err


def test_pure_random_walk_gives_no_observation_noise() -> None:
    rng = np.random.default_rng(33)
    est = Kalman.from_config(Kalman.Config(window_secs=1e6), ctx())
    feed = Feed(est)
    p = math.log(3000.0)
    for i in range(5000):
        p += rng.normal(0.0, 1e-4)
        feed(mid(i * 0.1, math.exp(p)))
    v = est.values()
    assert v["kalman_r"] < 0.1 * v["kalman_q"]
    assert v["kalman_mid"] == pytest.approx(math.exp(p), rel=1e-4)
