"""Jails: offences counted into bans, fail2ban style ("decide": stages detect, the ban
list acts).

Rules of this file:
- A jail counts the offences of the kinds it lists, per source network (an IPv4 address,
  or an IPv6 ``ipv6_prefix`` network, since one host owns a whole /64). ``maxretry``
  offences within ``findtime`` seconds order a ban of ``bantime`` seconds, multiplied by
  ``escalation`` for each earlier ban of that network by that jail, capped at
  ``max_bantime``. A ban resets the network's counts.
- Forged sources: a UDP source address can be forged, so evidence from a source that
  has not shown it receives our packets (``verified`` false) would let anyone get a
  victim banned. It never counts toward ``maxretry``. A jail may set a stricter,
  separate ``unverified_maxretry``, counted over all evidence; without one (the
  default) unverified evidence is not even stored, and only the rate limits see it.
- ``ignore`` networks (and the trusted peers the caller adds to them) are never banned.
- Bounded: verified counts, unverified counts and ban histories are three LRU tables of
  at most ``max_sources`` entries each, so a flood of forged offences cannot push out
  the verified counts, and an evicted count only makes a ban later, never sooner.
- Time is a parameter (``wall``, UNIX seconds): bans outlive a restart.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from dataclasses import dataclass
from typing import TypeVar

from sipguard.guard.banlist import canonical_network, network_of
from sipguard.guard.effects import OffenceKind
from sipguard.guard.state import BanOrder

__all__ = ["DEFAULT_JAILS", "Jail", "JailPolicy", "JailTable"]

MINUTE = 60.0
HOUR = 60 * MINUTE
DAY = 24 * HOUR
_V = TypeVar("_V")
_MAX_STEPS = 64
"""Escalation steps counted at most (beyond this every cap has long been reached)."""


@dataclass(frozen=True, slots=True)
class Jail:
    """One jail (``[[guard.jail.jails]]``)."""

    name: str
    """Shown in the ban list and the audit log."""
    events: tuple[OffenceKind, ...]
    """The offence kinds it counts."""
    maxretry: int
    """Verified offences within ``findtime`` that order a ban."""
    findtime: float
    """Seconds: the window offences are counted in."""
    bantime: float
    """Seconds: the first ban's length."""
    escalation: float = 2.0
    """Each earlier ban of the same network multiplies ``bantime`` by this (1: no growth)."""
    max_bantime: float = 7 * DAY
    """Seconds: no ban from this jail is longer."""
    unverified_maxretry: int | None = None
    """Offences of any evidence (including unverified UDP sources, which may be forged)
    within ``findtime`` that order a ban; None: unverified evidence never bans."""

    def __post_init__(self) -> None:
        if not self.name or not self.events:
            raise ValueError("a jail needs a name and at least one event")
        if self.maxretry < 1 or self.findtime <= 0 or self.bantime <= 0:
            raise ValueError(f"jail {self.name}: maxretry, findtime and bantime must be > 0")
        if self.escalation < 1 or self.max_bantime < self.bantime:
            raise ValueError(f"jail {self.name}: escalation >= 1 and max_bantime >= bantime")
        if self.unverified_maxretry is not None and self.unverified_maxretry < self.maxretry:
            raise ValueError(f"jail {self.name}: unverified_maxretry must be >= maxretry")


DEFAULT_JAILS = (
    Jail("auth", (OffenceKind.AUTH_FAILURE,), maxretry=5, findtime=10 * MINUTE, bantime=HOUR),
    # A scanner over UDP cannot be verified (it never answers a challenge): a sweep of
    # 20 scanner requests in 10 minutes bans it anyway, a threshold a few forged packets
    # cannot reach by accident (issue 5: "a stricter, separate threshold").
    Jail(
        "scanner",
        (OffenceKind.SCANNER,),
        1,
        10 * MINUTE,
        DAY,
        max_bantime=28 * DAY,
        unverified_maxretry=20,
    ),
    # Pike reports every request over the density, so 20 is a sustained flood, not a burst.
    Jail("flood", (OffenceKind.FLOOD,), 20, MINUTE, 10 * MINUTE, max_bantime=DAY),
    Jail("malformed", (OffenceKind.MALFORMED,), 10, MINUTE, 10 * MINUTE, max_bantime=DAY),
)


@dataclass(frozen=True, slots=True)
class JailPolicy:
    """Tunables of the jails (``[guard.jail]``)."""

    jails: tuple[Jail, ...] = DEFAULT_JAILS
    """The jails; an offence kind no jail lists never bans."""
    ipv6_prefix: int = 64
    """IPv6 offenders are counted and banned by this prefix."""
    ignore: tuple[str, ...] = ()
    """Addresses and CIDRs never banned; add the trusted peers here too."""

    def __post_init__(self) -> None:
        names = [j.name for j in self.jails]
        if len(set(names)) != len(names):
            raise ValueError("jail names must be unique")
        if not 0 <= self.ipv6_prefix <= 128:
            raise ValueError("ipv6_prefix must be within 0..128")
        for cidr in self.ignore:
            canonical_network(cidr)  # raises InvalidNetworkError (a ValueError)


_Key = tuple[str, str]
"""(jail name, offender network)."""


class JailTable:
    """Counts offences into ban orders (the ``Jails`` protocol)."""

    __slots__ = ("_by_kind", "_history", "_ignore", "_max", "_unverified", "_verified", "policy")

    def __init__(self, policy: JailPolicy | None = None, max_sources: int = 65_536) -> None:
        if max_sources < 1:
            raise ValueError("max_sources must be at least 1")
        self.policy = policy or JailPolicy()
        self._max = max_sources
        self._ignore = tuple(ipaddress.ip_network(c, strict=False) for c in self.policy.ignore)
        by_kind: dict[OffenceKind, list[Jail]] = {}
        for jail in self.policy.jails:
            for kind in jail.events:
                by_kind.setdefault(kind, []).append(jail)
        self._by_kind = {kind: tuple(jails) for kind, jails in by_kind.items()}
        self._verified: OrderedDict[_Key, list[float]] = OrderedDict()
        self._unverified: OrderedDict[_Key, list[float]] = OrderedDict()
        self._history: OrderedDict[_Key, int] = OrderedDict()
        """How many times a jail banned a network (for escalation)."""

    def __len__(self) -> int:
        """Entries held over all three tables (at most 3 * ``max_sources``)."""
        return len(self._verified) + len(self._unverified) + len(self._history)

    def offence(
        self, kind: OffenceKind, source: str, verified: bool, wall: float
    ) -> BanOrder | None:
        """Count an offence by ``source`` (an IP literal); a ban order when a jail fills
        up (the longest, when several do), else None."""
        jails = self._by_kind.get(kind, ())
        if not verified:
            jails = tuple(j for j in jails if j.unverified_maxretry is not None)
        if not jails:
            return None
        network = self._network(source)
        if network is None:
            return None
        best: BanOrder | None = None
        for jail in jails:
            order = self._count(jail, network, verified, wall)
            if order is not None and (best is None or order.until > best.until):
                best = order
        return best

    def bans_of(self, jail: str, network: str) -> int:
        """How many times ``jail`` banned ``network`` (as remembered; 0 if forgotten)."""
        return self._history.get((jail, network), 0)

    def _network(self, source: str) -> str | None:
        try:
            addr = ipaddress.ip_address(source)
        except ValueError:
            return None  # not an IP literal: nothing to ban
        if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
            addr = addr.ipv4_mapped
        if any(addr in net for net in self._ignore):
            return None
        return network_of(str(addr), self.policy.ipv6_prefix)

    def _count(self, jail: Jail, network: str, verified: bool, wall: float) -> BanOrder | None:
        key = (jail.name, network)
        full: list[float] | None = None
        if verified:
            times = self._touch(self._verified, key)
            if _add(times, wall, jail.maxretry, jail.findtime):
                full = times
        if jail.unverified_maxretry is not None:
            times = self._touch(self._unverified, key)
            if _add(times, wall, jail.unverified_maxretry, jail.findtime):
                full = full or times
        if full is None:
            return None
        offences = len(full)
        self._verified.pop(key, None)
        self._unverified.pop(key, None)
        earlier = self._history.pop(key, 0)
        self._remember(self._history, key, min(earlier + 1, _MAX_STEPS))
        return BanOrder(network, wall + _duration(jail, earlier), jail.name, offences)

    def _touch(self, table: OrderedDict[_Key, list[float]], key: _Key) -> list[float]:
        times = table.get(key)
        if times is None:
            times = []
            self._remember(table, key, times)
        else:
            table.move_to_end(key)
        return times

    def _remember(self, table: OrderedDict[_Key, _V], key: _Key, value: _V) -> None:
        while len(table) >= self._max:
            table.popitem(last=False)
        table[key] = value


def _add(times: list[float], wall: float, limit: int, findtime: float) -> bool:
    """Record an offence at ``wall``; True when ``limit`` of them fall within ``findtime``."""
    times.append(wall)
    if len(times) > limit:
        del times[:-limit]  # only the last ``limit`` can decide: memory stays bounded
    return len(times) == limit and wall - times[0] <= findtime


def _duration(jail: Jail, earlier: int) -> float:
    """``bantime * escalation ** earlier``, capped at ``max_bantime``."""
    duration = jail.bantime
    for _ in range(min(earlier, _MAX_STEPS)):
        duration *= jail.escalation
        if duration >= jail.max_bantime:
            break
    return min(duration, jail.max_bantime)
