"""What the proxy core asks of the engine, and the hop vocabulary they share.

Rules of this file: values only. A ``Hop`` is a transport address plus, for streams,
the connection a message came on (so a response goes back on it, RFC 3261 §18.2.2).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sipguard.sip import Request, Response, Uri
from sipguard.transport.base import Peer

__all__ = [
    "BranchOutcome",
    "BranchTarget",
    "CoreEvent",
    "Hop",
    "OriginatedResult",
    "RouteRequest",
    "Send",
]


@dataclass(frozen=True, slots=True)
class Hop:
    """Where a message goes (or came from)."""

    peer: Peer
    connection_id: int | None = None
    server_name: str | None = field(default=None, compare=False)
    """TLS: the name the peer's certificate must carry (the upstream URI's host name);
    None: its address. Not part of the hop's identity."""

    @property
    def reliable(self) -> bool:
        """True over a stream transport (no retransmission timers, RFC 3261 §17.1.1.2)."""
        return self.peer.transport != "udp"


@dataclass(frozen=True, slots=True)
class BranchTarget:
    """One place to forward a request to (RFC 3261 §16.5 target plus its next hop)."""

    hop: Hop
    request_uri: Uri | None = None
    """The new Request-URI (a registered Contact); None keeps the request's own."""
    routes: tuple[str, ...] = ()
    """Route values to pre-load (RFC 3327 Path of a registered Contact)."""
    tag: object = None
    """The engine's own handle for this target (an upstream), echoed in ``BranchOutcome``."""


@dataclass(frozen=True, slots=True)
class Send:
    """Put ``message`` on the wire to ``hop``."""

    hop: Hop
    message: Request | Response


@dataclass(frozen=True, slots=True)
class RouteRequest:
    """A request needs a routing decision: answer with ``ProxyCore.forward`` or ``reply``
    for ``context``; a ``context`` of None means forward statelessly (an ACK for a 2xx,
    RFC 3261 §16.11) with ``ProxyCore.forward_stateless``."""

    context: int | None
    request: Request
    source: Hop
    loose_routed: bool = False
    """A Route of ours was removed (§16.4): the request follows a dialog we record-routed."""


@dataclass(frozen=True, slots=True)
class BranchOutcome:
    """How a forwarded branch ended, for health tracking: a final status, or 408 for a
    timeout and 503 for a transport failure (RFC 3261 §16.7, §16.9)."""

    tag: object
    status: int
    timed_out: bool = False
    transport_failed: bool = False
    request: Request | None = None
    """The forwarded request (its Call-ID and method say which dialog the target serves)."""
    source: Hop | None = None
    """Where the original request came from."""


@dataclass(frozen=True, slots=True)
class OriginatedResult:
    """The final response to a request we originated (an OPTIONS probe); None on
    timeout or transport failure."""

    tag: object
    response: Response | None
    transport_failed: bool = False
    """No response because the transport failed (else: a timeout)."""


CoreEvent = Send | RouteRequest | BranchOutcome | OriginatedResult
