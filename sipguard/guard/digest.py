"""Digest computations (RFC 3261 §22.4, RFC 7616, RFC 8760): hashes, HA1, the expected
response, and credentials read from an Authorization / Proxy-Authorization value.

Rules of this file: pure functions and values; no clock, no state. Only qop=auth is
accepted: RFC 8760 §2.6 item 8 makes a UAC send qop, and credentials without it (RFC
2069 style) carry no nonce count, so a captured one could be replayed for the nonce's
whole lifetime. Comparisons of secrets go through ``hmac.compare_digest``.

Liberal where real phones are: the algorithm name is matched without regard to case
(``algorithm=md5`` is common), and quoting is not insisted on; the values are the same
either way once unquoted (the parser already did that). The ``uri`` parameter is the one
RFC 8760 §2.6 item 2 says MUST be quoted, and no phone we know of leaves it bare; we
accept it bare too, because a quote changes nothing in what is hashed.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from enum import StrEnum

from sipguard.sip import AuthValue

__all__ = [
    "Algorithm",
    "Credentials",
    "CredentialsError",
    "UnsupportedAlgorithmError",
    "expected_response",
    "ha1",
    "hash_hex",
    "response_matches",
    "session_ha1",
    "supported",
]


class UnsupportedAlgorithmError(ValueError):
    """This Python's hashlib (its OpenSSL) cannot compute the algorithm's hash."""


class CredentialsError(ValueError):
    """Credentials that cannot be checked: a parameter missing, malformed or not offered."""


class Algorithm(StrEnum):
    """Digest algorithms of the IANA "Hash Algorithms for HTTP Digest Authentication"
    registry that SIP uses (RFC 8760 §2.7)."""

    MD5 = "MD5"
    MD5_SESS = "MD5-sess"
    SHA256 = "SHA-256"
    SHA256_SESS = "SHA-256-sess"
    SHA512_256 = "SHA-512-256"
    SHA512_256_SESS = "SHA-512-256-sess"

    @property
    def session(self) -> bool:
        """A "-sess" variant (RFC 7616 §3.4.2: A1 includes nonce and cnonce)."""
        return self.value.endswith("-sess")

    @property
    def base(self) -> Algorithm:
        """The non-session variant: the one a stored HA1 is computed with."""
        return Algorithm(self.value.removesuffix("-sess"))

    @property
    def hex_length(self) -> int:
        """Hex digits of a digest (RFC 8760 §2.2): 32 for MD5, 64 for the others."""
        return 32 if self.base is Algorithm.MD5 else 64

    @classmethod
    def parse(cls, text: str | None) -> Algorithm:
        """The algorithm named ``text`` (any case); absent means MD5 (RFC 7616 §3.3).

        Raises:
            CredentialsError: an unknown name.
        """
        if text is None:
            return cls.MD5
        for member in cls:
            if member.value.lower() == text.lower():
                return member
        raise CredentialsError("unknown algorithm")


# hashlib names; SHA-512/256 is FIPS 180-4's own function (its own initial values), not
# SHA-512 cut to 256 bits. RFC 7616 §3.9.2's printed example used the latter (a known
# erratum); clients that interoperate follow FIPS, and so do we.
_HASHLIB_NAMES = {
    Algorithm.MD5: "md5",
    Algorithm.SHA256: "sha256",
    Algorithm.SHA512_256: "sha512_256",
}


def supported(algorithm: Algorithm) -> bool:
    """True when this Python can compute ``algorithm``'s hash."""
    try:
        hash_hex(algorithm, "")
    except UnsupportedAlgorithmError:
        return False
    return True


def hash_hex(algorithm: Algorithm, data: str) -> str:
    """H(data) as lower-case hex (RFC 7616 §3.3; data encoded as UTF-8, §4).

    Raises:
        UnsupportedAlgorithmError: the hash is missing from this build's OpenSSL.
    """
    name = _HASHLIB_NAMES[algorithm.base]
    try:
        digest = hashlib.new(name, data.encode("utf-8", "surrogateescape"))
    except ValueError as exc:
        raise UnsupportedAlgorithmError(f"{algorithm.base.value} is not available") from exc
    return digest.hexdigest()


def ha1(user: str, realm: str, password: str, algorithm: Algorithm) -> str:
    """H(A1) for the non-session algorithm: H(user ":" realm ":" password) (RFC 7616 §3.4.2);
    the value a user store keeps instead of the password."""
    return hash_hex(algorithm.base, f"{user}:{realm}:{password}")


def session_ha1(stored: str, nonce: str, cnonce: str, algorithm: Algorithm) -> str:
    """H(A1) for a "-sess" algorithm from the stored HA1 (RFC 7616 §3.4.2); ``stored``
    unchanged for the others."""
    if not algorithm.session:
        return stored
    return hash_hex(algorithm, f"{stored}:{nonce}:{cnonce}")


def expected_response(  # noqa: PLR0913, PLR0917 - the RFC's inputs, named as the RFC names them
    ha1: str,
    nonce: str,
    nc: str,
    cnonce: str,
    qop: str,
    method: str,
    uri: str,
    algorithm: Algorithm,
) -> str:
    """The response a client knowing the password sends (RFC 7616 §3.4.1, qop=auth):
    KD(H(A1), nonce ":" nc ":" cnonce ":" qop ":" H(method ":" uri)).

    ``ha1`` is the stored (non-session) HA1; ``nc`` is the 8 hex digits as sent.
    """
    key = session_ha1(ha1, nonce, cnonce, algorithm)
    ha2 = hash_hex(algorithm, f"{method}:{uri}")  # RFC 7616 §3.4.3, qop=auth
    return hash_hex(algorithm, f"{key}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def response_matches(expected: str, given: str) -> bool:
    """Constant-time comparison of two hex responses (case-insensitive hex)."""
    # Header text keeps undecodable bytes as surrogates (the parser's surrogateescape).
    wire = ("utf-8", "surrogateescape")
    return hmac.compare_digest(expected.lower().encode(*wire), given.lower().encode(*wire))


_NC_RE = re.compile(r"[0-9A-Fa-f]{8}\Z")  # nc-value = 8LHEX (RFC 7616 §3.4)
_HEX_RE = re.compile(r"[0-9A-Fa-f]+\Z")
_REQUIRED = ("username", "realm", "nonce", "uri", "response", "cnonce", "nc", "qop")


@dataclass(frozen=True, slots=True)
class Credentials:
    """Digest credentials for qop=auth, validated (RFC 7616 §3.4)."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    """Hex digits of the length the algorithm gives, lower-cased."""
    algorithm: Algorithm
    nc: int
    nc_text: str
    """The nonce count as sent (8 hex digits): the text that was hashed."""
    cnonce: str
    qop: str = "auth"
    opaque: str | None = None

    @classmethod
    def from_auth(cls, value: AuthValue) -> Credentials:
        """Read and validate Digest credentials.

        Raises:
            CredentialsError: not Digest, a required parameter missing or malformed,
                qop other than auth, username* or userhash (never offered), or an
                unknown algorithm.
        """
        if value.scheme.lower() != "digest":
            raise CredentialsError("not Digest credentials")
        p = value.params
        if "username*" in p or p.get("userhash", "false").lower() != "false":
            raise CredentialsError("username hashing was not offered")  # RFC 7616 §3.4.4
        missing = [name for name in _REQUIRED if name not in p]
        if missing:
            raise CredentialsError(f"missing {', '.join(missing)}")
        algorithm = Algorithm.parse(p.get("algorithm"))
        if p["qop"].lower() != "auth":
            raise CredentialsError("qop other than auth")  # the only one we offer
        if not _NC_RE.match(p["nc"]):
            raise CredentialsError("nc is not 8 hex digits")
        response = p["response"]
        if len(response) != algorithm.hex_length or not _HEX_RE.match(response):
            raise CredentialsError("response is not a digest of the algorithm's size")
        if not p["username"] or not p["nonce"] or not p["cnonce"]:
            raise CredentialsError("empty username, nonce or cnonce")
        return cls(
            username=p["username"],
            realm=p["realm"],
            nonce=p["nonce"],
            uri=p["uri"],
            response=response.lower(),
            algorithm=algorithm,
            nc=int(p["nc"], 16),
            nc_text=p["nc"],
            cnonce=p["cnonce"],
            qop=p["qop"],
            opaque=p.get("opaque"),
        )

    def expected(self, stored_ha1: str, method: str) -> str:
        """The response these credentials should carry, given the user's stored HA1."""
        return expected_response(
            stored_ha1,
            self.nonce,
            self.nc_text,
            self.cnonce,
            self.qop,
            method,
            self.uri,
            self.algorithm,
        )
