"""The top Via: stamping where a request came from, and where its responses go.

Rules of this file: RFC 3261 §18.2.1 and RFC 3581 §4 on receipt (``received``,
``rport``), §18.2.2 and RFC 3581 §4 on sending a response, §16.7 step 3 when a
response goes back upstream. Only the top Via value is ever rewritten; every other
line keeps its text. Nothing here resolves names: a host name in a destination is for
the resolver (RFC 3263 §5).

Security: ``received`` and ``rport`` are ours to write. A client that sends its own
(``received=<victim>``) would steer our responses elsewhere, so a value that does not
match the packet's source is always overwritten.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipguard.proxy.edits import replace_element
from sipguard.proxy.identity import LocalIdentity, default_port, normalize_ip
from sipguard.sip import Request, Response, Via

__all__ = [
    "ResponseTarget",
    "is_our_via",
    "response_destination",
    "stamp_received",
    "strip_top_via",
]

_RELIABLE = frozenset({"TCP", "TLS", "SCTP", "TLS-SCTP", "WS", "WSS"})
_NO_RECONNECT = frozenset({"WS", "WSS"})  # RFC 7118: only the client opens WebSockets


@dataclass(frozen=True, slots=True)
class ResponseTarget:
    """Where to send a response: ``transport`` as in the Via ("UDP", "TCP"...), ``host``
    an IP literal without brackets or a name, and ``port``. ``same_connection``: send it
    on the connection the request came in on (RFC 3261 §18.2.2); host and port then
    name the peer, for logs."""

    transport: str
    host: str
    port: int
    same_connection: bool = False


def stamp_received(request: Request, source_host: str, source_port: int) -> Request:
    """``request`` with ``received`` (and ``rport``) set on its top Via for a packet
    from ``source_host``:``source_port``; the same object when nothing changes.

    RFC 3261 §18.2.1: ``received`` when the sent-by host differs from the source
    (IPs compared by value; a host name always differs). RFC 3581 §4: an ``rport``
    parameter gets the source port, and then ``received`` is always added.

    Raises:
        SipParseError: 400 when the top Via is malformed.
    """
    via = request.via
    rport = via.param("rport")
    received = via.param("received")
    if via.host == source_host and rport is None and received is None:
        return request  # the common case, decided without parsing an address
    source_ip = normalize_ip(source_host)
    source = str(source_ip) if source_ip is not None else source_host
    changes: dict[str, str | None] = {}
    if rport is not None and rport != str(source_port):
        changes["rport"] = str(source_port)
    differs = source_ip is None or normalize_ip(via.host) != source_ip
    if (changes or differs or received is not None) and received != source:
        changes["received"] = source
    if not changes:
        return request
    return replace_element(request, "Via", 0, str(via.with_params(**changes)))


def response_destination(
    response: Response, *, reliable_connection_open: bool
) -> ResponseTarget | None:
    """Where ``response`` goes, from its top Via (RFC 3261 §18.2.2, RFC 3581 §4).

    Reliable transports use the request's connection while it is open, else a new one
    to ``received`` (or sent-by) at the sent-by port; WebSocket clients cannot be
    reached once their connection is gone (None: drop). Unreliable ones go to
    ``maddr`` (sent-by port or 5060), else to ``received`` at ``rport`` or the sent-by
    port, else to sent-by. None too for a response without Via.

    Raises:
        SipParseError: 400 when the top Via is malformed.
    """
    if not response.has("Via"):
        return None
    via = response.via
    transport = via.transport.upper()
    port = via.port if via.port is not None else default_port(transport)
    received = via.param("received")
    if transport in _RELIABLE:
        host = received or _bare(via.host)
        if reliable_connection_open:
            return ResponseTarget(transport, host, port, same_connection=True)
        return None if transport in _NO_RECONNECT else ResponseTarget(transport, host, port)
    maddr = via.param("maddr")
    if maddr:
        # §18.2.2: "to the address indicated by the maddr ... using the port indicated
        # in sent-by, or port 5060 if none is present" (multicast TTL is not supported).
        return ResponseTarget(transport, _bare(maddr), port)
    if received:
        # RFC 3581 §4: with both received and rport, "the port in the rport parameter".
        rport = via.param("rport")
        if rport and rport.isascii() and rport.isdigit() and 0 < int(rport) <= 65535:
            port = int(rport)
        return ResponseTarget(transport, _bare(received), port)
    return ResponseTarget(transport, _bare(via.host), port)


def strip_top_via(response: Response, identity: LocalIdentity) -> Response | None:
    """``response`` without its top Via when that Via is ours, else None (drop it).

    RFC 3261 §16.7 step 3: "The proxy removes the topmost Via header field value";
    §18.1.2: a response whose top Via is not ours "MUST be discarded". The caller
    checks whether a Via remains (none: the response was for us, not to forward).

    Raises:
        SipParseError: 400 when the top Via is malformed.
    """
    if not response.has("Via") or not is_our_via(response.via, identity):
        return None
    return response.without_first_value("Via")


def is_our_via(via: Via, identity: LocalIdentity) -> bool:
    """True when ``via``'s sent-by names one of our listeners (or our domain/aliases)."""
    return identity.is_local_host(via.host, via.port, default=default_port(via.transport))


def _bare(host: str) -> str:
    return host[1:-1] if host.startswith("[") and host.endswith("]") else host
