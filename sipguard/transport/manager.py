"""The transport manager: the one object the engine talks to.

Rules of this file:
- ``send`` never blocks and never raises for I/O reasons: every failure becomes one
  ``SendFailed`` per send, delivered with ``loop.call_soon`` (never re-entrantly inside
  ``send``, so the engine's own state is consistent when it hears of it).
- UDP goes out of the listener of the destination's IP family (or the one named by
  ``local``), so the source port is the listening port (RFC 3261 §18.2.1; RFC 3581 §4).
- TCP reuse order: the connection named by ``connection_id`` if still open (RFC 3261
  §18.2.2: a response goes back on the connection the request came on), else any open
  connection to ``dest``, else a new outbound connection, bounded by
  ``tcp_connect_timeout``, with the data queued until it is up.
- WebSocket (ws, wss): accepted only. A send goes over the connection named by
  ``connection_id`` or the one from ``dest``, never a new one (RFC 7118 §5: a ws client is
  reachable only over the connection it opened), else one ``SendFailed``.
- One periodic sweep task checks every connection's deadlines and pings idle WebSocket
  connections; there is no timer per connection. ``stop`` follows the uvicorn order: stop
  accepting, ask connections to close, wait (bounded), abort what is left, close the
  datagram sockets.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sipguard.config import ListenConfig, TransportConfig, TransportName
from sipguard.transport.base import (
    Counts,
    MessageHandler,
    Metric,
    NoListenerError,
    Peer,
    SendFailed,
    SendFailedHandler,
    TransportError,
    TransportStats,
    address_family,
    canonical_host,
)
from sipguard.transport.connections import (
    DEFAULT_STREAM_LIMITS,
    ConnectionTable,
    Direction,
    StreamLimits,
)
from sipguard.transport.tcp import (
    DEFAULT_WEBSOCKET_POLICY,
    SECURE,
    WEBSOCKETS,
    ClosedHandler,
    StreamConnection,
    StreamEnv,
    TcpListener,
    connect,
    open_tcp_listener,
)
from sipguard.transport.tls import TlsSetup
from sipguard.transport.udp import UdpListener, open_udp_listener
from sipguard.transport.websocket import WebSocketPolicy

__all__ = ["ABORT_WAIT", "DEFAULT_WS_PING_INTERVAL", "TransportManager"]

ABORT_WAIT = 1.0
"""Seconds ``stop`` waits for aborted connections to report themselves gone."""
DEFAULT_WS_PING_INTERVAL = 30.0
"""Seconds of silence before an idle WebSocket connection gets a Ping (NAT bindings and
browsers' proxies commonly drop idle connections after about a minute)."""
_STREAMS = frozenset({TransportName.TCP, TransportName.TLS})


@dataclass(frozen=True, slots=True)
class _Listening:
    local: Peer
    family: socket.AddressFamily
    udp: UdpListener | None = None
    tcp: TcpListener | None = None


class TransportManager:
    """Owns every listener and stream connection of one sipguard process."""

    def __init__(  # noqa: PLR0913 - keyword-only settings past the third, each defaulted
        self,
        config: TransportConfig,
        on_message: MessageHandler,
        on_send_failed: SendFailedHandler,
        *,
        stream_limits: StreamLimits = DEFAULT_STREAM_LIMITS,
        tls: TlsSetup | None = None,
        websocket: WebSocketPolicy = DEFAULT_WEBSOCKET_POLICY,
        ws_ping_interval: float | None = DEFAULT_WS_PING_INTERVAL,
        on_closed: ClosedHandler | None = None,
    ) -> None:
        """``websocket``: what ws/wss listeners accept; ``ws_ping_interval``: seconds of
        silence before a Ping (None: never); ``on_closed(connection_id, remote)``: called
        (soon, never inside a call into the manager) once per admitted inbound stream
        connection that is gone, e.g. to drop the registrations bound to it."""
        self._config = config
        self.tls = tls
        """The TLS contexts (``tls.reload`` for new certificates); None: no TLS at all."""
        self._on_message = on_message
        self._on_send_failed = on_send_failed
        self._stream_limits = stream_limits
        self._websocket = websocket
        self._ws_ping_interval = ws_ping_interval
        self._on_closed = on_closed
        self._counts: Counts = Counter()
        self._table: ConnectionTable[StreamConnection] = ConnectionTable(config, stream_limits)
        self._listening: list[_Listening] = []
        self._env: StreamEnv | None = None
        self._connects: set[asyncio.Task[None]] = set()
        self._sweeper: asyncio.Task[None] | None = None
        self._stopping = False

    # -- lifespan -------------------------------------------------------------------------

    async def start(self, listeners: Sequence[ListenConfig]) -> None:
        """Bind every listener (port 0: a free port) and start the sweep.

        Raises BindError naming the address when one cannot be bound (those already bound
        are closed again), TransportError for a transport not supported here.
        """
        if self._env is not None:
            raise TransportError("transport manager already started")
        loop = asyncio.get_running_loop()
        self._env = StreamEnv(
            loop,
            self._table,
            self._config.limits,
            self._stream_limits,
            self._on_message,
            self._counts,
            self.tls,
            self._websocket,
            self._on_closed,
        )
        try:
            for listen in listeners:
                self._listening.append(await self._open(listen, self._env))
        except BaseException:
            await self._close_listeners()
            self._listening.clear()
            self._env = None  # a failed start may be retried
            raise
        self._sweeper = loop.create_task(self._sweep(loop))

    async def stop(self, grace: float) -> None:
        """Stop accepting, close every connection within ``grace`` seconds, then abort."""
        self._stopping = True
        if self._sweeper is not None:
            self._sweeper.cancel()
        for listening in self._listening:
            if listening.tcp is not None:
                listening.tcp.close()
        for task in self._connects:
            task.cancel()
        for connection in self._table:
            connection.close()
        waits = [c.closed for c in self._table]
        waits += list(self._connects)
        await _wait(waits, grace)
        for connection in self._table:
            connection.abort()
        await _wait([c.closed for c in self._table], ABORT_WAIT)
        await self._close_listeners()
        if self._sweeper is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweeper

    async def _open(self, listen: ListenConfig, env: StreamEnv) -> _Listening:
        if listen.transport is TransportName.UDP:
            limits = self._config.limits
            udp = await open_udp_listener(listen, limits, self._on_message, self._counts)
            return _Listening(udp.local, address_family(udp.local.host), udp=udp)
        where = Peer(listen.transport, listen.host, listen.port).hostport
        if listen.transport in SECURE and (self.tls is None or self.tls.server is None):
            raise TransportError(f"{listen.transport} listener {where} has no certificate")
        if listen.transport in _STREAMS or listen.transport in WEBSOCKETS:
            tcp = await open_tcp_listener(listen, env)
            return _Listening(tcp.local, address_family(tcp.local.host), tcp=tcp)
        raise TransportError(f"{listen.transport} listeners are not supported yet: {where}")

    async def _close_listeners(self) -> None:
        waits: list[asyncio.Future[None]] = []
        for listening in self._listening:
            if listening.udp is not None:
                listening.udp.close()
                waits.append(listening.udp.closed)
            if listening.tcp is not None:
                listening.tcp.close()
                waits.append(asyncio.ensure_future(listening.tcp.wait_closed()))
        await _wait(waits, ABORT_WAIT)

    async def _sweep(self, loop: asyncio.AbstractEventLoop) -> None:
        while True:
            await asyncio.sleep(self._stream_limits.sweep_interval)
            idle, now = self._config.tcp_idle_timeout, loop.time()
            for connection, expiry in self._table.overdue(now, idle):
                connection.expire(expiry)
            if self._ws_ping_interval is not None:
                for connection in self._table:
                    connection.keepalive(now, self._ws_ping_interval)

    # -- addresses ------------------------------------------------------------------------

    @property
    def listeners(self) -> tuple[Peer, ...]:
        """The bound addresses, in the order they were configured."""
        return tuple(listening.local for listening in self._listening)

    def local_for(self, transport: TransportName, family_of_host: str) -> Peer:
        """The listener of ``transport`` in the IP family of ``family_of_host``.

        This is the address to put in a Via or Record-Route for that destination. Raises
        NoListenerError if there is none, TransportError if the host is not an IP literal.
        """
        listening = self._listener(transport, address_family(family_of_host))
        if listening is None:
            raise NoListenerError(f"no {transport} listener for {family_of_host}")
        return listening.local

    def _listener(
        self, transport: TransportName, family: socket.AddressFamily
    ) -> _Listening | None:
        for listening in self._listening:
            if listening.local.transport is transport and listening.family == family:
                return listening
        return None

    # -- sending --------------------------------------------------------------------------

    def send(
        self,
        dest: Peer,
        data: bytes,
        *,
        connection_id: int | None = None,
        local: Peer | None = None,
        server_name: str | None = None,
    ) -> None:
        """Send ``data`` to ``dest``; failures are reported later through ``on_send_failed``.

        ``local`` (UDP only) picks the listener to send from, e.g. the ``Inbound.local`` a
        request came in on; by default the first listener of the destination's family.
        ``server_name`` (TLS) is the name a new connection checks the certificate for.
        """
        self._started()
        if self._stopping:
            reason: str | None = "transport stopped"
        elif dest.transport is TransportName.UDP:
            reason = self._send_datagram(dest, data, local)
        elif dest.transport in _STREAMS:
            reason = self._send_stream(dest, data, connection_id, server_name)
        elif dest.transport in WEBSOCKETS:
            connection = self._existing(dest, connection_id)
            if connection is None:
                reason = f"no {dest.transport} connection to {dest.hostport}"
            else:
                reason = connection.write(data)
        else:
            reason = f"{dest.transport} is not supported yet"
        if reason is not None:
            self._report(dest, data, reason, connection_id)

    def _send_datagram(self, dest: Peer, data: bytes, local: Peer | None) -> str | None:
        if local is not None:
            listening = next((item for item in self._listening if item.local == local), None)
        else:
            try:
                family = address_family(dest.host)
            except TransportError as error:
                return str(error)
            listening = self._listener(TransportName.UDP, family)
        if listening is None or listening.udp is None:
            return f"no udp listener to send to {dest.hostport}"
        return listening.udp.send(dest, data)

    def _send_stream(
        self, dest: Peer, data: bytes, connection_id: int | None, server_name: str | None
    ) -> str | None:
        connection = self._existing(dest, connection_id)
        if connection is None:
            opened = self._open_connection(dest, server_name)
            if isinstance(opened, str):
                return opened
            connection = opened
        return connection.write(data)

    def _existing(self, dest: Peer, connection_id: int | None) -> StreamConnection | None:
        """The usable connection named by ``connection_id``, else one to ``dest``."""
        connection = None if connection_id is None else self._table.get(connection_id)
        return connection if connection is not None else self._table.find(dest)

    def _open_connection(self, dest: Peer, server_name: str | None) -> StreamConnection | str:
        env = self._started()
        if not self._table.has_room():
            return "connection limit reached"
        if dest.transport is TransportName.TLS and self.tls is None:
            return "no TLS set up"
        try:
            family = address_family(dest.host)
        except TransportError as error:
            return str(error)
        listening = self._listener(dest.transport, family)
        local = None if listening is None else listening.local
        remote = Peer(dest.transport, canonical_host(dest.host), dest.port)
        connection = StreamConnection(
            env, Direction.OUTBOUND, local, remote, transport=dest.transport,
            server_name=server_name,
        )  # fmt: skip
        connection.connection_id = self._table.add(connection)
        self._counts[Metric.TCP_CONNECTS] += 1
        task = env.loop.create_task(self._connect(connection))
        self._connects.add(task)
        task.add_done_callback(self._connects.discard)
        return connection

    async def _connect(self, connection: StreamConnection) -> None:
        try:
            async with asyncio.timeout(self._config.tcp_connect_timeout):
                reason = await connect(connection)
        except TimeoutError:
            reason = f"connect to {connection.remote.hostport} timed out"
        except asyncio.CancelledError:
            connection.connect_failed()  # stop(): nothing to report, nobody to tell
            raise
        if reason is None:
            return
        self._counts[Metric.TCP_CONNECT_FAILURES] += 1
        for data in connection.connect_failed():
            self._report(connection.remote, data, reason, connection.connection_id)

    def _report(self, dest: Peer, data: bytes, reason: str, connection_id: int | None) -> None:
        self._counts[Metric.SEND_FAILURES] += 1
        failure = SendFailed(dest, data, reason, connection_id)
        self._started().loop.call_soon(self._on_send_failed, failure)

    def _started(self) -> StreamEnv:
        if self._env is None:
            raise TransportError("transport manager not started")
        return self._env

    # -- observing ------------------------------------------------------------------------

    def stats(self) -> TransportStats:
        """A snapshot of connection counts and event counters."""
        return TransportStats(
            connections_open=len(self._table),
            connections_inbound=self._table.count(Direction.INBOUND),
            connections_outbound=self._table.count(Direction.OUTBOUND),
            per_source=self._table.per_source(),
            counts=dict(self._counts),
        )


async def _wait(waits: Iterable[asyncio.Future[None]], within: float) -> None:
    """Wait for ``waits`` at most ``within`` seconds; unlike asyncio.timeout, what is not
    done by then is left alone (not cancelled)."""
    pending = [w for w in waits if not w.done()]
    if pending:
        await asyncio.wait(pending, timeout=within)
