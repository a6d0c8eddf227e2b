"""sipguard as an operator runs it: retransmissions, signals, start-up failures."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sipguard.sip import Request, parse_message
from tests.e2e.harness import free_port, sipguard, stop, write_config

pytestmark = [pytest.mark.network, pytest.mark.slow]


def edge_config(tmp_path: Path, pbx_port: int) -> Path:
    return write_config(
        tmp_path,
        'domain = "localhost"\n[dispatcher]\nprobe_interval = 0\n'
        '[[listen]]\ntransport = "udp"\naddress = "127.0.0.1:0"\n'
        f'[[upstream]]\nuri = "sip:127.0.0.1:{pbx_port}"\n',
    )


def invite(port: int, branch: str = "z9hG4bKretrans1") -> bytes:
    return (
        f"INVITE sip:2001@127.0.0.1 SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{port};branch={branch}\r\n"
        "Max-Forwards: 70\r\nFrom: <sip:1001@127.0.0.1>;tag=abc\r\n"
        "To: <sip:2001@127.0.0.1>\r\nCall-ID: retrans-1@127.0.0.1\r\n"
        f"CSeq: 1 INVITE\r\nContact: <sip:1001@127.0.0.1:{port}>\r\nContent-Length: 0\r\n\r\n"
    ).encode()


def receive_all(sock: socket.socket, seconds: float) -> list[bytes]:
    out = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        sock.settimeout(left)
        try:
            out.append(sock.recv(65535))
        except TimeoutError:
            break
    return out


def udp_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    return sock


def test_a_retransmitted_invite_is_absorbed(tmp_path: Path) -> None:
    with (
        udp_socket() as pbx,
        udp_socket() as phone,
        sipguard(edge_config(tmp_path, pbx.getsockname()[1]), listeners=1) as node,
    ):
        proxy = ("127.0.0.1", node.port())
        data = invite(phone.getsockname()[1])
        phone.sendto(data, proxy)
        time.sleep(0.2)
        phone.sendto(data, proxy)  # the phone did not hear the 100 in time
        forwarded = receive_all(pbx, 1.0)
        answers = receive_all(phone, 0.5)
    # One forwarded transaction: sipguard's own Timer A retransmissions (the "PBX" never
    # answers) carry the same branch; a second forward would carry a new one.
    requests = [parse_message(m) for m in forwarded]
    assert requests
    assert {r.via.branch for r in requests if isinstance(r, Request)} == {requests[0].via.branch}
    # Each copy got the 100 (Trying): the server transaction answered the copy itself.
    assert [m.split(b"\r\n", 1)[0] for m in answers] == [b"SIP/2.0 100 Trying"] * 2


def test_garbage_gets_400_when_answerable_and_silence_otherwise(tmp_path: Path) -> None:
    with (
        udp_socket() as phone,
        sipguard(edge_config(tmp_path, free_port()), listeners=1) as node,
    ):
        proxy = ("127.0.0.1", node.port())
        bad = invite(phone.getsockname()[1]).replace(b"CSeq: 1 INVITE", b"CSeq: x INVITE")
        phone.sendto(bad, proxy)
        phone.sendto(b"\x00\x01 not sip at all\r\n\r\n", proxy)
        answers = receive_all(phone, 1.0)
    assert len(answers) == 1
    assert answers[0].startswith(b"SIP/2.0 400 ")


def test_sigterm_exits_0_and_sighup_with_a_bad_file_keeps_running(tmp_path: Path) -> None:
    config = edge_config(tmp_path, free_port())
    with sipguard(config, listeners=1) as node:
        config.write_text(config.read_text() + "\n[bogus]\n")
        node.process.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 5
        while "reload refused" not in node.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "reload refused" in node.log_text()
        assert "bogus" in node.log_text()
        assert node.process.poll() is None
        assert stop(node) == 0


def test_a_port_in_use_stops_start_up_with_one_line(tmp_path: Path) -> None:
    with udp_socket() as taken:
        port = taken.getsockname()[1]
        config = write_config(
            tmp_path, f'[[listen]]\ntransport = "udp"\naddress = "127.0.0.1:{port}"\n'
        )
        result = subprocess.run(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "sipguard", "run", "--config", str(config)],
            capture_output=True, text=True, timeout=30, check=False,
        )  # fmt: skip
    assert result.returncode == 1
    assert "cannot start" in result.stderr
    assert "Traceback" not in result.stderr


def test_sighup_reloads_the_upstream_set(tmp_path: Path) -> None:
    with udp_socket() as old_pbx, udp_socket() as new_pbx, udp_socket() as phone:
        config = edge_config(tmp_path, old_pbx.getsockname()[1])
        with sipguard(config, listeners=1) as node:
            text = config.read_text().replace(
                str(old_pbx.getsockname()[1]), str(new_pbx.getsockname()[1])
            )
            config.write_text(text)
            node.process.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 5
            while "policy reloaded" not in node.log_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert "policy reloaded" in node.log_text()
            phone.sendto(invite(phone.getsockname()[1]), ("127.0.0.1", node.port()))
            reached = receive_all(new_pbx, 1.0)
            assert reached
            assert reached[0].startswith(b"INVITE ")
            assert receive_all(old_pbx, 0.2) == []
