"""Editing a message the way a proxy does: each change touches only its own lines."""

from __future__ import annotations

from sipguard.sip import Request, Response, parse_message
from tests.helpers.sipmsg import parse_request, parse_response, request, response

TWO_VIAS_ONE_LINE = (
    "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKp1, SIP/2.0/UDP ua.example.com;branch=z9hG4bKu1"
)


def _lines(msg: Request | Response) -> list[bytes]:
    return msg.to_bytes().split(b"\r\n")


def test_response_top_via_popped_from_a_combined_line() -> None:
    # RFC 3261 §16.7 step 3: the proxy removes the topmost Via value only.
    original = parse_response(response(headers={"Via": TWO_VIAS_ONE_LINE}))
    popped = original.without_first_value("Via")
    assert [v.host for v in popped.vias] == ["ua.example.com"]
    assert popped.via.branch == "z9hG4bKu1"
    assert parse_message(popped.to_bytes()) == popped
    assert [v.host for v in original.vias] == ["proxy.example.com", "ua.example.com"]


def test_response_top_via_popped_from_separate_lines() -> None:
    data = response(headers={"Via": ["SIP/2.0/UDP a.example;branch=z9hG4bK1",
                                     "SIP/2.0/TCP b.example;branch=z9hG4bK2"]})  # fmt: skip
    popped = parse_response(data).without_first_value("Via")
    assert [v.host for v in popped.vias] == ["b.example"]
    assert popped.get_all("Via") == ["SIP/2.0/TCP b.example;branch=z9hG4bK2"]


def test_own_route_popped_keeps_the_rest_byte_for_byte() -> None:
    # RFC 3261 §16.4: a proxy removes the Route value that names it.
    routes = "<sip:edge.example;lr>, <sip:pbx.example;lr>"
    original = parse_request(request(headers={"Route": routes}))
    popped = original.without_first_value("Route")
    assert [r.sip_uri.host for r in popped.routes if r.sip_uri] == ["pbx.example"]
    untouched = [line for line in _lines(original) if not line.startswith(b"Route")]
    assert [line for line in _lines(popped) if not line.startswith(b"Route")] == untouched


def test_popping_an_absent_header_is_a_no_op() -> None:
    msg = parse_request(request())
    assert msg.without_first_value("Route") is msg


def test_popping_the_last_value_removes_the_line() -> None:
    msg = parse_request(request(headers={"Route": "<sip:edge.example;lr>"}))
    assert not msg.without_first_value("Route").has("Route")


def test_record_route_prepended_above_existing_ones() -> None:
    msg = parse_request(request(headers={"Record-Route": "<sip:later.example;lr>"}))
    changed = msg.with_header_prepended("Record-Route", "<sip:edge.example;lr>")
    assert [r.sip_uri.host for r in changed.record_routes if r.sip_uri] == [
        "edge.example",
        "later.example",
    ]


def test_header_replaced_keeps_one_line_in_place() -> None:
    msg = parse_request(request(headers={"X-Two": ["a", "b"]}))
    changed = msg.with_header("X-Two", "c")
    assert changed.get_all("X-Two") == ["c"]
    assert [f.key for f in changed.fields] == [f.key for f in msg.fields if f.value != "b"]


def test_header_removed_and_body_replaced_with_its_length() -> None:
    msg = parse_request(request(headers={"Subject": "hi"}))
    changed = msg.without_header("Subject").with_body(b"v=0\r\n", "application/sdp")
    assert not changed.has("Subject")
    assert changed.content_length == 5
    assert changed.content_type == "application/sdp"
    reparsed = parse_message(changed.to_bytes())
    assert reparsed.body == b"v=0\r\n"
    assert reparsed == changed


def test_request_uri_replaced() -> None:
    msg = parse_request(request())
    target = parse_request(request(uri="sip:pbx@192.0.2.9:5070")).uri
    changed = msg.with_uri(target)
    assert changed.uri == target
    assert changed.to_bytes().startswith(b"INVITE sip:pbx@192.0.2.9:5070 SIP/2.0\r\n")


def test_built_request_gets_a_content_length_on_the_wire() -> None:
    msg = parse_request(request())
    built = Request.build("OPTIONS", msg.uri, [("Via", "SIP/2.0/UDP h;branch=z9hG4bKx")])
    assert built.to_bytes().endswith(b"Content-Length: 0\r\n\r\n")
