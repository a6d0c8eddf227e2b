"""TCP listeners and outbound connects, for TCP, TLS, ws and wss alike.

The connections themselves are ``StreamConnection`` (``stream.py``, with its framing in
``framing.py`` and ``ws.py``); this module also re-exports the stream transport's public
names, so ``sipguard.transport.tcp`` stays the one import for them.

Rules of this file:
- A listener is one bound socket (``bind_socket`` names the address in its BindError) and
  one asyncio server making an INBOUND ``StreamConnection`` per accepted socket; admission
  is the connection's business, in ``connection_made``.
- ``connect`` never raises for network or TLS failures: a failure reason, or None. It is
  unbounded; its caller bounds it with ``asyncio.timeout``. A TLS upstream handshakes inside
  ``create_connection``, against ``server_name`` (else its address).
"""

from __future__ import annotations

import asyncio
import socket
import ssl

from sipguard.config import ListenConfig
from sipguard.transport.base import Peer, bind_socket
from sipguard.transport.connections import Direction
from sipguard.transport.stream import StreamConnection, peer_of
from sipguard.transport.stream_env import (
    DEFAULT_WEBSOCKET_POLICY,
    SECURE,
    WEBSOCKETS,
    ClosedHandler,
    StreamEnv,
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
        local = peer_of(sock.getsockname(), transport)
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
