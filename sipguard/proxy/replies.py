"""Responses this element writes itself: the one place a status becomes a Response.

Rules of this file: a local final response carries a To tag derived from the request
(RFC 3261 §8.2.7: a stateless UAS MUST give a retransmitted request the same tag, and a
hash of the transaction's identity does that without state); a 100 Trying never gets
one (§8.2.6.2). Nothing here is random or reads a clock.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from sipguard.sip import Request, Response, SipParseError, build_response

__all__ = ["local_reply", "local_tag", "top_branch"]


def local_tag(request: Request) -> str:
    """A To tag for our answers to ``request``: the same for its retransmissions."""
    parts = (request.get("Call-ID") or "", request.get("From") or "", top_branch(request))
    data = "\n".join(parts).encode("utf-8", "surrogateescape")  # header text as received
    digest = hashlib.blake2b(data, digest_size=6).hexdigest()
    return f"sg{digest}"


def local_reply(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    headers: Iterable[tuple[str, str]] = (),
    server: str | None = None,
) -> Response:
    """Our own response to ``request`` with ``status`` (and a Server header when given)."""
    extra = list(headers)
    if server:
        extra.append(("Server", server))
    tag = None if status == 100 else local_tag(request)
    return build_response(request, status, reason, to_tag=tag, headers=extra)


def top_branch(request: Request) -> str:
    """The top Via's branch (its whole text without one; the raw line if unreadable):
    what names a request's transaction, for hashes that must repeat on retransmission."""
    try:
        return request.via.branch or str(request.via)
    except SipParseError:
        return request.get("Via") or ""
