"""network.event_loop picks the loop a session runs on: uvloop when installed (auto), or the one asked for."""

from __future__ import annotations

import asyncio
import sys

import pytest

from mmtool.core import eventloop
from mmtool.core.errors import ConfigError


async def _loop_type() -> str:
    await asyncio.sleep(0)
    return type(asyncio.get_running_loop()).__module__


def test_auto_runs_on_uvloop_where_it_is_installed() -> None:
    pytest.importorskip("uvloop")  # a dependency on every platform but Windows
    assert eventloop.loop_factory("auto")[0] == "uvloop"
    assert eventloop.run(_loop_type(), "auto").startswith("uvloop")


def test_asyncio_can_be_forced() -> None:
    assert eventloop.loop_factory("asyncio")[0] == "asyncio"
    assert eventloop.run(_loop_type(), "asyncio").startswith("asyncio")


def test_without_uvloop_auto_falls_back_and_uvloop_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "uvloop", None)  # what an import of a missing module sees
    assert eventloop.loop_factory("auto")[0] == "asyncio"
    assert eventloop.run(_loop_type(), "auto").startswith("asyncio")
    with pytest.raises(ConfigError, match="network.event_loop: 'uvloop' is not installed"):
        eventloop.loop_factory("uvloop")


def test_an_unknown_loop_names_the_field_and_the_choices() -> None:
    with pytest.raises(ConfigError, match=r"network.event_loop: must be one of auto, uvloop, asyncio \(got 'trio'\)"):
        eventloop.loop_factory("trio")


def test_the_result_and_exceptions_come_back_as_from_asyncio_run() -> None:
    async def boom() -> None:
        raise ValueError("inside")

    assert eventloop.run(asyncio.sleep(0, result=7), "auto") == 7
    with pytest.raises(ValueError, match="inside"):
        eventloop.run(boom(), "auto")
