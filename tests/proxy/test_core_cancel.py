"""ProxyCore and CANCEL from upstream: RFC 3261 §16.10 and §9.1."""

from __future__ import annotations

from sipguard.proxy.events import Hop
from sipguard.sip import Request, Response
from tests.proxy.core_harness import (
    CALLER,
    UAS_A,
    UAS_B,
    Stage,
    caller_request,
    make_stage,
    methods,
    same_hop_request,
    statuses,
)


def call(stage: Stage) -> Request:
    """The caller's INVITE goes through; the wires are emptied."""
    invite = caller_request()
    stage.from_caller(invite)
    stage.take(CALLER)
    return invite


def only_request(stage: Stage, hop: Hop) -> Request:
    [message] = stage.take(hop)
    assert isinstance(message, Request)
    return message


def test_cancel_is_answered_200_at_once_and_waits_for_a_provisional() -> None:
    stage = make_stage()
    invite = call(stage)
    forwarded = only_request(stage, UAS_A)
    stage.from_caller(same_hop_request(invite, "CANCEL"))
    [ok] = stage.take(CALLER)
    assert isinstance(ok, Response)
    assert (ok.status, ok.cseq.method) == (200, "CANCEL")
    # §9.1: no CANCEL downstream before a provisional response.
    assert stage.take(UAS_A) == []
    stage.advance(5)
    assert methods(stage.take(UAS_A)) == ["INVITE"] * 3  # Timer A, no CANCEL
    stage.reply_from(UAS_A, 180)
    assert stage.take(CALLER) == []  # a cancelled call's 180 is not worth forwarding
    cancel = only_request(stage, UAS_A)
    assert cancel.method == "CANCEL"
    assert cancel.via.branch == forwarded.via.branch
    assert cancel.get_all("Via") == [str(forwarded.via)]
    assert cancel.uri == forwarded.uri
    assert cancel.cseq.seq == forwarded.cseq.seq


def test_the_487_from_downstream_goes_up_and_the_callers_ack_stays_here() -> None:
    stage = make_stage()
    invite = call(stage)
    stage.reply_from(UAS_A, 180)
    stage.from_caller(same_hop_request(invite, "CANCEL"))
    stage.take(CALLER)
    stage.take(UAS_A)
    stage.reply_from(UAS_A, 200, method="CANCEL")
    assert stage.take(CALLER) == []
    stage.reply_from(UAS_A, 487)
    [terminated] = stage.take(CALLER)
    assert isinstance(terminated, Response)
    assert terminated.status == 487
    assert methods(stage.take(UAS_A)) == ["ACK"]
    stage.from_caller(same_hop_request(invite, "ACK", to=terminated.get("To")))
    assert stage.take(UAS_A) == []


def test_cancel_goes_once_a_100_arrived() -> None:
    # §9.1: "If no provisional response has been received, the CANCEL request MUST
    # NOT be sent": a 100 (Trying) is a provisional response.
    stage = make_stage()
    invite = call(stage)
    stage.take(UAS_A)
    stage.reply_from(UAS_A, 100)
    stage.from_caller(same_hop_request(invite, "CANCEL"))
    assert methods(stage.take(UAS_A)) == ["CANCEL"]


def test_retransmitted_cancel_gets_200_again_and_no_second_cancel() -> None:
    stage = make_stage()
    invite = call(stage)
    stage.reply_from(UAS_A, 180)
    stage.take(UAS_A)
    cancel = same_hop_request(invite, "CANCEL")
    stage.from_caller(cancel)
    stage.from_caller(cancel)
    assert statuses(stage.take(CALLER)) == [180, 200, 200]
    assert methods(stage.take(UAS_A)) == ["CANCEL"]


def test_cancel_for_an_unknown_invite_gets_481() -> None:
    stage = make_stage()
    stray = same_hop_request(caller_request(), "CANCEL")
    stage.from_caller(stray)
    assert statuses(stage.take(CALLER)) == [481]
    assert stage.take(UAS_A) == []
    # A CANCEL whose branch differs from the INVITE's matches nothing either.
    invite = call(stage)
    stage.from_caller(same_hop_request(caller_request(branch="z9hG4bKother"), "CANCEL"))
    assert statuses(stage.take(CALLER)) == [481]
    assert invite.method == "INVITE"


def test_cancel_before_the_routing_decision_makes_forward_answer_487() -> None:
    stage = make_stage(auto_route=False)
    invite = call(stage)
    stage.from_caller(same_hop_request(invite, "CANCEL"))
    assert statuses(stage.take(CALLER)) == [200]
    [event] = stage.routes
    assert event.context is not None
    stage.forward(event.context)
    assert statuses(stage.take(CALLER)) == [487]
    assert stage.sent_to(UAS_A) == []


def test_cancel_in_a_fork_skips_the_branch_that_already_answered() -> None:
    stage = make_stage([UAS_A, UAS_B], sequential=False)
    invite = call(stage)
    stage.take(UAS_A)
    stage.take(UAS_B)
    stage.reply_from(UAS_A, 180)
    stage.reply_from(UAS_A, 486)
    stage.take(UAS_A)  # the ACK for the 486
    stage.reply_from(UAS_B, 180)
    stage.from_caller(same_hop_request(invite, "CANCEL"))
    # §9.1: a CANCEL is for a request without a final response only.
    assert stage.take(UAS_A) == []
    assert methods(stage.take(UAS_B)) == ["CANCEL"]
    stage.reply_from(UAS_B, 487)
    finals = [s for s in statuses(stage.take(CALLER)) if s >= 200]
    assert finals == [200, 486]  # the CANCEL's 200; then the best of 486 and 487


def test_cancel_after_the_2xx_sends_nothing_downstream() -> None:
    stage = make_stage()
    invite = call(stage)
    stage.reply_from(UAS_A, 180)
    stage.reply_from(UAS_A, 200)
    stage.take(UAS_A)
    stage.from_caller(same_hop_request(invite, "CANCEL"))
    assert statuses(stage.take(CALLER)) == [180, 200, 200]
    assert stage.take(UAS_A) == []


def test_downstream_that_never_answers_the_cancel_is_given_up_after_64_t1() -> None:
    # §9.1: no final 64*T1 after the CANCEL: the original transaction is considered
    # cancelled and destroyed; the caller gets its 487 and nothing is left behind.
    stage = make_stage()
    invite = call(stage)
    stage.reply_from(UAS_A, 180)
    stage.from_caller(same_hop_request(invite, "CANCEL"))
    stage.take(CALLER)
    start = stage.now
    stage.run_timers(until=start + 31.9)
    assert [s for s in statuses(stage.take(CALLER)) if s >= 200] == []
    stage.run_timers(until=start + 32.1)
    assert statuses(stage.take(CALLER)) == [487]
    stage.from_caller(same_hop_request(invite, "ACK", to=stage.sent_to(CALLER)[-1].get("To")))
    stage.run_timers()
    assert stage.idle
