"""SIPS hop by hop (RFC 3261 §26.2, RFC 5630 §5.3): a request for a sips: Request-URI
leaves only over TLS and only to a sips: target; when no target qualifies it is
refused with 480 and Warning 380 "SIPS Not Allowed", never downgraded.

Rules of this file: pure functions over the request and the targets the engine chose.
"""

from __future__ import annotations

from collections.abc import Sequence

from sipguard.proxy.events import BranchTarget
from sipguard.proxy.replies import local_reply
from sipguard.sip import Request, Response
from sipguard.sip.transports import TransportName

__all__ = ["SECURE_TRANSPORTS", "secure_targets", "sips_refusal"]

SECURE_TRANSPORTS = frozenset({TransportName.TLS, TransportName.WSS})


def secure_targets(request: Request, targets: Sequence[BranchTarget]) -> list[BranchTarget]:
    """``targets`` as they may be used for ``request``: all of them for a sip: Request-URI;
    for a sips: one, those reached over TLS whose Request-URI stays sips."""
    if request.uri.scheme.lower() != "sips":
        return list(targets)
    # RFC 5630 §5.3: a proxy MUST only forward or retarget a SIPS Request-URI to a SIPS
    # Request-URI, and not over a nonsecure link (no last-hop exception).
    return [
        target
        for target in targets
        if target.hop.peer.transport in SECURE_TRANSPORTS
        and (target.request_uri is None or target.request_uri.scheme.lower() == "sips")
    ]


def sips_refusal(request: Request, warn_agent: str, server: str | None = None) -> Response:
    """RFC 5630 §5.3: 480 with Warning 380 "SIPS Not Allowed"."""
    warning = f'380 {warn_agent} "SIPS Not Allowed"'
    return local_reply(request, 480, headers=(("Warning", warning),), server=server)
