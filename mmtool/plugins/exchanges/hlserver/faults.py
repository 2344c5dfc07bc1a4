"""Fault injection: seeded decisions about which requests fail, which messages are delayed, doubled or swapped,
when connections drop and when the market-data feed stalls. Every injected fault is journalled (``kind: fault``).
"""

from __future__ import annotations

import numpy as np

from mmtool.plugins.exchanges.hlserver.config import FaultConfig
from mmtool.plugins.exchanges.hlserver.journal import Journal

HTTP_5XX = ((502, "Bad Gateway"), (503, "Service Unavailable"))


class FaultInjector:
    """Decides, from one seeded generator, every fault the server injects; times are seconds since start."""

    def __init__(self, config: FaultConfig, journal: Journal) -> None:
        self.config = config
        self.journal = journal
        self._rng = np.random.default_rng(config.seed)
        self._next_drop = config.ws_drop_every_secs if config.ws_drop_every_secs > 0 else None
        self._next_random_check = 1.0
        self._stalled: int | None = None

    def _draw(self) -> float:
        return float(self._rng.random())

    def http_fault(self, path: str, now_ms: int) -> tuple[int, str] | None:
        """An HTTP status and body to answer instead of serving the request, or None."""
        cfg = self.config
        if cfg.http_429_prob > 0 and self._draw() < cfg.http_429_prob:
            self.journal.write(now_ms, "fault", fault="http_429", path=path)
            return 429, "null"
        if cfg.http_5xx_prob > 0 and self._draw() < cfg.http_5xx_prob:
            status, text = HTTP_5XX[int(self._draw() * len(HTTP_5XX)) % len(HTTP_5XX)]
            self.journal.write(now_ms, "fault", fault="http_5xx", path=path, status=status)
            return status, text
        return None

    def ws_delay_s(self) -> float:
        """How long to hold the next outgoing WebSocket message."""
        cfg = self.config
        jitter = self._draw() * cfg.ws_delay_jitter_ms if cfg.ws_delay_jitter_ms > 0 else 0.0
        return (cfg.ws_delay_ms + jitter) / 1000.0

    def duplicate(self) -> bool:
        """True when this user message should be sent twice."""
        p = self.config.duplicate_user_events_prob
        return p > 0 and self._draw() < p

    def reorder(self) -> bool:
        """True when this user message should swap places with the next."""
        p = self.config.reorder_user_events_prob
        return p > 0 and self._draw() < p

    def periodic_drop_due(self, elapsed_s: float) -> bool:
        """True when the every-N-seconds drop of all connections is due (at most once per call)."""
        if self._next_drop is None or elapsed_s < self._next_drop:
            return False
        while self._next_drop <= elapsed_s:
            self._next_drop += self.config.ws_drop_every_secs
        return True

    def random_drop_round(self, elapsed_s: float) -> bool:
        """True once per elapsed second while random drops are configured: time to draw for each connection."""
        if self.config.ws_drop_prob_per_sec <= 0 or elapsed_s < self._next_random_check:
            return False
        self._next_random_check = elapsed_s + 1.0
        return True

    def drop_this(self) -> bool:
        """One connection's draw in a random-drop round."""
        return self._draw() < self.config.ws_drop_prob_per_sec

    def stalled(self, elapsed_s: float, now_ms: int) -> bool:
        """True while a book-feed stall window is open; journals each window's start and end."""
        current = None
        for index, window in enumerate(self.config.stall_book):
            if window.at_secs <= elapsed_s < window.at_secs + window.duration_secs:
                current = index
                break
        if current != self._stalled:
            if self._stalled is not None:
                self.journal.write(now_ms, "fault", fault="stall_book_end", window=self._stalled)
            if current is not None:
                window = self.config.stall_book[current]
                self.journal.write(now_ms, "fault", fault="stall_book", window=current,
                                   duration_secs=window.duration_secs)
            self._stalled = current
        return current is not None
