"""The response context of RFC 3261 §16.7: what came back on each branch, and what to forward.

Rules of this file: pure bookkeeping, no transactions and no I/O. The core tells the
context about each branch it starts and each response or failure a branch reports; the
context answers with what must happen upstream (forward this response now, or send the
best final response now) and which branches must be cancelled. Responses stored here
already had our top Via removed (§16.7 step 3).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from sipguard.proxy.replies import local_reply
from sipguard.sip import Request, Response

__all__ = ["BranchState", "ContextReply", "ResponseContext", "best_response"]

# §16.7 step 6: "SHOULD give preference to responses that provide information
# affecting resubmission of this request, such as 401, 407, 415, 420, and 484".
_RESUBMISSION_INFO = (401, 407, 415, 420, 484)


class BranchState(Enum):
    """Where one forwarded copy of the request stands."""

    PENDING = "pending"  # sent, nothing final yet
    EARLY = "early"  # a 101-199 came back (CANCEL is allowed from now on, §9.1)
    DONE = "done"  # a final response, a timeout or a transport failure


@dataclass(frozen=True, slots=True)
class ContextReply:
    """What the core must do after an update: forward ``response`` upstream (if any)
    and cancel the branches named in ``cancel``."""

    response: Response | None = None
    cancel: tuple[int, ...] = ()


@dataclass(slots=True)
class ResponseContext:
    """One proxied request: its branches, the finals seen, and whether a final went up."""

    request: Request
    branches: dict[int, BranchState] = field(default_factory=dict)
    finals: list[Response] = field(default_factory=list)
    final_sent: bool = False
    """A final response was forwarded (for INVITE: a 2xx; later 2xx still go up)."""
    more_targets: bool = False
    """The core may still start branches (sequential failover): do not answer yet."""

    def add_branch(self, branch_id: int) -> None:
        """A copy of the request was forwarded on ``branch_id``."""
        self.branches[branch_id] = BranchState.PENDING

    @property
    def pending(self) -> tuple[int, ...]:
        """Branches without a final answer yet."""
        return tuple(b for b, s in self.branches.items() if s is not BranchState.DONE)

    def is_done(self, branch_id: int) -> bool:
        """True once ``branch_id`` had its final answer, timeout or transport failure."""
        return self.branches.get(branch_id) is BranchState.DONE

    def cancellable(self) -> tuple[int, ...]:
        """Pending branches (a CANCEL is sent once each has a provisional, §9.1)."""
        return self.pending

    def on_provisional(self, branch_id: int, response: Response) -> ContextReply:
        """A 1xx on a branch: 101-199 go up at once (§16.7 step 5); a 100 does not."""
        if self.branches.get(branch_id) is BranchState.PENDING:
            self.branches[branch_id] = BranchState.EARLY
        if response.status == 100 or self.final_sent:
            return ContextReply()
        return ContextReply(response)

    def on_final(self, branch_id: int, response: Response) -> ContextReply:
        """A final response on a branch (§16.7 steps 4-6, 10)."""
        self.branches[branch_id] = BranchState.DONE
        status = response.status
        if 200 <= status < 300:
            # §16.7 step 5: every 2xx to an INVITE is forwarded at once; for a
            # non-INVITE only the first final goes up.
            if self.final_sent and self.request.method != "INVITE":
                return ContextReply()
            first = not self.final_sent
            self.final_sent = True
            # §16.7 step 10: once a final went up, pending INVITE branches are cancelled.
            return ContextReply(response, self.pending if first else ())
        if self.final_sent:
            return ContextReply()
        self.finals.append(response)
        if status >= 600:
            # §16.7 step 5 and §16.7 step 10: a 6xx ends the search; the 6xx itself
            # goes up once the other branches are done (or cancelled now).
            self.more_targets = False
            return ContextReply(self._answer_if_done(), self.pending)
        return ContextReply(self._answer_if_done())

    def on_failure(self, branch_id: int, status: int) -> ContextReply:
        """A branch timed out (408) or failed at the transport (503, §16.9)."""
        if self.branches.get(branch_id) is BranchState.DONE:
            return ContextReply()
        self.branches[branch_id] = BranchState.DONE
        if self.final_sent:
            return ContextReply()
        self.finals.append(local_reply(self.request, status))
        return ContextReply(self._answer_if_done())

    def answer_now(self) -> Response | None:
        """The best final, if none went up yet and nothing more can come (§16.7 step 6)."""
        return self._answer_if_done()

    def _answer_if_done(self) -> Response | None:
        if self.final_sent or self.pending or self.more_targets:
            return None
        self.final_sent = True
        return best_response(self.request, self.finals)


def best_response(request: Request, finals: list[Response]) -> Response:
    """RFC 3261 §16.7 steps 6-7: the final response to send upstream.

    A 6xx if any; else the lowest class, preferring 401/407/415/420/484 in 4xx; with
    every challenge of the other 401/407s aggregated into a chosen 401/407; a 408 when
    nothing came back; a 500 in place of a lone 503.
    """
    if not finals:
        # §16.7 step 6: "If there are no final responses in the context, the proxy
        # MUST send a 408 (Request Timeout)".
        return local_reply(request, 408)
    six = [r for r in finals if r.status >= 600]
    if six:
        return six[0]
    lowest = min(r.status // 100 for r in finals)
    candidates = [r for r in finals if r.status // 100 == lowest]
    chosen = next(
        (r for r in candidates if r.status in _RESUBMISSION_INFO),
        next((r for r in candidates if r.status != 503), candidates[0]),
    )
    if chosen.status == 503 and all(r.status == 503 for r in finals):
        # §16.7 step 6: a 503 means "this proxy cannot serve anything"; a lone 503
        # from downstream SHOULD go up as a 500.
        return local_reply(request, 500, "Service Unavailable Downstream")
    if chosen.status in (401, 407):
        return _aggregate_challenges(chosen, finals)
    return chosen


def _aggregate_challenges(chosen: Response, finals: list[Response]) -> Response:
    # §16.7 step 7: the WWW-Authenticate and Proxy-Authenticate values of every other
    # 401/407 are added to the chosen one "without modification".
    out = chosen
    for other in finals:
        if other is chosen or other.status not in (401, 407):
            continue
        for name in ("WWW-Authenticate", "Proxy-Authenticate"):
            for value in other.get_all(name):
                out = out.with_header_appended(name, value)
    return out
