"""The GLFT closed forms against hand-computed numbers and their limits."""

from __future__ import annotations

import math

import pytest

from mmtool.plugins.strategies.glft_math import alpha, asymptotic_quote, base_half_spread, eta, omega

# Hand-computed at σ = 1e-4/√s, γ = 100 per fraction·lot, κ = 3000 /fraction, A = 1 fill/s:
#   base = ln(31/30)/100 = 3.278982e-4;  (1 + γ/κ)^(1 + κ/γ) = (31/30)^31 = 2.763463
#   ω = sqrt(1e-8·100/6000·2.763463) = 2.146106e-5;  η = 1/2.763463 = 0.3618648;  α = 3000·100·1e-8/2 = 1.5e-3
BASE = 3.278982e-4
OMEGA = 2.146106e-5


def test_base_half_spread_matches_hand_computation():
    assert base_half_spread(100.0, 3000.0) == pytest.approx(BASE, rel=1e-6)


def test_omega_matches_hand_computation():
    assert omega(1e-4, 100.0, 3000.0, 1.0) == pytest.approx(OMEGA, rel=1e-6)


def test_eta_and_alpha_match_hand_computation():
    assert eta(100.0, 3000.0, 1.0) == pytest.approx(0.3618648, rel=1e-6)
    assert alpha(1e-4, 100.0, 3000.0) == pytest.approx(1.5e-3, rel=1e-12)


def test_asymptotic_depths_follow_the_paper():
    q = 3.0
    quote = asymptotic_quote(q, 1e-4, 100.0, 3000.0, 1.0)
    assert quote.bid_depth == pytest.approx(BASE + (2 * q + 1) / 2 * OMEGA, rel=1e-6)
    assert quote.ask_depth == pytest.approx(BASE - (2 * q - 1) / 2 * OMEGA, rel=1e-6)
    assert quote.half_spread == pytest.approx(BASE + OMEGA / 2, rel=1e-6)
    assert quote.skew == pytest.approx(q * OMEGA, rel=1e-6)


@pytest.mark.parametrize("gamma", [1e-3, 1e-6, 1e-9])
def test_gamma_to_zero_gives_one_over_kappa(gamma):
    assert base_half_spread(gamma, 3000.0) == pytest.approx(1 / 3000.0, rel=1e-6)
    assert omega(1e-4, gamma, 3000.0, 1.0) < 1e-7
    assert base_half_spread(0.0, 3000.0) == 1 / 3000.0
    assert omega(1e-4, 0.0, 3000.0, 1.0) == 0.0


def test_growth_factor_tends_to_e_for_small_gamma():
    # (1 + γ/κ)^(1 + κ/γ) → e, so η → A/e
    assert eta(1e-6, 3000.0, 2.0) == pytest.approx(2.0 / math.e, rel=1e-6)


def test_larger_kappa_shrinks_the_spread():
    halves = [asymptotic_quote(0.0, 1e-4, 100.0, k, 1.0).half_spread for k in (300.0, 3000.0, 3e4, 3e5, 3e6)]
    assert all(a > b for a, b in zip(halves, halves[1:], strict=False))
    assert halves[-1] < 1e-5


def test_skew_sign_follows_inventory():
    assert asymptotic_quote(2.0, 1e-4, 100.0, 3000.0, 1.0).skew > 0
    assert asymptotic_quote(-2.0, 1e-4, 100.0, 3000.0, 1.0).skew < 0
    assert asymptotic_quote(0.0, 1e-4, 100.0, 3000.0, 1.0).skew == 0


def test_higher_gamma_skews_harder():
    assert omega(1e-4, 200.0, 3000.0, 1.0) > omega(1e-4, 100.0, 3000.0, 1.0)
