"""sipguard.certs: real files in tmp_path, real TLS handshakes on loopback."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import socket
import ssl
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from sipguard import certs
from sipguard.certs import CertPaths

DNS_NAME = "sip.example.test"
TIMEOUT = 10.0


@dataclass
class Pki:
    directory: Path
    ca: CertPaths
    server: CertPaths
    client: CertPaths


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    directory = tmp_path / "pki"
    ca = certs.create_ca(directory, "test CA")
    server = certs.issue_server(directory, ca, hostnames=[DNS_NAME], addresses=["127.0.0.1", "::1"])
    client = certs.issue_client(directory, ca, "trunk1")
    return Pki(directory, ca, server, client)


def load(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- handshakes ----------------------------------------------------------------------------


@dataclass
class Handshake:
    client_saw: bytes | None = None
    """The server's DER certificate as the client saw it; None when refused."""
    server_saw: bytes | None = None
    """The client's DER certificate as the server saw it; None if it sent none."""
    reply: bytes = b""


def server_context(pair: CertPaths, *, client_ca: Path | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(pair.cert, pair.key)
    if client_ca is not None:
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cafile=client_ca)
    return context


def client_context(trust: Path, *, pair: CertPaths | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # hostname check and CERT_REQUIRED
    context.load_verify_locations(cafile=trust)
    if pair is not None:
        context.load_cert_chain(pair.cert, pair.key)
    return context


def handshake(
    server: ssl.SSLContext, client: ssl.SSLContext, *, host: str = "127.0.0.1", name: str
) -> Handshake:
    """Connect ``client`` to ``server`` on ``host``; ``name`` is the name checked."""
    return asyncio.run(_handshake(server, client, host, name))


async def _handshake(
    server_ctx: ssl.SSLContext, client_ctx: ssl.SSLContext, host: str, name: str
) -> Handshake:
    result = Handshake()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        result.server_saw = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
        writer.write(b"ok\n")
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            await writer.drain()
            await reader.read()  # until the client closes
        writer.close()
        with contextlib.suppress(ssl.SSLError, ConnectionError):
            await writer.wait_closed()

    async with asyncio.timeout(TIMEOUT):
        listener = await asyncio.start_server(serve, host, 0, ssl=server_ctx)
        async with listener:
            port = listener.sockets[0].getsockname()[1]
            reader, writer = await asyncio.open_connection(
                host, port, ssl=client_ctx, server_hostname=name
            )
            try:
                result.client_saw = writer.get_extra_info("ssl_object").getpeercert(True)
                # TLS 1.3: the server judges the client's certificate after the client
                # has finished; a refusal arrives as an alert (or EOF) on the first read.
                with contextlib.suppress(ssl.SSLError, ConnectionError):
                    result.reply = await reader.readline()
            finally:
                writer.close()
                with contextlib.suppress(ssl.SSLError, ConnectionError):
                    await writer.wait_closed()
    return result


def ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.network
def test_server_certificate_verifies_for_its_dns_name(pki: Pki) -> None:
    done = handshake(server_context(pki.server), client_context(pki.ca.cert), name=DNS_NAME)
    assert done.reply == b"ok\n"
    assert done.client_saw == load(pki.server.cert).public_bytes(Encoding.DER)


@pytest.mark.network
def test_server_certificate_verifies_for_its_ip_address(pki: Pki) -> None:
    done = handshake(server_context(pki.server), client_context(pki.ca.cert), name="127.0.0.1")
    assert done.reply == b"ok\n"


@pytest.mark.network
def test_server_certificate_verifies_for_its_ipv6_address(pki: Pki) -> None:
    if not ipv6_loopback():
        pytest.skip("::1 cannot be bound here")
    context = client_context(pki.ca.cert)
    done = handshake(server_context(pki.server), context, host="::1", name="::1")
    assert done.reply == b"ok\n"


@pytest.mark.network
@pytest.mark.parametrize("name", ["other.example.test", "127.0.0.2"])
def test_a_name_not_in_the_certificate_fails_the_hostname_check(pki: Pki, name: str) -> None:
    with pytest.raises(ssl.SSLCertVerificationError, match="match"):
        handshake(server_context(pki.server), client_context(pki.ca.cert), name=name)


@pytest.mark.network
def test_a_client_trusting_another_ca_refuses_the_server(pki: Pki, tmp_path: Path) -> None:
    other = certs.create_ca(tmp_path / "other", "other CA")
    with pytest.raises(ssl.SSLCertVerificationError, match="certificate verify failed"):
        handshake(server_context(pki.server), client_context(other.cert), name=DNS_NAME)


@pytest.mark.network
def test_mutual_tls_accepts_a_client_of_this_ca_and_reads_its_identity(pki: Pki) -> None:
    server = server_context(pki.server, client_ca=pki.ca.cert)
    client = client_context(pki.ca.cert, pair=pki.client)
    done = handshake(server, client, name=DNS_NAME)
    assert done.reply == b"ok\n"
    assert done.server_saw is not None
    peer = certs.peer_identity(done.server_saw)
    assert peer.fingerprint == certs.fingerprint(load(pki.client.cert))
    assert (peer.dns_names, peer.uris, peer.common_name) == (("trunk1",), (), "trunk1")
    assert done.client_saw is not None
    server_peer = certs.peer_identity(done.client_saw)
    assert server_peer.dns_names == (DNS_NAME,)
    assert server_peer.common_name == DNS_NAME
    assert server_peer.fingerprint == certs.fingerprint(load(pki.server.cert))


@pytest.mark.network
def test_mutual_tls_refuses_a_client_of_another_ca(pki: Pki, tmp_path: Path) -> None:
    other = certs.create_ca(tmp_path / "other", "other CA")
    stranger = certs.issue_client(tmp_path / "other", other, "trunk1")
    server = server_context(pki.server, client_ca=pki.ca.cert)
    done = refused_or_result(server, client_context(pki.ca.cert, pair=stranger))
    assert done is None or (done.reply, done.server_saw) == (b"", None)


@pytest.mark.network
def test_mutual_tls_refuses_a_client_without_a_certificate(pki: Pki) -> None:
    server = server_context(pki.server, client_ca=pki.ca.cert)
    done = refused_or_result(server, client_context(pki.ca.cert))
    assert done is None or (done.reply, done.server_saw) == (b"", None)


def refused_or_result(server: ssl.SSLContext, client: ssl.SSLContext) -> Handshake | None:
    # TLS 1.2 refuses during the handshake, TLS 1.3 on the first read: either is a refusal.
    # The client's own verification of the server must still pass (else the test is moot).
    try:
        return handshake(server, client, name=DNS_NAME)
    except ssl.SSLCertVerificationError:
        raise
    except (ssl.SSLError, ConnectionError):
        return None


@pytest.mark.network
def test_mutual_tls_refuses_another_cas_client_over_tls_1_2(pki: Pki, tmp_path: Path) -> None:
    other = certs.create_ca(tmp_path / "other", "other CA")
    stranger = certs.issue_client(tmp_path / "other", other, "trunk1")
    client = client_context(pki.ca.cert, pair=stranger)
    client.maximum_version = ssl.TLSVersion.TLSv1_2  # the refusal comes in the handshake
    # The server's alert may arrive as such or as a reset, as the kernel schedules it.
    with pytest.raises((ssl.SSLError, ConnectionResetError)) as caught:
        handshake(server_context(pki.server, client_ca=pki.ca.cert), client, name=DNS_NAME)
    assert not isinstance(caught.value, ssl.SSLCertVerificationError)


@pytest.mark.network
def test_a_self_signed_certificate_can_be_pinned_by_a_client(tmp_path: Path) -> None:
    pair = certs.self_signed(tmp_path, hostnames=["localhost"], addresses=["127.0.0.1"])
    done = handshake(server_context(pair), client_context(pair.cert), name="localhost")
    assert done.reply == b"ok\n"
    assert done.client_saw is not None
    assert certs.peer_identity(done.client_saw).fingerprint == certs.fingerprint(load(pair.cert))


# --- files ---------------------------------------------------------------------------------


def test_keys_are_0600_certificates_0644_and_the_directory_0700(pki: Pki) -> None:
    assert mode(pki.directory) == 0o700
    for pair in (pki.ca, pki.server, pki.client):
        assert (mode(pair.key), mode(pair.cert)) == (0o600, 0o644)
    names = sorted(path.name for path in pki.directory.iterdir())  # no temp files left
    assert names == ["ca.crt", "ca.key", "server.crt", "server.key", "trunk1.crt", "trunk1.key"]


@pytest.fixture
def umask() -> Iterator[None]:
    old = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("umask")
def test_modes_do_not_depend_on_the_umask(tmp_path: Path) -> None:
    pair = certs.create_ca(tmp_path / "d", "test CA")
    assert (mode(pair.key), mode(pair.cert)) == (0o600, 0o644)


def test_an_existing_key_is_never_replaced_without_force(pki: Pki) -> None:
    before = pki.ca.key.read_bytes()
    with pytest.raises(FileExistsError) as caught:
        certs.create_ca(pki.directory, "test CA")
    assert caught.value.filename == str(pki.ca.key)
    with pytest.raises(FileExistsError):
        certs.issue_server(pki.directory, pki.ca, hostnames=["x.test"], addresses=[])
    with pytest.raises(FileExistsError):
        certs.issue_client(pki.directory, pki.ca, "trunk1")
    assert pki.ca.key.read_bytes() == before
    certs.create_ca(pki.directory, "test CA", force=True)
    assert pki.ca.key.read_bytes() != before
    assert mode(pki.ca.key) == 0o600


def test_a_lone_certificate_also_blocks_without_force(tmp_path: Path) -> None:
    (tmp_path / "ca.crt").write_bytes(b"someone else's\n")
    with pytest.raises(FileExistsError) as caught:
        certs.create_ca(tmp_path, "test CA")
    assert caught.value.filename == str(tmp_path / "ca.crt")
    assert not (tmp_path / "ca.key").exists()


def test_certificate_authority_extensions(pki: Pki) -> None:
    ca = load(pki.ca.cert)
    basic = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert (basic.critical, basic.value.ca, basic.value.path_length) == (True, True, 0)
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (usage.key_cert_sign, usage.crl_sign, usage.digital_signature) == (True, True, False)
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    server = load(pki.server.cert)
    aki = server.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert ca.subject == ca.issuer == server.issuer


def test_server_and_client_usages(pki: Pki) -> None:
    server = load(pki.server.cert)
    client = load(pki.client.cert)
    eku = x509.oid.ExtendedKeyUsageOID
    assert list(server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        eku.SERVER_AUTH,
        eku.CLIENT_AUTH,
    ]
    assert list(client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        eku.CLIENT_AUTH
    ]
    info = certs.summary(server)
    assert (info.dns_names, info.addresses, info.is_ca) == (
        (DNS_NAME,),
        ("127.0.0.1", "::1"),
        False,
    )


def test_a_leaf_never_outlives_its_ca(tmp_path: Path) -> None:
    ca = certs.create_ca(tmp_path, "short CA", days=10)
    server = certs.issue_server(tmp_path, ca, hostnames=["a.test"], addresses=[], days=825)
    assert load(server.cert).not_valid_after_utc == load(ca.cert).not_valid_after_utc


def test_validity_starts_a_little_before_now(tmp_path: Path) -> None:
    now = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    pair = certs.create_ca(tmp_path, "test CA", days=2, now=now)
    cert = load(pair.cert)
    assert cert.not_valid_before_utc == now - certs.CLOCK_SKEW
    assert cert.not_valid_after_utc == now + timedelta(days=2)


@pytest.mark.parametrize(
    ("hostnames", "addresses", "problem"),
    [
        ([], [], "at least one"),
        (["bad_name.test"], [], "not a DNS host name"),
        (["-x.test"], [], "not a DNS host name"),
        ([], ["1.2.3"], "not an IP address"),
        ([], ["::"], "not a usable address"),
    ],
)
def test_bad_server_names_are_refused(
    pki: Pki, hostnames: list[str], addresses: list[str], problem: str
) -> None:
    with pytest.raises(ValueError, match=problem):
        certs.issue_server(
            pki.directory, pki.ca, hostnames=hostnames, addresses=addresses, force=True
        )


def test_wildcards_and_duplicates(pki: Pki) -> None:
    pair = certs.issue_server(
        pki.directory,
        pki.ca,
        hostnames=["*.Example.TEST", "*.example.test", "a.test."],
        addresses=["127.0.0.1", "127.0.0.1"],
        force=True,
    )
    info = certs.summary(load(pair.cert))
    assert (info.dns_names, info.addresses) == (("*.example.test", "a.test"), ("127.0.0.1",))


@pytest.mark.parametrize(
    "name", ["", "../x", "a/b", "a b", "-x", "x-", ".x", "x..y", "ca", "Server", "é", "x" * 65]
)
def test_unsafe_client_names_are_refused(pki: Pki, name: str) -> None:
    before = {path.name: path.read_bytes() for path in pki.directory.iterdir()}
    with pytest.raises(ValueError, match="client name"):
        certs.issue_client(pki.directory, pki.ca, name, force=True)
    assert {path.name: path.read_bytes() for path in pki.directory.iterdir()} == before


def test_client_names_with_dots_and_digits(pki: Pki) -> None:
    pair = certs.issue_client(pki.directory, pki.ca, "office-2.example.test")
    assert pair == CertPaths(
        pki.directory / "office-2.example.test.crt", pki.directory / "office-2.example.test.key"
    )
    identity = certs.peer_identity(load(pair.cert).public_bytes(Encoding.DER))
    assert identity.dns_names == ("office-2.example.test",)


def test_issuing_without_a_ca_or_with_a_mismatched_ca(tmp_path: Path, pki: Pki) -> None:
    with pytest.raises(FileNotFoundError):
        certs.issue_client(tmp_path / "empty", certs.ca_paths(tmp_path / "empty"), "trunk1")
    mixed = CertPaths(cert=pki.ca.cert, key=pki.server.key)
    with pytest.raises(certs.CertFileError, match="not the EC key"):
        certs.issue_client(tmp_path / "out", mixed, "trunk1")
    assert not (tmp_path / "out").exists()


def test_bad_days(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="days"):
        certs.create_ca(tmp_path, "test CA", days=0)
    assert list(tmp_path.iterdir()) == []


# --- self-signed ---------------------------------------------------------------------------


def test_self_signed_is_reused_while_valid(tmp_path: Path) -> None:
    first = certs.self_signed(tmp_path, hostnames=["localhost"], addresses=["127.0.0.1"])
    key, cert = first.key.read_bytes(), first.cert.read_bytes()
    info = certs.summary(load(first.cert))
    assert info.subject == info.issuer == "CN=localhost"
    again = certs.self_signed(tmp_path, hostnames=["localhost"], addresses=["127.0.0.1"])
    assert again == first
    assert (first.key.read_bytes(), first.cert.read_bytes()) == (key, cert)
    assert (mode(first.key), mode(first.cert)) == (0o600, 0o644)


def test_self_signed_replaces_an_expired_certificate(tmp_path: Path) -> None:
    long_ago = datetime.now(UTC) - timedelta(days=30)
    old = certs.self_signed(tmp_path, hostnames=["localhost"], addresses=[], days=1, now=long_ago)
    old_print = certs.fingerprint(load(old.cert))
    old_key = old.key.read_bytes()
    new = certs.self_signed(tmp_path, hostnames=["localhost"], addresses=[])
    assert new == old
    assert certs.fingerprint(load(new.cert)) != old_print
    assert new.key.read_bytes() != old_key
    assert load(new.cert).not_valid_after_utc > datetime.now(UTC)


def test_self_signed_replaces_a_key_that_is_not_the_certificates(tmp_path: Path) -> None:
    first = certs.self_signed(tmp_path, hostnames=["localhost"], addresses=[])
    other = certs.create_ca(tmp_path / "other", "other")
    first.key.write_bytes(other.key.read_bytes())
    old_print = certs.fingerprint(load(first.cert))
    again = certs.self_signed(tmp_path, hostnames=["localhost"], addresses=[])
    assert certs.fingerprint(load(again.cert)) != old_print
    assert mode(again.key) == 0o600


# --- identities ----------------------------------------------------------------------------

_FINGERPRINT = re.compile(r"SHA256(?::[0-9A-F]{2}){32}")


def test_fingerprint_of_a_certificate_and_of_its_der_bytes(pki: Pki) -> None:
    cert = load(pki.server.cert)
    der = cert.public_bytes(Encoding.DER)
    text = certs.fingerprint(cert)
    assert _FINGERPRINT.fullmatch(text)
    assert text == certs.fingerprint(der)
    assert text.removeprefix("SHA256:").replace(":", "") == hashlib.sha256(der).hexdigest().upper()
    assert text != certs.fingerprint(load(pki.client.cert))


def test_peer_identity_without_subject_alternative_names(pki: Pki) -> None:
    der = load(pki.ca.cert).public_bytes(Encoding.DER)
    assert certs.peer_identity(der) == certs.PeerIdentity(
        fingerprint=certs.fingerprint(der), dns_names=(), uris=(), common_name="test CA"
    )


def test_peer_identity_refuses_garbage() -> None:
    with pytest.raises(ValueError):  # noqa: PT011 -- cryptography's message is not ours
        certs.peer_identity(b"\x30\x03\x02\x01\x00")


def test_read_certificates_of_a_chain_and_of_der(pki: Pki, tmp_path: Path) -> None:
    chain = tmp_path / "fullchain.pem"
    chain.write_bytes(pki.server.cert.read_bytes() + pki.ca.cert.read_bytes())
    leaf, root = certs.read_certificates(chain)
    assert (leaf, root) == (load(pki.server.cert), load(pki.ca.cert))
    der = tmp_path / "leaf.der"
    der.write_bytes(leaf.public_bytes(Encoding.DER))
    assert certs.read_certificates(der) == (leaf,)
    with pytest.raises(certs.CertFileError, match="not a PEM or DER certificate"):
        certs.read_certificates(pki.server.key)
