"""``python -m mmtool``: the same as the ``mmtool`` command."""

from __future__ import annotations

from mmtool.cli import main

main()
