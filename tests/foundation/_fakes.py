"""Fake components, plugin modules and entry points for the loader, config and CLI tests."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Iterable
from typing import Any, ClassVar, Literal

import attrs
import click

from mmtool.core.config import DEFAULT_ESTIMATORS, DEFAULT_RISK_MONITORS, ge, gt
from mmtool.core.hookspecs import hookimpl
from mmtool.core.types import Ladder, Verdict


@attrs.frozen
class FakeDist:
    """Stands in for an ``importlib.metadata.Distribution``: a name and a version."""

    name: str
    version: str = "1.0"


@attrs.frozen
class FakeEntryPoint:
    """Stands in for an ``importlib.metadata.EntryPoint``; ``load`` imports ``module[:attr]`` for real."""

    name: str
    value: str
    dist: FakeDist
    group: str = "mmtool"

    def load(self) -> Any:
        module_name, _, attr = self.value.partition(":")
        obj = importlib.import_module(module_name)
        for part in filter(None, attr.split(".")):
            obj = getattr(obj, part)
        return obj


def install_module(monkeypatch: Any, name: str, **attributes: Any) -> types.ModuleType:
    """Create a module called ``name`` with ``attributes`` and make it importable for this test."""
    module = types.ModuleType(name)
    for key, value in attributes.items():
        if not key.startswith("__"):
            setattr(module, key, value)
    monkeypatch.setitem(sys.modules, name, module)
    return module


def patch_entry_points(monkeypatch: Any, points: Iterable[FakeEntryPoint]) -> None:
    """Make ``mmtool.core.plugins`` see exactly ``points`` in group ``mmtool``."""
    points = list(points)

    def fake_entry_points(*, group: str) -> list[FakeEntryPoint]:
        return [p for p in points if p.group == group]

    monkeypatch.setattr("mmtool.core.plugins.entry_points", fake_entry_points)


def make_component(name: str, doc: str = "A fake component.", base: type | None = None, /, **extra: Any) -> type:
    """A minimal valid component class called ``name`` with an empty ``Config`` (unless ``Config`` is given)."""

    @attrs.frozen
    class Config:
        """No options."""

    namespace: dict[str, Any] = {
        "__doc__": doc,
        "name": name,
        "requires": (),
        "Config": Config,
        "from_config": classmethod(lambda cls, config, ctx: cls()),
        **extra,
    }
    return type(name.title().replace("-", ""), (base or object,), namespace)


@attrs.frozen
class GlftConfig:
    """Options of the fake glft-ladder."""

    gamma: float = attrs.field(default=0.1, validator=gt(0), metadata={"help": "Risk aversion"})
    levels: int = attrs.field(default=3, validator=ge(1), metadata={"help": "Levels"})
    mode: Literal["fast", "slow"] = attrs.field(default="fast", metadata={"help": "Mode"})
    cap: float | None = attrs.field(default=None, metadata={"help": "Optional cap"})
    tags: list[str] = attrs.field(factory=lambda: ["a", "b"], metadata={"help": "Tags"})


class FakeGlft:
    """Fake GLFT ladder strategy."""

    name: ClassVar[str] = "glft-ladder"
    requires: ClassVar[tuple[str, ...]] = ("sigma",)
    Config = GlftConfig
    built: ClassVar[list[Any]] = []

    def __init__(self, config: GlftConfig) -> None:
        self.config = config

    @classmethod
    def from_config(cls, config: GlftConfig, ctx: Any) -> FakeGlft:
        cls.built.append((config, ctx))
        return cls(config)

    def quote(self, ctx: Any) -> Ladder:
        return Ladder.empty()


class FakeMonitor:
    """Fake monitor that is always fine."""

    name: ClassVar[str] = "always-ok"

    @attrs.frozen
    class Config:
        """No options."""

    @classmethod
    def from_config(cls, config: Any, ctx: Any) -> FakeMonitor:
        return cls()

    def check(self, state: Any) -> Verdict:
        return Verdict.ok(self.name)


def strategies_plugin() -> types.SimpleNamespace:
    """A plugin object registering the fake glft-ladder strategy."""

    @hookimpl
    def mmtool_register_strategies() -> list[type]:
        return [FakeGlft]

    return types.SimpleNamespace(__name__="fake-strategies", mmtool_register_strategies=mmtool_register_strategies)


def defaults_plugin() -> types.SimpleNamespace:
    """A plugin registering every estimator and monitor the default settings name, and the ``sim`` exchange."""
    estimators = [make_component(n, f"Fake estimator {n}.") for n in DEFAULT_ESTIMATORS]
    monitors = [make_component(n, f"Fake monitor {n}.") for n in DEFAULT_RISK_MONITORS]
    exchange = make_component("sim", "Fake simulator exchange.")

    @hookimpl
    def mmtool_register_estimators() -> list[type]:
        return estimators

    @hookimpl
    def mmtool_register_risk_monitors() -> list[type]:
        return monitors

    @hookimpl
    def mmtool_register_exchanges() -> list[type]:
        return [exchange]

    return types.SimpleNamespace(
        __name__="fake-defaults",
        mmtool_register_estimators=mmtool_register_estimators,
        mmtool_register_risk_monitors=mmtool_register_risk_monitors,
        mmtool_register_exchanges=mmtool_register_exchanges,
    )


@click.command("hello")
@click.option("--who", default="world")
def hello_command(who: str) -> None:
    """Say hello (a plugin command)."""
    click.echo(f"hello {who}")


def commands_plugin(*commands: click.Command, name: str = "fake-commands") -> types.SimpleNamespace:
    """A plugin object adding ``commands`` to the CLI."""

    @hookimpl
    def mmtool_register_commands() -> list[click.Command]:
        return list(commands)

    return types.SimpleNamespace(__name__=name, mmtool_register_commands=mmtool_register_commands)


def healthy_entry_points(monkeypatch: Any, extra: Iterable[FakeEntryPoint] = ()) -> None:
    """Entry points providing everything the default settings need (fake components), plus ``extra``."""
    install_module(monkeypatch, "fake_mmtool_strategies", **vars(strategies_plugin()))
    install_module(monkeypatch, "fake_mmtool_defaults", **vars(defaults_plugin()))
    dist = FakeDist("mmtool-fakes", "9.9")
    patch_entry_points(
        monkeypatch,
        [
            FakeEntryPoint("fake-strategies", "fake_mmtool_strategies", dist),
            FakeEntryPoint("fake-defaults", "fake_mmtool_defaults", dist),
            *extra,
        ],
    )

