"""Server nonces: HMAC-signed and time-stamped, so any node holding the secret can verify
one without having stored it; and the bounded table of nonce counts that refuses replays.

Theory of operation: a nonce is base64url(version | issue time in microseconds | 6 bytes
derived from the challenged request | MAC over those and the realm | MAC over those, the
realm and the source address), each MAC HMAC-SHA256(secret, ...) cut to 96 bits.
``check`` recomputes them: a bad realm MAC (or garbage, or another realm's nonce) is
INVALID; a good one older than the lifetime is STALE, answered with ``stale=true`` so the
phone retries without asking its user (RFC 7616 §3.3). A nonce presented from another
address than the one it was sent to is STALE too: it is ours, but it proves nothing about
this source. That binding is what lets a valid nonce mark a UDP source as verified: an
attacker who fetched a nonce at its own address cannot spend it from a forged victim
address to get the victim banned. The request-derived bytes make nonces issued in the
same microsecond to two phones behind one NAT differ, without randomness (the stage
stays a pure function of its inputs).

The secret is per process for now: after a restart, outstanding nonces read as INVALID
and phones are simply challenged again. Several nodes will later share one secret (and
one nonce-count table behind the same ``Nonces`` protocol), so a nonce issued by one node
verifies on another.

Rules of this file: no clock (``wall`` is a parameter), no randomness (the secret is
given); ``NonceCounts`` is the only mutable thing and is bounded.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import struct
from collections import OrderedDict
from enum import Enum

__all__ = ["NonceCounts", "NonceFactory", "NonceState"]

_VERSION = 1
_HEAD = struct.Struct(">BQ6s")  # version, issue time (µs since the epoch), request bytes
_MAC_SIZE = 12  # 96 bits: far beyond online guessing, and the nonce stays short
_NONCE_RE = re.compile(r"[A-Za-z0-9_-]{52}\Z")  # 39 bytes, base64url, no padding needed
_MIN_SECRET = 16


class NonceState(Enum):
    """What ``NonceFactory.check`` found."""

    VALID = "valid"
    STALE = "stale"
    """Ours (the MAC is good) but past its lifetime, or presented from another address
    than the one it was issued to: challenge again with stale=true."""
    INVALID = "invalid"
    """Not ours: a bad MAC, another realm, garbage, or issued before a restart."""


class NonceFactory:
    """Issues and verifies stateless nonces under one secret."""

    __slots__ = ("_secret",)

    def __init__(self, secret: bytes) -> None:
        """``secret``: at least 16 random bytes (``secrets.token_bytes(32)`` at start).

        Raises:
            ValueError: a shorter secret.
        """
        if len(secret) < _MIN_SECRET:
            raise ValueError(f"a nonce secret needs at least {_MIN_SECRET} bytes")
        self._secret = secret

    def issue(self, realm: str, wall: float, source: str, unique: bytes = b"") -> str:
        """A nonce for ``realm`` issued at ``wall`` (UNIX seconds) to ``source`` (the IP
        address the challenge goes to); ``unique`` (the request's Call-ID, CSeq...) tells
        apart nonces issued in the same instant to one address."""
        micros = max(0, int(wall * 1_000_000))
        salt = hashlib.sha256(unique).digest()[: _HEAD.size - 9]
        head = _HEAD.pack(_VERSION, micros, salt)
        macs = self._realm_mac(head, realm) + self._source_mac(head, realm, source)
        return base64.urlsafe_b64encode(head + macs).decode("ascii")

    def check(
        self, nonce: str, realm: str, wall: float, lifetime: float, source: str
    ) -> NonceState:
        """Whether ``nonce`` is one of ours for ``realm``, fresh at ``wall``, and
        presented from the ``source`` address it was issued to.

        A nonce from the future by more than ``lifetime`` (the clock stepped back) is
        STALE too: it is ours, but its age cannot be trusted.
        """
        # Strict alphabet first: "+" or "/" would decode to the same bytes, giving one
        # nonce two spellings and so two entries in the nonce-count table.
        if not _NONCE_RE.match(nonce):
            return NonceState.INVALID
        raw = base64.urlsafe_b64decode(nonce)
        head = raw[: _HEAD.size]
        realm_mac, source_mac = raw[_HEAD.size : -_MAC_SIZE], raw[-_MAC_SIZE:]
        if not hmac.compare_digest(realm_mac, self._realm_mac(head, realm)):
            return NonceState.INVALID
        version, micros, _ = _HEAD.unpack(head)
        if version != _VERSION:
            return NonceState.INVALID
        age = wall - micros / 1_000_000
        if age > lifetime or age < -lifetime:
            return NonceState.STALE
        if not hmac.compare_digest(source_mac, self._source_mac(head, realm, source)):
            return NonceState.STALE  # ours, but sent to another address
        return NonceState.VALID

    def _realm_mac(self, head: bytes, realm: str) -> bytes:
        message = b"realm\x00" + head + realm.encode("utf-8")
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:_MAC_SIZE]

    def _source_mac(self, head: bytes, realm: str, source: str) -> bytes:
        message = b"source\x00" + head + realm.encode("utf-8") + b"\x00" + source.encode("utf-8")
        return hmac.new(self._secret, message, hashlib.sha256).digest()[:_MAC_SIZE]


class NonceCounts:
    """The highest nonce count accepted per nonce (the ``Nonces`` protocol), least
    recently used evicted beyond ``max_entries``.

    Only nonces that authenticated a request are recorded, so filling the table takes
    valid credentials; an evicted nonce's history is lost, and its nonce then accepts any
    nc until it expires (at the default 100,000 entries and 300 s lifetime, that takes
    over 300 successful authentications a second).
    """

    __slots__ = ("_counts", "max_entries")

    def __init__(self, max_entries: int = 100_000) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self.max_entries = max_entries
        self._counts: OrderedDict[str, int] = OrderedDict()

    def highest_nc(self, nonce: str) -> int | None:
        """The highest nc accepted for ``nonce``, or None if never used."""
        return self._counts.get(nonce)

    def use(self, nonce: str, nc: int) -> None:
        """Record ``nc`` for ``nonce`` (a lower one never lowers the record)."""
        counts = self._counts
        previous = counts.get(nonce)
        counts[nonce] = nc if previous is None else max(previous, nc)
        counts.move_to_end(nonce)
        while len(counts) > self.max_entries:
            counts.popitem(last=False)

    def __len__(self) -> int:
        return len(self._counts)
