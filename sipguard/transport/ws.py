"""The WebSocket framing of a stream connection (RFC 7118): ws, and wss = ws over TLS.

A ws/wss ``StreamConnection`` (``stream.py``) is the TCP/TLS connection with a ``WsFraming``
in place of ``SipFraming``; it is only ever accepted, never opened. The sans-I/O codec
(``WebSocketServer``, ``websocket.py``) decides; this class carries out its events on the
connection and keeps the connection's WebSocket-only state (the last Ping sent).

Rules of this file:
- The codec's events are carried out in the order they come: the 101 or the 4xx refusal,
  Pongs and CRLF keep-alive answers are written; a refusal, the peer's Close or a protocol
  failure is written and the connection closed (RFC 6455 §5.5.1: the server closes first).
- ``wrap`` puts one SIP message in one frame, and refuses (None, nothing queued) until the
  upgrade is done and while closing: nobody can know the connection before its first message.
- ``keepalive``: an upgraded connection silent for the interval since its last byte or Ping
  gets a Ping (RFC 7118 §6). The Ping does not count as activity, so a peer that never
  answers is still closed at the idle timeout.
- Counting only: WS_HANDSHAKES, WS_REFUSED, WS_FAILURES, WS_PINGS.
"""

from __future__ import annotations

from sipguard.sip.framing import FramedMessage, NeedData
from sipguard.transport.base import Counts, Metric
from sipguard.transport.framing import FramedStream
from sipguard.transport.websocket import (
    CloseCode,
    Closed,
    Failed,
    PendingWrite,
    Refused,
    Upgraded,
    WebSocketPolicy,
    WebSocketServer,
    WsState,
)

__all__ = ["WsFraming"]


class WsFraming:
    """One SIP message per WebSocket message, over an accepted connection."""

    def __init__(self, policy: WebSocketPolicy, counts: Counts, now: float) -> None:
        self._codec = WebSocketServer(policy)
        self._counts = counts
        self._pinged_at = now

    @property
    def mid_message(self) -> bool:
        return self._codec.mid_message

    def feed(self, data: bytes, now: float, stream: FramedStream) -> bool:
        self._codec.receive_data(data)
        while True:
            event = self._codec.next_event()
            if isinstance(event, FramedMessage):
                stream.deliver(event.data, now)
                if not stream.is_open:
                    return False
            elif isinstance(event, NeedData):
                return stream.is_open
            elif not self._carry_out(event, stream):
                return False

    def wrap(self, sip: bytes, stream_open: bool) -> bytes | None:
        if self._codec.state is not WsState.OPEN or not stream_open:
            return None
        return self._codec.send_message(sip)

    def farewell(self) -> bytes:
        """Our Close frame (b"" before the upgrade, or once the codec has closed)."""
        return self._codec.close(CloseCode.GOING_AWAY)

    def keepalive(self, now: float, last_activity: float, interval: float) -> bytes | None:
        if self._codec.state is not WsState.OPEN:
            return None
        if now - max(last_activity, self._pinged_at) < interval:
            return None
        self._pinged_at = now
        self._counts[Metric.WS_PINGS] += 1
        return self._codec.ping()

    def _carry_out(
        self, event: Upgraded | Refused | PendingWrite | Closed | Failed, stream: FramedStream
    ) -> bool:
        """Carry out what the codec asks; False once the connection is done."""
        if isinstance(event, Upgraded):
            self._counts[Metric.WS_HANDSHAKES] += 1
            stream.write_stream(event.response)
            return stream.is_open
        if isinstance(event, PendingWrite):  # a Pong, or the CRLF answer to a CRLFCRLF ping
            stream.write_stream(event.data)
            return stream.is_open
        if isinstance(event, Refused):
            self._counts[Metric.WS_REFUSED] += 1
            stream.write_stream(event.response)
        else:
            if isinstance(event, Failed):
                self._counts[Metric.WS_FAILURES] += 1
            # RFC 6455 §5.5.1: the server MUST close the TCP connection immediately.
            stream.write_stream(event.reply)
        stream.close()
        return False
