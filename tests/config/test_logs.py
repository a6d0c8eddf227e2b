"""sipguard/logs.py: one line per event, text or JSON, UTC timestamps, typed fields."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator

import pytest

from sipguard.config import LogConfig
from sipguard.logs import log_fields, setup_logging

TEXT_LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO sipguard\.transport: (.*)")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root, ours = logging.getLogger(), logging.getLogger("sipguard")
    saved = (list(root.handlers), root.level, ours.level)
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    ours.setLevel(saved[2])


def _capture(config: LogConfig) -> io.StringIO:
    stream = io.StringIO()
    setup_logging(config, stream)
    return stream


def test_text_line() -> None:
    stream = _capture(LogConfig())
    logging.getLogger("sipguard.transport").info("listening %s %s", "udp", "127.0.0.1:5060")
    m = TEXT_LINE.fullmatch(stream.getvalue().removesuffix("\n"))
    assert m is not None
    assert m[1] == "listening udp 127.0.0.1:5060"


def test_text_fields_are_key_value_pairs() -> None:
    stream = _capture(LogConfig())
    extra = log_fields(transport="udp", port=5060, note="two words", ok=True, gone=None)
    logging.getLogger("sipguard.transport").info("listening", extra=extra)
    m = TEXT_LINE.fullmatch(stream.getvalue().removesuffix("\n"))
    assert m is not None
    assert m[1] == 'listening transport=udp port=5060 note="two words" ok=true gone=null'


def test_json_object_per_line() -> None:
    stream = _capture(LogConfig(format="json"))
    log = logging.getLogger("sipguard.transport")
    log.info("listening", extra=log_fields(transport="udp", port=5060, msg="not the msg"))
    log.warning("second")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", first["ts"])
    assert first == {
        "ts": first["ts"],
        "level": "info",
        "logger": "sipguard.transport",
        "msg": "listening",
        "transport": "udp",
        "port": 5060,
    }
    assert (second["level"], second["msg"]) == ("warning", "second")


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_line_breaks_and_tracebacks_stay_on_one_line(log_format: str) -> None:
    stream = _capture(LogConfig(format=log_format))
    log = logging.getLogger("sipguard.transport")
    log.info("forged\r\n2026-01-01T00:00:00.000Z ERROR sipguard: injected")
    try:
        _fail()
    except ValueError:
        log.exception("failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    assert "ValueError: boom" in lines[1]
    assert "Traceback" in lines[1]


def test_level_filters_sipguard_and_others_show_warnings_only() -> None:
    stream = _capture(LogConfig(level="warning"))
    logging.getLogger("sipguard.store").info("hidden")
    logging.getLogger("sipguard.store").warning("shown")
    logging.getLogger("aiosqlite").info("hidden too")
    logging.getLogger("asyncio").error("shown too")
    text = stream.getvalue()
    assert "hidden" not in text
    assert "shown" in text
    assert "shown too" in text


def test_debug_level() -> None:
    stream = _capture(LogConfig(level="debug"))
    logging.getLogger("sipguard.x").debug("detail")
    assert " DEBUG sipguard.x: detail" in stream.getvalue()


def test_second_setup_replaces_the_first() -> None:
    first = _capture(LogConfig())
    second = _capture(LogConfig(format="json"))
    logging.getLogger("sipguard").info("once")
    assert first.getvalue() == ""
    assert json.loads(second.getvalue())["msg"] == "once"


def _fail() -> None:
    raise ValueError("boom")
