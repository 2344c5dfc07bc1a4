"""The log limiter: one record per key per interval of event time, each saying how many it stands for."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmtool.core.loglimit import LogLimiter, held_note

S = 1_000_000_000


def test_first_is_logged_then_held_until_the_interval_passes() -> None:
    limit = LogLimiter(10 * S)
    assert limit.allow("a", 0) == 0
    assert limit.allow("a", 1 * S) is None
    assert limit.allow("b", 2 * S) == 0, "keys are independent"
    assert limit.allow("a", 9 * S) is None and limit.held("a") == 2
    assert limit.allow("a", 10 * S) == 2 and limit.held("a") == 0
    assert limit.allow("a", 15 * S) is None
    assert limit.allow("a", 25 * S) == 1
    assert held_note(0) == "" and held_note(3) == " (+3 more like it since the last)"
    with pytest.raises(ValueError, match="interval_ns"):
        LogLimiter(-1)


@given(st.lists(st.tuples(st.sampled_from("xyz"), st.integers(0, 5 * S)), max_size=60), st.integers(0, 3 * S))
def test_every_occurrence_is_logged_or_counted_by_the_next_record(occurrences, interval) -> None:
    limit = LogLimiter(interval)
    logged: dict[str, list[int]] = {}
    counted = {key: 0 for key in "xyz"}
    for key, ts in sorted(occurrences, key=lambda o: o[1]):
        held = limit.allow(key, ts)
        if held is None:
            continue
        if logged.get(key):
            assert ts - logged[key][-1] >= interval, "never two records of a key within the interval"
        logged.setdefault(key, []).append(ts)
        counted[key] += 1 + held
    for key in "xyz":
        total = sum(1 for k, _ in occurrences if k == key)
        assert counted[key] + limit.held(key) == total, "nothing lost: logged, counted in a record, or pending"
