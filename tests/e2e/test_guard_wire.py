"""The guards over real UDP with a hand-driven phone: what a client that authenticates
correctly may still not do (relay, replay, forge an identity)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import pytest

from sipguard.guard.digest import Algorithm, expected_response, ha1
from sipguard.sip import Request, Response, parse_message
from tests.e2e.harness import sipguard, write_config
from tests.e2e.test_auth import add_user

pytestmark = [pytest.mark.network, pytest.mark.slow]

LISTEN = '[[listen]]\ntransport = "udp"\naddress = "127.0.0.1:0"\n'
MD5 = Algorithm.MD5


class Phone:
    """A UDP socket that speaks just enough SIP to authenticate (MD5, qop=auth)."""

    def __init__(self, proxy: tuple[str, int], user: str, password: str) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.proxy, self.user, self.password = proxy, user, password
        self.cseq = 0

    def close(self) -> None:
        self.sock.close()

    def request(self, method: str, uri: str, *extra: str, to: str | None = None) -> bytes:
        self.cseq += 1
        lines = [
            f"{method} {uri} SIP/2.0",
            f"Via: SIP/2.0/UDP 127.0.0.1:{self.port};branch=z9hG4bK{self.port}x{self.cseq}",
            "Max-Forwards: 70",
            f"From: <sip:{self.user}@localhost>;tag=t{self.port}",
            f"To: {to or f'<{uri}>'}",
            f"Call-ID: c{self.port}@127.0.0.1",
            f"CSeq: {self.cseq} {method}",
            f"Contact: <sip:{self.user}@127.0.0.1:{self.port}>",
            *extra,
            "Content-Length: 0",
            "",
            "",
        ]
        return "\r\n".join(lines).encode()

    def exchange(self, data: bytes, wait: float = 2.0) -> Response | None:
        """Send ``data``; the first final response (None if nothing final in ``wait``)."""
        self.sock.sendto(data, self.proxy)
        deadline = time.monotonic() + wait
        while (left := deadline - time.monotonic()) > 0:
            self.sock.settimeout(left)
            try:
                answer = parse_message(self.sock.recv(65535))
            except TimeoutError:
                return None
            if isinstance(answer, Response) and answer.status >= 200:
                return answer
        return None

    def credentials(self, challenge: Response, method: str, uri: str, nc: int = 1) -> str:
        header = "WWW-Authenticate" if challenge.status == 401 else "Proxy-Authenticate"
        values = (
            challenge.www_authenticate if challenge.status == 401 else challenge.proxy_authenticate
        )
        params = values[0].params
        realm, nonce = params["realm"], params["nonce"]
        nc_text, cnonce = f"{nc:08x}", "0a4f113b"
        key = ha1(self.user, realm, self.password, MD5)
        response = expected_response(key, nonce, nc_text, cnonce, "auth", method, uri, MD5)
        name = "Authorization" if header == "WWW-Authenticate" else "Proxy-Authorization"
        return (
            f'{name}: Digest username="{self.user}", realm="{realm}", nonce="{nonce}", '
            f'uri="{uri}", response="{response}", algorithm=MD5, qop=auth, nc={nc_text}, '
            f'cnonce="{cnonce}"'
        )


def config(tmp_path: Path, extra: str = "") -> Path:
    body = 'domain = "localhost"\n[auth]\nalgorithms = ["MD5"]\n' + extra + LISTEN
    return write_config(tmp_path, body, trusted="")


def test_an_authenticated_user_cannot_relay_to_a_foreign_domain(tmp_path: Path) -> None:
    path = config(tmp_path)
    add_user(path, "1002", "pw")
    with sipguard(path, listeners=1) as node:
        phone = Phone(("127.0.0.1", node.port()), "1002", "pw")
        try:
            uri = "sip:victim@relay-target.example.org"
            challenge = phone.exchange(phone.request("INVITE", uri))
            assert challenge is not None
            assert challenge.status == 407
            answer = phone.exchange(
                phone.request("INVITE", uri, phone.credentials(challenge, "INVITE", uri, nc=1))
            )
            # The same user, authenticated the same way, to a local user: no refusal
            # (480: nobody registered), so the 403 above was the relay rule.
            local = "sip:2001@localhost"
            challenge = phone.exchange(phone.request("INVITE", local))
            assert challenge is not None
            allowed = phone.exchange(
                phone.request("INVITE", local, phone.credentials(challenge, "INVITE", local))
            )
        finally:
            phone.close()
    assert answer is not None
    assert (answer.status, answer.reason) == (403, "Relaying Denied")
    assert allowed is not None
    assert allowed.status == 480


def test_a_replayed_authorization_is_refused(tmp_path: Path) -> None:
    path = config(tmp_path)
    add_user(path, "1001", "pw")
    with sipguard(path, listeners=1) as node:
        phone = Phone(("127.0.0.1", node.port()), "1001", "pw")
        try:
            uri = "sip:localhost"
            to = "<sip:1001@localhost>"
            challenge = phone.exchange(phone.request("REGISTER", uri, to=to))
            assert challenge is not None
            assert challenge.status == 401
            credentials = phone.credentials(challenge, "REGISTER", uri)
            first = phone.exchange(phone.request("REGISTER", uri, credentials, to=to))
            replay = phone.exchange(phone.request("REGISTER", uri, credentials, to=to))
        finally:
            phone.close()
    assert first is not None
    assert first.status == 200
    assert replay is not None
    assert replay.status == 401  # the same nonce count again: challenged, not accepted


def test_a_forged_p_asserted_identity_never_reaches_the_pbx(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as pbx:
        pbx.bind(("127.0.0.1", 0))
        upstream = f'[[upstream]]\nuri = "sip:127.0.0.1:{pbx.getsockname()[1]}"\n'
        path = config(tmp_path, "[dispatcher]\nprobe_interval = 0\n" + upstream)
        add_user(path, "1002", "pw")
        with sipguard(path, listeners=1) as node:
            phone = Phone(("127.0.0.1", node.port()), "1002", "pw")
            try:
                uri = "sip:2001@localhost"
                pai = "P-Asserted-Identity: <sip:+15550100@carrier.example.net>"
                challenge = phone.exchange(phone.request("INVITE", uri, pai))
                assert challenge is not None
                creds = phone.credentials(challenge, "INVITE", uri)
                phone.sock.sendto(phone.request("INVITE", uri, pai, creds), phone.proxy)
                pbx.settimeout(2.0)
                forwarded = parse_message(pbx.recv(65535))
            finally:
                phone.close()
    assert isinstance(forwarded, Request)
    assert forwarded.method == "INVITE"
    assert not forwarded.has("P-Asserted-Identity")
    assert forwarded.from_.sip_uri is not None
    assert forwarded.from_.sip_uri.user == "1002"
