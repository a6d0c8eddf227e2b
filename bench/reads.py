"""What a proxy reads from a message, the expected values for bench/messages, and sipguard's
reference reader: shared by parse.py (against the peers) and floor.py (against a floor).

Imported as ``reads`` with bench/ on sys.path (``python bench/<script>.py`` puts it there).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NamedTuple

ROOT = Path(__file__).resolve().parent.parent
MESSAGES_DIR = Path(__file__).resolve().parent / "messages"
MESSAGES = ("invite", "register")


# -- what a proxy reads ----------------------------------------------------------------------

UriRead = tuple[str | None, str, int | None]  # user, host, port (None when absent)


class Reads(NamedTuple):
    """The header values a proxy consults, as returned by one implementation's accessors."""

    vias: tuple[tuple[str, int | None, str | None], ...]  # host, port, branch; top first
    routes: tuple[UriRead, ...]
    max_forwards: int | None
    from_uri: UriRead
    from_tag: str | None
    to_uri: UriRead
    to_tag: str | None
    call_id: str
    cseq: tuple[int, str]
    contacts: tuple[UriRead, ...]
    credentials: tuple[tuple[str, str], ...]  # Authorization: username, response


_PBX = "pbx.example.com"
_PHONE = ("1001", "192.168.1.42", 5060)

# Ground truth, written by hand from bench/messages/*.sip.
EXPECTED: dict[str, Reads] = {
    "invite": Reads(
        vias=(
            ("203.0.113.5", 5060, "z9hG4bK3c1e9a7f0d"),
            ("192.168.1.42", 5060, "z9hG4bK1d9a2f7c6e"),
        ),
        routes=((None, _PBX, None),),
        max_forwards=69,
        from_uri=("1001", _PBX, None),
        from_tag="8b3f9c21a4",
        to_uri=("2001", _PBX, None),
        to_tag=None,
        call_id="5f2c8a1e3d944b7a9e61@192.168.1.42",
        cseq=(102, "INVITE"),
        contacts=(_PHONE,),
        credentials=(),
    ),
    "register": Reads(
        vias=(("192.168.1.42", 5060, "z9hG4bK77e2a51c0b"),),
        routes=(),
        max_forwards=70,
        from_uri=("1001", _PBX, None),
        from_tag="41a9d0c7e3",
        to_uri=("1001", _PBX, None),
        to_tag=None,
        call_id="0b7e5a3c9d1f4e28@192.168.1.42",
        cseq=(2, "REGISTER"),
        contacts=(_PHONE,),
        credentials=(("1001", "ca37371f1a4d50ecaaaf6dafaec848d1"),),
    ),
}


# -- sipguard (the reference) ----------------------------------------------------------------


def _sipguard_unavailable(data: bytes) -> Any:
    raise RuntimeError("sipguard.sip is not importable")


def _load_sipguard() -> tuple[Callable[[bytes], Any], str | None]:
    """Return sipguard's parse_message, or a stand-in and the reason it could not be imported."""
    if str(ROOT) not in sys.path:
        sys.path.append(str(ROOT))  # run from a checkout without an installed sipguard
    try:
        parse = importlib.import_module("sipguard.sip").parse_message
    except (ImportError, AttributeError) as exc:
        return _sipguard_unavailable, f"{type(exc).__name__}: {exc}"
    return parse, None


parse_sipguard, SIPGUARD_MISSING = _load_sipguard()


def read_sipguard(msg: Any) -> Reads:
    from_, to = msg.from_, msg.to
    return Reads(
        tuple([(v.host, v.port, v.branch) for v in msg.vias]),
        tuple([(r.uri.user, r.uri.host, r.uri.port) for r in msg.routes]),
        msg.max_forwards,
        (from_.uri.user, from_.uri.host, from_.uri.port),
        from_.tag,
        (to.uri.user, to.uri.host, to.uri.port),
        to.tag,
        msg.call_id,
        (msg.cseq.seq, msg.cseq.method),
        tuple([(c.uri.user, c.uri.host, c.uri.port) for c in msg.contacts]),
        tuple([(a.params["username"], a.params["response"]) for a in msg.authorization]),
    )


def roundtrip_sipguard(data: bytes) -> bytes:
    msg = parse_sipguard(data)
    read_sipguard(msg)
    out: bytes = msg.to_bytes()
    return out
