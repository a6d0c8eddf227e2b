"""§16.3 request validation: Max-Forwards, loops and spirals (RFC 5393), Proxy-Require."""

from __future__ import annotations

import pytest

from sipguard.config import TransportName
from sipguard.proxy.errors import ProxyError, TooManyHopsError
from sipguard.proxy.forward import loop_hash, make_branch, our_via
from sipguard.proxy.identity import ListenAddress, LocalIdentity
from sipguard.proxy.route import preprocess_routes
from sipguard.proxy.validate import validate_request
from sipguard.sip import AbsoluteUri, Request, SipParseError, parse_message

ME = LocalIdentity(
    "example.com",
    (
        ListenAddress(TransportName.UDP, "192.0.2.1", 5060),
        ListenAddress(TransportName.TLS, "192.0.2.1", 5061),
    ),
)
SUPPORTED = frozenset({"path", "outbound"})


def request(*headers: str, method: str = "INVITE", uri: str = "sip:bob@example.com") -> Request:
    lines = [
        f"{method} {uri} SIP/2.0",
        *headers,
        "From: Alice <sip:alice@atlanta.example.com>;tag=9fxced76sl",
        "To: Bob <sip:bob@example.com>",
        "Call-ID: 3848276298220188511@atlanta.example.com",
        f"CSeq: 1 {method}",
        "Content-Length: 0",
        "",
        "",
    ]
    msg = parse_message("\r\n".join(lines).encode())
    assert isinstance(msg, Request)
    return msg


UA_VIA = "Via: SIP/2.0/UDP 198.51.100.7:5060;branch=z9hG4bKnashds8"


def status_of(req: Request) -> int:
    with pytest.raises(ProxyError) as info:
        validate_request(req, identity=ME, supported=SUPPORTED)
    return info.value.status


def test_max_forwards_zero_is_483() -> None:
    with pytest.raises(TooManyHopsError) as info:
        validate_request(request(UA_VIA, "Max-Forwards: 0"), identity=ME)
    assert (info.value.status, info.value.reason) == (483, "Too Many Hops")
    assert info.value.options is False


def test_max_forwards_zero_options_may_be_answered_locally() -> None:
    with pytest.raises(TooManyHopsError) as info:
        validate_request(request(UA_VIA, "Max-Forwards: 0", method="OPTIONS"), identity=ME)
    assert info.value.status == 483
    assert info.value.options is True


@pytest.mark.parametrize("header", ["Max-Forwards: 1", "Max-Forwards: 70"])
def test_max_forwards_above_zero_passes(header: str) -> None:
    validate_request(request(UA_VIA, header), identity=ME)


def test_absent_max_forwards_passes() -> None:
    validate_request(request(UA_VIA), identity=ME)


def looped_once(original: Request, *, via_host: str = "192.0.2.1:5060") -> Request:
    """``original`` as it comes back after we forwarded it and another hop returned it."""
    branch = make_branch(loop_hash(preprocess_routes(original, ME)), "b1")
    lines = original.to_bytes().decode().split("\r\n")
    ours = f"Via: SIP/2.0/UDP {via_host};branch={branch};rport=5060;received=192.0.2.1"
    other = "Via: SIP/2.0/UDP 203.0.113.5:5060;branch=z9hG4bKother1"
    back = parse_message("\r\n".join([lines[0], other, ours, *lines[1:]]).encode())
    assert isinstance(back, Request)
    return back


def test_loop_is_482() -> None:
    original = request(UA_VIA, "Max-Forwards: 70")
    back = looped_once(original)
    assert status_of(back) == 482


def test_loop_through_our_ipv4_with_default_port() -> None:
    original = request(UA_VIA)
    assert status_of(looped_once(original, via_host="192.0.2.1")) == 482


def test_spiral_with_a_new_request_uri_passes() -> None:
    # A previous pass (or another hop) retargeted the request: same Via of ours, new hash.
    original = request(UA_VIA)
    back = looped_once(original)
    spiral = back.with_uri(request(UA_VIA, uri="sip:bob@pbx.example.com").uri)
    validate_request(spiral, identity=ME)


def test_spiral_with_another_route_set_passes() -> None:
    original = request(UA_VIA, "Route: <sip:p9.other.example.net;lr>")
    back = looped_once(original).without_header("Route")
    validate_request(back, identity=ME)


def test_loop_after_our_preloaded_route_was_popped_is_caught_on_first_return() -> None:
    # We popped the Route naming us (§16.4); the request comes back without it.
    original = request(UA_VIA, "Route: <sip:192.0.2.1;lr>")
    back = looped_once(original).without_header("Route")
    assert status_of(back) == 482


def test_a_foreign_via_with_our_hash_is_not_a_loop() -> None:
    original = request(UA_VIA)
    back = looped_once(original, via_host="198.51.100.99:5060")
    validate_request(back, identity=ME)


def test_our_via_with_a_branch_of_another_form_is_ignored() -> None:
    req = request("Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKplain", UA_VIA)
    validate_request(req, identity=ME)


def test_loop_hash_in_a_tls_via_of_ours() -> None:
    original = request(UA_VIA)
    via = our_via(TransportName.TLS, "192.0.2.1", 5061, make_branch(loop_hash(original), "z"))
    back = original.with_header_prepended("Via", via)
    assert status_of(back) == 482


def test_unknown_proxy_require_is_420_with_unsupported() -> None:
    req = request(UA_VIA, "Proxy-Require: path, foo, Bar, foo")
    with pytest.raises(ProxyError) as info:
        validate_request(req, identity=ME, supported=SUPPORTED)
    assert (info.value.status, info.value.reason) == (420, "Bad Extension")
    assert info.value.headers == (("Unsupported", "foo, Bar"),)


def test_known_proxy_require_passes_whatever_the_case() -> None:
    validate_request(request(UA_VIA, "Proxy-Require: PATH"), identity=ME, supported=SUPPORTED)


def test_proxy_require_with_nothing_supported_is_420() -> None:
    with pytest.raises(ProxyError) as info:
        validate_request(request(UA_VIA, "Proxy-Require: path"), identity=ME)
    assert info.value.headers == (("Unsupported", "path"),)


def test_malformed_proxy_require_is_a_400() -> None:
    with pytest.raises(SipParseError) as info:
        validate_request(request(UA_VIA, "Proxy-Require: a b"), identity=ME)
    assert info.value.status == 400


def test_max_forwards_is_checked_before_loops() -> None:
    original = request(UA_VIA, "Max-Forwards: 0")
    assert status_of(looped_once(original)) == 483


def test_unknown_scheme_built_in_code_is_416() -> None:
    req = request(UA_VIA).with_uri(AbsoluteUri("http", "//example.com/"))
    assert status_of(req) == 416
