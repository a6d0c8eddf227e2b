"""What the engine asks its caller (``server.py``) to do: the I/O it cannot do itself.

Rules of this file: values only.
"""

from __future__ import annotations

from dataclasses import dataclass

from sipguard.guard import BanOrder
from sipguard.sip import SipUri
from sipguard.store.base import BindingChange
from sipguard.transport.base import Peer

__all__ = ["EngineAction", "Notice", "Persist", "PersistBan", "Resolve", "Transmit"]


@dataclass(frozen=True, slots=True)
class Transmit:
    """Send ``data`` to ``dest`` (on ``connection_id`` when it is still open)."""

    dest: Peer
    data: bytes
    connection_id: int | None = None
    server_name: str | None = None
    """A new TLS connection checks the certificate for this name (None: the address)."""


@dataclass(frozen=True, slots=True)
class Persist:
    """Write these binding changes to the location store, in order. With a ``token`` (a
    REGISTER's changes, not yet visible), report the outcome to ``Engine.persisted``."""

    changes: tuple[BindingChange, ...]
    token: int | None = None


@dataclass(frozen=True, slots=True)
class Resolve:
    """Resolve ``uri`` (RFC 3263) and call ``Engine.resolved(token, peers, ...)``."""

    token: int
    uri: SipUri


@dataclass(frozen=True, slots=True)
class PersistBan:
    """Write this ban to the ban store (it is in force in memory already)."""

    order: BanOrder


@dataclass(frozen=True, slots=True)
class Notice:
    """Something worth one log line (an upstream went down, a message was refused)."""

    event: str
    fields: tuple[tuple[str, str], ...] = ()


EngineAction = Transmit | Persist | PersistBan | Resolve | Notice
