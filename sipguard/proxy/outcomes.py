"""What a branch's end means for its request (RFC 3261 §16.7, §16.8): the best final
goes up, 2xx all go up, provisionals are relayed, and a failed target gives way to the
next one (failover) or counts toward the answer.

Rules of this file: a branch ends once (``ResponseContext.is_done`` guards late
finals and second failures); ``BranchOutcome`` is reported for every forwarded
branch's end, before anything the end causes; our own requests (probes, CANCELs)
never reach the response context: a probe's end is an ``OriginatedResult``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sipguard.proxy.cancel import cancel_branch
from sipguard.proxy.events import BranchOutcome, CoreEvent, OriginatedResult
from sipguard.proxy.state import BranchRecord, ServerRecord
from sipguard.proxy.via import strip_top_via
from sipguard.sip import Response

if TYPE_CHECKING:
    from sipguard.proxy.branches import Branches

__all__ = ["on_failure", "on_response"]


def on_response(
    branches: Branches, branch: BranchRecord, response: Response, now: float
) -> list[CoreEvent]:
    """A response the branch's client transaction delivered."""
    if branch.originated:
        # Our own request (a probe, a CANCEL): the final is the result, not forwarded.
        done = response.status >= 200 and branch.origin_tag is not None
        return [OriginatedResult(branch.origin_tag, response)] if done else []
    server = branch.server
    upstream = strip_top_via(response, branches.settings.identity) if server is not None else None
    if server is None or upstream is None or not upstream.has("Via"):
        return []  # §16.7 step 3: no Via left: it was meant for us
    if response.status < 200:
        return _provisional(branches, branch, server, upstream, now)
    return _final(branches, branch, server, upstream, now)


def _final(
    branches: Branches, branch: BranchRecord, server: ServerRecord, upstream: Response, now: float
) -> list[CoreEvent]:
    status = upstream.status
    if status >= 300 and server.context.is_done(branch.ident):
        return []  # a late non-2xx of a branch already counted (Timer C, §16.8)
    branch.timer_c = None
    tag = branch.target.tag if branch.target else None
    out: list[CoreEvent] = [
        BranchOutcome(tag, status, request=branch.txn.request, source=server.hop)
    ]
    if _fails_over(server, status):
        server.context.on_final(branch.ident, upstream)
        return out + next_target(branches, server, now)
    server.context.more_targets = False
    reply = server.context.on_final(branch.ident, upstream)
    if reply.response is not None:
        out += branches.server_side.send(server, reply.response, now)
    for ident in reply.cancel:
        out += _cancel_ident(branches, server, ident, now)
    return out


def _provisional(
    branches: Branches, branch: BranchRecord, server: ServerRecord, upstream: Response, now: float
) -> list[CoreEvent]:
    out: list[CoreEvent] = []
    # §9.1: any provisional, a 100 (Trying) included, lets a CANCEL go.
    branch.early = True
    if upstream.status > 100 and branch.timer_c is not None and not branch.cancel_sent:
        # §16.7 step 2: a 101-199 resets Timer C (not the wait after a CANCEL).
        branch.timer_c = now + branches.settings.timers.timer_c
    if branch.cancel_wanted:
        out += cancel_branch(branches, branch, now)
    reply = server.context.on_provisional(branch.ident, upstream)
    if reply.response is not None and not server.cancelled:
        out += branches.server_side.send(server, reply.response, now)
    return out


def on_failure(  # noqa: PLR0913 - how the branch failed, named
    branches: Branches,
    branch: BranchRecord,
    status: int,
    now: float,
    *,
    timed_out: bool = False,
    transport_failed: bool = False,
) -> list[CoreEvent]:
    """The branch ended without a response: ``status`` stands for it (408, 503, 487)."""
    if branch.originated:
        if branch.origin_tag is not None:
            return [OriginatedResult(branch.origin_tag, None, transport_failed)]
        return []
    server = branch.server
    if server is None or server.context.is_done(branch.ident):
        # A branch ends once: a transport error on the ACK of its final, or Timer B
        # after Timer C already counted it as a 408 (§16.8), is not a second end.
        return []
    branch.timer_c = None
    tag = branch.target.tag if branch.target else None
    out: list[CoreEvent] = [
        BranchOutcome(tag, status, timed_out, transport_failed, branch.txn.request, server.hop)
    ]
    if server.waiting and not server.context.final_sent and not server.cancelled:
        # A dead target is always worth the next one, whatever the failover list.
        server.context.on_failure(branch.ident, status)
        return out + next_target(branches, server, now)
    server.context.more_targets = False
    reply = server.context.on_failure(branch.ident, status)
    if reply.response is not None:
        out += branches.server_side.send(server, reply.response, now)
    return out


def next_target(branches: Branches, server: ServerRecord, now: float) -> list[CoreEvent]:
    """Fail over: start the next waiting target."""
    target = server.waiting.pop(0)
    server.context.more_targets = bool(server.waiting)
    return branches.start(server, target, now)


def _fails_over(server: ServerRecord, status: int) -> bool:
    return (
        bool(server.waiting)
        and status in server.failover
        and not server.cancelled
        and not server.context.final_sent
    )


def _cancel_ident(
    branches: Branches, server: ServerRecord, ident: int, now: float
) -> list[CoreEvent]:
    for branch in branches.tables.branches_of(server):
        if branch.ident == ident:
            return cancel_branch(branches, branch, now)
    return []
