"""SIPVicious (PyPI sipvicious) against sipguard on its default guards: nothing found."""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.harness import Sipguard, free_port, sipguard, stop, write_config

BIN = Path(sys.executable).parent
TOOLS = {name: BIN / f"sipvicious_{name}" for name in ("svmap", "svwar", "svcrack")}
needs_sipvicious = pytest.mark.skipif(
    not all(p.exists() or shutil.which(p.name) for p in TOOLS.values()),
    reason="SIPVicious is not installed (pip install sipvicious)",
)
pytestmark = [needs_sipvicious, pytest.mark.network, pytest.mark.slow, pytest.mark.attack]

LISTEN = '[[listen]]\ntransport = "udp"\naddress = "127.0.0.1:{port}"\n'


def attack(tool: str, *args: str, timeout: float = 60) -> str:
    """Run one SIPVicious tool to its end; its whole output (it reports on stderr)."""
    result = subprocess.run(  # noqa: S603 - the tool from our venv, loopback only
        [str(TOOLS[tool]), *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    return result.stdout + result.stderr


def options_answered(port: int) -> bool:
    """Whether a plain OPTIONS keep-alive from 127.0.0.1 gets any answer within 1 s."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        local = sock.getsockname()[1]
        sock.sendto(
            (
                f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\n"
                f"Via: SIP/2.0/UDP 127.0.0.1:{local};branch=z9hG4bK{local}ka\r\n"
                "Max-Forwards: 70\r\nFrom: <sip:ka@127.0.0.1>;tag=1\r\n"
                f"To: <sip:127.0.0.1:{port}>\r\nCall-ID: ka-{local}\r\n"
                "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n"
            ).encode(),
            ("127.0.0.1", port),
        )
        sock.settimeout(1.0)
        try:
            sock.recv(65535)
        except TimeoutError:
            return False
        return True


def add_user(config: Path, name: str, password: str) -> None:
    subprocess.run(  # noqa: S603 - our interpreter and module
        [sys.executable, "-m", "sipguard", "users", "add", name, "--config", str(config)],
        input=password + "\n", capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip


def test_svmap_svwar_and_svcrack_find_nothing(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, LISTEN.format(port=port), trusted="")
    add_user(config, "1001", "1234")  # a weak password svcrack would guess at once
    with sipguard(config, listeners=1) as node:
        target = ["127.0.0.1", "-p", str(port)]
        assert "found nothing" in attack("svmap", *target)
        for method in ("REGISTER", "INVITE", "OPTIONS"):
            assert "found nothing" in attack("svwar", *target, "-e", "1000-1010", "-m", method)
        cracked = attack("svcrack", *target, "-u", "1001", "-r", "1230-1240")
        assert "found nothing" in cracked
        assert "1234" not in cracked
        assert node.process.poll() is None  # and sipguard is still up


def test_a_scanner_is_banned_under_a_strict_jail_and_the_ban_survives_a_restart(
    tmp_path: Path,
) -> None:
    # The default needs 20 unverified scanner requests (forged UDP could get a victim
    # banned, docs/SECURITY.md); an operator may choose to ban a UDP scanner at once.
    port = free_port()
    jail = (
        '[[jail.jails]]\nname = "scanner"\nevents = ["scanner"]\nmaxretry = 1\n'
        "findtime = 600.0\nbantime = 3600.0\nunverified_maxretry = 1\n"
    )
    config = write_config(tmp_path, LISTEN.format(port=port) + jail, trusted="")
    with sipguard(config, listeners=1) as node:
        assert options_answered(port)  # before: a plain keep-alive gets its 200
        assert "found nothing" in attack("svmap", "127.0.0.1", "-p", str(port))
        assert not options_answered(port)  # banned: silence, whatever is sent
        assert stop(node) == 0
        assert "banned" in node.log_text()
    listed = subprocess.run(  # noqa: S603 - our interpreter and module
        [sys.executable, "-m", "sipguard", "bans", "list", "--config", str(config)],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    assert "127.0.0.1" in listed
    with sipguard(config, listeners=1):
        assert not options_answered(port)  # the ban came back from bans.sqlite


def test_svcrack_is_banned_by_the_auth_jail_long_before_it_guesses(tmp_path: Path) -> None:
    # With the scanner fingerprints off, svcrack meets digest authentication itself: it
    # answers each challenge (so its address is verified) with a wrong password, and
    # the auth jail (5 failures by default) bans it long before 1234 comes up. svcrack
    # 0.3.8 reads only the first challenge and crashes on SHA-512-256, our strongest and
    # first: MD5 alone lets it try.
    port = free_port()
    blind = "[scanner]\nuser_agents = []\ndisplay_names = []\nsipvicious_tags = false\n"
    blind += '[auth]\nalgorithms = ["MD5"]\n'
    config = write_config(tmp_path, LISTEN.format(port=port) + blind, trusted="")
    add_user(config, "1001", "1234")
    with sipguard(config, listeners=1) as node:
        cracked = attack("svcrack", "127.0.0.1", "-p", str(port), "-u", "1001", "-r", "1000-1300")
        assert "1234" not in cracked
        assert not options_answered(port), cracked + node.log_text()  # banned: silence
        assert stop(node) == 0
    assert "banned source=127.0.0.1 jail=auth" in node.log_text()


def bans_cli(config: Path, *args: str) -> None:
    subprocess.run(  # noqa: S603 - our interpreter and module
        [sys.executable, "-m", "sipguard", "bans", *args, "--config", str(config)],
        capture_output=True, text=True, timeout=30, check=True,
    )  # fmt: skip


def wait_for_log(node: Sipguard, text: str, count: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while node.log_text().count(text) < count:
        assert time.monotonic() < deadline, node.log_text()
        time.sleep(0.05)


def test_bans_added_and_removed_while_running_take_effect_at_sighup(tmp_path: Path) -> None:
    port = free_port()
    config = write_config(tmp_path, LISTEN.format(port=port), trusted="")
    with sipguard(config, listeners=1) as node:
        assert options_answered(port)
        bans_cli(config, "add", "127.0.0.0/24")
        node.process.send_signal(signal.SIGHUP)
        wait_for_log(node, "bans re-read: 1 in force", 1)
        assert not options_answered(port)
        bans_cli(config, "remove", "127.0.0.0/24")
        node.process.send_signal(signal.SIGHUP)
        wait_for_log(node, "bans re-read: 0 in force", 1)
        assert options_answered(port)
