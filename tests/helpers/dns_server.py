"""A loopback DNS server for resolver tests: answers from a small in-memory zone.

Rules of this file: UDP and TCP on the same OS-chosen port of 127.0.0.1. A name in the
zone with another type gets NODATA (NOERROR, empty answer); a name not in the zone gets
NXDOMAIN. UDP answers that would not fit 512 bytes (or the query's EDNS size) are sent
with TC set, and the client retries over TCP (RFC 1035 §4.2.2 length-prefixed framing).
Every query is counted per (name, type), e.g. ``("_sip._udp.pbx.test.", "SRV")``.

    async with dns_server({("pbx.test.", "A"): ["127.0.0.1"]}) as server:
        host, port = server.address
        ...
        assert server.queries[("pbx.test.", "A")] == 1
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any, cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

Zone = Mapping[tuple[str, str], Sequence[str]]
"""(absolute lower-case name, type name) → rdata texts."""

_UDP_LIMIT = 512


class LoopbackDns(asyncio.DatagramProtocol):
    """The server's state: zone, counters, and the transport once bound."""

    def __init__(
        self, zone: Zone, *, ttl: int, ttls: Mapping[tuple[str, str], int], glue: bool, delay: float
    ) -> None:
        self.zone = {(n.lower(), t.upper()): list(v) for (n, t), v in zone.items()}
        self.ttl = ttl
        self.ttls = dict(ttls)
        self.glue = glue
        self.delay = delay
        self.queries: Counter[tuple[str, str]] = Counter()
        self.address = ("127.0.0.1", 0)
        self._transport: asyncio.DatagramTransport | None = None
        self.writers: set[asyncio.StreamWriter] = set()

    def __iter__(self) -> Iterator[Any]:
        """Unpacks as ``(host, port)``."""
        return iter(self.address)

    @property
    def total(self) -> int:
        """Queries received so far, all names and types."""
        return sum(self.queries.values())

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # The selector loop's datagram transport does not subclass DatagramTransport.
        self._transport = cast(asyncio.DatagramTransport, transport)
        self.address = transport.get_extra_info("sockname")[:2]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            query = dns.message.from_wire(data)
        except dns.exception.DNSException:
            return
        wire = self.answer(query)
        if self.delay > 0:
            asyncio.get_running_loop().call_later(self.delay, self._send, wire, addr)
        else:
            self._send(wire, addr)

    def _send(self, wire: bytes, addr: tuple[str, int]) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.sendto(wire, addr)

    def answer(self, query: dns.message.Message, *, stream: bool = False) -> bytes:
        """The response to ``query`` in wire format; counts the query."""
        response = dns.message.make_response(query)
        question = query.question[0]
        name = question.name.to_text().lower()
        rdtype = dns.rdatatype.to_text(question.rdtype)
        self.queries[name, rdtype] += 1
        texts = self.zone.get((name, rdtype))
        if texts is not None:
            response.answer.append(self._rrset(name, rdtype, texts))
            if self.glue and rdtype == "SRV":
                self._add_glue(response, texts)
        elif not any(n == name for n, _ in self.zone):
            response.set_rcode(dns.rcode.NXDOMAIN)
        if stream:
            return response.to_wire()
        limit = max(query.payload, _UDP_LIMIT) if query.edns >= 0 else _UDP_LIMIT
        try:
            return response.to_wire(max_size=limit)
        except dns.exception.TooBig:
            response = dns.message.make_response(query)
            response.flags |= dns.flags.TC
            return response.to_wire()

    async def serve_stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Answer length-prefixed queries on one TCP connection until it closes."""
        self.writers.add(writer)
        try:
            while True:
                size = int.from_bytes(await reader.readexactly(2), "big")
                query = dns.message.from_wire(await reader.readexactly(size))
                wire = self.answer(query, stream=True)
                writer.write(len(wire).to_bytes(2, "big") + wire)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, dns.exception.DNSException):
            pass
        finally:
            self.writers.discard(writer)
            writer.close()

    def _rrset(self, name: str, rdtype: str, texts: Sequence[str]) -> dns.rrset.RRset:
        ttl = self.ttls.get((name, rdtype), self.ttl)
        return dns.rrset.from_text_list(name, ttl, dns.rdataclass.IN, rdtype, list(texts))

    def _add_glue(self, response: dns.message.Message, srv_texts: Sequence[str]) -> None:
        for text in srv_texts:
            target = text.split()[-1].lower()
            for rdtype in ("A", "AAAA"):
                addresses = self.zone.get((target, rdtype))
                if addresses is not None:
                    response.additional.append(self._rrset(target, rdtype, addresses))


@contextlib.asynccontextmanager
async def dns_server(
    zone: Zone,
    *,
    ttl: int = 300,
    ttls: Mapping[tuple[str, str], int] | None = None,
    glue: bool = False,
    delay: float = 0.0,
) -> AsyncIterator[LoopbackDns]:
    """Serve ``zone`` on 127.0.0.1 (UDP) until the block ends.

    ``ttl`` applies to every record unless ``ttls`` names (name, type); ``glue`` adds
    the A/AAAA records of SRV targets found in the zone to the additional section;
    ``delay`` holds every answer back that many seconds.
    """
    loop = asyncio.get_running_loop()
    server = LoopbackDns(zone, ttl=ttl, ttls=ttls or {}, glue=glue, delay=delay)
    for _ in range(20):  # the UDP port may be taken for TCP by someone else: pick again
        transport, _ = await loop.create_datagram_endpoint(
            lambda: server, local_addr=("127.0.0.1", 0)
        )
        try:
            tcp = await asyncio.start_server(server.serve_stream, *server.address)
            break
        except OSError:
            transport.close()
    else:
        raise OSError("no port free for both UDP and TCP")
    try:
        yield server
    finally:
        transport.close()
        tcp.close()
        for writer in list(server.writers):
            writer.close()
        await tcp.wait_closed()


class _Silent(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received = 0

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.received += 1


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[tuple[str, int]]:
    """A bound UDP socket on 127.0.0.1 that reads queries and never answers."""
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_datagram_endpoint(_Silent, local_addr=("127.0.0.1", 0))
    try:
        host, port = transport.get_extra_info("sockname")[:2]
        yield host, port
    finally:
        transport.close()
