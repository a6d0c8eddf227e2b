"""Source address text: format and parse are inverse, and refuse what is not one."""

from __future__ import annotations

import pytest

from sipguard.store import SourceAddress, SourceFormatError, format_source, parse_source


@pytest.mark.parametrize(
    ("transport", "host", "port", "text", "bare"),
    [
        ("udp", "203.0.113.5", 5060, "udp:203.0.113.5:5060", "203.0.113.5"),
        ("TCP", "2001:DB8:0::1", 5061, "tcp:[2001:db8::1]:5061", "2001:db8::1"),
        ("tls", "[::1]", 0, "tls:[::1]:0", "::1"),
        ("ws", "127.0.0.1", 65535, "ws:127.0.0.1:65535", "127.0.0.1"),
    ],
)
def test_format_and_parse_round_trip(
    transport: str, host: str, port: int, text: str, bare: str
) -> None:
    assert format_source(transport, host, port) == text
    parsed = parse_source(text)
    assert parsed == SourceAddress(transport.lower(), bare, port)
    assert str(parsed) == text


@pytest.mark.parametrize(
    ("transport", "host", "port"),
    [("udp", "phone.example.com", 5060), ("udp", "192.0.2.1", 70000), ("u dp", "::1", 1)],
)
def test_format_refuses_non_addresses(transport: str, host: str, port: int) -> None:
    with pytest.raises(SourceFormatError):
        format_source(transport, host, port)


@pytest.mark.parametrize(
    "text",
    [
        "udp:203.0.113.5",
        "udp:2001:db8::1:5060",  # IPv6 must be bracketed
        "udp:[192.0.2.1]:5060",  # IPv4 must not be
        "udp:999.1.1.1:5060",
        "udp:192.0.2.1:99999",
        "udp:example.com:5060",
        ":192.0.2.1:5060",
        "udp:192.0.2.1:5060\n",
    ],
)
def test_parse_refuses_malformed_text(text: str) -> None:
    with pytest.raises(SourceFormatError):
        parse_source(text)
