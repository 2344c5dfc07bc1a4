"""Component configs: structuring ``[plugins.<name>]``, validating selections, and generate-config."""

from __future__ import annotations

import tomllib

import attrs
import pytest

from mmtool.core.config import Settings
from mmtool.core.config_loader import component_config, generate_config, load_settings, validate_components
from mmtool.core.errors import ConfigError
from mmtool.core.plugins import Registry

from ._fakes import FakeGlft, GlftConfig, defaults_plugin, strategies_plugin


@pytest.fixture
def registry() -> Registry:
    return Registry.from_plugins(strategies_plugin(), defaults_plugin())


def _with_plugins(plugins: dict, **overrides: object) -> Settings:
    flat = {f"plugins.{name}.{key}": value for name, table in plugins.items() for key, value in table.items()}
    return load_settings(env={}, overrides={**flat, **overrides})


def test_component_config_defaults_and_values() -> None:
    assert component_config(Settings(), FakeGlft) == GlftConfig()
    settings = _with_plugins({"glft-ladder": {"gamma": 0.3, "mode": "slow", "tags": ["x"]}})
    assert component_config(settings, FakeGlft) == GlftConfig(gamma=0.3, mode="slow", tags=["x"])


def test_component_config_errors_are_named() -> None:
    settings = _with_plugins({"glft-ladder": {"gamma": -1.0, "levels": "three", "mode": "medium", "gama": 1}})
    with pytest.raises(ConfigError) as raised:
        component_config(settings, FakeGlft)
    assert raised.value.problems == [
        "plugins.glft-ladder.levels: expected an integer, got string 'three'",
        "plugins.glft-ladder.mode: 'medium' is not one of 'fast', 'slow'",
        "plugins.glft-ladder.gama: unknown key; did you mean 'gamma'?",
    ]
    # Validators run once the types are right, and every failing one is reported.
    settings = _with_plugins({"glft-ladder": {"gamma": -1.0, "levels": 0}})
    with pytest.raises(ConfigError) as raised:
        component_config(settings, FakeGlft)
    assert raised.value.problems == [
        "plugins.glft-ladder.gamma: must be > 0 (got -1.0)",
        "plugins.glft-ladder.levels: must be >= 1 (got 0)",
    ]


def test_component_config_from_env_text() -> None:
    env = {"MMTOOL__PLUGINS__GLFT_LADDER__GAMMA": "0.7", "MMTOOL__PLUGINS__GLFT_LADDER__CAP": "2"}
    settings = load_settings(env=env)
    assert component_config(settings, FakeGlft) == GlftConfig(gamma=0.7, cap=2.0)


def test_validate_components_accepts_defaults(registry: Registry) -> None:
    FakeGlft.built.clear()
    validate_components(Settings(), registry)
    assert FakeGlft.built == []
    validate_components(Settings(), registry, build=True)
    ((config, ctx),) = FakeGlft.built
    assert config == GlftConfig()
    assert (ctx.asset, ctx.rules.asset, ctx.rules.sz_decimals) == ("ETH", "ETH", 4)


def test_validate_components_collects_every_problem(registry: Registry) -> None:
    settings = _with_plugins(
        {"glft-ladder": {"gamma": 0}, "volatilty": {"window": 3}},
        **{"strategy.estimators": ["volatility", "kapa", "volatility"], "risk.monitors": ["glft-ladder"],
           "network.name": "testnet"},
    )
    with pytest.raises(ConfigError) as raised:
        validate_components(settings, registry)
    problems = raised.value.problems
    assert problems[0] == "plugins.glft-ladder.gamma: must be > 0 (got 0.0)"
    assert problems[1].startswith("strategy.estimators[1]: unknown estimator 'kapa'; registered estimators: ")
    assert problems[2] == "strategy.estimators[2]: 'volatility' is already listed at strategy.estimators[0]"
    assert problems[3].startswith("risk.monitors[0]: 'glft-ladder' is a strategy, not a risk monitor")
    assert problems[4].startswith("network.name: unknown exchange 'hyperliquid'; registered exchanges: sim")
    assert problems[5] == "plugins.volatilty: no installed component is called 'volatilty'; did you mean 'volatility'?"
    assert len(problems) == 6


def test_validate_components_checks_unselected_tables(registry: Registry) -> None:
    settings = _with_plugins({"glft-ladder": {"gamma": 1.0}, "sim": {"speed": 2}}, **{"strategy.strategy_type": "x"})
    with pytest.raises(ConfigError) as raised:
        validate_components(settings, registry)
    assert "plugins.sim.speed: unknown key" in raised.value.problems
    assert any(p.startswith("strategy.strategy_type: unknown strategy 'x'") for p in raised.value.problems)


def test_build_failure_is_reported(registry: Registry, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(cls: type, config: object, ctx: object) -> None:
        raise ValueError("needs sigma")

    monkeypatch.setattr(FakeGlft, "from_config", classmethod(refuse))
    with pytest.raises(ConfigError) as raised:
        validate_components(Settings(), registry, build=True)
    assert raised.value.problems == ["plugins.glft-ladder: cannot build strategy: ValueError: needs sigma"]


def test_generated_config_is_valid_and_complete(registry: Registry, tmp_path) -> None:
    text = generate_config(registry)
    parsed = tomllib.loads(text)
    sections = {"network", "trading", "strategy", "risk", "logging", "monitoring", "journal", "alerts", "plugins"}
    assert set(parsed) == sections
    for section in ("network", "trading", "risk", "logging", "monitoring", "journal", "alerts"):
        schema = attrs.fields_dict(type(getattr(Settings(), section)))
        # Every option appears, set or (for None defaults) commented out.
        for name in schema:
            assert f"\n{name} = " in text or f"\n# {name} = " in text, (section, name)
    assert parsed["plugins"]["glft-ladder"] == {"gamma": 0.1, "levels": 3, "mode": "fast", "tags": ["a", "b"]}
    assert "# cap = 0.0  # not set by default" in text
    assert "# Allowed: 'fast', 'slow'." in text
    assert "# Risk aversion\ngamma = 0.1" in text
    assert set(parsed["plugins"]) == {c.name for c in registry.components()}
    path = tmp_path / "generated.toml"
    path.write_text(text)
    settings = load_settings(path, env={})
    assert attrs.evolve(settings, plugins={}) == Settings()
    validate_components(settings, registry, build=True)
