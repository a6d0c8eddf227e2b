"""Transaction timers: the configuration (T1, T2, T4) and what each lettered timer lasts.

Rules of this file: values are seconds (floats); nothing here reads a clock. A
duration of ``None`` means the timer is not used over that kind of transport (the
retransmission timers over reliable ones); 0 means "fires at once" (the wait timers
over reliable transports).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum

__all__ = [
    "DEFAULT_TIMERS",
    "Timer",
    "TimerConfig",
    "backoff",
    "duration",
    "non_invite_trying_delay",
]

SECONDS = 1.0
MINUTES = 60 * SECONDS


@dataclass(frozen=True, slots=True)
class TimerConfig:
    """The base values of RFC 3261 §17.1.1.1 / Table 4; every other timer derives from them."""

    t1: float = 0.5 * SECONDS
    """RTT estimate: first retransmission interval; 64*T1 bounds a transaction."""
    t2: float = 4 * SECONDS
    """Cap on the retransmission interval of non-INVITE requests and INVITE responses."""
    t4: float = 5 * SECONDS
    """Maximum time a message stays in the network (Timers I and K over unreliable transports)."""
    trying_delay: float = 0.2 * SECONDS
    """How long an INVITE server transaction waits for the TU before sending its own
    100 (Trying) (RFC 3261 §17.2.1: "within 200 ms")."""
    timer_c: float = 3 * MINUTES
    """Proxy INVITE timeout (RFC 3261 §16.6 step 11: "greater than 3 minutes"); used by
    the proxy core, not by the transaction machines."""

    def __post_init__(self) -> None:
        for name in ("t1", "t2", "t4", "trying_delay", "timer_c"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"timer {name} must be a positive number of seconds: {value!r}")
        if self.t2 < self.t1:
            raise ValueError(f"timer t2 ({self.t2}) must not be shorter than t1 ({self.t1})")


DEFAULT_TIMERS = TimerConfig()


class Timer(Enum):
    """The lettered timers of RFC 3261 Table 4 and RFC 6026 §8.9, plus the 100 (Trying) one."""

    A = "A"  # INVITE request retransmission (client, unreliable)
    B = "B"  # INVITE transaction timeout (client)
    C = "C"  # proxy INVITE transaction timeout (§16.6)
    D = "D"  # wait for response retransmissions (client INVITE, Completed)
    E = "E"  # non-INVITE request retransmission (client, unreliable)
    F = "F"  # non-INVITE transaction timeout (client)
    G = "G"  # INVITE non-2xx response retransmission (server, unreliable)
    H = "H"  # wait for ACK receipt (server INVITE, Completed)
    I = "I"  # wait for ACK retransmissions (server INVITE, Confirmed)  # noqa: E741
    J = "J"  # wait for non-INVITE request retransmissions (server, Completed)
    K = "K"  # wait for response retransmissions (client non-INVITE, Completed)
    L = "L"  # wait for accepted INVITE request retransmissions (server, Accepted; RFC 6026)
    M = "M"  # wait for retransmissions of 2xx responses (client, Accepted; RFC 6026)
    TRYING = "100"  # send a 100 (Trying) when the TU has not answered (§17.2.1, RFC 4320 §4.1)


_Rule = Callable[[TimerConfig, bool], "float | None"]


def _unreliable(value: Callable[[TimerConfig], float], reliable: float | None) -> _Rule:
    return lambda config, is_reliable: reliable if is_reliable else value(config)


def _always(value: Callable[[TimerConfig], float]) -> _Rule:
    return lambda config, _is_reliable: value(config)


def _64t1(config: TimerConfig) -> float:
    return 64 * config.t1


# RFC 3261 Table 4 (the "reliable" column is the value over TCP/TLS/SCTP/WS) and
# RFC 6026 §8.9 for L and M.
_DURATIONS: dict[Timer, _Rule] = {
    Timer.A: _unreliable(lambda c: c.t1, None),
    Timer.B: _always(_64t1),
    Timer.C: _always(lambda c: c.timer_c),
    # "at least 32 seconds" (§17.1.1.2): long enough to outlast the server's Timer H.
    Timer.D: _unreliable(lambda c: max(32 * SECONDS, 64 * c.t1), 0.0),
    Timer.E: _unreliable(lambda c: c.t1, None),
    Timer.F: _always(_64t1),
    Timer.G: _unreliable(lambda c: c.t1, None),
    Timer.H: _always(_64t1),
    Timer.I: _unreliable(lambda c: c.t4, 0.0),
    Timer.J: _unreliable(_64t1, 0.0),
    Timer.K: _unreliable(lambda c: c.t4, 0.0),
    Timer.L: _always(_64t1),
    Timer.M: _always(_64t1),
    Timer.TRYING: _always(lambda c: c.trying_delay),
}


def duration(timer: Timer, config: TimerConfig, *, reliable: bool) -> float | None:
    """The initial value of ``timer`` in seconds; None when it is not used over the transport.

    ``Timer.TRYING`` is the INVITE server's 200 ms; see ``non_invite_trying_delay`` for
    the non-INVITE server's.
    """
    return _DURATIONS[timer](config, reliable)


def backoff(timer: Timer, interval: float, config: TimerConfig) -> float:
    """The next interval of a retransmission timer that just fired after ``interval``.

    Raises:
        ValueError: for a timer that is not a retransmission timer (A, E, G).
    """
    if timer is Timer.A:
        # §17.1.1.2: Timer A is reset to 2*interval, with no cap (Timer B ends it).
        return 2 * interval
    if timer in (Timer.E, Timer.G):
        # §17.1.2.2 / §17.2.1: doubled, up to T2.
        return min(2 * interval, config.t2)
    raise ValueError(f"Timer {timer.value} is not a retransmission timer")


def non_invite_trying_delay(config: TimerConfig) -> float:
    """When a non-INVITE server must send a 100 (Trying) if it has not answered yet.

    RFC 4320 §4.1: the time it takes the client's Timer E to be reset to T2 (3.5 s with
    the defaults: E fires at T1, 3*T1 and 7*T1, and is then reset to T2).
    """
    elapsed, interval = 0.0, config.t1
    while True:
        elapsed += interval
        interval = backoff(Timer.E, interval, config)
        if interval >= config.t2:
            return elapsed
