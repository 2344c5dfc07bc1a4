"""Entry-point module of the simulated exchange: registers the ``sim`` adapter."""

from __future__ import annotations

from mmtool.core.hookspecs import hookimpl
from mmtool.plugins.exchanges.sim.adapter import SimAdapter


@hookimpl
def mmtool_register_exchanges() -> list[type]:
    """Register the in-process simulated exchange."""
    return [SimAdapter]
