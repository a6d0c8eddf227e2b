"""Stream framer: split a TCP/TLS byte stream into whole SIP messages (sans-I/O).

Theory of operation
-------------------
The transport feeds bytes as they arrive with ``receive_data()`` (``b""`` means the peer
closed) and then calls ``next_event()`` until it returns ``NEED_DATA``. ``receive_data()`` only
buffers; every decision is taken in ``next_event()``, so the events depend on the bytes alone,
never on how they were cut into chunks. The framer finds message boundaries; parsing the
message is ``parser.py``'s job.

The framer is always in one of three phases:

    BETWEEN  at a message boundary.
             CRLFCRLF is a keep-alive ping → KeepAlivePing; the caller answers with PONG.
             A lone CRLF (a pong, or a CRLF before a start line) is skipped.
             A buffer holding a proper prefix of CRLFCRLF ("\\r", "\\r\\n", "\\r\\n\\r") waits
             for more data: only the next bytes tell a ping from a pong. So "\\r\\n" and, in a
             later chunk, "\\r\\n" is a ping; "\\r\\n" then "INVITE…" is a skipped CRLF. At EOF
             such a leftover is discarded (it holds no message) and the stream is closed.
             Anything else starts a message → HEADER.
    HEADER   searching for the first CRLFCRLF, which ends the header section. Each search
             resumes where the last one stopped, so byte-at-a-time input costs O(n) overall.
             No CRLFCRLF within max_header_size bytes → 513. Found → Content-Length → BODY.
    BODY     waiting until header section + Content-Length bytes are buffered; then
             FramedMessage (exactly those bytes) → BETWEEN.

Rules of this file:
- Sizes: the header section counts from the start line through the blank line. Content-Length
  over max_body_size, or a whole message over max_message_size, is refused as soon as the
  header section is complete, before any body byte is waited for.
- Memory: ``receive_data()`` refuses (513) a chunk that would grow the buffer past
  max_header_size + max_body_size + MAX_CHUNK. After ``next_event()`` has been drained to
  NEED_DATA at most one incomplete message is held, so a transport that feeds at most
  MAX_CHUNK bytes per call and drains between calls never trips this with a valid peer.
- Errors: only SipParseError (``partial`` is always None: nothing is parsed here). The first
  error kills the framer: the buffer is dropped and every later call raises the same error.
- EOF: whole messages still buffered are delivered first; then a partial message is
  400 Truncated Message, otherwise StreamClosed (and again on every later call).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, auto

from sipguard.sip.errors import SipParseError
from sipguard.sip.limits import DEFAULT_LIMITS, ParseLimits

__all__ = [
    "MAX_CHUNK",
    "NEED_DATA",
    "PONG",
    "FramedMessage",
    "FramerEvent",
    "KeepAlivePing",
    "NeedData",
    "StreamClosed",
    "StreamFramer",
]

CRLF = b"\r\n"
PING = b"\r\n\r\n"
# RFC 5626 §4.4.1: the client "ping" is a double-CRLF, the server "pong" a single CRLF.
PONG = CRLF
MAX_CHUNK = 16 * 1024
"""Largest chunk a transport should pass to one ``receive_data()`` call (see the memory rule)."""


@dataclass(frozen=True, slots=True)
class FramedMessage:
    """One whole message, start line through body, exactly as received."""

    data: bytes


@dataclass(frozen=True, slots=True)
class KeepAlivePing:
    """A CRLFCRLF keep-alive between messages; answer with ``PONG``."""


@dataclass(frozen=True, slots=True)
class StreamClosed:
    """The peer closed the stream and nothing is left in the buffer."""


@dataclass(frozen=True, slots=True)
class NeedData:
    """More bytes are needed before the next event; use the ``NEED_DATA`` singleton."""


NEED_DATA = NeedData()

FramerEvent = FramedMessage | KeepAlivePing | NeedData | StreamClosed


class _Phase(Enum):
    BETWEEN = auto()
    HEADER = auto()
    BODY = auto()


# RFC 3261 §25.1 and §20.14:
#   Content-Length  =  ( "Content-Length" / "l" ) HCOLON 1*DIGIT
#   HCOLON  =  *( SP / HTAB ) ":" SWS
#   SWS  =  [LWS]        LWS  =  [*WSP CRLF] 1*WSP
# Folded lines are unfolded first; trailing whitespace after the digits is tolerated.
_FOLD = re.compile(rb"\r\n[ \t]+")
_CONTENT_LENGTH = re.compile(rb"(?:content-length|l)[ \t]*:(.*)", re.IGNORECASE | re.DOTALL)
_DIGITS = re.compile(rb"[ \t]*([0-9]+)[ \t]*")


def _declared_length(head: bytes) -> bytes:
    """Return the Content-Length digits (leading zeros stripped) of a header section.

    ``head`` runs from the start line to the end of the last header line, without the CRLF
    that ends it. Raises SipParseError 400 when the header is missing or invalid.
    """
    found: set[bytes] = set()
    for line in _FOLD.sub(b" ", head).split(CRLF)[1:]:
        header = _CONTENT_LENGTH.fullmatch(line)
        if header is None:
            continue
        value = _DIGITS.fullmatch(header.group(1))
        if value is None:
            raise SipParseError(400, "Invalid Content-Length")
        found.add(value.group(1).lstrip(b"0") or b"0")
    if not found:
        # RFC 3261 §18.3: Content-Length MUST be used with stream-oriented transports.
        raise SipParseError(400, "Missing Content-Length")
    if len(found) > 1:
        # Two lengths would let two readers frame the stream differently (smuggling).
        raise SipParseError(400, "Invalid Content-Length")
    return found.pop()


def _fits(digits: bytes, limit: int) -> bool:
    """True when the decimal ``digits`` (no leading zeros) are at most ``limit``."""
    # Compare lengths first: int() of a 5,000-digit string would itself be an error.
    return len(digits) <= len(str(limit)) and int(digits) <= limit


class StreamFramer:
    """Sans-I/O framer for one stream connection (TCP, TLS)."""

    def __init__(self, limits: ParseLimits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._cap = limits.max_header_size + limits.max_body_size + MAX_CHUNK
        self._buffer = bytearray()
        self._phase = _Phase.BETWEEN
        self._scanned = 0  # HEADER: bytes already searched for CRLFCRLF
        self._frame_length = 0  # BODY: header section + body
        self._eof = False
        self._error: SipParseError | None = None

    @property
    def buffered(self) -> int:
        """Bytes currently held."""
        return len(self._buffer)

    def receive_data(self, data: bytes) -> None:
        """Buffer ``data``; ``b""`` marks the end of the stream.

        Raises SipParseError 513 if the buffer would outgrow its cap (the chunk is not
        kept), the stored error if the framer is dead, RuntimeError for data after EOF.
        """
        self._raise_if_dead()
        if not data:
            self._eof = True
            return
        if self._eof:
            raise RuntimeError("receive_data() called with data after EOF")
        if len(self._buffer) + len(data) > self._cap:
            error = SipParseError(513, "Message Too Large")
            self._die(error)
            raise error
        self._buffer += data

    def next_event(self) -> FramerEvent:
        """Return the next event, or ``NEED_DATA`` when more bytes are needed.

        Raises SipParseError (and stays dead) on an invalid or oversized message, or on EOF
        inside a message.
        """
        self._raise_if_dead()
        try:
            return self._advance()
        except SipParseError as error:
            self._die(error)
            raise

    def _advance(self) -> FramerEvent:
        while True:
            # Each step returns an event, or None after moving on (phase or buffer changed).
            event = _STEPS[self._phase](self)
            if event is not None:
                return event

    def _between(self) -> FramerEvent | None:
        head = bytes(self._buffer[:4])
        if head == PING:
            del self._buffer[:4]
            return KeepAlivePing()
        if PING.startswith(head):  # empty, or a ping/pong not yet complete
            if not self._eof:
                return NEED_DATA
            self._buffer.clear()
            return StreamClosed()
        if head.startswith(CRLF):
            # RFC 3261 §7.5: MUST ignore any CRLF appearing before the start-line.
            del self._buffer[:2]
            return None
        self._phase = _Phase.HEADER
        self._scanned = 0
        return None

    def _header(self) -> FramerEvent | None:
        limit = self._limits.max_header_size
        start = max(self._scanned - len(PING) + 1, 0)
        end = self._buffer.find(PING, start, limit)
        if end < 0:
            if len(self._buffer) >= limit:
                raise SipParseError(513, "Message Too Large")
            self._scanned = len(self._buffer)
            return self._wait()
        digits = _declared_length(bytes(self._buffer[:end]))
        if not _fits(digits, self._limits.max_body_size):
            raise SipParseError(513, "Message Too Large")
        self._frame_length = end + len(PING) + int(digits)
        if self._frame_length > self._limits.max_message_size:
            raise SipParseError(513, "Message Too Large")
        self._phase = _Phase.BODY
        return None

    def _body(self) -> FramerEvent | None:
        if len(self._buffer) < self._frame_length:
            return self._wait()
        message = bytes(self._buffer[: self._frame_length])
        del self._buffer[: self._frame_length]
        self._phase = _Phase.BETWEEN
        return FramedMessage(message)

    def _wait(self) -> NeedData:
        """NEED_DATA inside a message, or 400 if the stream has ended."""
        if self._eof:
            raise SipParseError(400, "Truncated Message")
        return NEED_DATA

    def _raise_if_dead(self) -> None:
        if self._error is not None:
            # Drop the old traceback so repeated raises do not chain frames forever.
            raise self._error.with_traceback(None)

    def _die(self, error: SipParseError) -> None:
        self._error = error
        self._buffer = bytearray()


_STEPS: dict[_Phase, Callable[[StreamFramer], FramerEvent | None]] = {
    _Phase.BETWEEN: StreamFramer._between,
    _Phase.HEADER: StreamFramer._header,
    _Phase.BODY: StreamFramer._body,
}
