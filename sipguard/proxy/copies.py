"""What leaves the proxy without a transaction's help: the forwarded copy of a request for
one target, and the stateless paths of RFC 3261 §16.11 (our own replies, responses that
match no client transaction, the branch of a stateless forward).

Rules of this file: pure functions over a message, the target and our identity; no
tables, no clock. ``core.py`` calls them for both its stateful and stateless paths.
"""

from __future__ import annotations

import hashlib
import socket

from sipguard.config import TransportName
from sipguard.proxy.events import BranchTarget, Hop, Send
from sipguard.proxy.flows import FlowTokens, pinned
from sipguard.proxy.forward import (
    forward_request,
    loop_hash,
    make_branch,
    our_via,
    postprocess_routing,
    record_route_values,
)
from sipguard.proxy.identity import LocalIdentity, address_family
from sipguard.proxy.replies import top_branch
from sipguard.proxy.via import response_destination, strip_top_via
from sipguard.sip import Request, Response, SipParseError, Uri
from sipguard.transport.base import Peer

__all__ = ["copy_for", "reply_statelessly", "response_statelessly", "stateless_branch"]

# §16.6 step 4: Record-Route only where a dialog can start (the caller keeps us on
# the path of the dialog's later requests).
DIALOG_METHODS = frozenset({"INVITE", "SUBSCRIBE", "REFER", "NOTIFY"})


def copy_for(  # noqa: PLR0913 - the copy's inputs, named
    request: Request,
    target: BranchTarget,
    branch: str,
    identity: LocalIdentity,
    *,
    record_route: bool,
    source: Hop | None = None,
    flows: FlowTokens | None = None,
) -> Request:
    """The copy of ``request`` sent to ``target`` with our Via (``branch``), §16.6.
    ``source``: the hop it arrived from (its transport decides RFC 5658's double
    Record-Route; without it, the top Via's is believed when we listen on it).
    ``flows``: mark the entries facing a WebSocket hop with its flow token (flows.py).

    Raises:
        TooManyHopsError: when Max-Forwards is already 0.
        ValueError: when no listener serves the target's transport and family.
    """
    peer = target.hop.peer
    family = address_family(peer.host)
    host, port = identity.sent_by(peer.transport, family)
    values: tuple[str, ...] = ()
    if record_route and request.method in DIALOG_METHODS:
        outbound = (peer.transport, family)
        inbound = _arrived_by(request, outbound, identity, source)
        values = record_route_values(identity, inbound=inbound, outbound=outbound)
        if flows is not None:
            values = _mark_flows(values, flows, request, target, source)
    out = forward_request(
        request,
        request_uri=target.request_uri,
        via=our_via(peer.transport, host, port, branch),
        record_route=values,
        routes=target.routes,
    )
    # §16.6 step 6: a strict router next: its URI becomes the Request-URI.
    return postprocess_routing(out)[0]


def stateless_branch(request: Request) -> str:
    """Our branch for a stateless forward: §16.11 says a retransmission of the request
    MUST get the same one, so it is a function of the request (its loop hash and the
    branch it arrived with)."""
    branch = top_branch(request).encode("utf-8", "surrogateescape")  # as received
    digest = hashlib.blake2b(branch, digest_size=8).hexdigest()
    return make_branch(loop_hash(request), digest)


def reply_statelessly(response: Response, source: Hop) -> list[Send]:
    """Our own ``response`` without a transaction: back on the stream the request came
    on, else to its top Via's response address (§18.2.2, RFC 3581).

    Raises:
        SipParseError: when the top Via is malformed.
    """
    if source.reliable:
        return [Send(source, response)]
    # A Via naming no transport we know (a malformed request's 400): back to the sender.
    return _to_response_address(response) or [Send(source, response)]


def response_statelessly(response: Response, identity: LocalIdentity) -> list[Send]:
    """A response that matches no client transaction, relayed as a stateless proxy would
    (§16.7 first paragraph): our top Via removed, sent to the next one's address; dropped
    when the top Via is not ours.

    Raises:
        SipParseError: when a Via is malformed.
    """
    upstream = strip_top_via(response, identity)
    return _to_response_address(upstream) if upstream is not None else []


def _to_response_address(response: Response) -> list[Send]:
    target = response_destination(response, reliable_connection_open=False)
    if target is None:
        return []
    try:
        transport = TransportName(target.transport.lower())
    except ValueError:
        return []  # not a transport we could send on
    return [Send(Hop(Peer(transport, target.host, target.port)), response)]


def _mark_flows(
    values: tuple[str, ...],
    flows: FlowTokens,
    request: Request,
    target: BranchTarget,
    source: Hop | None,
) -> tuple[str, ...]:
    # The entry facing out is first; with RFC 5658's two, the one facing in is second.
    # One entry for both sides carries both flows: a request never goes back to the side
    # it came from (the engine checks), so it takes the other.
    marked = list(values)
    out = target.hop.peer
    if pinned(out, target.request_uri or request.uri):
        marked[0] = flows.mark(marked[0], out)
    if source is not None and pinned(source.peer, _contact(request)):
        side = 1 if len(marked) == 2 else 0
        marked[side] = flows.mark(marked[side], source.peer)
    return tuple(marked)


def _contact(request: Request) -> Uri | None:
    try:
        contacts = request.contacts
    except SipParseError:
        return None
    return contacts[0].uri if contacts else None


def _arrived_by(
    request: Request,
    default: tuple[TransportName, socket.AddressFamily],
    identity: LocalIdentity,
    source: Hop | None,
) -> tuple[TransportName, socket.AddressFamily]:
    # The transport and address family the request came in by: the hop's when known;
    # else read off its top Via (``received`` is the address). RFC 5658: when they differ
    # from the way out, we record-route twice. A Via can name a transport we do not
    # listen on (it says TCP behind a TLS-terminating hop, or it lies): then one
    # Record-Route, facing the way out.
    if source is not None:
        return source.peer.transport, address_family(source.peer.host)
    via = request.via
    try:
        arrived = (
            TransportName(via.transport.lower()),
            address_family(via.param("received") or via.host),
        )
        identity.listener(*arrived)
    except ValueError:
        return default
    return arrived
