"""TCP: framing through the real socket, reuse, outbound connects, caps and deadlines."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator

from sipguard.config import TransportConfig
from sipguard.sip.limits import ParseLimits
from sipguard.transport import Metric, Peer, StreamLimits
from tests.transport.test_manager import (
    LOOPS,
    TCP,
    Client,
    closed_by_server,
    eventually,
    run,
    running,
    sip_message,
)

pytestmark = LOOPS


def test_one_byte_writes_are_reassembled(loop_factory) -> None:
    async def body() -> None:
        async with running((TCP, "127.0.0.1")) as edge, Client(edge.local(TCP)) as client:
            for byte in sip_message(1, b"hello"):
                client.send(bytes([byte]))
                await asyncio.sleep(0)
            await eventually(lambda: bool(edge.inbound))
            assert [i.data for i in edge.inbound] == [sip_message(1, b"hello")]

    run(loop_factory, body)


def test_two_messages_in_one_write(loop_factory) -> None:
    async def body() -> None:
        async with running((TCP, "127.0.0.1")) as edge, Client(edge.local(TCP)) as client:
            client.send(sip_message(1, b"a") + sip_message(2))
            await eventually(lambda: len(edge.inbound) == 2)
            assert [i.data for i in edge.inbound] == [sip_message(1, b"a"), sip_message(2)]
            first, second = edge.inbound
            assert first.connection_id == second.connection_id is not None

    run(loop_factory, body)


def test_large_write_is_fed_in_chunks(loop_factory) -> None:
    # 40 messages of ~2 KiB in one write: more than the framer's MAX_CHUNK at once.
    async def body() -> None:
        async with running((TCP, "127.0.0.1")) as edge, Client(edge.local(TCP)) as client:
            messages = [sip_message(n, b"z" * 2000) for n in range(40)]
            client.send(b"".join(messages))
            await eventually(lambda: len(edge.inbound) == 40)
            assert [i.data for i in edge.inbound] == messages

    run(loop_factory, body)


def test_crlfcrlf_ping_gets_crlf_pong(loop_factory) -> None:
    async def body() -> None:
        async with running((TCP, "127.0.0.1")) as edge, Client(edge.local(TCP)) as client:
            client.send(b"\r\n\r\n")
            assert await client.receive(2) == (
                b"\r\n",
                (edge.local(TCP).host, edge.local(TCP).port),
            )
            assert edge.inbound == []

    run(loop_factory, body)


def test_send_to_peer_reuses_its_inbound_connection(loop_factory) -> None:
    async def body() -> None:
        async with running((TCP, "127.0.0.1")) as edge, Client(edge.local(TCP)) as client:
            client.send(sip_message())
            await eventually(lambda: bool(edge.inbound))
            # No connection_id: found by the remote address alone.
            edge.manager.send(Peer(TCP, client.address[0], client.address[1]), b"NOTIFY")
            assert (await client.receive(6))[0] == b"NOTIFY"
            stats = edge.manager.stats()
            assert stats.connections_open == 1
            assert stats.count(Metric.TCP_CONNECTS) == 0
            assert edge.failed == []

    run(loop_factory, body)


class Upstream:
    """A plain asyncio server standing in for a PBX."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.writers: list[asyncio.StreamWriter] = []

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)
        while data := await reader.read(65536):
            self.received += data


@contextlib.asynccontextmanager
async def upstream() -> AsyncIterator[tuple[Upstream, Peer]]:
    peer = Upstream()
    server = await asyncio.start_server(peer._serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield peer, Peer(TCP, "127.0.0.1", port)
    finally:
        for writer in peer.writers:
            writer.close()
        server.close()
        await server.wait_closed()


def test_outbound_connection_is_opened_queued_and_reused(loop_factory) -> None:
    async def body() -> None:
        async with running((TCP, "127.0.0.1")) as edge, upstream() as (pbx, dest):
            edge.manager.send(dest, b"first;")  # queued while connecting
            edge.manager.send(dest, b"second;")  # same pending connection
            await eventually(lambda: bytes(pbx.received) == b"first;second;")
            assert edge.manager.stats().connections_outbound == 1
            pbx.writers[0].write(sip_message(9))  # the PBX answers on that connection
            await eventually(lambda: bool(edge.inbound))
            (inbound,) = edge.inbound
            assert inbound.peer == dest
            assert inbound.local == edge.local(TCP)
            edge.manager.send(dest, b"third;", connection_id=inbound.connection_id)
            await eventually(lambda: pbx.received.endswith(b"third;"))
            assert edge.manager.stats().count(Metric.TCP_CONNECTS) == 1
            assert len(pbx.writers) == 1
            assert edge.failed == []

    run(loop_factory, body)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_send_to_closed_port_fails_once_asynchronously(loop_factory) -> None:
    async def body() -> None:
        async with running((TCP, "127.0.0.1")) as edge:
            dest = Peer(TCP, "127.0.0.1", _closed_port())
            edge.manager.send(dest, b"hello")
            assert edge.failed == []  # never inside send
            await eventually(lambda: bool(edge.failed))
            await asyncio.sleep(0.1)
            (failure,) = edge.failed
            assert (failure.dest, failure.data) == (dest, b"hello")
            assert "failed" in failure.reason
            stats = edge.manager.stats()
            assert stats.connections_open == 0
            assert stats.count(Metric.TCP_CONNECT_FAILURES) == 1

    run(loop_factory, body)


def test_stale_connection_id_falls_back_to_a_new_connection(loop_factory) -> None:
    async def body() -> None:
        async with running((TCP, "127.0.0.1")) as edge, upstream() as (pbx, dest):
            edge.manager.send(dest, b"data;", connection_id=12345)
            await eventually(lambda: bytes(pbx.received) == b"data;")
            assert edge.failed == []

    run(loop_factory, body)


def test_per_source_cap_closes_the_extra_connection(loop_factory) -> None:
    config = TransportConfig(max_connections_per_source=2)

    async def body() -> None:
        async with running((TCP, "127.0.0.1"), config=config) as edge:
            server = edge.local(TCP)
            async with Client(server), Client(server):
                await eventually(lambda: edge.manager.stats().connections_open == 2)
                async with Client(server) as third:
                    assert await closed_by_server(third.reader)
                stats = edge.manager.stats()
                assert stats.per_source == {"127.0.0.1": 2}
                assert stats.count(Metric.TCP_REFUSED_PER_SOURCE) == 1

    run(loop_factory, body)


def test_total_cap_closes_the_extra_connection(loop_factory) -> None:
    config = TransportConfig(max_connections=1)

    async def body() -> None:
        async with running((TCP, "127.0.0.1"), config=config) as edge, Client(edge.local(TCP)):
            await eventually(lambda: edge.manager.stats().connections_open == 1)
            async with Client(edge.local(TCP)) as second:
                assert await closed_by_server(second.reader)
            assert edge.manager.stats().count(Metric.TCP_REFUSED_TOTAL) == 1
            # Outbound connections count against the same cap.
            edge.manager.send(Peer(TCP, "127.0.0.1", 9), b"x")
            await eventually(lambda: bool(edge.failed))
            assert edge.failed[0].reason == "connection limit reached"

    run(loop_factory, body)


def test_idle_connection_is_closed(loop_factory) -> None:
    config = TransportConfig(tcp_idle_timeout=0.3)

    async def body() -> None:
        async with running((TCP, "127.0.0.1"), config=config) as edge:
            async with Client(edge.local(TCP)) as client:
                client.send(sip_message())
                await eventually(lambda: bool(edge.inbound))
                started = asyncio.get_running_loop().time()
                assert await closed_by_server(client.reader)
                elapsed = asyncio.get_running_loop().time() - started
                assert 0.2 < elapsed < 1.5
            await eventually(lambda: edge.manager.stats().connections_open == 0)
            assert edge.manager.stats().count(Metric.TCP_IDLE_CLOSED) == 1

    run(loop_factory, body)


def test_slow_drip_is_closed_within_the_bound(loop_factory) -> None:
    limits = StreamLimits(message_timeout=0.4, sweep_interval=0.05)

    async def body() -> None:
        async with running((TCP, "127.0.0.1"), limits=limits) as edge:
            async with Client(edge.local(TCP)) as client:
                loop = asyncio.get_running_loop()
                started = loop.time()
                drip = asyncio.ensure_future(_drip(client))
                assert await closed_by_server(client.reader)
                drip.cancel()
                with contextlib.suppress(asyncio.CancelledError, ConnectionError):
                    await drip
                assert 0.3 < loop.time() - started < 1.5
            assert edge.inbound == []
            assert edge.manager.stats().count(Metric.TCP_SLOW_CLOSED) == 1

    run(loop_factory, body)


async def _drip(client: Client) -> None:
    for byte in sip_message():  # one byte every 50 ms: never idle, never complete in time
        client.send(bytes([byte]))
        await asyncio.sleep(0.05)


def test_oversize_header_closes_without_delivering(loop_factory) -> None:
    config = TransportConfig(limits=ParseLimits(max_header_size=1024))

    async def body() -> None:
        async with running((TCP, "127.0.0.1"), config=config) as edge:
            async with Client(edge.local(TCP)) as client:
                client.send(sip_message(1) + b"OPTIONS sip:x SIP/2.0\r\nX: " + b"a" * 2000)
                assert await closed_by_server(client.reader)
            assert [i.data for i in edge.inbound] == [sip_message(1)]  # the whole one only
            assert edge.manager.stats().count(Metric.TCP_FRAMING_ERRORS) == 1

    run(loop_factory, body)


def test_peer_that_does_not_read_is_aborted(loop_factory) -> None:
    limits = StreamLimits(max_write_buffer=64 * 1024, sweep_interval=0.05)

    async def body() -> None:
        async with (
            running((TCP, "127.0.0.1"), limits=limits) as edge,
            Client(edge.local(TCP)) as client,
        ):
            client.send(sip_message())
            await eventually(lambda: bool(edge.inbound))
            peer = edge.inbound[0].peer
            chunk = b"x" * 65536
            for _ in range(400):  # 25 MiB, far more than the kernel buffers hold
                edge.manager.send(peer, chunk)
                if edge.manager.stats().count(Metric.TCP_WRITE_OVERFLOW):
                    break
            assert edge.manager.stats().count(Metric.TCP_WRITE_OVERFLOW) == 1
            await eventually(lambda: edge.manager.stats().connections_open == 0)
            await eventually(lambda: bool(edge.failed))
            assert edge.failed[0].reason == "write buffer overflow"

    run(loop_factory, body)
