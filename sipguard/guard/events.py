"""Security events: one per non-pass verdict, emitted through one interface.

Rules of this file: ``SecurityEvent`` is what the audit log will store (a later issue
signs and chains them); ``AuditSink`` is the one interface a stage's decision reaches
it through. ``MemorySink`` keeps the last events for tests and the admin API.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Protocol

from sipguard.guard.verdict import Reason

__all__ = ["AuditSink", "MemorySink", "SecurityEvent"]


@dataclass(frozen=True, slots=True)
class SecurityEvent:
    """One security decision."""

    wall: float
    stage: str
    action: str
    """"drop", "reject", "challenge" or "ban"."""
    reason: Reason
    source: str
    """"udp:203.0.113.5:5060" form."""
    status: int | None = None
    method: str | None = None
    call_id: str | None = None
    user: str | None = None
    detail: str = ""


class AuditSink(Protocol):
    """Where security events go (a log line now; the signed audit log later)."""

    def emit(self, event: SecurityEvent) -> None:
        """Record ``event``; must not block or raise."""


class MemorySink:
    """The last ``size`` events, in order."""

    def __init__(self, size: int = 1000) -> None:
        self.events: deque[SecurityEvent] = deque(maxlen=size)

    def emit(self, event: SecurityEvent) -> None:
        """Keep ``event`` (the oldest falls off when full)."""
        self.events.append(event)
