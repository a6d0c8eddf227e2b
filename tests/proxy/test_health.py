"""The per-target health machine: every transition, its events, and the run invariant."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sipguard.proxy.health import (
    DEFAULT_FAILURE_STATUSES,
    FailureReason,
    Health,
    HealthEvent,
    TargetCameUp,
    TargetHealth,
    TargetWentDown,
    response_failure,
)

SETTINGS = settings(max_examples=200, deadline=None)

OK = True
FAIL = False


def feed(health: TargetHealth[str], results: list[bool], start: float = 0.0) -> None:
    for i, ok in enumerate(results):
        if ok:
            health.record_success(start + i)
        else:
            health.record_failure(start + i, FailureReason.TIMEOUT)


@dataclass(frozen=True)
class Row:
    """From the state reached by ``history``, one more result gives ``state`` and ``event``."""

    name: str
    history: list[bool]
    ok: bool
    state: Health
    event: type[TargetWentDown[str]] | type[TargetCameUp[str]] | None


# down_after=2, up_after=2 throughout, so every row exercises a run below and at threshold.
ROWS = [
    Row("up, first failure: below threshold", [], FAIL, Health.UP, None),
    Row("up, second failure: goes down", [FAIL], FAIL, Health.DOWN, TargetWentDown),
    Row("up, success: stays up", [], OK, Health.UP, None),
    Row("up, success breaks the failure run", [FAIL, OK], FAIL, Health.UP, None),
    Row("up, long success run: stays up", [OK, OK, OK], OK, Health.UP, None),
    Row("down, failure: stays down", [FAIL, FAIL], FAIL, Health.DOWN, None),
    Row("down, first success: below threshold", [FAIL, FAIL], OK, Health.DOWN, None),
    Row("down, second success: comes up", [FAIL, FAIL, OK], OK, Health.UP, TargetCameUp),
    Row("down, failure breaks the success run", [FAIL, FAIL, OK, FAIL], OK, Health.DOWN, None),
    Row(
        "down again after coming up", [FAIL, FAIL, OK, OK, FAIL], FAIL, Health.DOWN, TargetWentDown
    ),
]


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
def test_transition_table(row: Row) -> None:
    health = TargetHealth("pbx", down_after=2, up_after=2)
    feed(health, row.history)
    now = 100.0
    if row.ok:
        event = health.record_success(now)
    else:
        event = health.record_failure(now, FailureReason.UNAVAILABLE)
    assert health.state is row.state
    assert health.is_up is (row.state is Health.UP)
    if row.event is None:
        assert event is None
    elif row.event is TargetWentDown:
        assert event == TargetWentDown("pbx", FailureReason.UNAVAILABLE, now)
        assert health.changed_at == now
    else:
        assert event == TargetCameUp("pbx", now)
        assert health.changed_at == now


def test_starts_up_so_a_new_process_routes_at_once() -> None:
    health = TargetHealth("pbx", down_after=3, up_after=1)
    assert health.state is Health.UP
    assert health.changed_at is None
    assert (health.failures, health.successes) == (0, 0)


def test_thresholds_of_one_flip_on_every_change_of_outcome() -> None:
    health = TargetHealth("pbx", down_after=1, up_after=1)
    assert health.record_failure(1.0) == TargetWentDown("pbx", FailureReason.FAILED, 1.0)
    assert health.record_success(2.0) == TargetCameUp("pbx", 2.0)
    assert health.record_success(3.0) is None
    assert health.changed_at == 2.0


@pytest.mark.parametrize(("down_after", "up_after"), [(0, 1), (1, 0), (-1, 2)])
def test_thresholds_below_one_are_refused(down_after: int, up_after: int) -> None:
    with pytest.raises(ValueError, match="thresholds"):
        TargetHealth("pbx", down_after=down_after, up_after=up_after)


@pytest.mark.parametrize("status", [100, 180, 200, 404, 405, 407, 481, 486, 500, 504, 603])
def test_any_other_answer_proves_the_target_alive(status: int) -> None:
    assert response_failure(status) is None


@pytest.mark.parametrize(
    ("status", "reason"), [(408, FailureReason.TIMEOUT), (503, FailureReason.UNAVAILABLE)]
)
def test_408_and_503_are_failures_by_default(status: int, reason: FailureReason) -> None:
    assert status in DEFAULT_FAILURE_STATUSES
    assert response_failure(status) is reason


def test_the_failure_set_is_the_callers() -> None:
    assert response_failure(500, (500, 503)) is FailureReason.ERROR_STATUS
    assert response_failure(503, (500,)) is None
    assert response_failure(408, ()) is None


# -- property: the state follows from the runs alone --------------------------------------


def expected_state(results: list[bool], down_after: int, up_after: int) -> Health:
    """DOWN iff the last point where the failure run reached ``down_after`` comes after the
    last point where the success run reached ``up_after`` (UP when neither happened)."""
    last_down = last_up = -1
    fail_run = ok_run = 0
    for i, ok in enumerate(results):
        ok_run, fail_run = (ok_run + 1, 0) if ok else (0, fail_run + 1)
        if fail_run >= down_after:
            last_down = i
        if ok_run >= up_after:
            last_up = i
    return Health.DOWN if last_down > last_up else Health.UP


@SETTINGS
@given(
    results=st.lists(st.booleans(), max_size=40),
    down_after=st.integers(1, 4),
    up_after=st.integers(1, 4),
)
def test_state_and_events_follow_the_runs(
    results: list[bool], down_after: int, up_after: int
) -> None:
    health = TargetHealth("pbx", down_after=down_after, up_after=up_after)
    events: list[HealthEvent[str]] = []
    for i, ok in enumerate(results):
        before = health.state
        event = health.record_success(i) if ok else health.record_failure(i)
        assert health.state is expected_state(results[: i + 1], down_after, up_after)
        # An event exactly when the state changes, of the matching kind and time.
        if health.state is before:
            assert event is None
        elif health.state is Health.DOWN:
            assert event == TargetWentDown("pbx", FailureReason.FAILED, float(i))
        else:
            assert event == TargetCameUp("pbx", float(i))
        if event is not None:
            events.append(event)
    # Events alternate down, up, down... starting with down (the machine starts UP).
    kinds = [type(e) for e in events]
    assert kinds == [TargetWentDown if n % 2 == 0 else TargetCameUp for n in range(len(kinds))]
