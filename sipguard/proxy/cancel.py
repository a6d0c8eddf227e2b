"""CANCEL in the proxy core: a CANCEL from the caller (RFC 3261 §16.10) and the CANCELs
we send down a branch (§9.1), held until the branch has heard a provisional.

Rules of this file: a CANCEL is sent at most once per branch, only for an INVITE still
waiting for its final; before any provisional the wish is recorded
(``cancel_wanted``) and ``outcomes.py`` sends it when one arrives. After a CANCEL the
branch waits 64*T1 for its final in the Timer C slot, then is abandoned.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sipguard.proxy.context import ResponseContext
from sipguard.proxy.events import CoreEvent, Hop, Send
from sipguard.proxy.replies import local_reply
from sipguard.proxy.state import WAITING_STATES, BranchRecord, ServerRecord
from sipguard.sip import (
    Request,
    build_cancel,
    cancel_target_key,
    new_server_transaction,
    server_key,
)

if TYPE_CHECKING:
    from sipguard.proxy.branches import Branches

__all__ = ["cancel_branch", "receive_cancel"]


def receive_cancel(branches: Branches, cancel: Request, source: Hop, now: float) -> list[CoreEvent]:
    """A CANCEL that matches no transaction of its own: answer it, cancel its INVITE."""
    settings, tables = branches.settings, branches.tables
    target = tables.servers.get(cancel_target_key(cancel))
    if target is None:
        # §16.10 lets a proxy forward an unmatched CANCEL statelessly; with no
        # INVITE of ours to cancel, the answer a UAS would give is final here.
        return [Send(source, local_reply(cancel, 481, server=settings.server_name))]
    # §16.10: the CANCEL gets its own 200 at once; then every pending branch of the
    # INVITE is cancelled, and the INVITE ends with the 487s that come back.
    key = server_key(cancel)
    txn = new_server_transaction(cancel, source.reliable, settings.timers, now)
    ident = tables.next_ident()
    own = ServerRecord(ident, key, txn, source, cancel, ResponseContext(cancel))
    own.routed = True
    tables.servers[key] = own  # never routed, so not findable by ident
    out = branches.server_side.send(own, local_reply(cancel, 200), now)
    target.cancelled = True
    target.context.more_targets = False
    target.waiting.clear()
    for branch in tables.branches_of(target):
        out += cancel_branch(branches, branch, now)
    if not target.routed:
        return out  # ``forward`` will answer 487
    return out + _answer_if_done(branches, target, now)


def cancel_branch(branches: Branches, branch: BranchRecord, now: float) -> list[CoreEvent]:
    """CANCEL ``branch``'s INVITE now, or once it has heard a provisional (§9.1)."""
    # §9.1: a CANCEL only once a provisional arrived; before that it waits.
    if branch.txn.request.method != "INVITE" or branch.cancel_sent:
        return []
    if branch.txn.state not in WAITING_STATES:
        return []  # §9.1: nothing to cancel once a final response arrived
    if not branch.early:
        branch.cancel_wanted = True
        return []
    branch.cancel_sent = True
    # §9.1: no final response 64*T1 after the CANCEL: the INVITE is considered
    # cancelled and its client transaction destroyed (the Timer C slot waits).
    branch.timer_c = now + 64 * branches.settings.timers.t1
    branches.tables.deadlines.arm(branch)
    request = build_cancel(branch.txn.request)
    own = branches.new(request, branch.hop, None, now, originated=True)
    return branches.actions(own, own.txn.start(now), now)


def _answer_if_done(branches: Branches, server: ServerRecord, now: float) -> list[CoreEvent]:
    response = server.context.answer_now()
    return branches.server_side.send(server, response, now) if response is not None else []
