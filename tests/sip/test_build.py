"""Responses (§8.2.6), the non-2xx ACK (§17.1.1.3) and CANCEL (§9.1) built from requests."""

from __future__ import annotations

import pytest

from sipguard.sip.build import build_ack_for_non2xx, build_cancel, build_response
from sipguard.sip.message import Request, Response
from sipguard.sip.parser import parse_message
from sipguard.sip.status import REASON_PHRASES, reason_phrase
from tests.helpers.sipmsg import FROM, TO, VIA, parse_request, parse_response, request
from tests.helpers.transactions import make_request, make_response

PROXY_VIA = "SIP/2.0/TCP proxy.example.com;branch=z9hG4bKproxy1;received=192.0.2.9"
THIRD_VIA = "SIP/2.0/UDP edge.example.com:5070;branch=z9hG4bKedge"
ROUTES = ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>, <sip:p3.example.com;lr>"]


def proxied_invite(**extra: str) -> Request:
    """An INVITE with three Via values on two lines, two Route lines and a Require."""
    headers: dict[str, str | list[str]] = {
        "Via": [f"{PROXY_VIA}, {VIA}", THIRD_VIA],
        "Route": ROUTES,
        "Require": "100rel",
        **extra,
    }
    return parse_request(request("INVITE", headers=headers))


def reparsed(message: Request | Response) -> Request | Response:
    again = parse_message(message.to_bytes())
    # to_bytes() writes the Content-Length the built message leaves out.
    assert again == message.with_body(message.body)
    return again


def test_response_copies_vias_in_order_and_the_dialog_headers() -> None:
    invite = proxied_invite()
    resp = build_response(invite, 486, to_tag="uas1")
    assert resp.status == 486
    assert resp.reason == "Busy Here"
    assert [str(v) for v in resp.vias] == [PROXY_VIA, VIA, THIRD_VIA]
    assert resp.get_all("Via") == invite.get_all("Via")
    assert resp.get("From") == FROM
    assert resp.to.tag == "uas1"
    assert resp.to.uri == invite.to.uri
    assert resp.call_id == invite.call_id
    assert resp.cseq == invite.cseq
    assert not resp.has("Route")
    assert not resp.has("Require")
    assert not resp.has("Max-Forwards")
    again = reparsed(resp)
    assert again.to.tag == "uas1"


def test_to_tag_is_kept_when_the_request_has_one_and_never_added_to_a_100() -> None:
    in_dialog = make_request("BYE", {"To": f"{TO};tag=existing"})
    assert build_response(in_dialog, 200, to_tag="new").to.tag == "existing"
    assert build_response(make_request(), 100, to_tag="new").to.tag is None
    assert build_response(make_request(), 180, to_tag="new").to.tag == "new"
    assert build_response(make_request(), 180).to.tag is None


def test_100_trying_copies_the_timestamp_and_other_responses_do_not() -> None:
    invite = make_request(headers={"Timestamp": "54.0 0.5"})
    trying = build_response(invite, 100)
    assert trying.reason == "Trying"
    assert trying.get("Timestamp") == "54.0 0.5"
    assert build_response(invite, 180).get("Timestamp") is None
    reparsed(trying)


def test_response_extra_headers_and_reason() -> None:
    resp = build_response(
        make_request(), 503, "Overloaded", headers=[("Retry-After", "30"), ("Server", "sg")]
    )
    assert resp.reason == "Overloaded"
    assert resp.get("Retry-After") == "30"
    assert [f.name for f in resp.fields][-2:] == ["Retry-After", "Server"]
    reparsed(resp)


@pytest.mark.parametrize("status", [99, 700, 0])
def test_response_status_must_be_a_sip_status(status: int) -> None:
    with pytest.raises(ValueError, match="status"):
        build_response(make_request(), status)


def test_ack_for_non_2xx_follows_17_1_1_3() -> None:
    invite = proxied_invite()
    busy = build_response(invite, 486, to_tag="99sa0xk")
    ack = build_ack_for_non2xx(invite, busy)
    assert ack.method == "ACK"
    assert ack.uri == invite.uri
    assert ack.call_id == invite.call_id
    assert ack.get("From") == invite.get("From")
    assert ack.get("To") == busy.get("To")
    assert ack.to.tag == "99sa0xk"
    assert [str(v) for v in ack.vias] == [PROXY_VIA]  # the top Via only
    assert ack.cseq.seq == invite.cseq.seq
    assert ack.cseq.method == "ACK"
    assert [str(r) for r in ack.routes] == [str(r) for r in invite.routes]
    assert len(ack.routes) == 3
    assert ack.max_forwards == 70
    assert not ack.has("Require")
    assert reparsed(ack).cseq.method == "ACK"


def test_ack_is_only_for_an_invite_and_a_300_to_699() -> None:
    invite = make_request()
    with pytest.raises(ValueError, match="200"):
        build_ack_for_non2xx(invite, make_response(200))
    with pytest.raises(ValueError, match="180"):
        build_ack_for_non2xx(invite, make_response(180))
    with pytest.raises(ValueError, match="OPTIONS"):
        build_ack_for_non2xx(make_request("OPTIONS"), make_response(486, "OPTIONS"))


def test_cancel_follows_9_1() -> None:
    invite = proxied_invite(To=f"{TO};tag=kept")
    cancel = build_cancel(invite)
    assert cancel.method == "CANCEL"
    assert cancel.uri == invite.uri
    assert cancel.call_id == invite.call_id
    assert cancel.get("To") == invite.get("To")  # tags included
    assert cancel.get("From") == invite.get("From")
    assert cancel.cseq.seq == invite.cseq.seq
    assert cancel.cseq.method == "CANCEL"
    assert [str(v) for v in cancel.vias] == [PROXY_VIA]
    assert [str(r) for r in cancel.routes] == [str(r) for r in invite.routes]
    assert not cancel.has("Require")  # §9.1: MUST NOT contain Require
    assert not cancel.has("Proxy-Require")
    assert cancel.max_forwards == 70
    reparsed(cancel)


@pytest.mark.parametrize("method", ["ACK", "CANCEL"])
def test_ack_and_cancel_cannot_be_cancelled(method: str) -> None:
    with pytest.raises(ValueError, match=method):
        build_cancel(make_request(method))


def test_reason_phrases() -> None:
    assert reason_phrase(200) == "OK"
    assert reason_phrase(481) == "Call/Transaction Does Not Exist"
    assert reason_phrase(499) == "Client Error"
    assert reason_phrase(199) == "Early Dialog Terminated"
    assert reason_phrase(155) == "Provisional"
    assert all(100 <= code <= 699 for code in REASON_PHRASES)
    with pytest.raises(ValueError, match="99"):
        reason_phrase(99)


def test_built_response_parses_as_a_response() -> None:
    assert isinstance(parse_response(build_response(make_request(), 404).to_bytes()), Response)
