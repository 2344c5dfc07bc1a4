"""Deterministic client order ids in Hyperliquid's format: ``0x`` followed by 32 lowercase hex digits.

An id is 16 bytes: 8 bytes taken from the seed (the seed modulo ``2**64``, big-endian) and an 8-byte
big-endian counter. The same seed gives the same ids in the same order, which is what lets a recorded session
be replayed decision for decision; different seeds (e.g. one per run) never share an id.
"""

from __future__ import annotations

import re

_CLOID_RE = re.compile(r"0x[0-9a-f]{32}")
_U64 = 1 << 64


def is_valid_cloid(s: object) -> bool:
    """True when ``s`` is a client order id the exchange accepts: ``0x`` and 32 lowercase hex digits."""
    return isinstance(s, str) and _CLOID_RE.fullmatch(s) is not None


class CloidGenerator:
    """Issues client order ids that never repeat within a run and are reproducible from the seed."""

    def __init__(self, prefix_seed: int = 0) -> None:
        self._prefix = f"0x{prefix_seed % _U64:016x}"
        self._counter = 0

    @property
    def issued(self) -> int:
        """How many ids were issued so far."""
        return self._counter

    def next(self) -> str:
        """The next unused client order id."""
        if self._counter >= _U64:
            raise OverflowError("client order id counter exhausted (2**64 ids issued)")
        cloid = f"{self._prefix}{self._counter:016x}"
        self._counter += 1
        return cloid
