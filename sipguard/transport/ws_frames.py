"""WebSocket frames (RFC 6455 §5) and close codes (§7.4): pure encode and decode functions.

Rules of this file:
- Pure: bytes in, values or bytes out. No buffer is kept, no state, no I/O.
- ``parse_header`` checks a whole header (RSV bits, opcode, mask bit, control-frame size,
  length encoding) as soon as it is readable, so a bad or oversized frame is refused before
  a payload byte is waited for.
- Our frames are never masked, never fragmented and carry no extension (none is negotiated,
  so every RSV bit received must be 0).
- A peer's violation raises ``FrameError(code, reason)``, which never leaves the codec:
  ``WebSocketServer`` turns it into a ``Failed`` event. Our own misuse (a close code that
  must not be sent, a reason too long) raises ValueError.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

__all__ = [
    "MAX_CONTROL_PAYLOAD",
    "MAX_FRAME_HEADER",
    "CloseCode",
    "FrameError",
    "FrameHeader",
    "Opcode",
    "close_frame",
    "encode_frame",
    "is_utf8",
    "parse_close",
    "parse_header",
    "unmask",
]

MAX_CONTROL_PAYLOAD = 125
MAX_FRAME_HEADER = 14
"""2 fixed bytes + 8 bytes of extended length + 4 bytes of masking key."""


class CloseCode(IntEnum):
    """RFC 6455 §7.4.1 status codes this codec sends or reports."""

    NORMAL = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    NO_STATUS = 1005
    ABNORMAL = 1006
    INVALID_DATA = 1007
    POLICY = 1008
    TOO_BIG = 1009


class Opcode(IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


_OPCODES = frozenset(int(opcode) for opcode in Opcode)


class FrameError(Exception):
    """The peer broke RFC 6455: fail the connection with ``code`` (§7.1.7)."""

    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason


@dataclass(frozen=True, slots=True)
class FrameHeader:
    fin: bool
    opcode: Opcode
    size: int
    """Header bytes, masking key included."""
    length: int
    """Payload bytes."""


def parse_header(buffer: bytearray) -> FrameHeader | None:
    """The header at the start of ``buffer`` once its length is readable, else None.

    Raises FrameError for a header that breaks RFC 6455 §5.
    """
    if len(buffer) < 2:
        return None
    first, second = buffer[0], buffer[1]
    if first & 0x70:  # RFC 6455 §5.2: RSV MUST be 0 unless an extension defines it
        raise FrameError(CloseCode.PROTOCOL_ERROR, "reserved bits set")
    if (first & 0x0F) not in _OPCODES:  # §5.2: an unknown opcode MUST fail the connection
        raise FrameError(CloseCode.PROTOCOL_ERROR, "unknown opcode")
    opcode, fin, length = Opcode(first & 0x0F), bool(first & 0x80), second & 0x7F
    if not second & 0x80:  # §5.1: a client MUST mask every frame; a server MUST close
        raise FrameError(CloseCode.PROTOCOL_ERROR, "unmasked client frame")
    if opcode >= Opcode.CLOSE and (not fin or length > MAX_CONTROL_PAYLOAD):
        # §5.5: control frames MUST be 125 bytes or less and MUST NOT be fragmented.
        raise FrameError(CloseCode.PROTOCOL_ERROR, "fragmented or oversized control frame")
    extended = {126: 2, 127: 8}.get(length, 0)
    if len(buffer) < 2 + extended:
        return None
    if extended:
        length = int.from_bytes(buffer[2 : 2 + extended], "big")
        if length >> 63:  # §5.2: the most significant bit MUST be 0
            raise FrameError(CloseCode.PROTOCOL_ERROR, "64-bit length with the MSB set")
        if length < (126 if extended == 2 else 1 << 16):  # §5.2: minimal bytes MUST be used
            raise FrameError(CloseCode.PROTOCOL_ERROR, "length not minimally encoded")
    return FrameHeader(fin, opcode, 2 + extended + 4, length)


def unmask(key: bytes, payload: bytes) -> bytes:
    """RFC 6455 §5.3: octet i XOR key octet i mod 4 (one big-integer XOR, not a byte loop)."""
    size = len(payload)
    stream = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(size, "big")


def encode_frame(opcode: Opcode, payload: bytes) -> bytes:
    """One final, unmasked server frame (§5.1: a server MUST NOT mask)."""
    size = len(payload)
    if size < 126:
        head = bytes((0x80 | opcode, size))
    elif size < 1 << 16:
        head = bytes((0x80 | opcode, 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((0x80 | opcode, 127)) + size.to_bytes(8, "big")
    return head + payload


def _sendable(code: int) -> bool:
    """Close codes allowed on the wire: §7.4.1 (1012-1014 added to the IANA registry later),
    and §7.4.2's ranges for applications; 1004-1006 and 1015 MUST NOT be sent."""
    return 1000 <= code <= 1003 or 1007 <= code <= 1014 or 3000 <= code <= 4999


def close_frame(code: int, reason: str = "") -> bytes:
    """A Close frame; raises ValueError for a code that must not be sent or a reason over
    123 bytes."""
    encoded = reason.encode("utf-8")
    if not _sendable(code) or 2 + len(encoded) > MAX_CONTROL_PAYLOAD:
        raise ValueError("invalid close code, or reason over 123 bytes")
    return encode_frame(Opcode.CLOSE, code.to_bytes(2, "big") + encoded)


def parse_close(payload: bytes) -> tuple[int, str]:
    """The (code, reason) of a received Close frame's payload; raises FrameError."""
    if not payload:
        return CloseCode.NO_STATUS, ""  # §7.1.5: no status code is reported as 1005
    code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 0
    if not _sendable(code):  # §5.5.1: a body starts with a 2-byte status code
        raise FrameError(CloseCode.PROTOCOL_ERROR, "invalid close code")
    try:
        return code, payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise FrameError(CloseCode.INVALID_DATA, "close reason is not UTF-8") from None


def is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
