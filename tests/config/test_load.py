"""The default policy and the overlay rule."""

from __future__ import annotations

import dataclasses
import ipaddress
import tomllib
from pathlib import Path

from sipguard.config import (
    Algorithm,
    Config,
    DispatcherConfig,
    DnsConfig,
    ListenConfig,
    LogConfig,
    Mode,
    RegistrarConfig,
    ServerConfig,
    TransportConfig,
    TransportName,
    default_policy_path,
    load_config,
)
from sipguard.sip import SipUri
from sipguard.sip.limits import ParseLimits
from sipguard.sip.timers import TimerConfig
from tests.config.helpers import write

LOOPBACK_UDP = ListenConfig(TransportName.UDP, "127.0.0.1", 5060)
LOOPBACK_TCP = ListenConfig(TransportName.TCP, "127.0.0.1", 5060)
LOOPBACK_TLS = ListenConfig(TransportName.TLS, "127.0.0.1", 5061)


def test_default_policy_is_the_source_tree_file_in_an_editable_install() -> None:
    path = default_policy_path()
    assert path.is_file()
    assert path.name == "default.toml"


def test_default_loads_as_a_loopback_registrar() -> None:
    config = load_config()
    assert config.source == default_policy_path()
    assert config.mode is Mode.REGISTRAR
    assert config.server.mode is None
    assert config.server.domain == "localhost"
    assert config.server.state_dir == Path("sipguard-state")
    assert config.listen == (LOOPBACK_UDP, LOOPBACK_TCP, LOOPBACK_TLS)
    assert config.upstream == ()


def test_default_file_agrees_with_the_dataclass_defaults() -> None:
    config = load_config()
    assert config.server == ServerConfig()
    assert config.dispatcher == DispatcherConfig()
    assert config.registrar == RegistrarConfig()
    assert config.transport == TransportConfig()
    assert config.transport.limits == ParseLimits()
    assert config.timers == TimerConfig()
    assert config.dns == DnsConfig()
    assert config.log == LogConfig()


def test_default_file_names_every_key() -> None:
    text = default_policy_path().read_text(encoding="utf-8")
    tree = tomllib.loads(text)
    for section in dataclasses.fields(Config):
        if section.name in ("source", "listen", "upstream"):
            continue
        assert section.name in tree
        cls = type(getattr(load_config(), section.name))
        for key in dataclasses.fields(cls):
            # mode has no TOML spelling for "unset": it is shown commented out.
            present = key.name in tree[section.name] or f"# {key.name} = " in text
            assert present, f"{section.name}.{key.name} missing from default.toml"
    assert set(tree["transport"]["limits"]) == {f.name for f in dataclasses.fields(ParseLimits)}
    assert "# [[upstream]]" in text


def test_empty_operator_file_gives_the_default(tmp_path: Path) -> None:
    path = write(tmp_path, "")
    config = load_config(path)
    assert config.source == path
    assert dataclasses.replace(config, source=default_policy_path()) == load_config()


def test_tables_merge_key_by_key(tmp_path: Path) -> None:
    text = '[server]\ndomain = "example.com"\n[transport.limits]\nmax_via = 10\n'
    config = load_config(write(tmp_path, text))
    assert config.server.domain == "example.com"
    assert config.server.server_name == "sipguard"  # the default's key survives
    assert config.transport.limits.max_via == 10
    assert config.transport.limits.max_headers == 128
    assert config.transport.max_connections == 4096


def test_arrays_of_tables_replace_the_default(tmp_path: Path) -> None:
    text = """
[[listen]]
transport = "tls"
address = "[2001:db8::10]:5061"

[[upstream]]
uri = "sip:192.0.2.10:5070;transport=tcp"
priority = 0
weight = 3

[[upstream]]
uri = "sips:pbx.example.com"
"""
    config = load_config(write(tmp_path, text))
    assert config.listen == (ListenConfig(TransportName.TLS, "2001:db8::10", 5061),)
    assert config.mode is Mode.EDGE
    first, second = config.upstream
    assert isinstance(first.uri, SipUri)
    assert (first.uri.host, first.uri.port, first.uri.transport) == ("192.0.2.10", 5070, "tcp")
    assert (first.priority, first.weight) == (0, 3)
    assert (second.uri.scheme, second.priority, second.weight) == ("sips", 1, 1)


def test_plain_arrays_replace_the_default(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "[dispatcher]\nfailover_statuses = [500]\n"))
    assert config.dispatcher.failover_statuses == (500,)


def test_values_are_typed(tmp_path: Path) -> None:
    text = """
[server]
mode = "redirect"
state_dir = "/var/lib/sipguard"
shutdown_grace = 5
[dispatcher]
algorithm = "call-id-hash"
[dns]
servers = ["127.0.0.1:5353", "::1", "[::1]:54", "192.0.2.53"]
[timers]
t1 = 1
t2 = 8
"""
    config = load_config(write(tmp_path, text))
    assert config.mode is Mode.REDIRECT
    assert config.server.state_dir == Path("/var/lib/sipguard")
    assert config.server.shutdown_grace == 5.0
    assert type(config.server.shutdown_grace) is float  # an int is accepted for a float
    assert config.dispatcher.algorithm is Algorithm.CALL_ID_HASH
    assert config.dns.servers == (
        ("127.0.0.1", 5353),
        ("::1", 53),
        ("::1", 54),
        ("192.0.2.53", 53),
    )
    assert config.timers == TimerConfig(t1=1.0, t2=8.0)


def test_listen_hosts_are_canonical_and_port_zero_is_allowed(tmp_path: Path) -> None:
    text = """
[[listen]]
transport = "udp"
address = "[0:0:0:0:0:0:0:1]:0"
[[listen]]
transport = "udp"
address = "[::1]:0"
[[listen]]
transport = "ws"
address = "192.0.2.10:8080"
"""
    config = load_config(write(tmp_path, text))
    assert [(item.host, item.port) for item in config.listen] == [
        ("::1", 0),
        ("::1", 0),  # two port-0 listeners get two different free ports: no duplicate
        ("192.0.2.10", 8080),
    ]
    for item in config.listen:
        ipaddress.ip_address(item.host)


def test_explicit_registrar_mode_may_keep_upstreams(tmp_path: Path) -> None:
    text = '[server]\nmode = "registrar"\n[[upstream]]\nuri = "sip:192.0.2.1"\n'
    config = load_config(write(tmp_path, text))
    assert config.mode is Mode.REGISTRAR
    assert len(config.upstream) == 1
