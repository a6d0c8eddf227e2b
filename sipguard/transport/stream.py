"""One stream connection (TCP or TLS) with a pluggable framing, accepted or opened.

``StreamConnection`` moves bytes and knows TCP and TLS; what the bytes mean is its framing's
business (``framing.py``): ``SipFraming`` for TCP and TLS, ``WsFraming`` (``ws.py``) for ws
and wss, which are the same connection with WebSocket framing, only ever accepted.
Listening and connecting are in ``tcp.py``; what all connections share in ``stream_env.py``.

Rules of this file:
- Bytes in → the framing → each whole message → ``on_message``, synchronously. The framing
  alone finds message boundaries and enforces the size limits; a framing error closes the
  connection without writing anything, so the engine never sees a partial message. SIP is
  never parsed here.
- Admission (the caps) happens in ``connection_made`` of an accepted connection: a refused
  one is aborted before it is read. Deadlines are decided by ``ConnectionTable.overdue``
  and carried out here (``expire``).
- A peer that does not read cannot make us buffer without bound: past
  ``StreamLimits.max_write_buffer`` asyncio calls ``pause_writing`` and we abort.
- Nothing here raises for I/O reasons: ``write`` returns a failure reason or None.
- TLS (``transport/tls.py`` makes the contexts): an accepted connection is admitted by
  the caps and the per-source handshake budget first, as plain TCP, and only then does
  its ``TlsSession`` (memory buffers) start the handshake, so a refused source costs no
  handshake. Until the handshake is done the connection is "connecting": writes queue,
  and the handshake timeout bounds it. An opened one handshakes inside
  ``create_connection``, checking the server's certificate and name.
- An admitted inbound connection that goes away is reported once to ``on_closed`` (with
  ``call_soon``), so flows bound to it (RFC 5626) can be forgotten.
"""

from __future__ import annotations

import asyncio
import ssl
from enum import Enum, auto
from typing import cast

from sipguard.config import TransportName
from sipguard.sip.errors import SipParseError
from sipguard.sip.framing import MAX_CHUNK
from sipguard.sip.transports import TlsPeer
from sipguard.transport.base import Inbound, Metric, Peer, canonical_host
from sipguard.transport.connections import Direction, Expiry, expiry_metric
from sipguard.transport.framing import Framing, SipFraming
from sipguard.transport.stream_env import SECURE, WEBSOCKETS, StreamEnv
from sipguard.transport.tls import TlsSession, TlsSetup, tls_peer
from sipguard.transport.ws import WsFraming

__all__ = ["StreamConnection", "peer_of"]


class _State(Enum):
    CONNECTING = auto()
    OPEN = auto()
    CLOSING = auto()
    CLOSED = auto()


def peer_of(address: tuple[str | int, ...], transport: TransportName = TransportName.TCP) -> Peer:
    """The ``Peer`` of a socket address (``getsockname``, ``getpeername``)."""
    return Peer(transport, canonical_host(str(address[0])), int(address[1]))


class StreamConnection(asyncio.Protocol):
    """One TCP, TLS, ws or wss connection, accepted (INBOUND) or opened by us (OUTBOUND)."""

    remote: Peer
    """Set at construction (outbound) or when accepted (inbound)."""

    def __init__(  # noqa: PLR0913 - the connection's identity, named
        self,
        env: StreamEnv,
        direction: Direction,
        local: Peer | None,
        remote: Peer | None = None,
        *,
        transport: TransportName = TransportName.TCP,
        server_name: str | None = None,
    ) -> None:
        self._env = env
        self.direction = direction
        self._local = local
        self.transport_name = transport
        self.server_name = server_name
        """Outbound TLS: the name the server's certificate must carry (else its address)."""
        self.tls_peer: TlsPeer | None = None
        """The verified certificate of the peer (TLS with a client certificate)."""
        self._session: TlsSession | None = None
        self._handshake_timer: asyncio.TimerHandle | None = None
        if remote is not None:
            self.remote = remote
        self.connection_id: int | None = None
        self._state = _State.CONNECTING
        self._transport: asyncio.Transport | None = None
        self._pending: list[bytes] = []
        self._pending_size = 0
        self.last_activity = env.loop.time()
        self._framing: Framing = (
            WsFraming(env.websocket, env.counts, self.last_activity)
            if transport in WEBSOCKETS
            else SipFraming(env.limits)
        )
        self.message_started_at: float | None = None
        self.closing_since: float | None = None
        self._closed: asyncio.Future[None] = env.loop.create_future()

    @property
    def usable(self) -> bool:
        """Connecting or open: data may still be written."""
        return self._state in (_State.CONNECTING, _State.OPEN)

    @property
    def tls_setup(self) -> TlsSetup | None:
        """The TLS contexts when this is a TLS connection."""
        return self._env.tls if self.transport_name in SECURE else None

    @property
    def connecting(self) -> bool:
        """An outbound connection not yet established."""
        return self._state is _State.CONNECTING

    @property
    def is_open(self) -> bool:
        """Established and not closing."""
        return self._state is _State.OPEN

    # -- asyncio callbacks --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio hands a stream protocol an asyncio.Transport.
        self._transport = cast(asyncio.Transport, transport)
        self.last_activity = self._env.loop.time()
        sockname = transport.get_extra_info("sockname")
        if self._local is None and sockname is not None:
            self._local = peer_of(sockname, self.transport_name)
        if self.direction is Direction.INBOUND:
            if not self._admit(self._transport):
                return
            if self.transport_name in SECURE:
                self._begin_tls()
                return
        elif self.transport_name in SECURE:
            self.tls_peer = tls_peer(transport.get_extra_info("ssl_object"))
        self._open()

    def _open(self) -> None:
        assert self._transport is not None  # noqa: S101 - called once connected
        self._state = _State.OPEN
        high = self._env.stream_limits.max_write_buffer
        self._transport.set_write_buffer_limits(high=high, low=high // 2)
        pending, self._pending, self._pending_size = self._pending, [], 0
        for data in pending:
            self.write_stream(data)

    def data_received(self, data: bytes) -> None:
        if self._session is not None:
            data = self._decrypt(self._session, data)
            if not data:
                return
        if self._state is not _State.OPEN:
            return
        now = self._env.loop.time()
        self.last_activity = now
        for start in range(0, len(data), MAX_CHUNK):
            # The framer's memory rule: at most MAX_CHUNK per call, drained in between.
            if not self._feed(data[start : start + MAX_CHUNK], now):
                return
            if not self._framing.mid_message:
                self.message_started_at = None
            elif self.message_started_at is None:
                self.message_started_at = now

    def eof_received(self) -> bool:
        if self._state is _State.OPEN:
            self._feed(b"", self._env.loop.time())
        self._mark_closing()
        return False  # let asyncio close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self._handshake_timer is not None:
            self._handshake_timer.cancel()
            self._handshake_timer = None
        self._state = _State.CLOSED
        self._transport = None
        if self.connection_id is not None:
            self._env.table.discard(self.connection_id)
            if self.direction is Direction.INBOUND and self._env.on_closed is not None:
                # Never re-entrantly: the engine may be the one closing us.
                self._env.loop.call_soon(self._env.on_closed, self.connection_id, self.remote)
        if not self._closed.done():
            self._closed.set_result(None)

    def pause_writing(self) -> None:
        # The peer stopped reading and our buffer passed max_write_buffer.
        self.abort(Metric.TCP_WRITE_OVERFLOW)

    # -- used by the manager ----------------------------------------------------------

    def write(self, data: bytes) -> str | None:
        """Write one SIP message ``data`` (queued while connecting; one frame on ws/wss,
        refused before the upgrade); a failure reason, or None."""
        framed = self._framing.wrap(data, self._state is _State.OPEN)
        if framed is None:
            where = f"{self.transport_name} connection to {self.remote.hostport}"
            return f"{where} is not open (upgrade not done, or closing)"
        return self.write_stream(framed)

    def connect_failed(self) -> list[bytes]:
        """An outbound connect did not happen: forget the connection, return its queue."""
        if self._state is not _State.CONNECTING:
            return []
        self._state = _State.CLOSED
        if self.connection_id is not None:
            self._env.table.discard(self.connection_id)
        if not self._closed.done():
            self._closed.set_result(None)
        pending, self._pending, self._pending_size = self._pending, [], 0
        return pending

    def expire(self, expiry: Expiry) -> None:
        """Carry out a deadline the table found missed."""
        if expiry is Expiry.LINGER:
            self.abort(expiry_metric(expiry))
        else:
            self.close(expiry_metric(expiry))

    def close(self, metric: Metric | None = None) -> None:
        """Close after flushing what is buffered; count ``metric`` if given."""
        if self._state is not _State.OPEN or self._transport is None:
            return
        if metric is not None:
            self._env.counts[metric] += 1
        self._mark_closing()
        farewell = self._framing.farewell()  # ws/wss: our Close frame
        if farewell:
            self._transport.write(self._seal(farewell))
        if self._session is not None:
            self._transport.write(self._session.close())
        self._transport.close()

    def keepalive(self, now: float, interval: float) -> None:
        """Let the framing ping a connection silent for ``interval`` seconds (ws/wss:
        RFC 7118 §6); the ping does not count as activity."""
        if self._state is not _State.OPEN:
            return
        ping = self._framing.keepalive(now, self.last_activity, interval)
        if ping is not None:
            self.write_stream(ping, activity=False)

    def abort(self, metric: Metric | None = None) -> None:
        """Drop the connection now, discarding buffered writes; count ``metric`` if given."""
        if self._transport is None or self._state is _State.CLOSED:
            return
        if metric is not None:
            self._env.counts[metric] += 1
        self._mark_closing()
        self._transport.abort()

    @property
    def closed(self) -> asyncio.Future[None]:
        """Done once the connection is gone (never cancel it; wrap it in a shield)."""
        return self._closed

    # -- used by the framing (FramedStream) ---------------------------------------------

    def deliver(self, data: bytes, now: float) -> None:
        """Hand one whole SIP message to the engine (the framing calls this)."""
        self.message_started_at = None
        self._env.counts[Metric.MESSAGES_RECEIVED] += 1
        local = self._local if self._local is not None else self.remote
        self._env.on_message(
            Inbound(data, self.remote, local, self.connection_id, now, self.tls_peer)
        )

    def write_stream(self, data: bytes, *, activity: bool = True) -> str | None:
        """Write bytes as they go on the stream (below TLS); ``activity`` False: do not
        count it as traffic for the idle timeout."""
        if self._state is _State.CONNECTING:
            if self._pending_size + len(data) > self._env.stream_limits.max_write_buffer:
                return "write queue full while connecting"
            self._pending.append(data)
            self._pending_size += len(data)
            return None
        if self._state is not _State.OPEN or self._transport is None:
            return "connection closed"
        self._transport.write(self._seal(data))
        if activity:
            self.last_activity = self._env.loop.time()
        # pause_writing may have aborted us inside write().
        return None if self.usable else "write buffer overflow"

    # -- internals ----------------------------------------------------------------------

    def _begin_tls(self) -> None:
        tls = self._env.tls
        if tls is None or tls.server is None or self._transport is None:
            self.abort(Metric.TLS_HANDSHAKE_FAILURES)
            return
        if not tls.budget.allow(self.remote.host, self._env.loop.time()):
            self.abort(Metric.TLS_REFUSED_RATE)
            return
        self._session = TlsSession(tls.server)
        self._handshake_timer = self._env.loop.call_later(
            tls.handshake_timeout, self._handshake_overdue
        )

    def _handshake_overdue(self) -> None:
        self._handshake_timer = None
        if self._state is _State.CONNECTING:
            self.abort(Metric.TLS_HANDSHAKE_FAILURES)

    def _decrypt(self, session: TlsSession, data: bytes) -> bytes:
        """``data`` from the wire as plaintext (b"" while handshaking or when done)."""
        try:
            plain, reply = session.receive(data)
        except ssl.SSLError:
            failed = self._state is _State.CONNECTING
            self.abort(Metric.TLS_HANDSHAKE_FAILURES if failed else Metric.TCP_FRAMING_ERRORS)
            return b""
        if reply and self._transport is not None:
            self._transport.write(reply)
        if self._state is _State.CONNECTING and session.established:
            if self._handshake_timer is not None:
                self._handshake_timer.cancel()
                self._handshake_timer = None
            self.tls_peer = tls_peer(session.ssl_object)
            self._env.counts[Metric.TLS_HANDSHAKES] += 1
            self._open()
        if session.closed:
            self.close()
        return plain

    def _admit(self, transport: asyncio.Transport) -> bool:
        peername = transport.get_extra_info("peername")
        refusal = Metric.TCP_REFUSED_TOTAL
        if peername is not None:
            self.remote = peer_of(peername, self.transport_name)
            refusal_or_none = self._env.table.refusal(self.remote)
            if refusal_or_none is None:
                self.connection_id = self._env.table.add(self)
                self._env.counts[Metric.TCP_ACCEPTED] += 1
                return True
            refusal = refusal_or_none
        self._env.counts[refusal] += 1
        self._state = _State.CLOSING
        transport.abort()
        return False

    def _feed(self, data: bytes, now: float) -> bool:
        """Frame ``data`` and deliver what completes; False once the connection is done."""
        try:
            return self._framing.feed(data, now, self)
        except SipParseError:
            self._env.counts[Metric.TCP_FRAMING_ERRORS] += 1
            self.close()
            return False

    def _seal(self, data: bytes) -> bytes:
        """``data`` as it goes on the wire (encrypted on TLS)."""
        if self._session is None or not data:
            return data
        return self._session.send(data)

    def _mark_closing(self) -> None:
        if self._state in (_State.CONNECTING, _State.OPEN):
            self._state = _State.CLOSING
            self.closing_since = self._env.loop.time()
