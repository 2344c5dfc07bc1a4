"""Entry-point module of the local exchange server: registers the ``mmtool exchange`` command group."""

from __future__ import annotations

import click

from mmtool.core.hookspecs import hookimpl


@hookimpl
def mmtool_register_commands() -> list[click.Command]:
    """Register ``mmtool exchange`` (``serve``)."""
    from mmtool.plugins.exchanges.hlserver.cli import exchange

    return [exchange]
