"""The estimator plugin modules register well-formed components with unique names."""

from __future__ import annotations

import importlib

import attrs
import pytest

from mmtool.core.components import Estimator
from mmtool.core.config import DEFAULT_ESTIMATORS

from .sim import ctx

MODULES = ["volatility", "intensity", "microprice", "kalman", "hawkes", "market", "fills"]
RISK_MONITOR_NAMES = {"cascade", "stale-data", "daily-loss", "drawdown", "position-value", "rate-limit",
                      "position-limit"}


def registered() -> list[type]:
    classes = []
    for module in MODULES:
        mod = importlib.import_module(f"mmtool.plugins.estimators.{module}")
        classes.extend(mod.mmtool_register_estimators())
    return classes


def test_names_are_unique_kebab_case_and_cover_the_defaults() -> None:
    names = [cls.name for cls in registered()]
    assert len(names) == len(set(names)) == 11
    assert not set(names) & RISK_MONITOR_NAMES
    assert all(n == n.lower() and "_" not in n for n in names)
    assert set(DEFAULT_ESTIMATORS) <= set(names)


@pytest.mark.parametrize("cls", registered(), ids=lambda c: c.name)
def test_component_shape(cls: type) -> None:
    assert cls.__doc__ and cls.__doc__.strip().splitlines()[0].endswith(".")
    config = cls.Config()
    assert attrs.has(cls.Config)
    for field in attrs.fields(cls.Config):
        assert field.metadata.get("help"), f"{cls.name}.{field.name} has no help"
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        setattr(config, attrs.fields(cls.Config)[0].name, None)
    est = cls.from_config(config, ctx())
    assert isinstance(est, Estimator)
    assert isinstance(est.warmed_up, bool)
    assert all(isinstance(v, float) for v in est.values().values())
