"""Forged-source UDP on loopback with scapy: datagrams that claim any 127.0.0.0/8 source.

Rules of this file:
- Loopback only: every source and destination is checked to lie in 127.0.0.0/8 before a
  byte leaves (``LoopbackOnlyError`` otherwise); nothing here can reach another host.
- A raw socket needs root: ``raw_socket_problem()`` says why one cannot be opened, as a
  skip reason, instead of letting a test fail on a permission error.
- Bounded: every send takes a finite list and returns how many datagrams it handed over.

Speed: scapy serialises a few thousand packets a second, too slow for a flood of tens of
thousands. ``WireBuilder`` has scapy build the IP and UDP headers once per (source
port, destination, payload length) and then patches the source address and both
checksums for each datagram (RFC 791 §3.1 and RFC 768 ones'-complement sums, with
scapy's own ``checksum``); tests compare the result with scapy's full serialisation.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import TracebackType

from scapy.layers.inet import IP, UDP
from scapy.packet import Packet, Raw
from scapy.sendrecv import send
from scapy.supersocket import L3RawSocket
from scapy.utils import checksum

__all__ = [
    "LOOPBACK",
    "Datagram",
    "LoopbackOnlyError",
    "Spoofer",
    "WireBuilder",
    "packet",
    "raw_socket_problem",
    "require_loopback",
]

LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
_IP_HEADER = 20
_UDP_HEADER = 8
_PROTO_UDP = 17


class LoopbackOnlyError(ValueError):
    """An address outside 127.0.0.0/8 was given to a spoofing helper."""


@dataclass(frozen=True, slots=True)
class Datagram:
    """One UDP datagram as the attacker wants it seen: ``src`` is whatever it claims."""

    src: str
    sport: int
    dport: int
    payload: bytes
    dst: str = "127.0.0.1"


def require_loopback(*hosts: str) -> None:
    """Raise ``LoopbackOnlyError`` unless every host is an IPv4 loopback address."""
    for host in hosts:
        try:
            inside = ipaddress.IPv4Address(host) in LOOPBACK
        except ValueError:
            inside = False
        if not inside:
            raise LoopbackOnlyError(f"{host!r} is not in {LOOPBACK}: refusing to send")


def packet(datagram: Datagram) -> Packet:
    """``datagram`` as scapy builds it (IP / UDP / payload)."""
    require_loopback(datagram.src, datagram.dst)
    ip = IP(src=datagram.src, dst=datagram.dst)
    return ip / UDP(sport=datagram.sport, dport=datagram.dport) / Raw(datagram.payload)


def raw_socket_problem() -> str | None:
    """Why scapy cannot send forged packets here (a skip reason), or None when it can."""
    if os.geteuid() != 0:
        return "forging source addresses needs root (a raw socket)"
    try:
        L3RawSocket().close()
    except OSError as exc:
        return f"scapy cannot open a raw socket: {exc}"
    return None


class WireBuilder:
    """Datagrams to the bytes scapy would send, fast (see the module docstring)."""

    def __init__(self) -> None:
        self._headers: dict[tuple[int, str, int, int], bytes] = {}

    def build(self, datagram: Datagram) -> bytes:
        """The bytes scapy would send for ``datagram`` (IP header, UDP header, payload)."""
        require_loopback(datagram.src, datagram.dst)
        key = (datagram.sport, datagram.dst, datagram.dport, len(datagram.payload))
        header = self._headers.get(key)
        if header is None:
            # Any source will do: the header is patched per datagram below.
            blank = bytes(len(datagram.payload))
            template = Datagram("127.0.0.2", datagram.sport, datagram.dport, blank, datagram.dst)
            built = bytes(packet(template))
            header = self._headers[key] = built[: _IP_HEADER + _UDP_HEADER]
        src = socket.inet_aton(datagram.src)
        ip = bytearray(header[:_IP_HEADER])
        ip[12:16] = src
        ip[10:12] = b"\0\0"
        ip[10:12] = struct.pack("!H", checksum(bytes(ip)))
        udp = bytearray(header[_IP_HEADER:])
        udp[6:8] = b"\0\0"
        length = _UDP_HEADER + len(datagram.payload)
        pseudo = src + ip[16:20] + struct.pack("!BBH", 0, _PROTO_UDP, length)
        total = checksum(pseudo + bytes(udp) + datagram.payload)
        # RFC 768: a computed sum of zero is sent as all ones (zero means "no checksum").
        udp[6:8] = struct.pack("!H", total or 0xFFFF)
        return bytes(ip) + bytes(udp) + datagram.payload


class Spoofer:
    """A scapy raw IPv4 socket (``L3RawSocket``, the one that works on loopback)."""

    def __init__(self) -> None:
        self._socket = L3RawSocket()
        self._wire = WireBuilder()

    def __enter__(self) -> Spoofer:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._socket.close()

    def send(self, datagrams: Sequence[Datagram]) -> int:
        """Send through scapy itself (one ``send`` of a packet list): for small counts."""
        packets = [packet(d) for d in datagrams]
        send(packets, socket=self._socket, verbose=False)
        return len(packets)

    def flood(
        self,
        datagrams: Sequence[Datagram],
        *,
        batch: int = 1000,
        pause: float = 0.0,
        between: Callable[[int], None] | None = None,
    ) -> int:
        """Send ``datagrams`` fast: serialised first (``WireBuilder``), then written straight to
        scapy's raw socket in batches of ``batch``, with ``pause`` seconds after each and
        ``between(batch number)`` called there (a legitimate client's turn)."""
        prepared = [(self._wire.build(d), d.dst) for d in datagrams]
        out = self._socket.outs
        if out is None:  # scapy types it optional; L3RawSocket always opens it
            raise OSError("scapy's raw socket has no sending side")
        for number, start in enumerate(range(0, len(prepared), batch)):
            for data, dst in prepared[start : start + batch]:
                out.sendto(data, (dst, 0))
            if between is not None:
                between(number)
            if pause > 0:
                time.sleep(pause)
        return len(prepared)
