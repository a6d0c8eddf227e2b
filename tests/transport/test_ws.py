"""ws and wss listeners over real loopback sockets, with the websockets package as the
browser: upgrade, refusals, messages both ways, size caps, keep-alive Pings, sends with no
connection, and ``on_closed`` (transport/stream.py, ws.py, manager.py)."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Frame, Opcode
from websockets.typing import Origin, Subprotocol

from sipguard.certs import CertPaths, create_ca, issue_server
from sipguard.config import ListenConfig, TlsConfig, TransportConfig, TransportName
from sipguard.transport import Inbound, Metric, Peer, SendFailed, TransportError
from sipguard.transport.manager import TransportManager
from sipguard.transport.tls import TlsSetup
from sipguard.transport.websocket import CloseCode, WebSocketPolicy
from tests.transport.test_manager import FAST, LOOPS, eventually, run, sip_message

WS, WSS, TCP = TransportName.WS, TransportName.WSS, TransportName.TCP
SIP = [Subprotocol("sip")]
OK = b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"


class PingRecorder(ClientConnection):
    """A websockets client that notes every Ping it receives (and answers it, as usual)."""

    pings: int = 0

    def process_event(self, event: object) -> None:
        if isinstance(event, Frame) and event.opcode is Opcode.PING:
            self.pings += 1
        super().process_event(event)  # type: ignore[arg-type]


@dataclass
class WsEdge:
    """A manager with ws/wss listeners, and what it handed up."""

    manager: TransportManager
    inbound: list[Inbound] = field(default_factory=list)
    failed: list[SendFailed] = field(default_factory=list)
    closed: list[tuple[int, Peer]] = field(default_factory=list)
    reply: Callable[[Inbound], bytes | None] = lambda _inbound: None

    def uri(self, transport: TransportName = WS) -> str:
        local = self.manager.local_for(transport, "127.0.0.1")
        return f"{transport}://{local.hostport}/"

    def count(self, metric: Metric) -> int:
        return self.manager.stats().count(metric)


@contextlib.asynccontextmanager
async def running(
    *transports: TransportName,
    policy: WebSocketPolicy | None = None,
    ping: float | None = None,
    idle: float = 60.0,
    tls: TlsSetup | None = None,
) -> AsyncIterator[WsEdge]:
    edge: WsEdge

    def on_message(inbound: Inbound) -> None:
        edge.inbound.append(inbound)
        answer = edge.reply(inbound)
        if answer is not None:
            edge.manager.send(inbound.peer, answer, connection_id=inbound.connection_id)

    def on_failed(failure: SendFailed) -> None:
        edge.failed.append(failure)

    def on_closed(connection_id: int, remote: Peer) -> None:
        edge.closed.append((connection_id, remote))

    manager = TransportManager(
        TransportConfig(tcp_idle_timeout=idle),
        on_message,
        on_failed,
        stream_limits=FAST,
        tls=tls,
        websocket=policy or WebSocketPolicy(),
        ws_ping_interval=ping,
        on_closed=on_closed,
    )
    edge = WsEdge(manager)
    await manager.start([ListenConfig(t, "127.0.0.1", 0) for t in transports])
    try:
        yield edge
    finally:
        await manager.stop(1.0)


def client(uri: str, **options: object) -> connect:
    """A websockets client that offers ``sip`` and sends no Pings of its own."""
    defaults: dict[str, object] = {
        "subprotocols": SIP,
        "proxy": None,
        "ping_interval": None,
        "compression": None,
        "open_timeout": 3,
        "close_timeout": 1,
    }
    return connect(uri, **{**defaults, **options})  # type: ignore[arg-type]


@contextlib.asynccontextmanager
async def raw_connection(
    server: Peer,
) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
    """A plain TCP client, closed however the test ends."""
    reader, writer = await asyncio.open_connection(server.host, server.port)
    try:
        yield reader, writer
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def local_peer(ws: ClientConnection, transport: TransportName = WS) -> Peer:
    host, port = ws.local_address[:2]
    return Peer(transport, host, port)


# --------------------------------------------------------------------------------------


@LOOPS
def test_a_message_arrives_as_ws_and_the_answer_is_one_websocket_message(loop_factory) -> None:
    async def body() -> None:
        async with running(WS) as edge, client(edge.uri()) as ws:
            edge.reply = lambda _inbound: OK
            await ws.send(sip_message().decode())
            assert await ws.recv() == OK.decode()  # one message: the whole response
            (inbound,) = edge.inbound
            assert inbound.data == sip_message()
            assert inbound.peer == local_peer(ws)
            assert inbound.local == edge.manager.local_for(WS, "127.0.0.1")
            assert inbound.connection_id is not None
            assert ws.subprotocol == "sip"
            assert edge.count(Metric.WS_HANDSHAKES) == 1

    run(loop_factory, body)


@LOOPS
def test_a_client_not_offering_sip_is_refused_with_400(loop_factory) -> None:
    async def body() -> None:
        async with running(WS) as edge:
            with pytest.raises(InvalidStatus) as refused:
                async with client(edge.uri(), subprotocols=[Subprotocol("chat")]):
                    pass
            assert refused.value.response.status_code == 400
            await asyncio.sleep(0.05)
            assert edge.inbound == []
            assert edge.count(Metric.WS_REFUSED) == 1
            assert edge.count(Metric.WS_HANDSHAKES) == 0
            await eventually(lambda: edge.manager.stats().connections_open == 0)

    run(loop_factory, body)


@LOOPS
def test_only_allowed_origins_may_upgrade(loop_factory) -> None:
    policy = WebSocketPolicy(allowed_origins=("https://app.example.com",))

    async def body() -> None:
        async with running(WS, policy=policy) as edge:
            with pytest.raises(InvalidStatus) as refused:
                async with client(edge.uri(), origin=Origin("https://evil.example")):
                    pass
            assert refused.value.response.status_code == 403
            async with client(edge.uri(), origin=Origin("https://app.example.com")) as ws:
                await ws.send(sip_message().decode())
                await eventually(lambda: len(edge.inbound) == 1)
            assert edge.count(Metric.WS_REFUSED) == 1

    run(loop_factory, body)


@LOOPS
def test_an_oversized_message_closes_with_1009_and_delivers_nothing(loop_factory) -> None:
    policy = WebSocketPolicy(max_message_size=1024)

    async def body() -> None:
        async with running(WS, policy=policy) as edge, client(edge.uri()) as ws:
            await ws.send(sip_message(body=b"x" * 2000).decode())
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            assert ws.close_code == CloseCode.TOO_BIG
            assert edge.inbound == []
            assert edge.count(Metric.WS_FAILURES) == 1

    run(loop_factory, body)


@pytest.fixture(scope="module")
def server_pki(tmp_path_factory: pytest.TempPathFactory) -> tuple[CertPaths, CertPaths]:
    where = tmp_path_factory.mktemp("wss")
    ca = create_ca(where, "wss test CA")
    return ca, issue_server(where, ca, hostnames=["localhost"], addresses=["127.0.0.1"])


def tls_setup(ca: CertPaths, server: CertPaths) -> TlsSetup:
    return TlsSetup.of(TlsConfig(ca=ca.cert, handshake_timeout=0.5), server.cert, server.key)


@LOOPS
def test_wss_works_end_to_end(loop_factory, server_pki: tuple[CertPaths, CertPaths]) -> None:
    ca, server = server_pki
    context = ssl.create_default_context(cafile=str(ca.cert))

    async def body() -> None:
        async with (
            running(WSS, tls=tls_setup(ca, server)) as edge,
            client(edge.uri(WSS), ssl=context, server_hostname="localhost") as ws,
        ):
            edge.reply = lambda _inbound: OK
            await ws.send(sip_message().decode())
            assert await ws.recv() == OK.decode()
            (inbound,) = edge.inbound
            assert inbound.peer == local_peer(ws, WSS)
            assert inbound.local.transport is WSS
            assert edge.count(Metric.TLS_HANDSHAKES) == 1
            assert edge.count(Metric.WS_HANDSHAKES) == 1

    run(loop_factory, body)


def test_a_wss_listener_needs_a_certificate() -> None:
    async def body() -> None:
        with pytest.raises(TransportError, match=r"wss listener .* has no certificate"):
            async with running(WSS, tls=TlsSetup.of(TlsConfig(), None, None)):
                pass

    asyncio.run(asyncio.wait_for(body(), 5))


@LOOPS
def test_on_closed_fires_once_with_the_connection_id(loop_factory) -> None:
    async def body() -> None:
        async with running(WS, TCP) as edge:
            async with client(edge.uri()) as ws:
                await ws.send(sip_message().decode())
                await eventually(lambda: len(edge.inbound) == 1)
                remote = local_peer(ws)
            await eventually(lambda: len(edge.closed) == 1)
            assert edge.closed == [(edge.inbound[0].connection_id, remote)]
            tcp = edge.manager.local_for(TCP, "127.0.0.1")  # the same for any stream
            async with raw_connection(tcp):
                await eventually(lambda: edge.manager.stats().connections_open == 1)
            await eventually(lambda: len(edge.closed) == 2)
            await asyncio.sleep(0.1)
            assert len(edge.closed) == 2  # once each
            assert edge.closed[1][1].transport is TCP

    run(loop_factory, body)


@LOOPS
def test_a_send_to_a_ws_peer_without_a_connection_fails(loop_factory) -> None:
    async def body() -> None:
        async with running(WS) as edge:
            async with client(edge.uri()) as ws:
                await ws.send(sip_message().decode())
                await eventually(lambda: len(edge.inbound) == 1)
            gone = edge.inbound[0]
            await eventually(lambda: bool(edge.closed))
            edge.manager.send(gone.peer, OK, connection_id=gone.connection_id)
            stranger = Peer(WS, "127.0.0.1", 9)
            edge.manager.send(stranger, OK)
            assert edge.failed == []  # reported later, never inside send
            await eventually(lambda: len(edge.failed) == 2)
            assert [f.reason for f in edge.failed] == [
                f"no ws connection to {gone.peer.hostport}",
                "no ws connection to 127.0.0.1:9",
            ]
            assert edge.manager.stats().connections_open == 0  # nothing was opened

    run(loop_factory, body)


@LOOPS
def test_a_connection_not_yet_upgraded_takes_no_writes_and_idles_out(loop_factory) -> None:
    async def body() -> None:
        async with running(WS, idle=0.3) as edge:
            server = edge.manager.local_for(WS, "127.0.0.1")
            async with raw_connection(server) as (reader, writer):
                await eventually(lambda: edge.manager.stats().connections_open == 1)
                host, port = writer.get_extra_info("sockname")[:2]
                edge.manager.send(Peer(WS, host, port), OK)
                await eventually(lambda: bool(edge.failed))
                assert "not open" in edge.failed[0].reason
                assert await asyncio.wait_for(reader.read(), 2) == b""  # the idle timeout
            assert edge.count(Metric.TCP_IDLE_CLOSED) == 1

    run(loop_factory, body)


@LOOPS
def test_pings_keep_a_silent_client_up_and_without_them_it_idles_out(loop_factory) -> None:
    async def body() -> None:
        async with running(WS, ping=0.1, idle=0.4) as edge:
            async with client(edge.uri(), create_connection=PingRecorder) as ws:
                await asyncio.sleep(1.0)  # silent well past the idle timeout
                assert isinstance(ws, PingRecorder)
                assert ws.pings >= 3
                edge.reply = lambda _inbound: OK
                await ws.send(sip_message().decode())
                assert await ws.recv() == OK.decode()  # the automatic Pongs kept it up
            assert edge.count(Metric.WS_PINGS) >= 3
            assert edge.count(Metric.TCP_IDLE_CLOSED) == 0
        async with running(WS, ping=None, idle=0.4) as edge, client(edge.uri()) as ws:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 2)
            assert ws.close_code == CloseCode.GOING_AWAY
            assert edge.count(Metric.TCP_IDLE_CLOSED) == 1
            assert edge.count(Metric.WS_PINGS) == 0

    run(loop_factory, body)


UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: edge\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Protocol: sip\r\n\r\n"
)
PING_FRAME = b"\x89\x00"  # FIN + Ping, no payload, unmasked (from the server)


@LOOPS
def test_a_peer_that_never_answers_pings_is_closed_at_the_idle_timeout(loop_factory) -> None:
    async def body() -> None:
        async with running(WS, ping=0.1, idle=0.5) as edge:
            server = edge.manager.local_for(WS, "127.0.0.1")
            async with raw_connection(server) as (reader, writer):
                writer.write(UPGRADE)  # then silence: no Pong, ever
                started = asyncio.get_running_loop().time()
                received = await asyncio.wait_for(reader.read(), 3)  # everything, up to EOF
                waited = asyncio.get_running_loop().time() - started
            assert received.startswith(b"HTTP/1.1 101 ")
            assert received.count(PING_FRAME) >= 2
            assert received.endswith(b"\x88\x02\x03\xe9")  # Close 1001 (going away)
            assert 0.5 <= waited < 1.5
            assert edge.count(Metric.TCP_IDLE_CLOSED) == 1

    run(loop_factory, body)


def test_a_client_that_keeps_talking_gets_no_ping() -> None:
    async def body() -> None:
        async with running(WS, ping=0.2) as edge:
            async with client(edge.uri(), create_connection=PingRecorder) as ws:
                for n in range(8):
                    await ws.send(sip_message(n).decode())
                    await asyncio.sleep(0.05)
                await eventually(lambda: len(edge.inbound) == 8)
                assert isinstance(ws, PingRecorder)
                assert ws.pings == 0
            assert edge.count(Metric.WS_PINGS) == 0

    asyncio.run(asyncio.wait_for(body(), 5))
