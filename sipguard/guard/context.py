"""What a stage knows besides the message: where it came from, when, and what earlier
stages established (trusted peer, authenticated user, verified source).

Rules of this file: immutable; a stage that learns something returns a new context
(``dataclasses.replace``) in its outcome, and the pipeline hands that to the next stage.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipguard.sip.transports import Peer, TlsPeer

__all__ = ["GuardContext"]


@dataclass(frozen=True, slots=True)
class GuardContext:
    """One request's circumstances."""

    source: Peer
    """Transport, IP and port the request came from."""
    listener: Peer
    """The listener it arrived on."""
    now: float
    """Monotonic seconds (rates, windows, nonces)."""
    wall: float
    """UNIX seconds (ban expiry, nonce timestamps that outlive a restart)."""
    tls_peer: TlsPeer | None = None
    """The verified TLS client certificate (mutual TLS), when there is one."""
    trusted: bool = False
    """A listed trusted peer (a PBX, a carrier trunk): no authentication asked."""
    user: str | None = None
    """The authenticated user, once a stage verified credentials."""
    verified: bool = False
    """The source has shown it receives our packets (a stream connection, or it answered
    a challenge with our nonce): its offences count fully toward a ban. Evidence from an
    unverified UDP source, which may be forged, only rate-limits."""

    @property
    def encrypted(self) -> bool:
        """Arrived over TLS (tls, wss)."""
        return self.source.transport in ("tls", "wss")

    @property
    def reliable(self) -> bool:
        """Arrived on a stream (TCP, TLS, WS): the address cannot be forged."""
        return self.source.transport != "udp"
