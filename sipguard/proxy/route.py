"""Route information preprocessing, RFC 3261 §16.4, as pure functions.

Rules of this file: the input is the validated request as received; the output is a
new request (messages are immutable) with the strict-router fix-up done and our own
Route values popped. "Ours" is ``LocalIdentity``'s answer for the URI's host and port.

Our Record-Route URIs (``LocalIdentity.record_route_uri``) have no user part and
always carry ``lr``, and that is how a Request-URI we placed in a Record-Route is
recognised without state (§16.4: "a proxy need only place enough information in those
URIs to recognize them"). A Request-URI naming our domain with a user part
(``sip:bob@example.com``) is an ordinary request to us and is never rewritten.
"""

from __future__ import annotations

from sipguard.config import TransportName
from sipguard.proxy.edits import replace_element
from sipguard.proxy.identity import ListenAddress, LocalIdentity, default_port
from sipguard.sip import Request, SipUri, Uri

__all__ = ["is_in_dialog", "is_our_record_route", "preprocess_routes", "strip_local_maddr"]


def preprocess_routes(request: Request, identity: LocalIdentity) -> Request:
    """``request`` after §16.4: strict-router fix-up, then our Route values removed.

    When the Request-URI is one of our Record-Route URIs and a Route is present (the
    previous hop was a strict router), the last Route value becomes the Request-URI.
    Then every leading Route value naming us is removed: one, or the two of an RFC 5658
    double Record-Route. Returns ``request`` itself when nothing changes.

    Raises:
        SipParseError: 400 when a Route value is malformed.
    """
    out = request
    routes = out.routes
    if routes and is_our_record_route(out.uri, identity):
        # §16.4: "replace the Request-URI in the request with the last value from the
        # Route header field, and remove that value from the Route header field".
        out = replace_element(out, "Route", -1, None).with_uri(routes[-1].uri)
        routes = routes[:-1]
    ours = 0
    while ours < len(routes) and _names_us(routes[ours].uri, identity):
        ours += 1
    # §16.4: "If the first value in the Route header field indicates this proxy, the
    # proxy MUST remove that value"; with a double Record-Route the next one is ours too.
    for _ in range(ours):
        out = out.without_first_value("Route")
    return out


def is_our_record_route(uri: Uri, identity: LocalIdentity) -> bool:
    """True when ``uri`` looks like a Record-Route URI we wrote: ours, no user, ``lr``."""
    return (
        isinstance(uri, SipUri)
        and uri.user is None
        and uri.param("lr") is not None
        and identity.is_local_uri(uri)
    )


def _names_us(uri: Uri, identity: LocalIdentity) -> bool:
    return isinstance(uri, SipUri) and identity.is_local_uri(uri)


def strip_local_maddr(
    request: Request, identity: LocalIdentity, received_on: ListenAddress
) -> Request:
    """§16.4: a Request-URI whose ``maddr`` names us, received on the port and transport
    the URI indicates, loses ``maddr``, its port and its transport parameter; otherwise
    ``request`` itself is returned (a mismatch is forwarded to the indicated place).
    """
    uri = request.uri
    if not isinstance(uri, SipUri):
        return request
    maddr = uri.param("maddr")
    if not maddr:
        return request
    port = uri.port if uri.port is not None else default_port(uri.scheme)
    if not identity.is_local_host(maddr, port) or port != received_on.port:
        return request
    if _uri_transport(uri) is not received_on.transport:
        return request
    params = tuple((k, v) for k, v in uri.params if k.lower() not in ("maddr", "transport"))
    return request.with_uri(uri.with_changes(params=params, port=None))


def _uri_transport(uri: SipUri) -> TransportName | None:
    # The transport a URI indicates "explicitly or by default": UDP for sip, TLS for sips.
    param = uri.transport
    if param is None:
        return TransportName.TLS if uri.scheme == "sips" else TransportName.UDP
    try:
        transport = TransportName(param)
    except ValueError:
        return None
    if uri.scheme == "sips" and transport is TransportName.TCP:
        return TransportName.TLS
    return transport


def is_in_dialog(request: Request) -> bool:
    """True when the To header carries a tag (RFC 3261 §12.2: a mid-dialog request).

    Raises:
        SipParseError: 400 when To is malformed.
    """
    return request.to.tag is not None
