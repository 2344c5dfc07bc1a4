"""One ``test_hook_<name>`` per hookspec, and the check that hooks.md and these tests cover every hook."""

from __future__ import annotations

import inspect
import re
import types
from pathlib import Path

import attrs
import click
import pytest

from mmtool.core import hookspecs
from mmtool.core.config import Settings
from mmtool.core.config_loader import resolve_private_key
from mmtool.core.hookspecs import hookimpl
from mmtool.core.plugins import Registry
from mmtool.plugins import secrets

from ._fakes import FakeGlft, FakeMonitor, hello_command, make_component

ROOT = Path(__file__).resolve().parents[2]
HOOKS_DOC = ROOT / "docs" / "plugins" / "hooks.md"


def hook_names() -> list[str]:
    """Every hookspec declared in :mod:`mmtool.core.hookspecs`."""
    return sorted(
        name
        for name, fn in vars(hookspecs).items()
        if callable(fn) and hasattr(fn, f"{hookspecs.PROJECT}_spec")
    )


def hook_signature(name: str) -> str:
    """The hook's exact signature as written in hooks.md: ``def name(a: T) -> R``."""
    sig = inspect.signature(getattr(hookspecs, name))
    params = ", ".join(f"{p.name}: {p.annotation}" for p in sig.parameters.values())
    return f"def {name}({params}) -> {sig.return_annotation}"


def _plugin(**hooks: object) -> types.SimpleNamespace:
    return types.SimpleNamespace(__name__="p-" + "-".join(sorted(hooks)), **hooks)


def test_hook_mmtool_register_strategies() -> None:
    @hookimpl
    def mmtool_register_strategies() -> list[type]:
        return [FakeGlft]

    registry = Registry.from_plugins(_plugin(mmtool_register_strategies=mmtool_register_strategies))
    assert registry.get("strategy", "glft-ladder") is FakeGlft
    assert registry.hook.mmtool_register_strategies() == [[FakeGlft]]


def test_hook_mmtool_register_estimators() -> None:
    volatility = make_component("volatility", "Fake volatility.")

    @hookimpl
    def mmtool_register_estimators() -> list[type]:
        return [volatility]

    registry = Registry.from_plugins(_plugin(mmtool_register_estimators=mmtool_register_estimators))
    assert registry.get("estimator", "volatility") is volatility
    assert registry.components("estimator")[0].description == "Fake volatility."


def test_hook_mmtool_register_risk_monitors() -> None:
    @hookimpl
    def mmtool_register_risk_monitors() -> list[type]:
        return [FakeMonitor]

    registry = Registry.from_plugins(_plugin(mmtool_register_risk_monitors=mmtool_register_risk_monitors))
    assert registry.get("risk_monitor", "always-ok") is FakeMonitor
    assert registry.names("strategy") == []


def test_hook_mmtool_register_exchanges() -> None:
    exchange = make_component("my-exchange", "Fake exchange.")

    @hookimpl
    def mmtool_register_exchanges() -> list[type]:
        return [exchange]

    registry = Registry.from_plugins(_plugin(mmtool_register_exchanges=mmtool_register_exchanges))
    assert registry.get("exchange", "my-exchange") is exchange


def test_hook_mmtool_register_commands() -> None:
    @hookimpl
    def mmtool_register_commands() -> list[click.Command]:
        return [hello_command]

    registry = Registry.from_plugins(_plugin(mmtool_register_commands=mmtool_register_commands))
    assert registry.commands() == [hello_command]
    assert registry.components() == []


def test_hook_mmtool_resolve_secret(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HYPERLIQUID_PRIVATE_KEY", "0x" + "1" * 64)
    calls: list[tuple[str, Settings]] = []

    @hookimpl
    def mmtool_resolve_secret(name: str, settings: Settings) -> str | None:
        calls.append((name, settings))
        return "0x" + "2" * 64 if name == "private_key" else None

    vault = _plugin(mmtool_resolve_secret=mmtool_resolve_secret)
    settings = Settings()
    # A plugin's resolver is asked before the built-in one (trylast), and the first non-None answer wins.
    resolved = resolve_private_key(settings, Registry.from_plugins(secrets, vault))
    assert resolved.private_key == "0x" + "2" * 64
    assert calls == [("private_key", settings)]
    assert resolve_private_key(settings, Registry.from_plugins(secrets)).private_key == "0x" + "1" * 64
    assert attrs.evolve(resolved, private_key=None) == settings


def test_every_hook_is_documented_and_tested() -> None:
    names = hook_names()
    assert len(names) >= 6
    doc = HOOKS_DOC.read_text(encoding="utf-8")
    headings = set(re.findall(r"^## (\w+)\s*$", doc, flags=re.MULTILINE))
    tests = "\n".join(p.read_text(encoding="utf-8") for p in Path(__file__).parent.glob("*.py"))
    for name in names:
        assert name in headings, f"docs/plugins/hooks.md lacks a '## {name}' heading"
        assert hook_signature(name) in doc, f"hooks.md lacks the exact signature `{hook_signature(name)}`"
        assert f"def test_hook_{name}(" in tests, f"tests/foundation lacks test_hook_{name}"
    assert headings <= set(names), f"hooks.md documents hooks that do not exist: {headings - set(names)}"
