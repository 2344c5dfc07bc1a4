"""The CLI through click's CliRunner, with fake entry points."""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from mmtool import __version__
from mmtool.cli import main
from mmtool.core.errors import ConfigError

from ._fakes import FakeDist, FakeEntryPoint, commands_plugin, healthy_entry_points, hello_command, install_module


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


@pytest.fixture
def healthy(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    healthy_entry_points(monkeypatch)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MMTOOL_CONFIG", raising=False)
    monkeypatch.delenv("MMTOOL_DISABLE_PLUGINS", raising=False)


@pytest.fixture
def broken(monkeypatch: pytest.MonkeyPatch, healthy: None) -> None:
    extra = [FakeEntryPoint("zz-broken", "no_such_module_for_mmtool", FakeDist("mmtool-broken", "0.1"))]
    healthy_entry_points(monkeypatch, extra)


def test_help_and_version(healthy: None) -> None:
    result = run("--help")
    assert result.exit_code == 0
    for command in ("list-plugins", "generate-config", "validate-config"):
        assert command in result.stdout
    for option in ("--log-level", "--log-format", "--log-file", "--disable-plugin", "--config"):
        assert option in result.stdout
    version = run("--version")
    assert version.exit_code == 0 and __version__ in version.stdout


def test_help_works_with_a_broken_plugin(broken: None) -> None:
    result = run("--help")
    assert result.exit_code == 0 and "list-plugins" in result.stdout


def test_list_plugins_json_shape(broken: None) -> None:
    result = run("list-plugins", "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    keys = {"kind", "name", "package", "version", "description"}
    good = [r for r in rows if "error" not in r]
    assert all(set(r) == keys for r in good)
    assert {(r["kind"], r["name"], r["package"], r["version"]) for r in good} >= {
        ("strategy", "glft-ladder", "mmtool-fakes", "9.9"),
        ("exchange", "sim", "mmtool-fakes", "9.9"),
    }
    assert good == sorted(good, key=lambda r: (r["kind"], r["name"]))
    (bad,) = [r for r in rows if "error" in r]
    assert set(bad) == keys | {"error"}
    assert (bad["kind"], bad["name"], bad["package"]) == ("plugin", "zz-broken", "mmtool-broken")
    assert "no_such_module_for_mmtool" in bad["error"]


def test_list_plugins_table(broken: None) -> None:
    result = run("list-plugins")
    assert result.exit_code == 0
    assert "glft-ladder" in result.stdout and "zz-broken" in result.stdout and "ERROR" in result.stdout
    assert "1 plugin problem(s)" in result.stderr


def test_disable_plugin_option_and_env(broken: None) -> None:
    rows = json.loads(run("--disable-plugin", "zz-broken", "list-plugins", "--json").stdout)
    assert all("error" not in r for r in rows)
    rows = json.loads(run("list-plugins", "--json", env={"MMTOOL_DISABLE_PLUGINS": "zz-broken"}).stdout)
    assert all("error" not in r for r in rows)


def test_generate_then_validate_round_trip(healthy: None, tmp_path: Path) -> None:
    generated = run("generate-config")
    assert generated.exit_code == 0 and "[plugins.glft-ladder]" in generated.stdout
    path = tmp_path / "market_maker.toml"
    out = run("generate-config", "--out", str(path))
    assert out.exit_code == 0 and path.read_text() == generated.stdout
    assert run("generate-config", "--out", str(path)).exit_code == 1  # no silent overwrite
    assert run("generate-config", "--out", str(path), "--force").exit_code == 0
    result = run("validate-config", "--config", str(path))
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"OK {path}: network sim, strategy glft-ladder")
    assert "estimators volatility, intensity, microprice" in result.stdout
    # ./market_maker.toml is found without --config.
    assert run("validate-config").stdout.startswith("OK market_maker.toml: network sim")


def test_validate_reports_every_problem(healthy: None, tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text("[trading]\nrisk_aversion = -1.0\n[logging]\nformat = 'fancy'\n")
    result = run("--config", str(path), "validate-config")
    assert result.exit_code == 1
    assert "2 problems:" in result.stderr
    assert "  trading.risk_aversion: must be > 0 (got -1.0)" in result.stderr
    assert "  logging.format: 'fancy' is not one of 'pretty', 'json', 'compact'" in result.stderr
    assert "Traceback" not in result.output


def test_validate_refuses_broken_plugins(broken: None) -> None:
    result = run("validate-config")
    assert result.exit_code == 1
    assert "mmtool-broken 0.1, entry point 'zz-broken'" in result.stderr


def test_validate_component_problems(healthy: None, tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text("[strategy]\nstrategy_type = 'glft-lader'\n[plugins.glft-ladder]\ngamma = -2.0\n")
    result = run("validate-config", "--config", str(path))
    assert result.exit_code == 1
    assert "strategy.strategy_type: unknown strategy 'glft-lader'; did you mean 'glft-ladder'?" in result.stderr
    assert "plugins.glft-ladder.gamma: must be > 0 (got -2.0)" in result.stderr


def test_validate_needs_a_key_off_the_simulator(healthy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HYPERLIQUID_PRIVATE_KEY", raising=False)
    monkeypatch.delenv("HYPERLIQUID_KEY_FILE", raising=False)
    result = run("validate-config", env={"MMTOOL__NETWORK__NAME": "testnet"})
    assert result.exit_code == 1
    assert "network 'testnet' needs one" in result.stderr


def test_plugin_commands_join_the_group(healthy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    install_module(monkeypatch, "fake_cli_plugin", **vars(commands_plugin(hello_command)))
    healthy_entry_points(monkeypatch, [FakeEntryPoint("cli", "fake_cli_plugin", FakeDist("mmtool-hello"))])
    assert "hello" in run("--help").stdout
    assert run("hello", "--who", "maker").stdout == "hello maker\n"


def test_plugin_command_clashing_with_builtin_is_refused(healthy: None, monkeypatch: pytest.MonkeyPatch) -> None:
    @click.command("list-plugins")
    def impostor() -> None:
        """Pretend to list plugins."""
        click.echo("impostor")

    install_module(monkeypatch, "fake_impostor", **vars(commands_plugin(impostor)))
    healthy_entry_points(monkeypatch, [FakeEntryPoint("impostor", "fake_impostor", FakeDist("mmtool-impostor"))])
    rows = json.loads(run("list-plugins", "--json").stdout)
    errors = [r["error"] for r in rows if "error" in r]
    assert errors and "command 'list-plugins' clashes with a built-in command" in errors[0]
    assert "mmtool-impostor" in errors[0]
    assert "impostor\n" not in run("list-plugins").stdout


def test_mmtool_errors_become_clean_messages(healthy: None) -> None:
    @click.command("explode")
    def explode() -> None:
        """Raise a user error."""
        raise ConfigError("trading.asset: nope")

    main.add_command(explode)
    try:
        result = run("explode")
    finally:
        main.commands.pop("explode")
    assert result.exit_code == 1
    assert result.stderr == "Error: trading.asset: nope\n"


def test_other_exceptions_keep_their_traceback(healthy: None) -> None:
    @click.command("bug")
    def bug() -> None:
        """Raise a programming error."""
        raise KeyError("bug")

    main.add_command(bug)
    try:
        result = CliRunner().invoke(main, ["bug"])
    finally:
        main.commands.pop("bug")
    assert result.exit_code == 1 and isinstance(result.exception, KeyError)


def test_log_options_configure_logging(healthy: None, tmp_path: Path) -> None:
    log_file = tmp_path / "mm.log"
    result = run("--log-format", "json", "--log-file", str(log_file), "--log-level", "debug", "validate-config")
    assert result.exit_code == 0
    import logging

    logging.getLogger("mmtool.test").info("hello from the test")
    line = json.loads(log_file.read_text().strip().splitlines()[-1])
    assert line["event"] == "hello from the test" and line["logger"] == "mmtool.test"
