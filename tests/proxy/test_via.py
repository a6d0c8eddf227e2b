"""Top Via handling: received/rport on receipt, response destinations, stripping ours."""

from __future__ import annotations

import pytest

from sipguard.config import TransportName
from sipguard.proxy.identity import ListenAddress, LocalIdentity
from sipguard.proxy.via import ResponseTarget, response_destination, stamp_received, strip_top_via
from sipguard.sip import Request, Response, SipParseError, parse_message

ME = LocalIdentity(
    "example.com",
    (
        ListenAddress(TransportName.UDP, "192.0.2.1", 5060),
        ListenAddress(TransportName.TLS, "2001:db8::1", 5061),
    ),
)


def request(via: str, *more: str) -> Request:
    text = "\r\n".join(
        [
            "REGISTER sip:example.com SIP/2.0",
            f"Via: {via}",
            *more,
            "Max-Forwards: 70",
            "From: <sip:alice@example.com>;tag=a73kszlfl",
            "To: <sip:alice@example.com>",
            "Call-ID: 1j9FpLxk3uxtm8tn@10.0.0.5",
            "CSeq: 1 REGISTER",
            "Content-Length: 0",
            "",
            "",
        ]
    )
    msg = parse_message(text.encode())
    assert isinstance(msg, Request)
    return msg


def response(*vias: str) -> Response:
    text = "\r\n".join(
        [
            "SIP/2.0 200 OK",
            *(f"Via: {v}" for v in vias),
            "From: <sip:alice@example.com>;tag=a73kszlfl",
            "To: <sip:alice@example.com>;tag=37GkEhwl6",
            "Call-ID: 1j9FpLxk3uxtm8tn@10.0.0.5",
            "CSeq: 1 REGISTER",
            "Content-Length: 0",
            "",
            "",
        ]
    )
    msg = parse_message(text.encode())
    assert isinstance(msg, Response)
    return msg


# -- stamp_received ----------------------------------------------------------------------


def test_nated_client_gets_rport_and_received() -> None:
    req = request(
        "SIP/2.0/UDP 10.0.0.5:5060;rport;branch=z9hG4bKnashds7",
        "Via: SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKlow",
    )
    out = stamp_received(req, "203.0.113.9", 41234)
    top = out.via
    assert (top.param("rport"), top.param("received"), top.branch) == (
        "41234",
        "203.0.113.9",
        "z9hG4bKnashds7",
    )
    assert out.vias[1].raw == "SIP/2.0/UDP 10.9.9.9;branch=z9hG4bKlow"
    again = parse_message(out.to_bytes())
    assert again == out
    assert req.via.param("rport") == ""  # the input is untouched


def test_rport_is_filled_even_when_the_address_matches() -> None:
    # RFC 3581 §4: with rport, received is added always.
    out = stamp_received(
        request("SIP/2.0/UDP 203.0.113.9:5060;rport;branch=z9hG4bK1"), "203.0.113.9", 5060
    )
    assert (out.via.param("rport"), out.via.param("received")) == ("5060", "203.0.113.9")


def test_sent_by_equal_to_source_changes_nothing() -> None:
    req = request("SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bK1")
    assert stamp_received(req, "203.0.113.9", 5060) is req
    assert stamp_received(req, "203.0.113.9", 6000) is req  # §18.2.1 compares the host only


def test_ipv6_sent_by_compared_by_value() -> None:
    req = request("SIP/2.0/UDP [2001:DB8:0::9]:5060;branch=z9hG4bK1")
    assert stamp_received(req, "2001:db8::9", 5060) is req
    out = stamp_received(req, "2001:db8::10", 5060)
    assert out.via.param("received") == "2001:db8::10"


def test_host_name_sent_by_always_gets_received() -> None:
    req = request("SIP/2.0/TCP pc33.atlanta.example.com;branch=z9hG4bK1")
    out = stamp_received(req, "198.51.100.4", 50123)
    assert out.via.param("received") == "198.51.100.4"
    assert out.via.param("rport") is None
    assert (
        out.get("Via")
        == "SIP/2.0/TCP pc33.atlanta.example.com;branch=z9hG4bK1;received=198.51.100.4"
    )


def test_forged_received_and_rport_are_overwritten() -> None:
    # A client naming a victim in its own Via must not steer our responses there.
    req = request("SIP/2.0/UDP 203.0.113.9:5060;branch=z9hG4bK1;received=192.0.2.99;rport=9")
    out = stamp_received(req, "203.0.113.9", 5060)
    assert (out.via.param("received"), out.via.param("rport")) == ("203.0.113.9", "5060")


def test_top_via_sharing_a_line_is_rewritten_alone() -> None:
    req = request("SIP/2.0/UDP 10.0.0.5;branch=z9hG4bKa, SIP/2.0/UDP 10.0.0.6;branch=z9hG4bKb")
    out = stamp_received(req, "203.0.113.9", 5060)
    assert [v.param("received") for v in out.vias] == ["203.0.113.9", None]
    assert len(out.get_all("Via")) == 1
    assert parse_message(out.to_bytes()) == out


# -- response_destination (RFC 3261 §18.2.2, RFC 3581 §4) -------------------------------


@pytest.mark.parametrize(
    ("via", "open_", "expected"),
    [
        # reliable, connection open: reuse it
        (
            "SIP/2.0/TCP 10.0.0.5:5070;branch=z9hG4bK1;received=203.0.113.9",
            True,
            ResponseTarget("TCP", "203.0.113.9", 5070, same_connection=True),
        ),
        # reliable, connection gone: received + sent-by port
        (
            "SIP/2.0/TCP 10.0.0.5:5070;branch=z9hG4bK1;received=203.0.113.9",
            False,
            ResponseTarget("TCP", "203.0.113.9", 5070),
        ),
        # TLS without a port: 5061
        (
            "SIP/2.0/TLS client.example.net;branch=z9hG4bK1",
            False,
            ResponseTarget("TLS", "client.example.net", 5061),
        ),
        # maddr: maddr + sent-by port, or 5060
        (
            "SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK1;maddr=239.255.255.1;received=203.0.113.9",
            False,
            ResponseTarget("UDP", "239.255.255.1", 5060),
        ),
        # received + rport
        (
            "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bK1;rport=41234;received=203.0.113.9",
            False,
            ResponseTarget("UDP", "203.0.113.9", 41234),
        ),
        # received without rport: sent-by port
        (
            "SIP/2.0/UDP 10.0.0.5:5070;branch=z9hG4bK1;received=203.0.113.9",
            False,
            ResponseTarget("UDP", "203.0.113.9", 5070),
        ),
        # received, empty rport (never filled), no port: 5060
        (
            "SIP/2.0/UDP 10.0.0.5;branch=z9hG4bK1;rport;received=203.0.113.9",
            False,
            ResponseTarget("UDP", "203.0.113.9", 5060),
        ),
        # sent-by
        (
            "SIP/2.0/UDP [2001:db8::9]:5080;branch=z9hG4bK1",
            False,
            ResponseTarget("UDP", "2001:db8::9", 5080),
        ),
    ],
)
def test_response_destination(via: str, open_: bool, expected: ResponseTarget) -> None:
    assert response_destination(response(via), reliable_connection_open=open_) == expected


def test_websocket_client_is_unreachable_once_its_connection_closed() -> None:
    resp = response("SIP/2.0/WSS df7jal23ls0d.invalid;branch=z9hG4bK1;received=203.0.113.9")
    assert response_destination(resp, reliable_connection_open=False) is None
    target = response_destination(resp, reliable_connection_open=True)
    assert target is not None
    assert target.same_connection


def test_response_without_via_has_no_destination() -> None:
    # The parser refuses one; a stripped response (our Via was the last) has none.
    stripped = response("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1").without_first_value("Via")
    assert response_destination(stripped, reliable_connection_open=True) is None


# -- strip_top_via (RFC 3261 §16.7 step 3) ---------------------------------------------------


def test_strip_our_top_via() -> None:
    resp = response(
        "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK0123456789abcdef.x1;rport=5060",
        "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKnashds7;received=203.0.113.9",
    )
    out = strip_top_via(resp, ME)
    assert out is not None
    assert out.get_all("Via") == [
        "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKnashds7;received=203.0.113.9"
    ]
    assert parse_message(out.to_bytes()) == out


def test_strip_our_ipv6_tls_via_sharing_a_line() -> None:
    resp = response(
        "SIP/2.0/TLS [2001:db8::1];branch=z9hG4bK2, SIP/2.0/TLS 198.51.100.4:5061;branch=z9hG4bK3"
    )
    out = strip_top_via(resp, ME)
    assert out is not None
    assert [v.host for v in out.vias] == ["198.51.100.4"]


@pytest.mark.parametrize(
    "via",
    [
        "SIP/2.0/UDP 198.51.100.4:5060;branch=z9hG4bK1",  # someone else
        "SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1",  # our address, not our port
        "SIP/2.0/TLS [2001:db8::1]:5060;branch=z9hG4bK1",  # our TLS listener is on 5061
    ],
)
def test_strip_foreign_top_via_drops(via: str) -> None:
    assert strip_top_via(response(via, "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK2"), ME) is None


def test_strip_last_via_leaves_a_response_for_us() -> None:
    out = strip_top_via(response("SIP/2.0/UDP example.com;branch=z9hG4bK1"), ME)
    assert out is not None
    assert not out.has("Via")


def test_malformed_top_via_raises_400() -> None:
    resp = response("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1")
    bad = resp.with_header("Via", "SIP/2.0/UDP ;;")
    with pytest.raises(SipParseError):
        strip_top_via(bad, ME)
