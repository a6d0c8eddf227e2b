"""The upstream dispatcher: which PBX targets a transaction tries, and in what order.

Rules of this file:
- Sans-I/O: randomness comes in as a ``random.Random`` and time as ``now``; the only
  mutable state is the round-robin counter and each target's ``TargetHealth``.
- ``candidates`` returns UP targets only, grouped by ``priority`` (lower first). Every
  group is ordered by the configured algorithm; the first target of the first group is
  the algorithm's pick, everything after it the failover order.
- Algorithms are a name -> function table (``_ORDERS``); each function orders one group.
- ``call-id-hash`` is weighted rendezvous hashing (highest random weight) with blake2b,
  never ``hash()``: Python salts ``hash()`` per process, which would send the same
  Call-ID to different PBXes from different workers or after a restart. The hash key of
  a target is its URI text, so reordering the configuration keeps calls where they are.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from types import MappingProxyType

from sipguard.config import Algorithm, DispatcherConfig, UpstreamConfig
from sipguard.proxy.health import FailureReason, Health, HealthEvent, TargetHealth
from sipguard.sip import SipUri

__all__ = ["Balancer", "Target", "rendezvous_score"]

_HASH_BITS = 53  # a float holds 53 bits exactly: the uniform draw below never rounds to 1.0


@dataclass(frozen=True, slots=True)
class Target:
    """One upstream PBX: its position in the configuration and its URI identify it."""

    index: int
    """Position in the ``[[upstream]]`` list."""
    uri: SipUri
    priority: int
    """Lower is preferred."""
    weight: int
    """Share within the priority group (weighted and call-id-hash algorithms)."""

    @property
    def key(self) -> str:
        """The text hashed with a Call-ID (stable across processes and config reorders)."""
        return str(self.uri)


# Orders one priority group: (group in config order, call_id, rng, round-robin turn).
_Order = Callable[[Sequence[Target], str, random.Random, int], list[Target]]


def _by_config(
    group: Sequence[Target], call_id: str, rng: random.Random, turn: int
) -> list[Target]:
    return list(group)


def _rotated(group: Sequence[Target], call_id: str, rng: random.Random, turn: int) -> list[Target]:
    start = turn % len(group)
    return [*group[start:], *group[:start]]


def _weighted_shuffle(
    group: Sequence[Target], call_id: str, rng: random.Random, turn: int
) -> list[Target]:
    # An exponential race: each target draws Exp(weight) and the smallest wins. The first
    # is picked with probability weight/total, and the order equals successive weighted
    # draws without replacement (Efraimidis-Spirakis), in one pass.
    draws = [(rng.expovariate(t.weight), t.index, t) for t in group]
    return [t for _, _, t in sorted(draws)]


def rendezvous_score(call_id: str, target: Target) -> float:
    """Weighted rendezvous score of ``target`` for ``call_id``; the highest score wins.

    ``-weight / ln(u)`` with ``u`` uniform in (0, 1) from blake2b: the winner is ``target``
    with probability weight/total, and removing a target moves only the Call-IDs it won.
    """
    data = f"{call_id}\x00{target.key}".encode("utf-8", "surrogateescape")
    digest = hashlib.blake2b(data, digest_size=8).digest()
    u = ((int.from_bytes(digest, "big") >> (64 - _HASH_BITS)) + 0.5) / 2**_HASH_BITS
    return -target.weight / math.log(u)


def _by_rendezvous(
    group: Sequence[Target], call_id: str, rng: random.Random, turn: int
) -> list[Target]:
    return sorted(group, key=lambda t: (-rendezvous_score(call_id, t), t.index))


_ORDERS: Mapping[Algorithm, _Order] = MappingProxyType(
    {
        Algorithm.PRIORITY: _by_config,
        Algorithm.ROUND_ROBIN: _rotated,
        Algorithm.WEIGHTED: _weighted_shuffle,
        Algorithm.CALL_ID_HASH: _by_rendezvous,
    }
)


class Balancer:
    """One ``Target`` per upstream, its health, and the order transactions try them in."""

    __slots__ = ("_by_priority", "_health", "_order", "_targets", "_turn")

    def __init__(self, upstreams: Sequence[UpstreamConfig], config: DispatcherConfig) -> None:
        """Build the targets in configuration order, all UP.

        Raises:
            ValueError: a weight below 1, or a health threshold below 1.
        """
        targets = tuple(Target(i, up.uri, up.priority, up.weight) for i, up in enumerate(upstreams))
        for t in targets:
            if t.weight < 1:
                raise ValueError(f"upstream {t.index} ({t.uri}): weight must be >= 1")
        self._targets = targets
        self._health = tuple(
            TargetHealth(t, down_after=config.down_after, up_after=config.up_after) for t in targets
        )
        self._by_priority = tuple(sorted(targets, key=lambda t: (t.priority, t.index)))
        self._order = _ORDERS[config.algorithm]
        self._turn = 0

    @property
    def targets(self) -> tuple[Target, ...]:
        """Every target, in configuration order, whatever its health."""
        return self._targets

    @property
    def up_count(self) -> int:
        """How many targets are UP."""
        return sum(h.is_up for h in self._health)

    def health(self, target: Target) -> Health:
        """The health state of ``target``.

        Raises:
            ValueError: ``target`` is not one of this balancer's targets.
        """
        return self._health_of(target).state

    def candidates(self, call_id: str, rng: random.Random) -> tuple[Target, ...]:
        """The targets a new transaction for ``call_id`` tries, in order.

        Empty only when no upstream is configured.
        """
        up = [t for t in self._by_priority if self._health[t.index].is_up]
        if not up:
            # Every target is DOWN: probes lag behind reality (a PBX back from a restart
            # answers calls before its next probe), so trying them all in priority order
            # beats answering 503 at once. The engine answers 503 only for an empty list.
            return self._by_priority
        turn = self._turn
        self._turn += 1
        ordered: list[Target] = []
        for _, group in groupby(up, key=lambda t: t.priority):
            ordered += self._order(list(group), call_id, rng, turn)
        return tuple(ordered)

    def mark(
        self,
        target: Target,
        ok: bool,
        now: float,
        *,
        reason: FailureReason = FailureReason.FAILED,
    ) -> HealthEvent[Target] | None:
        """Record a probe or transaction result for ``target``; the event when its state changes.

        Raises:
            ValueError: ``target`` is not one of this balancer's targets.
        """
        health = self._health_of(target)
        return health.record_success(now) if ok else health.record_failure(now, reason)

    def _health_of(self, target: Target) -> TargetHealth[Target]:
        if not 0 <= target.index < len(self._targets) or self._targets[target.index] != target:
            raise ValueError(f"not a target of this balancer: {target!r}")
        return self._health[target.index]
