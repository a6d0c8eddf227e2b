"""The registrar (RFC 3261 §10.3, RFC 3327 §5.3): a pure decision over one REGISTER.

Rules of this file:
- ``register(request, location, ...)`` reads the current bindings and returns the
  response and the binding changes; it changes nothing itself. The caller applies the
  changes to the ``Location`` at once (before the next REGISTER is decided: §10.3 wants
  them processed in order) and hands them to the store.
- Atomic by construction (§10.3): the changes are computed on a working copy and
  returned only with a 200; every refusal returns no change at all.
- Every refusal is a ``_RefusalError`` (or a ``SipParseError`` from a header read lazily),
  turned into a response in ``register`` alone. The caller only sees a RegisterOutcome.
- Sans-I/O: ``now`` is a parameter (the Date header is formatted from it).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, replace
from email.utils import formatdate
from enum import StrEnum

from sipguard.config import RegistrarConfig
from sipguard.proxy.location import Location, aor_of, by_preference, host_key
from sipguard.sip import (
    NameAddr,
    Request,
    Response,
    SipParseError,
    SipUri,
    TelUri,
    build_response,
    parse_uri,
    uri_equal,
)
from sipguard.store.base import Binding, BindingChange, DeleteAor, DeleteBinding, PutBinding

__all__ = ["SUPPORTED_OPTIONS", "PathPolicy", "RegisterOutcome", "register"]

SUPPORTED_OPTIONS = frozenset({"path"})
"""Option tags a REGISTER may Require (RFC 3327)."""
_ONE_HOUR = 3600
_MAX_DELTA = 2**32 - 1
_MAX_USER_AGENT = 256  # stored per binding: a bounded copy is enough to identify a phone
# qvalue = ( "0" [ "." 0*3DIGIT ] ) / ( "1" [ "." 0*3("0") ] )
_QVALUE_RE = re.compile(r"(?:0(?:\.[0-9]{0,3})?|1(?:\.0{0,3})?)\Z")


class PathPolicy(StrEnum):
    """What to do with a REGISTER that has Path but whose UA did not list ``path`` in
    Supported (RFC 3327 §5.3 leaves it to local policy)."""

    REJECT = "reject"
    """420 Bad Extension naming ``path``: the policy §5.3 recommends; the UA learns that a
    proxy inserted Path without its consent."""
    ACCEPT = "accept"
    """Store and echo the Path anyway (§5.3: "MAY choose to support the extension")."""


@dataclass(frozen=True, slots=True)
class RegisterOutcome:
    """The response to send and the changes to apply (empty unless the response is 200)."""

    response: Response
    changes: tuple[BindingChange, ...]


class _RefusalError(Exception):
    """A final non-2xx answer, with the extra header fields it must carry."""

    def __init__(self, status: int, reason: str, headers: tuple[tuple[str, str], ...] = ()):
        super().__init__(f"{status} {reason}")
        self.status = status
        self.reason = reason
        self.headers = headers


@dataclass(frozen=True, slots=True)
class _Context:
    config: RegistrarConfig
    served: frozenset[str]
    source: str
    now: float
    path_policy: PathPolicy

    def serves(self, host: str) -> bool:
        return host_key(host) in self.served


def register(  # noqa: PLR0913 - the caller's facts, each keyword-only and named
    request: Request,
    location: Location,
    *,
    config: RegistrarConfig,
    domain: str,
    local_hosts: frozenset[str],
    source: str,
    now: float,
    path_policy: PathPolicy = PathPolicy.REJECT,
) -> RegisterOutcome:
    """Decide a REGISTER (RFC 3261 §10.3) against the bindings in ``location``.

    ``domain`` and ``local_hosts`` (IP literals of our listeners) are the hosts whose
    bindings we keep; ``source`` is the transport address the request came from
    (``sipguard.store.format_source``); ``now`` is wall-clock UNIX seconds.

    Returns:
        The response (always final, with a To tag) and the changes: non-empty only
        with a 200 that changed something.

    Raises:
        ValueError: when ``request`` is not a REGISTER (a caller's bug).
    """
    if request.method != "REGISTER":
        raise ValueError(f"the registrar handles REGISTER, not {request.method}")
    served = frozenset(host_key(h) for h in (domain, *local_hosts))
    ctx = _Context(config, served, source, now, path_policy)
    try:
        return _register(request, location, ctx)
    except _RefusalError as refusal:
        response = _reply(request, refusal.status, refusal.reason, refusal.headers)
    except SipParseError as exc:
        response = _reply(request, exc.status, exc.reason)
    return RegisterOutcome(response, ())


def _register(request: Request, location: Location, ctx: _Context) -> RegisterOutcome:
    _check_request_uri(request, ctx)
    path = _check_extensions(request, ctx)
    # §10.3 steps 3 and 4 (authenticate the UAC; 403 unless it may change this AOR's
    # bindings) are the guard pipeline's (guard/auth.py), run before this is called.
    aor = _address_of_record(request, ctx)
    current = location.bindings(aor, ctx.now)
    changes: tuple[BindingChange, ...] = ()
    after = current
    if _is_wildcard(request):
        changes, after = _remove_all(request, aor, current), ()
    elif request.has("Contact"):
        _check_sips(request)
        after = _update(request, aor, current, path, ctx)
        changes = _diff(aor, current, after)
    # §10.3 step 6: no Contact at all is a query: skip to step 8.
    return RegisterOutcome(_ok(request, after, path, ctx.now), changes)


def _check_request_uri(request: Request, ctx: _Context) -> None:
    # §10.3 step 1: only domains whose bindings we keep. In edge mode the caller forwards
    # REGISTER upstream (§16) instead of calling the registrar at all.
    uri = request.uri
    if not isinstance(uri, SipUri) or not ctx.serves(uri.host):
        raise _RefusalError(404, "Domain Not Served")


def _check_sips(request: Request) -> None:
    # RFC 5630 §5.2: a registrar MUST accept a binding to a SIPS Contact only if the
    # Request-URI, every Contact and every Path are SIPS; else 400 (From/To not counted).
    contacts = [c.uri for c in request.contacts]
    if not any(uri.scheme.lower() == "sips" for uri in contacts):
        return
    paths = [p.uri for p in request.paths]
    if any(uri.scheme.lower() != "sips" for uri in (request.uri, *contacts, *paths)):
        raise _RefusalError(400, "SIPS Contact Needs SIPS Throughout")


def _check_extensions(request: Request, ctx: _Context) -> tuple[str, ...]:
    # §10.3 step 2 / §8.2.2.3: an option tag we do not support in Require MUST get a 420
    # with an Unsupported header listing those tags.
    required = request.tokens("Require")
    unsupported = [tag for tag in required if tag.lower() not in SUPPORTED_OPTIONS]
    if unsupported:
        raise _RefusalError(420, "Bad Extension", (("Unsupported", ", ".join(unsupported)),))
    path = tuple(str(value) for value in request.paths)
    if path and ctx.path_policy is PathPolicy.REJECT:
        supported = {tag.lower() for tag in (*request.tokens("Supported"), *required)}
        # RFC 3327 §5.3: Path without the UA's support: local policy; the recommended one
        # is a 420 naming the Path extension.
        if "path" not in supported:
            raise _RefusalError(420, "Bad Extension", (("Unsupported", "path"),))
    return path


def _address_of_record(request: Request, ctx: _Context) -> str:
    # §10.3 step 5: an AOR not valid for our domain MUST get a 404. A tel: To names no
    # domain, and a To without a user part would bind the domain itself (every request
    # to sip:<domain> would go to that phone): neither can be registered.
    uri = request.to.uri
    if not isinstance(uri, SipUri) or uri.user is None or not ctx.serves(uri.host):
        raise _RefusalError(404, "Address-of-Record Not Served")
    # §10.3 step 5: canonical form: URI parameters removed, escapes decoded.
    return aor_of(uri)


def _is_wildcard(request: Request) -> bool:
    values = request.values("Contact")
    if "*" not in values:
        return False
    # §10.3 step 6: "*" must be the only Contact and come with Expires: 0, else 400.
    if len(values) != 1 or request.expires != 0:
        raise _RefusalError(400, "Invalid Wildcard")
    return True


def _remove_all(
    request: Request, aor: str, current: tuple[Binding, ...]
) -> tuple[BindingChange, ...]:
    call_id, cseq = request.call_id, request.cseq.seq
    for binding in current:
        # §10.3 step 6: another Call-ID: remove; the same: only with a higher CSeq.
        _check_order(binding, call_id, cseq)
    return (DeleteAor(aor),) if current else ()


def _check_order(binding: Binding, call_id: str, cseq: int) -> None:
    # §10.3 steps 6-7: the same Call-ID with a CSeq not higher than the binding's: "the
    # update MUST be aborted and the request fails". 400 as Kamailio answers (the fault
    # is the request's: a replay, or a reordered older REGISTER), not 500, which would
    # tell the UA our server broke.
    if binding.call_id == call_id and cseq <= binding.cseq:
        raise _RefusalError(400, "Out-of-Order CSeq")


def _update(
    request: Request,
    aor: str,
    current: tuple[Binding, ...],
    path: tuple[str, ...],
    ctx: _Context,
) -> tuple[Binding, ...]:
    contacts = request.contacts
    limit = ctx.config.max_contacts
    # Each new contact is a binding and each removal needs a binding: more values than
    # that can never succeed; refusing here also bounds the URI comparisons below.
    if len(contacts) > limit + len(current):
        raise _RefusalError(403, "Too Many Contacts")
    template = _template(request, aor, path, ctx)
    working = list(current)
    written: set[str] = set()  # contacts already processed by this request
    for contact in contacts:
        uri = _contact_uri(contact)
        granted = _granted_expires(contact, request.expires, ctx.config)
        q = _q_value(contact)
        at = next((i for i, b in enumerate(working) if uri_equal(parse_uri(b.contact), uri)), None)
        if at is not None:
            if working[at].contact not in written:
                _check_order(working[at], template.call_id, template.cseq)
            del working[at]
        # §10.3 step 7: an expiration of zero removes the binding; otherwise add/update,
        # recording this request's Call-ID and CSeq.
        if granted > 0:
            text = str(uri)
            working.append(replace(template, contact=text, expires_at=ctx.now + granted, q=q))
            written.add(text)
    # Only a request that adds bindings is refused: a refresh or a removal must go through
    # even for an AOR over the limit (after max_contacts was lowered).
    if len(working) > limit and len(working) > len(current):
        raise _RefusalError(403, "Too Many Contacts")
    return tuple(working)


def _contact_uri(contact: NameAddr) -> SipUri | TelUri:
    if not isinstance(contact.uri, SipUri | TelUri):
        raise _RefusalError(400, "Invalid Contact URI")
    return contact.uri


def _granted_expires(contact: NameAddr, header: int | None, config: RegistrarConfig) -> int:
    # §10.3 step 7: the Contact's expires parameter, else the Expires header, else the
    # configured default.
    param = contact.param("expires")
    if param is not None:
        requested = _delta_seconds(param)
    elif header is not None:
        requested = header
    else:
        requested = config.default_expires
    if requested == 0:
        return 0
    # §10.3 step 7: 423 only when 0 < requested < one hour and below our minimum; it
    # MUST carry Min-Expires (§20.23).
    if requested < config.min_expires and requested < _ONE_HOUR:
        raise _RefusalError(423, "Interval Too Brief", (("Min-Expires", str(config.min_expires)),))
    # §10.3 step 7: "The registrar MAY choose an expiration less than the requested".
    return min(requested, config.max_expires)


def _delta_seconds(value: str) -> int:
    # delta-seconds = 1*DIGIT; values over 2**32-1 read as that (§20.19).
    if not value.isascii() or not value.isdigit():
        raise _RefusalError(400, "Invalid Contact Expires")
    return _MAX_DELTA if len(value) > 10 else min(int(value), _MAX_DELTA)


def _q_value(contact: NameAddr) -> float | None:
    value = contact.param("q")
    if value is None:
        return None
    if not _QVALUE_RE.match(value):
        raise _RefusalError(400, "Invalid Contact q-value")
    return float(value)


def _template(request: Request, aor: str, path: tuple[str, ...], ctx: _Context) -> Binding:
    # What every binding written by this request shares; contact, expiry and q are set
    # per Contact value.
    user_agent = request.get("User-Agent")
    return Binding(
        aor=aor,
        contact="",
        expires_at=ctx.now,
        q=None,
        call_id=request.call_id,
        cseq=request.cseq.seq,
        # RFC 3327 §5.3: the path vector is stored with the binding, in order.
        path=path,
        source=ctx.source,
        user_agent=user_agent[:_MAX_USER_AGENT] if user_agent is not None else None,
        updated_at=ctx.now,
    )


def _diff(
    aor: str, before: tuple[Binding, ...], after: tuple[Binding, ...]
) -> tuple[BindingChange, ...]:
    kept = {b.contact for b in after}
    unchanged = {b.contact: b for b in before}
    removed = [DeleteBinding(aor, b.contact) for b in before if b.contact not in kept]
    put = [PutBinding(b) for b in after if unchanged.get(b.contact) != b]
    return (*removed, *put)


def _ok(
    request: Request, after: tuple[Binding, ...], path: tuple[str, ...], now: float
) -> Response:
    # §10.3 step 8: a 200 listing every current binding, each with the expires the
    # registrar chose, and a Date header. §10.3: no Record-Route in the response
    # (build_response copies none).
    headers = [("Contact", _contact_value(b, now)) for b in by_preference(after)]
    if path:
        # RFC 3327 §5.3: the Path values are copied into the 200.
        headers.append(("Path", ", ".join(path)))
    headers.append(("Date", formatdate(now, usegmt=True)))
    return build_response(request, 200, to_tag=_to_tag(request), headers=headers)


def _contact_value(binding: Binding, now: float) -> str:
    # A binding still current has at least a second left in the answer: "expires=0"
    # would tell the UA it was removed.
    value = f"<{binding.contact}>;expires={max(1, round(binding.expires_at - now))}"
    if binding.q is not None:
        value += f";q={_format_q(binding.q)}"
    return value


def _format_q(q: float) -> str:
    return f"{q:.3f}".rstrip("0").rstrip(".")


def _reply(
    request: Request, status: int, reason: str, headers: tuple[tuple[str, str], ...] = ()
) -> Response:
    return build_response(request, status, reason, to_tag=_to_tag(request), headers=headers)


def _to_tag(request: Request) -> str:
    # §8.2.6.2: a final response carries a To tag. Derived from the request (raw header
    # text, so a malformed one cannot fail here) rather than drawn at random: the same
    # REGISTER gets the same tag, and the function stays pure.
    digest = hashlib.blake2b(digest_size=8)
    for name in ("Call-ID", "From", "CSeq", "Via"):
        digest.update((request.get(name) or "").encode("utf-8", "surrogateescape") + b"\0")
    return digest.hexdigest()
