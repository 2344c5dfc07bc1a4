"""Which asyncio event loop runs a session: uvloop (libuv, in C) where it is installed, else asyncio's own.

uvloop makes the loop's own work cheaper: waking the task that waits for the next event, socket reads and
writes, timers. That sits on the order path between a WebSocket frame arriving and the signed batch leaving.
``network.event_loop`` chooses: ``auto`` (uvloop when importable, which is the case wherever mmtool's
dependencies installed it: every platform but Windows), ``uvloop`` (required: an error if missing) or
``asyncio``. Decisions never depend on the loop: it only carries events to the engine and actions away.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from mmtool.core.errors import ConfigError

log = logging.getLogger("mmtool.eventloop")

T = TypeVar("T")
#: The choices of ``network.event_loop``.
EVENT_LOOPS: tuple[str, ...] = ("auto", "uvloop", "asyncio")


def loop_factory(name: str) -> tuple[str, Callable[[], asyncio.AbstractEventLoop]]:
    """The loop actually used for ``name`` and the factory that builds it."""
    if name not in EVENT_LOOPS:
        raise ConfigError(f"network.event_loop: must be one of {', '.join(EVENT_LOOPS)} (got {name!r})")
    if name != "asyncio":
        try:
            uvloop = importlib.import_module("uvloop")
        except ImportError:
            if name == "uvloop":
                raise ConfigError("network.event_loop: 'uvloop' is not installed (pip install uvloop)") from None
        else:
            return "uvloop", uvloop.new_event_loop
    return "asyncio", asyncio.new_event_loop


def run(coro: Coroutine[Any, Any, T], name: str = "auto") -> T:
    """Run ``coro`` to completion on a new loop of the chosen kind, like ``asyncio.run``."""
    used, factory = loop_factory(name)
    log.info("Event loop", extra={"fields": {"loop": used, "asked": name}})
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(coro)
