"""§16.6 request forwarding: the copy, loop-hash branches, strict routes, next hops."""

from __future__ import annotations

import socket

import pytest

from sipguard.config import TransportName
from sipguard.proxy.destination import Destination, destination_of
from sipguard.proxy.errors import ProxyError, TooManyHopsError
from sipguard.proxy.forward import (
    apply_strict_route,
    branch_loop_part,
    forward_request,
    loop_hash,
    make_branch,
    needs_double_record_route,
    next_hop,
    our_via,
    postprocess_routing,
    record_route_values,
)
from sipguard.proxy.identity import ListenAddress, LocalIdentity
from sipguard.sip import Request, SipUri, Via, parse_message, parse_uri
from sipguard.sip.headers import parse_via

V4, V6 = socket.AF_INET, socket.AF_INET6
T = TransportName
ME = LocalIdentity(
    "example.com",
    (
        ListenAddress(T.UDP, "192.0.2.1", 5060),
        ListenAddress(T.TCP, "192.0.2.1", 5060),
        ListenAddress(T.TLS, "192.0.2.1", 5061),
        ListenAddress(T.UDP, "2001:db8::1", 5062),
    ),
)

INVITE = (
    "INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKnashds8\r\n"
    "Max-Forwards: 70\r\n"
    "To: Bob <sip:bob@biloxi.example.com>\r\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    "Call-ID: a84b4c76e66710\r\n"
    "CSeq: 314159 INVITE\r\n"
    "Contact:   <sip:alice@pc33.atlanta.example.com>\r\n"
    "X-Odd-Header :  kept   as is\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: 4\r\n"
    "\r\n"
    "v=0\n"
)


def parse(text: str) -> Request:
    msg = parse_message(text.encode())
    assert isinstance(msg, Request)
    return msg


def sip(text: str) -> SipUri:
    uri = parse_uri(text)
    assert isinstance(uri, SipUri)
    return uri


def with_line(text: str, line: str, after: str = "Max-Forwards") -> str:
    """``text`` with ``line`` inserted after the header line starting with ``after``."""
    lines = text.split("\r\n")
    at = next(i for i, x in enumerate(lines) if x.startswith(after)) + 1
    return "\r\n".join([*lines[:at], line, *lines[at:]])


BRANCH = make_branch("0123456789abcdef", "k7")
VIA = our_via(T.UDP, "192.0.2.1", 5060, BRANCH)


# -- loop hash and branches ------------------------------------------------------


def test_loop_hash_is_stable_across_processes() -> None:
    # A fixed value: a change here breaks loop detection across a restart or a cluster.
    assert loop_hash(parse(INVITE)) == "df97850540d297ee"


def test_loop_hash_equal_for_identical_requests() -> None:
    assert loop_hash(parse(INVITE)) == loop_hash(parse(INVITE))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("INVITE sip:bob@biloxi", "INVITE sip:carol@biloxi"),  # Request-URI
        ("tag=1928301774", "tag=1928301775"),  # From tag
        ("Call-ID: a84b4c76e66710", "Call-ID: a84b4c76e66711"),
        ("CSeq: 314159", "CSeq: 314160"),
        ("To: Bob <sip:bob@biloxi.example.com>", "To: <sip:bob@biloxi.example.com>;tag=x"),
        ("Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nRoute: <sip:p1.example.net;lr>\r\n"),
        ("Max-Forwards: 70\r\n", "Max-Forwards: 70\r\nProxy-Require: foo\r\n"),
        ("Max-Forwards: 70\r\n", 'Max-Forwards: 70\r\nProxy-Authorization: Digest a="b"\r\n'),
    ],
)
def test_loop_hash_changes_with_each_routing_field(old: str, new: str) -> None:
    assert old in INVITE
    assert loop_hash(parse(INVITE.replace(old, new))) != loop_hash(parse(INVITE))


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("Max-Forwards: 70", "Max-Forwards: 12"),
        ("branch=z9hG4bKnashds8", "branch=z9hG4bKother"),  # the previous hop's Via
        ("Contact:   <sip:alice@pc33", "Contact: <sip:alice@pc34"),
    ],
)
def test_loop_hash_ignores_what_changes_on_every_hop(old: str, new: str) -> None:
    assert loop_hash(parse(INVITE.replace(old, new))) == loop_hash(parse(INVITE))


def test_loop_hash_does_not_vary_with_the_method() -> None:
    # RFC 5393 §4.2.1: CANCEL must get the branch of the INVITE it cancels.
    cancel = INVITE.replace("INVITE sip", "CANCEL sip").replace("314159 INVITE", "314159 CANCEL")
    assert loop_hash(parse(cancel)) == loop_hash(parse(INVITE))


def test_branch_round_trip() -> None:
    loop = loop_hash(parse(INVITE))
    branch = make_branch(loop, "a1b2.c3")
    assert branch.startswith("z9hG4bK")
    assert branch_loop_part(branch) == loop
    assert parse_via(f"SIP/2.0/UDP 192.0.2.1;branch={branch}").branch == branch


@pytest.mark.parametrize(
    "branch",
    [None, "z9hG4bK776asdhds", "0123456789abcdef.x", "z9hG4bK0123456789abcdef.", "z9hG4bKXYZ"],
)
def test_branch_loop_part_of_foreign_branches_is_none(branch: str | None) -> None:
    assert branch_loop_part(branch) is None


@pytest.mark.parametrize(
    ("loop", "unique"),
    [
        ("abc", "x"),
        ("0123456789ABCDEF", "x"),
        ("0123456789abcdef", ""),
        ("0123456789abcdef", "a b"),
    ],
)
def test_make_branch_refuses_bad_parts(loop: str, unique: str) -> None:
    with pytest.raises(ValueError, match=r"branch|loop hash"):
        make_branch(loop, unique)


# -- forward_request --------------------------------------------------------------------


def test_forward_keeps_untouched_lines_and_body_byte_identical() -> None:
    out = forward_request(parse(INVITE), request_uri=None, via=VIA)
    wire = out.to_bytes()
    for line in INVITE.split("\r\n")[1:]:
        if line and not line.startswith("Max-Forwards"):
            assert line.encode() in wire
    assert wire.endswith(b"\r\n\r\nv=0\n")
    assert wire.startswith(f"INVITE sip:bob@biloxi.example.com SIP/2.0\r\nVia: {VIA}\r\n".encode())
    again = parse_message(wire)
    assert again == out
    assert again.vias[0].branch == BRANCH
    assert again.vias[1].host == "pc33.atlanta.example.com"
    assert again.max_forwards == 69


def test_forward_inserts_max_forwards_70_when_absent() -> None:
    out = forward_request(
        parse(INVITE.replace("Max-Forwards: 70\r\n", "")), request_uri=None, via=VIA
    )
    assert parse_message(out.to_bytes()).max_forwards == 70


def test_forward_decrements_one_to_zero() -> None:
    out = forward_request(
        parse(INVITE.replace("Max-Forwards: 70", "Max-Forwards: 1")), request_uri=None, via=VIA
    )
    assert out.max_forwards == 0
    assert b"\r\nMax-Forwards: 0\r\n" in out.to_bytes()


def test_forward_refuses_max_forwards_zero() -> None:
    with pytest.raises(TooManyHopsError):
        forward_request(
            parse(INVITE.replace("Max-Forwards: 70", "Max-Forwards: 0")), request_uri=None, via=VIA
        )


def test_forward_puts_record_route_and_routes_on_top_in_order() -> None:
    text = with_line(INVITE, "Record-Route: <sip:p1.example.net;lr>")
    text = with_line(text, "Route: <sip:p9.example.net;lr>", after="Record-Route")
    out = forward_request(
        parse(text),
        request_uri=None,
        via=parse_via(VIA),
        record_route=["<sip:192.0.2.1;transport=tcp;lr>", "<sip:[2001:db8::1]:5062;lr>"],
        routes=["<sip:pbx1.example.com;lr>", "<sip:pbx2.example.com;lr>"],
    )
    again = parse_message(out.to_bytes())
    assert [str(r.uri) for r in again.record_routes] == [
        "sip:192.0.2.1;transport=tcp;lr",
        "sip:[2001:db8::1]:5062;lr",
        "sip:p1.example.net;lr",
    ]
    assert [str(r.uri) for r in again.routes] == [
        "sip:pbx1.example.com;lr",
        "sip:pbx2.example.com;lr",
        "sip:p9.example.net;lr",
    ]
    assert str(again.vias[0]) == VIA


def test_forward_without_record_route_header_puts_new_one_below_via() -> None:
    out = forward_request(
        parse(INVITE), request_uri=None, via=VIA, record_route=["<sip:192.0.2.1;lr>"]
    )
    names = [f.name for f in out.fields]
    assert names[:3] == ["Via", "Via", "Record-Route"]


def test_forward_replaces_request_uri_and_strips_forbidden_parts() -> None:
    target = sip("sip:bob@10.0.0.7:5070;transport=tcp;method=INVITE?Subject=hi")
    out = forward_request(parse(INVITE), request_uri=target, via=VIA)
    assert out.to_bytes().startswith(b"INVITE sip:bob@10.0.0.7:5070;transport=tcp SIP/2.0\r\n")
    assert parse_message(out.to_bytes()) == out


def test_forward_accepts_a_via_value() -> None:
    via = Via("TCP", "192.0.2.1", 5060, (("branch", BRANCH),))
    out = forward_request(parse(INVITE), request_uri=None, via=via)
    assert out.get("Via") == f"SIP/2.0/TCP 192.0.2.1:5060;branch={BRANCH}"


def test_forward_leaves_the_input_unchanged() -> None:
    req = parse(INVITE)
    forward_request(req, request_uri=sip("sip:x@10.0.0.1"), via=VIA, record_route=["<sip:a;lr>"])
    assert req.to_bytes() == INVITE.encode()


def test_our_via_forms() -> None:
    assert (
        our_via(T.UDP, "192.0.2.1", 5060, BRANCH)
        == f"SIP/2.0/UDP 192.0.2.1:5060;branch={BRANCH};rport"
    )
    v6 = parse_via(our_via(T.TLS, "2001:db8::1", 5061, BRANCH, rport=False))
    assert (v6.transport, v6.host, v6.port, v6.param("rport")) == (
        "TLS",
        "[2001:db8::1]",
        5061,
        None,
    )
    assert parse_via(our_via(T.WSS, "192.0.2.1", 443, BRANCH)).transport == "WSS"


# -- routes and next hop ----------------------------------------------------------------


def test_next_hop_is_the_request_uri_without_route() -> None:
    assert str(next_hop(parse(INVITE))) == "sip:bob@biloxi.example.com"


def test_next_hop_is_a_loose_top_route_and_nothing_is_rewritten() -> None:
    req = parse(with_line(INVITE, "Route: <sip:p2.example.net;lr>, <sip:p3.example.net>"))
    out, hop = postprocess_routing(req)
    assert str(hop) == "sip:p2.example.net;lr"
    assert out is req


def test_rfc3261_16_12_1_2_strict_router_next_hop() -> None:
    # P4 of §16.12.1.2, after popping its own Route value.
    bye = parse(
        "BYE sip:caller@u1.example.com SIP/2.0\r\n"
        "Via: SIP/2.0/UDP u2.domain.com;branch=z9hG4bK1\r\n"
        "Route: <sip:p3.middle.com>\r\n"
        "Route: <sip:p2.example.com;lr>\r\n"
        "Route: <sip:p1.example.com;lr>\r\n"
        "From: <sip:callee@domain.com>;tag=2\r\nTo: <sip:caller@u1.example.com>;tag=1\r\n"
        "Call-ID: c1\r\nCSeq: 9 BYE\r\nContent-Length: 0\r\n\r\n"
    )
    assert str(next_hop(bye)) == "sip:p3.middle.com"
    out, hop = postprocess_routing(bye)
    assert str(hop) == "sip:p3.middle.com"
    assert str(out.uri) == "sip:p3.middle.com"
    assert out.get_all("Route") == [
        "<sip:p2.example.com;lr>",
        "<sip:p1.example.com;lr>",
        "<sip:caller@u1.example.com>",
    ]
    assert apply_strict_route(out) is out  # p2 has lr: nothing more to rewrite
    assert parse_message(out.to_bytes()) == out


def test_strict_route_in_a_single_line() -> None:
    req = parse(with_line(INVITE, "Route: <sip:p3.middle.com>, <sip:p4.example.net;lr>"))
    out = apply_strict_route(req)
    assert str(out.uri) == "sip:p3.middle.com"
    assert [str(r.uri) for r in out.routes] == [
        "sip:p4.example.net;lr",
        "sip:bob@biloxi.example.com",
    ]


# -- destinations (RFC 3263 §4.1 without DNS) ------------------------------------------


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("sip:bob@10.0.0.7", Destination(T.UDP, "10.0.0.7", None, False)),
        ("sip:bob@pbx.example.com", Destination(None, "pbx.example.com", None, False)),
        ("sip:bob@pbx.example.com:5070", Destination(T.UDP, "pbx.example.com", 5070, False)),
        (
            "sip:bob@pbx.example.com;transport=TCP",
            Destination(T.TCP, "pbx.example.com", None, False),
        ),
        ("sip:pbx.example.com;transport=tls", Destination(T.TLS, "pbx.example.com", None, True)),
        ("sip:pbx.example.com;transport=ws", Destination(T.WS, "pbx.example.com", None, False)),
        (
            "sip:bob@pbx.example.com:5070;maddr=10.1.1.1",
            Destination(T.UDP, "10.1.1.1", 5070, False),
        ),
        (
            "sip:bob@pbx.example.com;maddr=[2001:db8::9]",
            Destination(T.UDP, "2001:db8::9", None, False),
        ),
        ("sips:bob@pbx.example.com", Destination(None, "pbx.example.com", None, True)),
        ("sips:bob@10.0.0.7", Destination(T.TLS, "10.0.0.7", None, True)),
        ("sips:bob@10.0.0.7;transport=tcp", Destination(T.TLS, "10.0.0.7", None, True)),
        (
            "sips:bob@pbx.example.com;transport=ws",
            Destination(T.WSS, "pbx.example.com", None, True),
        ),
        ("sip:[2001:db8::7]:5080", Destination(T.UDP, "2001:db8::7", 5080, False)),
    ],
)
def test_destination_of(uri: str, expected: Destination) -> None:
    assert destination_of(sip(uri)) == expected


def test_destination_of_a_sips_request_uses_tls() -> None:
    # §16.6 step 7: a SIPS Request-URI makes the Route URI be treated as SIPS.
    assert destination_of(sip("sip:10.0.0.7;lr"), sips=True) == Destination(
        T.TLS, "10.0.0.7", None, True
    )


@pytest.mark.parametrize(
    ("uri", "status"),
    [
        ("sips:10.0.0.7;transport=udp", 400),
        ("sip:10.0.0.7;transport=sctp", 503),
        ("sip:10.0.0.7;transport=x%0d%0aY", 503),
    ],
)
def test_destination_of_refuses(uri: str, status: int) -> None:
    with pytest.raises(ProxyError) as info:
        destination_of(sip(uri))
    assert info.value.status == status
    assert "\r" not in info.value.reason


# -- Record-Route (RFC 3261 §16.6 step 4, RFC 5658) -------------------------------------


def test_record_route_uri_forms() -> None:
    assert ME.record_route_uri(T.UDP, V4) == "<sip:192.0.2.1:5060;lr>"
    assert ME.record_route_uri(T.TCP, V4) == "<sip:192.0.2.1:5060;transport=tcp;lr>"
    assert ME.record_route_uri(T.TLS, V4) == "<sip:192.0.2.1:5061;transport=tls;lr>"
    assert ME.record_route_uri(T.TLS, V4, sips=True) == "<sips:192.0.2.1:5061;lr>"
    assert ME.record_route_uri(T.UDP, V6) == "<sip:[2001:db8::1]:5062;lr>"
    with pytest.raises(ValueError, match="listener"):
        ME.record_route_uri(T.TCP, V6)
    with pytest.raises(ValueError, match="SIPS"):
        ME.record_route_uri(T.UDP, V4, sips=True)
    assert ME.sent_by(T.UDP, V6) == ("2001:db8::1", 5062)


def test_needs_double_record_route() -> None:
    assert not needs_double_record_route(T.UDP, V4, T.UDP, V4)
    assert needs_double_record_route(T.UDP, V4, T.TCP, V4)
    assert needs_double_record_route(T.UDP, V6, T.UDP, V4)


def test_record_route_values_put_the_outbound_side_on_top() -> None:
    assert record_route_values(ME, inbound=(T.UDP, V4), outbound=(T.UDP, V4)) == (
        "<sip:192.0.2.1:5060;lr>",
    )
    assert record_route_values(ME, inbound=(T.UDP, V6), outbound=(T.TCP, V4)) == (
        "<sip:192.0.2.1:5060;transport=tcp;lr>",
        "<sip:[2001:db8::1]:5062;lr>",
    )
