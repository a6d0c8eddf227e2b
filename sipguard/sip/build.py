"""Messages the core builds from other messages: responses, the non-2xx ACK, CANCEL.

Rules of this file: every function is pure, copies header values as written (an
unmodified value renders byte for byte) and enforces the RFC's "MUST equal" rules by
construction. Misuse (a status outside 100-699, an ACK for a 2xx, a CANCEL of an ACK)
is a programming error and raises ValueError.
"""

from __future__ import annotations

from collections.abc import Iterable

from sipguard.sip.errors import SipParseError
from sipguard.sip.message import Request, Response
from sipguard.sip.status import reason_phrase

__all__ = ["build_ack_for_non2xx", "build_cancel", "build_response"]

# RFC 3261 §8.1.1.6: a request starts with Max-Forwards 70.
_MAX_FORWARDS = "70"


def build_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    headers: Iterable[tuple[str, str]] = (),
) -> Response:
    """A response to ``request`` (RFC 3261 §8.2.6).

    Via (every value, in order), From, To, Call-ID and CSeq are copied as written, so
    this works for the ``partial`` request of an answerable SipParseError too;
    ``to_tag`` is added to a To that has none, except on a 100; ``headers`` follow.

    Raises:
        ValueError: when ``status`` is not in 100-699.
    """
    if not 100 <= status <= 699:
        raise ValueError(f"not a SIP status code: {status}")
    phrase = reason if reason is not None else reason_phrase(status)
    # §8.2.6.2: From, Call-ID and CSeq MUST equal the request's: copied as written, so
    # that a request refused for a malformed one of them can still be answered.
    to = request.get("To") or ""
    if to_tag is not None and status > 100:
        to = _with_to_tag(request, to, to_tag)
    # §8.2.6.2: Via values MUST equal the request's, in the same order; copying the
    # lines keeps both the order and the text.
    fields = [("Via", value) for value in request.get_all("Via")]
    fields += [
        ("From", request.get("From") or ""),
        ("To", to),
        ("Call-ID", request.get("Call-ID") or ""),
        ("CSeq", request.get("CSeq") or ""),
    ]
    timestamp = request.get("Timestamp")
    if status == 100 and timestamp is not None:
        # §8.2.6.1: a Timestamp in the request MUST be copied into the 100 (Trying).
        fields.append(("Timestamp", timestamp))
    fields.extend(headers)
    return Response.build(status, phrase, fields)


def _with_to_tag(request: Request, to: str, to_tag: str) -> str:
    # §8.2.6.2: a To without a tag gets the UAS's tag (not in a 100 Trying); a To
    # that has one is copied unchanged. A To too malformed to read is echoed as is.
    try:
        address = request.to
    except SipParseError:
        return to
    return to if address.tag is not None else str(address.with_params(tag=to_tag))


def build_ack_for_non2xx(request: Request, response: Response) -> Request:
    """The ACK a client INVITE transaction sends for a 300-699 response (RFC 3261 §17.1.1.3).

    Raises:
        ValueError: when ``request`` is not an INVITE or ``response`` is not 300-699.
    """
    if request.method != "INVITE":
        raise ValueError(f"an ACK acknowledges an INVITE, not {request.method}")
    if not 300 <= response.status <= 699:
        # §17.1.1.3: an ACK for a 2xx is the TU's, built by the rules of §13.
        raise ValueError(f"the transaction does not ACK a {response.status}")
    # §17.1.1.3: Request-URI, Call-ID and From equal the INVITE's; To equals the
    # response's; the single Via equals the INVITE's top Via; the CSeq number is
    # the INVITE's with method ACK; the INVITE's Route header fields MUST appear.
    return _same_hop_request(request, "ACK", str(response.to))


def build_cancel(request: Request) -> Request:
    """A CANCEL for ``request`` (RFC 3261 §9.1).

    Raises:
        ValueError: when ``request`` is an ACK or a CANCEL (neither can be cancelled).
    """
    if request.method in ("ACK", "CANCEL"):
        raise ValueError(f"a {request.method} cannot be cancelled")
    # §9.1: Request-URI, Call-ID, To, From (tags included) and the CSeq number MUST be
    # identical to the request's, the CSeq method is CANCEL, the single Via matches
    # its top Via, its Route values MUST be included, and no Require/Proxy-Require.
    return _same_hop_request(request, "CANCEL", str(request.to))


def _same_hop_request(request: Request, method: str, to: str) -> Request:
    # What the non-2xx ACK and CANCEL share: they follow ``request`` hop by hop (its
    # Request-URI, top Via and Route set) and name it (From, Call-ID, CSeq number).
    fields = [("Via", str(request.via))]
    fields += [("Route", value) for value in request.get_all("Route")]
    fields += [
        ("Max-Forwards", _MAX_FORWARDS),
        ("From", str(request.from_)),
        ("To", to),
        ("Call-ID", request.call_id),
        ("CSeq", f"{request.cseq.seq} {method}"),
    ]
    return Request.build(method, request.uri, fields)
