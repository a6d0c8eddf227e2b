"""Timer values of RFC 3261 Table 4 and RFC 6026, and their configuration."""

from __future__ import annotations

import math

import pytest

from sipguard.sip.timers import (
    DEFAULT_TIMERS,
    Timer,
    TimerConfig,
    backoff,
    duration,
    non_invite_trying_delay,
)

UNRELIABLE = {
    Timer.A: 0.5,
    Timer.B: 32.0,
    Timer.C: 180.0,
    Timer.D: 32.0,
    Timer.E: 0.5,
    Timer.F: 32.0,
    Timer.G: 0.5,
    Timer.H: 32.0,
    Timer.I: 5.0,
    Timer.J: 32.0,
    Timer.K: 5.0,
    Timer.L: 32.0,
    Timer.M: 32.0,
    Timer.TRYING: 0.2,
}
RELIABLE = {
    **UNRELIABLE,
    Timer.A: None,
    Timer.D: 0.0,
    Timer.E: None,
    Timer.G: None,
    Timer.I: 0.0,
    Timer.J: 0.0,
    Timer.K: 0.0,
}


@pytest.mark.parametrize("timer", list(Timer))
def test_table_4_values(timer: Timer) -> None:
    assert duration(timer, DEFAULT_TIMERS, reliable=False) == UNRELIABLE[timer]
    assert duration(timer, DEFAULT_TIMERS, reliable=True) == RELIABLE[timer]


def test_timer_d_is_at_least_32_seconds_and_outlasts_timer_h() -> None:
    small = TimerConfig(t1=0.1)
    assert duration(Timer.D, small, reliable=False) == 32.0
    big = TimerConfig(t1=1.0)
    assert duration(Timer.D, big, reliable=False) == 64.0
    assert duration(Timer.B, big, reliable=True) == 64.0


def test_backoff() -> None:
    assert backoff(Timer.A, 8.0, DEFAULT_TIMERS) == 16.0  # no cap for INVITE requests
    assert backoff(Timer.E, 2.0, DEFAULT_TIMERS) == 4.0
    assert backoff(Timer.E, 4.0, DEFAULT_TIMERS) == 4.0
    assert backoff(Timer.G, 3.0, DEFAULT_TIMERS) == 4.0
    with pytest.raises(ValueError, match="Timer B"):
        backoff(Timer.B, 1.0, DEFAULT_TIMERS)


def test_non_invite_trying_delay_is_when_timer_e_reaches_t2() -> None:
    assert non_invite_trying_delay(DEFAULT_TIMERS) == 3.5
    assert non_invite_trying_delay(TimerConfig(t1=4.0, t2=4.0)) == 4.0
    assert non_invite_trying_delay(TimerConfig(t1=0.5, t2=5.0)) == 7.5


@pytest.mark.parametrize(
    "values",
    [{"t1": 0.0}, {"t2": -1.0}, {"t4": math.inf}, {"t1": math.nan}, {"t1": 5.0, "t2": 4.0}],
)
def test_config_refuses_non_positive_or_inconsistent_values(values: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=r"t1|t2|t4"):
        TimerConfig(**values)
