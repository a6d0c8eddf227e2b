"""Every kind of bad policy gives one line naming the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sipguard.config import ConfigError, load_config
from tests.config.helpers import error_of, write

TOP_KEYS = (
    "server, listen, upstream, dispatcher, registrar, transport, timers, dns, log, "
    "topology, tls, websocket, sanity, acl, scanner, ratelimit, jail, auth, relay, fraud"
)
TWO_LISTENERS = """
[[listen]]
transport = "udp"
address = "127.0.0.1:5060"
[[listen]]
transport = "{transport}"
address = "{address}"
"""


def test_unknown_key_at_top_level(tmp_path: Path) -> None:
    message = error_of(tmp_path, "servr = 1\n")
    assert message == f"servr: unknown key (known: {TOP_KEYS})"


def test_unknown_key_in_a_section(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[dispatcher]\nalgoritm = "priority"\n')
    known = "algorithm, probe_interval, down_after, up_after, failover_statuses"
    assert message == f"dispatcher.algoritm: unknown key (known: {known})"


def test_unknown_key_in_a_nested_table(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[transport.limits]\nmax_vias = 3\n")
    assert message.startswith("transport.limits.max_vias: unknown key (known: max_message_size,")


def test_unknown_key_inside_listen(tmp_path: Path) -> None:
    text = TWO_LISTENERS.format(transport="tcp", address="127.0.0.1:5060") + "port = 5\n"
    assert error_of(tmp_path, text) == "listen[1].port: unknown key (known: transport, address)"


def test_unknown_key_inside_upstream(tmp_path: Path) -> None:
    text = '[[upstream]]\nuri = "sip:192.0.2.1"\nweigth = 2\n'
    message = error_of(tmp_path, text)
    assert message == "upstream[0].weigth: unknown key (known: uri, priority, weight)"


def test_unknown_key_with_control_characters_stays_on_one_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, '"a\\nb" = 1\n')
    assert message == f'"a\\nb": unknown key (known: {TOP_KEYS})'


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[server]\nshutdown_grace = "5"\n',
            "server.shutdown_grace: expected a number >= 0, got '5'",
        ),
        ("[server]\nstateless = 1\n", "server.stateless: expected true or false, got 1"),
        (
            "[registrar]\nmax_contacts = true\n",
            "registrar.max_contacts: expected an integer >= 1, got True",
        ),
        (
            "[registrar]\nmax_contacts = 2.0\n",
            "registrar.max_contacts: expected an integer >= 1, got 2.0",
        ),
        ("[server]\nserver_name = 7\n", "server.server_name: expected a non-empty string, got 7"),
        (
            '[server]\nserver_name = "a\\r\\nX: y"\n',
            "server.server_name: expected a non-empty string, got 'a\\r\\nX: y'",
        ),
        ("server = 3\n", "server: expected a table, got 3"),
        ("listen = {}\n", "listen: expected an array, got {}"),
        ('[dns]\nservers = "::1"\n', "dns.servers: expected an array, got '::1'"),
        ("[dns]\ntimeout = inf\n", "dns.timeout: expected a number > 0, got inf"),
    ],
)
def test_wrong_type(tmp_path: Path, text: str, expected: str) -> None:
    assert error_of(tmp_path, text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "[registrar]\nmin_expires = 0\n",
            "registrar.min_expires: expected an integer >= 1, got 0",
        ),
        (
            '[[upstream]]\nuri = "sip:192.0.2.1"\nweight = 0\n',
            "upstream[0].weight: expected an integer >= 1, got 0",
        ),
        (
            '[[upstream]]\nuri = "sip:192.0.2.1"\npriority = -1\n',
            "upstream[0].priority: expected an integer >= 0, got -1",
        ),
        (
            "[dispatcher]\nfailover_statuses = [408, 603]\n",
            "dispatcher.failover_statuses[1]: expected an integer in 400..599, got 603",
        ),
        (
            "[transport]\ntcp_idle_timeout = 0\n",
            "transport.tcp_idle_timeout: expected a number > 0, got 0",
        ),
        (
            "[transport.limits]\nmax_via = 0\n",
            "transport.limits.max_via: expected an integer >= 1, got 0",
        ),
    ],
)
def test_out_of_range(tmp_path: Path, text: str, expected: str) -> None:
    assert error_of(tmp_path, text) == expected


def test_bad_enum_lists_the_allowed_values(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[server]\nmode = "proxy"\n')
    assert message == 'server.mode: expected one of "edge", "registrar", "redirect", got \'proxy\''
    message = error_of(tmp_path, '[log]\nlevel = "loud"\n')
    expected = 'expected one of "debug", "info", "warning", "error", got \'loud\''
    assert message == f"log.level: {expected}"
    message = error_of(tmp_path, TWO_LISTENERS.format(transport="sctp", address="[::1]:5060"))
    expected = 'expected one of "udp", "tcp", "tls", "ws", "wss", got \'sctp\''
    assert message == f"listen[1].transport: {expected}"


@pytest.mark.parametrize("address", ["localhost:5060", "::1:5060", "127.0.0.1", "[127.0.0.1]:5060",
                                     "127.0.0.1:+506", "[::1]", "127.0.0.1:5060 "])  # fmt: skip
def test_bad_listen_address(tmp_path: Path, address: str) -> None:
    message = error_of(tmp_path, TWO_LISTENERS.format(transport="tcp", address=address))
    expected = 'expected "host:port" with an IP address (IPv6 in brackets)'
    assert message == f"listen[1].address: {expected}, got {address!r}"


def test_listen_port_out_of_range(tmp_path: Path) -> None:
    message = error_of(tmp_path, TWO_LISTENERS.format(transport="tcp", address="[::1]:65536"))
    assert message == "listen[1].address: expected a port in 0..65535, got '[::1]:65536'"


def test_bad_dns_server(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[dns]\nservers = ["::1", "ns.example.com"]\n')
    expected = 'expected "IP[:port]" with an IP address (IPv6 in brackets)'
    assert message == f"dns.servers[1]: {expected}, got 'ns.example.com'"


@pytest.mark.parametrize(
    "uri", ["sip:bob@192.0.2.1", "tel:+15551234", "http://pbx", "sip:", "sip:pbx?Subject=x", 5060]
)
def test_bad_upstream_uri(tmp_path: Path, uri: object) -> None:
    value = f'"{uri}"' if isinstance(uri, str) else str(uri)
    message = error_of(tmp_path, f"[[upstream]]\nuri = {value}\n")
    expected = "expected a sip: or sips: URI without user part or headers"
    assert message == f"upstream[0].uri: {expected}, got {uri!r}"


def test_upstream_transport_parameter_must_be_known(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[[upstream]]\nuri = "sip:192.0.2.1;transport=sctp"\n')
    expected = 'expected ;transport= one of "udp", "tcp", "tls", "ws", "wss", got \'sctp\''
    assert message == f"upstream[0].uri: {expected}"


def test_upstream_port_zero(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[[upstream]]\nuri = "sip:192.0.2.1:0"\n')
    assert message == "upstream[0].uri: expected a port in 1..65535, got 'sip:192.0.2.1:0'"


def test_upstream_uri_is_required(tmp_path: Path) -> None:
    assert (
        error_of(tmp_path, "[[upstream]]\npriority = 2\n")
        == "upstream[0].uri: required key missing"
    )


def test_listen_address_is_required(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[[listen]]\ntransport = "udp"\n')
    assert message == "listen[0].address: required key missing"


def test_bad_domain(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[server]\ndomain = "exa mple.com"\n')
    assert message == "server.domain: expected a host name or IP address, got 'exa mple.com'"


def test_edge_mode_needs_an_upstream(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[server]\nmode = "edge"\n')
    assert message == "upstream: expected at least one [[upstream]] in edge mode, got []"


def test_listen_must_not_be_empty(tmp_path: Path) -> None:
    assert error_of(tmp_path, "listen = []\n") == (
        "listen: expected at least one [[listen]] table, got []"
    )


def test_duplicate_listener(tmp_path: Path) -> None:
    text = TWO_LISTENERS.format(transport="udp", address="127.0.0.1:5060")
    message = error_of(tmp_path, text)
    assert message == "listen[1]: duplicate listener udp 127.0.0.1:5060 (as listen[0])"


def test_same_address_on_another_transport_is_no_duplicate(tmp_path: Path) -> None:
    text = TWO_LISTENERS.format(transport="tcp", address="127.0.0.1:5060")
    assert len(load_config(write(tmp_path, text)).listen) == 2


def test_timers_t2_shorter_than_t1(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[timers]\nt1 = 1\nt2 = 0.5\n")
    assert message == "timers.t2: timer t2 (0.5) must not be shorter than t1 (1.0)"


def test_timers_zero(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[timers]\ntrying_delay = 0\n")
    assert (
        message
        == "timers.trying_delay: timer trying_delay must be a positive number of seconds: 0.0"
    )


def test_registrar_expiry_order(tmp_path: Path) -> None:
    message = error_of(tmp_path, "[registrar]\nmin_expires = 600\nmax_expires = 300\n")
    assert message == "registrar.max_expires: expected >= registrar.min_expires (600), got 300"
    message = error_of(tmp_path, "[registrar]\ndefault_expires = 30\n")
    expected = "expected within min_expires..max_expires (60..3600), got 30"
    assert message == f"registrar.default_expires: {expected}"


def test_toml_syntax_error_names_the_line(tmp_path: Path) -> None:
    message = error_of(tmp_path, '[server]\ndomain = "a"\nstateless = \n')
    assert message == "line 3: invalid TOML (Invalid value, column 13)"


def test_toml_error_at_end_of_file(tmp_path: Path) -> None:
    assert error_of(tmp_path, 'a = "x') == "end of file: invalid TOML (Unterminated string)"


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "site.toml"
    path.write_bytes(b'domain = "\xff"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: invalid TOML (not UTF-8: invalid start byte)"


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == f"{path}: cannot read (No such file or directory)"
    assert (info.value.file, info.value.key) == (str(path), None)


def test_error_carries_its_parts(tmp_path: Path) -> None:
    path = write(tmp_path, "[log]\nformat = 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.file == str(path)
    assert info.value.key == "log.format"
    assert info.value.problem == 'expected one of "text", "json", got 1'


@pytest.mark.parametrize("address", ["0.0.0.0:5060", "[::]:5060"])
def test_a_wildcard_listen_address_is_refused(tmp_path: Path, address: str) -> None:
    path = tmp_path / "site.toml"
    path.write_text(f'[[listen]]\ntransport = "udp"\naddress = "{address}"\n')
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value) == (
        f"{path}: listen[0].address: expected a specific IP address (not a wildcard), "
        f"got '{address}'"
    )
