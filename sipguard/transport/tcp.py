"""TCP, TLS, ws and wss: one protocol class for accepted and opened connections.

Rules of this file:
- Bytes in → ``StreamFramer`` → each whole message → ``on_message``, synchronously. The
  framer alone finds message boundaries, answers nothing and enforces the size limits;
  a framer error closes the connection without writing anything, so the engine never
  sees a partial message. SIP is never parsed here.
- A CRLFCRLF ping is answered with a CRLF pong (RFC 5626 §3.5.1).
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
- WebSocket (RFC 7118; ws, and wss = ws over the TLS above): the same connection with a
  ``WebSocketServer`` in place of the ``StreamFramer``; only accepted, never opened. The
  codec's events are carried out here: the 101 or the 4xx refusal, Pongs, the closing
  handshake. ``write`` wraps one SIP message in one frame, and is refused (a failure
  reason, nothing queued) until the upgrade is done: nobody can know the connection
  before its first message. An idle connection gets a Ping from the manager's sweep
  (``keepalive``), which does not count as activity, so a peer that never answers is
  still closed at the idle timeout.
- An admitted inbound connection that goes away is reported once to ``on_closed`` (with
  ``call_soon``), so flows bound to it (RFC 5626) can be forgotten.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, auto
from typing import TypeAlias, cast

from sipguard.config import ListenConfig, TransportName
from sipguard.sip.errors import SipParseError
from sipguard.sip.framing import (
    MAX_CHUNK,
    PONG,
    FramedMessage,
    KeepAlivePing,
    NeedData,
    StreamClosed,
    StreamFramer,
)
from sipguard.sip.limits import ParseLimits
from sipguard.sip.transports import TlsPeer
from sipguard.transport.base import (
    Counts,
    Inbound,
    MessageHandler,
    Metric,
    Peer,
    bind_socket,
    canonical_host,
)
from sipguard.transport.connections import (
    ConnectionTable,
    Direction,
    Expiry,
    StreamLimits,
    expiry_metric,
)
from sipguard.transport.tls import TlsSession, TlsSetup, tls_peer
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

__all__ = [
    "DEFAULT_WEBSOCKET_POLICY",
    "LISTEN_BACKLOG",
    "SECURE",
    "WEBSOCKETS",
    "ClosedHandler",
    "StreamConnection",
    "StreamEnv",
    "TcpListener",
    "connect",
    "open_tcp_listener",
]

LISTEN_BACKLOG = 511
"""Pending accepts the kernel may hold (the usual SOMAXCONN-bounded server value)."""
SECURE = frozenset({TransportName.TLS, TransportName.WSS})
"""Transports carried over TLS."""
WEBSOCKETS = frozenset({TransportName.WS, TransportName.WSS})
"""Transports framed by WebSocket (accepted only)."""

DEFAULT_WEBSOCKET_POLICY = WebSocketPolicy()
"""Any Origin, 64 KiB messages and frames, 8 KiB upgrade requests."""

ClosedHandler: TypeAlias = Callable[[int, Peer], None]
"""Told (connection_id, remote) when an admitted inbound stream connection is gone."""


@dataclass(frozen=True, slots=True)
class StreamEnv:
    """What every stream connection of one manager shares."""

    loop: asyncio.AbstractEventLoop
    table: ConnectionTable[StreamConnection]
    limits: ParseLimits
    stream_limits: StreamLimits
    on_message: MessageHandler
    counts: Counts
    tls: TlsSetup | None = None
    """Read at each new handshake (``TlsSetup.reload`` swaps its contexts)."""
    websocket: WebSocketPolicy = DEFAULT_WEBSOCKET_POLICY
    """What ws and wss listeners accept (Origin, sizes)."""
    on_closed: ClosedHandler | None = None
    """Told when an admitted inbound connection is gone (via ``loop.call_soon``)."""


class _State(Enum):
    CONNECTING = auto()
    OPEN = auto()
    CLOSING = auto()
    CLOSED = auto()


def _peer(address: tuple[str | int, ...], transport: TransportName = TransportName.TCP) -> Peer:
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
        self._framer: StreamFramer | WebSocketServer = (
            WebSocketServer(env.websocket) if transport in WEBSOCKETS else StreamFramer(env.limits)
        )
        self._pending: list[bytes] = []
        self._pending_size = 0
        self.last_activity = env.loop.time()
        self._pinged_at = self.last_activity
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

    # -- asyncio callbacks --------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio hands a stream protocol an asyncio.Transport.
        self._transport = cast(asyncio.Transport, transport)
        self.last_activity = self._env.loop.time()
        sockname = transport.get_extra_info("sockname")
        if self._local is None and sockname is not None:
            self._local = _peer(sockname, self.transport_name)
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
            self._write(data)

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
            if not self._mid_message():
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
        if isinstance(self._framer, WebSocketServer):
            if self._framer.state is not WsState.OPEN or self._state is not _State.OPEN:
                where = f"{self.transport_name} connection to {self.remote.hostport}"
                return f"{where} is not open (upgrade not done, or closing)"
            data = self._framer.send_message(data)
        return self._write(data)

    def _write(self, data: bytes, *, activity: bool = True) -> str | None:
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
        if isinstance(self._framer, WebSocketServer):
            # Our Close frame (b"" before the upgrade, or once the codec has closed).
            self._transport.write(self._seal(self._framer.close(CloseCode.GOING_AWAY)))
        if self._session is not None:
            self._transport.write(self._session.close())
        self._transport.close()

    def keepalive(self, now: float, interval: float) -> None:
        """Ping an upgraded ws/wss connection silent for ``interval`` seconds since its
        last byte or Ping (RFC 7118 §6); the Ping does not count as activity."""
        ws = self._framer
        if not isinstance(ws, WebSocketServer) or ws.state is not WsState.OPEN:
            return
        if (
            self._state is not _State.OPEN
            or now - max(self.last_activity, self._pinged_at) < interval
        ):
            return
        self._pinged_at = now
        self._env.counts[Metric.WS_PINGS] += 1
        self._write(ws.ping(), activity=False)

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
            self.remote = _peer(peername, self.transport_name)
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
            self._framer.receive_data(data)
            return self._drain(now)
        except SipParseError:
            self._env.counts[Metric.TCP_FRAMING_ERRORS] += 1
            self.close()
            return False

    def _drain(self, now: float) -> bool:
        while True:
            event = self._framer.next_event()
            if isinstance(event, FramedMessage):
                self.message_started_at = None
                self._env.counts[Metric.MESSAGES_RECEIVED] += 1
                local = self._local if self._local is not None else self.remote
                inbound = Inbound(
                    event.data, self.remote, local, self.connection_id, now, self.tls_peer
                )
                self._env.on_message(inbound)
                if self._state is not _State.OPEN:
                    return False
            elif isinstance(event, KeepAlivePing):
                self.write(PONG)  # RFC 5626 §3.5.1: a CRLFCRLF ping gets a CRLF pong
            elif isinstance(event, NeedData | StreamClosed):
                return self._state is _State.OPEN  # NEED_DATA, or StreamClosed at EOF
            elif not self._websocket_event(event):
                return False

    def _websocket_event(self, event: Upgraded | Refused | PendingWrite | Closed | Failed) -> bool:
        """Carry out what the WebSocket codec asks; False once the connection is done."""
        if isinstance(event, Upgraded):
            self._env.counts[Metric.WS_HANDSHAKES] += 1
            self._write(event.response)
            return self._state is _State.OPEN
        if isinstance(event, PendingWrite):  # a Pong, or the CRLF answer to a CRLFCRLF ping
            self._write(event.data)
            return self._state is _State.OPEN
        if isinstance(event, Refused):
            self._env.counts[Metric.WS_REFUSED] += 1
            self._write(event.response)
        else:
            if isinstance(event, Failed):
                self._env.counts[Metric.WS_FAILURES] += 1
            # RFC 6455 §5.5.1: the server MUST close the TCP connection immediately.
            self._write(event.reply)
        self.close()
        return False

    def _mid_message(self) -> bool:
        if isinstance(self._framer, WebSocketServer):
            return self._framer.mid_message
        return self._framer.buffered > 0

    def _seal(self, data: bytes) -> bytes:
        """``data`` as it goes on the wire (encrypted on TLS)."""
        if self._session is None or not data:
            return data
        return self._session.send(data)

    def _mark_closing(self) -> None:
        if self._state in (_State.CONNECTING, _State.OPEN):
            self._state = _State.CLOSING
            self.closing_since = self._env.loop.time()


class TcpListener:
    """One listening TCP socket."""

    def __init__(self, local: Peer, server: asyncio.Server) -> None:
        self.local = local
        self._server = server

    def close(self) -> None:
        """Stop accepting (open connections are the manager's to close)."""
        self._server.close()

    async def wait_closed(self) -> None:
        """Wait until the listening socket is closed."""
        await self._server.wait_closed()


async def open_tcp_listener(listen: ListenConfig, env: StreamEnv) -> TcpListener:
    """Bind ``listen`` (TCP, TLS, ws or wss) and start accepting; raises BindError naming the
    address."""
    sock = bind_socket(listen, socket.SOCK_STREAM)
    transport = listen.transport
    try:
        local = _peer(sock.getsockname(), transport)
        server = await env.loop.create_server(
            lambda: StreamConnection(env, Direction.INBOUND, local, transport=transport),
            sock=sock,
            backlog=LISTEN_BACKLOG,
        )
    except BaseException:
        sock.close()
        raise
    return TcpListener(local, server)


async def connect(connection: StreamConnection) -> str | None:
    """Open ``connection`` (OUTBOUND, registered) to its remote; a failure reason, or None.

    Unbounded: the caller bounds it with ``asyncio.timeout``.
    """
    dest = connection.remote
    loop = asyncio.get_running_loop()
    tls = connection.tls_setup
    try:
        if tls is None:
            await loop.create_connection(lambda: connection, dest.host, dest.port)
        else:
            await loop.create_connection(
                lambda: connection, dest.host, dest.port, ssl=tls.client,
                server_hostname=connection.server_name or dest.host,
                ssl_handshake_timeout=tls.handshake_timeout,
            )  # fmt: skip
    except ssl.SSLError as error:
        return f"TLS to {dest.hostport} failed: {error.reason or error}"
    except OSError as error:
        return f"connect to {dest.hostport} failed: {error.strerror or error}"
    return None
