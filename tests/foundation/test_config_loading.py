"""Settings loading: layers and precedence, strict types, and error messages that name the field."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mmtool.core.config import Settings
from mmtool.core.config_loader import load_settings, parse_env_value
from mmtool.core.errors import ConfigError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "market_maker.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _problems(**kwargs: object) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_settings(**kwargs)  # type: ignore[arg-type]
    return raised.value.problems


def test_defaults_equal_the_schema_defaults() -> None:
    assert load_settings(env={}) == Settings()


def test_precedence_defaults_file_env_overrides(tmp_path: Path) -> None:
    path = _write(tmp_path, "[trading]\nrisk_aversion = 0.9\nleverage = 5\nasset = 'BTC'\n")
    env = {"MMTOOL__TRADING__RISK_AVERSION": "0.3", "MMTOOL__TRADING__LEVERAGE": "7"}
    settings = load_settings(path, env=env, overrides={"trading.leverage": 9})
    assert settings.trading.asset == "BTC"  # file over default
    assert settings.trading.risk_aversion == 0.3  # env over file
    assert settings.trading.leverage == 9  # override over env
    assert settings.trading.target_liquidity == Settings().trading.target_liquidity  # default kept


def test_env_nested_and_plugin_tables() -> None:
    env = {
        "MMTOOL__STRATEGY__LADDER__NUM_LEVELS": "3",
        "MMTOOL__PLUGINS__GLFT_LADDER__GAMMA": "0.25",
        "MMTOOL__RISK__MONITORS": '["stale-data"]',
        "MMTOOL__NETWORK__ACCOUNT_ADDRESS": "0x00000000000000000000000000000000000000ab",
        "OTHER_VARIABLE": "ignored",
    }
    settings = load_settings(env=env)
    assert settings.strategy.ladder.num_levels == 3
    assert settings.risk.monitors == ["stale-data"]
    # A hex-looking string stays a string for a string field.
    assert settings.network.account_address == "0x00000000000000000000000000000000000000ab"
    assert settings.plugins["glft-ladder"]["gamma"] == "0.25"


def test_overrides_dotted_keys_and_strings_parsed_by_field_type() -> None:
    settings = load_settings(
        env={}, overrides={"network.name": "testnet", "plugins.sim.seed": 1, "trading.risk_aversion": "0.3"}
    )
    assert settings.network.name == "testnet"
    assert settings.plugins == {"sim": {"seed": 1}}
    assert settings.trading.risk_aversion == 0.3


def test_bad_value_keeps_the_validator_message(tmp_path: Path) -> None:
    path = _write(tmp_path, "[trading]\nrisk_aversion = -1.0\n")
    assert _problems(path=path, env={}) == ["trading.risk_aversion: must be > 0 (got -1.0)"]


def test_unknown_key_with_did_you_mean(tmp_path: Path) -> None:
    path = _write(tmp_path, "[trading]\nrisk_aversio = 0.3\n[tradng]\nasset = 'ETH'\n")
    assert _problems(path=path, env={}) == [
        "trading.risk_aversio: unknown key; did you mean 'risk_aversion'?",
        "tradng: unknown key; did you mean 'trading'?",
    ]


def test_bad_literal_lists_allowed_values(tmp_path: Path) -> None:
    path = _write(tmp_path, "[logging]\nformat = 'fancy'\n")
    assert _problems(path=path, env={}) == ["logging.format: 'fancy' is not one of 'pretty', 'json', 'compact'"]


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ("[trading]\nleverage = 2.5", "trading.leverage: expected an integer, got float 2.5"),
        ("[trading]\nrisk_aversion = 'high'", "trading.risk_aversion: expected a number, got string 'high'"),
        ("[trading]\nasset = 5", "trading.asset: expected a string, got integer 5"),
        ("[risk]\nflatten_on_kill = 'yes'", "risk.flatten_on_kill: expected true or false, got string 'yes'"),
        ("[strategy]\nestimators = 'volatility'", "strategy.estimators: expected an array, got string 'volatility'"),
        ("[strategy]\nestimators = ['a', 3]", "strategy.estimators[1]: expected a string, got integer 3"),
        ("trading = 3", "trading: expected a table, got integer 3"),
        ("[plugins]\nglft = 3", "plugins.glft: expected a table, got integer 3"),
    ],
)
def test_wrong_types_name_field_and_expected_type(tmp_path: Path, toml: str, expected: str) -> None:
    assert _problems(path=_write(tmp_path, toml + "\n"), env={}) == [expected]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "[trading]\nrisk_aversion = -1.0\nleverage = 0\n[logging]\nformat = 'fancy'\n"
        "[strategy.ladder]\nmin_depth_bps = 10.0\nmax_depth_bps = 5.0\n",
    )
    problems = _problems(path=path, env={"MMTOOL__MONITORING__METRICS_PORT": "70000"})
    assert problems == [
        "trading.risk_aversion: must be > 0 (got -1.0)",
        "trading.leverage: must be >= 1 (got 0)",
        "strategy.ladder: max_depth_bps (5.0) must be >= min_depth_bps (10.0)",
        "logging.format: 'fancy' is not one of 'pretty', 'json', 'compact'",
        "monitoring.metrics_port: must be <= 65535 (got 70000)",
    ]
    with pytest.raises(ConfigError) as raised:
        load_settings(path, env={})
    assert str(raised.value).count("\n") == 3


def test_private_key_in_file_or_env_is_refused(tmp_path: Path) -> None:
    key = "0x" + "1" * 64
    path = _write(tmp_path, f"private_key = '{key}'\n")
    (problem,) = _problems(path=path, env={})
    assert problem.startswith("private_key: refused") and "HYPERLIQUID_PRIVATE_KEY" in problem
    assert key not in problem
    (problem,) = _problems(env={"MMTOOL__PRIVATE_KEY": key})
    assert "HYPERLIQUID_PRIVATE_KEY" in problem


def test_missing_file_and_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_settings(tmp_path / "nope.toml", env={})
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_settings(_write(tmp_path, "[trading\n"), env={})


def test_malformed_env_name_and_non_table_parent() -> None:
    assert _problems(env={"MMTOOL__TRADING____ASSET": "x"}) == [
        "MMTOOL__TRADING____ASSET: malformed variable name (use MMTOOL__SECTION__KEY)"
    ]
    assert _problems(env={"MMTOOL__TRADING__ASSET__X": "1"}) == ["trading.asset: expected a string, got table"]
    assert _problems(env={"MMTOOL__TRADING__ASSET": "BTC"}, overrides={"trading.asset.x": 1}) == [
        "trading.asset: an override sets a key inside it, but it is not a table"
    ]


def test_key_never_in_repr_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    import attrs

    key = "0x" + "ab" * 32
    settings = attrs.evolve(load_settings(env={}), private_key=key)
    assert key not in repr(settings)
    assert key not in str(settings)
    with caplog.at_level(logging.INFO):
        logging.getLogger("mmtool.test").info("settings %s", settings)
    assert key not in caplog.text


@given(st.integers(min_value=-10, max_value=10**6) | st.floats(min_value=-10, max_value=1e12))
def test_env_numbers_parse_for_number_fields_and_stay_text_for_strings(value: float) -> None:
    text = repr(value)
    assert str(parse_env_value(text)) == text
    settings = load_settings(env={"MMTOOL__TRADING__MAKER_FEE_BPS": text, "MMTOOL__TRADING__ASSET": text})
    assert settings.trading.maker_fee_bps == float(value)
    assert settings.trading.asset == text
