"""Call outcomes through sipguard in edge mode, with SIPp on both sides: a busy callee,
a cancelled ringing call, failover past a dead upstream."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.harness import (
    free_port,
    needs_sipp,
    run_sipp,
    scenario_copy,
    sipguard,
    sipp_args,
    sipp_background,
    sipp_errors,
    write_config,
)

pytestmark = [needs_sipp, pytest.mark.network, pytest.mark.slow]


def edge(tmp_path: Path, upstreams: list[str], extra: str = "") -> Path:
    listen = "".join(
        f'[[listen]]\ntransport = "{t}"\naddress = "127.0.0.1:0"\n' for t in ("udp", "tcp")
    )
    ups = "".join(f'[[upstream]]\nuri = "{u}"\npriority = {i}\n' for i, u in enumerate(upstreams))
    body = 'domain = "localhost"\n' + extra + "[dispatcher]\nprobe_interval = 0\n"
    return write_config(tmp_path, body + listen + ups)


SIPP_TRANSPORT = {"udp": "u1", "tcp": "t1"}


def pbx_uri(port: int, transport: str) -> str:
    return f"sip:127.0.0.1:{port}" + (";transport=tcp" if transport == "tcp" else "")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_busy_callee_486_reaches_the_caller(tmp_path: Path, transport: str) -> None:
    pbx, t = free_port(), SIPP_TRANSPORT[transport]
    with (
        sipguard(edge(tmp_path, [pbx_uri(pbx, transport)]), listeners=2) as node,
        sipp_background(sipp_args("uas_486.xml", port=pbx, transport=t), tmp_path) as callee,
    ):
        scenario = scenario_copy(tmp_path, "uac_status.xml", status=486)
        uac = sipp_args(scenario, port=free_port(), remote=f"127.0.0.1:{node.port(transport)}",
                        transport=t, extra=["-s", "2001"])  # fmt: skip
        result = run_sipp(uac, tmp_path)
        assert result.returncode == 0, sipp_errors(tmp_path) + node.log_text()
        # The callee got its ACK for the 486 from sipguard's client transaction.
        assert callee.wait(20) == 0, sipp_errors(tmp_path)


@pytest.mark.parametrize("transport", ["udp", "tcp"])
def test_cancel_of_a_ringing_call(tmp_path: Path, transport: str) -> None:
    pbx, t = free_port(), SIPP_TRANSPORT[transport]
    with (
        sipguard(edge(tmp_path, [pbx_uri(pbx, transport)]), listeners=2) as node,
        sipp_background(sipp_args("uas_cancel.xml", port=pbx, transport=t), tmp_path) as callee,
    ):
        proxy = f"127.0.0.1:{node.port(transport)}"
        uac = sipp_args("uac_cancel.xml", port=free_port(), transport=t, remote=proxy,
                        extra=["-s", "2001"])  # fmt: skip
        result = run_sipp(uac, tmp_path)
        assert result.returncode == 0, sipp_errors(tmp_path) + node.log_text()
        assert callee.wait(20) == 0, sipp_errors(tmp_path)


@pytest.mark.parametrize("dead", ["tcp", "udp"])
def test_failover_when_the_first_upstream_is_dead(tmp_path: Path, dead: str) -> None:
    # A dead TCP upstream refuses the connection at once; a dead UDP one stays silent
    # until Timer B (64*T1: T1 is 50 ms here, so 3.2 s).
    pbx, nobody = free_port(), free_port()
    first = f"sip:127.0.0.1:{nobody};transport=tcp" if dead == "tcp" else f"sip:127.0.0.1:{nobody}"
    config = edge(tmp_path, [first, f"sip:127.0.0.1:{pbx}"], "[timers]\nt1 = 0.05\nt2 = 0.4\n")
    with (
        sipguard(config, listeners=2) as node,
        sipp_background(sipp_args("uas", port=pbx), tmp_path) as callee,
    ):
        uac = sipp_args("uac", port=free_port(), remote=f"127.0.0.1:{node.port()}",
                        extra=["-s", "2001", "-recv_timeout", "15000"])  # fmt: skip
        result = run_sipp(uac, tmp_path)
        assert result.returncode == 0, sipp_errors(tmp_path) + node.log_text()
        assert callee.wait(20) == 0, sipp_errors(tmp_path)
