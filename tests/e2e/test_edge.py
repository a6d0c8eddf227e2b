"""Edge mode with real SIPp on both sides: caller → sipguard → PBX stand-in."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.e2e.harness import (
    dns_in_thread,
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


def test_an_upstream_named_by_dns_srv(tmp_path: Path) -> None:
    # RFC 3263 against a DNS server on loopback: SRV for the PBX's name, then its A record.
    pbx_port = free_port()
    zone = {
        ("_sip._udp.pbx.test.", "SRV"): [f"10 10 {pbx_port} host.pbx.test."],
        ("host.pbx.test.", "A"): ["127.0.0.1"],
    }
    with dns_in_thread(zone) as (dns_host, dns_port):
        extra = f'[dns]\nservers = ["{dns_host}:{dns_port}"]\n'
        config = edge_config(tmp_path, "127.0.0.1", ["sip:pbx.test"], extra=extra)
        with (
            sipguard(config, listeners=2) as node,
            sipp_background(sipp_args("uas", port=pbx_port, calls=2), tmp_path) as pbx,
        ):
            uac = sipp_args(
                "uac",
                port=free_port(),
                remote=f"127.0.0.1:{node.port()}",
                calls=2,
                extra=["-s", "2001"],
            )
            result = run_sipp(uac, tmp_path)
            assert result.returncode == 0, sipp_errors(tmp_path) + node.log_text()
            assert pbx.wait(20) == 0, sipp_errors(tmp_path)


def test_probes_take_a_dead_upstream_out_before_calls_reach_it(tmp_path: Path) -> None:
    pbx_port, nobody = free_port(), free_port()
    config = edge_config(
        tmp_path,
        "127.0.0.1",
        [f"sip:127.0.0.1:{nobody};transport=tcp", f"sip:127.0.0.1:{pbx_port}"],
        extra="[timers]\nt1 = 0.05\nt2 = 0.4\n",
    )
    probing = "probe_interval = 0.2\ndown_after = 1"
    config.write_text(config.read_text().replace("probe_interval = 0", probing))
    # The PBX answers the probes (-aa) and counts each as a call: -m is set high and the
    # UAS is ended by PID when the test is done.
    uas = sipp_args("uas", port=pbx_port, calls=1000, extra=["-aa"])
    with sipp_background(uas, tmp_path), sipguard(config, listeners=2) as node:
        deadline = time.monotonic() + 5
        while "upstream down" not in node.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        down = f"upstream down uri=sip:127.0.0.1:{nobody};transport=tcp reason=transport-error"
        assert down in node.log_text()
        uac = sipp_args(
            "uac", port=free_port(), remote=f"127.0.0.1:{node.port()}", extra=["-s", "2001"]
        )
        started = time.monotonic()
        result = run_sipp(uac, tmp_path, timeout=20)
        assert result.returncode == 0, sipp_errors(tmp_path) + node.log_text()
        assert time.monotonic() - started < 3  # no Timer B wait on the dead upstream
        assert f"uri=sip:127.0.0.1:{pbx_port} " not in node.log_text()


def test_stateless_mode_carries_a_call(tmp_path: Path) -> None:
    pbx_port = free_port()
    extra = "stateless = true\n"  # lands in [server], which write_config opened
    config = edge_config(tmp_path, "127.0.0.1", [f"sip:127.0.0.1:{pbx_port}"], extra=extra)
    with (
        sipguard(config, listeners=2) as node,
        sipp_background(sipp_args("uas", port=pbx_port, calls=2), tmp_path) as pbx,
    ):
        uac = sipp_args(
            "uac", port=free_port(), remote=f"127.0.0.1:{node.port()}", calls=2,
            extra=["-s", "2001"],
        )  # fmt: skip
        result = run_sipp(uac, tmp_path)
        assert result.returncode == 0, sipp_errors(tmp_path) + node.log_text()
        assert pbx.wait(20) == 0, sipp_errors(tmp_path)


def test_topology_hiding_keeps_the_pbx_address_from_the_caller(tmp_path: Path) -> None:
    # The PBX stand-in sits at 127.0.0.2, the inside; the caller at 127.0.0.1 follows
    # the dialog to the Contact and Route it was given, which must all be ours.
    pbx_port = free_port("127.0.0.2")
    hide = '[topology]\nhide = true\ninside = ["127.0.0.2/32"]\n'
    config = edge_config(tmp_path, "127.0.0.1", [f"sip:127.0.0.2:{pbx_port}"], extra=hide)
    with sipguard(config, listeners=2) as node:
        uas = sipp_args("uas_rr.xml", local="127.0.0.2", port=pbx_port, calls=2)
        with sipp_background(uas, tmp_path) as pbx:
            uac = sipp_args(
                "uac_dialog.xml", port=free_port(), remote=f"127.0.0.1:{node.port()}",
                calls=2, extra=["-s", "2001", "-trace_msg"],
            )  # fmt: skip
            result = run_sipp(uac, tmp_path)
            assert result.returncode == 0, sipp_errors(tmp_path) + node.log_text()
            assert pbx.wait(20) == 0, sipp_errors(tmp_path)
    log = next(tmp_path.glob("uac_dialog_*_messages.log")).read_text()
    received = [part for part in log.split("\n-----") if "message received" in part]
    assert len(received) >= 6  # 180, 200 and the BYE's 200, twice
    assert all("127.0.0.2" not in part for part in received)
    assert any("sgh-" in part for part in received)  # the PBX's Contact, as a token
