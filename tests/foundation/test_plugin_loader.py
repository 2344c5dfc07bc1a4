"""The plugin manager: entry-point loading, error isolation and messages, queries."""

from __future__ import annotations

import attrs
import pytest

from mmtool.core.errors import PluginLoadError, UnknownComponentError
from mmtool.core.hookspecs import hookimpl
from mmtool.core.plugins import Registry, load_registry

from ._fakes import (
    FakeDist,
    FakeEntryPoint,
    FakeGlft,
    FakeMonitor,
    commands_plugin,
    hello_command,
    install_module,
    make_component,
    patch_entry_points,
)


@hookimpl
def _register_glft() -> list[type]:
    return [FakeGlft]


@hookimpl
def _register_monitor() -> list[type]:
    return [FakeMonitor]


def _good(monkeypatch: pytest.MonkeyPatch) -> FakeEntryPoint:
    install_module(monkeypatch, "fake_good", mmtool_register_strategies=_register_glft)
    return FakeEntryPoint("good", "fake_good", FakeDist("mmtool-good", "1.2.3"))


def _only_error(registry: Registry) -> PluginLoadError:
    assert len(registry.errors) == 1, registry.errors
    return registry.errors[0]


def test_loads_components_with_provenance(monkeypatch: pytest.MonkeyPatch) -> None:
    patch_entry_points(monkeypatch, [_good(monkeypatch)])
    registry = load_registry(env={})
    assert registry.errors == []
    (info,) = registry.components()
    assert (info.kind, info.name, info.cls, info.package, info.version, info.plugin) == (
        "strategy", "glft-ladder", FakeGlft, "mmtool-good", "1.2.3", "good",
    )
    assert info.description == "Fake GLFT ladder strategy."
    assert info.error is None
    assert registry.get("strategy", "glft-ladder") is FakeGlft


def test_import_failure_is_collected_and_others_still_load(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = FakeEntryPoint("broken", "no_such_module_for_mmtool:thing", FakeDist("mmtool-broken", "0.3"))
    patch_entry_points(monkeypatch, [broken, _good(monkeypatch)])
    registry = load_registry(env={})
    error = _only_error(registry)
    message = str(error)
    for part in ("mmtool-broken", "0.3", "'broken'", "no_such_module_for_mmtool:thing", "ModuleNotFoundError"):
        assert part in message
    assert isinstance(error.__cause__, ModuleNotFoundError)
    assert [c.name for c in registry.components()] == ["glft-ladder"]
    (row,) = registry.broken()
    assert (row.kind, row.name, row.package, row.error) == ("plugin", "broken", "mmtool-broken", message)
    with pytest.raises(PluginLoadError, match="1 plugin problem") as raised:
        registry.raise_errors()
    assert "no_such_module_for_mmtool" in str(raised.value)
    assert raised.value.__cause__ is error


def test_raise_errors_is_silent_when_all_loaded(monkeypatch: pytest.MonkeyPatch) -> None:
    patch_entry_points(monkeypatch, [_good(monkeypatch)])
    load_registry(env={}).raise_errors()


def test_duplicate_component_names_name_both_packages(monkeypatch: pytest.MonkeyPatch) -> None:
    install_module(monkeypatch, "fake_copycat", mmtool_register_strategies=_register_glft)
    copy = FakeEntryPoint("zz-copycat", "fake_copycat", FakeDist("mmtool-copycat", "2.0"))
    patch_entry_points(monkeypatch, [copy, _good(monkeypatch)])
    registry = load_registry(env={})
    message = str(_only_error(registry))
    assert "mmtool-copycat 2.0" in message and "mmtool-good 1.2.3" in message
    assert "glft-ladder" in message
    # The first in sorted entry-point order keeps the name.
    assert registry.components()[0].package == "mmtool-good"


def test_names_are_unique_across_kinds(monkeypatch: pytest.MonkeyPatch) -> None:
    clash = make_component("glft-ladder", "An estimator with a strategy's name.")

    @hookimpl
    def mmtool_register_estimators() -> list[type]:
        return [clash]

    install_module(monkeypatch, "fake_clash", mmtool_register_estimators=mmtool_register_estimators)
    patch_entry_points(monkeypatch, [_good(monkeypatch), FakeEntryPoint("other", "fake_clash", FakeDist("mmtool-x"))])
    registry = load_registry(env={})
    message = str(_only_error(registry))
    assert "estimator name 'glft-ladder'" in message and "already taken by strategy" in message
    assert registry.names("estimator") == []


def test_duplicate_entry_point_names_name_both_distributions(monkeypatch: pytest.MonkeyPatch) -> None:
    install_module(monkeypatch, "fake_other", mmtool_register_risk_monitors=_register_monitor)
    first = _good(monkeypatch)
    second = FakeEntryPoint("good", "fake_other", FakeDist("mmtool-other", "4.5"))
    patch_entry_points(monkeypatch, [first, second])
    registry = load_registry(env={})
    assert len(registry.errors) == 2
    for error in registry.errors:
        assert "mmtool-good 1.2.3" in str(error) and "mmtool-other 4.5" in str(error)
    assert registry.components() == []


def test_raising_hook_breaks_only_that_plugin(monkeypatch: pytest.MonkeyPatch) -> None:
    @hookimpl
    def mmtool_register_risk_monitors() -> list[type]:
        raise RuntimeError("boom")

    install_module(monkeypatch, "fake_raises", mmtool_register_risk_monitors=mmtool_register_risk_monitors)
    patch_entry_points(
        monkeypatch, [FakeEntryPoint("raises", "fake_raises", FakeDist("mmtool-raises")), _good(monkeypatch)]
    )
    registry = load_registry(env={})
    error = _only_error(registry)
    assert "mmtool_register_risk_monitors() raised RuntimeError: boom" in str(error)
    assert "mmtool-raises" in str(error) and "fake_raises" in str(error)
    assert isinstance(error.__cause__, RuntimeError)
    assert registry.names("strategy") == ["glft-ladder"]


@pytest.mark.parametrize("result", [None, FakeGlft, "glft-ladder", 3])
def test_hook_returning_a_non_list_is_an_error(monkeypatch: pytest.MonkeyPatch, result: object) -> None:
    @hookimpl
    def mmtool_register_strategies() -> object:
        return result

    install_module(monkeypatch, "fake_nonlist", mmtool_register_strategies=mmtool_register_strategies)
    patch_entry_points(monkeypatch, [FakeEntryPoint("nonlist", "fake_nonlist", FakeDist("mmtool-nonlist"))])
    registry = load_registry(env={})
    assert "must return a list" in str(_only_error(registry))


def test_hook_returning_non_classes_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    @hookimpl
    def mmtool_register_strategies() -> list[object]:
        return [FakeGlft(FakeGlft.Config()), FakeMonitor]

    install_module(monkeypatch, "fake_instances", mmtool_register_strategies=mmtool_register_strategies)
    patch_entry_points(monkeypatch, [FakeEntryPoint("inst", "fake_instances", FakeDist("mmtool-inst"))])
    registry = load_registry(env={})
    assert "not a class" in str(_only_error(registry))
    assert registry.names("strategy") == ["always-ok"]


def test_misspelt_hook_is_an_error_with_a_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    @hookimpl
    def mmtool_register_stratgies() -> list[type]:
        return [FakeGlft]

    install_module(monkeypatch, "fake_typo", mmtool_register_stratgies=mmtool_register_stratgies)
    patch_entry_points(monkeypatch, [FakeEntryPoint("typo", "fake_typo", FakeDist("mmtool-typo")), _good(monkeypatch)])
    registry = load_registry(env={})
    message = str(_only_error(registry))
    assert "unknown hook 'mmtool_register_stratgies'; did you mean 'mmtool_register_strategies'?" in message
    assert "mmtool-typo" in message
    assert registry.names("strategy") == ["glft-ladder"]
    registry.plugin_manager.check_pending()  # the typo'd plugin was unregistered


def test_bad_hook_signature_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    @hookimpl
    def mmtool_resolve_secret(name: str, settings: object, vault: object) -> None:
        return None

    install_module(monkeypatch, "fake_sig", mmtool_resolve_secret=mmtool_resolve_secret)
    patch_entry_points(monkeypatch, [FakeEntryPoint("sig", "fake_sig", FakeDist("mmtool-sig"))])
    message = str(_only_error(load_registry(env={})))
    assert "invalid hook implementation" in message and "vault" in message


def test_unmarked_hook_function_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def mmtool_register_strategies() -> list[type]:
        return [FakeGlft]

    install_module(monkeypatch, "fake_unmarked", mmtool_register_strategies=mmtool_register_strategies)
    patch_entry_points(monkeypatch, [FakeEntryPoint("unmarked", "fake_unmarked", FakeDist("mmtool-unmarked"))])
    assert "not marked with @hookimpl" in str(_only_error(load_registry(env={})))


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"name": None}, "'name' must be a kebab-case string"),
        ({"name": "Bad_Name"}, "'name' must be a kebab-case string"),
        ({"Config": dict}, "'Config' must be an attrs class"),
        ({"from_config": None}, "'from_config' classmethod is missing"),
    ],
)
def test_component_missing_attributes(monkeypatch: pytest.MonkeyPatch, attributes: dict, expected: str) -> None:
    bad = make_component("bad-one", **attributes)

    @hookimpl
    def mmtool_register_estimators() -> list[type]:
        return [bad, make_component("fine-one")]

    install_module(monkeypatch, "fake_bad", mmtool_register_estimators=mmtool_register_estimators)
    patch_entry_points(monkeypatch, [FakeEntryPoint("bad", "fake_bad", FakeDist("mmtool-bad", "0.1"))])
    registry = load_registry(env={})
    message = str(_only_error(registry))
    assert expected in message and "mmtool-bad 0.1" in message and "fake_bad" in message
    assert registry.names("estimator") == ["fine-one"]
    assert registry.broken()[0].kind == "estimator"


def test_disabled_plugins_are_skipped(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = FakeEntryPoint("broken", "no_such_module_for_mmtool", FakeDist("mmtool-broken"))
    patch_entry_points(monkeypatch, [broken, _good(monkeypatch)])
    assert load_registry(disabled=["broken"], env={}).errors == []
    assert load_registry(env={"MMTOOL_DISABLE_PLUGINS": "x, broken"}).errors == []
    assert load_registry(env={"MMTOOL_DISABLE_PLUGINS": "good,broken"}).components() == []


def test_entry_points_load_in_sorted_order(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[str] = []
    points = []
    for name in ("c", "a", "b"):
        install_module(monkeypatch, f"fake_order_{name}")
        points.append(FakeEntryPoint(name, f"fake_order_{name}", FakeDist(f"d-{name}")))
    original = FakeEntryPoint.load

    def spy(self: FakeEntryPoint) -> object:
        loaded.append(self.name)
        return original(self)

    monkeypatch.setattr(FakeEntryPoint, "load", spy)
    patch_entry_points(monkeypatch, points)
    load_registry(env={})
    assert loaded == ["a", "b", "c"]


def test_each_call_builds_a_fresh_manager(monkeypatch: pytest.MonkeyPatch) -> None:
    patch_entry_points(monkeypatch, [_good(monkeypatch)])
    first, second = load_registry(env={}), load_registry(env={})
    assert first.plugin_manager is not second.plugin_manager
    assert first.names("strategy") == second.names("strategy") == ["glft-ladder"]


def test_get_unknown_lists_registered_with_hint() -> None:
    registry = Registry.from_plugins(_monitor_plugin(), _strategy_plugin())
    with pytest.raises(UnknownComponentError) as raised:
        registry.get("strategy", "glft-lader")
    message = str(raised.value)
    assert "unknown strategy 'glft-lader'; did you mean 'glft-ladder'?" in message
    assert "registered strategies: glft-ladder" in message
    with pytest.raises(UnknownComponentError, match="'always-ok' is a risk monitor, not a strategy"):
        registry.get("strategy", "always-ok")
    with pytest.raises(UnknownComponentError, match="registered estimators: none"):
        registry.get("estimator", "kappa")


def test_components_sorted_and_filtered() -> None:
    registry = Registry.from_plugins(_strategy_plugin(), _monitor_plugin())
    assert [(c.kind, c.name) for c in registry.components()] == [
        ("risk_monitor", "always-ok"),
        ("strategy", "glft-ladder"),
    ]
    assert [c.name for c in registry.components("risk_monitor")] == ["always-ok"]
    assert registry.components()[0].package == "test"
    with pytest.raises(ValueError, match="unknown component kind"):
        registry.components("strategies")
    assert attrs.has(type(registry.components()[0]))


def test_commands_and_reserved_names() -> None:
    registry = Registry.from_plugins(commands_plugin(hello_command))
    assert registry.commands() == [hello_command]
    assert registry.command_infos()[0].plugin == "fake-commands"
    assert registry.commands(reserved={"hello"}) == []
    assert registry.commands(reserved={"hello"}) == []
    assert len(registry.errors) == 1 and "clashes with a built-in command" in str(registry.errors[0])


def test_duplicate_plugin_commands_name_both() -> None:
    registry = Registry.from_plugins(
        commands_plugin(hello_command, name="p1"), commands_plugin(hello_command, name="p2")
    )
    assert "command 'hello' is already added by test 0, entry point 'p1'" in str(_only_error(registry))


def _strategy_plugin() -> object:
    return type("StrategyPlugin", (), {"mmtool_register_strategies": staticmethod(_register_glft)})()


def _monitor_plugin() -> object:
    return type("MonitorPlugin", (), {"mmtool_register_risk_monitors": staticmethod(_register_monitor)})()
