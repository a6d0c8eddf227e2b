"""The stream connection table: ids, reuse by remote address, caps and deadlines.

Rules of this file:
- No I/O and no clock: ``now`` is a parameter. The table decides (admit or refuse, which
  connections are overdue); ``stream.py`` acts (abort, close).
- A connection is indexed by id and by its remote ``(transport, host, port)``, whichever
  side opened it, so a response or a new request to that address reuses it (RFC 5923
  style reuse; RFC 3261 §18.2.2 sends a response on the connection the request came on).
- Caps: ``max_connections`` counts every connection, in and out, including ones still
  connecting; ``max_connections_per_source`` counts inbound connections per source IP.
- Deadlines, checked by one periodic sweep (``overdue``), not a timer per connection:
  idle (no byte either way for ``tcp_idle_timeout``), slow (a message whose first byte
  arrived ``message_timeout`` ago is still incomplete: a one-byte-a-second client cannot
  hold a slot) and linger (a close still waiting to flush after ``close_linger``).
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from enum import Enum, auto
from typing import Generic, Protocol, TypeVar

from sipguard.config import TransportConfig, TransportName
from sipguard.transport.base import Metric, Peer, canonical_host

__all__ = [
    "DEFAULT_STREAM_LIMITS",
    "ConnectionTable",
    "Direction",
    "Expiry",
    "StreamLimits",
    "TrackedConnection",
    "expiry_metric",
]

SECONDS = 1.0
KIB = 1024


@dataclass(frozen=True, slots=True)
class StreamLimits:
    """Stream bounds not (yet) in ``TransportConfig``."""

    message_timeout: float = 30 * SECONDS
    """A message whose first byte arrived this long ago must be complete, or the connection
    is closed (slow-drip guard)."""
    max_write_buffer: int = 512 * KIB
    """Bytes we may hold for a peer that does not read; beyond it the connection is aborted."""
    close_linger: float = 5 * SECONDS
    """A closing connection that has not flushed within this long is aborted."""
    sweep_interval: float = 1 * SECONDS
    """How often the deadlines above (and ``tcp_idle_timeout``) are checked."""


DEFAULT_STREAM_LIMITS = StreamLimits()


class Direction(Enum):
    """Who opened the connection."""

    INBOUND = auto()
    OUTBOUND = auto()


class Expiry(Enum):
    """Why the sweep picked a connection."""

    IDLE = auto()
    SLOW = auto()
    LINGER = auto()


_EXPIRY_METRIC = {
    Expiry.IDLE: Metric.TCP_IDLE_CLOSED,
    Expiry.SLOW: Metric.TCP_SLOW_CLOSED,
    Expiry.LINGER: Metric.TCP_CLOSE_ABORTED,
}


class TrackedConnection(Protocol):
    """What the table reads of a connection (``tcp.StreamConnection`` provides it)."""

    @property
    def remote(self) -> Peer: ...
    @property
    def direction(self) -> Direction: ...
    @property
    def usable(self) -> bool:
        """Connecting or open: data may still be written."""

    @property
    def connecting(self) -> bool: ...
    @property
    def last_activity(self) -> float: ...
    @property
    def message_started_at(self) -> float | None: ...
    @property
    def closing_since(self) -> float | None: ...


_Key = tuple[TransportName, str, int]
C = TypeVar("C", bound=TrackedConnection)


def _key(peer: Peer) -> _Key:
    return (peer.transport, canonical_host(peer.host), peer.port)


class ConnectionTable(Generic[C]):
    """Every stream connection of one transport manager."""

    def __init__(self, config: TransportConfig, limits: StreamLimits) -> None:
        self._config = config
        self._limits = limits
        self._ids = itertools.count(1)
        self._by_id: dict[int, C] = {}
        self._by_remote: dict[_Key, int] = {}
        self._per_source: Counter[str] = Counter()

    def __len__(self) -> int:
        return len(self._by_id)

    def __iter__(self) -> Iterator[C]:
        return iter(list(self._by_id.values()))

    def refusal(self, remote: Peer) -> Metric | None:
        """Why an inbound connection from ``remote`` must be refused, or None to admit it."""
        if len(self._by_id) >= self._config.max_connections:
            return Metric.TCP_REFUSED_TOTAL
        if self._per_source[remote.host] >= self._config.max_connections_per_source:
            return Metric.TCP_REFUSED_PER_SOURCE
        return None

    def has_room(self) -> bool:
        """True when one more (outbound) connection fits under ``max_connections``."""
        return len(self._by_id) < self._config.max_connections

    def add(self, connection: C) -> int:
        """Register ``connection`` (caps already checked); returns its id."""
        connection_id = next(self._ids)
        self._by_id[connection_id] = connection
        self._by_remote[_key(connection.remote)] = connection_id
        if connection.direction is Direction.INBOUND:
            self._per_source[connection.remote.host] += 1
        return connection_id

    def discard(self, connection_id: int) -> None:
        """Forget the connection with this id (idempotent)."""
        connection = self._by_id.pop(connection_id, None)
        if connection is None:
            return
        key = _key(connection.remote)
        if self._by_remote.get(key) == connection_id:
            del self._by_remote[key]
        if connection.direction is Direction.INBOUND:
            self._per_source[connection.remote.host] -= 1
            if self._per_source[connection.remote.host] <= 0:
                del self._per_source[connection.remote.host]

    def get(self, connection_id: int) -> C | None:
        """The usable connection with this id, or None."""
        connection = self._by_id.get(connection_id)
        return connection if connection is not None and connection.usable else None

    def find(self, remote: Peer) -> C | None:
        """A usable connection to ``remote`` (either direction), or None."""
        connection_id = self._by_remote.get(_key(remote))
        return None if connection_id is None else self.get(connection_id)

    def overdue(self, now: float, idle_timeout: float) -> list[tuple[C, Expiry]]:
        """Connections past a deadline at ``now``, each with the deadline it missed."""
        found: list[tuple[C, Expiry]] = []
        for connection in self._by_id.values():
            expiry = self._expiry(connection, now, idle_timeout)
            if expiry is not None:
                found.append((connection, expiry))
        return found

    def _expiry(self, connection: C, now: float, idle_timeout: float) -> Expiry | None:
        if connection.connecting:
            return None  # bounded by tcp_connect_timeout instead
        if connection.closing_since is not None:
            late = now - connection.closing_since > self._limits.close_linger
            return Expiry.LINGER if late else None
        if now - connection.last_activity > idle_timeout:
            return Expiry.IDLE
        started = connection.message_started_at
        if started is not None and now - started > self._limits.message_timeout:
            return Expiry.SLOW
        return None

    def per_source(self) -> dict[str, int]:
        """Open inbound connections per source IP (a copy)."""
        return dict(self._per_source)

    def count(self, direction: Direction) -> int:
        """Connections opened in ``direction``."""
        return sum(1 for c in self._by_id.values() if c.direction is direction)


def expiry_metric(expiry: Expiry) -> Metric:
    """The counter an expiry increments."""
    return _EXPIRY_METRIC[expiry]
