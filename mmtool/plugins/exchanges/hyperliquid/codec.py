"""JSON encoding for the wire: orjson when it is installed (several times faster), the standard library otherwise.

Both produce compact JSON with the dicts' key order kept, which is all the exchange needs (the signature covers
the msgpack form of the action, not the JSON text).
"""

from __future__ import annotations

import json
from typing import Any

try:  # a dependency; the fallback keeps the adapter working where no orjson wheel exists
    import orjson as _orjson
except ImportError:  # pragma: no cover - depends on what is installed
    _orjson = None

#: True when the fast orjson backend is in use.
FAST = _orjson is not None


def _loads_std(data: bytes | str) -> Any:
    return json.loads(data)


def _dumps_std(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


if _orjson is not None:
    loads = _orjson.loads
    dumps = _orjson.dumps
else:  # pragma: no cover - depends on what is installed
    loads = _loads_std
    dumps = _dumps_std

__all__ = ["FAST", "dumps", "loads"]
