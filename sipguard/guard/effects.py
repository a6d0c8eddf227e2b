"""What a stage asks to change: state updates the pipeline applies after the decision.

Rules of this file: values only; only ``pipeline.py`` applies them, in order, so every
stage stays a pure function of (request, context, state view).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Consume", "Effect", "Offence", "OffenceKind", "Sighting", "StartCall", "UseNonce"]


class OffenceKind(StrEnum):
    """What a jail counts (fail2ban's "filter" matches, without log scraping)."""

    AUTH_FAILURE = "auth-failure"
    SCANNER = "scanner"
    FLOOD = "flood"
    MALFORMED = "malformed"


@dataclass(frozen=True, slots=True)
class Offence:
    """``source`` did something a jail counts; ``verified``: see GuardContext.verified."""

    kind: OffenceKind
    source: str
    verified: bool


@dataclass(frozen=True, slots=True)
class Consume:
    """Take ``tokens`` from the rate bucket ``key`` (the stage saw there were enough)."""

    key: str
    tokens: float = 1.0


@dataclass(frozen=True, slots=True)
class UseNonce:
    """Record nonce-count ``nc`` as used for ``nonce`` (a replay of it is then refused)."""

    nonce: str
    nc: int


@dataclass(frozen=True, slots=True)
class Sighting:
    """``source`` asked for ``what`` (a user, a method) at this time: scanner detection
    counts how many distinct ones a source asks for within a window."""

    source: str
    what: str


@dataclass(frozen=True, slots=True)
class StartCall:
    """``user`` started the call ``call_id`` (an admitted INVITE): it counts toward the
    user's concurrent calls until it ends (a final non-2xx, a BYE, or its time runs out)."""

    call_id: str
    user: str


Effect = Offence | Consume | UseNonce | Sighting | StartCall
