"""Refresh the generated parts of docs/cli.md (every command's --help) and docs/configuration.md (every key).

Usage: ``.venv/bin/python scripts/gen_docs.py`` rewrites both; ``--check`` only reports (exit 1) when either
is out of date. The generated text sits between ``<!-- BEGIN GENERATED: x -->`` and ``<!-- END GENERATED: x -->``
markers; the prose around them is kept.
"""

from __future__ import annotations

import sys
from pathlib import Path

import attrs
import click
from click.testing import CliRunner

from mmtool.cli import BUILTINS_ONLY, main
from mmtool.core.config import Settings
from mmtool.core.config_loader import ENV_PREFIX, toml_value, type_label

ROOT = Path(__file__).resolve().parents[1]
CLI_DOC = ROOT / "docs" / "cli.md"
CONFIG_DOC = ROOT / "docs" / "configuration.md"
HELP_WIDTH = 100


def help_text(*path: str) -> str:
    """The ``--help`` output of ``mmtool <path>``, built-in commands only, at a fixed width."""
    result = CliRunner().invoke(
        main, [*path, "--help"], prog_name="mmtool", obj=BUILTINS_ONLY, terminal_width=HELP_WIDTH
    )
    if result.exit_code != 0:
        raise RuntimeError(f"mmtool {' '.join(path)} --help failed: {result.output}")
    return result.stdout


def _command_paths(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = []
    for name in sorted(group.commands):
        command = group.commands[name]
        if command.hidden:
            continue
        paths.append((*prefix, name))
        if isinstance(command, click.Group):
            paths += _command_paths(command, (*prefix, name))
    return paths


def render_cli_help() -> str:
    """One ``## mmtool ...`` section per command, each with its ``--help`` text."""
    sections = []
    for path in [(), *_command_paths(main)]:
        title = " ".join(("mmtool", *path))
        sections.append(f"## {title}\n\n```text\n{help_text(*path).rstrip()}\n```\n")
    return "\n".join(sections)


def _default_text(field: attrs.Attribute) -> str:
    if field.default is attrs.NOTHING:
        return "required"
    default = field.default.factory() if isinstance(field.default, attrs.Factory) else field.default  # type: ignore[arg-type]
    return "not set" if default is None else f"`{toml_value(default)}`"


def render_config_reference() -> str:
    """A table per section of ``market_maker.toml``: key, type, default, description."""
    out = []

    def table(header: str, cls: type) -> None:
        fields = attrs.fields(attrs.resolve_types(cls))
        out.append(f"### `[{header}]`\n\n{(cls.__doc__ or '').strip().splitlines()[0]}\n")
        out.append("| key | type | default | description |\n| --- | --- | --- | --- |")
        nested = []
        for field in fields:
            if isinstance(field.type, type) and attrs.has(field.type):
                nested.append(field)
                continue
            env = f"{ENV_PREFIX}{header.replace('.', '__').upper()}__{field.name.upper()}"
            description = field.metadata.get("help", "").replace("|", "\\|")
            kind = type_label(field.type).replace("|", "\\|")
            out.append(
                f"| `{header}.{field.name}` | {kind} | {_default_text(field)} | {description} (env `{env}`) |"
            )
        out.append("")
        for field in nested:
            table(f"{header}.{field.name}", field.type)

    for field in attrs.fields(attrs.resolve_types(Settings)):
        if isinstance(field.type, type) and attrs.has(field.type):
            table(field.name, field.type)
    return "\n".join(out)


def replace_region(text: str, name: str, content: str) -> str:
    """Replace what lies between the ``name`` markers in ``text`` with ``content``."""
    begin, end = f"<!-- BEGIN GENERATED: {name} -->", f"<!-- END GENERATED: {name} -->"
    head, found, rest = text.partition(begin)
    if not found or end not in rest:
        raise ValueError(f"markers for {name!r} not found")
    return f"{head}{begin}\n{content.strip()}\n{end}{rest.partition(end)[2]}"


def refreshed() -> dict[Path, str]:
    """The new text of each generated document."""
    return {
        CLI_DOC: replace_region(CLI_DOC.read_text(encoding="utf-8"), "cli-help", render_cli_help()),
        CONFIG_DOC: replace_region(
            CONFIG_DOC.read_text(encoding="utf-8"), "config-reference", render_config_reference()
        ),
    }


def run(argv: list[str]) -> int:
    """Write (or with ``--check``, compare) the generated documents; return the exit status."""
    stale = [path for path, text in refreshed().items() if path.read_text(encoding="utf-8") != text]
    if "--check" in argv:
        for path in stale:
            print(f"{path.relative_to(ROOT)} is out of date; run: .venv/bin/python scripts/gen_docs.py")
        return 1 if stale else 0
    for path, text in refreshed().items():
        path.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1:]))
