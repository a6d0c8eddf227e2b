"""Header names: case-insensitive keys, compact forms, and which headers are lists.

Rules of this file: a header's *key* is its lower-case long name; every lookup
goes through ``header_key``. Compact forms are RFC 3261 §7.3.3 plus those
registered later (IANA "Header Fields" registry).
"""

from __future__ import annotations

from sipguard.sip.grammar import is_token

__all__ = ["COMPACT_FORMS", "LIST_HEADERS", "SINGLETON_HEADERS", "SPELLED", "header_key"]

COMPACT_FORMS: dict[str, str] = {
    "a": "accept-contact",  # RFC 3841
    "b": "referred-by",  # RFC 3892
    "c": "content-type",
    "d": "request-disposition",  # RFC 3841
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",  # RFC 3841
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "o": "event",  # RFC 6665
    "r": "refer-to",  # RFC 3515
    "s": "subject",
    "t": "to",
    "u": "allow-events",  # RFC 6665
    "v": "via",
    "x": "session-expires",  # RFC 4028
    "y": "identity",  # RFC 8224
}

# Headers whose ABNF is a comma-separated list ("#" in RFC 3261 §25): a value may be
# split on commas. The authentication headers are not here: their commas separate
# auth-params inside one value.
LIST_HEADERS = frozenset(
    {
        "accept",
        "accept-encoding",
        "accept-language",
        "alert-info",
        "allow",
        "allow-events",
        "call-info",
        "contact",
        "content-encoding",
        "content-language",
        "error-info",
        "in-reply-to",
        "path",
        "p-asserted-identity",
        "p-preferred-identity",
        "proxy-require",
        "reason",
        "record-route",
        "require",
        "route",
        "service-route",
        "supported",
        "unsupported",
        "via",
        "warning",
    }
)

# Headers that may appear once only; a second one is a 400 (RFC 3261 §7.3.1: only
# list headers may be repeated). Limited to those whose duplication changes meaning.
SINGLETON_HEADERS = frozenset(
    {
        "call-id",
        "content-length",
        "content-type",
        "cseq",
        "expires",
        "from",
        "max-forwards",
        "min-expires",
        "to",
    }
)

_OTHER_KNOWN = (
    "authorization",
    "proxy-authorization",
    "www-authenticate",
    "proxy-authenticate",
    "authentication-info",
    "user-agent",
    "server",
    "subject",
    "date",
    "timestamp",
    "organization",
    "priority",
    "retry-after",
    "mime-version",
    "content-disposition",
    "event",
    "subscription-state",
    "refer-to",
    "referred-by",
    "replaces",
    "session-expires",
    "min-se",
    "rack",
    "rseq",
    "identity",
    "remote-party-id",
    "privacy",
    "max-breadth",
)
_KNOWN: dict[str, str] = {name: name for name in (*LIST_HEADERS, *SINGLETON_HEADERS, *_OTHER_KNOWN)}
_KNOWN.update(COMPACT_FORMS)

# Exact spellings seen on the wire → key, so the per-line lookup is one dict probe.
SPELLED: dict[str, str] = {}
_SPECIAL = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "min-se": "Min-SE",
    "rack": "RAck",
    "rseq": "RSeq",
}
for _lower, _key in _KNOWN.items():
    for _spelling in (
        _lower,
        _lower.upper(),
        "-".join(w.capitalize() for w in _lower.split("-")),
        _SPECIAL.get(_lower, _lower),
    ):
        SPELLED[_spelling] = _key


def header_key(name: str) -> str | None:
    """The key for a header name as written, or None when the name is not a token.

    ``name`` may carry whitespace before the colon (HCOLON = *( SP / HTAB ) ":" SWS).
    """
    key = SPELLED.get(name)
    if key is not None:
        return key
    lower = name.lower()
    key = _KNOWN.get(lower)
    if key is not None:
        return key
    lower = lower.rstrip(" \t")
    key = _KNOWN.get(lower)
    if key is not None:
        return key
    return lower if is_token(lower) else None
