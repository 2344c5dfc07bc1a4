"""Fixed-memory statistics over event time: exponentially decayed sums, rates and histograms, ring buffers.

Everything here is O(1) per update (the histogram is O(1) per add and O(bins) per read) and reads time only
from the timestamps it is given. Decay is ``exp(-dt / tau)``: an observation ``tau`` seconds old weighs 1/e.
"""

from __future__ import annotations

import math

import numpy as np

from mmtool.plugins.estimators._common import NS_PER_S

# Rescale the histogram's growing weights before they can overflow a double (e**600 ~ 1e260).
_RESCALE_AT = 600.0


class DecayedSum:
    """A sum whose terms decay exponentially with their age: ``sum_i x_i * exp(-(t - t_i) / tau)``."""

    __slots__ = ("tau", "_value", "_ts")

    def __init__(self, tau_secs: float) -> None:
        self.tau = float(tau_secs)
        self._value = 0.0
        self._ts: int | None = None

    def _decay_to(self, ts_ns: int) -> None:
        if self._ts is None:
            self._ts = ts_ns
            return
        dt = (ts_ns - self._ts) / NS_PER_S
        if dt > 0:
            self._value *= math.exp(-dt / self.tau)
            self._ts = ts_ns

    def add(self, ts_ns: int, x: float) -> None:
        """Decay to ``ts_ns`` then add ``x``."""
        self._decay_to(ts_ns)
        self._value += x

    def value(self, ts_ns: int | None = None) -> float:
        """The sum decayed to ``ts_ns`` (to the last update when None)."""
        if ts_ns is not None and self._ts is not None and ts_ns > self._ts:
            return self._value * math.exp(-(ts_ns - self._ts) / NS_PER_S / self.tau)
        return self._value


class DecayedRate:
    """Events (or volume) per second over a decayed window: decayed sum over decayed elapsed time."""

    __slots__ = ("total", "_start")

    def __init__(self, tau_secs: float) -> None:
        self.total = DecayedSum(tau_secs)
        self._start: int | None = None

    def add(self, ts_ns: int, x: float = 1.0) -> None:
        """Count ``x`` at ``ts_ns``."""
        if self._start is None:
            self._start = ts_ns
        self.total.add(ts_ns, x)

    def exposure(self, ts_ns: int) -> float:
        """Decayed elapsed seconds since the first observation: ``tau * (1 - exp(-elapsed / tau))``."""
        if self._start is None:
            return 0.0
        elapsed = max(ts_ns - self._start, 0) / NS_PER_S
        return self.total.tau * -math.expm1(-elapsed / self.total.tau)

    def rate(self, ts_ns: int) -> float:
        """Decayed count per decayed second (0 before any elapsed time)."""
        exposure = self.exposure(ts_ns)
        return self.total.value(ts_ns) / exposure if exposure > 0 else 0.0


class DecayedHistogram:
    """Counts per bin that decay exponentially with age; O(1) add (growing weights, rescaled rarely).

    The counts are a list of floats while they grow (an add is one list item, not a numpy scalar round trip)
    and become an array only when read.
    """

    __slots__ = ("tau", "_counts", "_ref_ns")

    def __init__(self, bins: int, tau_secs: float) -> None:
        self.tau = float(tau_secs)
        self._counts = [0.0] * bins
        self._ref_ns: int | None = None

    @property
    def bins(self) -> int:
        """Number of bins."""
        return len(self._counts)

    def _growth(self, ts_ns: int) -> float:
        """The weight of an observation at ``ts_ns`` relative to the reference time, rescaling when it gets large."""
        if self._ref_ns is None:
            self._ref_ns = ts_ns
        age = (ts_ns - self._ref_ns) / NS_PER_S / self.tau
        if age > _RESCALE_AT:
            shrink = math.exp(-age)
            self._counts = [c * shrink for c in self._counts]
            self._ref_ns, age = ts_ns, 0.0
        return math.exp(age)

    def add(self, ts_ns: int, index: int, weight: float = 1.0) -> None:
        """Add ``weight`` to bin ``index`` (clamped into range) at ``ts_ns``."""
        growth = self._growth(ts_ns)
        index = min(max(index, 0), len(self._counts) - 1)
        self._counts[index] += weight * growth

    def add_many(self, ts_ns: int, indices: list[int], weight: float = 1.0) -> None:
        """``add(ts_ns, i, weight)`` for each ``i`` in order, with the decay factor computed once."""
        if not indices:
            return
        increment = weight * self._growth(ts_ns)
        counts = self._counts
        last = len(counts) - 1
        for index in indices:
            counts[min(max(index, 0), last)] += increment

    def counts(self, ts_ns: int) -> np.ndarray:
        """The decayed counts at ``ts_ns`` (a new array)."""
        if self._ref_ns is None:
            return np.zeros(len(self._counts))
        return np.array(self._counts) * math.exp(-(ts_ns - self._ref_ns) / NS_PER_S / self.tau)


class FloatRing:
    """A fixed-capacity ring of floats; ``ordered()`` returns the kept values oldest first."""

    __slots__ = ("_data", "_n", "_head")

    def __init__(self, capacity: int) -> None:
        self._data = np.zeros(int(capacity))
        self._n = 0
        self._head = 0

    def __len__(self) -> int:
        return self._n

    def append(self, x: float) -> None:
        """Append ``x``, overwriting the oldest value when full."""
        cap = self._data.shape[0]
        self._data[self._head] = x
        self._head = (self._head + 1) % cap
        self._n = min(self._n + 1, cap)

    def ordered(self) -> np.ndarray:
        """The values oldest first (a new array)."""
        cap = self._data.shape[0]
        if self._n < cap:
            return self._data[: self._n].copy()
        return np.concatenate((self._data[self._head :], self._data[: self._head]))


class ExpKernel:
    """Self-exciting part of an exponential-kernel intensity: ``S(t) = sum_i alpha * exp(-beta (t - t_i))``.

    O(1) recursion: decay the running sum to the new time, then add ``alpha`` per event.
    """

    __slots__ = ("beta", "_value", "_ts")

    def __init__(self, beta: float) -> None:
        self.beta = float(beta)
        self._value = 0.0
        self._ts: int | None = None

    def at(self, ts_ns: int) -> float:
        """The sum decayed to ``ts_ns`` (per unit alpha)."""
        if self._ts is None:
            return 0.0
        dt = max(ts_ns - self._ts, 0) / NS_PER_S
        return self._value * math.exp(-self.beta * dt)

    def reset(self, value: float, ts_ns: int) -> None:
        """Set the running sum to ``value`` as of ``ts_ns`` (after a change of ``beta``)."""
        self._value, self._ts = value, ts_ns

    def hit(self, ts_ns: int) -> None:
        """Register an event at ``ts_ns``."""
        self._value = self.at(ts_ns) + 1.0
        self._ts = ts_ns if self._ts is None else max(self._ts, ts_ns)
