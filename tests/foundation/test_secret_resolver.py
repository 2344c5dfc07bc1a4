"""The built-in private-key resolver: environment, .env, key file permissions; never echoing the key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mmtool.core.config import Settings
from mmtool.core.config_loader import resolve_private_key
from mmtool.core.errors import ConfigError
from mmtool.core.plugins import Registry
from mmtool.plugins import secrets

KEY = "0x" + "1a" * 32
OTHER = "0x" + "2b" * 32


@pytest.fixture
def clean(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("HYPERLIQUID_PRIVATE_KEY", raising=False)
    monkeypatch.delenv("HYPERLIQUID_KEY_FILE", raising=False)
    return tmp_path


def _resolve() -> str | None:
    return resolve_private_key(Settings(), Registry.from_plugins(secrets)).private_key


def test_environment_wins_over_dotenv(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (clean / ".env").write_text(f"HYPERLIQUID_PRIVATE_KEY={OTHER}\n")
    assert _resolve() == OTHER
    monkeypatch.setenv("HYPERLIQUID_PRIVATE_KEY", KEY)
    assert _resolve() == KEY


def test_nothing_set_leaves_settings_unchanged(clean: Path) -> None:
    settings = Settings()
    assert resolve_private_key(settings, Registry.from_plugins(secrets)) is settings


def test_dotenv_parser() -> None:
    text = "# comment\n\nexport A=1\nB = 'two words'\nC=\"x\"\nD=plain # trailing\nnot a pair\n"
    assert secrets.parse_dotenv(text) == {"A": "1", "B": "two words", "C": "x", "D": "plain"}


def test_key_without_prefix_is_normalised(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERLIQUID_PRIVATE_KEY", KEY[2:])
    assert _resolve() == KEY


def test_malformed_key_is_refused_without_echo(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERLIQUID_PRIVATE_KEY", "0xdeadbeefcafe")
    with pytest.raises(ConfigError) as raised:
        _resolve()
    assert "deadbeefcafe" not in str(raised.value) and "HYPERLIQUID_PRIVATE_KEY" in str(raised.value)


def test_key_file_with_0600(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = clean / "key"
    path.write_text(KEY + "\n")
    os.chmod(path, 0o600)
    monkeypatch.setenv("HYPERLIQUID_KEY_FILE", str(path))
    assert _resolve() == KEY


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_key_file_readable_by_others_is_refused(clean: Path, monkeypatch: pytest.MonkeyPatch, mode: int) -> None:
    path = clean / "key"
    path.write_text(KEY)
    os.chmod(path, mode)
    (clean / ".env").write_text(f"HYPERLIQUID_KEY_FILE={path}\n")
    with pytest.raises(ConfigError, match=f"permissions {mode:04o}, wider than 0600") as raised:
        _resolve()
    assert KEY not in str(raised.value)


def test_missing_key_file(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERLIQUID_KEY_FILE", str(clean / "absent"))
    with pytest.raises(ConfigError, match="does not exist"):
        _resolve()


@pytest.mark.parametrize("kind", ["binary", "directory"])
def test_an_unreadable_key_file_is_a_config_error_that_shows_nothing_of_it(
    clean: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    path = clean / "key"
    if kind == "directory":
        path.mkdir(mode=0o700)
    else:
        path.write_bytes(b"\xff\xfe" + bytes.fromhex(KEY[2:]))
        os.chmod(path, 0o600)
    monkeypatch.setenv("HYPERLIQUID_KEY_FILE", str(path))
    with pytest.raises(ConfigError, match="cannot read key file") as raised:
        _resolve()
    assert "1a" not in str(raised.value).replace(str(path), ""), "no byte of the key in the message"


def test_an_undecodable_dotenv_is_a_config_error(clean: Path) -> None:
    (clean / ".env").write_bytes(b"HYPERLIQUID_PRIVATE_KEY=\xff" + KEY[2:].encode())
    with pytest.raises(ConfigError, match="cannot read it") as raised:
        _resolve()
    assert KEY[2:] not in str(raised.value)


def test_other_secret_names_are_not_answered(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERLIQUID_PRIVATE_KEY", KEY)
    registry = Registry.from_plugins(secrets)
    assert registry.hook.mmtool_resolve_secret(name="vault_token", settings=Settings()) is None


def test_resolved_key_stays_out_of_repr(clean: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERLIQUID_PRIVATE_KEY", KEY)
    settings = resolve_private_key(Settings(), Registry.from_plugins(secrets))
    assert settings.private_key == KEY and KEY not in repr(settings)
