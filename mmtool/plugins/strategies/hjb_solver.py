"""Exact finite-horizon GLFT quotes from the linear ODE system, by matrix exponential, with a result cache.

With ``α = κγσ²/2`` and ``η = A(1 + γ/κ)^−(1 + κ/γ)``, ``M`` is the tridiagonal matrix over the inventory grid
``q = −Q..Q`` with ``α q²`` on the diagonal and ``−η`` beside it, and ``v(τ) = exp(−Mτ)·1`` for a time to
horizon ``τ``. The inventory part of the depths is then ``(1/κ)ln(v_q/v_{q+1})`` for the bid (``q < Q``) and
``(1/κ)ln(v_q/v_{q−1})`` for the ask (``q > −Q``).

Overflow: ``exp(−Mτ)`` grows like ``exp(−λ_min τ)`` (``λ_min`` the smallest eigenvalue of ``M``, as low as
``−2η``). Only ratios of ``v`` matter, so we exponentiate ``−(M − λ_min I)τ``, whose eigenvalues are ``≤ 0``:
the dominant mode stays of order one and nothing overflows. Entries that still underflow (extreme
inventories with extreme parameters, where ``v`` falls below ~1e-290 of the dominant mode) carry no usable
ratio; there the inventory term is taken from the asymptotic closed form ``((2q ± 1)/2)·ω``, the limit the
exact solution converges to away from the horizon, instead of a meaningless zero.
"""

from __future__ import annotations

import math

import attrs
import numpy as np
from scipy.linalg import eigvalsh_tridiagonal, expm

from mmtool.plugins.strategies.glft_math import alpha, eta, omega

_TINY = np.finfo(float).tiny
#: ``ln v`` below this (relative to the dominant mode) is too close to underflow to give a ratio.
_LOG_RELIABLE = math.log(1e-290)


@attrs.frozen
class HjbTable:
    """Inventory terms of the exact depths (fractions of fair) over the grid ``q = −Q..Q``.

    ``bid_terms[i]`` belongs to ``q = −Q + i`` for ``q = −Q..Q−1`` (no bid at ``q = Q``); ``ask_terms[i]`` to
    ``q = −Q + 1 + i`` for ``q = −Q+1..Q`` (no ask at ``q = −Q``).
    """

    q_max: int
    bid_terms: np.ndarray = attrs.field(eq=False)
    ask_terms: np.ndarray = attrs.field(eq=False)

    def bid_term(self, q: float) -> float:
        """The bid's inventory term at inventory ``q`` lots, interpolated; flat beyond the grid."""
        grid = np.arange(-self.q_max, self.q_max, dtype=float)
        return float(np.interp(q, grid, self.bid_terms))

    def ask_term(self, q: float) -> float:
        """The ask's inventory term at inventory ``q`` lots, interpolated; flat beyond the grid."""
        grid = np.arange(-self.q_max + 1, self.q_max + 1, dtype=float)
        return float(np.interp(q, grid, self.ask_terms))


def log_v(alpha_: float, eta_: float, q_max: int, tau: float) -> np.ndarray:
    """``ln v_q`` up to an additive constant, for ``q = −Q..Q`` (index ``q + Q``), at time to horizon ``tau``."""
    q = np.arange(-q_max, q_max + 1, dtype=float)
    diag = alpha_ * q * q
    off = np.full(2 * q_max, -eta_)
    lam_min = float(eigvalsh_tridiagonal(diag, off, select="i", select_range=(0, 0))[0])
    m = np.diag(diag - lam_min) + np.diag(off, 1) + np.diag(off, -1)
    v = expm(-m * tau) @ np.ones(2 * q_max + 1)
    return np.log(np.maximum(v, _TINY)) - math.log(max(float(v.max()), _TINY))


def solve(sigma: float, gamma: float, kappa: float, arrival_a: float, q_max: int, tau: float) -> HjbTable:
    """The exact inventory terms for the given model inputs, grid half-width ``q_max`` lots and ``tau`` seconds."""
    lv = log_v(alpha(sigma, gamma, kappa), eta(gamma, kappa, arrival_a), q_max, tau)
    # index i is q = -Q + i: bid uses v_q / v_{q+1}, ask uses v_q / v_{q-1}
    bid = (lv[:-1] - lv[1:]) / kappa
    ask = (lv[1:] - lv[:-1]) / kappa
    reliable = lv > _LOG_RELIABLE
    pair_ok = reliable[:-1] & reliable[1:]
    if not pair_ok.all():
        w = omega(sigma, gamma, kappa, arrival_a)
        q_bid = np.arange(-q_max, q_max, dtype=float)
        q_ask = q_bid + 1.0
        bid = np.where(pair_ok, bid, (2.0 * q_bid + 1.0) / 2.0 * w)
        ask = np.where(pair_ok, ask, -(2.0 * q_ask - 1.0) / 2.0 * w)
    return HjbTable(q_max=q_max, bid_terms=bid, ask_terms=ask)


@attrs.frozen
class HjbKey:
    """The inputs a table was solved for."""

    sigma: float
    gamma: float
    kappa: float
    arrival_a: float
    q_max: int
    tau: float

    def close_to(self, other: HjbKey, tolerance: float) -> bool:
        """True when the grid and horizon are equal and σ, γ, κ, A each within ``tolerance`` (relative)."""
        if self.q_max != other.q_max or self.tau != other.tau:
            return False
        pairs = (
            (self.sigma, other.sigma),
            (self.gamma, other.gamma),
            (self.kappa, other.kappa),
            (self.arrival_a, other.arrival_a),
        )
        return all(math.isclose(a, b, rel_tol=tolerance, abs_tol=0.0) or a == b for a, b in pairs)


@attrs.define
class HjbCache:
    """One solved table, reused until an input moves beyond the relative tolerance; counts the solves."""

    tolerance: float = 0.02
    solves: int = 0
    _key: HjbKey | None = None
    _table: HjbTable | None = None

    def table(self, key: HjbKey) -> HjbTable:
        """The table for ``key``: the cached one when its inputs are close enough, else a fresh solve."""
        if self._table is not None and self._key is not None and self._key.close_to(key, self.tolerance):
            return self._table
        self._table = solve(key.sigma, key.gamma, key.kappa, key.arrival_a, key.q_max, key.tau)
        self._key = key
        self.solves += 1
        return self._table
