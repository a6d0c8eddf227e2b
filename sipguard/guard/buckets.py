"""Where rate counts live: a bounded table of token buckets keyed by string.

Rules of this file:
- Time is a parameter; nothing here reads a clock and no timer refills a bucket. A
  bucket is refilled when it is read: its level is a function of the last level, the
  time since, and its rate.
- A bucket is stored as its *deficit* (tokens taken and not yet refilled) rather than its
  level, so ``consume`` works without knowing the burst and an unknown key is simply
  full. ``available`` refreshes the deficit to ``now`` and remembers the rate and burst
  the key was read with, which ``consume`` then decays by. That write changes nothing any
  reader can see (refill only depends on time), so a stage calling ``available`` is
  still pure in effect.
- The deficit never exceeds the burst: a key that keeps consuming while empty (the pike
  counter during a flood) stays empty, and recovers at its rate once the flood stops,
  instead of owing an unbounded debt.
- The table is bounded: at ``max_keys`` the least recently used key is evicted.

Why evicting is safe: an evicted key comes back full, so eviction can only make a limit
more lenient for that key, never stricter; nobody is refused or banned because of it.
An attacker rotating through spoofed keys to push honest counters out gains, at most,
a fresh burst for the keys it evicts, and every request it sends still counts toward
the ``global`` key, which is read on every request and so is never least recently
used: the overload limit holds whatever the key churn.
"""

from __future__ import annotations

from collections import OrderedDict

__all__ = ["TokenBuckets"]


class _Bucket:
    """One key's state (mutable, private: the table changes it in place)."""

    __slots__ = ("burst", "deficit", "rate", "stamp")

    def __init__(self, deficit: float, stamp: float, rate: float, burst: float) -> None:
        self.deficit = deficit
        """Tokens taken and not yet refilled, at ``stamp``; 0 is a full bucket."""
        self.stamp = stamp
        self.rate = rate
        """Tokens per second, as last read (0 until the key is read)."""
        self.burst = burst
        """Bucket size, as last read (0 until the key is read: no cap yet)."""

    def refill(self, now: float) -> None:
        elapsed = now - self.stamp
        if elapsed > 0:  # a clock that went backwards refills nothing
            self.deficit = max(0.0, self.deficit - elapsed * self.rate)
            self.stamp = now


class TokenBuckets:
    """Token buckets by key, at most ``max_keys`` of them (the ``Rates`` protocol)."""

    __slots__ = ("_buckets", "_max_keys")

    def __init__(self, max_keys: int) -> None:
        if max_keys < 1:
            raise ValueError("max_keys must be at least 1")
        self._max_keys = max_keys
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    @property
    def max_keys(self) -> int:
        """The cap on the number of keys held."""
        return self._max_keys

    def available(self, key: str, rate: float, burst: float, now: float) -> float:
        """Tokens ``key`` holds at ``now``, refilling at ``rate``/s up to ``burst``.

        An unknown (or evicted) key is full: returns ``burst``.
        """
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._insert(key, _Bucket(0.0, now, rate, burst))
        else:
            self._buckets.move_to_end(key)
            bucket.rate = rate
            bucket.burst = burst
            bucket.refill(now)
            bucket.deficit = min(bucket.deficit, burst)
        return burst - bucket.deficit

    def consume(self, key: str, tokens: float, now: float) -> None:
        """Take ``tokens`` from ``key`` (an empty bucket stays empty, not negative)."""
        bucket = self._buckets.get(key)
        if bucket is None:
            # Never read: its rate and burst are unknown until the first read, so it
            # records the debt and refills from that read on.
            self._insert(key, _Bucket(tokens, now, 0.0, 0.0))
            return
        self._buckets.move_to_end(key)
        bucket.refill(now)
        bucket.deficit += tokens
        if bucket.burst > 0:
            bucket.deficit = min(bucket.deficit, bucket.burst)

    def _insert(self, key: str, bucket: _Bucket) -> _Bucket:
        while len(self._buckets) >= self._max_keys:
            self._buckets.popitem(last=False)
        self._buckets[key] = bucket
        return bucket
