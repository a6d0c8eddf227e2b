"""TransportManager over real loopback sockets: one test body, every transport and loop.

The helpers at the top (``run``, ``running``, the clients) are shared with test_udp.py and
test_tcp.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TypeVar, cast

import pytest
import uvloop

from sipguard.config import ListenConfig, TransportConfig, TransportName
from sipguard.transport import (
    BindError,
    Inbound,
    NoListenerError,
    Peer,
    SendFailed,
    StreamLimits,
    TransportError,
    TransportManager,
    new_event_loop,
)
from sipguard.transport import run as run_main
from sipguard.transport.tls import TlsSetup

T = TypeVar("T")
UDP, TCP = TransportName.UDP, TransportName.TCP
FAST = StreamLimits(message_timeout=5.0, sweep_interval=0.05, close_linger=1.0)

LOOPS = pytest.mark.parametrize(
    "loop_factory", [asyncio.new_event_loop, uvloop.new_event_loop], ids=["asyncio", "uvloop"]
)


def ipv6_available() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


needs_ipv6 = pytest.mark.skipif(not ipv6_available(), reason="cannot bind ::1")
HOSTS = ["127.0.0.1", pytest.param("::1", marks=needs_ipv6)]


def run(
    loop_factory: Callable[[], asyncio.AbstractEventLoop],
    body: Callable[[], Awaitable[T]],
    timeout: float = 5.0,
) -> T:
    """Run ``body`` on a fresh loop, bounded by ``timeout``."""

    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await body()

    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(bounded())


def sip_message(n: int = 1, body: bytes = b"") -> bytes:
    """A small OPTIONS request numbered ``n`` (Content-Length always present)."""
    return (
        f"OPTIONS sip:edge@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-{n}\r\n"
        f"From: <sip:a@127.0.0.1>;tag={n}\r\nTo: <sip:edge@127.0.0.1>\r\n"
        f"Call-ID: call-{n}\r\nCSeq: {n} OPTIONS\r\nMax-Forwards: 70\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


class Edge:
    """A manager plus what it handed up."""

    def __init__(
        self, config: TransportConfig, limits: StreamLimits, tls: TlsSetup | None = None
    ) -> None:
        self.inbound: list[Inbound] = []
        self.failed: list[SendFailed] = []
        self.reply: Callable[[Inbound], bytes | None] = lambda _inbound: None
        self.manager = TransportManager(
            config, self._message, self.failed.append, stream_limits=limits, tls=tls
        )

    def _message(self, inbound: Inbound) -> None:
        self.inbound.append(inbound)
        answer = self.reply(inbound)
        if answer is not None:
            self.manager.send(inbound.peer, answer, connection_id=inbound.connection_id)

    def local(self, transport: TransportName, host: str = "127.0.0.1") -> Peer:
        return self.manager.local_for(transport, host)


async def eventually(predicate: Callable[[], bool], within: float = 2.0) -> None:
    """Poll ``predicate`` until true; fail the test after ``within`` seconds."""
    async with asyncio.timeout(within):
        while not predicate():  # noqa: ASYNC110 - the state polled has no event to wait on
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def running(
    *listens: tuple[TransportName, str] | ListenConfig,
    config: TransportConfig | None = None,
    limits: StreamLimits = FAST,
    tls: TlsSetup | None = None,
) -> AsyncIterator[Edge]:
    edge = Edge(config or TransportConfig(), limits, tls)
    listen = [
        item if isinstance(item, ListenConfig) else ListenConfig(item[0], item[1], 0)
        for item in listens
    ]
    await edge.manager.start(listen)
    try:
        yield edge
    finally:
        await edge.manager.stop(1.0)


class UdpClient(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.received.put_nowait((data, (str(addr[0]), int(addr[1]))))


class Client:
    """One client socket of either transport, talking to one listener."""

    def __init__(self, server: Peer) -> None:
        self.server = server
        self._udp: UdpClient | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self.address: tuple[str, int] = ("", 0)

    async def __aenter__(self) -> Client:
        loop = asyncio.get_running_loop()
        if self.server.transport is UDP:
            _, self._udp = await loop.create_datagram_endpoint(
                UdpClient, local_addr=(self.server.host, 0)
            )
            assert self._udp.transport is not None
            self.address = self._udp.transport.get_extra_info("sockname")[:2]
        else:
            self._reader, self._writer = await asyncio.open_connection(
                self.server.host, self.server.port
            )
            self.address = self._writer.get_extra_info("sockname")[:2]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._udp is not None and self._udp.transport is not None:
            self._udp.transport.close()
        if self._writer is not None:
            self._writer.close()
            with contextlib.suppress(ConnectionError):
                await self._writer.wait_closed()

    @property
    def peer(self) -> Peer:
        return Peer(self.server.transport, self.address[0], self.address[1])

    @property
    def reader(self) -> asyncio.StreamReader:
        assert self._reader is not None
        return self._reader

    def send(self, data: bytes) -> None:
        if self._udp is not None:
            assert self._udp.transport is not None
            self._udp.transport.sendto(data, (self.server.host, self.server.port))
        else:
            assert self._writer is not None
            self._writer.write(data)

    async def receive(self, size: int) -> tuple[bytes, tuple[str, int]]:
        """One datagram, or exactly ``size`` stream bytes; with the sender's address."""
        if self._udp is not None:
            return await self._udp.received.get()
        assert self._writer is not None
        data = await self.reader.readexactly(size)
        return data, self._writer.get_extra_info("peername")[:2]


async def closed_by_server(reader: asyncio.StreamReader) -> bool:
    """True once the server closed (FIN or RST); reads and discards anything before."""
    try:
        while await reader.read(65536):
            pass
    except ConnectionError:
        return True
    return True


# --------------------------------------------------------------------------------------


@LOOPS
@pytest.mark.parametrize("transport", [UDP, TCP])
@pytest.mark.parametrize("host", HOSTS)
def test_message_in_and_reply_out(loop_factory, transport: TransportName, host: str) -> None:
    async def body() -> None:
        async with running((transport, host)) as edge, Client(edge.local(transport, host)) as c:
            edge.reply = lambda inbound: b"REPLY:" + inbound.data[:7]
            c.send(sip_message())
            data, source = await c.receive(13)
            assert data == b"REPLY:OPTIONS"
            # The reply comes from the listening address itself (RFC 3581 symmetry for UDP,
            # the same connection for TCP).
            assert source == (host, edge.local(transport, host).port)
            (inbound,) = edge.inbound
            assert inbound.data == sip_message()
            assert inbound.peer == c.peer
            assert inbound.local == edge.local(transport, host)
            assert (inbound.connection_id is None) == (transport is UDP)

    run(loop_factory, body)


@LOOPS
def test_port_zero_gets_a_free_port(loop_factory) -> None:
    async def body() -> None:
        async with running((UDP, "127.0.0.1"), (TCP, "127.0.0.1")) as edge:
            udp, tcp = edge.manager.listeners
            assert (udp.transport, tcp.transport) == (UDP, TCP)
            assert udp.port > 0
            assert tcp.port > 0
            assert udp.host == tcp.host == "127.0.0.1"
            async with Client(tcp):  # the port reported is the port bound
                pass

    run(loop_factory, body)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@LOOPS
@needs_ipv6
def test_v4_and_v6_listeners_share_a_port(loop_factory) -> None:
    async def body() -> None:
        port = _free_port()
        listens = [ListenConfig(t, h, port) for t in (UDP, TCP) for h in ("127.0.0.1", "::1")]
        async with running(*listens) as edge:
            assert {p.port for p in edge.manager.listeners} == {port}
            for transport in (UDP, TCP):
                for host in ("127.0.0.1", "::1"):
                    async with Client(Peer(transport, host, port)) as client:
                        client.send(sip_message())
                        await eventually(lambda: bool(edge.inbound))
                        inbound = edge.inbound.pop()
                        assert inbound.local == Peer(transport, host, port)
                        assert inbound.peer == client.peer

    run(loop_factory, body)


@LOOPS
@needs_ipv6
def test_local_for_matches_transport_and_family(loop_factory) -> None:
    async def body() -> None:
        async with running((UDP, "127.0.0.1"), (UDP, "::1"), (TCP, "127.0.0.1")) as edge:
            udp4, udp6, tcp4 = edge.manager.listeners
            assert edge.manager.local_for(UDP, "192.0.2.7") == udp4
            assert edge.manager.local_for(UDP, "2001:db8::1") == udp6
            assert edge.manager.local_for(TCP, "10.1.2.3") == tcp4
            assert udp6.hostport == f"[::1]:{udp6.port}"
            with pytest.raises(NoListenerError, match="tcp"):
                edge.manager.local_for(TCP, "::1")
            with pytest.raises(TransportError):
                edge.manager.local_for(UDP, "example.com")

    run(loop_factory, body)


@LOOPS
def test_bind_failure_names_the_address(loop_factory) -> None:
    async def body() -> None:
        async with running((TCP, "127.0.0.1")) as first:
            taken = first.manager.listeners[0]
            second = Edge(TransportConfig(), FAST)
            listens = [
                ListenConfig(UDP, "127.0.0.1", 0),
                ListenConfig(TCP, "127.0.0.1", taken.port),
            ]
            with pytest.raises(BindError, match=f"tcp 127.0.0.1:{taken.port}"):
                await second.manager.start(listens)
            assert second.manager.listeners == ()  # the UDP one was closed again

    run(loop_factory, body)


@LOOPS
@pytest.mark.parametrize("transport", [UDP, TCP])
def test_stop_closes_everything(loop_factory, transport: TransportName) -> None:
    async def body() -> None:
        edge = Edge(TransportConfig(), FAST)
        await edge.manager.start(
            [ListenConfig(TCP, "127.0.0.1", 0), ListenConfig(UDP, "127.0.0.1", 0)]
        )
        tcp = edge.local(TCP)
        async with Client(tcp) as client:
            client.send(sip_message())
            await eventually(lambda: edge.manager.stats().connections_open == 1)
            await edge.manager.stop(1.0)
            assert await closed_by_server(client.reader)
        assert edge.manager.stats().connections_open == 0
        with pytest.raises(ConnectionRefusedError):
            await asyncio.open_connection(tcp.host, tcp.port)
        edge.manager.send(Peer(transport, "127.0.0.1", 9), b"late")
        assert edge.failed == []  # reported later, never inside send
        await eventually(lambda: len(edge.failed) == 1)
        assert edge.failed[0].reason == "transport stopped"

    run(loop_factory, body)


@LOOPS
def test_a_ws_peer_without_a_connection_fails_asynchronously(loop_factory) -> None:
    async def body() -> None:
        async with running((UDP, "127.0.0.1")) as edge:
            dest = Peer(TransportName.WS, "127.0.0.1", 5061)
            edge.manager.send(dest, b"x", connection_id=7)
            assert edge.failed == []  # never re-entrantly
            await eventually(lambda: bool(edge.failed))
            assert edge.failed == [SendFailed(dest, b"x", "no ws connection to 127.0.0.1:5061", 7)]

    run(loop_factory, body)


@LOOPS
def test_tls_without_contexts_fails_asynchronously(loop_factory) -> None:
    async def body() -> None:
        async with running((UDP, "127.0.0.1")) as edge:
            dest = Peer(TransportName.TLS, "127.0.0.1", 5061)
            edge.manager.send(dest, b"x")
            await eventually(lambda: bool(edge.failed))
            assert edge.failed == [SendFailed(dest, b"x", "no TLS set up", None)]

    run(loop_factory, body)


def test_send_before_start_is_a_programming_error() -> None:
    manager = TransportManager(TransportConfig(), lambda _m: None, lambda _f: None)
    with pytest.raises(TransportError, match="not started"):
        manager.send(Peer(UDP, "127.0.0.1", 5060), b"x")


def test_run_uses_uvloop_when_installed() -> None:
    async def loop_class() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert run_main(loop_class()).startswith("uvloop")
    loop = new_event_loop()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
