"""Fixtures of the backtest tests: logging left as found, and every file written in the test's folder."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from mmtool.core.logsetup import reset_logging


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    level = logging.getLogger().level
    yield
    reset_logging()
    logging.getLogger().setLevel(level)


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
