"""Transaction identity: which transaction a request or a response belongs to.

Rules of this file:
- A ``TransactionKey`` is a hashable value: two messages of one transaction give
  equal keys, so a dict keyed by them is the transaction table. Parts the RFC
  compares case-insensitively (host, branch, §7.3.1) are lower-cased in the key.
- Server side (RFC 3261 §17.2.3): a branch starting with the magic cookie names the
  transaction with the sent-by and the method (ACK counted as INVITE). Without the
  cookie (RFC 2543 peers) the key is built from the Request-URI, From tag, Call-ID,
  CSeq and top Via; an ACK's To tag must then also be checked against the tag of the
  response the server sent (``ack_matches_invite``), which a key cannot hold.
- Client side (§17.1.3): the top Via branch and the CSeq method, nothing else.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from sipguard.sip.grammar import unescape
from sipguard.sip.headers import MAGIC_COOKIE, Via
from sipguard.sip.message import Request, Response
from sipguard.sip.uri import SipUri, Uri, uri_equal

__all__ = [
    "TransactionKey",
    "ack_matches_invite",
    "cancel_target_key",
    "client_key",
    "has_magic_cookie",
    "server_key",
]


@dataclass(frozen=True, slots=True)
class TransactionKey:
    """The identity of one transaction, as a dict key.

    ``host``/``port`` are the top Via sent-by (server keys only); ``legacy`` holds the
    RFC 2543 fields when the branch lacks the magic cookie (empty otherwise).
    """

    method: str
    branch: str
    host: str = ""
    port: int | None = None
    legacy: tuple[str, ...] = ()


def has_magic_cookie(via: Via) -> bool:
    """True when the Via's branch was made by an RFC 3261 client (§8.1.1.7)."""
    branch = via.branch
    return branch is not None and branch.startswith(MAGIC_COOKIE)


def server_key(request: Request) -> TransactionKey:
    """The key of the server transaction ``request`` belongs to (RFC 3261 §17.2.3).

    An ACK gets its INVITE's key, so that an ACK for a non-2xx response finds the
    INVITE server transaction (an ACK for a 2xx carries a new branch and finds none).
    A CANCEL is a transaction of its own; see ``cancel_target_key`` for the one it
    cancels.

    Raises:
        SipParseError: when the top Via, From, To, Call-ID or CSeq is malformed.
    """
    method = "INVITE" if request.method == "ACK" else request.method
    return _key(request, method)


def cancel_target_key(cancel: Request, method: str = "INVITE") -> TransactionKey:
    """The key of the server transaction a CANCEL refers to (RFC 3261 §9.2).

    §9.2 matches the CANCEL "assuming that the request method is anything but CANCEL
    or ACK"; only an INVITE can really be cancelled, hence the default.

    Raises:
        ValueError: when ``cancel`` is not a CANCEL, or ``method`` is ACK or CANCEL.
        SipParseError: when a header the key needs is malformed.
    """
    if cancel.method != "CANCEL":
        raise ValueError(f"not a CANCEL: {cancel.method}")
    if method in ("ACK", "CANCEL"):
        raise ValueError(f"a CANCEL cannot target an {method}")
    return _key(cancel, method)


def client_key(message: Request | Response) -> TransactionKey:
    """The key of the client transaction a response belongs to (RFC 3261 §17.1.3).

    The same function gives the key of the request that created the transaction.
    The CSeq method is part of it: a CANCEL shares its INVITE's branch, so the 200
    to the CANCEL and the 487 to the INVITE go to different transactions.

    Raises:
        SipParseError: when the top Via or CSeq is malformed.
    """
    return TransactionKey(message.cseq.method, (message.via.branch or "").lower())


def ack_matches_invite(ack: Request, invite: Request, response_to_tag: str | None) -> bool:
    """True when ``ack`` acknowledges the response the INVITE server transaction sent.

    With a magic-cookie branch the keys decide. Without one (RFC 2543, §17.2.3) the
    Request-URI, From tag, Call-ID, CSeq number and top Via must match the INVITE's,
    and the ACK's To tag must equal ``response_to_tag``, the tag of the response sent.

    Raises:
        SipParseError: when a header the comparison needs is malformed.
    """
    if ack.method != "ACK" or invite.method != "INVITE":
        return False
    if server_key(ack) != server_key(invite):
        return False
    if has_magic_cookie(ack.via):
        return True
    return uri_equal(ack.uri, invite.uri) and ack.to.tag == response_to_tag


def _key(request: Request, method: str) -> TransactionKey:
    via = request.via
    host = _host_key(via.host)
    branch = via.branch or ""
    if branch.startswith(MAGIC_COOKIE):
        return TransactionKey(method, branch.lower(), host, via.port)
    return TransactionKey(method, branch.lower(), host, via.port, _legacy(request, method))


def _legacy(request: Request, method: str) -> tuple[str, ...]:
    # §17.2.3, RFC 2543 peers: Request-URI, To tag, From tag, Call-ID, CSeq and top Via.
    # The To tag is left out for INVITE (and so for its ACK, whose To tag is that of the
    # response, not of the INVITE): ack_matches_invite checks it.
    to_tag = "" if method == "INVITE" else (request.to.tag or "")
    return (
        _uri_key(request.uri),
        request.from_.tag or "",
        request.call_id,
        str(request.cseq.seq),
        to_tag,
        request.via.transport,
    )


def _host_key(host: str) -> str:
    # Hosts compare case-insensitively; IP addresses by value (RFC 5954 §4.2).
    try:
        return str(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return host.lower()


def _uri_key(uri: Uri) -> str:
    # A canonical text for §19.1.4 equality in a hashable key: case-insensitive parts
    # lower-cased, escapes undone. It is stricter than uri_equal (every parameter
    # counts), which only makes a retransmission with a rewritten URI miss.
    if not isinstance(uri, SipUri):
        return str(uri)
    params = sorted((k.lower(), unescape(v or "").lower()) for k, v in uri.params)
    user = "" if uri.user is None else unescape(uri.user)
    password = "" if uri.password is None else unescape(uri.password)
    return f"{uri.scheme}:{user}:{password}@{_host_key(uri.host)}:{uri.port};{params}"
