"""The transport's vocabulary: addresses, what comes in, what failed, counters, errors.

Rules of this file: values only (frozen, slotted dataclasses and enums) plus the one
helper that binds a listening socket. The engine sees ``Inbound`` and ``SendFailed``; it
never sees a socket or an asyncio object.
"""

from __future__ import annotations

import ipaddress
import socket
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING

from sipguard.sip.transports import Peer, TlsPeer, is_canonical_ipv4

if TYPE_CHECKING:
    from sipguard.config import ListenConfig

__all__ = [
    "BindError",
    "Counts",
    "Inbound",
    "MessageHandler",
    "Metric",
    "NoListenerError",
    "Peer",
    "SendFailed",
    "SendFailedHandler",
    "TransportError",
    "TransportStats",
    "address_family",
    "bind_socket",
    "canonical_host",
]


@dataclass(frozen=True, slots=True)
class Inbound:
    """One whole SIP message as received: a datagram, or one message cut by the framer."""

    data: bytes
    peer: Peer
    local: Peer
    """The listener's own address (for an outbound connection: the listener of its
    transport and family, or the socket's own address if there is none)."""
    connection_id: int | None
    """The stream connection it came on; None for UDP."""
    received_at: float
    """Event-loop time (``loop.time()``)."""
    tls_peer: TlsPeer | None = None
    """The verified certificate of a TLS peer (mutual TLS), if it presented one."""


@dataclass(frozen=True, slots=True)
class SendFailed:
    """``data`` could not be sent to ``dest``; reported asynchronously, once per send."""

    dest: Peer
    data: bytes
    reason: str
    connection_id: int | None


MessageHandler = Callable[[Inbound], None]
SendFailedHandler = Callable[[SendFailed], None]


class TransportError(Exception):
    """A transport cannot be set up or used as asked."""


class BindError(TransportError):
    """A listener could not be bound; the message names the address."""


class NoListenerError(TransportError):
    """No listener of the asked transport and IP family exists."""


class Metric(StrEnum):
    """What ``TransportManager.stats()`` counts."""

    DATAGRAMS_RECEIVED = "datagrams_received"
    DATAGRAMS_OVERSIZE = "datagrams_oversize"
    """Dropped: over ``limits.max_message_size``."""
    DATAGRAMS_KEEPALIVE = "datagrams_keepalive"
    """CR/LF-only datagrams, ignored."""
    STUN_ANSWERED = "stun_answered"
    STUN_IGNORED = "stun_ignored"
    """STUN-looking datagrams that are not a valid Binding request."""
    UDP_ERRORS = "udp_errors"
    """``error_received`` calls (ICMP errors, failed sendto)."""
    TCP_ACCEPTED = "tcp_accepted"
    TCP_REFUSED_PER_SOURCE = "tcp_refused_per_source"
    TCP_REFUSED_TOTAL = "tcp_refused_total"
    TCP_FRAMING_ERRORS = "tcp_framing_errors"
    """Closed: oversize or unframeable input (including a message cut by EOF)."""
    TCP_IDLE_CLOSED = "tcp_idle_closed"
    TCP_SLOW_CLOSED = "tcp_slow_closed"
    """Closed: a message started but did not complete within the bound."""
    TCP_WRITE_OVERFLOW = "tcp_write_overflow"
    """Aborted: the peer did not read and our write buffer passed its cap."""
    TCP_CLOSE_ABORTED = "tcp_close_aborted"
    """Aborted: a close did not finish (unflushed writes) within the linger bound."""
    TLS_HANDSHAKES = "tls_handshakes"
    TLS_HANDSHAKE_FAILURES = "tls_handshake_failures"
    """Closed: a handshake failed (old version, weak cipher, bad certificate) or timed out."""
    TLS_REFUSED_RATE = "tls_refused_rate"
    """Closed before the handshake: the source is over its handshakes per second."""
    WS_HANDSHAKES = "ws_handshakes"
    """WebSocket upgrades completed (101 sent)."""
    WS_REFUSED = "ws_refused"
    """Upgrade requests refused with an HTTP 4xx (no ``sip`` subprotocol, Origin, size)."""
    WS_FAILURES = "ws_failures"
    """Closed: a WebSocket protocol violation or an oversized frame or message."""
    WS_PINGS = "ws_pings"
    """Keep-alive Pings sent to idle WebSocket connections."""
    TCP_CONNECTS = "tcp_connects"
    TCP_CONNECT_FAILURES = "tcp_connect_failures"
    MESSAGES_RECEIVED = "messages_received"
    SEND_FAILURES = "send_failures"


Counts = Counter[Metric]


@dataclass(frozen=True, slots=True)
class TransportStats:
    """A snapshot of the transport's counters."""

    connections_open: int
    connections_inbound: int
    connections_outbound: int
    per_source: Mapping[str, int]
    """Open inbound stream connections per source IP."""
    counts: Mapping[Metric, int]
    """Event counters since start; a missing key is 0."""

    def count(self, metric: Metric) -> int:
        """The counter for ``metric`` (0 if it never happened)."""
        return self.counts.get(metric, 0)


def canonical_host(host: str) -> str:
    """The compressed form of an IP literal (``0:0::1`` → ``::1``); other text as is."""
    try:
        return ipaddress.ip_address(host).compressed
    except ValueError:
        return host


def address_family(host: str) -> socket.AddressFamily:
    """AF_INET or AF_INET6 for an IP literal; raises TransportError for anything else."""
    if is_canonical_ipv4(host):
        return socket.AF_INET  # every datagram sent asks: most are plain dotted quads
    try:
        version = ipaddress.ip_address(host).version
    except ValueError:
        raise TransportError(f"not an IP address: {host!r}") from None
    return socket.AF_INET if version == 4 else socket.AF_INET6


def bind_socket(listen: ListenConfig, kind: socket.SocketKind) -> socket.socket:
    """A non-blocking socket bound to ``listen``; raises BindError naming the address."""
    where = Peer(listen.transport, listen.host, listen.port).hostport
    family = address_family(listen.host)
    sock = socket.socket(family, kind)
    try:
        if family == socket.AF_INET6:
            # A v6 listener never takes v4-mapped traffic, so v4 and v6 listeners coexist.
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        if kind == socket.SOCK_STREAM:
            # Restart without waiting out TIME_WAIT; on Linux this never lets two listen.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((listen.host, listen.port))
        sock.setblocking(False)
    except OSError as error:
        sock.close()
        raise BindError(f"cannot bind {listen.transport} {where}: {error.strerror}") from error
    return sock
