"""RFC 3263 server location rules as pure functions: transport choice, NAPTR, SRV order.

Rules of this file: no DNS, no sockets, no clock. Every function takes the records it
filters or orders and returns a new list; randomness comes only from the ``rng``
argument, so a seeded rng gives a repeatable order. ``resolver.py`` does the look-ups
and calls these functions in the order RFC 3263 §4.1 and §4.2 describe.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import groupby
from types import MappingProxyType
from typing import Final

from sipguard.config import TransportName
from sipguard.sip import SipUri
from sipguard.sip.grammar import unescape

__all__ = [
    "DEFAULT_PORTS",
    "NaptrRecord",
    "ResolveError",
    "ResolveTimeoutError",
    "SrvQuery",
    "SrvRecord",
    "Target",
    "default_transport",
    "fixed_transport",
    "naptr_groups",
    "numeric_host",
    "order_srv",
    "order_srv_deterministic",
    "srv_queries",
    "srv_query",
    "uri_target",
]

_T = TransportName

# RFC 3261 §19.1.2 (5060 / 5061 for TLS); RFC 7118 §5.5 (80 for ws, 443 for secure ws).
DEFAULT_PORTS: Final = MappingProxyType(
    {_T.UDP: 5060, _T.TCP: 5060, _T.TLS: 5061, _T.WS: 80, _T.WSS: 443}
)

# RFC 3263 §4.1 and RFC 7118 §5.5: NAPTR service field → transport. SIPS+D2U is absent
# on purpose (TLS over UDP does not exist); D2S (SCTP) has no TransportName.
_NAPTR_SERVICES: Final = MappingProxyType(
    {
        "SIP+D2U": _T.UDP,
        "SIP+D2T": _T.TCP,
        "SIPS+D2T": _T.TLS,
        "SIP+D2W": _T.WS,
        "SIPS+D2W": _T.WSS,
    }
)

# RFC 3263 §4.2: "_sips" for TLS, "_sip" otherwise; no SRV service is defined for ws.
_SRV_PREFIXES: Final = MappingProxyType(
    {_T.UDP: "_sip._udp.", _T.TCP: "_sip._tcp.", _T.TLS: "_sips._tcp."}
)

# Our choice where RFC 3263 lets the client pick ("MAY use any transport protocol it
# desires which is supported by the server"): the most protected transport first, so an
# edge proxy never prefers a plain transport when the server also offers TLS.
_SRV_FALLBACK_ORDER: Final = (_T.TLS, _T.TCP, _T.UDP)

# §4.1 defaults with what to use when the default is not among the supported ones.
_PLAIN_DEFAULTS: Final = (_T.UDP, _T.TCP, _T.TLS, _T.WSS, _T.WS)
_SECURE_DEFAULTS: Final = (_T.TLS, _T.WSS)


class ResolveError(Exception):
    """Nothing usable was found for ``name``; the proxy answers 503."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"cannot resolve {name}: {reason}")
        self.name = name
        self.reason = reason


class ResolveTimeoutError(ResolveError):
    """A name server did not answer in time; the proxy answers 408."""


@dataclass(frozen=True, slots=True)
class Target:
    """One place to send a request: try the targets of a list in order (RFC 3263 §4.3)."""

    transport: TransportName
    host: str
    """An IP literal without brackets."""
    port: int
    name: str
    """Where it came from, for logs: the SRV target or the URI's host."""


@dataclass(frozen=True, slots=True)
class SrvRecord:
    """One SRV record (RFC 2782); ``target`` is "." when the service is not offered."""

    priority: int
    weight: int
    port: int
    target: str


@dataclass(frozen=True, slots=True)
class NaptrRecord:
    """One NAPTR record (RFC 3403 §4.1), with the text fields decoded."""

    order: int
    preference: int
    flags: str
    service: str
    regexp: str
    replacement: str


@dataclass(frozen=True, slots=True)
class SrvQuery:
    """An SRV name to look up and the transport its records are for."""

    transport: TransportName
    name: str


def uri_target(uri: SipUri) -> str:
    """RFC 3263 §4: TARGET is the maddr parameter if present, else the host (no brackets)."""
    maddr = uri.param("maddr")
    host = unescape(maddr) if maddr else uri.host_bare
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host


def numeric_host(host: str) -> str | None:
    """``host`` as a normalised IP literal, or None for a domain name."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


def default_transport(secure: bool, supported: frozenset[TransportName]) -> TransportName:
    """RFC 3263 §4.1: UDP for sip, TLS for sips, else another transport we support.

    Raises:
        ResolveError: when no supported transport fits the scheme.
    """
    for transport in _SECURE_DEFAULTS if secure else _PLAIN_DEFAULTS:
        if transport in supported:
            return transport
    raise ResolveError("", "no supported transport for this scheme")


def fixed_transport(uri: SipUri, supported: frozenset[TransportName]) -> TransportName | None:
    """The transport RFC 3263 §4.1 fixes without NAPTR, or None when NAPTR decides.

    A transport parameter wins; else a numeric TARGET or an explicit port gets the
    scheme's default.

    Raises:
        ResolveError: an unknown or unsupported transport, or udp for a sips URI.
    """
    secure = uri.scheme == "sips"
    name = uri_target(uri)
    param = uri.transport
    if param is not None:
        transport = _transport_param(param, secure, name)
        if transport not in supported:
            raise ResolveError(name, f"transport {transport} not supported")
        return transport
    if numeric_host(name) is not None or uri.port is not None:
        try:
            return default_transport(secure, supported)
        except ResolveError as exc:
            raise ResolveError(name, exc.reason) from None
    return None


def _transport_param(param: str, secure: bool, name: str) -> TransportName:
    if param == "udp":
        if secure:  # RFC 3261 §26.2.2: sips needs TLS, and TLS does not run over UDP
            raise ResolveError(name, "sips URI with transport=udp")
        return _T.UDP
    if param in ("tcp", "tls"):
        return _T.TLS if secure or param == "tls" else _T.TCP
    if param in ("ws", "wss"):
        return _T.WSS if secure or param == "wss" else _T.WS  # RFC 7118 §5.5
    raise ResolveError(name, f"transport {param} not supported")


def naptr_groups(
    records: Iterable[NaptrRecord], *, secure: bool, supported: frozenset[TransportName]
) -> list[list[SrvQuery]]:
    """Usable NAPTR records as SRV queries, grouped by order and sorted by preference.

    RFC 3263 §4.1: a sips URI keeps only SIPS services; services for transports we do
    not support are discarded. Only "s" records with an empty regexp are usable (the
    replacement is the SRV name). RFC 3403 §4.1: once a record of one order matches,
    the client MUST NOT consider records with a different order, so the caller uses the
    first group that yields targets and ignores the rest.
    """
    usable: list[tuple[NaptrRecord, TransportName]] = []
    for record in records:
        transport = _NAPTR_SERVICES.get(record.service.upper())
        if transport is None or transport not in supported:
            continue
        if secure and not record.service.upper().startswith("SIPS+"):
            continue
        if record.flags.lower() != "s" or record.regexp or record.replacement in ("", "."):
            continue
        usable.append((record, transport))
    # Ties broken by text so the order is deterministic (RFC 3263 §4.4).
    usable.sort(key=lambda p: (p[0].order, p[0].preference, p[0].service, p[0].replacement))
    return [
        [SrvQuery(transport, record.replacement) for record, transport in group]
        for _, group in groupby(usable, key=lambda p: p[0].order)
    ]


def srv_queries(name: str, *, secure: bool, supported: frozenset[TransportName]) -> list[SrvQuery]:
    """RFC 3263 §4.1 without NAPTR: one SRV query per supported transport, best first.

    For a sips URI only TLS (``_sips._tcp``) is queried.
    """
    domain = name if name.endswith(".") else name + "."
    return [
        SrvQuery(transport, _SRV_PREFIXES[transport] + domain)
        for transport in _SRV_FALLBACK_ORDER
        if transport in supported and (transport is _T.TLS or not secure)
    ]


def srv_query(name: str, transport: TransportName) -> SrvQuery | None:
    """RFC 3263 §4.2: the SRV query for a transport fixed by the URI (None for ws/wss)."""
    prefix = _SRV_PREFIXES.get(transport)
    if prefix is None:
        return None
    return SrvQuery(transport, prefix + (name if name.endswith(".") else name + "."))


def order_srv(records: Sequence[SrvRecord], rng: random.Random) -> list[SrvRecord]:
    """RFC 2782 "Usage rules": by priority, then weighted random selection within one.

    Records with target "." are dropped (the service is decidedly not available there).
    """
    out: list[SrvRecord] = []
    for group in _priority_groups(records):
        out += _weighted_order(group, rng)
    return out


def order_srv_deterministic(records: Sequence[SrvRecord]) -> list[SrvRecord]:
    """RFC 3263 §4.4: a stateless proxy needs one fixed order; heaviest weight first,
    then target name and port, within each priority."""
    usable = [r for r in records if r.target != "."]
    return sorted(usable, key=lambda r: (r.priority, -r.weight, r.target, r.port))


def _priority_groups(records: Sequence[SrvRecord]) -> list[list[SrvRecord]]:
    usable = sorted((r for r in records if r.target != "."), key=lambda r: r.priority)
    return [list(group) for _, group in groupby(usable, key=lambda r: r.priority)]


def _weighted_order(group: list[SrvRecord], rng: random.Random) -> list[SrvRecord]:
    # RFC 2782: weight-0 records go first in the list, so they are picked only when the
    # random number drawn from [0, sum] is 0: "a very small chance of being selected".
    remaining = sorted(group, key=lambda r: r.weight != 0)
    out: list[SrvRecord] = []
    while remaining:
        total = sum(r.weight for r in remaining)
        draw = rng.randint(0, total)
        running = 0
        for index, record in enumerate(remaining):
            running += record.weight
            if running >= draw:
                out.append(remaining.pop(index))
                break
    return out
