"""SightingTable: distinct things per source in a sliding window, in bounded memory."""

from __future__ import annotations

import pytest

from sipguard.guard import Sightings
from sipguard.guard.sightings import SightingTable


def test_counts_distinct_things_not_repeats() -> None:
    table = SightingTable(window=60.0, max_sources=10, max_per_source=10)
    for what in ("100", "101", "100", "102", "101"):
        table.see("203.0.113.5", what, now=1.0)
    assert table.distinct("203.0.113.5", now=1.0) == 3
    assert table.distinct("198.51.100.7", now=1.0) == 0


def test_sources_are_counted_apart() -> None:
    table = SightingTable(window=60.0, max_sources=10, max_per_source=10)
    table.see("203.0.113.5", "100", now=1.0)
    table.see("198.51.100.7", "101", now=1.0)
    table.see("198.51.100.7", "102", now=1.0)
    assert table.distinct("203.0.113.5", now=1.0) == 1
    assert table.distinct("198.51.100.7", now=1.0) == 2


def test_window_slides_in_virtual_time() -> None:
    table = SightingTable(window=10.0, max_sources=10, max_per_source=10)
    table.see("203.0.113.5", "100", now=0.0)
    table.see("203.0.113.5", "101", now=5.0)
    assert table.distinct("203.0.113.5", now=9.9) == 2
    assert table.distinct("203.0.113.5", now=10.0) == 1  # "100" left the window
    assert table.distinct("203.0.113.5", now=15.0) == 0


def test_seeing_again_refreshes_the_time() -> None:
    table = SightingTable(window=10.0, max_sources=10, max_per_source=10)
    table.see("203.0.113.5", "100", now=0.0)
    table.see("203.0.113.5", "101", now=1.0)
    table.see("203.0.113.5", "100", now=8.0)
    assert table.distinct("203.0.113.5", now=12.0) == 1  # "101" expired, "100" did not


def test_distinct_does_not_change_the_table() -> None:
    table = SightingTable(window=10.0, max_sources=10, max_per_source=10)
    table.see("203.0.113.5", "100", now=0.0)
    assert table.distinct("203.0.113.5", now=50.0) == 0
    assert table.entries() == 1  # only ``see`` frees expired entries


def test_per_source_cap_forgets_the_oldest() -> None:
    table = SightingTable(window=60.0, max_sources=10, max_per_source=3)
    for i in range(10):
        table.see("203.0.113.5", str(i), now=float(i))
    assert table.distinct("203.0.113.5", now=10.0) == 3
    assert table.entries() == 3


def test_source_cap_forgets_the_least_recently_seen() -> None:
    table = SightingTable(window=60.0, max_sources=2, max_per_source=5)
    table.see("a", "1", now=0.0)
    table.see("b", "1", now=1.0)
    table.see("a", "2", now=2.0)  # "a" is now the most recent
    table.see("c", "1", now=3.0)  # evicts "b"
    assert len(table) == 2
    assert table.distinct("a", now=3.0) == 2
    assert table.distinct("b", now=3.0) == 0
    assert table.distinct("c", now=3.0) == 1


def test_a_million_spoofed_sources_stay_within_the_cap() -> None:
    table = SightingTable(window=60.0, max_sources=1000, max_per_source=4)
    see = table.see
    for i in range(1_000_000):
        see(f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}:{i}", "100", 1.0)
    assert len(table) == 1000
    assert table.entries() == 1000
    # The most recent ones are the ones kept.
    assert table.distinct("10.15.66.63:999999", now=1.0) == 1


@pytest.mark.parametrize(
    ("window", "sources", "per_source"), [(0.0, 1, 1), (1.0, 0, 1), (1.0, 1, 0)]
)
def test_bad_bounds_are_refused(window: float, sources: int, per_source: int) -> None:
    with pytest.raises(ValueError, match="must be"):
        SightingTable(window, sources, per_source)


def test_satisfies_the_sightings_protocol() -> None:
    table: Sightings = SightingTable(window=1.0, max_sources=1, max_per_source=1)
    table.see("a", "b", 0.0)
    assert table.distinct("a", 0.5) == 1
