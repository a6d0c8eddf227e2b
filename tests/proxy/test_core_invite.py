"""ProxyCore, one INVITE to one target: RFC 3261 §16.2, §16.6, §16.7 and §17.2.1."""

from __future__ import annotations

from sipguard.proxy.events import BranchOutcome, Hop, RouteRequest
from sipguard.proxy.forward import branch_loop_part, loop_hash
from sipguard.sip import Request, Response, SipUri
from sipguard.transport.base import Peer
from tests.proxy.core_harness import (
    CALLER,
    CALLER_TCP,
    UAS_A,
    Stage,
    T,
    answer,
    caller_request,
    make_stage,
    methods,
    same_hop_request,
    statuses,
)


def invite_through(stage: Stage, invite: Request | None = None) -> Request:
    """Send an INVITE from the caller; return the copy that reached UAS A."""
    stage.from_caller(invite or caller_request())
    [forwarded] = stage.take(UAS_A)
    assert isinstance(forwarded, Request)
    return forwarded


def test_invite_is_answered_100_trying_at_once() -> None:
    stage = make_stage()
    invite = caller_request()
    stage.from_caller(invite)
    [trying] = stage.take(CALLER)
    assert isinstance(trying, Response)
    assert trying.status == 100
    assert trying.to.tag is None  # §8.2.6.2: never a tag on a 100
    assert trying.get_all("Via") == invite.get_all("Via")
    assert [r.context is not None for r in stage.routes] == [True]


def test_forwarded_copy_carries_our_via_record_route_and_one_hop_less() -> None:
    stage = make_stage()
    invite = caller_request()
    forwarded = invite_through(stage, invite)
    top, previous = forwarded.vias
    assert (top.transport.upper(), top.host, top.port) == ("UDP", "192.0.2.1", 5060)
    assert top.branch is not None
    assert top.branch.startswith("z9hG4bK")
    # RFC 5393 §4.2.1: the branch carries the loop hash of the request as routed.
    assert branch_loop_part(top.branch) == loop_hash(invite)
    assert str(previous) == str(invite.via)
    [record_route] = forwarded.record_routes
    assert isinstance(record_route.uri, SipUri)
    assert record_route.uri.host == "192.0.2.1"
    assert record_route.uri.port == 5060
    assert record_route.uri.param("lr") is not None
    assert forwarded.max_forwards == 69
    assert forwarded.uri == invite.uri
    assert forwarded.call_id == invite.call_id


def test_without_record_route_the_copy_has_none() -> None:
    stage = make_stage(record_route=False)
    forwarded = invite_through(stage)
    assert not forwarded.has("Record-Route")


def test_a_tcp_target_gets_a_tcp_via_and_record_route() -> None:
    tcp = Hop(Peer(T.TCP, "203.0.113.20", 5060))
    stage = make_stage([tcp])
    stage.from_caller(caller_request())
    [forwarded] = stage.take(tcp)
    assert isinstance(forwarded, Request)
    assert forwarded.via.transport.upper() == "TCP"
    record_route = forwarded.record_routes[0].uri
    assert isinstance(record_route, SipUri)
    assert record_route.param("transport") == "tcp"


def test_180_and_200_go_up_without_our_via() -> None:
    stage = make_stage()
    invite = caller_request()
    forwarded = invite_through(stage, invite)
    stage.take(CALLER)
    stage.reply_from(UAS_A, 180, tag="bob1")
    stage.reply_from(UAS_A, 200, tag="bob1")
    ringing, ok = stage.take(CALLER)
    assert isinstance(ringing, Response)
    assert isinstance(ok, Response)
    assert (ringing.status, ok.status) == (180, 200)
    for response in (ringing, ok):
        assert response.get_all("Via") == invite.get_all("Via")
        assert response.to.tag == "bob1"
    assert stage.take(UAS_A) == []  # the proxy never ACKs a 2xx (§16.7, RFC 6026)
    assert stage.outcomes == [BranchOutcome(UAS_A, 200)]
    assert forwarded.cseq.method == "INVITE"


def test_a_100_from_downstream_is_not_forwarded() -> None:
    stage = make_stage()
    invite_through(stage)
    stage.take(CALLER)
    stage.reply_from(UAS_A, 100)
    assert stage.take(CALLER) == []


def test_retransmitted_invite_is_absorbed_and_the_last_response_resent() -> None:
    stage = make_stage()
    invite = caller_request()
    invite_through(stage, invite)
    assert statuses(stage.take(CALLER)) == [100]
    stage.from_caller(invite)
    assert statuses(stage.take(CALLER)) == [100]
    stage.reply_from(UAS_A, 180)
    assert statuses(stage.take(CALLER)) == [180]
    stage.from_caller(invite)
    assert statuses(stage.take(CALLER)) == [180]
    assert stage.take(UAS_A) == []  # §17.2.1: no second forward
    assert len(stage.routes) == 1


def test_retransmitted_200_from_downstream_is_forwarded_again() -> None:
    # RFC 6026 §8.4 / RFC 3261 §16.7 step 5: every 2xx to an INVITE goes up.
    stage = make_stage()
    invite_through(stage)
    stage.take(CALLER)
    ok = stage.reply_from(UAS_A, 200)
    stage.from_downstream(UAS_A, ok)
    assert statuses(stage.take(CALLER)) == [200, 200]


def test_486_goes_up_and_the_core_acks_it_downstream() -> None:
    stage = make_stage()
    forwarded = invite_through(stage)
    stage.take(CALLER)
    busy = stage.reply_from(UAS_A, 486)
    assert statuses(stage.take(CALLER)) == [486]
    [ack] = stage.take(UAS_A)
    assert isinstance(ack, Request)
    assert ack.method == "ACK"
    # §17.1.1.3: the ACK's single Via is the forwarded INVITE's top Via.
    assert ack.get_all("Via") == [str(forwarded.via)]
    assert ack.to.tag == busy.to.tag
    assert ack.cseq.seq == forwarded.cseq.seq
    # A retransmitted 486 is ACKed again, not forwarded again (§17.1.1.2).
    stage.from_downstream(UAS_A, busy)
    assert methods(stage.take(UAS_A)) == ["ACK"]
    assert stage.take(CALLER) == []


def test_callers_ack_for_the_486_is_absorbed() -> None:
    stage = make_stage()
    invite = caller_request()
    invite_through(stage, invite)
    stage.reply_from(UAS_A, 486)
    busy = next(m for m in stage.take(CALLER) if isinstance(m, Response) and m.status == 486)
    stage.take(UAS_A)
    ack = same_hop_request(invite, "ACK", to=busy.get("To"))
    stage.from_caller(ack)
    stage.from_caller(ack)  # a retransmitted ACK too (§17.2.1 Confirmed)
    assert stage.take(UAS_A) == []
    assert [r for r in stage.routes if r.context is None] == []


def test_486_over_udp_is_retransmitted_upstream_until_acked() -> None:
    stage = make_stage()
    invite = caller_request()
    invite_through(stage, invite)
    stage.take(CALLER)
    busy = stage.reply_from(UAS_A, 486)
    stage.advance(1.6)  # Timer G: T1, then 2*T1 later
    assert statuses(stage.take(CALLER)) == [486, 486, 486]
    up = stage.sent_to(CALLER)[-1]
    assert isinstance(up, Response)
    stage.from_caller(same_hop_request(invite, "ACK", to=up.get("To")))
    stage.advance(10)
    assert stage.take(CALLER) == []
    assert busy.to.tag == up.to.tag


def test_over_tcp_the_response_goes_back_on_the_callers_connection() -> None:
    stage = make_stage()
    invite = caller_request(hop=CALLER_TCP)
    stage.from_caller(invite, CALLER_TCP)
    stage.reply_from(UAS_A, 200)
    assert statuses(stage.take(CALLER_TCP)) == [100, 200]
    assert stage.take(CALLER) == []


def test_non_invite_is_forwarded_without_an_immediate_100() -> None:
    stage = make_stage()
    options = caller_request("OPTIONS")
    stage.from_caller(options)
    assert stage.take(CALLER) == []  # RFC 4320 §4.1: no early 100 over UDP
    [forwarded] = stage.take(UAS_A)
    assert isinstance(forwarded, Request)
    assert not forwarded.has("Record-Route")  # §16.6 step 4: OPTIONS starts no dialog
    stage.from_downstream(UAS_A, answer(forwarded, 200))
    assert statuses(stage.take(CALLER)) == [200]


def test_the_route_request_holds_the_request_with_our_route_popped() -> None:
    stage = make_stage(auto_route=False)
    invite = caller_request(headers={"Route": ["<sip:192.0.2.1:5060;lr>", "<sip:p2.example;lr>"]})
    stage.from_caller(invite)
    [event] = stage.routes
    assert isinstance(event, RouteRequest)
    assert event.source == CALLER
    assert event.request.get_all("Route") == ["<sip:p2.example;lr>"]
    assert event.context is not None
    stage.forward(event.context)
    [forwarded] = stage.take(UAS_A)
    assert isinstance(forwarded, Request)
    assert forwarded.get_all("Route") == ["<sip:p2.example;lr>"]


def test_no_targets_answers_480_and_reply_answers_what_it_is_given() -> None:
    stage = make_stage([])
    stage.from_caller(caller_request())
    assert statuses(stage.take(CALLER)) == [100, 480]
    held = make_stage(auto_route=False)
    held.from_caller(caller_request("MESSAGE"))
    [event] = held.routes
    assert event.context is not None
    held.feed(held.core.reply(event.context, answer(event.request, 404), held.now))
    assert statuses(held.take(CALLER)) == [404]
    # A second decision for the same context is ignored.
    held.forward(event.context)
    assert held.take(UAS_A) == []


def test_crossing_from_udp_to_tcp_record_routes_twice() -> None:
    # RFC 5658 §4: one Record-Route per side; the one facing the next hop on top.
    uas_tcp = Hop(Peer(T.TCP, "203.0.113.10", 5060))
    stage = make_stage(targets=(uas_tcp,))
    stage.from_caller(caller_request())
    [forwarded] = stage.take(uas_tcp)
    assert isinstance(forwarded, Request)
    assert forwarded.get_all("Record-Route") == [
        "<sip:192.0.2.1:5060;transport=tcp;lr>",
        "<sip:192.0.2.1:5060;lr>",
    ]


def test_same_transport_record_routes_once() -> None:
    stage = make_stage()
    forwarded = invite_through(stage)
    assert forwarded.get_all("Record-Route") == ["<sip:192.0.2.1:5060;lr>"]
