"""Calls in progress per user, for the toll-fraud stage's concurrent-call cap.

A call counts from its admitted INVITE until it ends: a final non-2xx answer or a BYE,
which the engine reports. A call whose end is never seen (a lost BYE, a UA that died)
stops counting when its time runs out: ``ring_seconds`` after the INVITE if it was
never answered, ``max_call_seconds`` after the 2xx if it was. A user can therefore not
be locked out for good by calls we failed to see end.

Rules of this file: bounded in memory whatever the input (at most ``max_calls`` calls;
the oldest is forgotten first); no clock (``now`` is a parameter); the ``Calls``
protocol of ``state.py``, so a shared backend (Redis) can replace it.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

__all__ = ["CallTable"]


@dataclass(slots=True)
class _Call:
    user: str
    deadline: float


class CallTable:
    """Calls by Call-ID and by user, each with the time it stops counting."""

    __slots__ = ("_by_user", "_calls", "max_call_seconds", "max_calls", "ring_seconds")

    def __init__(
        self,
        *,
        ring_seconds: float = 180.0,
        max_call_seconds: float = 10_800.0,
        max_calls: int = 65_536,
    ) -> None:
        if ring_seconds <= 0 or max_call_seconds <= 0 or max_calls < 1:
            raise ValueError("ring_seconds and max_call_seconds > 0, max_calls >= 1")
        self.ring_seconds = ring_seconds
        self.max_call_seconds = max_call_seconds
        self.max_calls = max_calls
        self._calls: OrderedDict[str, _Call] = OrderedDict()
        self._by_user: dict[str, set[str]] = {}

    def __len__(self) -> int:
        """Calls held (never more than ``max_calls``)."""
        return len(self._calls)

    def active(self, user: str, now: float) -> int:
        """How many calls ``user`` has in progress at ``now``."""
        ids = self._by_user.get(user)
        if not ids:
            return 0
        for call_id in [c for c in ids if self._calls[c].deadline <= now]:
            self.end(call_id)
        return len(self._by_user.get(user, ()))

    def start(self, call_id: str, user: str, now: float) -> None:
        """``user`` started ``call_id``; a repeated start (the INVITE sent again with
        credentials) refreshes it rather than counting twice."""
        self.end(call_id)
        self._calls[call_id] = _Call(user, now + self.ring_seconds)
        self._by_user.setdefault(user, set()).add(call_id)
        while len(self._calls) > self.max_calls:
            self.end(next(iter(self._calls)))

    def answered(self, call_id: str, now: float) -> None:
        """``call_id`` got a 2xx: it may now last ``max_call_seconds``."""
        call = self._calls.get(call_id)
        if call is not None:
            call.deadline = max(call.deadline, now + self.max_call_seconds)

    def end(self, call_id: str) -> None:
        """``call_id`` ended; unknown Call-IDs are ignored."""
        call = self._calls.pop(call_id, None)
        if call is None:
            return
        ids = self._by_user[call.user]
        ids.discard(call_id)
        if not ids:
            del self._by_user[call.user]
