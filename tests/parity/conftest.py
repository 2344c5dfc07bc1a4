"""Fixtures of the parity tests: logging left as found, and every file written in the test's folder."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from mmtool.core.logsetup import reset_logging


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    level = logging.getLogger().level
    yield
    reset_logging()
    logging.getLogger().setLevel(level)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
