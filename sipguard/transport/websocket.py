"""WebSocket server codec for SIP over WebSocket (RFC 6455, RFC 7118), sans-I/O.

Theory of operation
-------------------
The stream transport owns one ``WebSocketServer`` per accepted ws/wss connection. It feeds
the bytes it reads with ``receive_data()`` (``b""`` = the peer closed) and then calls
``next_event()`` until it returns ``NEED_DATA``, writing the bytes each event carries, in the
order the events come. There is no ``data_to_send()``: every byte to write is either a field
of an event (``Upgraded.response``, ``Refused.response``, ``PendingWrite.data``,
``Closed.reply``, ``Failed.reply``; ``b""`` means nothing) or the return value of
``send_message()``, ``ping()`` and ``close()``. Once ``closed`` is true the transport writes
what it was given and closes the TCP connection (RFC 6455 §5.5.1: the server closes first).

    HANDSHAKE  buffering the HTTP upgrade request (at most max_handshake_size bytes).
               Valid → Upgraded (the 101 to write) → OPEN. Invalid → Refused (4xx) → CLOSED.
    OPEN       frames in. A complete data message → FramedMessage; a message that is exactly
               CRLFCRLF (RFC 5626 §3.5.1 keep-alive, RFC 7118 §6) → PendingWrite(CRLF pong);
               a lone CRLF is skipped. Ping → PendingWrite(Pong). Pong → nothing.
               The peer's Close → Closed(reply = our Close) → CLOSED. ``close()`` → CLOSING.
    CLOSING    our Close is out; frames are still read (messages still delivered, pings
               still answered) until the peer's Close → Closed(reply=b"") → CLOSED.
    CLOSED     terminal: ``receive_data()`` ignores its input, ``next_event()`` is NEED_DATA.

A violation in OPEN or CLOSING → Failed(code, reason, reply) → CLOSED, where reply is a Close
frame with the RFC 6455 §7.4 code (b"" in CLOSING: a Close is already out). EOF before the
peer's Close → Closed(1006, …, b"") → CLOSED (RFC 6455 §7.1.5).

Rules of this file:
- ``receive_data()`` only buffers; every decision is taken in ``next_event()``, so the events
  depend on the bytes alone, never on how they were cut into chunks.
- Memory: sizes are checked on the frame header, before a payload byte is waited for; so after
  ``next_event()`` has been drained at most max_frame_size + 13 bytes of one frame (or
  max_handshake_size - 1 of the request) and max_message_size bytes of a fragmented message
  are held. ``receive_data()`` refuses a chunk that would grow the buffer past that plus
  ``MAX_CHUNK`` (1009, or 400 during the handshake): feed at most MAX_CHUNK per call and drain.
- Our frames are never masked, never fragmented and carry no extension (none is negotiated,
  so every RSV bit received must be 0). Only the ``sip`` subprotocol is spoken.
- Errors: ``_ProtocolError`` and ``_HandshakeError`` are raised inside and turned into events
  in one place each; misuse of the API raises WebSocketStateError or ValueError.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, IntEnum, auto
from urllib.parse import urlsplit

from sipguard.sip.framing import MAX_CHUNK, NEED_DATA, FramedMessage, NeedData

__all__ = [
    "NEED_DATA",
    "SUBPROTOCOL",
    "CloseCode",
    "Closed",
    "Failed",
    "FramedMessage",
    "NeedData",
    "PendingWrite",
    "Refused",
    "Upgraded",
    "WebSocketEvent",
    "WebSocketPolicy",
    "WebSocketServer",
    "WebSocketStateError",
    "WsState",
    "accept_key",
]

SUBPROTOCOL = "sip"
"""RFC 7118 §4.1: the client MUST offer it and the 101 MUST name it."""
_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_CONTROL_PAYLOAD = 125
MAX_FRAME_HEADER = 14
"""2 fixed bytes + 8 bytes of extended length + 4 bytes of masking key."""
_CRLFCRLF = b"\r\n\r\n"  # ends the HTTP request; as a whole message, an RFC 5626 ping
_CRLF = b"\r\n"  # as a whole message, the RFC 5626 pong


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


class WsState(Enum):
    HANDSHAKE = auto()
    OPEN = auto()
    CLOSING = auto()
    CLOSED = auto()


class _Opcode(IntEnum):
    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


_OPCODES = frozenset(int(opcode) for opcode in _Opcode)


@dataclass(frozen=True, slots=True)
class WebSocketPolicy:
    """What one ws/wss listener accepts."""

    allowed_origins: tuple[str, ...] = ()
    """Empty: any Origin, or none. Otherwise an exact, case-insensitive match is required
    (``https://app.example.com``); a request without Origin is then refused (403)."""
    max_message_size: int = 65_535
    """A reassembled message (text or binary), in bytes."""
    max_frame_size: int = 65_535
    """The payload of one frame, in bytes."""
    max_handshake_size: int = 8_192
    """The HTTP upgrade request, request line through the empty line, in bytes."""
    path: str | None = None
    """None: any request-target. Otherwise the target's path must equal it (else 404)."""

    def __post_init__(self) -> None:
        if min(self.max_message_size, self.max_handshake_size) <= 0:
            raise ValueError("WebSocket sizes must be positive")
        if self.max_frame_size < MAX_CONTROL_PAYLOAD:
            raise ValueError(f"max_frame_size must be at least {MAX_CONTROL_PAYLOAD}")
        if self.path is not None and not self.path.startswith("/"):
            raise ValueError("path must start with '/'")


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


class WebSocketStateError(RuntimeError):
    """An API call that the connection's state does not allow (e.g. sending while closing)."""


class _ProtocolError(Exception):
    def __init__(self, code: CloseCode, reason: str) -> None:
        super().__init__(f"{code} {reason}")
        self.code = code
        self.reason = reason


class _HandshakeError(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason


# -- the opening handshake (RFC 6455 §4.2) ------------------------------------------------

# RFC 7230 §3.1.1: request-line = method SP request-target SP HTTP-version CRLF
_REQUEST_LINE = re.compile(r"GET ([\x21-\x7e]+) HTTP/1\.1")
# RFC 7230 §3.2: header-field = field-name ":" OWS field-value OWS; field-name = token.
# A line starting with whitespace (obs-fold) does not match and is refused.
_FIELD = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+):(.*)")
_FIELD_VALUE = re.compile(r"[\t\x20-\x7e]*")
_PHRASES = {400: "Bad Request", 403: "Forbidden", 404: "Not Found", 426: "Upgrade Required"}


def accept_key(key: str) -> str:
    """The Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455 §4.2.2 step 5.4)."""
    digest = hashlib.sha1((key + _GUID).encode("ascii"), usedforsecurity=False).digest()
    return base64.b64encode(digest).decode("ascii")


def _parse_request(head: bytes) -> tuple[str, dict[str, list[str]]]:
    """Split the request (without its final CRLFCRLF) into target and headers by name."""
    try:
        lines = head.decode("ascii").split("\r\n")
    except UnicodeDecodeError:
        raise _HandshakeError(400, "non-ASCII handshake") from None
    if any("\r" in line or "\n" in line for line in lines):
        raise _HandshakeError(
            400, "bare CR or LF in handshake"
        )  # a line break to some readers only
    request = _REQUEST_LINE.fullmatch(lines[0])
    if request is None:  # RFC 6455 §4.2.1 item 1: an HTTP/1.1 GET request
        raise _HandshakeError(400, "request line is not GET <target> HTTP/1.1")
    headers: dict[str, list[str]] = {}
    for line in lines[1:]:
        field = _FIELD.fullmatch(line)
        value = field.group(2).strip(" \t") if field else ""
        if field is None or not _FIELD_VALUE.fullmatch(value):
            raise _HandshakeError(400, "invalid header line")
        headers.setdefault(field.group(1).lower(), []).append(value)
    return request.group(1), headers


def _single(headers: dict[str, list[str]], name: str) -> str | None:
    values = headers.get(name, [])
    if len(values) > 1:
        raise _HandshakeError(400, f"duplicate {name} header")
    return values[0] if values else None


def _tokens(headers: dict[str, list[str]], name: str) -> list[str]:
    """The elements of a comma-separated list header (all its lines), empty ones dropped."""
    return [part.strip() for value in headers.get(name, []) for part in value.split(",") if part]


def _resource(target: str) -> str:
    """The /resource name/ of an origin-form or absolute request-target (RFC 6455 §4.2.1)."""
    if target.startswith("/"):
        return target
    parts = urlsplit(target)
    if parts.scheme.lower() not in ("http", "https", "ws", "wss") or not parts.netloc:
        raise _HandshakeError(400, "invalid request-target")
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


def _check_key(key: str | None) -> str:
    # RFC 6455 §4.2.1 item 5: base64 that decodes to 16 bytes.
    try:
        if key is not None and len(base64.b64decode(key, validate=True)) == 16:
            return key
    except binascii.Error:
        pass
    raise _HandshakeError(400, "missing or invalid Sec-WebSocket-Key")


def _check_request(
    target: str, headers: dict[str, list[str]], policy: WebSocketPolicy, origins: frozenset[str]
) -> Upgraded:
    path = _resource(target)
    if "transfer-encoding" in headers or _single(headers, "content-length") not in (None, "0"):
        # A body would be read as frames by us and as HTTP by anyone in between: refuse it.
        raise _HandshakeError(400, "handshake with a body")
    if not _single(headers, "host"):  # RFC 6455 §4.2.1 item 2 (and HTTP/1.1)
        raise _HandshakeError(400, "missing Host")
    if "websocket" not in (t.lower() for t in _tokens(headers, "upgrade")):  # item 3
        raise _HandshakeError(400, "missing Upgrade: websocket")
    if "upgrade" not in (t.lower() for t in _tokens(headers, "connection")):  # item 4
        raise _HandshakeError(400, "missing Connection: Upgrade")
    key = _check_key(_single(headers, "sec-websocket-key"))
    if _single(headers, "sec-websocket-version") != "13":
        # RFC 6455 §4.2.2 /version/: MUST answer with the versions we speak (426 here).
        raise _HandshakeError(426, "Sec-WebSocket-Version is not 13")
    if policy.path is not None and path.partition("?")[0] != policy.path:
        raise _HandshakeError(404, "unknown resource")  # RFC 6455 §4.2.2 /resource name/
    origin = _single(headers, "origin")
    origin = origin.lower() if origin is not None else None
    if origins and origin not in origins:
        raise _HandshakeError(
            403, "origin not allowed"
        )  # RFC 6455 §4.2.2 /origin/: MUST be an error
    if SUBPROTOCOL not in _tokens(headers, "sec-websocket-protocol"):
        raise _HandshakeError(
            400, "sip subprotocol not offered"
        )  # RFC 7118 §4.1: client MUST offer
    return Upgraded(_switching_protocols(key), origin, path)


def _switching_protocols(key: str) -> bytes:
    lines = (
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Accept: {accept_key(key)}",
        f"Sec-WebSocket-Protocol: {SUBPROTOCOL}",  # RFC 7118 §4.1: the 101 MUST contain it
    )
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


def _http_error(status: int) -> bytes:
    lines = [f"HTTP/1.1 {status} {_PHRASES[status]}"]
    if status == 426:
        # RFC 6455 §4.4 and RFC 7231 §6.5.15: name the version and the protocol to upgrade to.
        lines += ["Upgrade: websocket", "Sec-WebSocket-Version: 13", "Connection: Upgrade, close"]
    else:
        lines.append("Connection: close")
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("ascii")


# -- frames (RFC 6455 §5) -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Header:
    fin: bool
    opcode: _Opcode
    size: int
    """Header bytes, masking key included."""
    length: int
    """Payload bytes."""


def _parse_header(buffer: bytearray) -> _Header | None:
    """The header at the start of ``buffer`` once its length is readable, else None."""
    if len(buffer) < 2:
        return None
    first, second = buffer[0], buffer[1]
    if first & 0x70:  # RFC 6455 §5.2: RSV MUST be 0 unless an extension defines it
        raise _ProtocolError(CloseCode.PROTOCOL_ERROR, "reserved bits set")
    if (first & 0x0F) not in _OPCODES:  # §5.2: an unknown opcode MUST fail the connection
        raise _ProtocolError(CloseCode.PROTOCOL_ERROR, "unknown opcode")
    opcode, fin, length = _Opcode(first & 0x0F), bool(first & 0x80), second & 0x7F
    if not second & 0x80:  # §5.1: a client MUST mask every frame; a server MUST close
        raise _ProtocolError(CloseCode.PROTOCOL_ERROR, "unmasked client frame")
    if opcode >= _Opcode.CLOSE and (not fin or length > MAX_CONTROL_PAYLOAD):
        # §5.5: control frames MUST be 125 bytes or less and MUST NOT be fragmented.
        raise _ProtocolError(CloseCode.PROTOCOL_ERROR, "fragmented or oversized control frame")
    extended = {126: 2, 127: 8}.get(length, 0)
    if len(buffer) < 2 + extended:
        return None
    if extended:
        length = int.from_bytes(buffer[2 : 2 + extended], "big")
        if length >> 63:  # §5.2: the most significant bit MUST be 0
            raise _ProtocolError(CloseCode.PROTOCOL_ERROR, "64-bit length with the MSB set")
        if length < (126 if extended == 2 else 1 << 16):  # §5.2: minimal bytes MUST be used
            raise _ProtocolError(CloseCode.PROTOCOL_ERROR, "length not minimally encoded")
    return _Header(fin, opcode, 2 + extended + 4, length)


def _unmask(key: bytes, payload: bytes) -> bytes:
    """RFC 6455 §5.3: octet i XOR key octet i mod 4 (one big-integer XOR, not a byte loop)."""
    size = len(payload)
    stream = (key * (size // 4 + 1))[:size]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(stream, "big")).to_bytes(size, "big")


def _frame(opcode: _Opcode, payload: bytes) -> bytes:
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


def _close_frame(code: int, reason: str = "") -> bytes:
    encoded = reason.encode("utf-8")
    if not _sendable(code) or 2 + len(encoded) > MAX_CONTROL_PAYLOAD:
        raise ValueError("invalid close code, or reason over 123 bytes")
    return _frame(_Opcode.CLOSE, code.to_bytes(2, "big") + encoded)


def _parse_close(payload: bytes) -> tuple[int, str]:
    if not payload:
        return CloseCode.NO_STATUS, ""  # §7.1.5: no status code is reported as 1005
    code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 0
    if not _sendable(code):  # §5.5.1: a body starts with a 2-byte status code
        raise _ProtocolError(CloseCode.PROTOCOL_ERROR, "invalid close code")
    try:
        return code, payload[2:].decode("utf-8")
    except UnicodeDecodeError:
        raise _ProtocolError(CloseCode.INVALID_DATA, "close reason is not UTF-8") from None


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


# -- the connection -----------------------------------------------------------------------


class WebSocketServer:
    """Sans-I/O server side of one SIP-over-WebSocket connection."""

    def __init__(self, policy: WebSocketPolicy | None = None) -> None:
        self._policy = policy if policy is not None else WebSocketPolicy()
        self._origins = frozenset(origin.lower() for origin in self._policy.allowed_origins)
        largest = max(
            self._policy.max_handshake_size, self._policy.max_frame_size + MAX_FRAME_HEADER
        )
        self._cap = largest + MAX_CHUNK
        self._buffer = bytearray()
        self._state = WsState.HANDSHAKE
        self._scanned = 0  # HANDSHAKE: bytes already searched for CRLFCRLF
        self._eof = False
        self._overflow = False
        self._message_opcode: _Opcode | None = None  # set while a fragmented message is open
        self._fragments = bytearray()

    @property
    def state(self) -> WsState:
        return self._state

    @property
    def closed(self) -> bool:
        """True once the connection is over: write the last bytes, then close the socket."""
        return self._state is WsState.CLOSED

    @property
    def buffered(self) -> int:
        """Bytes held: unread input plus the fragments of an unfinished message."""
        return len(self._buffer) + len(self._fragments)

    @property
    def mid_message(self) -> bool:
        """True while a frame or a fragmented message is incomplete (for a slow-peer deadline;
        zero-length fragments keep a message open without buffering anything)."""
        return bool(self._buffer) or self._message_opcode is not None

    def receive_data(self, data: bytes) -> None:
        """Buffer ``data`` (``b""``: the peer closed). Ignored once the connection is closed.

        Raises WebSocketStateError for data after EOF.
        """
        if self._state is WsState.CLOSED or self._overflow:
            return
        if not data:
            self._eof = True
            return
        if self._eof:
            raise WebSocketStateError("receive_data() called with data after EOF")
        if len(self._buffer) + len(data) > self._cap:
            self._overflow = True  # reported by next_event(); the chunk is not kept
            self._buffer = bytearray()
            return
        self._buffer += data

    def next_event(self) -> WebSocketEvent:
        """The next event, or ``NEED_DATA`` when more bytes are needed (and once closed)."""
        if self._state is WsState.CLOSED:
            return NEED_DATA
        if self._state is WsState.HANDSHAKE:
            return self._handshake()
        try:
            return self._frames()
        except _ProtocolError as error:
            reply = _close_frame(error.code, error.reason) if self._state is WsState.OPEN else b""
            self._finish()
            return Failed(error.code, error.reason, reply)

    def send_message(self, sip: bytes) -> bytes:
        """One frame carrying ``sip``: text if it is valid UTF-8, else binary (RFC 7118 §4.2).

        Raises WebSocketStateError unless OPEN (§5.5.1: no data after our Close).
        """
        self._require_open()
        return _frame(_Opcode.TEXT if _is_utf8(sip) else _Opcode.BINARY, sip)

    def ping(self, payload: bytes = b"") -> bytes:
        """A Ping frame (RFC 7118 §6 keep-alive). Raises ValueError over 125 bytes."""
        self._require_open()
        if len(payload) > MAX_CONTROL_PAYLOAD:
            raise ValueError("ping payload over 125 bytes")
        return _frame(_Opcode.PING, payload)

    def close(self, code: int = CloseCode.NORMAL, reason: str = "") -> bytes:
        """Start the closing handshake: the Close frame to write (then wait for the peer's).

        Before the handshake completed there is nothing to say: returns b"" and the state is
        CLOSED. When already closing or closed: b"". Raises ValueError for a code that must
        not be sent or a reason over 123 bytes.
        """
        if self._state is WsState.HANDSHAKE:
            self._finish()
        if self._state is not WsState.OPEN:
            return b""
        frame = _close_frame(code, reason)
        self._state = WsState.CLOSING
        return frame

    # -- internals ------------------------------------------------------------------------

    def _require_open(self) -> None:
        if self._state is not WsState.OPEN:
            raise WebSocketStateError(f"cannot send in state {self._state.name}")

    def _finish(self) -> None:
        self._state = WsState.CLOSED
        self._buffer = bytearray()
        self._fragments = bytearray()
        self._message_opcode = None

    def _need_data(self) -> WebSocketEvent:
        if not self._eof:
            return NEED_DATA
        self._finish()
        return Closed(CloseCode.ABNORMAL, "connection lost", b"")

    def _handshake(self) -> WebSocketEvent:
        try:
            head = self._take_request()
            if head is None:
                return self._need_data()
            target, headers = _parse_request(head)
            upgraded = _check_request(target, headers, self._policy, self._origins)
        except _HandshakeError as refusal:
            self._finish()
            return Refused(_http_error(refusal.status), refusal.reason)
        self._state = WsState.OPEN
        return upgraded

    def _take_request(self) -> bytes | None:
        """The request up to its empty line (removed from the buffer), or None for more."""
        limit = self._policy.max_handshake_size
        start = max(self._scanned - len(_CRLFCRLF) + 1, 0)
        end = -1 if self._overflow else self._buffer.find(_CRLFCRLF, start, limit)
        if end < 0:
            if self._overflow or len(self._buffer) >= limit:
                raise _HandshakeError(400, "handshake too large")
            self._scanned = len(self._buffer)
            return None
        head = bytes(self._buffer[:end])
        del self._buffer[: end + len(_CRLFCRLF)]  # what follows is already frames
        return head

    def _frames(self) -> WebSocketEvent:
        if self._overflow:
            raise _ProtocolError(CloseCode.TOO_BIG, "receive buffer overflow")
        while True:
            frame = self._take_frame()
            if frame is None:
                return self._need_data()
            header, payload = frame
            event = _DISPATCH[header.opcode](self, header, payload)
            if event is not None:
                return event

    def _take_frame(self) -> tuple[_Header, bytes] | None:
        header = _parse_header(self._buffer)
        if header is None:
            return None
        self._check_sequence(header)
        end = header.size + header.length
        if len(self._buffer) < end:
            return None
        key = bytes(self._buffer[header.size - 4 : header.size])
        payload = _unmask(key, bytes(self._buffer[header.size : end]))  # §5.3: MUST unmask
        del self._buffer[:end]
        return header, payload

    def _check_sequence(self, header: _Header) -> None:
        """Refuse a data frame out of sequence or too big, before its payload is buffered."""
        if header.opcode >= _Opcode.CLOSE:
            return
        if header.opcode is _Opcode.CONTINUATION and self._message_opcode is None:
            raise _ProtocolError(CloseCode.PROTOCOL_ERROR, "continuation without a message")
        if header.opcode is not _Opcode.CONTINUATION and self._message_opcode is not None:
            # §5.4: fragments of one message MUST NOT be interleaved with another's.
            raise _ProtocolError(CloseCode.PROTOCOL_ERROR, "new message inside a fragmented one")
        if header.length > self._policy.max_frame_size:
            raise _ProtocolError(CloseCode.TOO_BIG, "frame too big")
        if len(self._fragments) + header.length > self._policy.max_message_size:
            raise _ProtocolError(CloseCode.TOO_BIG, "message too big")

    def _on_data(self, header: _Header, payload: bytes) -> WebSocketEvent | None:
        if header.opcode is not _Opcode.CONTINUATION:
            self._message_opcode = header.opcode
        self._fragments += payload
        if not header.fin:
            return None
        data, opcode = bytes(self._fragments), self._message_opcode
        self._fragments, self._message_opcode = bytearray(), None
        if opcode is _Opcode.TEXT and not _is_utf8(data):
            # §8.1: invalid UTF-8 in a text message MUST fail the connection.
            raise _ProtocolError(CloseCode.INVALID_DATA, "text message is not UTF-8")
        if data == _CRLFCRLF:  # RFC 5626 §4.4.1: answer a CRLFCRLF ping with a CRLF
            if self._state is WsState.OPEN:
                return PendingWrite(_frame(_Opcode.TEXT, _CRLF))
            return None
        if data == _CRLF:
            return None
        return FramedMessage(data)

    def _on_close(self, _header: _Header, payload: bytes) -> WebSocketEvent:
        code, reason = _parse_close(payload)
        # §5.5.1: a Close received before ours was sent MUST be answered (echoing the code).
        reply = b""
        if self._state is WsState.OPEN:
            reply = (
                _frame(_Opcode.CLOSE, b"") if code == CloseCode.NO_STATUS else _close_frame(code)
            )
        self._finish()
        return Closed(code, reason, reply)

    def _on_ping(self, _header: _Header, payload: bytes) -> WebSocketEvent:
        # §5.5.2/§5.5.3: MUST answer with a Pong carrying the same application data.
        return PendingWrite(_frame(_Opcode.PONG, payload))

    def _on_pong(self, _header: _Header, _payload: bytes) -> None:
        return None  # §5.5.3: a Pong needs no answer; received bytes already show liveness


_Handler = Callable[[WebSocketServer, _Header, bytes], WebSocketEvent | None]
_DISPATCH: dict[_Opcode, _Handler] = {
    _Opcode.CONTINUATION: WebSocketServer._on_data,
    _Opcode.TEXT: WebSocketServer._on_data,
    _Opcode.BINARY: WebSocketServer._on_data,
    _Opcode.CLOSE: WebSocketServer._on_close,
    _Opcode.PING: WebSocketServer._on_ping,
    _Opcode.PONG: WebSocketServer._on_pong,
}
