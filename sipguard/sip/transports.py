"""Transport names and transport addresses (RFC 3261 §18): the values every layer shares.

Rules of this file: values only. They live in the SIP core, the bottom layer, so that the
config, the transports, the proxy and the guards can all use them without importing
each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Peer", "TransportName"]


class TransportName(StrEnum):
    """Transports a listener or an upstream can use."""

    UDP = "udp"
    TCP = "tcp"
    TLS = "tls"
    WS = "ws"
    WSS = "wss"


@dataclass(frozen=True, slots=True)
class Peer:
    """A transport address: the transport, an IP literal (no brackets) and a port."""

    transport: TransportName
    host: str
    port: int

    @property
    def hostport(self) -> str:
        """``1.2.3.4:5060`` or ``[::1]:5060``."""
        if ":" in self.host:
            return f"[{self.host}]:{self.port}"
        return f"{self.host}:{self.port}"
