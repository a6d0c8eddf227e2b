"""Client transactions (RFC 3261 §17.1, RFC 6026 §8.4): INVITE and non-INVITE.

Rules of this file: each machine is two tables at the end of the file, one for
responses from the network, one for inputs without a message (start, timers,
transport errors). A response in a state the RFC does not mention for it is
absorbed when reordering on the network can explain it (a 1xx arriving after the
final response), so that a peer cannot make the transaction raise; TU misuse
(a second ``start``, a response before ``start``) raises TransactionStateError.
"""

from __future__ import annotations

from typing import ClassVar, Self

from sipguard.sip.build import build_ack_for_non2xx
from sipguard.sip.events import Action, DeliverResponse, Transmit
from sipguard.sip.message import Request, Response
from sipguard.sip.timers import Timer, TimerConfig
from sipguard.sip.transaction_base import (
    Input,
    State,
    Table,
    TransactionMachine,
    response_input,
)

__all__ = ["ClientTransaction", "InviteClientTransaction", "NonInviteClientTransaction"]


class ClientTransaction(TransactionMachine):
    """What both client machines share: their inputs."""

    __slots__ = ()
    _retransmission_timer: ClassVar[Timer]

    def __init__(self, request: Request, reliable: bool, config: TimerConfig, now: float) -> None:
        super().__init__(request, reliable, config, now, State.IDLE)

    def start(self, now: float) -> list[Action]:
        """Send the request (the TU handed it over); returns the actions.

        Raises:
            TransactionStateError: when already started.
            ValueError: when ``now`` is earlier than a time already given.
        """
        return self._step(self._events(), Input.START, None, now)

    def receive_response(self, response: Response, now: float) -> list[Action]:
        """Take a response the transport matched to this transaction (``client_key``).

        Raises:
            TransactionStateError: when the transaction was not started.
            ValueError: when ``now`` is earlier than a time already given.
        """
        return self._step(self._responses(), response_input(response.status), response, now)

    def transport_error(self, now: float) -> list[Action]:
        """The transport failed to send the request (or the ACK).

        Raises:
            TransactionStateError: when nothing was sent yet.
            ValueError: when ``now`` is earlier than a time already given.
        """
        return self._step(self._events(), Input.TRANSPORT_ERROR, None, now)

    def _fire(self, timer: Timer, now: float) -> None:
        self._run(self._events(), timer, None, now)

    def _events(self) -> Table[Self, None]:
        raise NotImplementedError

    def _responses(self) -> Table[Self, Response]:
        raise NotImplementedError

    def _deliver(self, response: Response, _now: float) -> None:
        self._emit(DeliverResponse(response))

    def _retransmit(self, _arg: None, now: float) -> None:
        self._emit(Transmit(self.request))
        self._restart_backoff(self._retransmission_timer, now)


class InviteClientTransaction(ClientTransaction):
    """The INVITE client transaction (RFC 3261 Figure 5 as amended by RFC 6026)."""

    __slots__ = ()
    _retransmission_timer = Timer.A

    def __init__(self, request: Request, reliable: bool, config: TimerConfig, now: float) -> None:
        if request.method != "INVITE":
            raise ValueError(f"an INVITE client transaction cannot send {request.method}")
        super().__init__(request, reliable, config, now)

    def _events(self) -> Table[Self, None]:
        return _INVITE_EVENTS

    def _responses(self) -> Table[Self, Response]:
        return _INVITE_RESPONSES

    def _send(self, _arg: None, now: float) -> None:
        # §17.1.1.2: Timer A (unreliable transports only) and Timer B start with the send.
        self.state = State.CALLING
        self._emit(Transmit(self.request))
        self._start_timer(Timer.A, now)
        self._start_timer(Timer.B, now)

    def _proceed(self, response: Response, _now: float) -> None:
        # §17.1.1.2: a 1xx in Calling MUST move to Proceeding: retransmissions stop and
        # Timer B no longer applies (the TU's Timer C/CANCEL bound the wait).
        self._stop_timers(Timer.A, Timer.B)
        self.state = State.PROCEEDING
        self._emit(DeliverResponse(response))

    def _accept(self, response: Response, now: float) -> None:
        # RFC 6026 §8.4: a 2xx MUST move to Accepted with Timer M = 64*T1, and be passed to
        # the TU; the transaction MUST NOT ACK it (the TU does, §13.2.2.4).
        self._stop_timers(Timer.A, Timer.B)
        self.state = State.ACCEPTED
        self._emit(DeliverResponse(response))
        self._start_timer(Timer.M, now)

    def _complete(self, response: Response, now: float) -> None:
        # §17.1.1.2: a 300-699 MUST be passed to the TU and ACKed, even over a reliable
        # transport; Timer D then absorbs retransmitted responses.
        self._stop_timers(Timer.A, Timer.B)
        self.state = State.COMPLETED
        self._emit(DeliverResponse(response))
        self._emit(Transmit(build_ack_for_non2xx(self.request, response)))
        self._start_timer(Timer.D, now)

    def _ack_again(self, response: Response, _now: float) -> None:
        # §17.1.1.2: a retransmitted final response MUST make the ACK be sent again and
        # MUST NOT be passed to the TU.
        self._emit(Transmit(build_ack_for_non2xx(self.request, response)))


class NonInviteClientTransaction(ClientTransaction):
    """The non-INVITE client transaction (RFC 3261 Figure 6)."""

    __slots__ = ()
    _retransmission_timer = Timer.E

    def __init__(self, request: Request, reliable: bool, config: TimerConfig, now: float) -> None:
        if request.method in ("INVITE", "ACK"):
            raise ValueError(f"a non-INVITE client transaction cannot send {request.method}")
        super().__init__(request, reliable, config, now)

    def _events(self) -> Table[Self, None]:
        return _NON_INVITE_EVENTS

    def _responses(self) -> Table[Self, Response]:
        return _NON_INVITE_RESPONSES

    def _send(self, _arg: None, now: float) -> None:
        # §17.1.2.2: Timer E (unreliable transports only) and Timer F start with the send.
        self.state = State.TRYING
        self._emit(Transmit(self.request))
        self._start_timer(Timer.E, now)
        self._start_timer(Timer.F, now)

    def _retransmit_at_t2(self, _arg: None, now: float) -> None:
        # §17.1.2.2: in Proceeding, Timer E MUST be reset to T2.
        self._emit(Transmit(self.request))
        self._start_timer(Timer.E, now, self.config.t2)

    def _proceed(self, response: Response, _now: float) -> None:
        self.state = State.PROCEEDING
        self._emit(DeliverResponse(response))

    def _complete(self, response: Response, now: float) -> None:
        # §17.1.2.2: a final response MUST be passed to the TU; Timer K then buffers
        # its retransmissions (T4 unreliable, 0 reliable).
        self._stop_timers(Timer.E, Timer.F)
        self.state = State.COMPLETED
        self._emit(DeliverResponse(response))
        self._start_timer(Timer.K, now)


_ICT = InviteClientTransaction
_INVITE_EVENTS: Table[_ICT, None] = {
    (State.IDLE, Input.START): _ICT._send,
    (State.CALLING, Timer.A): _ICT._retransmit,
    (State.CALLING, Timer.B): _ICT._time_out,
    (State.COMPLETED, Timer.D): _ICT._end,
    (State.ACCEPTED, Timer.M): _ICT._end,
    (State.CALLING, Input.TRANSPORT_ERROR): _ICT._fail_transport,
    (State.PROCEEDING, Input.TRANSPORT_ERROR): _ICT._fail_transport,
    # RFC 6026 Figure 5: a failure to send the ACK also ends the transaction.
    (State.COMPLETED, Input.TRANSPORT_ERROR): _ICT._fail_transport,
    # Nothing is sent in Accepted: a late report about the INVITE changes nothing.
    (State.ACCEPTED, Input.TRANSPORT_ERROR): _ICT._absorb,
    (State.TERMINATED, Input.TRANSPORT_ERROR): _ICT._absorb,
}
_INVITE_RESPONSES: Table[_ICT, Response] = {
    (State.CALLING, Input.PROVISIONAL): _ICT._proceed,
    (State.CALLING, Input.SUCCESS): _ICT._accept,
    (State.CALLING, Input.FAILURE): _ICT._complete,
    (State.PROCEEDING, Input.PROVISIONAL): _ICT._deliver,
    (State.PROCEEDING, Input.SUCCESS): _ICT._accept,
    (State.PROCEEDING, Input.FAILURE): _ICT._complete,
    (State.COMPLETED, Input.FAILURE): _ICT._ack_again,
    # A 1xx overtaken by the final response on the network.
    (State.COMPLETED, Input.PROVISIONAL): _ICT._absorb,
    # A 2xx after a non-2xx (a forking proxy's Timer C raced a callee's answer): the
    # TU must learn of the dialog to ACK and end it; the state does not change.
    (State.COMPLETED, Input.SUCCESS): _ICT._deliver,
    # RFC 6026 §8.4: every further 2xx MUST be passed to the TU (other forks' answers).
    (State.ACCEPTED, Input.SUCCESS): _ICT._deliver,
    (State.ACCEPTED, Input.PROVISIONAL): _ICT._absorb,
    (State.ACCEPTED, Input.FAILURE): _ICT._absorb,
    # §17.1.1.2: a terminated transaction is gone; what still reaches it is absorbed.
    (State.TERMINATED, Input.PROVISIONAL): _ICT._absorb,
    (State.TERMINATED, Input.SUCCESS): _ICT._absorb,
    (State.TERMINATED, Input.FAILURE): _ICT._absorb,
}

_NICT = NonInviteClientTransaction
_NON_INVITE_EVENTS: Table[_NICT, None] = {
    (State.IDLE, Input.START): _NICT._send,
    (State.TRYING, Timer.E): _NICT._retransmit,
    (State.PROCEEDING, Timer.E): _NICT._retransmit_at_t2,
    (State.TRYING, Timer.F): _NICT._time_out,
    (State.PROCEEDING, Timer.F): _NICT._time_out,
    (State.COMPLETED, Timer.K): _NICT._end,
    (State.TRYING, Input.TRANSPORT_ERROR): _NICT._fail_transport,
    (State.PROCEEDING, Input.TRANSPORT_ERROR): _NICT._fail_transport,
    # Nothing is sent in Completed: a late report about the request changes nothing.
    (State.COMPLETED, Input.TRANSPORT_ERROR): _NICT._absorb,
    (State.TERMINATED, Input.TRANSPORT_ERROR): _NICT._absorb,
}
_NON_INVITE_RESPONSES: Table[_NICT, Response] = {
    (State.TRYING, Input.PROVISIONAL): _NICT._proceed,
    (State.TRYING, Input.SUCCESS): _NICT._complete,
    (State.TRYING, Input.FAILURE): _NICT._complete,
    (State.PROCEEDING, Input.PROVISIONAL): _NICT._proceed,
    (State.PROCEEDING, Input.SUCCESS): _NICT._complete,
    (State.PROCEEDING, Input.FAILURE): _NICT._complete,
    # §17.1.2.2: Completed buffers retransmissions of the final response.
    (State.COMPLETED, Input.PROVISIONAL): _NICT._absorb,
    (State.COMPLETED, Input.SUCCESS): _NICT._absorb,
    (State.COMPLETED, Input.FAILURE): _NICT._absorb,
    (State.TERMINATED, Input.PROVISIONAL): _NICT._absorb,
    (State.TERMINATED, Input.SUCCESS): _NICT._absorb,
    (State.TERMINATED, Input.FAILURE): _NICT._absorb,
}
