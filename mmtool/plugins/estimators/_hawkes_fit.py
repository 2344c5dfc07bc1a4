"""Maximum likelihood of a Hawkes process with exponential kernel, vectorised with a stable recursion.

Log-likelihood over ``[t_0, T]``::

    sum_i ln(mu + alpha * B_i) - mu (T - t_0) - (alpha / beta) * sum_i (1 - exp(-beta (T - t_i)))

with ``B_i = sum_{j<i} exp(-beta (t_i - t_j))``, the recursion ``B_i = exp(-beta dt_i) (1 + B_{i-1})``.
The fit uses the analytic gradient (``dB_i/dbeta`` by the same trick on ``t_j exp(beta t_j)``).
The recursion is evaluated in one vectorised pass as ``ln B_i = logaddexp.accumulate(beta t)_{i-1} - beta t_i``,
exact and free of overflow (a log-sum-exp never exceeds its largest term by more than ``ln n``).
"""

from __future__ import annotations

import math

import attrs
import numpy as np
from scipy.optimize import minimize


@attrs.frozen
class HawkesParams:
    """Baseline rate ``mu`` (1/s), jump ``alpha`` (1/s) and decay ``beta`` (1/s) of an exponential kernel."""

    mu: float
    alpha: float
    beta: float

    @property
    def branching(self) -> float:
        """Expected children per event, ``alpha / beta`` (stationary when < 1)."""
        return self.alpha / self.beta


def excitation(times: np.ndarray, beta: float) -> np.ndarray:
    """``B_i = sum_{j<i} exp(-beta (t_i - t_j))`` for sorted ``times`` (seconds), vectorised and stable."""
    bt = beta * (times - times[0])
    out = np.zeros_like(bt)
    if bt.shape[0] > 1:
        out[1:] = np.exp(np.logaddexp.accumulate(bt)[:-1] - bt[1:])
    return out


def log_likelihood(times: np.ndarray, params: HawkesParams) -> float:
    """Log-likelihood of sorted event ``times`` (seconds) over ``[times[0], times[-1]]``."""
    mu, alpha, beta = params.mu, params.alpha, params.beta
    b = excitation(times, beta)
    horizon = times[-1] - times[0]
    tail = -np.expm1(-beta * (times[-1] - times)).sum()
    return float(np.log(mu + alpha * b).sum() - mu * horizon - alpha / beta * tail)


def _objective(x: np.ndarray, rel: np.ndarray, log_t: np.ndarray) -> tuple[float, np.ndarray]:
    """Negative mean log-likelihood and its gradient in ``(ln mu, ln beta, branching)``."""
    mu, beta, branching = math.exp(x[0]), math.exp(x[1]), float(x[2])
    alpha = branching * beta
    n = rel.shape[0]
    bt = beta * rel
    acc = np.logaddexp.accumulate(bt)
    acc_t = np.logaddexp.accumulate(log_t + bt)
    b = np.zeros(n)
    d = np.zeros(n)
    b[1:] = np.exp(acc[:-1] - bt[1:])
    d[1:] = np.exp(acc_t[:-1] - bt[1:])
    db = -(rel * b - d)  # dB_i / dbeta = -sum_{j<i} (t_i - t_j) exp(-beta (t_i - t_j))
    lam = mu + alpha * b
    if not np.all(lam > 0):
        return 1e10, np.zeros(3)
    horizon = rel[-1]
    tau = horizon - rel
    decay = np.exp(-beta * tau)
    tail = (1.0 - decay).sum()
    ll = float(np.log(lam).sum() - mu * horizon - alpha / beta * tail)
    inv = 1.0 / lam
    d_mu = float(inv.sum() - horizon)
    d_alpha = float((b * inv).sum() - tail / beta)
    d_beta = float(alpha * (db * inv).sum() + alpha / beta**2 * tail - alpha / beta * (tau * decay).sum())
    grad = np.array([mu * d_mu, beta * (d_beta + branching * d_alpha), beta * d_alpha])
    return -ll / n, -grad / n


def fit(
    times: np.ndarray,
    start: HawkesParams,
    beta_bounds: tuple[float, float],
    max_branching: float = 0.99,
) -> HawkesParams | None:
    """MLE of (mu, alpha, beta) from sorted event ``times`` by L-BFGS-B with the analytic gradient.

    Searches ``(ln mu, ln beta, branching)`` so every parameter stays positive and the process stationary.
    Returns None when there are too few events or the optimiser ends off the finite reals.
    """
    if times.shape[0] < 3 or times[-1] <= times[0]:
        return None
    rel = times - times[0]
    with np.errstate(divide="ignore"):
        log_t = np.log(rel)  # -inf for the first event: it adds nothing to the sums
    lo, hi = beta_bounds
    x0 = np.array(
        [
            math.log(max(start.mu, 1e-9)),
            math.log(min(max(start.beta, lo), hi)),
            min(max(start.branching, 0.0), max_branching),
        ]
    )
    bounds = [(math.log(1e-9), math.log(1e6)), (math.log(lo), math.log(hi)), (0.0, max_branching)]
    result = minimize(_objective, x0, args=(rel, log_t), jac=True, method="L-BFGS-B", bounds=bounds)
    if not np.all(np.isfinite(result.x)):
        return None
    mu, beta, branching = math.exp(result.x[0]), math.exp(result.x[1]), float(result.x[2])
    return HawkesParams(mu, branching * beta, beta)
