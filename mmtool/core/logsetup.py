"""Logging set-up: pretty, compact or JSON lines on stderr (and a file), with structured fields and redaction.

Structured fields travel in ``extra={"fields": {...}}`` (see :func:`log_event`); the pretty and compact formats
print them as ``key=value`` after the message, the JSON format flattens them into the object. A filter on
every handler redacts anything shaped like a private key (``0x`` + 64 hex digits), as a last line of defence.
"""

from __future__ import annotations

import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Mapping
from typing import Any, Literal

LogFormat = Literal["pretty", "json", "compact"]
_MARK = "_mmtool_handler"
_KEY_PATTERN = re.compile(r"0x[0-9a-fA-F]{64}(?![0-9a-fA-F])")
REDACTED = "0x<redacted>"
_JSON_CORE = ("ts", "level", "logger", "event")
_COLORS = {"DEBUG": "\x1b[2m", "INFO": "\x1b[32m", "WARNING": "\x1b[33m", "ERROR": "\x1b[31m", "CRITICAL": "\x1b[41m"}


def redact(text: str) -> str:
    """Replace every private-key-shaped substring with ``0x<redacted>``."""
    return _KEY_PATTERN.sub(REDACTED, text)


def _fields(record: logging.LogRecord) -> Mapping[str, Any]:
    fields = getattr(record, "fields", None)
    return fields if isinstance(fields, Mapping) else {}


def _kv(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if (not text or any(c.isspace() or c in '="' for c in text)) else text


class RedactFilter(logging.Filter):
    """Redacts private-key-shaped text from the message and the structured fields of every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Rewrite the record in place; never drops it."""
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        fields = _fields(record)
        if fields:
            record.fields = {k: redact(v) if isinstance(v, str) else v for k, v in fields.items()}
        return True


class _TextFormatter(logging.Formatter):
    """``pretty`` and ``compact`` lines: time, level, logger, message, then ``key=value`` fields."""

    def __init__(self, compact: bool, color: bool) -> None:
        super().__init__()
        self.compact = compact
        self.color = color

    def format(self, record: logging.LogRecord) -> str:
        stamp = time.gmtime(record.created)
        millis = int(record.msecs)
        level = record.levelname
        if self.compact:
            name = record.name.removeprefix("mmtool.")
            head = f"{time.strftime('%H:%M:%S', stamp)}.{millis:03d} {level[0]} {name}:"
        else:
            shown = f"{level:<5}"
            if self.color:
                shown = f"{_COLORS.get(level, '')}{shown}\x1b[0m"
            head = f"{time.strftime('%Y-%m-%d %H:%M:%S', stamp)}.{millis:03d} {shown} {record.name} "
        line = f"{head} {record.getMessage()}"
        fields = _fields(record)
        if fields:
            line += " " + " ".join(f"{k}={_kv(v)}" for k, v in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return redact(line)


def _finite(value: Any) -> Any:
    """Non-finite floats as strings (``"nan"``, ``"inf"``): JSON has no NaN, and jq rejects it."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts``, ``level``, ``logger``, ``event`` and the structured fields.

    The line is strict JSON (non-finite floats become strings) so ``jq`` and log shippers parse every line.
    """

    def format(self, record: logging.LogRecord) -> str:
        """Serialise the record; values JSON cannot encode are written as strings."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        out: dict[str, Any] = {
            "ts": f"{stamp}.{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "event": record.getMessage(),
        }
        for key, value in _fields(record).items():
            out[f"{key}_" if key in _JSON_CORE else key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        try:
            text = json.dumps(out, default=str, ensure_ascii=False, allow_nan=False)
        except ValueError:
            text = json.dumps(_finite(out), default=str, ensure_ascii=False, allow_nan=False)
        return redact(text)


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at emit time (so redirection by test runners is honoured)."""

    def emit(self, record: logging.LogRecord) -> None:
        """Point at the current ``sys.stderr``, then write the record."""
        self.stream = sys.stderr
        super().emit(record)


def _formatter(fmt: LogFormat, stream: Any) -> logging.Formatter:
    if fmt == "json":
        return JsonFormatter()
    if fmt not in ("pretty", "compact"):
        raise ValueError(f"log format {fmt!r} is not one of 'pretty', 'json', 'compact'")
    color = fmt == "pretty" and hasattr(stream, "isatty") and stream.isatty() and "NO_COLOR" not in os.environ
    return _TextFormatter(compact=fmt == "compact", color=bool(color))


def setup_logging(level: str = "INFO", fmt: LogFormat = "pretty", file: str | None = None) -> None:
    """Configure the root logger: stderr, plus ``file`` when given (never colored).

    Idempotent: handlers installed by an earlier call are removed first, other handlers are left alone.
    """
    reset_logging()
    root = logging.getLogger()
    handlers: list[logging.Handler] = [_StderrHandler()]
    handlers[0].setFormatter(_formatter(fmt, sys.stderr))
    if file:
        file_handler = logging.FileHandler(file, encoding="utf-8")
        file_handler.setFormatter(_formatter(fmt, None))
        handlers.append(file_handler)
    for handler in handlers:
        setattr(handler, _MARK, True)
        handler.addFilter(RedactFilter())
        root.addHandler(handler)
    root.setLevel(level.upper())


def reset_logging() -> None:
    """Remove the handlers :func:`setup_logging` installed (other handlers are left alone)."""
    root = logging.getLogger()
    for handler in list(root.handlers):
        if getattr(handler, _MARK, False):
            root.removeHandler(handler)
            handler.close()


def log_event(logger: logging.Logger, level: int | str, event: str, **fields: Any) -> None:
    """Log ``event`` with structured ``fields`` (``extra={"fields": fields}``), e.g.
    ``log_event(log, "INFO", "Fill processed", side="buy", price="2500.1")``."""
    number = logging.getLevelName(level.upper()) if isinstance(level, str) else level
    if not isinstance(number, int):
        raise ValueError(f"unknown log level {level!r}")
    logger.log(number, event, extra={"fields": fields}, stacklevel=2)
