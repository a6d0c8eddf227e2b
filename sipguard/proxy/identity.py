"""Who "we" are: the domain, its aliases and the addresses we listen on.

Rules of this file: pure values, no I/O. A listener on a wildcard address (0.0.0.0,
::) cannot tell which address a peer used, so the engine builds the identity from the
real interface addresses it bound (and the ports the OS gave for port 0). Names (the
domain and aliases) mean "us" on any port; IP addresses only with a listener's port.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass, field

from sipguard.config import TransportName
from sipguard.sip import SipUri
from sipguard.sip.transports import is_canonical_ipv4

__all__ = ["ListenAddress", "LocalIdentity", "address_family", "default_port", "normalize_ip"]

_IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True, slots=True)
class ListenAddress:
    """One bound listener: its transport, IP literal (no brackets) and port."""

    transport: TransportName
    host: str
    port: int


@dataclass(frozen=True, slots=True)
class LocalIdentity:
    """This proxy as others address it: domain, listeners, extra names (``aliases``).

    Raises:
        ValueError: a listener whose host is not an IP literal.
    """

    domain: str
    listeners: tuple[ListenAddress, ...]
    aliases: frozenset[str] = frozenset()
    _names: frozenset[str] = field(init=False, repr=False, compare=False)
    _addresses: frozenset[tuple[_IpAddress, int]] = field(init=False, repr=False, compare=False)
    _texts: frozenset[tuple[str, int]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = frozenset(_name_key(n) for n in (self.domain, *self.aliases))
        addresses = set()
        for listener in self.listeners:
            ip = normalize_ip(listener.host)
            if ip is None:
                raise ValueError(f"listener host must be an IP literal: {listener.host!r}")
            addresses.add((ip, listener.port))
        # Derived lookup sets of a frozen dataclass: set once, here, never again.
        object.__setattr__(self, "_names", names)
        object.__setattr__(self, "_addresses", frozenset(addresses))
        # The same addresses as canonical text: most hosts a proxy checks (every Via
        # and Route of every message) are plain dotted quads, decided without parsing.
        object.__setattr__(self, "_texts", frozenset((str(ip), p) for ip, p in addresses))

    def is_local_host(self, host: str, port: int | None, *, default: int = 5060) -> bool:
        """True when ``host`` names us: the domain or an alias on any port, or a
        listener's IP with that listener's port (``default`` when ``port`` is None)."""
        if port is None:
            port = default
        if (host, port) in self._texts:
            return True
        if is_canonical_ipv4(host):
            return False  # the text is its canonical form, and it is not ours
        ip = normalize_ip(host)
        if ip is None:
            return _name_key(host) in self._names
        return (ip, port) in self._addresses

    def is_local_uri(self, uri: SipUri) -> bool:
        """True when the host part of ``uri`` names us (a missing port is 5060 for
        sip, 5061 for sips)."""
        return self.is_local_host(uri.host, uri.port, default=default_port(uri.scheme))

    def listener(self, transport: TransportName, family: socket.AddressFamily) -> ListenAddress:
        """Our first listener of ``transport`` in ``family``.

        Raises:
            ValueError: when there is none.
        """
        for listener in self.listeners:
            if listener.transport is transport and address_family(listener.host) == family:
                return listener
        raise ValueError(f"no {transport} listener for {family.name}")

    def sent_by(self, transport: TransportName, family: socket.AddressFamily) -> tuple[str, int]:
        """Host (IPv6 without brackets) and port for our Via sent-by.

        Raises:
            ValueError: no listener of ``transport`` in ``family``.
        """
        listener = self.listener(transport, family)
        return listener.host, listener.port

    def record_route_uri(
        self, transport: TransportName, family: socket.AddressFamily, *, sips: bool = False
    ) -> str:
        """Our Record-Route value for that listener, e.g. ``<sip:192.0.2.1:5060;lr>``.

        RFC 3261 §16.6 step 4: the URI MUST carry ``lr``, and MUST be SIPS when the
        Request-URI or top Route is (``sips``). UDP gets no transport parameter; TLS
        and WSS without ``sips`` get ``transport=tls`` / ``transport=wss``.

        Raises:
            ValueError: no listener of ``transport`` in ``family``, or ``sips`` asked
                of a transport without TLS.
        """
        listener = self.listener(transport, family)
        host = f"[{listener.host}]" if ":" in listener.host else listener.host
        if sips:
            if transport not in _SIPS_PARAMS:
                raise ValueError(f"a SIPS Record-Route needs TLS, not {transport}")
            return f"<sips:{host}:{listener.port}{_SIPS_PARAMS[transport]};lr>"
        param = "" if transport is TransportName.UDP else f";transport={transport.value}"
        return f"<sip:{host}:{listener.port}{param};lr>"


_SIPS_PARAMS: dict[TransportName, str] = {
    TransportName.TLS: "",
    TransportName.WSS: ";transport=ws",  # RFC 7118 §5.5: a SIPS URI with ws is WSS
}


def normalize_ip(host: str) -> _IpAddress | None:
    """``host`` (IPv6 with or without brackets) as an address, or None for a name."""
    try:
        return ipaddress.ip_address(host[1:-1] if host.startswith("[") else host)
    except ValueError:
        return None


def address_family(host: str) -> socket.AddressFamily:
    """AF_INET6 for an IPv6 literal, else AF_INET (names included)."""
    # Only an IPv6 literal holds a colon: IPv4 literals and host names never do.
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def default_port(scheme_or_transport: str) -> int:
    """5061 for sips and TLS, else 5060 (RFC 3261 §19.1.2, §18.2.2)."""
    return 5061 if scheme_or_transport.lower() in ("sips", "tls") else 5060


def _name_key(name: str) -> str:
    # Host names compare case-insensitively; a trailing root dot names the same host.
    return name.lower().rstrip(".")
