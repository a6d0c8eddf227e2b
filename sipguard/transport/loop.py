"""The event loop sipguard runs on: uvloop when it is installed, else asyncio's default.

Rules of this file: the only place that chooses a loop implementation; everything else
asks ``asyncio.get_running_loop()``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["new_event_loop", "run"]

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    """A new uvloop loop when uvloop imports, else a new default asyncio loop."""
    try:
        import uvloop  # noqa: PLC0415 - optional: absent on Windows
    except ImportError:
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(main: Coroutine[Any, Any, T]) -> T:
    """Run ``main`` to completion on a loop from ``new_event_loop`` and close the loop."""
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)
