"""Request forwarding, RFC 3261 §16.6 steps 1-8, as pure functions over messages.

Rules of this file: nothing here chooses a target, reads a clock or draws a random
value; the caller passes the target URI, our Via (with a branch whose unique part it
drew) and the Record-Route/Route values. Every header not named by a step keeps its
line byte for byte (step 1: fields not detailed MUST NOT be removed, order kept).

Theory of operation: the core, for each target, calls ``forward_request`` on the
request after §16.4 (``route.preprocess_routes``), then ``postprocess_routing`` (step 6
for a strict-routing next hop) which also names the URI that step 7 resolves
(``destination_of``, then the resolver). Loop detection (RFC 5393 §4.2) needs the
branch to carry ``loop_hash`` of the request as §16.4 left it (``preprocess_routes``'
output, before any retargeting), which ``validate.check_loops`` recomputes the same
way when the request comes back.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Sequence

from sipguard.config import TransportName
from sipguard.proxy.edits import insert_values, replace_element
from sipguard.proxy.errors import TooManyHopsError
from sipguard.proxy.identity import LocalIdentity
from sipguard.sip import Request, SipUri, Uri, Via
from sipguard.sip.grammar import is_token
from sipguard.sip.headers import MAGIC_COOKIE

__all__ = [
    "LOOP_HASH_LENGTH",
    "apply_strict_route",
    "branch_loop_part",
    "forward_request",
    "loop_hash",
    "make_branch",
    "needs_double_record_route",
    "next_hop",
    "our_via",
    "postprocess_routing",
    "record_route_values",
]

LOOP_HASH_LENGTH = 16
"""Hex digits of the loop part of our branches (a 64-bit BLAKE2b digest)."""
_BRANCH_SEPARATOR = "."
_HEX = frozenset("0123456789abcdef")


def loop_hash(request: Request) -> str:
    """The loop-detection part of our branch (RFC 5393 §4.2.1) for ``request`` after
    §16.4 (our own Route values popped, a strict router's Request-URI restored) and
    before retargeting: hashing it before §16.4 would count the Route value naming us,
    gone when the request comes back, and a loop would pass once more as a spiral.

    Covers the To and From tags, Call-ID, Request-URI, CSeq number, Proxy-Require,
    Proxy-Authorization and Route values. Not the method: RFC 5393 §4.2.1 "MUST NOT
    vary with the request method". Not the top Via either, although RFC 3261 §16.6
    step 8 lists it: it is the previous hop's, with a new branch on every pass, so a
    looped request would always look like a spiral. Stable across processes (BLAKE2b,
    not ``hash()``).

    Raises:
        SipParseError: 400 when To, From, CSeq or a Route value is malformed.
    """
    parts = [
        request.to.tag or "",
        request.from_.tag or "",
        request.call_id,
        str(request.uri),
        str(request.cseq.seq),
        *request.values("Proxy-Require"),
        "\x00pa",  # group markers: a value moved between groups changes the hash
        *request.get_all("Proxy-Authorization"),
        "\x00route",
        *request.values("Route"),
    ]
    digest = hashlib.blake2b(digest_size=LOOP_HASH_LENGTH // 2)
    for part in parts:
        data = part.encode("utf-8", "surrogateescape")
        digest.update(b"%d:" % len(data))  # length-prefixed: no two lists encode alike
        digest.update(data)
    return digest.hexdigest()


def make_branch(loop: str, unique: str) -> str:
    """Our branch: magic cookie, ``loop`` (from ``loop_hash``), a dot, ``unique``.

    RFC 3261 §8.1.1.7: the branch MUST start with "z9hG4bK" and be unique per
    transaction (``unique`` is drawn by the caller); RFC 5393 §4.2.1: separable into
    that unique part and the loop part.

    Raises:
        ValueError: ``loop`` is not a loop hash, or ``unique`` is not a non-empty token.
    """
    if len(loop) != LOOP_HASH_LENGTH or not _HEX.issuperset(loop):
        raise ValueError(f"not a loop hash: {loop!r}")
    if not is_token(unique):
        raise ValueError(f"the unique part of a branch must be a token: {unique!r}")
    return f"{MAGIC_COOKIE}{loop}{_BRANCH_SEPARATOR}{unique}"


def branch_loop_part(branch: str | None) -> str | None:
    """The loop part of a branch ``make_branch`` wrote, or None for any other branch."""
    if branch is None or not branch.startswith(MAGIC_COOKIE):
        return None
    start = len(MAGIC_COOKIE)
    end = start + LOOP_HASH_LENGTH
    loop = branch[start:end]
    if branch[end : end + 1] != _BRANCH_SEPARATOR or len(branch) == end + 1:
        return None
    return loop if _HEX.issuperset(loop) else None


def our_via(
    transport: TransportName, host: str, port: int, branch: str, *, rport: bool = True
) -> str:
    """The Via value we put on a forwarded request (RFC 3261 §16.6 step 8, §8.1.1.7).

    ``rport`` (RFC 3581 §3, a MAY) is on by default: it costs nothing and brings
    responses back to the port we sent from when sipguard sits behind a NAT.
    """
    bracketed = f"[{host}]" if ":" in host and not host.startswith("[") else host
    flag = ";rport" if rport else ""
    return f"SIP/2.0/{transport.value.upper()} {bracketed}:{port};branch={branch}{flag}"


def forward_request(  # noqa: PLR0913 - one keyword per §16.6 step the caller decides
    request: Request,
    *,
    request_uri: Uri | None,
    via: Via | str,
    record_route: Sequence[str] = (),
    routes: Sequence[str] = (),
    max_forwards_default: int = 70,
) -> Request:
    """The copy of ``request`` to send to one target (RFC 3261 §16.6 steps 1-5 and 8).

    ``request_uri`` replaces the Request-URI (None keeps it); ``record_route`` and
    ``routes`` are header values, top first, pushed above the existing ones (whether a
    request record-routes - dialog-creating INVITE, SUBSCRIBE, REFER, or any in-dialog
    request - is the caller's choice, step 4); ``via`` becomes the top Via. Step 6's
    strict-route rewrite is ``postprocess_routing``, applied after this.

    Raises:
        TooManyHopsError: Max-Forwards is 0 (``validate_request`` refuses it first).
    """
    out = request
    if request_uri is not None:
        out = out.with_uri(_request_uri_form(request_uri))
    out = _decrement_max_forwards(out, max_forwards_default)
    # Step 4: "insert a Record-Route header field value ... before any existing".
    out = insert_values(out, "Record-Route", record_route, first=True)
    # Step 6 (local policy): "pushed into the Route header field ... ahead of any existing".
    out = insert_values(out, "Route", routes, first=True)
    # Step 8: "MUST insert a Via header field value ... before the existing Via values".
    return insert_values(out, "Via", [str(via)], first=True)


def _request_uri_form(uri: Uri) -> Uri:
    # Step 2: parameters not allowed in a Request-URI MUST be removed; RFC 3261 §19.1.1's
    # table allows neither ``method`` nor URI headers there.
    if not isinstance(uri, SipUri):
        return uri
    if not uri.headers and uri.param("method") is None:
        return uri
    params = tuple((k, v) for k, v in uri.params if k.lower() != "method")
    return uri.with_changes(params=params, headers=())


def _decrement_max_forwards(request: Request, default: int) -> Request:
    hops = request.max_forwards
    if hops is None:
        # Step 3: "the proxy MUST add one with a field value, which SHOULD be 70".
        return insert_values(request, "Max-Forwards", [str(default)], first=False)
    if hops == 0:
        raise TooManyHopsError(options=request.method == "OPTIONS")
    # Step 3: "If the copy contains a Max-Forwards header field, the proxy MUST decrement".
    return request.with_header("Max-Forwards", str(hops - 1))


def next_hop(request: Request) -> Uri:
    """The URI step 7 resolves: the first Route value's, else the Request-URI.

    Call it before ``apply_strict_route`` (or use ``postprocess_routing``): after the
    rewrite the strict router is in the Request-URI and the first Route is the hop after.

    Raises:
        SipParseError: 400 when a Route value is malformed.
    """
    routes = request.routes
    return routes[0].uri if routes else request.uri


def apply_strict_route(request: Request) -> Request:
    """Step 6: when the first Route URI has no ``lr`` (a strict router), append the
    Request-URI as the last Route value and move the first Route URI into the
    Request-URI; otherwise return ``request`` itself.

    Raises:
        SipParseError: 400 when a Route value is malformed.
    """
    routes = request.routes
    if not routes or _is_loose(routes[0].uri):
        return request
    # §16.6 step 6: "place the Request-URI into the Route header field as the last value",
    # "then place the first Route header field value into the Request-URI and remove it".
    out = insert_values(request, "Route", [f"<{request.uri}>"], first=False)
    out = replace_element(out, "Route", 0, None)
    return out.with_uri(_request_uri_form(routes[0].uri))


def postprocess_routing(request: Request) -> tuple[Request, Uri]:
    """Step 6 then step 7's input: the request to send and the URI to resolve.

    Raises:
        SipParseError: 400 when a Route value is malformed.
    """
    return apply_strict_route(request), next_hop(request)


def _is_loose(uri: Uri) -> bool:
    return isinstance(uri, SipUri) and uri.param("lr") is not None


def needs_double_record_route(
    in_transport: TransportName,
    in_family: socket.AddressFamily,
    out_transport: TransportName,
    out_family: socket.AddressFamily,
) -> bool:
    """RFC 5658 §4: two Record-Route values when the request leaves by another
    transport or IP family than it came in by (one URI could not serve both sides)."""
    return in_transport is not out_transport or in_family != out_family


def record_route_values(
    identity: LocalIdentity,
    *,
    inbound: tuple[TransportName, socket.AddressFamily],
    outbound: tuple[TransportName, socket.AddressFamily],
    sips: bool = False,
) -> tuple[str, ...]:
    """Our Record-Route value(s), top first, for a request crossing ``inbound`` ->
    ``outbound`` (transport, family): one, or RFC 5658's two, the URI facing the next
    hop on top (the callee's route set starts there; the caller's, reversed, starts
    with the inbound one). ``sips``: RFC 3261 §16.6 step 4's SIPS form, only for TLS
    and WSS listeners.

    Raises:
        ValueError: no listener for a side (or ``sips`` asked of a plain one).
    """
    out_uri = identity.record_route_uri(*outbound, sips=sips)
    if not needs_double_record_route(*inbound, *outbound):
        return (out_uri,)
    return out_uri, identity.record_route_uri(*inbound, sips=sips)
