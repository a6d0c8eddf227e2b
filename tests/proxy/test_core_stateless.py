"""ProxyCore without transactions: ACKs for 2xx (§16.11), stray responses (§16.7,
§18.1.2) and the §16.3 checks the core answers itself (483, 482)."""

from __future__ import annotations

from sipguard.proxy.events import Hop, RouteRequest, Send
from sipguard.proxy.forward import branch_loop_part
from sipguard.sip import Request, Response, parse_message
from sipguard.transport.base import Peer
from tests.helpers.sipmsg import assemble
from tests.proxy.core_harness import (
    CALLER,
    UAS_A,
    UAS_B,
    T,
    caller_request,
    make_stage,
    statuses,
)

CONTACT_URI = "sip:bob@203.0.113.10:5060"
DIALOG_TO = "Bob <sip:bob@biloxi.example.com>;tag=bob1"


def ack_for_2xx(branch: str, **headers: str) -> Request:
    """The caller's ACK for a 2xx: a new transaction (new branch), in the dialog."""
    merged = {"To": DIALOG_TO, "Route": "<sip:192.0.2.1:5060;lr>", **headers}
    return caller_request("ACK", branch=branch, uri=CONTACT_URI, headers=merged)


def response_bytes(vias: list[str], status: int = 200, method: str = "INVITE") -> Response:
    lines = [f"Via: {v}" for v in vias]
    lines += [
        "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774",
        f"To: {DIALOG_TO}",
        "Call-ID: a84b4c76e66710@pc33.atlanta.example.com",
        f"CSeq: 314159 {method}",
        "Content-Length: 0",
    ]
    message = parse_message(assemble(f"SIP/2.0 {status} OK", lines))
    assert isinstance(message, Response)
    return message


def test_ack_for_2xx_asks_for_a_stateless_route_with_our_route_popped() -> None:
    stage = make_stage(auto_route=False)
    stage.from_caller(ack_for_2xx("z9hG4bKack1"))
    [event] = stage.routes
    assert isinstance(event, RouteRequest)
    assert event.context is None
    assert not event.request.has("Route")  # §16.4: the value naming us is removed
    assert stage.core.transactions == (0, 0)
    assert stage.take(CALLER) == []  # an ACK is never answered


def test_forward_stateless_gives_a_retransmitted_ack_the_same_branch() -> None:
    stage = make_stage()
    ack = ack_for_2xx("z9hG4bKack1")
    stage.from_caller(ack)
    stage.from_caller(ack)
    stage.from_caller(ack_for_2xx("z9hG4bKack2"))
    first, again, other = stage.take(UAS_A)
    assert isinstance(first, Request)
    assert isinstance(again, Request)
    assert isinstance(other, Request)
    assert first.method == "ACK"
    assert first.via.host == "192.0.2.1"
    # §16.11: the same request gets the same branch; another one gets another.
    assert first.via.branch == again.via.branch
    assert first.via.branch != other.via.branch
    assert branch_loop_part(first.via.branch) is not None
    assert first.max_forwards == 69
    assert not first.has("Record-Route")
    assert stage.core.transactions == (0, 0)


def test_ack_with_max_forwards_0_is_dropped_not_raised() -> None:
    # §16.3 step 3 cannot be answered for an ACK (§17.1.1.3): it is dropped, and
    # forward_stateless must never be handed one it would refuse.
    stage = make_stage()
    stage.from_caller(ack_for_2xx("z9hG4bKack1", **{"Max-Forwards": "0"}))
    assert stage.take(UAS_A) == []
    assert stage.take(CALLER) == []


def test_ack_that_looped_back_to_us_is_dropped() -> None:
    stage = make_stage()
    stage.from_caller(ack_for_2xx("z9hG4bKack1"))
    [forwarded] = stage.take(UAS_A)
    assert isinstance(forwarded, Request)
    stage.from_downstream(UAS_A, forwarded)  # the next hop sent it straight back
    assert stage.take(UAS_A) == []


def test_response_to_no_transaction_goes_to_the_next_via_honouring_rport() -> None:
    stage = make_stage()
    caller_via = "SIP/2.0/UDP 10.0.0.5:5060;branch=z9hG4bKc9;received=198.51.100.9;rport=6001"
    late = response_bytes(["SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKgone.x1", caller_via])
    events = stage.core.receive_response(late, UAS_A, 0.0)
    [send] = events
    assert isinstance(send, Send)
    assert send.hop == Hop(Peer(T.UDP, "198.51.100.9", 6001))
    assert isinstance(send.message, Response)
    assert send.message.get_all("Via") == [caller_via]


def test_response_to_no_transaction_over_tcp_goes_to_received_at_the_sent_by_port() -> None:
    stage = make_stage()
    caller_via = "SIP/2.0/TCP client.example:5070;branch=z9hG4bKc9;received=198.51.100.9"
    late = response_bytes(["SIP/2.0/TCP 192.0.2.1:5060;branch=z9hG4bKgone.x1", caller_via])
    [send] = stage.core.receive_response(late, UAS_A, 0.0)
    assert isinstance(send, Send)
    assert send.hop == Hop(Peer(T.TCP, "198.51.100.9", 5070))


def test_response_whose_top_via_is_not_ours_is_dropped() -> None:
    stage = make_stage()
    stray = response_bytes(
        [
            "SIP/2.0/UDP 203.0.113.99:5060;branch=z9hG4bKother",
            "SIP/2.0/UDP 198.51.100.9:5060;branch=z9hG4bKc9",
        ]
    )
    assert stage.core.receive_response(stray, UAS_B, 0.0) == []
    # Our address on another port is not us either.
    other_port = response_bytes(["SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bKx", "SIP/2.0/UDP h:1"])
    assert stage.core.receive_response(other_port, UAS_B, 0.0) == []


def test_response_with_only_our_via_is_not_forwarded() -> None:
    stage = make_stage()
    ours = response_bytes(["SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKgone.x1"])
    assert stage.core.receive_response(ours, UAS_B, 0.0) == []


def test_max_forwards_0_is_answered_483_by_the_core() -> None:
    stage = make_stage()
    stage.from_caller(caller_request(headers={"Max-Forwards": "0"}))
    assert statuses(stage.take(CALLER)) == [100, 483]
    assert stage.routes == []
    assert stage.take(UAS_A) == []
    stage.from_caller(caller_request("OPTIONS", branch="z9hG4bKo1", headers={"Max-Forwards": "0"}))
    assert statuses(stage.take(CALLER)) == [483]


def test_max_forwards_1_is_forwarded_with_0() -> None:
    stage = make_stage()
    stage.from_caller(caller_request(headers={"Max-Forwards": "1"}))
    [forwarded] = stage.take(UAS_A)
    assert isinstance(forwarded, Request)
    assert forwarded.max_forwards == 0


def test_a_request_that_comes_back_unchanged_is_a_loop_482() -> None:
    stage = make_stage()
    stage.from_caller(caller_request())
    [forwarded] = stage.take(UAS_A)
    assert isinstance(forwarded, Request)
    stage.from_downstream(UAS_A, forwarded)  # RFC 5393 §4.2.2: same loop hash
    assert statuses(stage.take(UAS_A)) == [100, 482]
    assert len(stage.routes) == 1


def test_a_request_that_comes_back_changed_is_a_spiral() -> None:
    stage = make_stage()
    stage.from_caller(caller_request())
    [forwarded] = stage.take(UAS_A)
    assert isinstance(forwarded, Request)
    retargeted = parse_message(
        forwarded.to_bytes().replace(b"INVITE sip:bob@biloxi", b"INVITE sip:bob2@biloxi", 1)
    )
    assert isinstance(retargeted, Request)
    stage.from_downstream(UAS_A, retargeted)
    assert statuses(stage.take(UAS_A)) == [100]
    assert len(stage.routes) == 2


def test_ack_reaching_an_accepted_invite_is_routed_like_any_ack_for_2xx() -> None:
    # RFC 6026 §8.7: an ACK matching the INVITE server transaction in Accepted (it
    # reuses the INVITE's branch) is passed on, after §16.4 like any other.
    stage = make_stage()
    stage.from_caller(caller_request())
    stage.reply_from(UAS_A, 200, tag="bob1")
    stage.take(UAS_A)
    stage.from_caller(ack_for_2xx("z9hG4bKcaller1"))
    [event] = [r for r in stage.routes if r.context is None]
    assert not event.request.has("Route")
    [ack] = stage.take(UAS_A)
    assert isinstance(ack, Request)
    assert ack.method == "ACK"
    assert not ack.has("Route")
