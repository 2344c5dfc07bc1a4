"""Tests of the deterministic core: order tracking, portfolio, reconciliation, rounding."""
