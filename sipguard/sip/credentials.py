"""Challenges and credentials (WWW-/Proxy-Authenticate, Authorization, Proxy-Authorization).

Rules of this file: as headers.py's: ``parse_auth`` takes one header value and returns an
immutable value or raises SipParseError(400, "Invalid <Header>"); the value keeps its text in
``raw`` so an unmodified one renders byte for byte.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from sipguard.sip import accel
from sipguard.sip.errors import SipParseError
from sipguard.sip.grammar import is_token, quote, unquote

__all__ = ["AuthValue", "parse_auth"]

_TCHARS = r"[A-Za-z0-9\-.!%*_+`'~]"  # token characters; patterns add their quantifier


class AuthValue(NamedTuple):
    """A challenge or credentials value: scheme plus auth-params (RFC 3261 §25 / RFC 7616).

    ``params`` maps lower-case names to values with quotes removed.
    """

    scheme: str
    params: dict[str, str]
    raw: str = ""
    token68: str | None = None
    """The bare token of schemes such as RFC 8898 "Bearer <access_token>"."""

    @property
    def quoted(self) -> frozenset[str]:
        """Names of the params that were quoted (a verifier may insist on the RFC's form)."""
        parts = _AUTH_SPLIT_RE.split(self.raw.partition(" ")[2].strip())
        return frozenset(
            n.lower() for n, v in zip(parts[1::3], parts[2::3], strict=True) if v[0] == '"'
        )

    def __str__(self) -> str:
        if self.raw:
            return self.raw
        if self.token68 is not None:
            return f"{self.scheme} {self.token68}"
        body = ", ".join(f"{k}={_auth_value(v)}" for k, v in self.params.items())
        return f"{self.scheme} {body}"


def _auth_value(value: str) -> str:
    return value if _TOKEN_VALUE_RE.match(value) else quote(value)


_TOKEN_VALUE_RE = re.compile(rf"{_TCHARS}+\Z")


# auth-param = auth-param-name EQUAL ( token / quoted-string ), comma-separated
_AUTH_VALUE = r'"[^"\\]*+(?:\\.[^"\\]*+)*+"|[^\s,"]++'
# re.split with this pattern yields [junk, name, value, junk, name, value, ..., junk]:
# one pass finds every parameter, and the list is valid exactly when all junk is empty.
# A match may only start where a token starts (the lookbehind), so a failed attempt
# inside a long run of spaces or token characters is not retried at every position.
# token68 = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="  (RFC 7235 §2.1)
_TOKEN68_RE = re.compile(r"[A-Za-z0-9\-._~+/]++=*+\Z")
_AUTH_SPLIT_RE = re.compile(
    rf"(?<![A-Za-z0-9\-.!%*_+`'~])({_TCHARS}++)\s*+=\s*+({_AUTH_VALUE})\s*+(?:,\s*+|\Z)"
)


# credentials = ("Digest" LWS digest-response) / other-response
# other-response = auth-scheme LWS auth-param *(COMMA auth-param)
def parse_auth(text: str, what: str) -> AuthValue:
    """Parse one Authorization / WWW-Authenticate (and proxy) value.

    Raises:
        SipParseError: 400 "Invalid <what>" on a malformed auth-param list or a
        repeated parameter (RFC 7616 §3.4: a directive appears at most once).
    """
    return accel.auth(text, AuthValue) or _parse_auth(text, what)


def _parse_auth(text: str, what: str) -> AuthValue:
    raw = text.strip()
    scheme, _, rest = raw.partition(" ")
    if not is_token(scheme):
        raise SipParseError(400, f"Invalid {what}")
    rest = rest.strip()
    if _TOKEN68_RE.match(rest):
        return AuthValue(scheme, {}, raw, rest)
    parts = _AUTH_SPLIT_RE.split(rest)
    if len(parts) < 4 or any(parts[0::3]):
        raise SipParseError(400, f"Invalid {what}")
    names = parts[1::3]
    if not "".join(names).islower():
        names = [name.lower() for name in names]
    values = [v[1:-1] if v[0] == '"' else v for v in parts[2::3]]
    if "\\" in rest:
        values = [unquote(f'"{v}"') if "\\" in v else v for v in values]
    params = dict(zip(names, values, strict=True))
    if len(params) != len(names):
        raise SipParseError(400, f"Invalid {what}")
    return AuthValue(scheme, params, raw)
