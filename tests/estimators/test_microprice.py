"""Micro-price: betas recovered from a process built with known betas; the adjustment is clamped."""

from __future__ import annotations

import numpy as np
import pytest

from mmtool.core.types import Side
from mmtool.plugins.estimators.microprice import Microprice, RecursiveLeastSquares

from .sim import Feed, book, ctx, trade

BETA_BOOK, BETA_FLOW = 2e-4, 1e-4


def simulate(seed: int, steps: int = 3000, **config: float) -> Microprice:
    """Each second: a new book (random sizes) and flow; the next mid moves by beta . imbalances + noise."""
    rng = np.random.default_rng(seed)
    cfg = {"horizon_secs": 1.0, "sample_secs": 1.0, "flow_secs": 0.2, "window_secs": 10_000.0, **config}
    est = Microprice.from_config(Microprice.Config(**cfg), ctx())
    feed = Feed(est)
    m = 3000.0
    for k in range(steps):
        bid_size, ask_size = rng.uniform(0.1, 10.0, 2)
        feed(book(float(k), m - 0.05, m + 0.05, bid_size, ask_size))
        v = est.values()
        x_book, x_flow = v["book_imbalance"], v["flow_imbalance"]
        for _ in range(int(rng.integers(1, 5))):
            feed(trade(k + 0.5, m, float(rng.uniform(0.1, 2.0)), Side.BUY if rng.uniform() < 0.5 else Side.SELL))
        m *= 1.0 + BETA_BOOK * x_book + BETA_FLOW * x_flow + rng.normal(0.0, 1e-4)
    return est


def test_betas_recovered_within_15pct() -> None:
    est = simulate(21)
    v = est.values()
    assert est.warmed_up
    assert v["beta_book"] == pytest.approx(BETA_BOOK, rel=0.15)
    assert v["beta_flow"] == pytest.approx(BETA_FLOW, rel=0.15)
    raw = v["beta_book"] * v["book_imbalance"] + v["beta_flow"] * v["flow_imbalance"]
    assert v["microprice"] / est.mid - 1 == pytest.approx(raw, rel=1e-9, abs=1e-15)


def test_adjustment_is_clamped_and_zero_before_warm_up() -> None:
    est = simulate(22, steps=400, max_adjust_bps=0.5)
    cold = simulate(22, steps=50)
    assert not cold.warmed_up
    assert cold.values()["microprice"] == cold.mid
    feed = Feed(est)
    feed(book(400.0, 2999.0, 3001.0, 100.0, 0.1))  # extreme bid imbalance
    v = est.values()
    assert v["microprice"] / 3000.0 - 1 == pytest.approx(0.5e-4, rel=1e-9)


def test_recursive_least_squares_equals_the_closed_form() -> None:
    """After n updates, theta minimises sum lam^(n-i) (y_i - theta.x_i)^2 + lam^n theta' P0^-1 theta (the prior)."""
    rng = np.random.default_rng(3)
    lam, prior = 0.97, 1e4
    rls = RecursiveLeastSquares(lam, prior)
    x = rng.uniform(-1, 1, size=(200, 2))
    y = x @ np.array([0.7, -0.3]) + rng.normal(0, 0.05, 200)
    for (x0, x1), target in zip(x, y, strict=True):
        rls.update(float(x0), float(x1), float(target))
    n = len(y)
    w = lam ** (n - 1 - np.arange(n))
    a = (x * w[:, None]).T @ x + lam**n * np.eye(2) / prior
    b = (x * w[:, None]).T @ y
    assert rls.theta == pytest.approx(tuple(np.linalg.solve(a, b)), rel=1e-9, abs=1e-12)
    p00, p01, p11 = rls.p
    assert np.allclose(np.array([[p00, p01], [p01, p11]]), np.linalg.inv(a), rtol=1e-9)
    assert rls.updates == n
