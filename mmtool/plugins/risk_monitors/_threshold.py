"""The threshold rule every built-in risk monitor shares: act at the limit, warn near it."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs

from mmtool.core.types import RiskLevel, Verdict

NEAR_LIMIT = "near limit"


def override(validators: list, help_text: str) -> Any:
    """A None-defaulted monitor config field: None means "use the shared ``[risk]``/``[trading]`` setting"."""
    return attrs.field(default=None, validator=validators, metadata={"help": help_text})


def pick(override: float | None, default: float) -> float:
    """The monitor's own config value when set, else the shared ``[risk]``/``[trading]`` setting."""
    return default if override is None else override


def judge(
    monitor: str,
    value: float,
    limit: float,
    *,
    level: RiskLevel,
    reason: str,
    warn_fraction: float,
    strict: bool = False,
    extra: Mapping[str, float] | None = None,
) -> Verdict:
    """Compare ``value`` with ``limit``: ``level`` at the limit, WARN from ``warn_fraction`` of it, else OK.

    With ``strict`` the limit itself is still allowed (the monitor fires above it); otherwise it fires at it.
    A value that is not a number is treated as a breach: a broken input must never read as safe. A WARN or worse
    carries ``{"value", "limit", **extra}`` as its figures; an OK is the shared :meth:`Verdict.ok` (no figures).
    """
    if math.isnan(value):
        return Verdict(RiskLevel.KILL, f"{reason}: value is not a number", _figures(value, limit, extra), monitor)
    breached = value > limit if strict else value >= limit
    if breached:
        return Verdict(level, reason, _figures(value, limit, extra), monitor)
    if value >= warn_fraction * limit:
        return Verdict(RiskLevel.WARN, NEAR_LIMIT, _figures(value, limit, extra), monitor)
    return Verdict.ok(monitor)


def _figures(value: float, limit: float, extra: Mapping[str, float] | None) -> dict[str, float]:
    return {"value": value, "limit": limit, **(extra or {})}
