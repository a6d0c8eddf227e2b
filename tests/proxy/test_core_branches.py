"""ProxyCore with several targets: sequential failover and parallel forking (§16.7)."""

from __future__ import annotations

from sipguard.proxy.events import BranchOutcome, Hop
from sipguard.sip import Request, Response
from tests.proxy.core_harness import (
    CALLER,
    UAS_A,
    UAS_B,
    UAS_C,
    Stage,
    caller_request,
    make_stage,
    methods,
    statuses,
)

FAILOVER = (408, 503)


def one_request(stage: Stage, hop: Hop) -> Request:
    [message] = stage.take(hop)
    assert isinstance(message, Request)
    return message


def finals_up(stage: Stage) -> list[int]:
    return [s for s in statuses(stage.sent_to(CALLER)) if s >= 200]


# -- sequential failover ---------------------------------------------------------------


def test_503_moves_on_to_the_next_target_and_the_caller_sees_only_its_answer() -> None:
    stage = make_stage([UAS_A, UAS_B], failover=FAILOVER)
    stage.from_caller(caller_request())
    first = one_request(stage, UAS_A)
    assert stage.take(UAS_B) == []  # one at a time
    stage.reply_from(UAS_A, 503)
    assert methods(stage.take(UAS_A)) == ["ACK"]
    second = one_request(stage, UAS_B)
    assert second.via.branch != first.via.branch
    stage.reply_from(UAS_B, 180)
    stage.reply_from(UAS_B, 200)
    assert statuses(stage.take(CALLER)) == [100, 180, 200]
    assert stage.outcomes == [BranchOutcome(UAS_A, 503), BranchOutcome(UAS_B, 200)]
    # Each outcome names the request forwarded on that branch (the engine's dialog memory).
    assert [r.via.branch for r in stage.outcome_requests if r] == [
        first.via.branch,
        second.via.branch,
    ]


def test_a_timeout_moves_on_to_the_next_target() -> None:
    stage = make_stage([UAS_A, UAS_B], failover=FAILOVER)
    stage.from_caller(caller_request())
    stage.run_timers(until=31.9)
    assert stage.take(UAS_B) == []
    assert set(methods(stage.take(UAS_A))) == {"INVITE"}  # Timer A retransmissions
    stage.run_timers(until=32.0)  # Timer B = 64*T1
    one_request(stage, UAS_B)
    assert stage.outcomes == [BranchOutcome(UAS_A, 408, timed_out=True)]
    stage.reply_from(UAS_B, 200)
    assert finals_up(stage) == [200]


def test_a_transport_failure_moves_on_to_the_next_target() -> None:
    stage = make_stage([UAS_A, UAS_B])  # whatever the failover statuses
    stage.from_caller(caller_request())
    stage.take(UAS_A)
    stage.feed(stage.core.transport_failed(UAS_A, stage.now))
    one_request(stage, UAS_B)
    assert stage.outcomes == [BranchOutcome(UAS_A, 503, transport_failed=True)]
    stage.reply_from(UAS_B, 486)
    assert finals_up(stage) == [486]


def test_a_status_outside_the_failover_set_ends_the_search() -> None:
    stage = make_stage([UAS_A, UAS_B], failover=FAILOVER)
    stage.from_caller(caller_request())
    stage.reply_from(UAS_A, 486)
    assert finals_up(stage) == [486]
    assert stage.sent_to(UAS_B) == []


def test_every_target_answering_503_gives_500() -> None:
    stage = make_stage([UAS_A, UAS_B], failover=FAILOVER)
    stage.from_caller(caller_request())
    stage.reply_from(UAS_A, 503)
    stage.reply_from(UAS_B, 503)
    # §16.7 step 6: a 503 from downstream goes up as a 500.
    assert finals_up(stage) == [500]


def test_every_target_timing_out_gives_408() -> None:
    stage = make_stage([UAS_A, UAS_B], failover=FAILOVER)
    stage.from_caller(caller_request())
    stage.run_timers(until=64.1)  # Timer B twice; before Timer G resends the 408
    assert finals_up(stage) == [408]
    assert [o.timed_out for o in stage.outcomes] == [True, True]


def test_the_best_of_several_failures_goes_up() -> None:
    stage = make_stage([UAS_A, UAS_B, UAS_C], failover=(503, 404))
    stage.from_caller(caller_request())
    stage.reply_from(UAS_A, 503)
    stage.reply_from(UAS_B, 404)
    stage.feed(stage.core.transport_failed(UAS_C, stage.now))
    assert finals_up(stage) == [404]


def test_a_late_transport_error_of_a_finished_branch_starts_nothing() -> None:
    # The first branch already failed over; a transport error on its ACK must not
    # count as a second failure and start the third target too.
    stage = make_stage([UAS_A, UAS_B, UAS_C], failover=FAILOVER)
    stage.from_caller(caller_request())
    stage.reply_from(UAS_A, 503)
    one_request(stage, UAS_B)
    stage.feed(stage.core.transport_failed(UAS_A, stage.now))
    assert stage.sent_to(UAS_C) == []
    assert stage.outcomes == [BranchOutcome(UAS_A, 503)]
    stage.reply_from(UAS_B, 200)
    assert finals_up(stage) == [200]


# -- parallel forking ------------------------------------------------------------------


def fork(hops: tuple[Hop, ...] = (UAS_A, UAS_B)) -> Stage:
    stage = make_stage(hops, sequential=False)
    stage.from_caller(caller_request())
    return stage


def test_fork_sends_one_copy_per_target_with_distinct_branches() -> None:
    stage = fork()
    a, b = one_request(stage, UAS_A), one_request(stage, UAS_B)
    assert a.via.branch != b.via.branch
    assert a.get_all("Via")[1:] == b.get_all("Via")[1:]


def test_fork_200_goes_up_and_the_ringing_branch_is_cancelled() -> None:
    stage = fork()
    invite_a = one_request(stage, UAS_A)
    stage.take(UAS_B)
    stage.reply_from(UAS_A, 180)
    stage.reply_from(UAS_B, 200)
    assert statuses(stage.take(CALLER)) == [100, 180, 200]
    cancel = one_request(stage, UAS_A)
    assert cancel.method == "CANCEL"
    assert cancel.via.branch == invite_a.via.branch  # §9.1: the INVITE's branch
    assert stage.take(UAS_B) == []
    # The CANCEL's 200 and the INVITE's 487 stay here.
    stage.reply_from(UAS_A, 200, method="CANCEL")
    stage.reply_from(UAS_A, 487)
    assert stage.take(CALLER) == []
    assert methods(stage.take(UAS_A)) == ["ACK"]


def test_fork_6xx_cancels_the_other_branches_and_wins() -> None:
    stage = fork()
    stage.take(UAS_A)
    stage.take(UAS_B)
    stage.reply_from(UAS_A, 183)
    stage.reply_from(UAS_B, 603)
    assert methods(stage.take(UAS_A)) == ["CANCEL"]
    assert statuses(stage.take(CALLER)) == [100, 183]  # §16.7 step 5: not yet
    stage.reply_from(UAS_A, 487)
    assert finals_up(stage) == [603]


def test_fork_every_branch_failing_gives_the_lowest_class() -> None:
    stage = fork((UAS_A, UAS_B, UAS_C))
    stage.reply_from(UAS_A, 503)
    stage.reply_from(UAS_B, 302)
    assert finals_up(stage) == []
    stage.reply_from(UAS_C, 486)
    assert finals_up(stage) == [302]


def test_fork_two_2xx_both_go_up() -> None:
    stage = fork()
    stage.reply_from(UAS_A, 200, tag="a")
    stage.reply_from(UAS_B, 200, tag="b")
    ups = [m for m in stage.sent_to(CALLER) if isinstance(m, Response) and m.status == 200]
    assert [m.to.tag for m in ups] == ["a", "b"]
