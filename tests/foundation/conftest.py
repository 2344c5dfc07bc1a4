"""Fixtures of the foundation tests: the mmtool.testing plugin's fixtures, and logging left as found."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from mmtool.core.logsetup import reset_logging
from mmtool.testing import plugin_manager  # noqa: F401  (the opt-in fixture, used as plugin authors would)


@pytest.fixture(autouse=True)
def _clean_logging() -> Iterator[None]:
    level = logging.getLogger().level
    yield
    reset_logging()
    logging.getLogger().setLevel(level)
