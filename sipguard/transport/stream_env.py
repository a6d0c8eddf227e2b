"""What the stream connections of one manager share: ``StreamEnv``, and the transport sets.

Rules of this file:
- Values only: one frozen ``StreamEnv`` per manager, built once and handed to every
  stream connection it accepts or opens; nothing here does I/O.
- ``tls`` is read at each new handshake, never copied, so a certificate reload reaches
  every later connection.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

from sipguard.config import TransportName
from sipguard.sip.limits import ParseLimits
from sipguard.transport.base import Counts, MessageHandler, Peer
from sipguard.transport.connections import ConnectionTable, StreamLimits
from sipguard.transport.tls import TlsSetup
from sipguard.transport.ws_policy import WebSocketPolicy

if TYPE_CHECKING:
    from sipguard.transport.stream import StreamConnection

__all__ = [
    "DEFAULT_WEBSOCKET_POLICY",
    "SECURE",
    "WEBSOCKETS",
    "ClosedHandler",
    "StreamEnv",
]

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
