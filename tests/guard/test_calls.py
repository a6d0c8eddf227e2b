"""The calls-in-progress table: counting, ending, expiry in virtual time, the memory cap."""

from __future__ import annotations

import pytest

from sipguard.guard.calls import CallTable


def test_calls_count_per_user_until_they_end() -> None:
    table = CallTable()
    table.start("c1", "alice", 0.0)
    table.start("c2", "alice", 1.0)
    table.start("c3", "bob", 1.0)
    assert (table.active("alice", 2.0), table.active("bob", 2.0)) == (2, 1)
    table.end("c1")
    table.end("unknown")  # ignored
    assert table.active("alice", 2.0) == 1
    assert table.active("carol", 2.0) == 0


def test_a_repeated_start_counts_once() -> None:
    # The INVITE sent again with credentials after a 407 has the same Call-ID.
    table = CallTable()
    table.start("c1", "alice", 0.0)
    table.start("c1", "alice", 0.5)
    assert table.active("alice", 1.0) == 1
    assert len(table) == 1


def test_an_unanswered_call_stops_counting_after_the_ring_time() -> None:
    table = CallTable(ring_seconds=180.0, max_call_seconds=3600.0)
    table.start("c1", "alice", 0.0)
    assert table.active("alice", 179.0) == 1
    assert table.active("alice", 180.0) == 0
    assert len(table) == 0


def test_an_answered_call_counts_up_to_the_longest_call() -> None:
    table = CallTable(ring_seconds=180.0, max_call_seconds=3600.0)
    table.start("c1", "alice", 0.0)
    table.answered("c1", 10.0)
    table.answered("unknown", 10.0)  # ignored
    assert table.active("alice", 3000.0) == 1
    assert table.active("alice", 3610.0) == 0


def test_the_table_never_holds_more_than_its_cap() -> None:
    table = CallTable(max_calls=100)
    for i in range(10_000):
        table.start(f"c{i}", f"user{i % 7}", float(i))
    assert len(table) == 100
    assert sum(table.active(f"user{u}", 10_000.0) for u in range(7)) == 100
    table.start("new", "user0", 10_000.0)
    assert len(table) == 100  # the oldest went


@pytest.mark.parametrize(
    "kwargs", [{"ring_seconds": 0.0}, {"max_call_seconds": -1.0}, {"max_calls": 0}]
)
def test_bad_limits_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="max_calls"):
        CallTable(**kwargs)  # type: ignore[arg-type]
