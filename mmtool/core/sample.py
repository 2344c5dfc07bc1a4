"""A bounded uniform sample of a stream of any length, for session statistics in fixed memory."""

from __future__ import annotations

import random
from collections.abc import MutableSequence


class Reservoir:
    """Every value while at most ``size`` have come, then a uniform sample of ``size`` of all of them.

    Vitter's algorithm R: the n-th value (counting from 1) replaces a kept one, chosen at random, with
    probability ``size / n``, so every value of the stream is kept with the same probability however long it
    runs. Percentiles of the sample are then those of the whole stream up to sampling error (about 0.1 % of the
    ranks for the 200,000 values a session keeps), where keeping the first ``size`` values would describe only
    the start of a long session. The generator is seeded: the same stream gives the same sample.
    """

    def __init__(self, size: int, values: MutableSequence[int] | None = None, seed: int = 0) -> None:
        if size < 0:
            raise ValueError(f"size must be >= 0 (got {size})")
        self.size = size
        #: The sample (given, so that a result object can hold the same sequence: a list, or a compact
        #: ``array("q")`` of 8 bytes a value where a list of ints takes about 36).
        self.values: MutableSequence[int] = values if values is not None else []
        #: How many values have come, kept or not.
        self.seen = len(self.values)
        self._random = random.Random(seed)

    def add(self, value: int) -> None:
        """Offer one value of the stream."""
        self.seen += 1
        if len(self.values) < self.size:
            self.values.append(value)
            return
        slot = self._random.randrange(self.seen)
        if slot < self.size:
            self.values[slot] = value
