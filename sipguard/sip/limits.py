"""Size limits enforced while reading, before anything is allocated for the excess."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_LIMITS", "ParseLimits"]

KIB = 1024


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Bounds on one SIP message. Exceeding any of them is an error, never a truncation."""

    max_message_size: int = 64 * KIB
    """Whole message, start line to the end of the body, in bytes (UDP's own ceiling)."""
    max_header_size: int = 16 * KIB
    """Start line plus header section, in bytes; a stream framer refuses more before buffering."""
    max_body_size: int = 48 * KIB
    """Declared Content-Length, in bytes."""
    max_headers: int = 128
    """Header field lines (after unfolding)."""
    max_header_line: int = 8 * KIB
    """One header field (after unfolding), in bytes."""
    max_via: int = 70
    """Via values over all Via lines (each comma-separated value counts): 70, the
    Max-Forwards a request starts with (RFC 3261 §8.1.1.6), is as many hops as it can take."""


DEFAULT_LIMITS = ParseLimits()
