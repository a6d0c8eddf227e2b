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

The codec in modules: this one (buffer, states, control frames, the API), ``ws_handshake``
(the upgrade request and its answer), ``ws_frames`` (the wire format of frames and close
codes), ``ws_messages`` (fragments → messages, with their limits), ``ws_events``, ``ws_policy``.

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
- Errors: ``FrameError`` and ``HandshakeError`` are raised inside and turned into events in
  one place each; misuse of the API raises WebSocketStateError or ValueError.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import Enum, auto

from sipguard.sip.framing import MAX_CHUNK, NEED_DATA, FramedMessage, NeedData
from sipguard.transport.ws_events import (
    Closed,
    Failed,
    PendingWrite,
    Refused,
    Upgraded,
    WebSocketEvent,
)
from sipguard.transport.ws_frames import (
    MAX_CONTROL_PAYLOAD,
    MAX_FRAME_HEADER,
    CloseCode,
    FrameError,
    FrameHeader,
    Opcode,
    close_frame,
    encode_frame,
    is_utf8,
    parse_close,
    parse_header,
    unmask,
)
from sipguard.transport.ws_handshake import (
    SUBPROTOCOL,
    HandshakeError,
    accept_key,
    check_request,
    http_error,
    parse_request,
)
from sipguard.transport.ws_messages import MessageAssembler
from sipguard.transport.ws_policy import WebSocketPolicy

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

_CRLFCRLF = b"\r\n\r\n"  # ends the HTTP request; as a whole message, an RFC 5626 ping
_CRLF = b"\r\n"  # as a whole message, the RFC 5626 pong


class WsState(Enum):
    HANDSHAKE = auto()
    OPEN = auto()
    CLOSING = auto()
    CLOSED = auto()


class WebSocketStateError(RuntimeError):
    """An API call that the connection's state does not allow (e.g. sending while closing)."""


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
        self._messages = MessageAssembler(
            self._policy.max_frame_size, self._policy.max_message_size
        )

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
        return len(self._buffer) + self._messages.buffered

    @property
    def mid_message(self) -> bool:
        """True while a frame or a fragmented message is incomplete (for a slow-peer deadline;
        zero-length fragments keep a message open without buffering anything)."""
        return bool(self._buffer) or self._messages.in_message

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
        except FrameError as error:
            reply = close_frame(error.code, error.reason) if self._state is WsState.OPEN else b""
            self._finish()
            return Failed(error.code, error.reason, reply)

    def send_message(self, sip: bytes) -> bytes:
        """One frame carrying ``sip``: text if it is valid UTF-8, else binary (RFC 7118 §4.2).

        Raises WebSocketStateError unless OPEN (§5.5.1: no data after our Close).
        """
        self._require_open()
        return encode_frame(Opcode.TEXT if is_utf8(sip) else Opcode.BINARY, sip)

    def ping(self, payload: bytes = b"") -> bytes:
        """A Ping frame (RFC 7118 §6 keep-alive). Raises ValueError over 125 bytes."""
        self._require_open()
        if len(payload) > MAX_CONTROL_PAYLOAD:
            raise ValueError("ping payload over 125 bytes")
        return encode_frame(Opcode.PING, payload)

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
        frame = close_frame(code, reason)
        self._state = WsState.CLOSING
        return frame

    # -- internals ------------------------------------------------------------------------

    def _require_open(self) -> None:
        if self._state is not WsState.OPEN:
            raise WebSocketStateError(f"cannot send in state {self._state.name}")

    def _finish(self) -> None:
        self._state = WsState.CLOSED
        self._buffer = bytearray()
        self._messages.reset()

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
            target, headers = parse_request(head)
            upgraded = check_request(target, headers, self._policy.path, self._origins)
        except HandshakeError as refusal:
            self._finish()
            return Refused(http_error(refusal.status), refusal.reason)
        self._state = WsState.OPEN
        return upgraded

    def _take_request(self) -> bytes | None:
        """The request up to its empty line (removed from the buffer), or None for more."""
        limit = self._policy.max_handshake_size
        start = max(self._scanned - len(_CRLFCRLF) + 1, 0)
        end = -1 if self._overflow else self._buffer.find(_CRLFCRLF, start, limit)
        if end < 0:
            if self._overflow or len(self._buffer) >= limit:
                raise HandshakeError(400, "handshake too large")
            self._scanned = len(self._buffer)
            return None
        head = bytes(self._buffer[:end])
        del self._buffer[: end + len(_CRLFCRLF)]  # what follows is already frames
        return head

    def _frames(self) -> WebSocketEvent:
        if self._overflow:
            raise FrameError(CloseCode.TOO_BIG, "receive buffer overflow")
        while True:
            frame = self._take_frame()
            if frame is None:
                return self._need_data()
            header, payload = frame
            event = _DISPATCH[header.opcode](self, header, payload)
            if event is not None:
                return event

    def _take_frame(self) -> tuple[FrameHeader, bytes] | None:
        header = parse_header(self._buffer)
        if header is None:
            return None
        self._messages.check(header)
        end = header.size + header.length
        if len(self._buffer) < end:
            return None
        key = bytes(self._buffer[header.size - 4 : header.size])
        payload = unmask(key, bytes(self._buffer[header.size : end]))  # §5.3: MUST unmask
        del self._buffer[:end]
        return header, payload

    def _on_data(self, header: FrameHeader, payload: bytes) -> WebSocketEvent | None:
        data = self._messages.add(header, payload)
        if data is None:
            return None
        if data == _CRLFCRLF:  # RFC 5626 §4.4.1: answer a CRLFCRLF ping with a CRLF
            if self._state is WsState.OPEN:
                return PendingWrite(encode_frame(Opcode.TEXT, _CRLF))
            return None
        if data == _CRLF:
            return None
        return FramedMessage(data)

    def _on_close(self, _header: FrameHeader, payload: bytes) -> WebSocketEvent:
        code, reason = parse_close(payload)
        # §5.5.1: a Close received before ours was sent MUST be answered (echoing the code).
        reply = b""
        if self._state is WsState.OPEN:
            reply = (
                encode_frame(Opcode.CLOSE, b"")
                if code == CloseCode.NO_STATUS
                else close_frame(code)
            )
        self._finish()
        return Closed(code, reason, reply)

    def _on_ping(self, _header: FrameHeader, payload: bytes) -> WebSocketEvent:
        # §5.5.2/§5.5.3: MUST answer with a Pong carrying the same application data.
        return PendingWrite(encode_frame(Opcode.PONG, payload))

    def _on_pong(self, _header: FrameHeader, _payload: bytes) -> None:
        return None  # §5.5.3: a Pong needs no answer; received bytes already show liveness


_Handler = Callable[[WebSocketServer, FrameHeader, bytes], WebSocketEvent | None]
_DISPATCH: dict[Opcode, _Handler] = {
    Opcode.CONTINUATION: WebSocketServer._on_data,
    Opcode.TEXT: WebSocketServer._on_data,
    Opcode.BINARY: WebSocketServer._on_data,
    Opcode.CLOSE: WebSocketServer._on_close,
    Opcode.PING: WebSocketServer._on_ping,
    Opcode.PONG: WebSocketServer._on_pong,
}
