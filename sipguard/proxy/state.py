"""The proxy core's state: its settings, one record per request and per branch in
progress, and the tables that hold them (RFC 3261 §16.7 response contexts, §17 machines).

Rules of this file: records are plain mutable slotted dataclasses owned by ``Tables``;
idents and heap sequence numbers come from one counter, so the idents the engine sees
stay what they were. Removing a record from its table always disarms its timer too.
No clock reads: ``now`` is a parameter of whoever drives the machines.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field

from sipguard.proxy.context import ResponseContext
from sipguard.proxy.deadlines import Deadlines
from sipguard.proxy.events import BranchTarget, Hop
from sipguard.proxy.flows import FlowTokens
from sipguard.proxy.identity import LocalIdentity
from sipguard.sip import (
    ClientTransaction,
    Request,
    ServerTransaction,
    TimerConfig,
    TransactionKey,
    TransactionStateError,
)
from sipguard.sip.events import Action
from sipguard.sip.transaction_base import State

__all__ = [
    "WAITING_STATES",
    "BranchRecord",
    "ServerRecord",
    "Settings",
    "Tables",
    "call_machine",
]

WAITING_STATES = frozenset({State.IDLE, State.CALLING, State.TRYING, State.PROCEEDING})
"""A transaction in one of these still waits for (or owes) its final response."""


@dataclass(eq=False, slots=True)
class Settings:
    """The core's collaborators and knobs; the engine may change the last three."""

    identity: LocalIdentity
    timers: TimerConfig
    unique: Callable[[], str]
    record_route: bool
    server_name: str
    flows: FlowTokens | None = None


@dataclass(eq=False, slots=True)
class ServerRecord:
    """One request being proxied: its server transaction and response context."""

    ident: int
    key: TransactionKey
    txn: ServerTransaction
    hop: Hop
    request: Request
    context: ResponseContext
    waiting: list[BranchTarget] = field(default_factory=list)
    """Failover targets not tried yet, in order."""
    failover: frozenset[int] = frozenset()
    routed: bool = False
    cancelled: bool = False

    def next_deadline(self) -> float | None:
        return self.txn.next_deadline()


@dataclass(eq=False, slots=True)
class BranchRecord:
    """One client transaction: a forwarded copy, a CANCEL we sent, or a probe."""

    ident: int
    key: TransactionKey
    txn: ClientTransaction
    hop: Hop
    server: ServerRecord | None
    target: BranchTarget | None = None
    origin_tag: object = None
    originated: bool = False
    timer_c: float | None = None
    early: bool = False
    cancel_wanted: bool = False
    cancel_sent: bool = False

    def next_deadline(self) -> float | None:
        deadline = self.txn.next_deadline()
        if self.timer_c is not None and (deadline is None or self.timer_c < deadline):
            return self.timer_c
        return deadline


class Tables:
    """Requests by server key and by ident, branches by client key, and the timer heap."""

    def __init__(self) -> None:
        self.servers: dict[TransactionKey, ServerRecord] = {}
        self.by_ident: dict[int, ServerRecord] = {}
        self.branches: dict[TransactionKey, BranchRecord] = {}
        self._ids = itertools.count(1)
        self.deadlines: Deadlines[ServerRecord | BranchRecord] = Deadlines(self._ids)

    def next_ident(self) -> int:
        return next(self._ids)

    def add_server(self, server: ServerRecord) -> None:
        self.servers[server.key] = server
        self.by_ident[server.ident] = server

    def drop_server(self, server: ServerRecord) -> None:
        self.servers.pop(server.key, None)
        self.by_ident.pop(server.ident, None)
        self.deadlines.disarm(server)

    def drop_branch(self, branch: BranchRecord) -> None:
        self.branches.pop(branch.key, None)
        self.deadlines.disarm(branch)

    def branches_of(self, server: ServerRecord) -> list[BranchRecord]:
        """The branches forwarding ``server``'s request (not our CANCELs or probes)."""
        return [b for b in self.branches.values() if b.server is server and not b.originated]

    def unanswered(self) -> int:
        """Server and client transactions still waiting for their final response."""
        servers = sum(1 for s in self.servers.values() if s.txn.state in WAITING_STATES)
        branches = sum(1 for b in self.branches.values() if b.txn.state in WAITING_STATES)
        return servers + branches


def call_machine(method: Callable[..., list[Action]], *args: object) -> list[Action]:
    """Feed a transaction machine; an input its state has no row for yields nothing."""
    # A machine refuses inputs its state has no row for (a response after the
    # final, say): the message is dropped, the transaction stays as it was.
    try:
        return method(*args)
    except TransactionStateError:
        return []
