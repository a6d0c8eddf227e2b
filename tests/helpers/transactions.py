"""Driving transaction machines in virtual time: a fake clock, the timer loop, messages.

``run_timers`` plays the edge: it asks the machine for its next deadline, moves the
clock there and fires, until nothing is left (or ``until``), with a loop guard.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sipguard.sip.events import Action, Transmit
from sipguard.sip.message import Request, Response
from sipguard.sip.transaction_base import TransactionMachine
from tests.helpers.sipmsg import Headers, parse_request, parse_response, request, response

MAX_FIRES = 1_000


@dataclass
class FakeClock:
    """Virtual time in seconds; only moves forward."""

    now: float = 0.0

    def advance(self, seconds: float) -> float:
        assert seconds >= 0, "time never goes backwards"
        self.now += seconds
        return self.now

    def to(self, when: float) -> float:
        assert when >= self.now, "time never goes backwards"
        self.now = when
        return self.now


@dataclass
class Timeline:
    """Every action a machine returned, with the time it was returned at."""

    entries: list[tuple[float, Action]] = field(default_factory=list)

    def add(self, now: float, actions: Sequence[Action]) -> list[Action]:
        self.entries.extend((now, a) for a in actions)
        return list(actions)

    def times(self, kind: type[Action]) -> list[float]:
        return [t for t, a in self.entries if isinstance(a, kind)]

    def sent(self) -> list[tuple[float, Request | Response]]:
        return [(t, a.message) for t, a in self.entries if isinstance(a, Transmit)]

    def actions(self) -> list[Action]:
        return [a for _, a in self.entries]


def run_timers(
    machine: TransactionMachine,
    clock: FakeClock,
    timeline: Timeline | None = None,
    *,
    until: float | None = None,
) -> Timeline:
    """Fire the machine's timers in order until none is left or the next is after ``until``."""
    timeline = timeline if timeline is not None else Timeline()
    for _ in range(MAX_FIRES):
        deadline = machine.next_deadline()
        if deadline is None or (until is not None and deadline > until):
            if until is not None:
                clock.to(max(clock.now, until))
            return timeline
        timeline.add(clock.to(deadline), machine.handle_timer(clock.now))
    raise AssertionError("Too many timer fires!")


def make_request(method: str = "INVITE", headers: Headers | None = None) -> Request:
    """A parsed request with the default headers of tests.helpers.sipmsg."""
    return parse_request(request(method, headers=headers))


def make_response(status: int, method: str = "INVITE", headers: Headers | None = None) -> Response:
    """A parsed response to the default request of ``method``."""
    return parse_response(response(status, "Reason", headers, method=method))
