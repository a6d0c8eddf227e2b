"""The proxy core's one timer heap: when each transaction or branch next needs waking.

Rules of this file: no clock reads; ``now`` is a parameter. An owner is armed at most
once at a time: re-arming leaves its old heap entry behind as stale, and an entry
counts only while it matches the owner's armed deadline (lazy deletion, no heap
surgery). Ties break on a sequence number drawn from the caller's counter, so owners
are never compared.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Generic, Protocol, TypeVar

__all__ = ["Deadlines", "Wakeable"]


class Wakeable(Protocol):
    """Anything that can say when it next needs waking."""

    def next_deadline(self) -> float | None: ...


OwnerT = TypeVar("OwnerT", bound=Wakeable)


class Deadlines(Generic[OwnerT]):
    """A heap of (deadline, sequence, owner) with at most one live entry per owner."""

    def __init__(self, sequence: Iterator[int]) -> None:
        self._sequence = sequence
        self._heap: list[tuple[float, int, OwnerT]] = []
        self._armed: dict[int, float] = {}

    def arm(self, owner: OwnerT) -> None:
        """Track ``owner``'s current deadline (none: forget it)."""
        deadline = owner.next_deadline()
        key = id(owner)
        if deadline is None:
            self._armed.pop(key, None)
        elif self._armed.get(key) != deadline:
            self._armed[key] = deadline
            heapq.heappush(self._heap, (deadline, next(self._sequence), owner))

    def disarm(self, owner: OwnerT) -> None:
        """Forget ``owner``: its heap entries turn stale."""
        self._armed.pop(id(owner), None)

    def next_deadline(self) -> float | None:
        """The earliest live deadline; None when no timer runs."""
        while self._heap:
            deadline, _, owner = self._heap[0]
            if self._armed.get(id(owner)) == deadline:
                return deadline
            heapq.heappop(self._heap)  # stale entry
        return None

    def pop_due(self, now: float) -> OwnerT | None:
        """The next owner whose live deadline is at or before ``now``, disarmed; None
        when no more are due. Call again after handling it: handling may arm more."""
        while self._heap and self._heap[0][0] <= now:
            deadline, _, owner = heapq.heappop(self._heap)
            if self._armed.get(id(owner)) != deadline:
                continue
            del self._armed[id(owner)]
            return owner
        return None
