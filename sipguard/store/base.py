"""What a location store holds and the Protocol every store implements.

Rules of this file:
- Values only: ``Binding`` and the three ``BindingChange`` effects are frozen dataclasses;
  nothing here touches a disk, a socket or a clock.
- ``LocationStore`` is the persistence side of the registrar. The runtime view of the
  bindings is the in-memory ``sipguard.proxy.Location``; a REGISTER's changes are written
  here first and reach it only once committed (RFC 3261 §10.3; write-through, as Kamailio's
  usrloc does), and the store is read once at start. The Protocol stays
  small and free of SQL so that a shared store (Redis, for several nodes) can implement it.
- Times are wall-clock UNIX seconds (``expires_at``, ``updated_at``), so a binding keeps
  its meaning across a restart; the caller passes ``now``.
- Stores raise ``StoreError`` (never a driver's own exception).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = [
    "Binding",
    "BindingChange",
    "DeleteAor",
    "DeleteBinding",
    "LocationStore",
    "PutBinding",
    "SourceAddress",
    "SourceFormatError",
    "StoreError",
    "format_source",
    "parse_source",
]


class StoreError(Exception):
    """A store could not be opened, read or written; ``path`` names the file if any."""

    def __init__(self, message: str, path: Path | None = None) -> None:
        super().__init__(f"{path}: {message}" if path is not None else message)
        self.path = path


class SourceFormatError(ValueError):
    """Text that is not a ``transport:host:port`` source address."""


@dataclass(frozen=True, slots=True)
class Binding:
    """One registered contact of an address-of-record (RFC 3261 §10.3)."""

    aor: str
    """Canonical address-of-record (``sipguard.proxy.aor_of``)."""
    contact: str
    """The Contact URI as the UA registered it, without header parameters."""
    expires_at: float
    """Wall-clock UNIX seconds at which the binding lapses."""
    q: float | None
    """The Contact's q-value, None when the UA gave none."""
    call_id: str
    cseq: int
    """Call-ID and CSeq of the REGISTER that last wrote it (§10.3 step 7 ordering)."""
    path: tuple[str, ...]
    """Path header values of that REGISTER, in order (RFC 3327 §5.3)."""
    source: str
    """Transport address the REGISTER came from (``format_source``): how to reach a UA
    behind NAT."""
    user_agent: str | None
    updated_at: float
    """Wall-clock UNIX seconds of the REGISTER that last wrote it."""


@dataclass(frozen=True, slots=True)
class PutBinding:
    """Insert or replace the binding keyed by (``binding.aor``, ``binding.contact``)."""

    binding: Binding


@dataclass(frozen=True, slots=True)
class DeleteBinding:
    """Remove the binding keyed by (``aor``, ``contact``), if present."""

    aor: str
    contact: str


@dataclass(frozen=True, slots=True)
class DeleteAor:
    """Remove every binding of ``aor``."""

    aor: str


BindingChange = PutBinding | DeleteBinding | DeleteAor


class LocationStore(Protocol):
    """Persistent bindings. Implementations: memory, SQLite (and later a shared one)."""

    async def load(self, now: float) -> list[Binding]:
        """Every binding with ``expires_at > now``.

        Raises:
            StoreError: when the store cannot be read.
        """
        ...

    async def apply(self, changes: Sequence[BindingChange]) -> None:
        """Apply ``changes`` in order, atomically: all of them or none.

        Raises:
            StoreError: when the store cannot be written (then nothing was applied).
        """
        ...

    async def purge_expired(self, now: float) -> int:
        """Delete the bindings with ``expires_at <= now``; returns how many.

        Raises:
            StoreError: when the store cannot be written.
        """
        ...

    async def close(self) -> None:
        """Release the store; calling it twice is harmless."""
        ...


@dataclass(frozen=True, slots=True)
class SourceAddress:
    """Where a message came from: transport, IP literal (no brackets) and port."""

    transport: str
    host: str
    port: int

    def __str__(self) -> str:
        return format_source(self.transport, self.host, self.port)


_SOURCE_RE = re.compile(r"([a-z]+):(\[[0-9A-Fa-f:.]+\]|[0-9.]+):([0-9]{1,5})\Z")


def format_source(transport: str, host: str, port: int) -> str:
    """``udp:203.0.113.5:5060`` or ``tcp:[2001:db8::1]:5061``.

    Raises:
        SourceFormatError: when ``host`` is not an IP literal or ``port`` is out of range.
    """
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise SourceFormatError(f"not an IP address: {host!r}") from None
    if not 0 <= port <= 65535 or not transport.isalpha():
        raise SourceFormatError(f"invalid source: {transport!r} {port!r}")
    text = f"[{ip.compressed}]" if ip.version == 6 else ip.compressed
    return f"{transport.lower()}:{text}:{port}"


def parse_source(text: str) -> SourceAddress:
    """The inverse of ``format_source``.

    Raises:
        SourceFormatError: when ``text`` is not in that form.
    """
    m = _SOURCE_RE.match(text)
    if m is None:
        raise SourceFormatError(f"not a source address: {text!r}")
    transport, host, port = m.group(1), m.group(2), int(m.group(3))
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        raise SourceFormatError(f"not a source address: {text!r}") from None
    # IPv6 literals, and only they, are bracketed (RFC 3986 §3.2.2).
    if port > 65535 or (ip.version == 6) != host.startswith("["):
        raise SourceFormatError(f"not a source address: {text!r}")
    return SourceAddress(transport, ip.compressed, port)
