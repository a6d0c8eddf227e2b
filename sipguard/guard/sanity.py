"""Stage 2, sanity: what the parser and the proxy core do not already refuse.

Already refused elsewhere, so not repeated here: framing, limits, duplicated singleton
headers, CSeq/method mismatch, a bad Content-Length, Max-Forwards over 255 and URI
headers in a Request-URI (``sip/parser.py``, 400); Max-Forwards 0 (483) and loops
(482) (``proxy/validate.py``).

Added here, for initial requests (no To tag: where a PBX reads the user parts as dial
strings and writes them into its CDR database; an in-dialog request's URIs come from
Contacts and route sets the dialog already accepted):

- the Request-URI, To and From user parts are dial strings: letters, digits, the RFC
  3966 visual separators ``-`` ``.`` ``(`` ``)``, ``+`` ``*`` ``#`` and the unreserved
  marks ``_`` ``!`` ``~``; a ``'``, ``;``, ``"``, space, ``&``, ``,``, ``|``, ``$``,
  control character, or an escape decoding to one (``%27``, ``%00``, ``%2527``) smuggles
  SQL or shell into a dial plan (Asterisk's Dial() splits on ``&`` and ``,``). A ``;``
  is allowed only before a known telephone-subscriber parameter (``;phone-context=``,
  ``;isub=``, ``;npdi``, ``;rn=``, ``;cpc=``...), as RFC 3261 §19.1.6 and RFC 3966 use it;
- a user part over ``max_user_length`` characters;
- an initial INVITE without exactly one SIP/SIPS Contact (RFC 3261 §8.1.1.8 MUST); a
  REGISTER may omit Contact (a query, §10.2.3) but a malformed one is refused here;
- a From or To whose scheme is not sip, sips, tel or urn (urn: RFC 5031 service URNs
  such as urn:service:sos must never be blocked).

Rules of this file: pure; a refusal is Reject 400 plus a MALFORMED offence for the jails.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sipguard.guard.context import GuardContext
from sipguard.guard.effects import Offence, OffenceKind
from sipguard.guard.pipeline import Outcome
from sipguard.guard.state import GuardState
from sipguard.guard.verdict import Pass, Reason, Reject
from sipguard.sip import Request, SipParseError, SipUri, TelUri, Uri

__all__ = ["SanityPolicy", "SanityStage"]

_DIAL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-.()+*#_!~")
_ESCAPE_RE = re.compile(r"%([0-9A-Fa-f]{2})")
# RFC 3966 (isub, ext, postd, phone-context), RFC 4715 (isub-encoding), RFC 4694 (npdi,
# rn, rn-context, cic, cic-context), RFC 4904 (tgrp, trunk-context), RFC 4759 (enumdi),
# 3GPP TS 24.229 (cpc, oli), and "context" (AudioCodes gateways send ;context=private).
_USER_PARAMS = (
    "phone-context", "isub", "isub-encoding", "ext", "postd", "npdi", "rn", "rn-context",
    "cic", "cic-context", "tgrp", "trunk-context", "enumdi", "cpc", "oli", "context",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SanityPolicy:
    """Tunables of the sanity stage (``[guard.sanity]``)."""

    max_user_length: int = 64
    """Longest Request-URI, To or From user part accepted, in characters as written."""
    extra_user_chars: str = ""
    """Characters to accept in user parts besides the safe default set (for a dial plan
    that really uses, say, ``=``). Never add quotes, ``;``, ``&`` or ``|``."""
    user_params: tuple[str, ...] = _USER_PARAMS
    """Telephone-subscriber parameters a user part may carry after a ``;``."""
    check_from_user: bool = True
    """Check the From user part too (it becomes the caller ID in CDRs and callbacks)."""
    address_schemes: tuple[str, ...] = ("sip", "sips", "tel", "urn")
    """URI schemes accepted in From and To of an initial request."""
    require_invite_contact: bool = True
    """Refuse an initial INVITE without exactly one SIP/SIPS Contact (RFC 3261 §8.1.1.8)."""


class SanityStage:
    """Refuses requests that would reach a dial plan or registrar in a dangerous shape."""

    name = "sanity"

    def __init__(self, policy: SanityPolicy | None = None) -> None:
        self.policy = policy or SanityPolicy()
        self._chars = _DIAL_CHARS | frozenset(self.policy.extra_user_chars)
        self._params = frozenset(p.lower() for p in self.policy.user_params)
        self._schemes = frozenset(s.lower() for s in self.policy.address_schemes)

    def decide(self, request: Request, ctx: GuardContext, state: GuardState) -> Outcome:
        """Pass, or Reject 400 with a MALFORMED offence by the source."""
        problem = self.problem(request)
        if problem is None:
            return Outcome(Pass())
        reason, detail = problem
        offence = Offence(OffenceKind.MALFORMED, ctx.source.host, ctx.verified or ctx.reliable)
        return Outcome(Reject(400, reason, detail), (offence,))

    def problem(self, request: Request) -> tuple[Reason, str] | None:
        """What is wrong with ``request``, or None."""
        try:
            if request.to.tag is not None:
                return None  # in-dialog: see the module docstring
            return (
                self._scheme_problem(request)
                or self._dial_string_problem(request)
                or self._contact_problem(request)
            )
        except SipParseError as exc:
            return Reason.MALFORMED, exc.reason

    def _scheme_problem(self, request: Request) -> tuple[Reason, str] | None:
        for title, uri in (("From", request.from_.uri), ("To", request.to.uri)):
            if uri.scheme.lower() not in self._schemes:
                return Reason.MALFORMED, f"{title} URI scheme not accepted"
        return None

    def _dial_string_problem(self, request: Request) -> tuple[Reason, str] | None:
        checked: list[tuple[str, Uri]] = [("Request-URI", request.uri), ("To", request.to.uri)]
        if self.policy.check_from_user:
            checked.append(("From", request.from_.uri))
        for title, uri in checked:
            user = _user_of(uri)
            if user is None:
                continue
            if len(user) > self.policy.max_user_length:
                return (
                    Reason.BAD_DIAL_STRING,
                    f"{title} user part over {self.policy.max_user_length} chars",
                )
            if isinstance(uri, SipUri):
                why = self._user_problem(user)
                if why is not None:
                    return Reason.BAD_DIAL_STRING, f"{title} user part: {why}"
        return None

    def _user_problem(self, user: str) -> str | None:
        # user = number *( ";" par ): the telephone-subscriber form (RFC 3261 §19.1.6).
        number, _, rest = user.partition(";")
        why = self._chars_problem(number) if number else "empty"
        if why is not None or not rest:
            return why
        for param in rest.split(";"):
            name, eq, value = param.partition("=")
            if name.lower() not in self._params:
                return "parameter not accepted"
            if eq:
                why = self._chars_problem(value) if value else "empty parameter value"
                if why is not None:
                    return why
        return None

    def _chars_problem(self, text: str) -> str | None:
        decoded = _decode(text)
        if decoded is None:
            return "escape is not UTF-8"
        for char in decoded:
            if char not in self._chars and not (char >= "\x80" and char.isalnum()):
                return f"character U+{ord(char):04X} not accepted"
        return None

    def _contact_problem(self, request: Request) -> tuple[Reason, str] | None:
        if request.method == "REGISTER":
            _ = request.contacts  # may be absent (a query); a malformed one raises
        elif request.method == "INVITE" and self.policy.require_invite_contact:
            contacts = request.contacts
            # RFC 3261 §8.1.1.8: Contact MUST be present with exactly one SIP or SIPS URI.
            if request.contact_is_star or len(contacts) != 1:
                return Reason.MALFORMED, "INVITE without exactly one Contact"
            if contacts[0].sip_uri is None:
                return Reason.MALFORMED, "INVITE Contact is not a SIP or SIPS URI"
        return None


def _user_of(uri: Uri) -> str | None:
    if isinstance(uri, SipUri):
        return uri.user
    if isinstance(uri, TelUri):
        return uri.number  # the parser already held it to tel's characters
    return None


def _decode(text: str) -> str | None:
    """``text`` with %HH escapes decoded as UTF-8, or None when they are not UTF-8."""
    if "%" not in text:
        return text
    pieces = _ESCAPE_RE.split(text)
    out = bytearray()
    for i, piece in enumerate(pieces):
        # split() alternates literal text and the captured hex digits.
        out += bytes([int(piece, 16)]) if i % 2 else piece.encode("utf-8", "surrogateescape")
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        return None
