"""Invariant: every (transaction state, input) gives a valid next state or the typed error.

For each of the four machines, over UDP and TCP, any sequence of inputs at non-decreasing
times (responses of every class, retransmitted requests, ACKs, TU responses, timer fires
at random or at the announced deadline, transport errors):
- a call returns actions or raises TransactionStateError, and a raise changes nothing;
- the state is one the machine can be in; no deadline is left in the past;
- ``Terminated`` is emitted once, last, and afterwards nothing is emitted and
  ``next_deadline()`` is None;
- messages go where they should (clients transmit their request or an ACK, servers
  transmit responses; TUs get only what their side can deliver);
- fired long enough, and given the answer a waiting state waits for, every
  transaction terminates within a bounded virtual time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache

from hypothesis import event, given, settings
from hypothesis import strategies as st

from sipguard.sip.errors import TransactionStateError
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
    ClientTransaction,
    InviteClientTransaction,
    InviteServerTransaction,
    NonInviteClientTransaction,
    NonInviteServerTransaction,
    ServerTransaction,
    State,
    TransactionMachine,
)
from tests.helpers.sipmsg import TO
from tests.helpers.transactions import make_request, make_response

SETTINGS = settings(max_examples=200, deadline=None)
MAX_FIRES = 1_000

Factory = Callable[[Request, bool, TimerConfig, float], TransactionMachine]
MACHINES: dict[str, tuple[Factory, str]] = {
    "invite-client": (InviteClientTransaction, "INVITE"),
    "non-invite-client": (NonInviteClientTransaction, "OPTIONS"),
    "invite-server": (InviteServerTransaction, "INVITE"),
    "non-invite-server": (NonInviteServerTransaction, "OPTIONS"),
}
STATES: dict[type[TransactionMachine], set[State]] = {
    InviteClientTransaction: {
        State.IDLE,
        State.CALLING,
        State.PROCEEDING,
        State.COMPLETED,
        State.ACCEPTED,
        State.TERMINATED,
    },
    NonInviteClientTransaction: {
        State.IDLE,
        State.TRYING,
        State.PROCEEDING,
        State.COMPLETED,
        State.TERMINATED,
    },
    InviteServerTransaction: {
        State.PROCEEDING,
        State.COMPLETED,
        State.CONFIRMED,
        State.ACCEPTED,
        State.TERMINATED,
    },
    NonInviteServerTransaction: {
        State.TRYING,
        State.PROCEEDING,
        State.COMPLETED,
        State.TERMINATED,
    },
}
CONFIGS = [TimerConfig(), TimerConfig(t1=0.1, t2=0.4, t4=0.3), TimerConfig(t1=2.0, t2=2.0)]
STATUSES = st.sampled_from([100, 180, 183, 199, 200, 202, 300, 302, 404, 408, 486, 487, 503, 603])
# Mostly short steps, so that states between the first input and a timeout are visited.
DELAYS = st.one_of(st.just(0.0), st.floats(0.0, 0.3), st.floats(0.0, 3.0), st.floats(0.0, 80.0))

Step = tuple[float, str, int]


@cache
def request_for(method: str) -> Request:
    return make_request(method, {"To": f"{TO};tag=uas"} if method == "ACK" else None)


@cache
def response_for(status: int, method: str) -> Response:
    return make_response(status, method, {"To": f"{TO};tag=uas"})


@st.composite
def steps_for(draw: st.DrawFn, name: str) -> list[Step]:
    client = name.endswith("client")
    side = ["response", "response", "start"] if client else ["request", "ack", "tu", "tu"]
    op = st.sampled_from([*side, "timer", "deadline", "transport-error"])
    steps = draw(st.lists(st.tuples(DELAYS, op, STATUSES), max_size=30))
    if client and draw(st.booleans()):
        steps.insert(0, (0.0, "start", 0))  # most runs start; some get inputs first
    return steps


@dataclass
class Run:
    """A machine, its clock, and everything it emitted."""

    machine: TransactionMachine
    now: float = 0.0
    emitted: list[Action] = field(default_factory=list)
    terminated_at: float | None = None

    def call(self, op: str, status: int) -> None:
        machine = self.machine
        method = machine.request.method
        calls: dict[str, Callable[[], list[Action]]] = {
            "timer": lambda: machine.handle_timer(self.now),
        }
        if isinstance(machine, ClientTransaction | ServerTransaction):
            calls["transport-error"] = lambda: machine.transport_error(self.now)
        if isinstance(machine, ClientTransaction):
            calls["start"] = lambda: machine.start(self.now)
            calls["response"] = lambda: machine.receive_response(
                response_for(status, method), self.now
            )
        elif isinstance(machine, ServerTransaction):
            calls["request"] = lambda: machine.receive_request(request_for(method), self.now)
            calls["ack"] = lambda: machine.receive_request(request_for("ACK"), self.now)
            calls["tu"] = lambda: machine.send_response(response_for(status, method), self.now)
        self.apply(calls[op])

    def apply(self, call: Callable[[], list[Action]]) -> None:
        machine = self.machine
        before = (machine.state, machine.next_deadline())
        try:
            actions = call()
        except TransactionStateError:
            assert (machine.state, machine.next_deadline()) == before, "a raise changed state"
            return
        self.check(actions)
        event(f"{type(machine).__name__}: {before[0].value} -> {machine.state.value}")

    def check(self, actions: list[Action]) -> None:
        machine = self.machine
        assert machine.state in STATES[type(machine)]
        if self.terminated_at is not None:
            assert actions == [], "emitted after Terminated"
        ends = [i for i, a in enumerate(actions) if isinstance(a, Terminated)]
        assert ends in ([], [len(actions) - 1]), actions
        if ends:
            self.terminated_at = self.now
        assert machine.terminated == (self.terminated_at is not None)
        deadline = machine.next_deadline()
        if machine.terminated:
            assert deadline is None
        else:
            assert deadline is None or deadline > self.now, (deadline, self.now)
        for action in actions:
            check_action(machine, action, actions)
        self.emitted.extend(actions)


def check_action(machine: TransactionMachine, action: Action, actions: list[Action]) -> None:
    client = isinstance(machine, ClientTransaction)
    if isinstance(action, Transmit):
        message = action.message
        if client:
            assert message is machine.request or (
                isinstance(message, Request) and message.method == "ACK"
            )
        else:
            assert isinstance(message, Response)
    elif isinstance(action, DeliverResponse):
        assert client
    elif isinstance(action, DeliverRequest):
        assert isinstance(machine, InviteServerTransaction)
        assert action.request.method == "ACK"
    elif isinstance(action, TimedOut) or (isinstance(action, TransportFailed) and client):
        assert isinstance(actions[-1], Terminated)


def finish(run: Run) -> None:
    """Fire timers; when none runs, give the answer the state waits for; repeat."""
    machine = run.machine
    answers: dict[State, tuple[str, int]] = {
        State.IDLE: ("start", 0),
        State.PROCEEDING: ("response" if isinstance(machine, ClientTransaction) else "tu", 486),
        State.TRYING: ("tu", 200),
    }
    for _ in range(MAX_FIRES):
        if machine.terminated:
            return
        deadline = machine.next_deadline()
        if deadline is None:
            op, status = answers[machine.state]
            run.call(op, status)
            continue
        run.now = max(run.now, deadline)  # overdue when the last input was refused
        run.apply(lambda: machine.handle_timer(run.now))
    raise AssertionError("Too many timer fires!")


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[Run, list[Step]]:
    name = draw(st.sampled_from(sorted(MACHINES)))
    cls, method = MACHINES[name]
    config = draw(st.sampled_from(CONFIGS))
    machine = cls(request_for(method), draw(st.booleans()), config, 0.0)
    return Run(machine), draw(steps_for(name))


@SETTINGS
@given(scenarios())
def test_every_input_gives_a_valid_state_or_the_typed_error(
    scenario: tuple[Run, list[Step]],
) -> None:
    run, steps = scenario
    machine = run.machine
    for delay, op, status in steps:
        run.now += delay
        deadline = machine.next_deadline()
        if op == "deadline" and deadline is not None:
            run.now = max(run.now, deadline)
        run.call("timer" if op == "deadline" else op, status)
    last_input = run.now
    finish(run)
    assert machine.terminated
    assert machine.next_deadline() is None
    assert sum(isinstance(a, Terminated) for a in run.emitted) == 1
    config = machine.config
    assert run.terminated_at is not None
    assert run.terminated_at - last_input <= 64 * config.t1 + 32 + config.t4 + 4
    for op in ("timer", "transport-error", "start", "response", "request", "ack", "tu"):
        if op in ("start", "response") and not isinstance(machine, ClientTransaction):
            continue
        if op in ("request", "ack", "tu") and isinstance(machine, ClientTransaction):
            continue
        run.now += 1.0
        run.call(op, 200)
    assert machine.next_deadline() is None
