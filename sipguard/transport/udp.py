"""UDP listeners: one datagram protocol per listening socket.

Rules of this file:
- One datagram is one message. Sorting happens in ``datagram_received`` and nowhere else:
  oversize → dropped and counted; STUN → answered here (RFC 5626 §8) or ignored;
  CR/LF only → a keep-alive, ignored; everything else → ``on_message``, synchronously,
  with no queue and no task in between. SIP is never parsed here.
- Sending goes out of the listening socket, so the source port is the listening port
  (RFC 3261 §18.2.1 and RFC 3581 symmetric routing depend on it).
- Socket errors are counted (``error_received``), never raised: UDP loss is the
  transaction layer's business (its retransmission timers).
"""

from __future__ import annotations

import asyncio
import socket
from typing import cast

from sipguard.config import ListenConfig, TransportName
from sipguard.sip.limits import ParseLimits
from sipguard.transport.base import (
    Counts,
    Inbound,
    MessageHandler,
    Metric,
    Peer,
    bind_socket,
    canonical_host,
)
from sipguard.transport.stun import binding_answer, is_stun, parse_binding_request

__all__ = ["UDP_RECEIVE_BUFFER", "UdpListener", "open_udp_listener"]

UDP_RECEIVE_BUFFER = 4 * 1024 * 1024
"""SO_RCVBUF asked for: room for a burst of datagrams while the loop is busy (the kernel
caps it at net.core.rmem_max)."""

_KEEPALIVE_BYTES = b"\r\n"


class UdpListener(asyncio.DatagramProtocol):
    """The protocol of one UDP listening socket."""

    def __init__(
        self, local: Peer, limits: ParseLimits, on_message: MessageHandler, counts: Counts
    ) -> None:
        self.local = local
        self._limits = limits
        self._on_message = on_message
        self._counts = counts
        self._transport: asyncio.DatagramTransport | None = None
        self._closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._loop = asyncio.get_running_loop()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # asyncio hands a datagram endpoint's protocol a DatagramTransport.
        self._transport = cast(asyncio.DatagramTransport, transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None
        if not self._closed.done():
            self._closed.set_result(None)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self._counts[Metric.DATAGRAMS_RECEIVED] += 1
        if len(data) > self._limits.max_message_size:
            self._counts[Metric.DATAGRAMS_OVERSIZE] += 1
            return
        host, port = str(addr[0]), int(addr[1])
        if data[:1] < b"\x40" and is_stun(data):  # RFC 5626 §8: first byte 0 or 1 is STUN
            self._answer_stun(data, host, port)
            return
        if not data.strip(_KEEPALIVE_BYTES):
            self._counts[Metric.DATAGRAMS_KEEPALIVE] += 1
            return
        peer = Peer(TransportName.UDP, host, port)
        self._counts[Metric.MESSAGES_RECEIVED] += 1
        self._on_message(Inbound(data, peer, self.local, None, self._loop.time()))

    def error_received(self, exc: Exception) -> None:
        self._counts[Metric.UDP_ERRORS] += 1

    def send(self, dest: Peer, data: bytes) -> str | None:
        """Send one datagram from this listener; a failure reason, or None when handed over."""
        if self._transport is None or self._transport.is_closing():
            return "listener closed"
        try:
            self._transport.sendto(data, (dest.host, dest.port))
        except (OSError, ValueError) as error:  # a bad address for this socket's family
            return f"sendto failed: {error}"
        return None

    def close(self) -> None:
        """Close the socket; ``closed`` is done once it is gone."""
        if self._transport is not None:
            self._transport.close()
        elif not self._closed.done():
            self._closed.set_result(None)

    @property
    def closed(self) -> asyncio.Future[None]:
        """Done once the socket is closed (never cancel it; wrap it in a shield)."""
        return self._closed

    def _answer_stun(self, data: bytes, host: str, port: int) -> None:
        request = parse_binding_request(data)
        if request is None or self._transport is None:
            self._counts[Metric.STUN_IGNORED] += 1
            return
        self._counts[Metric.STUN_ANSWERED] += 1
        self._transport.sendto(binding_answer(request, host, port), (host, port))


async def open_udp_listener(
    listen: ListenConfig, limits: ParseLimits, on_message: MessageHandler, counts: Counts
) -> UdpListener:
    """Bind ``listen`` and start receiving; raises BindError naming the address."""
    sock = bind_socket(listen, socket.SOCK_DGRAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, UDP_RECEIVE_BUFFER)
        host, port = sock.getsockname()[:2]
        local = Peer(TransportName.UDP, canonical_host(host), port)
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_datagram_endpoint(
            lambda: UdpListener(local, limits, on_message, counts), sock=sock
        )
    except BaseException:
        sock.close()
        raise
    return protocol
