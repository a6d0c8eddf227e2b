"""The four RFC 3261 §17 machines (with RFC 6026 and RFC 4320) driven in virtual time."""

from __future__ import annotations

import itertools

import pytest

from sipguard.sip.errors import SipError, TransactionStateError
from sipguard.sip.events import (
    Action,
    DeliverRequest,
    DeliverResponse,
    Terminated,
    TimedOut,
    Transmit,
    TransportFailed,
)
from sipguard.sip.message import Request, Response
from sipguard.sip.timers import TimerConfig
from sipguard.sip.transaction import (
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    State,
    TransactionMachine,
    new_client_transaction,
    new_server_transaction,
)
from tests.helpers.sipmsg import TO
from tests.helpers.transactions import (
    FakeClock,
    Timeline,
    make_request,
    make_response,
    run_timers,
)

CONFIG = TimerConfig()  # T1 = 0.5 s, T2 = 4 s, T4 = 5 s
UDP, TCP = False, True


def started_invite_client(reliable: bool = UDP) -> tuple[InviteClientTransaction, Timeline]:
    ct = InviteClientTransaction(make_request(), reliable, CONFIG, 0.0)
    timeline = Timeline()
    timeline.add(0.0, ct.start(0.0))
    return ct, timeline


def started_non_invite_client(reliable: bool = UDP) -> tuple[NonInviteClientTransaction, Timeline]:
    ct = NonInviteClientTransaction(make_request("OPTIONS"), reliable, CONFIG, 0.0)
    timeline = Timeline()
    timeline.add(0.0, ct.start(0.0))
    return ct, timeline


def transmitted(actions: list[Action]) -> Request | Response:
    """The one message ``actions`` put on the wire."""
    (message,) = [a.message for a in actions if isinstance(a, Transmit)]
    return message


def state_of(machine: TransactionMachine) -> State:
    """The state, read through a call so that mypy does not narrow it across inputs."""
    return machine.state


def with_tag(status: int, tag: str, method: str = "INVITE") -> Response:
    return make_response(status, method, {"To": f"{TO};tag={tag}"})


# -- INVITE client -------------------------------------------------------------------------


def test_timer_a_doubles_without_cap_until_timer_b_times_out() -> None:
    ct, timeline = started_invite_client(UDP)
    run_timers(ct, FakeClock(), timeline)
    # §17.1.1.2: A = T1, 2*T1, 4*T1... (no T2 cap); B = 64*T1 = 32 s.
    assert timeline.times(Transmit) == [0.0, 0.5, 1.5, 3.5, 7.5, 15.5, 31.5]
    assert all(m is ct.request for _, m in timeline.sent())
    assert timeline.times(TimedOut) == [32.0]
    assert timeline.times(Terminated) == [32.0]
    assert isinstance(timeline.actions()[-1], Terminated)
    assert ct.state is State.TERMINATED
    assert ct.next_deadline() is None


def test_invite_client_over_a_reliable_transport_never_retransmits() -> None:
    ct, timeline = started_invite_client(TCP)
    run_timers(ct, FakeClock(), timeline)
    assert timeline.times(Transmit) == [0.0]
    assert timeline.times(TimedOut) == [32.0]


def test_provisional_stops_retransmissions_and_timer_b() -> None:
    ct, timeline = started_invite_client(UDP)
    clock = FakeClock()
    run_timers(ct, clock, timeline, until=1.0)
    ringing = make_response(180)
    assert ct.receive_response(ringing, 1.0) == [DeliverResponse(ringing)]
    assert ct.state is State.PROCEEDING
    assert ct.next_deadline() is None  # the TU's Timer C or CANCEL bounds the wait now
    assert timeline.times(Transmit) == [0.0, 0.5]
    again = make_response(183)
    assert ct.receive_response(again, 2.0) == [DeliverResponse(again)]


def test_non_2xx_final_is_acked_and_retransmissions_only_resend_the_ack() -> None:
    ct, _ = started_invite_client(UDP)
    ct.receive_response(make_response(180), 0.2)
    busy = with_tag(486, "callee")
    actions = ct.receive_response(busy, 1.0)
    assert actions[0] == DeliverResponse(busy)
    ack = transmitted(actions)
    assert isinstance(ack, Request)
    assert ack.method == "ACK"
    assert ack.to.tag == "callee"
    assert ct.state is State.COMPLETED
    # §17.1.1.2: the retransmitted 486 makes the ACK go again, and is not delivered.
    assert ct.receive_response(busy, 2.0) == [Transmit(ack)]
    assert ct.receive_response(make_response(180), 2.5) == []
    timeline = run_timers(ct, FakeClock(2.5))
    assert timeline.times(Terminated) == [33.0]  # Timer D: 32 s over UDP
    assert timeline.times(Transmit) == []


def test_non_2xx_final_over_a_reliable_transport_terminates_at_once() -> None:
    ct, _ = started_invite_client(TCP)
    busy = with_tag(486, "callee")
    actions = ct.receive_response(busy, 1.0)
    assert [type(a) for a in actions] == [DeliverResponse, Transmit, Terminated]
    assert ct.receive_response(busy, 1.5) == []


def test_2xx_moves_to_accepted_where_every_2xx_reaches_the_tu() -> None:
    ct, _ = started_invite_client(UDP)
    first = with_tag(200, "fork-1")
    assert ct.receive_response(first, 1.0) == [DeliverResponse(first)]  # no ACK: the TU's
    assert ct.state is State.ACCEPTED
    second = with_tag(200, "fork-2")
    assert ct.receive_response(second, 2.0) == [DeliverResponse(second)]
    assert ct.receive_response(first, 3.0) == [DeliverResponse(first)]
    assert ct.receive_response(make_response(180), 3.5) == []
    timeline = run_timers(ct, FakeClock(3.5))
    assert timeline.times(Terminated) == [33.0]  # RFC 6026 Timer M = 64*T1
    assert timeline.times(Transmit) == []
    assert ct.receive_response(first, 40.0) == []


def test_2xx_after_a_non_2xx_still_reaches_the_tu() -> None:
    ct, _ = started_invite_client(UDP)
    ct.receive_response(with_tag(408, "proxy"), 1.0)
    late = with_tag(200, "callee")
    assert ct.receive_response(late, 1.5) == [DeliverResponse(late)]
    assert ct.state is State.COMPLETED


@pytest.mark.parametrize("state_after", ["calling", "proceeding", "completed"])
def test_invite_client_transport_error_terminates(state_after: str) -> None:
    ct, _ = started_invite_client(UDP)
    if state_after == "proceeding":
        ct.receive_response(make_response(180), 0.1)
    elif state_after == "completed":
        ct.receive_response(make_response(486), 0.1)
    assert ct.transport_error(0.2) == [TransportFailed(), Terminated()]
    assert ct.next_deadline() is None
    assert ct.transport_error(0.3) == []


def test_invite_client_rejects_inputs_before_start_and_a_second_start() -> None:
    ct = InviteClientTransaction(make_request(), UDP, CONFIG, 0.0)
    with pytest.raises(TransactionStateError, match="Idle"):
        ct.receive_response(make_response(200), 0.1)
    with pytest.raises(TransactionStateError):
        ct.transport_error(0.1)
    assert state_of(ct) is State.IDLE
    ct.start(0.2)
    with pytest.raises(TransactionStateError) as info:
        ct.start(0.3)
    assert isinstance(info.value, SipError)
    assert info.value.status == 500
    assert ct.state is State.CALLING
    assert ct.next_deadline() == pytest.approx(0.7)


def test_time_going_backwards_is_refused() -> None:
    ct, _ = started_invite_client(UDP)
    ct.handle_timer(0.5)
    with pytest.raises(ValueError, match="backwards"):
        ct.receive_response(make_response(180), 0.4)
    with pytest.raises(ValueError, match="backwards"):
        ct.handle_timer(0.1)


def test_handle_timer_called_late_fires_each_due_timer_once_in_order() -> None:
    ct, _ = started_invite_client(UDP)
    # Both A (0.5) and B (32) are overdue: one retransmission, then the timeout.
    actions = ct.handle_timer(100.0)
    assert [type(a) for a in actions] == [Transmit, TimedOut, Terminated]


def test_machines_refuse_the_wrong_method() -> None:
    with pytest.raises(ValueError, match="REGISTER"):
        InviteClientTransaction(make_request("REGISTER"), UDP, CONFIG, 0.0)
    with pytest.raises(ValueError, match="INVITE"):
        NonInviteClientTransaction(make_request(), UDP, CONFIG, 0.0)
    with pytest.raises(ValueError, match="ACK"):
        NonInviteServerTransaction(make_request("ACK"), UDP, CONFIG, 0.0)
    with pytest.raises(ValueError, match="BYE"):
        InviteServerTransaction(make_request("BYE"), UDP, CONFIG, 0.0)


def test_factories_pick_the_machine_by_method() -> None:
    assert isinstance(
        new_client_transaction(make_request(), UDP, CONFIG, 0), InviteClientTransaction
    )
    bye = make_request("BYE")
    assert isinstance(new_client_transaction(bye, UDP, CONFIG, 0), NonInviteClientTransaction)
    assert isinstance(
        new_server_transaction(make_request(), UDP, CONFIG, 0), InviteServerTransaction
    )
    assert isinstance(new_server_transaction(bye, UDP, CONFIG, 0), NonInviteServerTransaction)
    ack = make_request("ACK")
    with pytest.raises(ValueError, match="ACK"):
        new_client_transaction(ack, UDP, CONFIG, 0)
    with pytest.raises(ValueError, match="ACK"):
        new_server_transaction(ack, UDP, CONFIG, 0)


# -- non-INVITE client ---------------------------------------------------------------------


def test_timer_e_doubles_up_to_t2_until_timer_f_times_out() -> None:
    ct, timeline = started_non_invite_client(UDP)
    run_timers(ct, FakeClock(), timeline)
    sends = timeline.times(Transmit)
    assert sends == [0.0, 0.5, 1.5, 3.5, 7.5, 11.5, 15.5, 19.5, 23.5, 27.5, 31.5]
    intervals = [b - a for a, b in itertools.pairwise(sends)]
    assert intervals[:4] == [0.5, 1.0, 2.0, 4.0]
    assert max(intervals) == CONFIG.t2
    assert timeline.times(TimedOut) == [32.0]  # Timer F = 64*T1
    assert timeline.times(Terminated) == [32.0]


def test_after_a_provisional_timer_e_retransmits_every_t2() -> None:
    ct, timeline = started_non_invite_client(UDP)
    clock = FakeClock()
    run_timers(ct, clock, timeline, until=0.7)
    trying = make_response(100, "OPTIONS")
    timeline.add(0.7, ct.receive_response(trying, 0.7))
    assert ct.state is State.PROCEEDING
    run_timers(ct, clock, timeline)
    # The pending E (armed at 0.5 for 1 s) fires at 1.5, then every T2.
    assert timeline.times(Transmit) == [0.0, 0.5, 1.5, 5.5, 9.5, 13.5, 17.5, 21.5, 25.5, 29.5]
    assert timeline.times(DeliverResponse) == [0.7]
    assert timeline.times(TimedOut) == [32.0]


def test_non_invite_client_final_waits_timer_k_then_ends() -> None:
    ct, _ = started_non_invite_client(UDP)
    ok = make_response(200, "OPTIONS")
    assert ct.receive_response(ok, 1.0) == [DeliverResponse(ok)]
    assert ct.state is State.COMPLETED
    assert ct.receive_response(ok, 2.0) == []  # buffered retransmission
    assert ct.transport_error(2.1) == []  # nothing in flight any more
    timeline = run_timers(ct, FakeClock(2.1))
    assert timeline.times(Terminated) == [6.0]  # Timer K = T4


def test_non_invite_client_over_a_reliable_transport() -> None:
    ct, timeline = started_non_invite_client(TCP)
    run_timers(ct, FakeClock(), timeline)
    assert timeline.times(Transmit) == [0.0]
    assert timeline.times(TimedOut) == [32.0]
    ct2, _ = started_non_invite_client(TCP)
    ok = make_response(200, "OPTIONS")
    assert ct2.receive_response(ok, 1.0) == [DeliverResponse(ok), Terminated()]  # K = 0


def test_non_invite_client_transport_error() -> None:
    ct, _ = started_non_invite_client(UDP)
    assert ct.transport_error(0.1) == [TransportFailed(), Terminated()]
    assert ct.receive_response(make_response(200, "OPTIONS"), 0.2) == []


# -- INVITE server -------------------------------------------------------------------------


def invite_server(reliable: bool = UDP, **headers: str) -> InviteServerTransaction:
    return InviteServerTransaction(make_request(headers=headers or None), reliable, CONFIG, 0.0)


def test_invite_server_sends_100_trying_when_the_tu_is_silent_for_200_ms() -> None:
    st = invite_server(Timestamp="54")
    assert st.next_deadline() == pytest.approx(0.2)
    assert st.handle_timer(0.1) == []
    (action,) = st.handle_timer(0.2)
    assert isinstance(action, Transmit)
    trying = action.message
    assert isinstance(trying, Response)
    assert trying.status == 100
    assert trying.get("Timestamp") == "54"  # §8.2.6.1
    assert trying.to.tag is None
    assert st.last_response is trying
    assert st.next_deadline() is None


def test_invite_server_sends_no_100_when_the_tu_answers_in_time() -> None:
    st = invite_server()
    ringing = make_response(180)
    assert st.send_response(ringing, 0.1) == [Transmit(ringing)]
    assert run_timers(st, FakeClock(0.1), until=5.0).entries == []


def test_retransmitted_invite_in_proceeding_gets_the_last_provisional_only() -> None:
    st = invite_server()
    st.send_response(make_response(180), 0.1)
    ringing = make_response(183)
    st.send_response(ringing, 0.3)
    actions = st.receive_request(make_request(), 0.5)
    assert actions == [Transmit(ringing)]  # nothing delivered to the TU again
    assert st.state is State.PROCEEDING


def test_retransmitted_invite_before_any_provisional_gets_the_100_at_once() -> None:
    st = invite_server()
    (action,) = st.receive_request(make_request(), 0.1)
    assert isinstance(action, Transmit)
    assert isinstance(action.message, Response)
    assert action.message.status == 100
    assert st.next_deadline() is None  # the 200 ms timer is spent


def test_timer_g_retransmits_a_404_until_timer_h() -> None:
    st = invite_server(UDP)
    not_found = with_tag(404, "uas")
    assert st.send_response(not_found, 1.0) == [Transmit(not_found)]
    assert st.state is State.COMPLETED
    timeline = run_timers(st, FakeClock(1.0))
    # §17.2.1: G = T1, 2*T1, 4*T1, then T2; H = 64*T1 after the response.
    assert timeline.times(Transmit) == [1.5, 2.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5, 32.5]
    assert all(m is not_found for _, m in timeline.sent())
    assert timeline.times(TimedOut) == [33.0]
    assert timeline.times(Terminated) == [33.0]


def test_ack_confirms_and_timer_i_ends_the_invite_server() -> None:
    st = invite_server(UDP)
    not_found = with_tag(404, "uas")
    st.send_response(not_found, 1.0)
    clock = FakeClock(1.0)
    timeline = run_timers(st, clock, until=2.0)
    assert timeline.times(Transmit) == [1.5]
    assert st.receive_request(make_request(), 2.0) == [Transmit(not_found)]
    ack = make_request("ACK", {"To": f"{TO};tag=uas"})
    assert st.receive_request(ack, 2.2) == []  # absorbed: the ACK is the transaction's
    assert st.state is State.CONFIRMED
    assert st.receive_request(ack, 2.4) == []
    timeline = run_timers(st, clock)
    assert timeline.times(Transmit) == []  # G stopped
    assert timeline.times(Terminated) == [7.2]  # Timer I = T4
    assert timeline.times(TimedOut) == []


def test_invite_server_over_a_reliable_transport() -> None:
    st = invite_server(TCP)
    st.send_response(with_tag(486, "uas"), 1.0)
    assert st.next_deadline() == pytest.approx(33.0)  # H only, no G
    ack = make_request("ACK", {"To": f"{TO};tag=uas"})
    assert st.receive_request(ack, 1.1) == [Terminated()]  # Timer I = 0


def test_timer_h_without_ack_times_out_over_a_reliable_transport() -> None:
    st = invite_server(TCP)
    st.send_response(with_tag(486, "uas"), 1.0)
    timeline = run_timers(st, FakeClock(1.0))
    assert timeline.times(Transmit) == []
    assert timeline.times(TimedOut) == [33.0]


def test_invite_server_accepted_passes_acks_up_and_sends_tu_retransmissions() -> None:
    st = invite_server(UDP)
    ok = with_tag(200, "uas")
    assert st.send_response(ok, 1.0) == [Transmit(ok)]
    assert st.state is State.ACCEPTED
    assert st.receive_request(make_request(), 1.2) == []  # retransmitted INVITE absorbed
    assert st.send_response(ok, 1.5) == [Transmit(ok)]  # the TU's retransmission
    ack = make_request("ACK", {"To": f"{TO};tag=uas"})
    assert st.receive_request(ack, 1.6) == [DeliverRequest(ack)]
    assert st.receive_request(ack, 1.7) == [DeliverRequest(ack)]
    timeline = run_timers(st, FakeClock(1.7))
    assert timeline.times(Transmit) == []  # the transaction never retransmits a 2xx
    assert [type(a) for a in timeline.actions()] == [Terminated]
    assert timeline.times(Terminated) == [33.0]  # Timer L = 64*T1


def test_invite_server_transport_error_is_reported_and_the_state_kept() -> None:
    st = invite_server(UDP)
    st.send_response(with_tag(486, "uas"), 1.0)
    assert st.transport_error(1.1) == [TransportFailed()]  # RFC 6026 §8.8
    assert st.state is State.COMPLETED
    assert st.next_deadline() == pytest.approx(1.5)


def test_invite_server_rejects_invalid_inputs() -> None:
    st = invite_server(UDP)
    ack = make_request("ACK")
    with pytest.raises(TransactionStateError, match="ACK"):
        st.receive_request(ack, 0.1)  # no final response to acknowledge
    with pytest.raises(TransactionStateError, match="BYE"):
        st.receive_request(make_request("BYE"), 0.1)
    st.send_response(with_tag(486, "uas"), 0.1)
    with pytest.raises(TransactionStateError, match="Completed"):
        st.send_response(with_tag(180, "uas"), 0.2)
    with pytest.raises(TransactionStateError):
        st.send_response(with_tag(200, "uas"), 0.2)
    assert st.state is State.COMPLETED
    accepted = invite_server(UDP)
    accepted.send_response(with_tag(200, "uas"), 0.1)
    with pytest.raises(TransactionStateError, match="Accepted"):
        accepted.send_response(with_tag(486, "uas"), 0.2)


# -- non-INVITE server ---------------------------------------------------------------------


def register_server(reliable: bool = UDP) -> NonInviteServerTransaction:
    return NonInviteServerTransaction(make_request("REGISTER"), reliable, CONFIG, 0.0)


def test_non_invite_server_absorbs_retransmissions_until_it_answers() -> None:
    st = register_server(UDP)
    assert st.receive_request(make_request("REGISTER"), 0.5) == []
    assert state_of(st) is State.TRYING
    ok = make_response(200, "REGISTER")
    assert st.send_response(ok, 1.0) == [Transmit(ok)]
    assert st.state is State.COMPLETED
    # §17.2.2: a retransmission in Completed gets the final response again.
    assert st.receive_request(make_request("REGISTER"), 1.5) == [Transmit(ok)]
    # ... and another final response from the TU MUST be discarded.
    assert st.send_response(make_response(500, "REGISTER"), 1.6) == []
    timeline = run_timers(st, FakeClock(1.6))
    assert timeline.times(Terminated) == [33.0]  # Timer J = 64*T1
    assert st.receive_request(make_request("REGISTER"), 40.0) == []


def test_non_invite_server_over_a_reliable_transport_ends_with_its_final() -> None:
    st = register_server(TCP)
    ok = make_response(200, "REGISTER")
    assert st.send_response(ok, 1.0) == [Transmit(ok), Terminated()]  # Timer J = 0


def test_non_invite_server_sends_100_once_timer_e_would_reach_t2() -> None:
    st = register_server(UDP)
    assert st.next_deadline() == pytest.approx(3.5)  # RFC 4320 §4.1
    (action,) = st.handle_timer(3.5)
    assert isinstance(action, Transmit)
    trying = action.message
    assert isinstance(trying, Response)
    assert trying.status == 100
    assert st.state is State.PROCEEDING
    assert st.receive_request(make_request("REGISTER"), 4.0) == [Transmit(trying)]
    ok = make_response(200, "REGISTER")
    assert st.send_response(ok, 5.0) == [Transmit(ok)]


def test_non_invite_server_enforces_rfc_4320_on_tu_responses() -> None:
    st = register_server(UDP)
    with pytest.raises(TransactionStateError, match="4320"):
        st.send_response(make_response(180, "REGISTER"), 0.1)
    with pytest.raises(TransactionStateError, match="early 100"):
        st.send_response(make_response(100, "REGISTER"), 0.1)
    with pytest.raises(TransactionStateError, match="408"):
        st.send_response(make_response(408, "REGISTER"), 0.1)
    assert st.state is State.TRYING
    trying = make_response(100, "REGISTER")
    assert register_server(TCP).send_response(trying, 0.1) == [Transmit(trying)]
    assert st.send_response(trying, 3.6) == [Transmit(trying)]


def test_non_invite_server_transport_errors() -> None:
    st = register_server(UDP)
    with pytest.raises(TransactionStateError, match="Trying"):
        st.transport_error(0.1)  # nothing was sent
    st.send_response(make_response(200, "REGISTER"), 0.2)
    assert st.transport_error(0.3) == [TransportFailed()]
    assert st.state is State.COMPLETED
    with pytest.raises(TransactionStateError, match="ACK"):
        st.receive_request(make_request("ACK"), 0.4)


def test_terminated_server_refuses_tu_responses_and_absorbs_requests() -> None:
    st = register_server(TCP)
    st.send_response(make_response(200, "REGISTER"), 0.1)
    assert st.terminated
    assert st.receive_request(make_request("REGISTER"), 0.2) == []
    assert st.transport_error(0.2) == []
    with pytest.raises(TransactionStateError, match="Terminated"):
        st.send_response(make_response(100, "REGISTER"), 0.3)
    assert st.handle_timer(100.0) == []
