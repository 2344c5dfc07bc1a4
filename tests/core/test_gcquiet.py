"""quiet_gc freezes the start-up objects only while its block runs, and cycles are still collected."""

from __future__ import annotations

import gc

import pytest

from mmtool.core.gcquiet import quiet_gc


def test_objects_are_frozen_inside_and_released_after() -> None:
    threshold = gc.get_threshold()
    with quiet_gc():
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == threshold
    assert gc.get_freeze_count() == 0


def test_cycles_made_while_quiet_are_still_collected() -> None:
    class Node:
        """One end of a reference cycle."""

    with quiet_gc():
        a, b = Node(), Node()
        a.other, b.other = b, a
        del a, b
        assert gc.collect() >= 2


def test_objects_are_released_when_the_block_raises() -> None:
    with pytest.raises(RuntimeError, match="boom"), quiet_gc():
        raise RuntimeError("boom")
    assert gc.get_freeze_count() == 0
