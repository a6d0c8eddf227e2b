"""§16.4 route preprocessing: strict-router fix-up, our Route values popped (RFC 3261, 5658)."""

from __future__ import annotations

import pytest

from sipguard.config import TransportName
from sipguard.proxy.identity import ListenAddress, LocalIdentity
from sipguard.proxy.route import (
    is_in_dialog,
    is_our_record_route,
    preprocess_routes,
    strip_local_maddr,
)
from sipguard.sip import Request, SipParseError, SipUri, parse_message, parse_uri

UDP = ListenAddress(TransportName.UDP, "192.0.2.1", 5060)
TCP = ListenAddress(TransportName.TCP, "192.0.2.1", 5060)
UDP6 = ListenAddress(TransportName.UDP, "2001:db8::1", 5060)
ME = LocalIdentity("example.com", (UDP, TCP, UDP6), frozenset({"p2.example.com"}))


def request(start: str, *headers: str) -> Request:
    lines = [
        start,
        "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bK776asdhds",
        "Max-Forwards: 70",
        "From: <sip:caller@u1.example.com>;tag=1928301774",
        "To: <sip:callee@u2.domain.com>;tag=a6c85cf",
        "Call-ID: a84b4c76e66710@pc33.example.com",
        f"CSeq: 2 {start.split(maxsplit=1)[0]}",
        *headers,
        "Content-Length: 0",
        "",
        "",
    ]
    msg = parse_message("\r\n".join(lines).encode())
    assert isinstance(msg, Request)
    return msg


def test_rfc3261_16_12_1_2_strict_router_target_is_fixed_up() -> None:
    # P2 of §16.12.1.2: the strict router P3 put P2's Record-Route URI in the Request-URI.
    bye = request(
        "BYE sip:p2.example.com;lr SIP/2.0",
        "Route: <sip:p1.example.com;lr>",
        "Route: <sip:caller@u1.example.com>",
    )
    out = preprocess_routes(bye, ME)
    assert str(out.uri) == "sip:caller@u1.example.com"
    assert out.get_all("Route") == ["<sip:p1.example.com;lr>"]
    assert b"BYE sip:caller@u1.example.com SIP/2.0\r\n" in out.to_bytes()


def test_strict_fix_up_then_our_next_route_is_popped() -> None:
    # The last Route value is the Request-URI; the first is our other (RFC 5658) URI.
    bye = request(
        "BYE sip:192.0.2.1:5060;transport=tcp;lr SIP/2.0",
        "Route: <sip:192.0.2.1;lr>, <sip:p3.other.net;lr>, <sip:bob@203.0.113.9>",
    )
    out = preprocess_routes(bye, ME)
    assert str(out.uri) == "sip:bob@203.0.113.9"
    assert [str(r.uri) for r in out.routes] == ["sip:p3.other.net;lr"]


def test_request_to_our_domain_with_a_user_is_not_a_strict_router_target() -> None:
    invite = request("INVITE sip:bob@example.com SIP/2.0", "Route: <sip:p9.elsewhere.net;lr>")
    out = preprocess_routes(invite, ME)
    assert out is invite


def test_our_top_route_is_removed_and_the_rest_kept_byte_for_byte() -> None:
    bye = request(
        "BYE sip:callee@u2.domain.com SIP/2.0",
        "Route: <sip:192.0.2.1;lr>, <sip:p3.other.net;lr;x=1>",
        "Route: <sip:p4.other.net;lr>",
    )
    out = preprocess_routes(bye, ME)
    assert str(out.uri) == "sip:callee@u2.domain.com"
    assert out.get_all("Route") == ["<sip:p3.other.net;lr;x=1>", "<sip:p4.other.net;lr>"]
    assert b"\r\nRoute: <sip:p4.other.net;lr>\r\n" in out.to_bytes()


def test_both_values_of_a_double_record_route_are_removed() -> None:
    # RFC 5658: the request entered over UDP/IPv6 and left over TCP/IPv4.
    bye = request(
        "BYE sip:callee@u2.domain.com SIP/2.0",
        "Route: <sip:[2001:db8:0::1]:5060;lr>",
        "Route: <sip:192.0.2.1:5060;transport=tcp;lr>",
        "Route: <sip:p3.other.net;lr>",
    )
    out = preprocess_routes(bye, ME)
    assert [str(r.uri) for r in out.routes] == ["sip:p3.other.net;lr"]


def test_foreign_top_route_is_kept() -> None:
    bye = request(
        "BYE sip:callee@u2.domain.com SIP/2.0",
        "Route: <sip:p3.other.net;lr>, <sip:192.0.2.1;lr>",
    )
    assert preprocess_routes(bye, ME) is bye


def test_our_address_on_another_port_is_not_us() -> None:
    bye = request("BYE sip:callee@u2.domain.com SIP/2.0", "Route: <sip:192.0.2.1:5080;lr>")
    assert preprocess_routes(bye, ME) is bye


def test_only_route_is_ours_leaves_no_route_header() -> None:
    bye = request("BYE sip:callee@u2.domain.com SIP/2.0", "Route: <sip:EXAMPLE.com;lr>")
    out = preprocess_routes(bye, ME)
    assert not out.has("Route")
    assert parse_message(out.to_bytes()) == out


def test_malformed_route_is_a_400() -> None:
    bye = request("BYE sip:callee@u2.domain.com SIP/2.0", "Route: <sip:p1.example.com;lr")
    with pytest.raises(SipParseError) as info:
        preprocess_routes(bye, ME)
    assert info.value.status == 400


def test_is_our_record_route() -> None:
    assert is_our_record_route(parse_uri("sip:192.0.2.1;lr"), ME)
    assert not is_our_record_route(parse_uri("sip:192.0.2.1"), ME)
    assert not is_our_record_route(parse_uri("sip:alice@192.0.2.1;lr"), ME)
    assert not is_our_record_route(parse_uri("sip:198.51.100.1;lr"), ME)
    assert not is_our_record_route(parse_uri("tel:+15551234"), ME)


def test_is_in_dialog() -> None:
    assert is_in_dialog(request("BYE sip:callee@u2.domain.com SIP/2.0"))
    lines = "\r\n".join(
        [
            "INVITE sip:bob@example.com SIP/2.0",
            "Via: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bK1",
            "From: <sip:a@example.net>;tag=1",
            "To: <sip:bob@example.com>",
            "Call-ID: x1",
            "CSeq: 1 INVITE",
            "",
            "",
        ]
    )
    invite = parse_message(lines.encode())
    assert isinstance(invite, Request)
    assert not is_in_dialog(invite)


def test_maddr_naming_us_on_the_indicated_port_and_transport_is_stripped() -> None:
    options = request("OPTIONS sip:bob@example.com:5060;maddr=192.0.2.1;transport=tcp SIP/2.0")
    out = strip_local_maddr(options, ME, TCP)
    assert str(out.uri) == "sip:bob@example.com"
    # Received over UDP while the URI says TCP: forwarded to the indicated transport.
    assert strip_local_maddr(options, ME, UDP) is options


def test_maddr_naming_someone_else_is_kept() -> None:
    options = request("OPTIONS sip:bob@example.com;maddr=198.51.100.1 SIP/2.0")
    assert strip_local_maddr(options, ME, UDP) is options


# -- who is "us" (LocalIdentity) ---------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "local"),
    [
        ("sip:example.com", True),
        ("sip:EXAMPLE.COM.:5099", True),  # names: any port, any case, root dot
        ("sip:P2.Example.com;lr", True),  # an alias
        ("sip:192.0.2.1", True),  # a missing port is 5060 for sip
        ("sip:192.0.2.1:5060", True),
        ("sips:192.0.2.1", False),  # ... and 5061 for sips
        ("sip:[2001:DB8:0:0::1]", True),  # IPv6 compared by value
        ("sip:[2001:db8::2]", False),
        ("sip:other.example.com", False),
        ("sip:192.0.2.10", False),
    ],
)
def test_is_local_uri(uri: str, local: bool) -> None:
    parsed = parse_uri(uri)
    assert isinstance(parsed, SipUri)
    assert ME.is_local_uri(parsed) is local


def test_identity_needs_ip_listeners() -> None:
    with pytest.raises(ValueError, match="IP literal"):
        LocalIdentity("example.com", (ListenAddress(TransportName.UDP, "proxy.example.com", 5060),))


def test_identity_is_a_hashable_value() -> None:
    twin = LocalIdentity("example.com", (UDP, TCP, UDP6), frozenset({"p2.example.com"}))
    assert twin == ME
    assert hash(twin) == hash(ME)
