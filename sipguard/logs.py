"""Log set-up: one line per event, as text or JSON, timestamps in UTC.

Rules of this file: only ``setup_logging`` touches the logging tree, and calling it again
replaces what it installed; nothing here logs per SIP message (callers log events:
start, stop, a listener opening, a ban). Every record becomes exactly one line: line
breaks in a message or a traceback are escaped, so a log line cannot be forged by
input that ends up in a message.

Structured fields: pass ``extra=log_fields(key=value, ...)``; JSON puts them at the top
level of the object (never overriding ``ts``, ``level``, ``logger``, ``msg``), text
appends ``key=value`` pairs::

    log.info("listening", extra=log_fields(transport="udp", address="127.0.0.1:5060"))
    # 2026-11-25T17:00:00.123Z INFO sipguard.transport: listening transport=udp address=...
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Mapping
from typing import TextIO

from sipguard.config import LogConfig

__all__ = ["FieldValue", "JsonFormatter", "TextFormatter", "log_fields", "setup_logging"]

FieldValue = str | int | float | bool | None
"""What a structured field may hold: it must render the same in text and JSON."""

_FIELDS = "fields"
_CORE = ("ts", "level", "logger", "msg")
# Third-party loggers (asyncio, aiosqlite) show warnings and worse in the same format.
_OTHERS_LEVEL = logging.WARNING


def log_fields(**values: FieldValue) -> dict[str, Mapping[str, FieldValue]]:
    """The ``extra=`` mapping carrying structured fields for one log call."""
    return {_FIELDS: values}


def setup_logging(config: LogConfig, stream: TextIO | None = None) -> None:
    """Send sipguard's log records (at ``config.level``) to ``stream`` (stderr) as one line each.

    Installs one handler on the root logger, replacing one installed earlier by this
    function; the ``sipguard`` logger gets ``config.level``, others show warnings and up.
    """
    root = logging.getLogger()
    for old in [h for h in root.handlers if isinstance(h, _Handler)]:
        root.removeHandler(old)
    handler = _Handler(stream if stream is not None else sys.stderr)
    handler.setFormatter(JsonFormatter() if config.format == "json" else TextFormatter())
    root.addHandler(handler)
    root.setLevel(_OTHERS_LEVEL)
    logging.getLogger("sipguard").setLevel(config.level.upper())


class _Handler(logging.StreamHandler[TextIO]):
    """Marks the handler setup_logging installed, so a second call can replace it."""


class TextFormatter(logging.Formatter):
    """``2026-11-25T17:00:00.123Z INFO sipguard.transport: message key=value``."""

    def format(self, record: logging.LogRecord) -> str:
        line = f"{_timestamp(record)} {record.levelname} {record.name}: {record.getMessage()}"
        for key, value in _fields_of(record).items():
            line += f" {key}={_text_value(value)}"
        if record.exc_info:
            line += " | " + self.formatException(record.exc_info)
        return _one_line(line)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, msg, the caller's fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        core: dict[str, object] = {
            "ts": _timestamp(record),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        extra = {k: v for k, v in _fields_of(record).items() if k not in _CORE}
        out = core | extra
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        # json.dumps escapes line breaks: one object is always one line.
        return json.dumps(out, default=str)


def _timestamp(record: logging.LogRecord) -> str:
    seconds = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
    return f"{seconds}.{int(record.msecs):03d}Z"


def _fields_of(record: logging.LogRecord) -> Mapping[str, object]:
    values = record.__dict__.get(_FIELDS)
    return values if isinstance(values, Mapping) else {}


def _text_value(value: object) -> str:
    text = str(value) if isinstance(value, str) else json.dumps(value, default=str)
    needs_quotes = not text or any(c in text for c in ' "=\\') or not text.isprintable()
    return json.dumps(text) if needs_quotes else text


def _one_line(text: str) -> str:
    return text.replace("\r", "\\r").replace("\n", "\\n")
