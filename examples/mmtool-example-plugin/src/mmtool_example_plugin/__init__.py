"""mmtool-example-plugin: the ``example-mid-spread`` strategy and the ``max-open-orders`` risk monitor."""

from __future__ import annotations

__version__ = "0.1.0"
