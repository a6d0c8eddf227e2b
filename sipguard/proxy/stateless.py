"""The proxy core's stateless paths (RFC 3261 §16.11): ACKs for 2xx, requests handled
without a transaction, and our own replies sent without one.

Rules of this file: nothing here touches the core's tables; every function is a pure
map from (settings, message, hop) to events. A refused ACK is dropped, never answered
(§17.1.1.3).
"""

from __future__ import annotations

from sipguard.proxy.copies import copy_for, reply_statelessly, stateless_branch
from sipguard.proxy.errors import ProxyError
from sipguard.proxy.events import BranchTarget, CoreEvent, Hop, RouteRequest, Send
from sipguard.proxy.replies import local_reply
from sipguard.proxy.route import preprocess_routes
from sipguard.proxy.state import Settings
from sipguard.proxy.validate import validate_request
from sipguard.sip import Request, Response, SipParseError

__all__ = ["forward_stateless", "receive_request_stateless", "reply_stateless", "route_ack"]


def receive_request_stateless(settings: Settings, request: Request, source: Hop) -> list[CoreEvent]:
    """Check (§16.3) and preprocess (§16.4) ``request``, then a ``RouteRequest`` without
    a context; a refusal is answered statelessly, except to an ACK.

    Raises:
        SipParseError: when its top Via is malformed.
    """
    try:
        validate_request(request, identity=settings.identity)
        routed = preprocess_routes(request, settings.identity)
    except (ProxyError, SipParseError) as exc:
        if request.method == "ACK":
            return []  # §17.1.1.3: an ACK is never answered
        headers = exc.headers if isinstance(exc, ProxyError) else ()
        reply = local_reply(
            request, exc.status, exc.reason, headers=headers, server=settings.server_name
        )
        return reply_stateless(reply, source)
    return [RouteRequest(None, routed, source, routed is not request)]


def reply_stateless(response: Response, source: Hop) -> list[CoreEvent]:
    """Our own ``response`` sent without a transaction (§18.2.2, RFC 3581).

    Raises:
        SipParseError: when the top Via is malformed.
    """
    return list(reply_statelessly(response, source))


def forward_stateless(
    settings: Settings, request: Request, target: BranchTarget
) -> list[CoreEvent]:
    """``request`` forwarded to ``target`` with a branch that is a function of the
    request (§16.11: retransmissions MUST get the same branch), so no state is kept."""
    out = copy_for(
        request, target, stateless_branch(request), settings.identity,
        record_route=settings.record_route, flows=settings.flows,
    )  # fmt: skip
    return [Send(target.hop, out)]


def route_ack(settings: Settings, request: Request, source: Hop) -> list[CoreEvent]:
    """An ACK for a 2xx (or reaching an Accepted INVITE), on its way to routing."""
    # §16.3 steps 3-4 hold for an ACK too (Max-Forwards 0, a loop): refused, it is
    # dropped, and forward_stateless never gets one it cannot forward; §16.4 before
    # routing, or our own Route value would send it back to us.
    return receive_request_stateless(settings, request, source)
