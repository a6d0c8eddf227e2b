"""The state guard stages read and the pipeline changes, as small protocols.

Rules of this file: stages get the read side only (``is_banned``, ``available``,
``highest_nc``, ...); the pipeline alone calls the write side, when it applies a stage's
effects. Implementations live beside the stage that owns them (``banlist.py``,
``ratelimit.py``, ``nonce.py``, ``jail.py``) and keep every table bounded in memory; a
shared backend for several nodes (Redis) implements the same protocols later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from sipguard.guard.effects import OffenceKind

__all__ = ["BanOrder", "Bans", "Calls", "GuardState", "Jails", "Nonces", "Rates", "Sightings"]


@dataclass(frozen=True, slots=True)
class BanOrder:
    """A jail's decision: ban ``network`` (an address or an IPv6 prefix) until ``until``."""

    network: str
    until: float
    jail: str
    offences: int


class Bans(Protocol):
    """Banned addresses and prefixes (checked before parsing)."""

    def is_banned(self, host: str, wall: float) -> bool:
        """True while ``host`` (an IP literal) is inside a ban."""

    def ban(self, order: BanOrder) -> None:
        """Add or extend a ban."""


class Rates(Protocol):
    """Token buckets by key."""

    def available(self, key: str, rate: float, burst: float, now: float) -> float:
        """Tokens ``key`` has now (refilled at ``rate``/s up to ``burst``)."""

    def consume(self, key: str, tokens: float, now: float) -> None:
        """Take ``tokens`` from ``key``."""


class Nonces(Protocol):
    """Nonce counts seen (RFC 7616 §3.4: a reused nc is a replay)."""

    def highest_nc(self, nonce: str) -> int | None:
        """The highest nc accepted for ``nonce``, or None if never used."""

    def use(self, nonce: str, nc: int) -> None:
        """Record ``nc`` as used for ``nonce``."""


class Sightings(Protocol):
    """What each source asked for recently (scanner behaviour: many distinct users)."""

    def distinct(self, source: str, now: float) -> int:
        """How many distinct things ``source`` asked for within the window."""

    def see(self, source: str, what: str, now: float) -> None:
        """Record that ``source`` asked for ``what``."""


class Jails(Protocol):
    """fail2ban-style counting of offences into bans."""

    def offence(
        self, kind: OffenceKind, source: str, verified: bool, wall: float
    ) -> BanOrder | None:
        """Count an offence by ``source`` (an IP literal); a ban when a jail fills up."""


class Calls(Protocol):
    """Calls in progress per user (toll-fraud limits on concurrent calls)."""

    def active(self, user: str, now: float) -> int:
        """How many calls ``user`` has in progress now."""

    def start(self, call_id: str, user: str, now: float) -> None:
        """``user`` started ``call_id`` (its INVITE was admitted)."""

    def answered(self, call_id: str, now: float) -> None:
        """``call_id`` was answered (a 2xx): it may now last up to the longest call."""

    def end(self, call_id: str) -> None:
        """``call_id`` ended (a final non-2xx, a BYE): it no longer counts."""


@dataclass(slots=True)
class GuardState:
    """Every table the guards use, in one place the pipeline owns."""

    bans: Bans
    rates: Rates
    nonces: Nonces
    jails: Jails
    sightings: Sightings
    calls: Calls
