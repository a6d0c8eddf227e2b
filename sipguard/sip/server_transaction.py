"""Server transactions (RFC 3261 §17.2, RFC 6026 §8.5-8.8, RFC 4320): INVITE and non-INVITE.

Rules of this file: each machine is three tables at the end of the file: requests
from the network (retransmissions and ACKs), responses from the TU, and inputs
without a message (timers, transport errors). The request that created the
transaction is handed to the TU by whoever created it; ``receive_request`` takes the
copies that follow. The machine answers retransmissions itself and sends the
100 (Trying) the TU owes when the TU is slow; it never retransmits a 2xx.
"""

from __future__ import annotations

from typing import Self

from sipguard.sip.build import build_response
from sipguard.sip.errors import TransactionStateError
from sipguard.sip.events import Action, DeliverRequest, Transmit
from sipguard.sip.message import Request, Response
from sipguard.sip.timers import Timer, TimerConfig, non_invite_trying_delay
from sipguard.sip.transaction_base import (
    Input,
    State,
    Table,
    TransactionMachine,
    response_input,
)

__all__ = ["InviteServerTransaction", "NonInviteServerTransaction", "ServerTransaction"]


class ServerTransaction(TransactionMachine):
    """What both server machines share: their inputs and the responses they keep."""

    __slots__ = ("_final", "_last_provisional")

    def __init__(
        self, request: Request, reliable: bool, config: TimerConfig, now: float, state: State
    ) -> None:
        super().__init__(request, reliable, config, now, state)
        self._last_provisional: Response | None = None
        self._final: Response | None = None

    @property
    def last_response(self) -> Response | None:
        """The latest response sent: the final one if any, else the latest provisional."""
        return self._final if self._final is not None else self._last_provisional

    def receive_request(self, request: Request, now: float) -> list[Action]:
        """Take a request the transport matched to this transaction (``server_key``):
        a retransmission of the original request, or an ACK.

        Raises:
            TransactionStateError: for an ACK before any final response, or a request
                of another method.
            ValueError: when ``now`` is earlier than a time already given.
        """
        return self._step(self._requests(), self._request_input(request), request, now)

    def send_response(self, response: Response, now: float) -> list[Action]:
        """Send a response from the TU.

        Raises:
            TransactionStateError: when the state allows no such response (or RFC 4320
                forbids it).
            ValueError: when ``now`` is earlier than a time already given.
        """
        return self._step(self._responses(), response_input(response.status), response, now)

    def transport_error(self, now: float) -> list[Action]:
        """The transport failed to send a response.

        Raises:
            TransactionStateError: when nothing was sent yet (non-INVITE in Trying).
            ValueError: when ``now`` is earlier than a time already given.
        """
        return self._step(self._events(), Input.TRANSPORT_ERROR, None, now)

    def _request_input(self, request: Request) -> Input:
        if request.method == "ACK":
            return Input.ACK
        if request.method == self.request.method:
            return Input.REQUEST
        raise TransactionStateError(
            f"{request.method} does not belong to this {self.request.method} transaction"
        )

    def _fire(self, timer: Timer, now: float) -> None:
        self._run(self._events(), timer, None, now)

    def _events(self) -> Table[Self, None]:
        raise NotImplementedError

    def _requests(self) -> Table[Self, Request]:
        raise NotImplementedError

    def _responses(self) -> Table[Self, Response]:
        raise NotImplementedError

    def _send_trying(self) -> None:
        # §8.2.6.1: build_response copies the request's Timestamp into the 100.
        self._stop_timers(Timer.TRYING)
        self._last_provisional = build_response(self.request, 100)
        self._emit(Transmit(self._last_provisional))

    def _resend_provisional(self, _request: Request, _now: float) -> None:
        if self._last_provisional is not None:
            self._emit(Transmit(self._last_provisional))

    def _resend_final(self, _arg: object, _now: float) -> None:
        if self._final is not None:
            self._emit(Transmit(self._final))


class InviteServerTransaction(ServerTransaction):
    """The INVITE server transaction (RFC 6026 Figure 7)."""

    __slots__ = ()

    def __init__(self, request: Request, reliable: bool, config: TimerConfig, now: float) -> None:
        if request.method != "INVITE":
            raise ValueError(f"an INVITE server transaction cannot take {request.method}")
        super().__init__(request, reliable, config, now, State.PROCEEDING)
        # §17.2.1: the transaction MUST send a 100 (Trying) unless the TU answers
        # within 200 ms.
        self._start_timer(Timer.TRYING, now)

    def _events(self) -> Table[Self, None]:
        return _INVITE_EVENTS

    def _requests(self) -> Table[Self, Request]:
        return _INVITE_REQUESTS

    def _responses(self) -> Table[Self, Response]:
        return _INVITE_RESPONSES

    def _trying(self, _arg: None, _now: float) -> None:
        self._send_trying()

    def _answer_retransmission(self, request: Request, now: float) -> None:
        # §17.2.1: a retransmission in Proceeding MUST get the most recent provisional
        # response; before there is one, the 100 (Trying) owed anyway goes now.
        if self._last_provisional is None:
            self._send_trying()
        else:
            self._resend_provisional(request, now)

    def _send_provisional(self, response: Response, _now: float) -> None:
        self._stop_timers(Timer.TRYING)
        self._last_provisional = response
        self._emit(Transmit(response))

    def _accept(self, response: Response, now: float) -> None:
        # RFC 6026 §8.5: a 2xx MUST be sent and the transaction MUST go to Accepted; it
        # is not retransmitted here (the TU does). §8.7: Timer L = 64*T1 on every
        # transport.
        self._stop_timers(Timer.TRYING)
        self.state = State.ACCEPTED
        self._emit(Transmit(response))
        self._start_timer(Timer.L, now)

    def _complete(self, response: Response, now: float) -> None:
        # §17.2.1: a 300-699 moves to Completed; Timer G (unreliable only) retransmits
        # it, Timer H bounds the wait for the ACK.
        self._stop_timers(Timer.TRYING)
        self.state = State.COMPLETED
        self._final = response
        self._emit(Transmit(response))
        self._start_timer(Timer.G, now)
        self._start_timer(Timer.H, now)

    def _retransmit_final(self, arg: None, now: float) -> None:
        # §17.2.1: Timer G fires: resend and double, up to T2.
        self._resend_final(arg, now)
        self._restart_backoff(Timer.G, now)

    def _confirm(self, _ack: Request, now: float) -> None:
        # §17.2.1: an ACK in Completed MUST move to Confirmed; G and H no longer apply,
        # Timer I absorbs retransmitted ACKs (T4 unreliable, 0 reliable).
        self._stop_timers(Timer.G, Timer.H)
        self.state = State.CONFIRMED
        self._start_timer(Timer.I, now)

    def _send_2xx_again(self, response: Response, _now: float) -> None:
        # RFC 6026 §8.7: a 2xx retransmission from the TU MUST be sent.
        self._emit(Transmit(response))

    def _deliver_ack(self, ack: Request, _now: float) -> None:
        # RFC 6026 §7.1: ACKs in Accepted MUST be passed to the TU, not absorbed.
        self._emit(DeliverRequest(ack))


class NonInviteServerTransaction(ServerTransaction):
    """The non-INVITE server transaction (RFC 3261 Figure 8, RFC 4320 §4)."""

    __slots__ = ("_trying_at",)

    def __init__(self, request: Request, reliable: bool, config: TimerConfig, now: float) -> None:
        if request.method in ("INVITE", "ACK"):
            raise ValueError(f"a non-INVITE server transaction cannot take {request.method}")
        super().__init__(request, reliable, config, now, State.TRYING)
        # RFC 4320 §4.1: a 100 MUST be sent once the client's Timer E has reached T2
        # without an answer; over UDP it MUST NOT be sent before.
        delay = non_invite_trying_delay(config)
        self._trying_at = now + delay
        self._start_timer(Timer.TRYING, now, delay)

    def _events(self) -> Table[Self, None]:
        return _NON_INVITE_EVENTS

    def _requests(self) -> Table[Self, Request]:
        return _NON_INVITE_REQUESTS

    def _responses(self) -> Table[Self, Response]:
        return _NON_INVITE_RESPONSES

    def _trying(self, _arg: None, _now: float) -> None:
        self.state = State.PROCEEDING
        self._send_trying()

    def _send_provisional(self, response: Response, now: float) -> None:
        # RFC 4320 §4.1: no provisional other than 100 to a non-INVITE request, and no
        # 100 over an unreliable transport before Timer E would have reached T2.
        if response.status != 100:
            raise TransactionStateError(f"RFC 4320 forbids a {response.status} to a non-INVITE")
        if not self.reliable and now < self._trying_at:
            raise TransactionStateError("RFC 4320 forbids an early 100 over UDP")
        self._stop_timers(Timer.TRYING)
        self.state = State.PROCEEDING
        self._last_provisional = response
        self._emit(Transmit(response))

    def _complete(self, response: Response, now: float) -> None:
        # RFC 4320 §4.2: a transaction-stateful element MUST NOT send a 408 to a
        # non-INVITE request (the client has given up by then).
        if response.status == 408:
            raise TransactionStateError("RFC 4320 forbids a 408 to a non-INVITE")
        # §17.2.2: the final response moves to Completed; Timer J (64*T1 unreliable,
        # 0 reliable) keeps answering retransmitted requests.
        self._stop_timers(Timer.TRYING)
        self.state = State.COMPLETED
        self._final = response
        self._emit(Transmit(response))
        self._start_timer(Timer.J, now)


_IST = InviteServerTransaction
_INVITE_REQUESTS: Table[_IST, Request] = {
    (State.PROCEEDING, Input.REQUEST): _IST._answer_retransmission,
    # §17.2.1: a retransmission in Completed MUST get the final response again.
    (State.COMPLETED, Input.REQUEST): _IST._resend_final,
    (State.COMPLETED, Input.ACK): _IST._confirm,
    # §17.2.1: Confirmed absorbs further ACKs (and a late retransmitted INVITE).
    (State.CONFIRMED, Input.REQUEST): _IST._absorb,
    (State.CONFIRMED, Input.ACK): _IST._absorb,
    # RFC 6026 §7.1: retransmitted INVITEs are absorbed in Accepted, ACKs go up.
    (State.ACCEPTED, Input.REQUEST): _IST._absorb,
    (State.ACCEPTED, Input.ACK): _IST._deliver_ack,
    (State.TERMINATED, Input.REQUEST): _IST._absorb,
    (State.TERMINATED, Input.ACK): _IST._absorb,
}
_INVITE_RESPONSES: Table[_IST, Response] = {
    (State.PROCEEDING, Input.PROVISIONAL): _IST._send_provisional,
    (State.PROCEEDING, Input.SUCCESS): _IST._accept,
    (State.PROCEEDING, Input.FAILURE): _IST._complete,
    (State.ACCEPTED, Input.SUCCESS): _IST._send_2xx_again,
}
_INVITE_EVENTS: Table[_IST, None] = {
    (State.PROCEEDING, Timer.TRYING): _IST._trying,
    (State.COMPLETED, Timer.G): _IST._retransmit_final,
    # §17.2.1: Timer H means the ACK never came: Terminated, and the TU is told.
    (State.COMPLETED, Timer.H): _IST._time_out,
    (State.CONFIRMED, Timer.I): _IST._end,
    # RFC 6026 §8.7: Timer L ends Accepted.
    (State.ACCEPTED, Timer.L): _IST._end,
    (State.PROCEEDING, Input.TRANSPORT_ERROR): _IST._report_transport,
    (State.COMPLETED, Input.TRANSPORT_ERROR): _IST._report_transport,
    (State.CONFIRMED, Input.TRANSPORT_ERROR): _IST._report_transport,
    (State.ACCEPTED, Input.TRANSPORT_ERROR): _IST._report_transport,
    (State.TERMINATED, Input.TRANSPORT_ERROR): _IST._absorb,
}

_NIST = NonInviteServerTransaction
_NON_INVITE_REQUESTS: Table[_NIST, Request] = {
    # §17.2.2: retransmissions in Trying are discarded; later ones get the last response.
    (State.TRYING, Input.REQUEST): _NIST._absorb,
    (State.PROCEEDING, Input.REQUEST): _NIST._resend_provisional,
    (State.COMPLETED, Input.REQUEST): _NIST._resend_final,
    (State.TERMINATED, Input.REQUEST): _NIST._absorb,
}
_NON_INVITE_RESPONSES: Table[_NIST, Response] = {
    (State.TRYING, Input.PROVISIONAL): _NIST._send_provisional,
    (State.TRYING, Input.SUCCESS): _NIST._complete,
    (State.TRYING, Input.FAILURE): _NIST._complete,
    (State.PROCEEDING, Input.PROVISIONAL): _NIST._send_provisional,
    (State.PROCEEDING, Input.SUCCESS): _NIST._complete,
    (State.PROCEEDING, Input.FAILURE): _NIST._complete,
    # §17.2.2: other final responses from the TU MUST be discarded in Completed.
    (State.COMPLETED, Input.SUCCESS): _NIST._absorb,
    (State.COMPLETED, Input.FAILURE): _NIST._absorb,
}
_NON_INVITE_EVENTS: Table[_NIST, None] = {
    (State.TRYING, Timer.TRYING): _NIST._trying,
    (State.COMPLETED, Timer.J): _NIST._end,
    (State.PROCEEDING, Input.TRANSPORT_ERROR): _NIST._report_transport,
    (State.COMPLETED, Input.TRANSPORT_ERROR): _NIST._report_transport,
    (State.TERMINATED, Input.TRANSPORT_ERROR): _NIST._absorb,
}
