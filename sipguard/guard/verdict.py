"""What a guard stage decides: pass, challenge, reject with a status, or drop silently,
each with a machine-readable reason.

Rules of this file: values only. A stage never sends anything: it returns one of these
and the engine turns it into a response or a silent drop (and an audit event).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Challenge", "Drop", "Pass", "Reason", "Reject", "Verdict"]

Headers = tuple[tuple[str, str], ...]


class Reason(StrEnum):
    """Why a stage decided what it did; stable names for logs, metrics and the audit log.

    Every member is produced by some stage (each stage's tests show which); a new stage
    adds its own.
    """

    OK = "ok"
    BANNED = "banned"
    MALFORMED = "malformed"
    BAD_DIAL_STRING = "bad-dial-string"
    ACL_DENIED = "acl-denied"
    NOT_ALLOWED = "not-allowed"
    SCANNER_USER_AGENT = "scanner-user-agent"
    SCANNER_BEHAVIOUR = "scanner-behaviour"
    RATE_LIMITED = "rate-limited"
    FLOOD = "flood"
    OVERLOAD = "overload"
    AUTH_REQUIRED = "auth-required"
    AUTH_STALE = "auth-stale"
    AUTH_FAILED = "auth-failed"
    AUTH_REPLAY = "auth-replay"
    IDENTITY_MISMATCH = "identity-mismatch"
    RELAY_DENIED = "relay-denied"
    FOREIGN_REGISTER = "foreign-register"
    ROUTE_INJECTION = "route-injection"
    DIAL_DENIED = "dial-denied"
    CALL_LIMIT = "call-limit"
    CALL_RATE = "call-rate"
    TLS_REQUIRED = "tls-required"


@dataclass(frozen=True, slots=True)
class Pass:
    """Go on to the next stage (the last one's Pass lets the request be routed)."""

    reason: Reason = Reason.OK


@dataclass(frozen=True, slots=True)
class Drop:
    """Say nothing: the sender learns nothing (scanners, banned and denied sources)."""

    reason: Reason
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Reject:
    """Answer with ``status`` (``phrase`` overrides the standard reason phrase)."""

    status: int
    reason: Reason
    detail: str = ""
    phrase: str | None = None
    headers: Headers = ()


@dataclass(frozen=True, slots=True)
class Challenge:
    """Ask for credentials: 401 with WWW-Authenticate, or 407 with Proxy-Authenticate
    (RFC 3261 §22.1, §22.3); ``headers`` carry the challenges, strongest first."""

    status: int
    headers: Headers
    reason: Reason = Reason.AUTH_REQUIRED
    detail: str = ""


Verdict = Pass | Drop | Reject | Challenge
