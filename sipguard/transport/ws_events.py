"""What ``WebSocketServer.next_event()`` returns: one small frozen dataclass per event.

Rules of this file:
- Values only: no behaviour, no I/O. Every byte the transport must write is a field of an
  event (``b""`` means nothing to write), so the order of the events is the order on the wire.
- ``FramedMessage`` and ``NEED_DATA`` are the stream framer's (``sipguard.sip.framing``), so
  the transport delivers SIP from TCP and from WebSocket the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipguard.sip.framing import FramedMessage, NeedData
from sipguard.transport.ws_frames import CloseCode

__all__ = ["Closed", "Failed", "PendingWrite", "Refused", "Upgraded", "WebSocketEvent"]


@dataclass(frozen=True, slots=True)
class Upgraded:
    """The handshake succeeded: write ``response`` (the 101); the connection is OPEN."""

    response: bytes
    origin: str | None
    """The Origin header, lowercased (RFC 6455 §4.2.2 /origin/), or None if absent."""
    path: str
    """The resource name: path and query of the request-target."""


@dataclass(frozen=True, slots=True)
class Refused:
    """The handshake was refused: write ``response`` (an HTTP 4xx), then close."""

    response: bytes
    reason: str


@dataclass(frozen=True, slots=True)
class PendingWrite:
    """Bytes the codec must send on its own (a Pong, a CRLF keep-alive answer)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class Closed:
    """The connection is over: the peer's Close arrived (``code``, ``reason`` from it; 1005
    if it had none), or the stream ended first (1006). Write ``reply``, then close."""

    code: int
    reason: str
    reply: bytes


@dataclass(frozen=True, slots=True)
class Failed:
    """RFC 6455 §7.1.7 _Fail the WebSocket Connection_: write ``reply``, then close."""

    code: CloseCode
    reason: str
    reply: bytes


WebSocketEvent = Upgraded | Refused | FramedMessage | PendingWrite | Closed | Failed | NeedData
