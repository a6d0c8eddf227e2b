"""WebRTC-style clients over WSS (RFC 7118): a browser (the `websockets` package speaking
SIP by hand) registers with digest over WSS, receives a call from SIPp over the same
connection and follows the dialog; then calls a SIPp UAS on UDP (WSS <-> UDP bridging,
RFC 5658's two Record-Route entries), and its registration goes when it disconnects.

SIPp runs on 127.0.0.2, a trusted peer (it carries no credentials); the browser
connects from 127.0.0.1, an ordinary untrusted client.
"""

from __future__ import annotations

import asyncio
import sqlite3
import ssl
import subprocess
import sys
import time
from pathlib import Path

import pytest
from websockets.asyncio.client import ClientConnection, connect

from sipguard.guard.digest import Algorithm, expected_response, ha1
from sipguard.sip import Request, Response, parse_message
from tests.e2e.harness import (
    free_port,
    needs_sipp,
    run_sipp,
    sipguard,
    sipp_args,
    sipp_background,
    sipp_errors,
    write_config,
)

pytestmark = [needs_sipp, pytest.mark.network, pytest.mark.slow]

SIPP_HOST = "127.0.0.2"
PASSWORD = "alice-secret-1"  # noqa: S105 - the test user's
CONTACT = "<sip:alice@df7jal23ls0d.invalid;transport=ws>"
BODY = (
    'domain = "localhost"\n[auth]\nalgorithms = ["MD5"]\n'
    f'[acl]\ntrusted = ["{SIPP_HOST}/32"]\n'
    '[[listen]]\ntransport = "udp"\naddress = "127.0.0.1:0"\n'
    '[[listen]]\ntransport = "wss"\naddress = "127.0.0.1:0"\n'
)


class Browser:
    """A SIP-over-WebSocket UA: enough of RFC 3261 to register, answer and call."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.cseq = 0

    async def send(self, text: str) -> None:
        await self.ws.send(text.replace("\n", "\r\n"))

    async def receive(self) -> Request | Response:
        async with asyncio.timeout(10):
            data = await self.ws.recv()
        message = parse_message(data.encode() if isinstance(data, str) else data)
        assert isinstance(message, Request | Response)
        return message

    async def final(self) -> Response:
        while True:
            message = await self.receive()
            if isinstance(message, Response) and message.status >= 200:
                return message

    def request(self, method: str, uri: str, to: str, call_id: str, extra: str = "") -> str:
        self.cseq += 1
        return (
            f"{method} {uri} SIP/2.0\n"
            f"Via: SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK{call_id}{method}{self.cseq}\n"
            f"Max-Forwards: 70\nFrom: <sip:alice@127.0.0.1>;tag=br{call_id}\nTo: {to}\n"
            f"Call-ID: {call_id}\nCSeq: {self.cseq} {method}\nContact: {CONTACT}\n"
            f"{extra}Content-Length: 0\n\n"
        )

    async def authenticated(self, method: str, uri: str, to: str, call_id: str) -> Response:
        """``method`` with digest: the challenge answered (MD5, qop=auth)."""
        await self.send(self.request(method, uri, to, call_id))
        challenge = await self.final()
        assert challenge.status in (401, 407), challenge
        values = challenge.www_authenticate or challenge.proxy_authenticate
        params = values[0].params
        digest = expected_response(
            ha1("alice", params["realm"], PASSWORD, Algorithm.MD5), params["nonce"],
            "00000001", "b10b", "auth", method, uri, Algorithm.MD5,
        )  # fmt: skip
        name = "Authorization" if challenge.status == 401 else "Proxy-Authorization"
        credentials = (
            f'{name}: Digest username="alice", realm="{params["realm"]}", '
            f'nonce="{params["nonce"]}", uri="{uri}", response="{digest}", algorithm=MD5, '
            'qop=auth, nc=00000001, cnonce="b10b"\n'
        )
        await self.send(self.request(method, uri, to, call_id, credentials))
        return await self.final()

    async def answer(self, invite: Request, status: int) -> None:
        lines = [f"SIP/2.0 {status} X", *(f"Via: {v}" for v in invite.get_all("Via"))]
        lines += [f"Record-Route: {r}" for r in invite.get_all("Record-Route")]
        lines += [f"From: {invite.get('From')}", f"To: {invite.get('To')};tag=brwsr"]
        lines += [f"Call-ID: {invite.call_id}", f"CSeq: {invite.get('CSeq')}"]
        lines += [f"Contact: {CONTACT}", "Content-Length: 0", "", ""]
        await self.send("\n".join(lines))


def add_alice(config: Path) -> None:
    subprocess.run(  # noqa: S603 - our interpreter and module
        [sys.executable, "-m", "sipguard", "users", "add", "alice", "--config", str(config)],
        input=PASSWORD + "\n", capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip


def bindings(tmp_path: Path) -> int:
    """alice's bindings in the store."""
    with sqlite3.connect(tmp_path / "state" / "location.sqlite") as db:
        query = "SELECT COUNT(*) FROM bindings WHERE aor LIKE 'sip:alice@%'"
        return int(db.execute(query).fetchone()[0])


def test_a_browser_registers_over_wss_is_called_over_it_and_calls_out(tmp_path: Path) -> None:
    config = write_config(tmp_path, BODY, trusted="\n")
    add_alice(config)
    with sipguard(config, listeners=2) as node:
        udp, wss = node.port("udp"), node.port("wss")
        cafile = tmp_path / "state" / "certs" / "server.crt"
        asyncio.run(asyncio.wait_for(scenario(tmp_path, udp, wss, cafile), 60))
        deadline = time.monotonic() + 5  # the connection closed: its binding goes
        while bindings(tmp_path) != 0:
            assert time.monotonic() < deadline, node.log_text()
            time.sleep(0.1)


async def scenario(tmp_path: Path, udp: int, wss: int, cafile: Path) -> None:
    context = ssl.create_default_context(cafile=str(cafile))
    async with connect(
        f"wss://127.0.0.1:{wss}", subprotocols=["sip"], ssl=context,  # type: ignore[list-item]
        server_hostname="localhost", compression=None,
    ) as ws:  # fmt: skip
        browser = Browser(ws)
        # Registered under the address SIPp will call (sip:alice@127.0.0.1).
        registered = await browser.authenticated(
            "REGISTER", f"sip:127.0.0.1:{wss}", "<sip:alice@127.0.0.1>", "reg1"
        )
        assert registered.status == 200, registered
        for _ in range(50):  # written behind: the 200 comes first
            if bindings(tmp_path) == 1:
                break
            await asyncio.sleep(0.05)
        assert bindings(tmp_path) == 1
        await called_by_sipp(browser, tmp_path, udp)
        await calls_sipp(browser, tmp_path, udp)


async def called_by_sipp(browser: Browser, tmp_path: Path, udp: int) -> None:
    """SIPp calls alice: the INVITE arrives over the WebSocket; SIPp's ACK and BYE, sent
    to the browser's .invalid Contact along the Route, find the connection again."""
    uac = sipp_args(
        "uac_dialog.xml", local=SIPP_HOST, port=free_port(SIPP_HOST),
        remote=f"127.0.0.1:{udp}", extra=["-s", "alice"],
    )  # fmt: skip
    caller = await asyncio.to_thread(
        subprocess.Popen, uac, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        invite = await browser.receive()
        assert isinstance(invite, Request)
        assert invite.method == "INVITE"
        routes = invite.get_all("Record-Route")
        assert len(routes) == 2  # RFC 5658: UDP in, WSS out
        assert "transport=wss" in routes[0]
        assert "sgflow=" in routes[0]
        await browser.answer(invite, 200)
        ack = await browser.receive()
        assert isinstance(ack, Request)
        assert ack.method == "ACK"
        bye = await browser.receive()
        assert isinstance(bye, Request)
        assert bye.method == "BYE"
        await browser.answer(bye, 200)
        assert await asyncio.to_thread(caller.wait, 20) == 0, sipp_errors(tmp_path)
    finally:
        if caller.poll() is None:
            caller.kill()
            caller.wait(5)


async def calls_sipp(browser: Browser, tmp_path: Path, udp: int) -> None:
    """alice calls bob, a SIPp UAS on UDP registered from the trusted host."""
    bob_port = free_port(SIPP_HOST)
    register = sipp_args(
        "register.xml", local=SIPP_HOST, port=bob_port, remote=f"127.0.0.1:{udp}",
        extra=["-s", "bob"],
    )  # fmt: skip
    done = await asyncio.to_thread(run_sipp, register, tmp_path)
    assert done.returncode == 0, sipp_errors(tmp_path)
    uas = sipp_args("uas_rr.xml", local=SIPP_HOST, port=bob_port)
    with sipp_background(uas, tmp_path) as bob:
        bob_uri = f"sip:bob@127.0.0.1:{udp}"  # where SIPp registered him
        answer = await browser.authenticated("INVITE", bob_uri, f"<{bob_uri}>", "call2")
        assert answer.status == 200, answer
        route = ", ".join(str(r) for r in reversed(answer.record_routes))  # §12.1.2
        remote = answer.contacts[0].uri
        to = answer.get("To") or ""
        browser.cseq -= 1  # the ACK carries the INVITE's number
        await browser.send(browser.request("ACK", str(remote), to, "call2", f"Route: {route}\n"))
        await browser.send(browser.request("BYE", str(remote), to, "call2", f"Route: {route}\n"))
        bye_answer = await browser.final()
        while bye_answer.cseq.method != "BYE":  # the INVITE's 200, sent again until the ACK
            bye_answer = await browser.final()
        assert bye_answer.status == 200
        assert await asyncio.to_thread(bob.wait, 20) == 0, sipp_errors(tmp_path)
