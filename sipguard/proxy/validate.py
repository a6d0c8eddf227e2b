"""Request validation before proxying, RFC 3261 §16.3 (with RFC 5393 §4.2.2).

Rules of this file: each check raises a ``ProxyError`` carrying the answer (§16.3: on
failure "the element MUST behave as a user agent server ... and respond with an error
code"); a request that passes returns None. Checks run in the RFC's order, so the
first failing one decides the answer. The request is the one received, before §16.4
route preprocessing (§16.3 comes first); the loop check applies ``preprocess_routes``
itself, because the forwarding side hashed that form into our branch
(``forward.loop_hash``).
"""

from __future__ import annotations

from sipguard.proxy.errors import ProxyError, TooManyHopsError
from sipguard.proxy.forward import branch_loop_part, loop_hash
from sipguard.proxy.identity import LocalIdentity
from sipguard.proxy.route import preprocess_routes
from sipguard.proxy.via import is_our_via
from sipguard.sip import AbsoluteUri, Request

__all__ = ["check_loops", "check_max_forwards", "check_proxy_require", "validate_request"]


def validate_request(
    request: Request, *, identity: LocalIdentity, supported: frozenset[str] = frozenset()
) -> None:
    """Run the §16.3 checks on ``request`` as received.

    1. Reasonable syntax: ``parse_message`` already checked what every transaction
       needs; the headers the later checks read (Via, Proxy-Require) are parsed here
       and a malformed one raises SipParseError(400). Others are left alone, as
       §16.3 step 1 asks.
    2. URI scheme: the parser already answers 416 for a scheme other than sip, sips
       and tel; a request built in code with another scheme gets 416 here.
    3. Max-Forwards 0: ``TooManyHopsError`` (483; its ``options`` flag tells the
       engine it MAY answer an OPTIONS itself, per §11).
    4. Loop detection (RFC 5393 §4.2.2, a MUST there): 482.
    5. Proxy-Require: option tags not in ``supported`` give 420 with Unsupported.
    6. Proxy-Authorization is not checked here: the guard pipeline's auth stage owns
       credentials (§22.3).

    Raises:
        ProxyError: the answer to send (483, 482, 420, 416).
        SipParseError: 400 when a header these checks read is malformed.
    """
    if isinstance(request.uri, AbsoluteUri):
        # §16.3 step 2: "the proxy SHOULD reject the request with a 416".
        raise ProxyError(416)
    check_max_forwards(request)
    check_loops(request, identity)
    check_proxy_require(request, supported)


def check_max_forwards(request: Request) -> None:
    """§16.3 step 3: Max-Forwards 0 MUST NOT be forwarded (absent passes).

    Raises:
        TooManyHopsError: Max-Forwards is 0.
    """
    if request.max_forwards == 0:
        # "If the request was for OPTIONS, the element MAY act as the final recipient
        # ... Otherwise, the element MUST return a 483 (Too many hops) response."
        raise TooManyHopsError(options=request.method == "OPTIONS")


def check_loops(request: Request, identity: LocalIdentity) -> None:
    """RFC 5393 §4.2.2: a Via of ours whose branch carries this request's loop hash
    means it came back unchanged: a loop. A Via of ours with another hash is a spiral
    (the request changed on its way round) and passes.

    Raises:
        ProxyError: 482 Loop Detected.
        SipParseError: 400 when a Via or Route value is malformed.
    """
    current: str | None = None
    for via in request.vias:
        seen = branch_loop_part(via.branch)
        if seen is None or not is_our_via(via, identity):
            continue
        if current is None:
            # Only computed when a Via of ours is present; the form our branch hashed.
            current = loop_hash(preprocess_routes(request, identity))
        if seen == current:
            # RFC 5393 §4.2.2: "the request has looped and the proxy MUST reject the
            # request with a 482 (Loop Detected) response".
            raise ProxyError(482)


def check_proxy_require(request: Request, supported: frozenset[str]) -> None:
    """§16.3 step 5: option tags we do not understand MUST get a 420 with an
    Unsupported header listing them. Option tags are tokens: compared without case.

    Raises:
        ProxyError: 420 Bad Extension.
        SipParseError: 400 when Proxy-Require holds something other than tokens.
    """
    if not request.has("Proxy-Require"):
        return
    known = {tag.lower() for tag in supported}
    unknown = [tag for tag in request.tokens("Proxy-Require") if tag.lower() not in known]
    if unknown:
        raise ProxyError(420, headers=[("Unsupported", ", ".join(dict.fromkeys(unknown)))])
