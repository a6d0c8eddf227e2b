"""Real processes on loopback: sipguard (``python -m sipguard run``) and SIPp.

Every process started here is ended by PID when its context exits; every wait is
bounded. Ports come from the OS (sipguard listens on port 0 and logs the port it got;
SIPp gets a port that was free a moment ago).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.helpers.dns_server import Zone, dns_server

SCENARIOS = Path(__file__).resolve().parent / "scenarios"
SIPP = shutil.which("sipp")
needs_sipp = pytest.mark.skipif(
    SIPP is None, reason="SIPp (Debian package sip-tester) is not installed"
)
_LISTENING = re.compile(r"listening (udp|tcp|tls|wss|ws) (\[[0-9a-fA-F:]+\]|[0-9.]+):(\d+)")


def ipv6_loopback() -> bool:
    """True when ``::1`` can be bound here."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as s:
            s.bind(("::1", 0))
    except OSError:
        return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A UDP and TCP port on ``host`` that was free a moment ago."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    for _ in range(50):
        with socket.socket(family, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port = udp.getsockname()[1]
            with socket.socket(family, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
            return int(port)
    raise RuntimeError("no free port")


@dataclass
class Sipguard:
    """A running ``sipguard run`` process and the addresses it listens on."""

    process: subprocess.Popen[str]
    config: Path
    ports: dict[tuple[str, str], int] = field(default_factory=dict)
    log: list[str] = field(default_factory=list)

    def port(self, transport: str = "udp", host: str = "127.0.0.1") -> int:
        return self.ports[(transport, host)]

    def log_text(self) -> str:
        return "\n".join(self.log)


LOOPBACK_TRUSTED = '\n[acl]\ntrusted = ["127.0.0.0/8", "::1/128"]\n'
"""Proxy tests trust loopback (SIPp there carries no credentials); guard tests do not."""
PLAINTEXT_ALLOWED = '\n[acl]\nplaintext_methods = ["*"]\n'
"""Guard tests (``trusted=""``): SIPp and SIPVicious speak no TLS, so REGISTER over
plaintext is allowed, as an operator opts in to (the default is TLS first)."""


def write_config(
    tmp_path: Path, body: str, *, state: Path | None = None, trusted: str = LOOPBACK_TRUSTED
) -> Path:
    """A policy file in ``tmp_path``; ``state_dir`` defaults to ``tmp_path/state``."""
    state_dir = state or tmp_path / "state"
    path = tmp_path / "sipguard.toml"
    # A short drain: a test that leaves a transaction unanswered must not wait 32 s.
    acl = trusted or PLAINTEXT_ALLOWED
    path.write_text(f'[server]\nstate_dir = "{state_dir}"\nshutdown_grace = 2\n' + body + acl)
    return path


@contextlib.contextmanager
def sipguard(config: Path, *, listeners: int, timeout: float = 15.0) -> Iterator[Sipguard]:
    """Start sipguard on ``config`` and wait until ``listeners`` listeners are up."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    cmd = [sys.executable, "-m", "sipguard", "run", "--config", str(config)]
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env
    )
    node = Sipguard(process, config)
    reader = threading.Thread(target=_read_log, args=(node,), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + timeout
        while len(node.ports) < listeners:
            if process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"sipguard did not start:\n{node.log_text()}")
            time.sleep(0.02)
        yield node
    finally:
        stop(node)
        reader.join(timeout=5)
        if process.stderr is not None:
            process.stderr.close()


def stop(node: Sipguard, timeout: float = 10.0) -> int:
    """SIGTERM, then wait (SIGKILL after ``timeout``); the exit status."""
    if node.process.poll() is None:
        node.process.send_signal(signal.SIGTERM)
        try:
            return node.process.wait(timeout)
        except subprocess.TimeoutExpired:
            node.process.kill()
            node.process.wait(5)
    return node.process.returncode


def _read_log(node: Sipguard) -> None:
    assert node.process.stderr is not None
    for line in node.process.stderr:
        node.log.append(line.rstrip("\n"))
        m = _LISTENING.search(line)
        if m:
            node.ports[(m.group(1), m.group(2).strip("[]"))] = int(m.group(3))


def scenario_copy(tmp_path: Path, name: str, **values: object) -> str:
    """A copy of scenario ``name`` with each ``[key]`` replaced (SIPp cannot take a
    response code from a variable); returns its path for ``sipp_args``."""
    text = (SCENARIOS / name).read_text()
    for key, value in values.items():
        text = text.replace(f"[{key}]", str(value))
    path = tmp_path / f"{Path(name).stem}-{'-'.join(map(str, values.values()))}.xml"
    path.write_text(text)
    return str(path)


def sipp_args(  # noqa: PLR0913 - the SIPp options a test varies
    scenario: str,
    *,
    local: str = "127.0.0.1",
    port: int,
    remote: str | None = None,
    transport: str = "u1",
    calls: int = 1,
    timeout: float = 30.0,
    extra: Sequence[str] = (),
) -> list[str]:
    """The command line of one SIPp run (``scenario``: a built-in name or an XML file)."""
    assert SIPP is not None
    cmd = [SIPP]
    if scenario.endswith(".xml"):
        cmd += ["-sf", str(SCENARIOS / scenario)]  # an absolute path replaces SCENARIOS
    else:
        cmd += ["-sn", scenario]
    if remote is not None:
        cmd.append(remote)
    cmd += ["-i", local, "-p", str(port), "-t", transport, "-m", str(calls)]
    cmd += ["-timeout", f"{int(timeout)}s", "-timeout_error", "-nostdin", "-trace_err"]
    cmd += ["-max_recv_loops", "1000"]
    cmd += list(extra)
    return cmd


@contextlib.contextmanager
def sipp_background(cmd: Sequence[str], cwd: Path) -> Iterator[subprocess.Popen[str]]:
    """A SIPp process (a UAS) that must end by itself; killed by PID if it does not."""
    process = subprocess.Popen(  # noqa: S603 - SIPp from PATH with our arguments
        list(cmd), cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, text=True
    )
    try:
        time.sleep(0.3)  # SIPp binds its socket
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


def run_sipp(
    cmd: Sequence[str], cwd: Path, timeout: float = 40.0
) -> subprocess.CompletedProcess[str]:
    """Run a SIPp client to completion (bounded)."""
    return subprocess.run(  # noqa: S603 - SIPp from PATH with our arguments
        list(cmd), cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False
    )


def sipp_errors(cwd: Path) -> str:
    """What SIPp's ``-trace_err`` wrote, for assertion messages."""
    return "\n".join(p.read_text(errors="replace")[-3000:] for p in cwd.glob("*_errors.log"))


@contextlib.contextmanager
def dns_in_thread(zone: Zone) -> Iterator[tuple[str, int]]:
    """The loopback DNS server of tests/helpers/dns_server.py, served from a thread."""
    ready: queue.Queue[tuple[str, int]] = queue.Queue()
    done = threading.Event()

    async def serve() -> None:
        async with dns_server(zone) as server:
            ready.put(server.address)
            await asyncio.to_thread(done.wait)

    thread = threading.Thread(target=asyncio.run, args=(serve(),), daemon=True)
    thread.start()
    try:
        yield ready.get(timeout=10)
    finally:
        done.set()
        thread.join(timeout=10)
