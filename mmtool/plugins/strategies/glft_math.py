"""Closed forms of the Guéant-Lehalle-Fernandez-Tapia (GLFT) market-making model, in relative units.

Units (see ``docs/strategies.md``): depths ``δ`` are fractions of the fair price, ``κ`` is in 1/fraction,
``σ`` is return volatility per √second, ``A`` is fills per second at zero depth, the inventory ``q`` is in
lots and ``γ`` is in 1/(fraction·lot), so ``γ/κ``, ``κδ`` and ``γσ²/κ`` per lot are dimensionless.
"""

from __future__ import annotations

import math

import attrs


def base_half_spread(gamma: float, kappa: float) -> float:
    """The inventory-free depth ``(1/γ)·ln(1 + γ/κ)``; its γ → 0 limit is ``1/κ``."""
    if gamma <= 0.0:
        return 1.0 / kappa
    return math.log1p(gamma / kappa) / gamma


def _growth(gamma: float, kappa: float) -> float:
    """``(1 + γ/κ)^(1 + κ/γ)``, computed through ``log1p`` (its γ → 0 limit is ``e``)."""
    if gamma <= 0.0:
        return math.e
    return math.exp((1.0 + kappa / gamma) * math.log1p(gamma / kappa))


def omega(sigma: float, gamma: float, kappa: float, arrival_a: float) -> float:
    """The asymptotic inventory coefficient ``ω = sqrt(σ²γ/(2κA)·(1 + γ/κ)^(1 + κ/γ))`` (fraction per lot)."""
    if gamma <= 0.0:
        return 0.0
    return math.sqrt(sigma * sigma * gamma / (2.0 * kappa * arrival_a) * _growth(gamma, kappa))


def alpha(sigma: float, gamma: float, kappa: float) -> float:
    """The HJB diagonal coefficient ``α = κγσ²/2`` (per second per lot²)."""
    return kappa * gamma * sigma * sigma / 2.0


def eta(gamma: float, kappa: float, arrival_a: float) -> float:
    """The HJB off-diagonal coefficient ``η = A·(1 + γ/κ)^−(1 + κ/γ)`` (per second)."""
    return arrival_a / _growth(gamma, kappa)


@attrs.frozen
class GlftQuote:
    """A model quote before premia: the half-spread and the skew, both as fractions of the fair price.

    The bid sits ``half_spread + skew`` below fair and the ask ``half_spread − skew`` above it, so a positive
    skew (long inventory) lowers both quotes.
    """

    half_spread: float
    skew: float

    @property
    def bid_depth(self) -> float:
        """Distance of the bid below fair, as a fraction."""
        return self.half_spread + self.skew

    @property
    def ask_depth(self) -> float:
        """Distance of the ask above fair, as a fraction."""
        return self.half_spread - self.skew


def asymptotic_quote(q: float, sigma: float, gamma: float, kappa: float, arrival_a: float) -> GlftQuote:
    """The GLFT asymptotic (far from the horizon) quote for inventory ``q`` lots.

    ``δ_b = base + (2q + 1)/2·ω`` and ``δ_a = base − (2q − 1)/2·ω``: half-spread ``base + ω/2``, skew ``q·ω``.
    """
    w = omega(sigma, gamma, kappa, arrival_a)
    return GlftQuote(half_spread=base_half_spread(gamma, kappa) + w / 2.0, skew=q * w)
