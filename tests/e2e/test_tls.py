"""TLS end to end: the self-signed default, TLS first for REGISTER, SIPp calling over TLS
to a UDP upstream, and mutual TLS making a trunk trusted.

Debian's SIPp is built without TLS, so SIPp speaks TCP to ``tls_relay``, which opens a
real TLS connection to sipguard per SIPp connection.
"""

from __future__ import annotations

import signal
import socket
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sipguard.certs import CertPaths, create_ca, fingerprint, issue_client, issue_server
from sipguard.sip import Response, parse_message
from tests.e2e.harness import (
    free_port,
    ipv6_loopback,
    needs_sipp,
    run_sipp,
    sipguard,
    sipp_args,
    sipp_background,
    sipp_errors,
    write_config,
)
from tests.e2e.tls_relay import tls_relay

pytestmark = [pytest.mark.network, pytest.mark.slow]

NO_ACL = "\n"  # no [acl] from the harness: the default's TLS-first rule stays in force
MD5 = '[auth]\nalgorithms = ["MD5"]\n'


def listens(*transports: str) -> str:
    return "".join(f'[[listen]]\ntransport = "{t}"\naddress = "127.0.0.1:0"\n' for t in transports)


def tls_request(port: int, context: ssl.SSLContext, method: str, uri: str) -> Response | None:
    """One request over a fresh TLS connection; the first final response, or None."""
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        local = tls.getsockname()[1]
        tls.sendall(
            (
                f"{method} {uri} SIP/2.0\r\n"
                f"Via: SIP/2.0/TLS 127.0.0.1:{local};branch=z9hG4bK{local}{method}\r\n"
                "Max-Forwards: 70\r\nFrom: <sip:trunk@localhost>;tag=1\r\n"
                f"To: <{uri}>\r\nCall-ID: tls-{local}\r\nCSeq: 1 {method}\r\n"
                f"Contact: <sip:trunk@127.0.0.1:{local};transport=tls>\r\n"
                "Content-Length: 0\r\n\r\n"
            ).encode()
        )
        deadline = time.monotonic() + 5
        buffer = b""
        while time.monotonic() < deadline:
            chunk = tls.recv(65535)
            if not chunk:
                return None
            buffer += chunk
            while b"\r\n\r\n" in buffer:
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                answer = parse_message(head + b"\r\n\r\n")
                if isinstance(answer, Response) and answer.status >= 200:
                    return answer
    return None


def test_the_default_makes_and_serves_a_self_signed_certificate(tmp_path: Path) -> None:
    config = write_config(tmp_path, listens("udp", "tls"))
    with sipguard(config, listeners=2) as node:
        cert = tmp_path / "state" / "certs" / "server.crt"
        assert "self-signed certificate" in node.log_text()
        context = ssl.create_default_context(cafile=str(cert))
        answer = tls_request(node.port("tls"), context, "OPTIONS", "sip:localhost")
        assert answer is not None
        assert answer.status == 200
        assert answer.via.transport == "TLS"
    # A restart reuses the certificate (clients that pinned it keep working).
    before = cert.read_bytes()
    with sipguard(config, listeners=2):
        assert cert.read_bytes() == before


@needs_sipp
def test_register_goes_over_tls_and_is_refused_over_udp(tmp_path: Path) -> None:
    config = write_config(tmp_path, MD5 + listens("udp", "tls"), trusted=NO_ACL)
    subprocess.run(  # noqa: S603 - our interpreter and module
        [sys.executable, "-m", "sipguard", "users", "add", "1001", "--config", str(config)],
        input="s3cret-1001\n", capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip
    with sipguard(config, listeners=2) as node:
        auth = ["-s", "1001", "-au", "1001", "-ap", "s3cret-1001"]
        udp = sipp_args(
            "register_auth.xml", port=free_port(), remote=f"127.0.0.1:{node.port()}",
            extra=auth, timeout=5,
        )  # fmt: skip
        assert run_sipp(udp, tmp_path).returncode != 0  # 403 TLS Required
        assert "TLS Required" in sipp_errors(tmp_path) or "403" in sipp_errors(tmp_path)
        cafile = tmp_path / "state" / "certs" / "server.crt"
        with tls_relay(("127.0.0.1", node.port("tls")), cafile) as relay:
            # -rsa: SIPp sends to the relay, but addresses sipguard in its messages.
            tls = sipp_args(
                "register_auth.xml", port=free_port(), remote=f"127.0.0.1:{node.port('tls')}",
                transport="t1", extra=[*auth, "-rsa", f"127.0.0.1:{relay}"],
            )  # fmt: skip
            result = run_sipp(tls, tmp_path)
            assert result.returncode == 0, sipp_errors(tmp_path) + node.log_text()


@needs_sipp
def test_a_call_over_tls_reaches_a_udp_upstream(tmp_path: Path) -> None:
    pbx_port = free_port()
    body = listens("udp", "tls") + f'[[upstream]]\nuri = "sip:127.0.0.1:{pbx_port}"\n'
    body += "[dispatcher]\nprobe_interval = 0\n"
    config = write_config(tmp_path, body)  # loopback trusted: SIPp carries no credentials
    with sipguard(config, listeners=2) as node:
        cafile = tmp_path / "state" / "certs" / "server.crt"
        uas = sipp_args("uas", port=pbx_port, calls=2)
        with (
            sipp_background(uas, tmp_path) as pbx,
            tls_relay(("127.0.0.1", node.port("tls")), cafile) as relay,
        ):
            uac = sipp_args(
                "uac", port=free_port(), remote=f"127.0.0.1:{node.port('tls')}",
                transport="t1", calls=2, extra=["-s", "2001", "-rsa", f"127.0.0.1:{relay}"],
            )  # fmt: skip
            result = run_sipp(uac, tmp_path)
            assert result.returncode == 0, sipp_errors(tmp_path) + node.log_text()
            assert pbx.wait(20) == 0, sipp_errors(tmp_path)


def pki(tmp_path: Path) -> tuple[CertPaths, CertPaths, CertPaths, CertPaths]:
    ours, theirs = tmp_path / "pki", tmp_path / "other"
    ca = create_ca(ours, "test CA")
    server = issue_server(ours, ca, hostnames=["localhost"], addresses=["127.0.0.1"])
    intruder = issue_client(theirs, create_ca(theirs, "other CA"), "trunk1")
    return ca, server, issue_client(ours, ca, "trunk1"), intruder


def test_a_trunk_with_a_listed_client_certificate_is_trusted(tmp_path: Path) -> None:
    ca, server, trunk, intruder = pki(tmp_path)
    body = listens("udp", "tls") + (
        f'[tls]\ncert = "{server.cert}"\nkey = "{server.key}"\nca = "{ca.cert}"\n'
        'verify_clients = "optional"\n[acl]\ntrusted_names = ["trunk1"]\n'
    )
    config = write_config(tmp_path, body, trusted=NO_ACL)
    with sipguard(config, listeners=2) as node:
        port = node.port("tls")
        plain = ssl.create_default_context(cafile=str(ca.cert))
        with_cert = ssl.create_default_context(cafile=str(ca.cert))
        with_cert.load_cert_chain(trunk.cert, trunk.key)
        # Without a certificate: an ordinary stranger, asked for credentials.
        stranger = tls_request(port, plain, "INVITE", "sip:2001@localhost")
        assert stranger is not None
        assert stranger.status == 407
        # With the listed certificate: trusted, no challenge (2001 is not registered).
        trusted = tls_request(port, with_cert, "INVITE", "sip:2001@localhost")
        assert trusted is not None
        assert trusted.status == 480
        # The same name from another CA never finishes the handshake.
        forged = ssl.create_default_context(cafile=str(ca.cert))
        forged.load_cert_chain(intruder.cert, intruder.key)
        try:
            refused = tls_request(port, forged, "INVITE", "sip:2001@localhost")
        except (ssl.SSLError, ConnectionError, OSError):
            refused = None
        assert refused is None  # TLS 1.3: the refusal may only show at the first read


@needs_sipp
def test_a_tls_call_over_ipv6_reaches_an_ipv4_udp_upstream_with_two_record_routes(
    tmp_path: Path,
) -> None:
    if not ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    pbx_port = free_port()
    body = (
        '[[listen]]\ntransport = "udp"\naddress = "127.0.0.1:0"\n'
        '[[listen]]\ntransport = "tls"\naddress = "[::1]:0"\n'
        f'[[upstream]]\nuri = "sip:127.0.0.1:{pbx_port}"\n[dispatcher]\nprobe_interval = 0\n'
    )
    config = write_config(tmp_path, body)
    with sipguard(config, listeners=2) as node:
        cafile = tmp_path / "state" / "certs" / "server.crt"
        uas = sipp_args("uas_rr.xml", port=pbx_port, calls=1, extra=["-trace_msg"])
        with (
            sipp_background(uas, tmp_path) as pbx,
            tls_relay(("::1", node.port("tls", "::1")), cafile) as relay,
        ):
            uac = sipp_args(
                "uac_dialog.xml", port=free_port(), remote=f"127.0.0.1:{relay}",
                transport="t1", calls=1, extra=["-s", "2001"],
            )  # fmt: skip
            result = run_sipp(uac, tmp_path)
            assert result.returncode == 0, sipp_errors(tmp_path) + node.log_text()
            assert pbx.wait(20) == 0, sipp_errors(tmp_path)
    log = next(tmp_path.glob("uas_rr_*_messages.log")).read_text()
    invite = log[log.index("INVITE sip:") :]
    invite = invite[: invite.index("\n\n")]
    routes = [line for line in invite.splitlines() if line.lower().startswith("record-route")]
    # RFC 5658: the way in was TLS over IPv6, the way out UDP over IPv4: two entries.
    assert len(routes) == 2, invite
    assert "127.0.0.1" in routes[0]
    assert "[::1]" in routes[1]
    assert "transport=tls" in routes[1]


def served_fingerprint(port: int, cafile: Path) -> str:
    context = ssl.create_default_context(cafile=str(cafile))
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname="localhost") as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return fingerprint(der)


def test_certificates_reload_on_sighup_and_when_their_files_change(tmp_path: Path) -> None:
    ca, server, _, _ = pki(tmp_path)
    body = listens("udp", "tls") + f'[tls]\ncert = "{server.cert}"\nkey = "{server.key}"\n'
    config = write_config(tmp_path, body)
    with sipguard(config, listeners=2) as node:
        port = node.port("tls")
        first = served_fingerprint(port, ca.cert)
        renew = {"hostnames": ["localhost"], "addresses": ["127.0.0.1"], "force": True}
        issue_server(server.cert.parent, ca, **renew)  # type: ignore[arg-type]
        node.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while (second := served_fingerprint(port, ca.cert)) == first:
            assert time.monotonic() < deadline, node.log_text()
            time.sleep(0.1)
        issue_server(server.cert.parent, ca, **renew)  # type: ignore[arg-type]
        deadline = time.monotonic() + 12  # no signal: the files' change is noticed
        while served_fingerprint(port, ca.cert) == second:
            assert time.monotonic() < deadline, node.log_text()
            time.sleep(0.2)
