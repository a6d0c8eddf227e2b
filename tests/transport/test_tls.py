"""TLS over real loopback sockets: what is accepted, who a peer is, what is refused and
when, outbound verification, and certificate reload (transport/tls.py, stream.py)."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import ssl
import warnings
from pathlib import Path

import pytest
import uvloop

from sipguard.certs import CertPaths, create_ca, fingerprint, issue_client, issue_server
from sipguard.config import ListenConfig, TlsConfig, TransportName
from sipguard.transport import Metric, Peer, SendFailed
from sipguard.transport.tls import TlsSetup
from tests.transport.test_manager import eventually, running, sip_message

TLS = TransportName.TLS


@dataclasses.dataclass(frozen=True)
class Pki:
    ca: CertPaths
    server: CertPaths
    trunk: CertPaths
    stranger: CertPaths  # a client certificate from another CA


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    ours, theirs = tmp_path_factory.mktemp("ours"), tmp_path_factory.mktemp("theirs")
    ca = create_ca(ours, "test CA")
    server = issue_server(ours, ca, hostnames=["localhost"], addresses=["127.0.0.1"])
    trunk = issue_client(ours, ca, "trunk1")
    other = create_ca(theirs, "other CA")
    return Pki(ca, server, trunk, issue_client(theirs, other, "intruder"))


def setup(pki: Pki, **tls: object) -> TlsSetup:
    config = dataclasses.replace(TlsConfig(ca=pki.ca.cert, handshake_timeout=0.5), **tls)  # type: ignore[arg-type]
    return TlsSetup.of(config, pki.server.cert, pki.server.key)


def client_context(pki: Pki, cert: CertPaths | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca.cert))
    if cert is not None:
        context.load_cert_chain(cert.cert, cert.key)
    return context


async def exchange(server: Peer, context: ssl.SSLContext, data: bytes) -> bytes:
    """Connect, send ``data``, return the first bytes answered (b"" when closed)."""
    reader, writer = await asyncio.open_connection(
        server.host, server.port, ssl=context, server_hostname="localhost"
    )
    try:
        writer.write(data)
        await writer.drain()
        return await reader.read(65535)
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await writer.wait_closed()


def test_a_message_over_tls_arrives_and_is_answered_on_the_connection(pki: Pki) -> None:
    async def body() -> None:
        async with running((TLS, "127.0.0.1"), tls=setup(pki)) as edge:
            edge.reply = lambda inbound: b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"
            answer = await exchange(edge.local(TLS), client_context(pki), sip_message())
            assert answer.startswith(b"SIP/2.0 200 OK")
            (inbound,) = edge.inbound
            assert inbound.peer.transport is TLS
            assert inbound.tls_peer is None  # no client certificate: nobody in particular

    asyncio.run(asyncio.wait_for(body(), 10))


def test_a_client_certificate_from_our_ca_names_the_peer(pki: Pki) -> None:
    async def body() -> None:
        async with running((TLS, "127.0.0.1"), tls=setup(pki)) as edge:
            edge.reply = lambda inbound: b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"
            await exchange(edge.local(TLS), client_context(pki, pki.trunk), sip_message())
            peer = edge.inbound[0].tls_peer
            assert peer is not None
            assert peer.fingerprint == fingerprint(_der(pki.trunk.cert))
            assert "trunk1" in peer.names

    asyncio.run(asyncio.wait_for(body(), 10))


def _der(path: Path) -> bytes:
    return ssl.PEM_cert_to_DER_cert(path.read_text())


@pytest.mark.parametrize(
    ("verify", "who"),
    [("optional", "stranger"), ("required", "stranger"), ("required", "nobody")],
)
def test_refused_clients_never_deliver_a_message(pki: Pki, verify: str, who: str) -> None:
    cert = pki.stranger if who == "stranger" else None

    async def body() -> None:
        async with running((TLS, "127.0.0.1"), tls=setup(pki, verify_clients=verify)) as edge:
            try:
                answer = await exchange(edge.local(TLS), client_context(pki, cert), sip_message())
            except (ssl.SSLError, ConnectionError, OSError):
                answer = b""
            assert answer == b""  # TLS 1.3: a refused client may learn it only at its read
            await asyncio.sleep(0.1)
            assert edge.inbound == []
            await eventually(lambda: edge.manager.stats().count(Metric.TLS_HANDSHAKE_FAILURES) >= 1)

    asyncio.run(asyncio.wait_for(body(), 10))


@pytest.mark.parametrize("offer", ["tls1.1", "weak-cipher"])
def test_old_versions_and_weak_ciphers_cannot_connect(pki: Pki, offer: str) -> None:
    context = client_context(pki)
    if offer == "tls1.1":
        with warnings.catch_warnings():  # what an old phone offers is deprecated, rightly
            warnings.simplefilter("ignore", DeprecationWarning)
            context.minimum_version = ssl.TLSVersion.TLSv1
            context.maximum_version = ssl.TLSVersion.TLSv1_1
        context.set_ciphers("ALL:@SECLEVEL=0")
    else:
        context.maximum_version = ssl.TLSVersion.TLSv1_2
        context.set_ciphers("AES128-SHA:AES256-SHA")  # RSA key exchange: no forward secrecy

    async def body() -> None:
        async with running((TLS, "127.0.0.1"), tls=setup(pki)) as edge:
            with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
                await exchange(edge.local(TLS), context, sip_message())
            assert edge.inbound == []
            # The server refused it (the client got as far as offering it).
            await eventually(lambda: edge.manager.stats().count(Metric.TLS_HANDSHAKE_FAILURES) == 1)

    asyncio.run(asyncio.wait_for(body(), 10))


def test_a_handshake_that_never_comes_is_closed_at_the_timeout(pki: Pki) -> None:
    async def body() -> None:
        async with running((TLS, "127.0.0.1"), tls=setup(pki, handshake_timeout=0.3)) as edge:
            server = edge.local(TLS)
            reader, writer = await asyncio.open_connection(server.host, server.port)
            started = asyncio.get_running_loop().time()
            assert await asyncio.wait_for(reader.read(), 3) == b""  # closed on us
            assert asyncio.get_running_loop().time() - started < 2
            writer.close()
            assert edge.manager.stats().count(Metric.TLS_HANDSHAKE_FAILURES) == 1

    asyncio.run(asyncio.wait_for(body(), 10))


def test_handshakes_over_the_per_source_budget_are_refused_before_they_start(pki: Pki) -> None:
    async def body() -> None:
        tls = setup(pki, handshakes_per_source=1.0)  # a burst of 2, then 1 per second
        async with running((TLS, "127.0.0.1"), tls=tls) as edge:
            server = edge.local(TLS)
            results: list[bytes | None] = []
            for _ in range(3):
                try:
                    results.append(await exchange(server, client_context(pki), b"\r\n\r\n"))
                except (ssl.SSLError, ConnectionError, OSError):
                    results.append(None)
            assert results[2] is None
            assert edge.manager.stats().count(Metric.TLS_REFUSED_RATE) == 1
            assert edge.manager.stats().count(Metric.TLS_HANDSHAKES) == 2

    asyncio.run(asyncio.wait_for(body(), 10))


@pytest.mark.parametrize(("name", "delivered"), [("localhost", True), ("evil.example", False)])
def test_outbound_tls_checks_the_servers_name(pki: Pki, name: str, delivered: bool) -> None:
    async def body() -> None:
        async with (
            running((TLS, "127.0.0.1"), tls=setup(pki)) as server,
            running((TransportName.UDP, "127.0.0.1"), tls=setup(pki)) as client,
        ):
            dest = server.local(TLS)
            client.manager.send(dest, sip_message(), server_name=name)
            if delivered:
                await eventually(lambda: bool(server.inbound))
            else:
                await eventually(lambda: bool(client.failed))
                (failed,) = client.failed
                assert isinstance(failed, SendFailed)
                assert "TLS" in failed.reason
                assert server.inbound == []

    asyncio.run(asyncio.wait_for(body(), 10))


def test_a_reload_serves_the_new_certificate_and_keeps_open_connections(
    pki: Pki, tmp_path: Path
) -> None:
    renewed = issue_server(tmp_path, pki.ca, hostnames=["localhost"], addresses=["127.0.0.1"])

    async def body() -> None:
        tls = setup(pki)
        async with running((TLS, "127.0.0.1"), tls=tls) as edge:
            edge.reply = lambda inbound: b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"
            server = edge.local(TLS)
            reader, writer = await asyncio.open_connection(
                server.host, server.port, ssl=client_context(pki), server_hostname="localhost"
            )
            before = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
            config = TlsConfig(ca=pki.ca.cert, handshake_timeout=0.5)
            tls.reload(TlsSetup.of(config, renewed.cert, renewed.key))
            _, writer2 = await asyncio.open_connection(
                server.host, server.port, ssl=client_context(pki), server_hostname="localhost"
            )
            after = writer2.get_extra_info("ssl_object").getpeercert(binary_form=True)
            assert fingerprint(before) == fingerprint(_der(pki.server.cert))
            assert fingerprint(after) == fingerprint(_der(renewed.cert))
            writer.write(sip_message(2))  # the connection from before the reload still works
            assert (await reader.read(65535)).startswith(b"SIP/2.0 200 OK")
            for w in (writer, writer2):
                w.close()

    asyncio.run(asyncio.wait_for(body(), 10))


def test_a_tls_listener_needs_a_certificate(pki: Pki) -> None:
    async def body() -> None:
        tls = TlsSetup.of(TlsConfig(), None, None)
        with pytest.raises(Exception, match="no certificate"):
            async with running(ListenConfig(TLS, "127.0.0.1", 0), tls=tls):
                pass

    asyncio.run(asyncio.wait_for(body(), 10))


def test_uvloop_serves_tls_and_enforces_the_handshake_timeout(pki: Pki) -> None:
    async def body() -> None:
        async with running((TLS, "127.0.0.1"), tls=setup(pki, handshake_timeout=0.3)) as edge:
            edge.reply = lambda inbound: b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n"
            server = edge.local(TLS)
            answer = await exchange(server, client_context(pki, pki.trunk), sip_message())
            assert answer.startswith(b"SIP/2.0 200 OK")
            assert edge.inbound[0].tls_peer is not None
            reader, writer = await asyncio.open_connection(server.host, server.port)
            assert await asyncio.wait_for(reader.read(), 3) == b""
            writer.close()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(asyncio.wait_for(body(), 10))
