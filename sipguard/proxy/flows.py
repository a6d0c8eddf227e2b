"""Flows (RFC 5626 §5.3 style) to UAs whose Contact cannot be reached: a browser's
(``sip:x@df7jal23ls0d.invalid;transport=ws``, RFC 7118 §5) and a phone's behind a NAT
(``sip:1001@192.168.1.20``, seen from 203.0.113.5): requests for them must go back to the
address (the connection) they came from.

How: the Record-Route entry of ours that faces a ws/wss hop carries a ``sgflow``
parameter, a signed token naming that connection's remote address. An in-dialog request
that comes back through us carries our entries as Route values; the last of our leading
entries is the one facing where the request goes next, and its token, when valid, is
where it is sent. Initial requests to a browser use the source its REGISTER came from.

Rules of this file: pure; tokens are HMAC-SHA-256 signed (truncated to 128 bits) with the
node secret, so nobody can point a dialog at another connection, and nodes sharing the
secret read each other's tokens.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress

from sipguard.proxy.identity import LocalIdentity
from sipguard.sip import Request, SipParseError, SipUri, Uri
from sipguard.sip.transports import Peer, TransportName

__all__ = ["FLOW_PARAM", "FLOW_TRANSPORTS", "FlowTokens", "pinned"]

FLOW_PARAM = "sgflow"
_SEPARATOR = "."  # not in URL-safe base64: two tokens in one parameter
FLOW_TRANSPORTS = frozenset({TransportName.WS, TransportName.WSS})
_MAC_BYTES = 16


def pinned(peer: Peer, contact: Uri | None) -> bool:
    """True when a UA at ``peer`` whose Contact is ``contact`` can be reached only at
    ``peer``: over a WebSocket, or when the Contact names a non-global address (private,
    shared, link-local: nathelper's "behind a NAT" test) other than ``peer``'s, or an
    ``.invalid`` host."""
    if peer.transport in FLOW_TRANSPORTS:
        return True
    if not isinstance(contact, SipUri):
        return False
    host = contact.host_bare
    if host.lower().endswith(".invalid"):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False  # a name: resolvable, not ours to second-guess
    return not address.is_global and str(address) != peer.host


class FlowTokens:
    """Signs and reads flow tokens."""

    def __init__(self, secret: bytes) -> None:
        self._key = hmac.new(secret, b"sipguard flow tokens v1", hashlib.sha256).digest()

    def token(self, peer: Peer) -> str:
        """The token naming ``peer`` (URL-safe base64: a URI parameter value)."""
        text = f"{peer.transport.value}|{peer.host}|{peer.port}".encode()
        mac = hmac.new(self._key, text, hashlib.sha256).digest()[:_MAC_BYTES]
        return base64.urlsafe_b64encode(mac + text).rstrip(b"=").decode()

    def peer(self, token: str) -> Peer | None:
        """The connection ``token`` names; None when it is not a valid token of ours."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        except ValueError:
            return None
        mac, text = raw[:_MAC_BYTES], raw[_MAC_BYTES:]
        expected = hmac.new(self._key, text, hashlib.sha256).digest()[:_MAC_BYTES]
        if not hmac.compare_digest(mac, expected):
            return None
        try:
            transport, host, port = text.decode().split("|")
            return Peer(TransportName(transport), host, int(port))
        except ValueError:
            return None

    def mark(self, record_route: str, peer: Peer) -> str:
        """``record_route`` (``<sip:...;lr>``) with the token of ``peer`` added (after any
        token it carries: one entry can face two pinned UAs, a browser calling a browser)."""
        head, bracket, tail = record_route.rpartition(">")
        if not bracket:
            return record_route
        token = self.token(peer)
        if f";{FLOW_PARAM}=" in head:
            return f"{head}{_SEPARATOR}{token}>{tail}"
        return f"{head};{FLOW_PARAM}={token}>{tail}"

    def next_hops(self, request: Request, identity: LocalIdentity) -> tuple[Peer, ...]:
        """The connections an in-dialog ``request`` may have to leave by: the valid tokens
        of the last of its leading Route values that are ours (the caller skips the one
        it came from)."""
        try:
            routes = request.routes
        except SipParseError:
            return ()
        last: SipUri | None = None
        for route in routes:
            uri = route.uri
            if not isinstance(uri, SipUri) or not identity.is_local_uri(uri):
                break
            last = uri
        value = last.param(FLOW_PARAM) if last is not None else None
        if not value:
            return ()
        peers = (self.peer(token) for token in value.split(_SEPARATOR))
        return tuple(peer for peer in peers if peer is not None)
