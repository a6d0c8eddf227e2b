"""Stage 3, ACL: who may talk to us at all, and who is trusted.

Order of the rules: deny wins (Drop, ACL_DENIED, even over trusted); a listener that
takes only trusted sources drops everyone else (NOT_ALLOWED); a trusted source passes
with ``ctx.trusted`` set (a PBX or a carrier trunk: no authentication asked later, but
sanity and rate limits still apply); an address outside a non-empty allow list is
dropped (NOT_ALLOWED); an empty allow list allows everyone.

A TLS peer whose verified certificate is listed (``trusted_fingerprints``, or a SAN in
``trusted_names``) is trusted like a listed address: mutual TLS is the natural way to
admit a carrier trunk or a remote office whose addresses change.

TLS first: ``plaintext_methods`` names the methods an untrusted source may send over a
plaintext transport (udp, tcp, ws); others get 403 "TLS Required" (TLS_REQUIRED), so
that, with the recommended setting, credentials for REGISTER only travel encrypted.

Per-listener overrides are keyed by a transport name (``"udp"``) or by one listener
(``"udp:192.0.2.1:5060"``, ``"tls:[2001:db8::1]:5061"``); the exact listener wins over
its transport. An override can take only trusted sources (plaintext UDP only from the
trunks) and can replace the allow list.

Rules of this file: the CIDR lists are validated and turned into netaddr IP sets once,
at construction (a bad entry raises ValueError naming it); ``decide`` is a few set
look-ups. IPv4-mapped IPv6 sources and entries (``::ffff:1.2.3.4``) are read as IPv4.
No offences: being outside a list is policy, not misbehaviour.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

import netaddr  # type: ignore[import-untyped]  # netaddr 1.3 ships no type information

from sipguard.guard.context import GuardContext
from sipguard.guard.pipeline import Outcome
from sipguard.guard.state import GuardState
from sipguard.guard.verdict import Drop, Pass, Reason, Reject
from sipguard.sip import Request
from sipguard.sip.transports import Peer, TlsPeer, TransportName

__all__ = ["AclPolicy", "AclStage", "CidrSet", "ListenerAcl", "ip_set", "source_address"]


@dataclass(frozen=True, slots=True)
class ListenerAcl:
    """What changes on one listener (or every listener of one transport)."""

    trusted_only: bool = False
    """Only trusted sources may use this listener (everyone else is dropped)."""
    allow: tuple[str, ...] | None = None
    """CIDRs that replace the global allow list here; None keeps the global one."""


@dataclass(frozen=True, slots=True)
class AclPolicy:
    """Tunables of the ACL stage (``[guard.acl]``): lists of CIDRs, IPv4 or IPv6."""

    allow: tuple[str, ...] = ()
    """Sources that may talk to us; empty means everyone."""
    deny: tuple[str, ...] = ()
    """Sources dropped whatever else says (deny wins)."""
    trusted: tuple[str, ...] = ()
    """Trusted peers (PBXs, carrier trunks): allowed, and no authentication asked."""
    listeners: Mapping[str, ListenerAcl] = field(default_factory=dict)
    """Overrides by ``"transport"`` or ``"transport:host:port"`` of the listener."""
    trusted_fingerprints: tuple[str, ...] = ()
    """SHA-256 fingerprints (``SHA256:AB:CD:...``) of client certificates that make a TLS
    peer trusted (``sipguard certs show FILE`` prints them)."""
    trusted_names: tuple[str, ...] = ()
    """subjectAltName DNS names or URIs of verified client certificates that make a TLS
    peer trusted (any case)."""
    plaintext_methods: tuple[str, ...] = ("*",)
    """Methods an untrusted source may send over udp, tcp or ws; ``"*"``: every one.
    Others get 403 TLS Required."""


Address = tuple[int, int]
"""An IP address as (version, integer value)."""


class CidrSet:
    """An immutable set of networks with look-ups in a few set probes.

    netaddr does the set algebra once (``IPSet`` merges overlapping and adjacent
    networks); the look-up structure is one frozenset of network values per prefix
    length, so a check costs one shift and one probe per distinct prefix length rather
    than the tens of microseconds an ``IPSet`` membership test takes per packet.
    """

    __slots__ = ("_by_version", "empty")

    def __init__(self, networks: list[str]) -> None:
        self.empty = not networks
        """True when the list was empty (an empty allow list allows everyone)."""
        buckets: dict[int, dict[int, set[int]]] = {4: {}, 6: {}}
        for cidr in netaddr.IPSet(networks).iter_cidrs():
            bits = 32 if cidr.version == 4 else 128
            shift = bits - cidr.prefixlen
            buckets[cidr.version].setdefault(shift, set()).add(int(cidr.network) >> shift)
        self._by_version = {
            version: tuple((shift, frozenset(values)) for shift, values in by_shift.items())
            for version, by_shift in buckets.items()
        }

    def __contains__(self, address: object) -> bool:
        if not isinstance(address, tuple):
            return False
        version, value = address
        return any(value >> shift in values for shift, values in self._by_version[version])


@dataclass(frozen=True, slots=True)
class _Override:
    trusted_only: bool
    allow: CidrSet | None  # None: the global allow list


class AclStage:
    """Drops denied and not-allowed sources; marks trusted ones."""

    name = "acl"

    def __init__(self, policy: AclPolicy | None = None) -> None:
        self.policy = policy or AclPolicy()
        self._deny = ip_set(self.policy.deny, "deny")
        self._allow = ip_set(self.policy.allow, "allow")
        self._trusted = ip_set(self.policy.trusted, "trusted")
        self._fingerprints = frozenset(f.upper() for f in self.policy.trusted_fingerprints)
        self._names = frozenset(n.lower() for n in self.policy.trusted_names)
        methods = self.policy.plaintext_methods
        self._plaintext: frozenset[str] | None = None if "*" in methods else frozenset(methods)
        self._overrides: dict[tuple[str, str | None, int | None], _Override] = {}
        for key, override in self.policy.listeners.items():
            allow = None if override.allow is None else ip_set(override.allow, f"{key} allow")
            self._overrides[_listener_key(key)] = _Override(override.trusted_only, allow)

    def decide(self, request: Request, ctx: GuardContext, state: GuardState) -> Outcome:
        """Drop, or Pass (with ``trusted`` set in the context for a trusted peer)."""
        address = source_address(ctx.source.host)
        if address is None:
            return Outcome(Drop(Reason.NOT_ALLOWED, "source is not an IP address"))
        if address in self._deny:
            return Outcome(Drop(Reason.ACL_DENIED))
        trusted = address in self._trusted or self._trusted_certificate(ctx.tls_peer)
        override = self._override(ctx.listener)
        if override is not None and override.trusted_only and not trusted:
            return Outcome(Drop(Reason.NOT_ALLOWED, "listener takes trusted sources only"))
        if trusted:
            return Outcome(Pass(), context=replace(ctx, trusted=True))
        allow = self._allow if override is None or override.allow is None else override.allow
        if not allow.empty and address not in allow:
            return Outcome(Drop(Reason.NOT_ALLOWED))
        return self._tls_first(request, ctx)

    def _tls_first(self, request: Request, ctx: GuardContext) -> Outcome:
        plaintext = self._plaintext
        if plaintext is None or ctx.encrypted or request.method in plaintext:
            return Outcome(Pass())
        detail = f"{request.method} over {ctx.source.transport}"
        return Outcome(Reject(403, Reason.TLS_REQUIRED, detail, phrase="TLS Required"))

    def _trusted_certificate(self, peer: TlsPeer | None) -> bool:
        if peer is None:
            return False
        return peer.fingerprint.upper() in self._fingerprints or any(
            name.lower() in self._names for name in peer.names
        )

    def _override(self, listener: Peer) -> _Override | None:
        if not self._overrides:
            return None
        host = _canonical(listener.host)
        exact = self._overrides.get((listener.transport, host, listener.port))
        return exact if exact is not None else self._overrides.get((listener.transport, None, None))


def ip_set(entries: Iterable[str], what: str) -> CidrSet:
    """A CidrSet of ``entries`` (CIDRs or single addresses, IPv4 or IPv6).

    Raises:
        ValueError: naming ``what`` and the first bad entry (not an address or network,
        or a network written with host bits set, which usually hides a typo).
    """
    networks = []
    for entry in entries:
        try:
            network = ipaddress.ip_network(entry, strict=True)
        except ValueError as exc:
            raise ValueError(f"{what}: {entry!r} is not a CIDR ({exc})") from None
        if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
            mapped = network.network_address.ipv4_mapped
            if mapped is not None:
                network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
        networks.append(str(network))
    return CidrSet(networks)


def source_address(host: str) -> Address | None:
    """``host`` as (version, value) (IPv4-mapped IPv6 read as IPv4, zone dropped), or
    None when it is not an IP literal."""
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.version, int(address)


def _canonical(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host.strip("[]").partition("%")[0]))
    except ValueError:
        return host.lower()


def _listener_key(key: str) -> tuple[str, str | None, int | None]:
    """``"udp"`` or ``"udp:192.0.2.1:5060"`` / ``"tls:[::1]:5061"`` as a look-up key.

    Raises:
        ValueError: naming the key when it is neither.
    """
    transport, _, rest = key.partition(":")
    transport = transport.lower()
    if transport not in {t.value for t in TransportName}:
        raise ValueError(f"listener override {key!r}: unknown transport {transport!r}")
    if not rest:
        return transport, None, None
    host, _, port = rest.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"listener override {key!r}: expected transport:host:port")
    if source_address(host.strip("[]")) is None:
        raise ValueError(f"listener override {key!r}: {host!r} is not an IP address")
    return transport, _canonical(host), int(port)
