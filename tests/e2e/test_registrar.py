"""Registrar mode with real SIPp: a UA registers, then receives a call through sipguard;
its registration survives a restart of sipguard."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.e2e.harness import (
    free_port,
    ipv6_loopback,
    needs_sipp,
    run_sipp,
    scenario_copy,
    sipguard,
    sipp_args,
    sipp_background,
    sipp_errors,
    stop,
    write_config,
)

pytestmark = [needs_sipp, pytest.mark.network, pytest.mark.slow]

TRANSPORTS = {"udp": "u1", "tcp": "t1"}


def registrar_config(tmp_path: Path, host: str = "127.0.0.1") -> Path:
    bracket = f"[{host}]" if ":" in host else host
    listen = "".join(
        f'[[listen]]\ntransport = "{t}"\naddress = "{bracket}:0"\n' for t in ("udp", "tcp")
    )
    return write_config(tmp_path, 'domain = "localhost"\n' + listen)


def register(  # noqa: PLR0913, PLR0917 - the addresses and names of one registration
    tmp_path: Path, proxy: str, ua_port: int, transport: str, user: str, host: str = "127.0.0.1"
) -> None:
    cmd = sipp_args(
        "register.xml",
        local=host,
        port=ua_port,
        remote=proxy,
        transport=transport,
        extra=["-s", user],
    )
    result = run_sipp(cmd, tmp_path)
    assert result.returncode == 0, sipp_errors(tmp_path)


def call(  # noqa: PLR0913, PLR0917 - the addresses and names of one call
    tmp_path: Path, proxy: str, ua_port: int, transport: str, user: str, host: str = "127.0.0.1"
) -> None:
    uas = sipp_args("uas", local=host, port=ua_port, transport=transport)
    with sipp_background(uas, tmp_path) as ua:
        uac = sipp_args(
            "uac",
            local=host,
            port=free_port(host),
            remote=proxy,
            transport=transport,
            extra=["-s", user],
        )
        result = run_sipp(uac, tmp_path)
        assert result.returncode == 0, sipp_errors(tmp_path)
        assert ua.wait(20) == 0, sipp_errors(tmp_path)


@pytest.mark.parametrize(
    ("transport", "host"), [("udp", "127.0.0.1"), ("tcp", "127.0.0.1"), ("udp", "::1")]
)
def test_register_then_call_the_registered_ua(tmp_path: Path, transport: str, host: str) -> None:
    if ":" in host and not ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    ua_port = free_port(host)
    with sipguard(registrar_config(tmp_path, host), listeners=2) as node:
        bracket = f"[{host}]" if ":" in host else host
        proxy = f"{bracket}:{node.port(transport, host)}"
        register(tmp_path, proxy, ua_port, TRANSPORTS[transport], "1001", host)
        call(tmp_path, proxy, ua_port, TRANSPORTS[transport], "1001", host)


def test_call_to_an_unregistered_user_is_480(tmp_path: Path) -> None:
    with sipguard(registrar_config(tmp_path), listeners=2) as node:
        scenario = scenario_copy(tmp_path, "uac_status.xml", status=480)
        cmd = sipp_args(
            scenario, port=free_port(), remote=f"127.0.0.1:{node.port()}", extra=["-s", "1002"]
        )
        result = run_sipp(cmd, tmp_path)
        assert result.returncode == 0, sipp_errors(tmp_path) + node.log_text()


def test_registrations_survive_a_restart(tmp_path: Path) -> None:
    config = registrar_config(tmp_path)
    ua_port = free_port()
    with sipguard(config, listeners=2) as node:
        register(tmp_path, f"127.0.0.1:{node.port()}", ua_port, "u1", "1001")
        assert stop(node) == 0
        assert "sipguard stopped" in node.log_text()
    with sipguard(config, listeners=2) as node:
        assert "1 registrations loaded" in node.log_text()
        call(tmp_path, f"127.0.0.1:{node.port()}", ua_port, "u1", "1001")


def test_a_registration_the_store_cannot_write_gets_500_and_is_not_used(tmp_path: Path) -> None:
    # RFC 3261 §10.3 step 7: bindings become visible only if the store commit succeeds;
    # otherwise 500 and nothing changes. The failure is real: another process (a backup,
    # an operator's sqlite3 shell) holds location.sqlite locked past SQLite's busy timeout.
    config = registrar_config(tmp_path)
    ua_port = free_port()
    with sipguard(config, listeners=2) as node:
        proxy = f"127.0.0.1:{node.port()}"
        lock = sqlite3.connect(tmp_path / "state" / "location.sqlite", isolation_level=None)
        try:
            lock.execute("BEGIN EXCLUSIVE")
            scenario = scenario_copy(tmp_path, "register_status.xml", status=500)
            cmd = sipp_args(scenario, port=ua_port, remote=proxy, extra=["-s", "1001"])
            result = run_sipp(cmd, tmp_path)
            assert result.returncode == 0, sipp_errors(tmp_path) + node.log_text()
        finally:
            lock.execute("ROLLBACK")
            lock.close()
        assert "location store write failed, the REGISTER gets 500" in node.log_text()
        # Nothing of it became visible: a call to 1001 is 480, as for a user never seen.
        scenario = scenario_copy(tmp_path, "uac_status.xml", status=480)
        cmd = sipp_args(scenario, port=free_port(), remote=proxy, extra=["-s", "1001"])
        result = run_sipp(cmd, tmp_path)
        assert result.returncode == 0, sipp_errors(tmp_path) + node.log_text()
        # The lock gone, the same UA registers and is reached.
        register(tmp_path, proxy, ua_port, "u1", "1001")
        call(tmp_path, proxy, ua_port, "u1", "1001")
