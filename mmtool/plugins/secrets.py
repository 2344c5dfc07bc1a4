"""Built-in secret resolver: the private key from the environment, a ``.env`` file or a 0600 key file.

Order: ``HYPERLIQUID_PRIVATE_KEY`` in the environment, then in ``./.env``; then the file named by
``HYPERLIQUID_KEY_FILE`` (environment first, then ``.env``), refused when group or others may read it. The
key is checked for shape (32 bytes of hex) but never echoed in a message.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mmtool.core.errors import ConfigError
from mmtool.core.hookspecs import hookimpl

PRIVATE_KEY_ENV = "HYPERLIQUID_PRIVATE_KEY"
KEY_FILE_ENV = "HYPERLIQUID_KEY_FILE"
DOTENV = ".env"
_KEY_SHAPE = re.compile(r"^(0x)?[0-9a-fA-F]{64}$")


def parse_dotenv(text: str) -> dict[str, str]:
    """Parse ``KEY=VALUE`` lines: ``#`` comments, blank lines, an optional ``export``, optional quotes."""
    values: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        key = key.strip().removeprefix("export ").strip()
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        elif " #" in value:  # an unquoted value may carry a trailing comment
            value = value.split(" #", 1)[0].rstrip()
        if key:
            values[key] = value
    return values


def read_dotenv(directory: Path | None = None) -> dict[str, str]:
    """The ``.env`` file of ``directory`` (default: the working directory) as a dict; empty when absent."""
    path = (directory or Path.cwd()) / DOTENV
    try:
        return parse_dotenv(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:  # the error's text may quote bytes of a secret: name the kind only
        raise ConfigError(f"{path}: cannot read it ({type(exc).__name__}); content not shown") from None


def _check_shape(key: str, source: str) -> str:
    if not _KEY_SHAPE.match(key):
        raise ConfigError(f"{source}: not a private key (expected 0x followed by 64 hex digits); value not shown")
    return key if key.startswith("0x") else f"0x{key}"


def read_key_file(path: Path) -> str:
    """Read a key file, refusing one whose permissions are wider than 0600."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        raise ConfigError(f"{KEY_FILE_ENV}: key file {path} does not exist") from None
    except OSError as exc:
        raise ConfigError(f"{KEY_FILE_ENV}: cannot read key file {path} ({type(exc).__name__})") from None
    if mode & 0o077:
        raise ConfigError(
            f"{KEY_FILE_ENV}: key file {path} has permissions {mode:04o}, wider than 0600; run `chmod 600 {path}`"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:  # the error's text may quote bytes of the key: name the kind only
        raise ConfigError(
            f"{KEY_FILE_ENV}: cannot read key file {path} ({type(exc).__name__}); content not shown"
        ) from None
    return _check_shape(text.strip(), f"{KEY_FILE_ENV} ({path})")


def find_private_key(env: Mapping[str, str], dotenv: Mapping[str, str]) -> str | None:
    """The private key from the environment, the ``.env`` values or a key file, or None when none is set."""
    for source, values in (("environment", env), (DOTENV, dotenv)):
        key = values.get(PRIVATE_KEY_ENV, "").strip()
        if key:
            return _check_shape(key, f"{PRIVATE_KEY_ENV} ({source})")
    for values in (env, dotenv):
        key_file = values.get(KEY_FILE_ENV, "").strip()
        if key_file:
            return read_key_file(Path(key_file).expanduser())
    return None


@hookimpl(trylast=True)
def mmtool_resolve_secret(name: str, settings: Any) -> str | None:
    """Resolve ``private_key`` from ``HYPERLIQUID_PRIVATE_KEY`` / ``.env`` / ``HYPERLIQUID_KEY_FILE``."""
    if name != "private_key":
        return None
    return find_private_key(os.environ, read_dotenv())
