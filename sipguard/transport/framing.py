"""How a stream connection frames its bytes: the ``Framing`` interface, and SIP's own.

A ``StreamConnection`` (``stream.py``) moves bytes and knows TCP and TLS; its framing finds the
SIP messages in what it reads, answers what the framing protocol itself requires, and shapes
what it writes. Two framings exist: ``SipFraming`` here (TCP and TLS: messages back to back,
RFC 3261 §18.3, found by ``sipguard.sip.framing.StreamFramer``) and ``WsFraming`` in ``ws.py``
(ws and wss: one message per WebSocket message, RFC 7118).

Rules of this file:
- A framing never touches a socket or the clock: it calls back into its connection through
  ``FramedStream`` (deliver a message, write bytes, close), with the time passed in.
- ``feed`` delivers each whole message as it completes, synchronously, and stops as soon as
  the connection is no longer open; its False means "the connection is done".
- Framing errors surface as SipParseError from ``feed``; the connection answers them (it
  counts and closes), never the framing.
"""

from __future__ import annotations

from typing import Protocol

from sipguard.sip.framing import PONG, FramedMessage, KeepAlivePing, StreamFramer
from sipguard.sip.limits import ParseLimits

__all__ = ["FramedStream", "Framing", "SipFraming"]


class FramedStream(Protocol):
    """What a framing may ask of the connection it frames."""

    @property
    def is_open(self) -> bool:
        """Established and not closing: reading and writing go on."""

    def deliver(self, data: bytes, now: float) -> None:
        """Hand one whole SIP message, received at ``now``, to the engine."""

    def write_stream(self, data: bytes) -> str | None:
        """Write bytes as they go on the stream (below TLS); a failure reason, or None."""

    def close(self) -> None:
        """Close after flushing what is buffered."""


class Framing(Protocol):
    """The framing of one stream connection."""

    @property
    def mid_message(self) -> bool:
        """True while a message has begun and not ended (for the slow-peer deadline)."""

    def feed(self, data: bytes, now: float, stream: FramedStream) -> bool:
        """Take ``data`` (``b""``: end of stream) and carry out what completes; False once
        the connection is done. Raises SipParseError for a framing error."""

    def wrap(self, sip: bytes, stream_open: bool) -> bytes | None:
        """The bytes that carry the message ``sip``, or None when it cannot be sent now."""

    def farewell(self) -> bytes:
        """What to write before closing (b"": nothing)."""

    def keepalive(self, now: float, last_activity: float, interval: float) -> bytes | None:
        """A keep-alive to write when the connection has been silent ``interval`` seconds
        (written without counting as activity), or None."""


class SipFraming:
    """TCP and TLS: SIP messages back to back, CRLF keep-alives between them."""

    def __init__(self, limits: ParseLimits) -> None:
        self._framer = StreamFramer(limits)

    @property
    def mid_message(self) -> bool:
        return self._framer.buffered > 0

    def feed(self, data: bytes, now: float, stream: FramedStream) -> bool:
        self._framer.receive_data(data)
        while True:
            event = self._framer.next_event()
            if isinstance(event, FramedMessage):
                stream.deliver(event.data, now)
                if not stream.is_open:
                    return False
            elif isinstance(event, KeepAlivePing):
                stream.write_stream(PONG)  # RFC 5626 §3.5.1: a CRLFCRLF ping gets a CRLF pong
                if not stream.is_open:  # the pong overflowed the write buffer: done
                    return False
            else:
                return stream.is_open  # NEED_DATA, or StreamClosed at EOF

    def wrap(self, sip: bytes, stream_open: bool) -> bytes:
        return sip  # as it is, at any time: the connection queues it while connecting

    def farewell(self) -> bytes:
        return b""

    def keepalive(self, now: float, last_activity: float, interval: float) -> None:
        return None  # RFC 5626 §4.4.1: the client pings, the server only answers
