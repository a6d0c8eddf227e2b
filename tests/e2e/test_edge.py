"""Edge mode with real SIPp on both sides: caller → sipguard → PBX stand-in."""

from __future__ import annotations

from pathlib import Path

import pytest

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

pytestmark = [needs_sipp, pytest.mark.network, pytest.mark.slow]

TRANSPORTS = {"udp": "u1", "tcp": "t1"}


def edge_config(tmp_path: Path, host: str, upstreams: list[str], *, extra: str = "") -> Path:
    bracket = f"[{host}]" if ":" in host else host
    listen = "".join(
        f'[[listen]]\ntransport = "{t}"\naddress = "{bracket}:0"\n' for t in ("udp", "tcp")
    )
    ups = "".join(f'[[upstream]]\nuri = "{u}"\n' for u in upstreams)
    # Probes off: SIPp's UAS would count an OPTIONS as one of its calls.
    dispatcher = "[dispatcher]\nprobe_interval = 0\n"
    return write_config(tmp_path, 'domain = "localhost"\n' + extra + dispatcher + listen + ups)


def uri_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


@pytest.mark.parametrize("transport", ["udp", "tcp"])
@pytest.mark.parametrize("host", ["127.0.0.1", "::1"])
def test_call_flows_through_to_the_upstream(tmp_path: Path, transport: str, host: str) -> None:
    if ":" in host and not ipv6_loopback():
        pytest.skip("no IPv6 loopback here")
    pbx_port = free_port(host)
    param = ";transport=tcp" if transport == "tcp" else ""
    config = edge_config(tmp_path, host, [f"sip:{uri_host(host)}:{pbx_port}{param}"])
    with sipguard(config, listeners=2) as node:
        uas = sipp_args("uas", local=host, port=pbx_port, transport=TRANSPORTS[transport], calls=3)
        with sipp_background(uas, tmp_path) as pbx:
            remote = f"{uri_host(host)}:{node.port(transport, host)}"
            uac = sipp_args(
                "uac",
                local=host,
                port=free_port(host),
                remote=remote,
                transport=TRANSPORTS[transport],
                calls=3,
                extra=["-s", "2001", "-r", "10"],
            )
            result = run_sipp(uac, tmp_path)
            assert result.returncode == 0, sipp_errors(tmp_path) + node.log_text()
            assert pbx.wait(20) == 0, sipp_errors(tmp_path)


def test_options_to_the_proxy_itself_is_answered(tmp_path: Path) -> None:
    config = edge_config(tmp_path, "127.0.0.1", [f"sip:127.0.0.1:{free_port()}"])
    with sipguard(config, listeners=2) as node:
        cmd = sipp_args("options.xml", port=free_port(), remote=f"127.0.0.1:{node.port()}", calls=2)
        result = run_sipp(cmd, tmp_path)
        assert result.returncode == 0, sipp_errors(tmp_path) + node.log_text()
