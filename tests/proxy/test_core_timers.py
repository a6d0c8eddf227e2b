"""ProxyCore in time: Timer C (§16.6 step 11, §16.8) and tables that empty themselves."""

from __future__ import annotations

from sipguard.proxy.events import BranchOutcome
from sipguard.sip import Request, Response, TimerConfig
from tests.proxy.core_harness import (
    CALLER,
    CALLER_TCP,
    UAS_A,
    UAS_B,
    UAS_C,
    Stage,
    caller_request,
    make_stage,
    methods,
    same_hop_request,
    statuses,
)

SHORT_C = TimerConfig(timer_c=10.0)
"""Timer C shorter than Timer B (32 s), so a silent branch meets Timer C first."""


def finals_up(stage: Stage) -> list[int]:
    return [s for s in statuses(stage.sent_to(CALLER)) if s >= 200]


def ack_last_final(stage: Stage, invite: Request) -> None:
    final = stage.sent_to(CALLER)[-1]
    assert isinstance(final, Response)
    stage.from_caller(same_hop_request(invite, "ACK", to=final.get("To")))


def test_timer_c_cancels_a_branch_that_rings_too_long() -> None:
    stage = make_stage(timers=SHORT_C)
    stage.from_caller(caller_request())
    stage.reply_from(UAS_A, 180)
    stage.take(UAS_A)
    stage.advance(6)
    stage.reply_from(UAS_A, 183)  # §16.7 step 2: resets Timer C
    stage.run_timers(until=15.9)
    assert stage.take(UAS_A) == []
    stage.run_timers(until=16.0)
    assert methods(stage.take(UAS_A)) == ["CANCEL"]
    stage.reply_from(UAS_A, 200, method="CANCEL")
    stage.reply_from(UAS_A, 487)
    assert finals_up(stage) == [487]


def test_timer_c_counts_a_branch_without_provisional_as_408() -> None:
    stage = make_stage(timers=SHORT_C)
    stage.from_caller(caller_request())
    stage.run_timers(until=10.0)
    assert finals_up(stage) == [408]
    assert "CANCEL" not in methods(stage.sent_to(UAS_A))  # §9.1: nothing to cancel
    assert stage.outcomes == [BranchOutcome(UAS_A, 408)]


def test_timer_c_fails_over_once_even_when_timer_b_follows() -> None:
    stage = make_stage([UAS_A, UAS_B, UAS_C], timers=SHORT_C, failover=(408, 503))
    stage.from_caller(caller_request())
    stage.run_timers(until=10.0)  # Timer C of A: on to B
    stage.reply_from(UAS_B, 180)
    stage.run_timers(until=19.0)  # Timer B of A at 32 s must not start C as well
    stage.run_timers(until=33.0)
    assert stage.sent_to(UAS_C) == []
    assert stage.outcomes == [BranchOutcome(UAS_A, 408)]
    stage.reply_from(UAS_B, 200)
    assert finals_up(stage) == [200]


def test_a_late_503_after_timer_c_starts_no_second_target() -> None:
    stage = make_stage([UAS_A, UAS_B, UAS_C], timers=SHORT_C, failover=(408, 503))
    stage.from_caller(caller_request())
    stage.run_timers(until=10.0)
    stage.reply_from(UAS_A, 503)
    assert stage.sent_to(UAS_C) == []
    assert methods(stage.take(UAS_A))[-1] == "ACK"  # the transaction still ACKs it


def test_a_2xx_call_leaves_nothing_behind() -> None:
    stage = make_stage()
    stage.from_caller(caller_request())
    stage.reply_from(UAS_A, 180)
    stage.reply_from(UAS_A, 200)
    assert stage.core.unanswered == 0
    assert stage.core.transactions == (1, 1)  # Accepted: Timers L and M still run
    stage.run_timers()
    assert stage.idle
    assert stage.core.next_deadline() is None


def test_a_486_call_leaves_nothing_behind_once_acked() -> None:
    stage = make_stage()
    invite = caller_request()
    stage.from_caller(invite)
    stage.reply_from(UAS_A, 486)
    assert stage.core.unanswered == 0
    ack_last_final(stage, invite)
    stage.run_timers()
    assert stage.idle


def test_a_cancelled_call_leaves_nothing_behind() -> None:
    stage = make_stage([UAS_A, UAS_B], sequential=False)
    invite = caller_request()
    stage.from_caller(invite)
    stage.reply_from(UAS_A, 180)
    stage.reply_from(UAS_B, 100)
    stage.from_caller(same_hop_request(invite, "CANCEL"))
    assert methods(stage.take(UAS_A))[-1] == "CANCEL"
    assert methods(stage.take(UAS_B))[-1] == "CANCEL"
    assert stage.core.unanswered > 0
    for hop in (UAS_A, UAS_B):
        stage.reply_from(hop, 200, method="CANCEL")
        stage.reply_from(hop, 487)
    assert finals_up(stage) == [200, 487]
    ack_last_final(stage, invite)
    stage.run_timers()
    assert stage.idle


def test_tcp_everywhere_leaves_nothing_behind_at_once() -> None:
    stage = make_stage([CALLER_TCP])  # reliable both ways: the wait timers are 0
    invite = caller_request(hop=CALLER_TCP)
    stage.from_caller(invite, CALLER_TCP)
    busy = stage.reply_from(CALLER_TCP, 486)
    stage.from_caller(same_hop_request(invite, "ACK", to=busy.get("To")), CALLER_TCP)
    stage.run_timers(until=0.0)
    assert stage.idle


def test_a_silent_next_hop_gets_no_408_for_a_non_invite() -> None:
    # RFC 4320 §4.2: a transaction-stateful element MUST NOT send a 408 to a
    # non-INVITE; the server transaction ends without a final response instead.
    stage = make_stage()
    stage.from_caller(caller_request("BYE", headers={"To": "Bob <sip:bob@b.example>;tag=x"}))
    stage.run_timers()
    assert finals_up(stage) == []
    assert statuses(stage.sent_to(CALLER)) == [100]  # RFC 4320 §4.1, at 3.5 s
    assert stage.outcomes == [BranchOutcome(UAS_A, 408, timed_out=True)]
    assert stage.idle


def test_a_non_invite_whose_target_fails_gets_500_and_ends() -> None:
    stage = make_stage()
    stage.from_caller(caller_request("OPTIONS"))
    stage.feed(stage.core.transport_failed(UAS_A, stage.now))
    assert finals_up(stage) == [500]
    stage.run_timers()
    assert stage.idle


def test_a_branch_that_rings_after_timer_c_gave_up_on_it_is_cancelled() -> None:
    # §16.8: past Timer C the branch counts as a 408; a 180 that comes later must not
    # leave its transaction in Proceeding for ever (no timer runs there).
    stage = make_stage(timers=SHORT_C)
    stage.from_caller(caller_request())
    stage.run_timers(until=10.0)
    assert finals_up(stage) == [408]
    stage.take(UAS_A)
    stage.reply_from(UAS_A, 180)
    assert methods(stage.take(UAS_A)) == ["CANCEL"]
    assert finals_up(stage) == [408]
    stage.run_timers()
    assert stage.idle


def test_a_non_invite_gets_its_100_trying_at_3_5_seconds() -> None:
    # RFC 4320 §4.1: the server transaction's own 100, once Timer E reached T2.
    stage = make_stage()
    stage.from_caller(caller_request("OPTIONS"))
    stage.run_timers(until=3.4)
    assert stage.take(CALLER) == []
    stage.run_timers(until=3.5)
    assert statuses(stage.take(CALLER)) == [100]
    stage.reply_from(UAS_A, 200, method="OPTIONS")
    assert statuses(stage.take(CALLER)) == [200]
