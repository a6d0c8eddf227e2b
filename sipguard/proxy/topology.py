"""Topology hiding: what lies behind us (the PBX, inside proxies) never reaches the outside.

Theory of operation (stateless, in the manner of Kamailio's topoh, with authenticated
encryption instead of a mask): on a message sent to a peer outside ``inside``,
- a request keeps only our Via; the Vias below ours are sealed into a ``sgth``
  parameter of our Via, which every response carries back (RFC 3261 §8.2.6.2: a UAS
  copies Via verbatim), and are put back before the transaction layer sees it;
- Record-Route keeps only our entries; the others are sealed, in the order of the outside
  party's route set, into a ``sgth`` URI parameter of our entry, so the in-dialog
  requests that come back with ``Route: <ours;sgth=...>`` get them back as Routes
  after ours (and a 2xx coming back in gets its Record-Route restored);
- each Contact URI (requests, and 1xx/2xx answers other than to REGISTER) becomes
  ``sip:sgh-<token>@<our address>``, which routes back to us; a request to it gets its
  Request-URI restored. Contacts in REGISTER answers are restored on the way in (a
  phone must find its own Contact in its 200, RFC 3261 §10.2.4).
A token is AES-GCM-SIV over the values (``cryptography``): deterministic, so a
retransmission is byte-for-byte the same, and authenticated, so nobody outside can mint
one that points elsewhere. The key derives from the node secret, so nodes that share it
understand each other's tokens and restarts keep dialogs working.

Not hidden, by design: Call-ID, From and To (identities, not routes) and the SDP body
(media addresses: sipguard does not relay RTP).

Rules of this file: pure functions of a message, the key and our identity; no tables,
no clock. ``reveal`` is safe on any input: a value that does not open is left alone.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from typing import TypeVar

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCMSIV

from sipguard.proxy.edits import replace_element
from sipguard.proxy.identity import LocalIdentity, address_family
from sipguard.sip import NameAddr, Request, Response, SipParseError, SipUri, parse_uri
from sipguard.sip.transports import Peer

__all__ = ["PARAM", "USER_PREFIX", "TopologyHider"]

PARAM = "sgth"
"""The Via and Record-Route parameter that carries sealed values."""
USER_PREFIX = "sgh-"
"""The user part prefix of a Contact token."""
_NONCE = bytes(12)  # AES-GCM-SIV: a fixed nonce gives deterministic encryption
_SEPARATOR = "\n"  # never inside a header value

M = TypeVar("M", Request, Response)


class TopologyHider:
    """Seals and restores Via, Record-Route and Contact (see the module docstring)."""

    def __init__(self, secret: bytes, identity: LocalIdentity) -> None:
        key = hmac.new(secret, b"sipguard topology hiding v1", hashlib.sha256).digest()
        self._aead = AESGCMSIV(key)
        self._identity = identity

    # -- tokens ---------------------------------------------------------------------

    def seal(self, values: Sequence[str]) -> str:
        """``values`` as one token of URL-safe base64 characters (a SIP token)."""
        plain = _SEPARATOR.join(values).encode("utf-8", "surrogateescape")  # bytes as received
        data = self._aead.encrypt(_NONCE, plain, None)
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    def open(self, token: str) -> list[str] | None:
        """The values sealed in ``token``; None when it is not one of ours."""
        try:
            data = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            plain = self._aead.decrypt(_NONCE, data, None)
            return plain.decode("utf-8", "surrogateescape").split(_SEPARATOR)
        except (ValueError, InvalidTag):
            return None

    # -- on the way out ---------------------------------------------------------------

    def hide(self, message: Request | Response, peer: Peer) -> Request | Response:
        """``message`` as it may be sent to ``peer`` outside.

        Raises:
            SipParseError: a header to rewrite is malformed.
        """
        if isinstance(message, Request):
            message = self._hide_vias(message)
            message = self._hide_record_route(message, below=True)
            return self._hide_contacts(message, peer)
        message = self._hide_record_route(message, below=False)
        if message.status < 300 and message.cseq.method != "REGISTER":
            message = self._hide_contacts(message, peer)
        return message

    def _hide_vias(self, request: Request) -> Request:
        vias = request.vias
        if len(vias) < 2:
            return request
        top = vias[0].with_params(**{PARAM: self.seal([str(v) for v in vias[1:]])})
        return request.without_header("Via").with_header_prepended("Via", str(top))

    def _hide_record_route(self, message: M, *, below: bool) -> M:
        # A request: ours are on top and the inside's below. A response: the inside's are
        # above ours (added downstream); sealed reversed, in the caller's route order.
        entries = message.record_routes
        ours = [i for i, e in enumerate(entries) if self._is_ours(e.uri)]
        if not ours or len(ours) == len(entries):
            return message
        anchor = ours[-1] if below else ours[0]
        if below:
            hidden = [str(e) for e in entries[anchor + 1 :] if not self._is_ours(e.uri)]
        else:
            hidden = [str(e) for e in reversed(entries[:anchor]) if not self._is_ours(e.uri)]
        if not hidden:
            return message
        kept = [e for e in entries if self._is_ours(e.uri)]
        sealed = _with_uri_param(entries[anchor], self.seal(hidden))
        values = [sealed if e is entries[anchor] else str(e) for e in kept]
        return message.without_header("Record-Route").with_header_prepended(
            "Record-Route", ", ".join(values)
        )

    def _hide_contacts(self, message: M, peer: Peer) -> M:
        if message.contact_is_star:
            return message
        host, port = self._identity.sent_by(peer.transport, address_family(peer.host))
        for i, contact in enumerate(message.contacts):
            if not isinstance(contact.uri, SipUri) or self._is_ours(contact.uri):
                continue
            params = (("transport", peer.transport.value),) if peer.transport != "udp" else ()
            uri = SipUri(
                contact.uri.scheme,
                f"[{host}]" if ":" in host else host,
                user=USER_PREFIX + self.seal([str(contact.uri)]),
                port=port,
                params=params,
            )
            message = replace_element(message, "Contact", i, str(contact._replace(uri=uri, raw="")))
        return message

    # -- on the way in ------------------------------------------------------------------

    def reveal(self, message: Request | Response) -> Request | Response:
        """``message`` with every value we sealed put back; anything else as it was.

        Raises:
            SipParseError: a header to read is malformed.
        """
        if isinstance(message, Request):
            return self._reveal_route(self._reveal_request_uri(message))
        message = self._reveal_vias(message)
        message = self._reveal_record_route(message)
        if message.cseq.method == "REGISTER" and not message.contact_is_star:
            message = self._reveal_contacts(message)
        return message

    def _reveal_request_uri(self, request: Request) -> Request:
        original = self._contact_of(request.uri) if isinstance(request.uri, SipUri) else None
        return request.with_uri(original) if original is not None else request

    def _reveal_route(self, request: Request) -> Request:
        routes = request.routes
        if not routes or not self._is_ours(routes[0].uri):
            return request
        hidden = self._opened_param(routes[0].uri)
        if hidden is None:
            return request
        value = ", ".join([_without_uri_param(routes[0]), *hidden])
        return replace_element(request, "Route", 0, value)

    def _reveal_vias(self, response: Response) -> Response:
        top = response.via
        token = top.param(PARAM)
        hidden = self.open(token) if token else None
        if hidden is None:
            return response
        restored = [str(top._replace(params=_drop(top.params), raw=""))]
        return response.without_header("Via").with_header_prepended(
            "Via", ", ".join([*restored, *hidden])
        )

    def _reveal_record_route(self, response: Response) -> Response:
        entries = response.record_routes
        for i, entry in enumerate(entries):
            hidden = self._opened_param(entry.uri) if self._is_ours(entry.uri) else None
            if hidden is not None:
                value = ", ".join([_without_uri_param(entry), *hidden])
                return replace_element(response, "Record-Route", i, value)
        return response

    def _reveal_contacts(self, message: M) -> M:
        for i, contact in enumerate(message.contacts):
            original = self._contact_of(contact.uri) if isinstance(contact.uri, SipUri) else None
            if original is not None:
                value = str(contact._replace(uri=original, raw=""))
                message = replace_element(message, "Contact", i, value)
        return message

    # -- helpers -------------------------------------------------------------------------

    def _contact_of(self, uri: SipUri) -> SipUri | None:
        user = uri.user
        if not user or not user.startswith(USER_PREFIX) or not self._identity.is_local_uri(uri):
            return None
        values = self.open(user.removeprefix(USER_PREFIX))
        if not values or len(values) != 1:
            return None
        try:
            parsed = parse_uri(values[0])
        except SipParseError:
            return None
        return parsed if isinstance(parsed, SipUri) else None

    def _opened_param(self, uri: object) -> list[str] | None:
        if not isinstance(uri, SipUri):
            return None
        token = uri.param(PARAM)
        return self.open(token) if token else None

    def _is_ours(self, uri: object) -> bool:
        return isinstance(uri, SipUri) and self._identity.is_local_uri(uri)


def _with_uri_param(entry: NameAddr, token: str) -> str:
    uri = entry.uri
    assert isinstance(uri, SipUri)  # noqa: S101 - callers checked it is ours
    return str(entry._replace(uri=uri.with_changes(params=(*uri.params, (PARAM, token))), raw=""))


def _without_uri_param(entry: NameAddr) -> str:
    uri = entry.uri
    assert isinstance(uri, SipUri)  # noqa: S101 - callers checked it is ours
    return str(entry._replace(uri=uri.with_changes(params=_drop(uri.params)), raw=""))


def _drop(params: tuple[tuple[str, str | None], ...]) -> tuple[tuple[str, str | None], ...]:
    return tuple(p for p in params if p[0].lower() != PARAM)
