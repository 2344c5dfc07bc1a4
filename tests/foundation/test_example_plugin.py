"""The example third-party plugin: its components' behaviour, its own tests, and a real pip install."""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mmtool.core.config_loader import structure_config
from mmtool.core.types import RiskLevel
from mmtool.testing import make_component_context, make_params, make_quote_context, make_risk_state

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "mmtool-example-plugin"
BIN = Path(sys.executable).parent
DIST = "mmtool-example-plugin"


@pytest.fixture(scope="module")
def example() -> Iterator[tuple[ModuleType, ModuleType]]:
    with pytest.MonkeyPatch.context() as patch:
        patch.syspath_prepend(str(EXAMPLE / "src"))
        yield importlib.import_module("mmtool_example_plugin.strategy"), importlib.import_module(
            "mmtool_example_plugin.monitor"
        )


def _quoter(example: tuple[ModuleType, ModuleType], **options: float) -> object:
    cls = example[0].MidSpread
    return cls.from_config(cls.Config(**options), make_component_context())


def test_strategy_quotes_symmetrically_when_flat(example: tuple[ModuleType, ModuleType]) -> None:
    ladder = _quoter(example, half_spread_bps=10.0).quote(make_quote_context(make_params(mid=2000.0)))
    assert [(q.price, q.size) for q in ladder.bids] == [(Decimal("1998"), Decimal("0.5"))]
    assert [(q.price, q.size) for q in ladder.asks] == [(Decimal("2002"), Decimal("0.5"))]


def test_strategy_skews_against_inventory_and_respects_limit(example: tuple[ModuleType, ModuleType]) -> None:
    quoter = _quoter(example, half_spread_bps=10.0, skew_bps=5.0)
    ctx = make_quote_context(make_params(mid=2000.0), position=1.9, max_position=2.0)
    ladder = quoter.quote(ctx)
    flat = quoter.quote(make_quote_context(make_params(mid=2000.0)))
    assert ladder.bids[0].price < flat.bids[0].price and ladder.asks[0].price < flat.asks[0].price
    assert ladder.bids[0].size == Decimal("0.1")  # only 0.1 of room left below the limit
    assert ladder.asks[0].size == Decimal("0.5")


def test_strategy_reduce_only_quotes_the_reducing_side_only(example: tuple[ModuleType, ModuleType]) -> None:
    quoter = _quoter(example)
    long = quoter.quote(make_quote_context(make_params(mid=2000.0), position=0.2, reduce_only=True))
    assert long.bids == () and long.asks[0].size == Decimal("0.2")
    short = quoter.quote(make_quote_context(make_params(mid=2000.0), position=-0.3, reduce_only=True))
    assert short.asks == () and short.bids[0].size == Decimal("0.3")
    flat = quoter.quote(make_quote_context(make_params(mid=2000.0), reduce_only=True))
    assert flat.bids == () and flat.asks == ()


def test_strategy_never_quotes_below_min_size(example: tuple[ModuleType, ModuleType]) -> None:
    quoter = _quoter(example)
    # 0.001 ETH at 2000 is 2 USD, below the 10 USD minimum: bumped to the minimum while the limit allows.
    ladder = quoter.quote(make_quote_context(make_params(mid=2000.0), target_liquidity=0.001))
    assert ladder.bids[0].size == ctx_min(ladder.bids[0].price)
    # A reduce-only position smaller than the minimum cannot be quoted at all.
    tiny = quoter.quote(make_quote_context(make_params(mid=2000.0), position=0.001, reduce_only=True))
    assert tiny.asks == ()


def ctx_min(price: Decimal) -> Decimal:
    return make_quote_context().rules.min_size(price)


@settings(max_examples=60, deadline=None)
@given(
    mid=st.floats(min_value=0.5, max_value=100_000),
    position=st.floats(min_value=-3, max_value=3),
    reduce_only=st.booleans(),
    target=st.floats(min_value=0.0001, max_value=5),
)
def test_strategy_quotes_are_valid(
    example: tuple[ModuleType, ModuleType], mid: float, position: float, reduce_only: bool, target: float
) -> None:
    ctx = make_quote_context(
        make_params(mid=mid), position=position, reduce_only=reduce_only, target_liquidity=target
    )
    ladder = _quoter(example).quote(ctx)
    for quote in (*ladder.bids, *ladder.asks):
        assert ctx.rules.is_valid_price(quote.price) and ctx.rules.is_valid_size(quote.size)
        assert quote.size >= ctx.rules.min_size(quote.price)
    if ladder.bids and ladder.asks:
        assert ladder.bids[0].price < ladder.asks[0].price
    if reduce_only:
        assert not (ladder.bids and position >= 0) and not (ladder.asks and position <= 0)
        for quote in (*ladder.bids, *ladder.asks):
            assert quote.size <= Decimal(repr(abs(position)))
    if ladder.bids:
        assert float(ladder.bids[0].size) <= max(ctx.max_position - position, 0) + 1e-9


def test_monitor_levels(example: tuple[ModuleType, ModuleType]) -> None:
    cls = example[1].MaxOpenOrders
    watcher = cls.from_config(cls.Config(max_open_orders=10, warn_fraction=0.8), make_component_context())
    assert watcher.check(make_risk_state(open_orders=3)).level is RiskLevel.OK
    warn = watcher.check(make_risk_state(open_orders=8))
    assert warn.level is RiskLevel.WARN and warn.monitor == "max-open-orders"
    pause = watcher.check(make_risk_state(open_orders=11))
    assert pause.level is RiskLevel.PAUSE and dict(pause.figures) == {"open_orders": 11.0, "limit": 10.0}
    assert watcher.check(make_risk_state(open_orders=10)).level is RiskLevel.WARN


def test_example_configs_validate(example: tuple[ModuleType, ModuleType]) -> None:
    _, problems = structure_config({"half_spread_bps": -1.0, "size_fraction": 2}, example[0].MidSpread.Config,
                                   "plugins.example-mid-spread")
    assert problems == [
        "plugins.example-mid-spread.half_spread_bps: must be > 0 (got -1.0)",
        "plugins.example-mid-spread.size_fraction: must be <= 1 (got 2.0)",
    ]


def test_example_own_tests_pass_with_the_pytest_plugin() -> None:
    env = {**os.environ, "PYTHONPATH": str(EXAMPLE / "src")}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        capture_output=True, text=True, env=env, cwd=EXAMPLE, timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout


def _pip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=300)


def _listed() -> list[dict[str, str]]:
    result = subprocess.run([str(BIN / "mmtool"), "list-plugins", "--json"], capture_output=True, text=True,
                            timeout=120, env={k: v for k, v in os.environ.items() if k != "MMTOOL_DISABLE_PLUGINS"})
    assert result.returncode == 0, result.stderr
    return [row for row in json.loads(result.stdout) if row["package"] == DIST]


def _install_args() -> list[str]:
    args = ["install", "--quiet", "--no-deps"]
    try:
        importlib.import_module("setuptools")
        importlib.import_module("wheel")
    except ImportError:
        return args  # build in an isolated environment (fetches the build backend)
    return [*args, "--no-build-isolation"]


def test_install_list_uninstall_for_real(tmp_path: Path) -> None:
    assert _listed() == [], "mmtool-example-plugin is already installed; uninstall it first"
    # Build from a copy so the source tree gets no build/ or .egg-info droppings.
    source = tmp_path / "src-copy"
    shutil.copytree(EXAMPLE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    installed = _pip(*_install_args(), str(source))
    try:
        assert installed.returncode == 0, installed.stdout + installed.stderr
        rows = _listed()
        assert {(r["kind"], r["name"]) for r in rows} == {
            ("strategy", "example-mid-spread"),
            ("risk_monitor", "max-open-orders"),
        }
        for row in rows:
            assert set(row) == {"kind", "name", "package", "version", "description"}
            assert row["version"] == "0.1.0" and row["description"]
    finally:
        removed = _pip("uninstall", "--yes", "--quiet", DIST)
    assert removed.returncode == 0, removed.stderr
    assert _listed() == []
