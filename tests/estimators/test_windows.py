"""The decayed histogram against its definition: counts(t) = sum of weight * exp(-(t - t_i) / tau) per bin."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmtool.plugins.estimators._common import NS_PER_S
from mmtool.plugins.estimators._windows import DecayedHistogram

TAU = 2.0


def direct(adds: list[tuple[int, int, float]], bins: int, at_ns: int) -> np.ndarray:
    out = np.zeros(bins)
    for ts, index, weight in adds:
        out[min(max(index, 0), bins - 1)] += weight * math.exp(-(at_ns - ts) / NS_PER_S / TAU)
    return out


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 5_000), st.integers(-2, 7), st.floats(0.01, 10.0)), min_size=1, max_size=40
    )
)
def test_counts_equal_the_decayed_sum(steps: list[tuple[int, int, float]]) -> None:
    hist = DecayedHistogram(5, TAU)
    ts, adds = 0, []
    for gap_ms, index, weight in steps:
        ts += gap_ms * 1_000_000
        hist.add(ts, index, weight)
        adds.append((ts, index, weight))
    at = ts + 1_500_000_000
    assert hist.counts(at) == pytest.approx(direct(adds, 5, at), rel=1e-9, abs=1e-300)
    assert hist.bins == 5


def test_add_many_is_add_in_order() -> None:
    one, many = DecayedHistogram(4, TAU), DecayedHistogram(4, TAU)
    for step, indices in enumerate(([0, 3, 3], [1], [], [9, -1, 2])):
        ts = step * 700_000_000
        for i in indices:
            one.add(ts, i, 0.25)
        many.add_many(ts, indices, 0.25)
    assert many.counts(3 * NS_PER_S).tolist() == one.counts(3 * NS_PER_S).tolist()


def test_weights_are_rescaled_before_they_overflow_and_stay_exact() -> None:
    """Ages beyond 600 tau rescale the stored weights; the decayed counts are unchanged by it."""
    hist = DecayedHistogram(2, TAU)
    adds = []
    for k in range(40):
        ts = k * 100 * NS_PER_S  # 50 tau apart: 2,000 s in all, several rescales
        hist.add(ts, k % 2, 1.0)
        adds.append((ts, k % 2, 1.0))
    at = adds[-1][0] + NS_PER_S
    assert hist.counts(at) == pytest.approx(direct(adds, 2, at), rel=1e-9)
    assert all(math.isfinite(c) for c in hist.counts(at))


def test_empty_histogram_reads_zero() -> None:
    assert DecayedHistogram(3, TAU).counts(NS_PER_S).tolist() == [0.0, 0.0, 0.0]
