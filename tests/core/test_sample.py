"""The bounded uniform sample the runner keeps latencies in."""

from __future__ import annotations

import statistics

import pytest

from mmtool.core.sample import Reservoir


def test_every_value_is_kept_in_order_up_to_the_size() -> None:
    kept: list[int] = []
    sample = Reservoir(5, kept)
    for value in (7, 3, 9):
        sample.add(value)
    assert kept == [7, 3, 9] and sample.values is kept and sample.seen == 3


def test_a_long_stream_is_sampled_uniformly_over_its_whole_length() -> None:
    sample = Reservoir(1000)
    n = 100_000
    for value in range(n):
        sample.add(value)
    kept = sample.values
    assert len(kept) == 1000 and sample.seen == n and len(set(kept)) == 1000
    assert all(0 <= v < n for v in kept)
    # Keeping the first 1,000 would give a mean of 499.5 and nothing from the end of the stream.
    assert abs(statistics.mean(kept) - n / 2) < 3_000, "mean of a uniform sample: sd about 913"
    late = sum(v >= 0.9 * n for v in kept)
    assert 50 <= late <= 150, "about a tenth of the sample comes from the last tenth of the stream"


def test_the_same_stream_gives_the_same_sample() -> None:
    def run(seed: int) -> list[int]:
        sample = Reservoir(10, seed=seed)
        for value in range(1_000):
            sample.add(value)
        return sample.values

    assert run(0) == run(0) and run(0) != run(1)


def test_size_zero_keeps_nothing_and_a_negative_size_is_refused() -> None:
    sample = Reservoir(0)
    sample.add(1)
    assert sample.values == [] and sample.seen == 1
    with pytest.raises(ValueError, match="size"):
        Reservoir(-1)


def test_a_compact_array_holds_the_sample_as_a_list_would() -> None:
    from array import array

    kept = array("q")
    sample = Reservoir(4, kept)
    for value in range(100):
        sample.add(value * 1_000_000_000)
    assert sample.values is kept and len(kept) == 4 and kept.itemsize == 8
    assert all(0 <= v < 100 * 1_000_000_000 for v in kept)
