"""UDP listener: STUN keep-alives, CR/LF keep-alives, size limits, listener choice."""

from __future__ import annotations

import os
import struct

import pytest

from sipguard.config import TransportConfig
from sipguard.sip.limits import ParseLimits
from sipguard.transport import Metric, Peer
from sipguard.transport.stun import MappedAddress, parse_stun, read_xor_mapped_address
from tests.transport.test_manager import (
    HOSTS,
    LOOPS,
    UDP,
    Client,
    eventually,
    needs_ipv6,
    run,
    running,
    sip_message,
)


def binding_request(transaction_id: bytes) -> bytes:
    return struct.pack("!HHI", 0x0001, 0, 0x2112A442) + transaction_id


@LOOPS
@pytest.mark.parametrize("host", HOSTS)
def test_stun_binding_request_is_answered(loop_factory, host: str) -> None:
    async def body() -> None:
        async with running((UDP, host)) as edge, Client(edge.local(UDP, host)) as client:
            transaction_id = os.urandom(12)
            client.send(binding_request(transaction_id))
            data, source = await client.receive(0)
            assert source == (host, edge.local(UDP, host).port)
            answer = parse_stun(data)
            assert answer is not None
            assert answer.message_type == 0x0101
            assert answer.transaction_id == transaction_id
            # RFC 5626 §8: XOR-MAPPED-ADDRESS is where the request came from.
            assert read_xor_mapped_address(answer) == MappedAddress(*client.address)
            assert edge.inbound == []
            assert edge.manager.stats().count(Metric.STUN_ANSWERED) == 1

    run(loop_factory, body)


@LOOPS
def test_stun_response_is_not_answered_nor_delivered(loop_factory) -> None:
    async def body() -> None:
        async with running((UDP, "127.0.0.1")) as edge, Client(edge.local(UDP)) as client:
            client.send(struct.pack("!HHI", 0x0101, 0, 0x2112A442) + bytes(12))
            client.send(sip_message())  # datagrams on loopback arrive in order
            await eventually(lambda: bool(edge.inbound))
            assert [i.data for i in edge.inbound] == [sip_message()]
            assert edge.manager.stats().count(Metric.STUN_IGNORED) == 1

    run(loop_factory, body)


@LOOPS
@pytest.mark.parametrize("keepalive", [b"\r\n", b"\r\n\r\n", b"\n"])
def test_crlf_datagram_is_ignored(loop_factory, keepalive: bytes) -> None:
    async def body() -> None:
        async with running((UDP, "127.0.0.1")) as edge, Client(edge.local(UDP)) as client:
            client.send(keepalive)
            client.send(sip_message(2))
            await eventually(lambda: bool(edge.inbound))
            assert [i.data for i in edge.inbound] == [sip_message(2)]
            assert edge.manager.stats().count(Metric.DATAGRAMS_KEEPALIVE) == 1

    run(loop_factory, body)


@LOOPS
def test_oversize_datagram_is_dropped(loop_factory) -> None:
    limits = ParseLimits(max_message_size=2000, max_header_size=1000, max_body_size=1000)
    config = TransportConfig(limits=limits)

    async def body() -> None:
        async with (
            running((UDP, "127.0.0.1"), config=config) as edge,
            Client(edge.local(UDP)) as client,
        ):
            client.send(sip_message(1, b"x" * 2001))
            client.send(sip_message(2, b"x" * 1000))  # under the limit: delivered
            await eventually(lambda: bool(edge.inbound))
            assert [i.data for i in edge.inbound] == [sip_message(2, b"x" * 1000)]
            stats = edge.manager.stats()
            assert stats.count(Metric.DATAGRAMS_OVERSIZE) == 1
            assert stats.count(Metric.DATAGRAMS_RECEIVED) == 2

    run(loop_factory, body)


@LOOPS
@needs_ipv6
def test_send_picks_the_listener_of_the_family(loop_factory) -> None:
    async def body() -> None:
        async with running((UDP, "127.0.0.1"), (UDP, "127.0.0.1"), (UDP, "::1")) as edge:
            first, second, v6 = edge.manager.listeners
            async with Client(first) as c4, Client(v6) as c6:
                edge.manager.send(c4.peer, b"to-v4")
                edge.manager.send(c6.peer, b"to-v6")
                assert await c4.receive(0) == (b"to-v4", (first.host, first.port))
                assert await c6.receive(0) == (b"to-v6", (v6.host, v6.port))
                # ``local`` names the listener a request came in on (symmetric response).
                edge.manager.send(c4.peer, b"from-second", local=second)
                assert await c4.receive(0) == (b"from-second", (second.host, second.port))
            assert edge.failed == []

    run(loop_factory, body)


@LOOPS
def test_no_listener_of_the_family_fails_asynchronously(loop_factory) -> None:
    async def body() -> None:
        async with running((UDP, "127.0.0.1")) as edge:
            dest = Peer(UDP, "::1", 5060)
            edge.manager.send(dest, b"x")
            assert edge.failed == []
            await eventually(lambda: bool(edge.failed))
            (failure,) = edge.failed
            assert (failure.dest, failure.data, failure.connection_id) == (dest, b"x", None)
            assert "no udp listener" in failure.reason

    run(loop_factory, body)
