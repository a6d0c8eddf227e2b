"""Where a request goes: the routing modes of the policy as one pure decision (RFC 3261 §16.5).

Rules of this file: ``route_request`` reads the request, the mode and the state views
it is given and returns a decision; it sends nothing and changes nothing. The order:
a Route set wins (the request follows it); a REGISTER for us goes to the registrar
(registrar and redirect modes); an OPTIONS to us without a user is answered here; edge
mode sends everything else to the upstream set; registrar and redirect modes look the
Request-URI up in the location service and refuse to relay for foreign domains.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from sipguard.config import Mode
from sipguard.proxy.balancer import Target
from sipguard.proxy.identity import LocalIdentity
from sipguard.proxy.location import Location, aor_of
from sipguard.sip import Request, SipParseError, SipUri, Uri, parse_uri
from sipguard.store.base import SourceAddress, SourceFormatError, parse_source

__all__ = ["ALLOWED_METHODS", "Answer", "Forward", "NextHop", "Register", "route_request"]

_METHODS = ("INVITE", "ACK", "CANCEL", "BYE", "OPTIONS", "REGISTER", "INFO", "UPDATE", "PRACK")
ALLOWED_METHODS = ", ".join((*_METHODS, "SUBSCRIBE", "NOTIFY", "REFER", "MESSAGE"))


@dataclass(frozen=True, slots=True)
class NextHop:
    """One target: where to send (``uri``, or ``source`` when set) and what to change."""

    uri: SipUri
    """The URI whose host, port and transport name the next hop (RFC 3263)."""
    request_uri: Uri | None = None
    """The new Request-URI (a registered Contact); None keeps the request's."""
    routes: tuple[str, ...] = ()
    """Route values to pre-load (the binding's Path)."""
    source: SourceAddress | None = None
    """Send here instead of resolving ``uri``: the address a phone registered from
    (it may sit behind a NAT that only lets that address through)."""
    tag: object = None
    """The upstream target this hop is, for health tracking."""


@dataclass(frozen=True, slots=True)
class Forward:
    """Forward to ``hops``: one after the other on failure, or all at once."""

    hops: tuple[NextHop, ...]
    sequential: bool = True
    failover: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class Answer:
    """Answer the request here with ``status``."""

    status: int
    reason: str | None = None
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class Register:
    """The registrar answers (RFC 3261 §10.3)."""


Decision = Forward | Answer | Register


def route_request(  # noqa: PLR0911, PLR0913 - one return per rule; state views passed in
    request: Request,
    *,
    mode: Mode,
    identity: LocalIdentity,
    location: Location,
    upstreams: Callable[[], Sequence[Target]],
    failover: Iterable[int],
    now: float,
    loose_routed: bool = False,
) -> Decision:
    """The routing decision for ``request`` (already through §16.3 and §16.4).

    ``upstreams()`` gives the edge-mode targets in the order to try them (called only
    when the request goes upstream: the balancer's choice is not free); ``now`` is wall
    time (bindings expire in it); ``loose_routed``: a Route of ours was removed, so the
    request belongs to a dialog we record-routed.

    Raises:
        SipParseError: when a Route or the Request-URI is malformed.
    """
    routes = request.routes
    if routes:
        # §16.5: a request with a Route set goes where it says; its Request-URI is the
        # only target (§16.6 step 7 takes the next hop from the top Route).
        top = routes[0].uri
        if not isinstance(top, SipUri):
            return Answer(416, "Unsupported URI Scheme In Route")
        return Forward((NextHop(top),))
    uri = request.uri
    local = isinstance(uri, SipUri) and identity.is_local_uri(uri)
    if request.to.tag is not None and not local:
        # In a dialog, the Request-URI is the remote target (§12.2.1.1): it is where the
        # request goes, but only along a dialog we record-routed; anything else with a
        # foreign Request-URI would make us an open relay.
        if loose_routed and isinstance(uri, SipUri):
            return Forward((NextHop(uri),))
        return Answer(403, "Relaying Denied")
    if request.method == "REGISTER" and local and mode is not Mode.EDGE:
        return Register()
    if request.method == "OPTIONS" and local and isinstance(uri, SipUri) and uri.user is None:
        return Answer(200, headers=(("Allow", ALLOWED_METHODS), ("Accept", "application/sdp")))
    if mode is Mode.EDGE:
        targets = upstreams()
        if not targets:
            return Answer(503, "No Upstream Available")
        hops = tuple(NextHop(t.uri, tag=t) for t in targets)
        return Forward(hops, sequential=True, failover=frozenset(failover))
    if not local or not isinstance(uri, SipUri):
        # No open relaying: a request for a domain we do not serve goes nowhere.
        return Answer(403, "Relaying Denied")
    return _from_location(uri, mode, location, now)


def _from_location(uri: SipUri, mode: Mode, location: Location, now: float) -> Decision:
    bindings = location.lookup(aor_of(uri), now)
    if not bindings:
        # §16.5: an empty target set SHOULD be answered 480 (Temporarily Unavailable).
        return Answer(480)
    if mode is Mode.REDIRECT:
        # §8.3: a redirect server answers 3xx with the Contacts it knows.
        contacts = tuple(("Contact", f"<{b.contact}>") for b in bindings)
        return Answer(302, headers=contacts)
    hops = []
    for binding in bindings:
        try:
            contact = parse_uri(binding.contact)
            first = parse_uri(_route_uri(binding.path[0])) if binding.path else contact
            source = None if binding.path else parse_source(binding.source)
        except (SipParseError, SourceFormatError):
            continue
        if not isinstance(first, SipUri):
            continue
        if source is not None and not _send_to_source(source, first):
            source = None
        hops.append(NextHop(first, request_uri=contact, routes=binding.path, source=source))
    if not hops:
        return Answer(480)
    return Forward(tuple(hops), sequential=False)


def _send_to_source(source: SourceAddress, contact: SipUri) -> bool:
    # Over UDP the address a REGISTER came from is where the phone's NAT lets packets
    # back in (symmetric, RFC 3581), so calls go there. Over a stream, that address is
    # the phone's ephemeral port: the Contact is where it listens, unless the Contact
    # names a private address other than the source (a NAT in between, as nathelper's
    # tests see it), in which case only the source can reach the phone.
    if source.transport in ("udp", "ws", "wss"):
        # RFC 7118 §5: a WebSocket client takes no new connections; its Contact (often
        # "x.invalid") is reachable only over the connection it registered on.
        return True
    try:
        host = ipaddress.ip_address(contact.host_bare)
    except ValueError:
        return False
    return host.is_private and str(host) != source.host


def _route_uri(value: str) -> str:
    # A Path value is a name-addr: "<sip:edge.example.com;lr>".
    value = value.strip()
    if value.startswith("<") and ">" in value:
        return value[1 : value.index(">")]
    return value
