"""Token buckets: refill on read, burst cap, debts capped, LRU bound under a million keys."""

from __future__ import annotations

import itertools
import tracemalloc

import pytest

from sipguard.guard.buckets import TokenBuckets


def test_unknown_key_is_full() -> None:
    buckets = TokenBuckets(10)
    assert buckets.available("src:203.0.113.5", rate=2.0, burst=10.0, now=0.0) == 10.0


def test_refill_math() -> None:
    buckets = TokenBuckets(10)
    assert buckets.available("k", 2.0, 10.0, 0.0) == 10.0
    buckets.consume("k", 10.0, 0.0)
    assert buckets.available("k", 2.0, 10.0, 0.0) == 0.0
    assert buckets.available("k", 2.0, 10.0, 0.5) == pytest.approx(1.0)
    assert buckets.available("k", 2.0, 10.0, 1.0) == pytest.approx(2.0)
    buckets.consume("k", 1.5, 1.0)
    assert buckets.available("k", 2.0, 10.0, 1.0) == pytest.approx(0.5)
    assert buckets.available("k", 2.0, 10.0, 3.0) == pytest.approx(4.5)


def test_burst_caps_the_level_after_a_long_idle() -> None:
    buckets = TokenBuckets(10)
    buckets.available("k", 5.0, 3.0, 0.0)
    buckets.consume("k", 1.0, 0.0)
    assert buckets.available("k", 5.0, 3.0, 10_000.0) == 3.0


def test_consuming_while_empty_stays_empty_not_in_debt() -> None:
    buckets = TokenBuckets(10)
    buckets.available("k", 1.0, 4.0, 0.0)
    for _ in range(1000):
        buckets.consume("k", 1.0, 0.0)
    assert buckets.available("k", 1.0, 4.0, 0.0) == 0.0
    # Recovers at its rate once the flood stops, not after 1000 s.
    assert buckets.available("k", 1.0, 4.0, 2.0) == pytest.approx(2.0)


def test_consume_before_any_read_is_remembered() -> None:
    buckets = TokenBuckets(10)
    buckets.consume("k", 3.0, 0.0)
    assert buckets.available("k", 1.0, 10.0, 0.0) == pytest.approx(7.0)
    assert buckets.available("k", 1.0, 10.0, 1.0) == pytest.approx(8.0)


def test_clock_going_backwards_refills_nothing() -> None:
    buckets = TokenBuckets(10)
    buckets.available("k", 1.0, 5.0, 100.0)
    buckets.consume("k", 5.0, 100.0)
    assert buckets.available("k", 1.0, 5.0, 50.0) == 0.0
    assert buckets.available("k", 1.0, 5.0, 101.0) == pytest.approx(1.0)


def test_least_recently_used_key_is_evicted_and_comes_back_full() -> None:
    buckets = TokenBuckets(3)
    for key in ("a", "b", "c"):
        buckets.available(key, 1.0, 5.0, 0.0)
        buckets.consume(key, 5.0, 0.0)
    buckets.available("a", 1.0, 5.0, 0.0)  # a is now the most recently used
    buckets.consume("d", 1.0, 0.0)
    assert len(buckets) == 3
    assert buckets.available("a", 1.0, 5.0, 0.0) == 0.0  # kept, still empty
    assert buckets.available("c", 1.0, 5.0, 0.0) == 0.0
    assert buckets.available("b", 1.0, 5.0, 0.0) == 5.0  # evicted: full again


@pytest.mark.slow
def test_a_million_spoofed_keys_stay_within_the_cap() -> None:
    cap = 10_000
    buckets = TokenBuckets(cap)
    keys = (f"src:{1_000_000 + i}" for i in range(1_000_000))  # same length: same size
    tracemalloc.start()
    try:
        for key in itertools.islice(keys, 2 * cap):
            buckets.consume(key, 1.0, 0.0)
        settled, _ = tracemalloc.get_traced_memory()
        for key in keys:
            buckets.consume(key, 1.0, 0.0)
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(buckets) == cap
    # Measured: about 225 bytes a key (265 at the peak); once the dict has grown its table
    # for the churn, 980,000 more keys add nothing.
    assert peak < 400 * cap, peak
    assert after - settled < 16 * 1024, (settled, after)
    # The global key, read on every request, is never the least recently used.
    buckets.available("global", 100.0, 100.0, 0.0)
    buckets.consume("global", 1.0, 0.0)
    for i in range(cap * 3):
        buckets.consume(f"other:{i}", 1.0, 0.0)
        buckets.consume("global", 0.0, 0.0)
    assert buckets.available("global", 100.0, 100.0, 0.0) == 99.0


def test_max_keys_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_keys"):
        TokenBuckets(0)
