"""Which parser fast paths run: the C accelerator (``_accel``, from ``accel_c/``) if built.

Theory of operation: the pure-Python parser is complete on its own and is the reference.
The accelerator handles only the common spelling of a message, a Via, a name-addr, a SIP
URI or a CSeq, and returns None whenever it is not sure; the Python code then does the
work, so every error and every odd case is decided in one place. Where the extension is
absent (no C compiler at install time), the stand-ins below return None and nothing else
changes.

Environment (read once, at import):
- ``SIPGUARD_PURE_PYTHON=1`` runs the pure-Python parser even when the extension is built.
- ``SIPGUARD_REQUIRE_ACCEL=1`` makes a missing extension an ImportError; the test suite
  sets it, so a broken build cannot leave CI testing the Python path alone.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType

__all__ = [
    "ACCELERATED",
    "GET_PARAM",
    "auth",
    "cseq",
    "header_names",
    "name_addr",
    "name_addr_list",
    "sip_uri",
    "split_message",
    "via",
    "via_list",
]


def _load() -> ModuleType | None:
    if os.environ.get("SIPGUARD_PURE_PYTHON") == "1":
        return None
    try:
        from sipguard.sip import _accel  # noqa: PLC0415 - optional, compiled at install
    except ImportError:
        if os.environ.get("SIPGUARD_REQUIRE_ACCEL") == "1":
            raise
        return None
    return _accel


def _unsure(*_args: object) -> None:
    return None


_module = _load()
ACCELERATED = _module is not None
"""True when the C fast paths run."""

if _module is not None:
    from sipguard.sip._accel import (
        auth,
        cseq,
        header_names,
        name_addr,
        name_addr_list,
        sip_uri,
        split_message,
        via,
        via_list,
    )
else:
    auth = cseq = name_addr = name_addr_list = sip_uri = split_message = via = via_list = _unsure
    header_names = _unsure

GET_PARAM: Callable[[tuple[tuple[str, str | None], ...], str], str | None] | None = (
    _module.get_param if _module is not None else None
)
"""grammar.get_param in C (not a fast path: it always answers), or None."""
