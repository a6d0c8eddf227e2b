"""Invariant: whatever a two-branch fork hears from downstream, the caller gets one answer.

For an INVITE forked in parallel to two UASs, any interleaving of downstream responses
(1xx, 2xx, 3xx-6xx, duplicates, provisionals after finals), with pauses that let
Timers A-D, C and M fire and, now and then, a CANCEL from the caller:
- no call raises;
- the responses that went up through the INVITE's server transaction are either all
  2xx or one single non-2xx (§16.7 steps 5-6: one best final, every 2xx);
- once both branches have a final, the caller has its answer: one non-2xx, or 2xx;
- once every timer has run out, it has an answer in every case, and the core's
  tables are empty.
Late retransmissions that arrive after a branch's transaction ended are relayed
statelessly (§16.7: no matching transaction) on a new connection; they are not
counted as the server transaction's answers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from sipguard.proxy.events import Hop
from sipguard.sip import Request, Response, TimerConfig
from tests.proxy.core_harness import (
    CALLER_TCP,
    UAS_A,
    UAS_B,
    Stage,
    answer,
    caller_request,
    make_stage,
    same_hop_request,
)

SETTINGS = settings(max_examples=100, deadline=None)
TIMERS = TimerConfig(timer_c=20.0)
BRANCHES = (UAS_A, UAS_B)
STATUSES = (100, 180, 183, 200, 302, 404, 486, 487, 503, 603)

Step = tuple[str, int, int]
steps = st.lists(
    st.one_of(
        st.tuples(st.just("respond"), st.integers(0, 1), st.sampled_from(STATUSES)),
        st.tuples(st.just("wait"), st.integers(1, 40), st.just(0)),
        st.tuples(st.just("cancel"), st.just(0), st.just(0)),
    ),
    max_size=12,
)


@dataclass
class Fork:
    """The stage, the caller's INVITE, and which UASs already sent a final."""

    stage: Stage
    invite: Request
    answer_cancels: bool
    finished: set[Hop] = field(default_factory=set)

    def respond(self, hop: Hop, status: int) -> None:
        self.stage.reply_from(hop, status, tag=f"tag{hop.peer.host[-1]}")
        if status >= 200:
            self.finished.add(hop)

    def serve_cancels(self) -> None:
        # A UAS answers a CANCEL with 200 and, if still ringing, its INVITE with 487.
        if not self.answer_cancels:
            return
        for hop in BRANCHES:
            for message in self.stage.take(hop):
                if isinstance(message, Request) and message.method == "CANCEL":
                    self.stage.from_downstream(hop, answer(message, 200))
                    if hop not in self.finished:
                        self.respond(hop, 487)

    def finals_up(self) -> list[int]:
        return [
            m.status
            for m in self.stage.sent_to(CALLER_TCP)
            if isinstance(m, Response) and m.status >= 200 and m.cseq.method == "INVITE"
        ]

    def check_one_answer(self, *, complete: bool) -> None:
        finals = self.finals_up()
        non_2xx = [s for s in finals if s >= 300]
        assert not non_2xx or finals == non_2xx[:1], finals
        if complete:
            assert finals, "the caller got no final response"


def play(step: Step, fork: Fork) -> None:
    kind, which, value = step
    if kind == "respond":
        fork.respond(BRANCHES[which], value)
    elif kind == "wait":
        fork.stage.advance(value)
    else:
        fork.stage.from_caller(same_hop_request(fork.invite, "CANCEL"), CALLER_TCP)
    fork.serve_cancels()


@SETTINGS
@given(script=steps, answer_cancels=st.booleans())
def test_a_fork_always_ends_with_one_answer(script: list[Step], answer_cancels: bool) -> None:
    stage = make_stage(list(BRANCHES), sequential=False, timers=TIMERS)
    invite = caller_request(hop=CALLER_TCP)
    stage.from_caller(invite, CALLER_TCP)
    fork = Fork(stage, invite, answer_cancels)
    for step in script:
        play(step, fork)
        fork.check_one_answer(complete=fork.finished == set(BRANCHES))
    for _ in range(10):  # CANCELs answered may start more timers: bounded rounds
        fork.serve_cancels()
        stage.run_timers()
    fork.check_one_answer(complete=True)
    assert stage.idle, (stage.core.transactions, stage.core.unanswered)
