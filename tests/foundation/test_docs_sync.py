"""docs/cli.md and docs/configuration.md stay equal to what scripts/gen_docs.py generates from the live code."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType

import attrs
import pytest
from click.testing import CliRunner

from mmtool.cli import BUILTINS_ONLY, main
from mmtool.core.config import Settings
from mmtool.core.summary import SUMMARY_KEYS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def gen_docs() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mmtool_gen_docs", ROOT / "scripts" / "gen_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_doc_matches_live_help(gen_docs: ModuleType) -> None:
    fresh = gen_docs.refreshed()[gen_docs.CLI_DOC]
    assert gen_docs.CLI_DOC.read_text(encoding="utf-8") == fresh, "run: .venv/bin/python scripts/gen_docs.py"
    for name in main.commands:
        assert f"## mmtool {name}\n" in fresh
        live = CliRunner().invoke(main, [name, "--help"], prog_name="mmtool", obj=BUILTINS_ONLY, terminal_width=100)
        assert live.stdout.rstrip() in fresh


def test_config_doc_matches_schema(gen_docs: ModuleType) -> None:
    fresh = gen_docs.refreshed()[gen_docs.CONFIG_DOC]
    assert gen_docs.CONFIG_DOC.read_text(encoding="utf-8") == fresh, "run: .venv/bin/python scripts/gen_docs.py"

    def keys(prefix: str, cls: type) -> list[str]:
        out = []
        for field in attrs.fields(attrs.resolve_types(cls)):
            if isinstance(field.type, type) and attrs.has(field.type):
                out += keys(f"{prefix}.{field.name}", field.type)
            else:
                out.append(f"{prefix}.{field.name}")
        return out

    checked = 0
    for section in attrs.fields(attrs.resolve_types(Settings)):
        if isinstance(section.type, type) and attrs.has(section.type):
            for key in keys(section.name, section.type):
                assert f"| `{key}` |" in fresh, key
                checked += 1
    assert checked > 40


def test_replace_region_keeps_prose(gen_docs: ModuleType) -> None:
    text = "intro\n<!-- BEGIN GENERATED: x -->\nold\n<!-- END GENERATED: x -->\noutro\n"
    assert gen_docs.replace_region(text, "x", "new") == (
        "intro\n<!-- BEGIN GENERATED: x -->\nnew\n<!-- END GENERATED: x -->\noutro\n"
    )
    with pytest.raises(ValueError, match="markers"):
        gen_docs.replace_region("no markers", "x", "new")


def test_summary_doc_lists_exactly_the_summary_keys() -> None:
    doc = (ROOT / "docs" / "summary.md").read_text(encoding="utf-8")
    rows = [line.split("|")[1] for line in doc.splitlines() if line.startswith("| `")]
    documented = [key for cell in rows for key in re.findall(r"`([a-z0-9_]+)`", cell)]
    assert documented == list(SUMMARY_KEYS), "docs/summary.md lists the keys of mmtool.core.summary, in order"
