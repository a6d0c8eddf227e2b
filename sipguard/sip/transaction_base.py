"""What the four transaction machines share: states, input kinds, timers and dispatch.

Rules of this file:
- A machine's behaviour is its tables: ``(state, input kind) -> handler``. A missing
  row means the input is not valid in that state and raises TransactionStateError
  before anything changes; an input the RFC says to absorb has an explicit row
  pointing to ``_absorb``.
- Handlers only append actions and change state/timers, after any check that can
  raise (so a refused input leaves no trace); the public entry points
  (``_step``) check the clock, dispatch, fire the timers that are due, and hand the
  actions back. Timers due at the same instant fire in deadline, then letter, order.
- Time only moves forward: ``now`` smaller than the last one seen is a ValueError.
- Entering Terminated clears every timer and emits ``Terminated()``; nothing is ever
  emitted after it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from enum import Enum
from typing import TypeVar

from sipguard.sip.errors import TransactionStateError
from sipguard.sip.events import Action, Terminated, TimedOut, TransportFailed
from sipguard.sip.message import Request
from sipguard.sip.timers import Timer, TimerConfig, backoff, duration

__all__ = ["Input", "Kind", "State", "TransactionMachine", "response_input"]


class State(Enum):
    """Transaction states of RFC 3261 §17 and RFC 6026 (``IDLE``: a client not started)."""

    IDLE = "Idle"
    CALLING = "Calling"
    TRYING = "Trying"
    PROCEEDING = "Proceeding"
    COMPLETED = "Completed"
    CONFIRMED = "Confirmed"
    ACCEPTED = "Accepted"
    TERMINATED = "Terminated"


class Input(Enum):
    """Input kinds other than timers; responses are classed by status."""

    START = "start"
    PROVISIONAL = "1xx"
    SUCCESS = "2xx"
    FAILURE = "300-699"
    REQUEST = "request retransmission"
    ACK = "ACK"
    TRANSPORT_ERROR = "transport error"


Kind = Input | Timer


def response_input(status: int) -> Input:
    """The input kind of a response with ``status``."""
    if status < 200:
        return Input.PROVISIONAL
    if status < 300:
        return Input.SUCCESS
    return Input.FAILURE


_TIMER_ORDER = {timer: index for index, timer in enumerate(Timer)}

M = TypeVar("M", bound="TransactionMachine")
A = TypeVar("A")
Table = Mapping[tuple[State, Kind], Callable[[M, A, float], None]]


class TransactionMachine:
    """One transaction: its request, transport kind, timers and current state."""

    __slots__ = (
        "_clock",
        "_deadlines",
        "_intervals",
        "_out",
        "config",
        "reliable",
        "request",
        "state",
    )

    def __init__(
        self, request: Request, reliable: bool, config: TimerConfig, now: float, state: State
    ) -> None:
        self.request = request
        self.reliable = reliable
        self.config = config
        self.state = state
        self._clock = now
        self._deadlines: dict[Timer, float] = {}
        self._intervals: dict[Timer, float] = {}
        self._out: list[Action] = []

    @property
    def terminated(self) -> bool:
        """True once the transaction is over (it must then be forgotten)."""
        return self.state is State.TERMINATED

    def next_deadline(self) -> float | None:
        """When ``handle_timer`` must next be called; None when no timer is running."""
        return min(self._deadlines.values(), default=None)

    def handle_timer(self, now: float) -> list[Action]:
        """Fire every timer due at ``now``; return the actions to carry out.

        Raises:
            ValueError: when ``now`` is earlier than a time already given.
        """
        self._check_clock(now)
        self._clock = now
        self._fire_due(now)
        return self._drain()

    # -- dispatch ---------------------------------------------------------------------

    def _fire(self, timer: Timer, now: float) -> None:
        raise NotImplementedError

    def _step(self: M, table: Table[M, A], kind: Kind, arg: A, now: float) -> list[Action]:
        self._check_clock(now)
        self._lookup(table, kind)(self, arg, now)
        # Only now: an input refused (by the table or a handler's check) moves nothing.
        self._clock = now
        self._fire_due(now)
        return self._drain()

    def _run(self: M, table: Table[M, A], kind: Kind, arg: A, now: float) -> None:
        self._lookup(table, kind)(self, arg, now)

    def _lookup(self: M, table: Table[M, A], kind: Kind) -> Callable[[M, A, float], None]:
        handler = table.get((self.state, kind))
        if handler is None:
            name = kind.value if isinstance(kind, Input) else f"Timer {kind.value}"
            raise TransactionStateError(
                f"{type(self).__name__} in state {self.state.value} cannot take {name}"
            )
        return handler

    def _check_clock(self, now: float) -> None:
        if now < self._clock:
            raise ValueError(f"time went backwards: {now} after {self._clock}")

    def _fire_due(self, now: float) -> None:
        while self._deadlines:
            timer = min(self._deadlines, key=lambda t: (self._deadlines[t], _TIMER_ORDER[t]))
            if self._deadlines[timer] > now:
                return
            del self._deadlines[timer]
            self._fire(timer, now)

    def _drain(self) -> list[Action]:
        out, self._out = self._out, []
        return out

    # -- helpers for handlers ---------------------------------------------------------

    def _emit(self, action: Action) -> None:
        self._out.append(action)

    def _start_timer(self, timer: Timer, now: float, interval: float | None = None) -> None:
        """Arm ``timer`` for its Table 4 value (or ``interval``); not at all when unused."""
        if interval is None:
            interval = duration(timer, self.config, reliable=self.reliable)
        if interval is not None:
            self._deadlines[timer] = now + interval
            self._intervals[timer] = interval

    def _restart_backoff(self, timer: Timer, now: float) -> None:
        """Re-arm a retransmission timer with its next (doubled, maybe capped) interval."""
        self._start_timer(timer, now, backoff(timer, self._intervals[timer], self.config))

    def _stop_timers(self, *timers: Timer) -> None:
        for timer in timers:
            self._deadlines.pop(timer, None)

    def _terminate(self) -> None:
        self.state = State.TERMINATED
        self._deadlines.clear()
        self._emit(Terminated())

    # -- handlers every machine uses ----------------------------------------------------

    def _absorb(self, _arg: object, _now: float) -> None:
        """The RFC says to absorb this input: nothing happens."""

    def _end(self, _arg: object, _now: float) -> None:
        self._terminate()

    def _time_out(self, _arg: object, _now: float) -> None:
        self._emit(TimedOut())
        self._terminate()

    def _fail_transport(self, _arg: object, _now: float) -> None:
        # §17.1.4: the client transaction SHOULD inform the TU and go to Terminated.
        self._emit(TransportFailed())
        self._terminate()

    def _report_transport(self, _arg: object, _now: float) -> None:
        # RFC 6026 §8.8 (replacing §17.2.4): a server transaction SHOULD inform the TU
        # and MUST remain in its state, so retransmitted requests are still absorbed.
        self._emit(TransportFailed())
