"""Transport names and transport addresses (RFC 3261 §18): the values every layer shares.

Rules of this file: values only. They live in the SIP core, the bottom layer, so that the
config, the transports, the proxy and the guards can all use them without importing
each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Peer", "TlsPeer", "TransportName", "is_canonical_ipv4"]

# dec-octet without leading zeros (RFC 5954 §4.1): text that matches is the one spelling
# ``ipaddress`` would give, so it can be compared as text.
_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_CANONICAL_IPV4 = re.compile(rf"{_OCTET}(?:\.{_OCTET}){{3}}")


def is_canonical_ipv4(host: str) -> bool:
    """True for a dotted-quad IPv4 literal in its canonical form (decided without parsing:
    the per-packet checks of most hosts stop here)."""
    return _CANONICAL_IPV4.fullmatch(host) is not None


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


@dataclass(frozen=True, slots=True)
class TlsPeer:
    """Who a TLS peer proved to be: its verified certificate (mutual TLS)."""

    fingerprint: str
    """``SHA256:AB:CD:...`` of the DER certificate, upper case."""
    names: tuple[str, ...] = ()
    """The subjectAltName DNS names and URIs, as written."""
