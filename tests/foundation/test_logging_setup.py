"""Logging formats, structured fields, idempotent set-up and key redaction."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest

from mmtool.core.logsetup import log_event, redact, setup_logging

KEY = "0x" + "5f" * 32


def _emit(capsys: pytest.CaptureFixture[str], fmt: str) -> str:
    setup_logging("INFO", fmt)  # type: ignore[arg-type]
    log_event(logging.getLogger("mmtool.engine"), "INFO", "Fill processed", side="buy", price="2500.1", note="a b")
    return capsys.readouterr().err


def test_pretty_format(capsys: pytest.CaptureFixture[str]) -> None:
    line = _emit(capsys, "pretty").strip()
    assert re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} INFO  mmtool\.engine  Fill processed side=buy price=2500\.1 "
        r'note="a b"',
        line,
    ), line


def test_compact_format(capsys: pytest.CaptureFixture[str]) -> None:
    line = _emit(capsys, "compact").strip()
    assert re.fullmatch(r'\d\d:\d\d:\d\d\.\d{3} I engine: Fill processed side=buy price=2500\.1 note="a b"', line)


def test_json_format(capsys: pytest.CaptureFixture[str]) -> None:
    record = json.loads(_emit(capsys, "json"))
    assert record["level"] == "INFO" and record["logger"] == "mmtool.engine"
    assert record["event"] == "Fill processed"
    assert (record["side"], record["price"], record["note"]) == ("buy", "2500.1", "a b")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["ts"])


def test_setup_is_idempotent_and_honours_level(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging("INFO", "compact")
    setup_logging("WARNING", "compact")
    logger = logging.getLogger("mmtool.x")
    logger.info("hidden")
    logger.warning("shown")
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("shown")


def test_file_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "log.jsonl"
    setup_logging("DEBUG", "json", str(path))
    logging.getLogger("mmtool.y").debug("to both")
    assert json.loads(path.read_text())["event"] == "to both"
    assert "to both" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["pretty", "compact", "json"])
def test_private_keys_are_redacted(fmt: str, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    path = tmp_path / "log"
    setup_logging("INFO", fmt, str(path))  # type: ignore[arg-type]
    logger = logging.getLogger("mmtool.z")
    logger.info("key is %s", KEY)
    log_event(logger, logging.INFO, "event", key=KEY)
    try:
        raise ValueError(f"bad key {KEY}")
    except ValueError:
        logger.exception("failed")
    out = capsys.readouterr().err + path.read_text()
    assert KEY not in out and KEY[2:] not in out
    assert out.count("0x<redacted>") >= 3


def test_redact_leaves_shorter_hex_alone() -> None:
    cloid = "0x" + "ab" * 16
    assert redact(f"cloid {cloid}") == f"cloid {cloid}"
    assert redact(f"k={KEY}.") == "k=0x<redacted>."


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="not one of"):
        setup_logging("INFO", "fancy")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown log level"):
        log_event(logging.getLogger("x"), "LOUD", "event")
