"""A volume clock: time measured in traded volume, so returns are sampled per volume bucket, not per second.

Markets trade in bursts; sampling a return every fixed traded volume de-seasonalises them (busy minutes give
more samples, quiet ones fewer). The bucket volume is fixed by config or, by default, sized from the decayed
volume rate so that a bucket lasts about ``target_bucket_secs``. A bucket also closes after
``max_bucket_secs`` without enough volume so the estimate keeps moving in a quiet market.
"""

from __future__ import annotations

import attrs

from mmtool.plugins.estimators._common import NS_PER_S
from mmtool.plugins.estimators._windows import DecayedRate


@attrs.frozen
class Bucket:
    """A closed volume bucket: when it closed, how long it lasted, the price then and the volume traded."""

    end_ns: int
    elapsed_secs: float
    price: float
    volume: float


class VolumeClock:
    """Closes a bucket each ``bucket_volume`` traded (auto-sized when None) or after ``max_bucket_secs``."""

    def __init__(
        self,
        bucket_volume: float | None,
        target_bucket_secs: float,
        max_bucket_secs: float,
        tau_secs: float,
    ) -> None:
        self.fixed_volume = bucket_volume
        self.target_secs = target_bucket_secs
        self.max_secs = max_bucket_secs
        self.buckets = 0
        self._rate = DecayedRate(tau_secs)
        self._open_ns: int | None = None
        self._filled = 0.0
        self._threshold = bucket_volume

    @property
    def bucket_volume(self) -> float | None:
        """The volume that closes the current bucket (None while the auto size is still unknown)."""
        return self._threshold

    def on_trade(self, ts_ns: int, size: float, price: float) -> Bucket | None:
        """Count a trade; return the bucket it closes, if any (a trade bigger than a bucket closes one)."""
        self._rate.add(ts_ns, size)
        if self._open_ns is None:
            self._open_ns = ts_ns
            return None
        self._filled += size
        if self._threshold is not None and self._filled >= self._threshold:
            return self._close(ts_ns, price)
        return self.on_time(ts_ns, price)

    def on_time(self, ts_ns: int, price: float) -> Bucket | None:
        """Close the bucket by time when it is overdue (or, before any size is known, at the target length)."""
        if self._open_ns is None:
            self._open_ns = ts_ns
            return None
        elapsed = (ts_ns - self._open_ns) / NS_PER_S
        limit = self.max_secs if self._threshold is not None else self.target_secs
        return self._close(ts_ns, price) if elapsed >= limit else None

    def _close(self, ts_ns: int, price: float) -> Bucket | None:
        assert self._open_ns is not None
        elapsed = (ts_ns - self._open_ns) / NS_PER_S
        if elapsed <= 0:
            # Same-timestamp trades belong to one bucket: a return over zero time has no variance rate.
            return None
        bucket = Bucket(ts_ns, elapsed, price, self._filled)
        self.buckets += 1
        self._open_ns, self._filled = ts_ns, 0.0
        if self.fixed_volume is None:
            rate = self._rate.rate(ts_ns)
            self._threshold = rate * self.target_secs if rate > 0 else None
        return bucket
