"""The proxy core's branches (RFC 3261 §16.6): one client transaction per forwarded
copy, per CANCEL we send and per probe, driven by responses, timers and Timer C.

Rules of this file: a branch's machine actions become events only in
``Branches.actions``, which re-arms the branch's timer; what a response or a failure
means for the request is decided in ``outcomes.py``, and CANCELs in ``cancel.py``.
"""

from __future__ import annotations

from sipguard.proxy import cancel, outcomes
from sipguard.proxy.copies import copy_for
from sipguard.proxy.events import BranchTarget, CoreEvent, Hop, Send
from sipguard.proxy.forward import loop_hash, make_branch
from sipguard.proxy.server_side import ServerSide
from sipguard.proxy.state import BranchRecord, ServerRecord, Settings, Tables
from sipguard.sip import (
    DeliverResponse,
    Request,
    TimedOut,
    Transmit,
    TransportFailed,
    client_key,
    new_client_transaction,
)
from sipguard.sip.events import Action, Terminated

__all__ = ["Branches"]


class Branches:
    """Client transactions: started, fed, timed, and what they ask for."""

    def __init__(self, settings: Settings, tables: Tables, server_side: ServerSide) -> None:
        self.settings = settings
        self.tables = tables
        self.server_side = server_side

    def start(self, server: ServerRecord, target: BranchTarget, now: float) -> list[CoreEvent]:
        """Forward ``server``'s request to ``target`` in a new branch (§16.6)."""
        settings = self.settings
        branch_id = make_branch(loop_hash(server.request), settings.unique())
        request = copy_for(
            server.request, target, branch_id, settings.identity,
            record_route=settings.record_route, source=server.hop, flows=settings.flows,
        )  # fmt: skip
        branch = self.new(request, target.hop, server, now, target=target)
        server.context.add_branch(branch.ident)
        if request.method == "INVITE":
            # §16.6 step 11: Timer C, longer than 3 minutes, per INVITE branch.
            branch.timer_c = now + settings.timers.timer_c
        return self.actions(branch, branch.txn.start(now), now)

    def new(  # noqa: PLR0913 - the record's fields, named
        self,
        request: Request,
        hop: Hop,
        server: ServerRecord | None,
        now: float,
        *,
        target: BranchTarget | None = None,
        origin_tag: object = None,
        originated: bool = False,
    ) -> BranchRecord:
        """A client transaction for ``request`` to ``hop``, in the table (not started)."""
        txn = new_client_transaction(request, hop.reliable, self.settings.timers, now)
        ident = self.tables.next_ident()
        branch = BranchRecord(
            ident, client_key(request), txn, hop, server,
            target=target, origin_tag=origin_tag, originated=originated,
        )  # fmt: skip
        self.tables.branches[branch.key] = branch
        return branch

    def actions(self, branch: BranchRecord, actions: list[Action], now: float) -> list[CoreEvent]:
        """What the client transaction asked for, as events; its timer re-armed."""
        out: list[CoreEvent] = []
        for action in actions:
            if isinstance(action, Transmit):
                out.append(Send(branch.hop, action.message))
            elif isinstance(action, DeliverResponse):
                out += outcomes.on_response(self, branch, action.response, now)
            elif isinstance(action, TimedOut):
                out += outcomes.on_failure(self, branch, 408, now, timed_out=True)
            elif isinstance(action, TransportFailed):
                out += outcomes.on_failure(self, branch, 503, now, transport_failed=True)
            elif isinstance(action, Terminated):
                self.tables.drop_branch(branch)
        if branch.key in self.tables.branches:
            self.tables.deadlines.arm(branch)
        return out

    def timer(self, branch: BranchRecord, now: float) -> list[CoreEvent]:
        """``branch``'s deadline came: Timer C, the wait after a CANCEL, or its machine."""
        out: list[CoreEvent] = []
        if branch.timer_c is not None and branch.timer_c <= now:
            branch.timer_c = None
            if branch.cancel_sent:
                return self._abandon(branch, now)
            # §16.8: Timer C fired: CANCEL a branch that rang; one that never did
            # counts as a 408 (its transaction is left to end by itself), and is
            # CANCELled should it ring later (§9.1), not left in Proceeding for ever.
            if branch.early:
                out += cancel.cancel_branch(self, branch, now)
            elif branch.server is not None:
                branch.cancel_wanted = True
                out += outcomes.on_failure(self, branch, 408, now)
        out += self.actions(branch, branch.txn.handle_timer(now), now)
        return out

    def _abandon(self, branch: BranchRecord, now: float) -> list[CoreEvent]:
        # §9.1: the CANCELled INVITE got no final in 64*T1: forget its transaction;
        # the response context counts it as cancelled (or as Timer C's 408).
        self.tables.drop_branch(branch)
        cancelled = branch.server is not None and branch.server.cancelled
        return outcomes.on_failure(self, branch, 487 if cancelled else 408, now, timed_out=True)
