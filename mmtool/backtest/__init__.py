"""Backtesting: replay the live engine against the simulated exchange's matching, record and replay market data,
summarise, report and sweep parameters. No asyncio: the engine is driven in a plain loop."""

from __future__ import annotations
