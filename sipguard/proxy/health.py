"""Health of one upstream target: a two-state machine fed by probe and transaction results.

Rules of this file:
- Sans-I/O: ``now`` is a parameter; nothing here reads a clock or sends anything.
- A target starts UP. A new process must route calls at once, before the first probe
  answers; a dead target is found by ``down_after`` failures (probes or real
  transactions), which the dispatcher's failover absorbs meanwhile. There is no third
  "unknown" state: it would route exactly like UP and only add rows to the table.
- Transitions are the table ``_TRANSITIONS``: (state, outcome) -> the state to take once
  the outcome's consecutive run reaches its threshold (FAILURE: ``down_after``,
  SUCCESS: ``up_after``). A change of state returns one event; no change returns None.
- Which answers count as failures is decided here, once (``response_failure``):
  no answer (timeout), a transport error, or a final status in the failure set
  (default 408 and 503). Any other response - 200, but also 404, 405, 407, 481, 500 -
  proves that a SIP server is alive and parsing requests (RFC 3261 §11.2: OPTIONS is
  answered like an INVITE would be, so a PBX that refuses it is still up). 503 says the
  server is overloaded or unavailable (RFC 3261 §21.5.4): it must get no new calls.

Theory of operation: the machine keeps the length of the current run of one outcome
(a success resets the failure run and vice versa). Hence, for any sequence of results,
the state is DOWN iff the last position at which the failure run reached ``down_after``
comes after the last position at which the success run reached ``up_after``
(``tests/proxy/test_health.py`` checks exactly that with hypothesis).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import Enum, StrEnum
from types import MappingProxyType
from typing import Generic, TypeAlias, TypeVar

__all__ = [
    "DEFAULT_FAILURE_STATUSES",
    "FailureReason",
    "Health",
    "HealthEvent",
    "Outcome",
    "TargetCameUp",
    "TargetHealth",
    "TargetWentDown",
    "response_failure",
]

T = TypeVar("T")

DEFAULT_FAILURE_STATUSES: tuple[int, ...] = (408, 503)
"""Statuses that count as a failed probe or transaction unless the caller says otherwise."""


class Health(Enum):
    """Whether a target gets new calls."""

    UP = "up"
    DOWN = "down"


class Outcome(Enum):
    """One result reported for a target."""

    SUCCESS = "success"
    FAILURE = "failure"


class FailureReason(StrEnum):
    """Why a result counted as a failure (carried by ``TargetWentDown`` for the audit)."""

    TIMEOUT = "timeout"
    """No answer: probe or transaction timer fired, or a 408."""
    UNAVAILABLE = "unavailable"
    """503 Service Unavailable: overloaded or out of service."""
    TRANSPORT_ERROR = "transport-error"
    """Connection refused or reset, ICMP unreachable, TLS failure."""
    ERROR_STATUS = "error-status"
    """Another status the operator listed as a failure."""
    FAILED = "failed"
    """A failure the caller did not classify."""


@dataclass(frozen=True, slots=True)
class TargetWentDown(Generic[T]):
    """``target`` stops getting new calls, because of ``reason``, at ``at``."""

    target: T
    reason: FailureReason
    at: float


@dataclass(frozen=True, slots=True)
class TargetCameUp(Generic[T]):
    """``target`` gets new calls again from ``at``."""

    target: T
    at: float


HealthEvent: TypeAlias = TargetWentDown[T] | TargetCameUp[T]

# (state, outcome) -> next state once the outcome's run reaches its threshold.
_TRANSITIONS: Mapping[tuple[Health, Outcome], Health] = MappingProxyType(
    {
        (Health.UP, Outcome.SUCCESS): Health.UP,
        (Health.UP, Outcome.FAILURE): Health.DOWN,
        (Health.DOWN, Outcome.SUCCESS): Health.UP,
        (Health.DOWN, Outcome.FAILURE): Health.DOWN,
    }
)


def response_failure(
    status: int, failure_statuses: Collection[int] = DEFAULT_FAILURE_STATUSES
) -> FailureReason | None:
    """The failure a response with ``status`` means, or None when it proves the target alive.

    Use it for probe answers and for final responses of forwarded transactions alike
    (pass ``DispatcherConfig.failover_statuses`` for the latter). A missing answer is not
    a status: report it as ``FailureReason.TIMEOUT`` or ``TRANSPORT_ERROR`` directly.
    """
    if status not in failure_statuses:
        return None
    if status == 408:
        return FailureReason.TIMEOUT
    if status == 503:
        return FailureReason.UNAVAILABLE
    return FailureReason.ERROR_STATUS


class TargetHealth(Generic[T]):
    """The health state of one target; ``T`` is whatever identifies it in events."""

    __slots__ = ("changed_at", "down_after", "failures", "state", "successes", "target", "up_after")

    def __init__(self, target: T, *, down_after: int, up_after: int) -> None:
        """Start UP with empty runs.

        Raises:
            ValueError: when a threshold is below 1.
        """
        if down_after < 1 or up_after < 1:
            raise ValueError(
                f"thresholds must be >= 1: down_after={down_after}, up_after={up_after}"
            )
        self.target = target
        self.down_after = down_after
        self.up_after = up_after
        self.state = Health.UP
        self.failures = 0
        """Length of the current run of failures (0 after a success)."""
        self.successes = 0
        """Length of the current run of successes (0 after a failure)."""
        self.changed_at: float | None = None
        """When the state last changed; None while it is the initial UP."""

    @property
    def is_up(self) -> bool:
        """True when the target gets new calls."""
        return self.state is Health.UP

    def record_failure(
        self, now: float, reason: FailureReason = FailureReason.FAILED
    ) -> HealthEvent[T] | None:
        """Count a failed probe or transaction; returns the event when the state changes."""
        self.failures += 1
        self.successes = 0
        return self._advance(Outcome.FAILURE, self.failures >= self.down_after, now, reason)

    def record_success(self, now: float) -> HealthEvent[T] | None:
        """Count an answered probe or transaction; returns the event when the state changes."""
        self.successes += 1
        self.failures = 0
        return self._advance(Outcome.SUCCESS, self.successes >= self.up_after, now, None)

    def _advance(
        self, outcome: Outcome, reached: bool, now: float, reason: FailureReason | None
    ) -> HealthEvent[T] | None:
        if not reached:
            return None
        new = _TRANSITIONS[(self.state, outcome)]
        if new is self.state:
            return None
        self.state = new
        self.changed_at = now
        if new is Health.UP:
            return TargetCameUp(self.target, now)
        return TargetWentDown(self.target, reason or FailureReason.FAILED, now)

    def __repr__(self) -> str:
        return (
            f"<TargetHealth {self.target!r} {self.state.value}"
            f" failures={self.failures} successes={self.successes}>"
        )
