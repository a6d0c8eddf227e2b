"""The ``[[upstream]]`` PBXs as the engine sees them: which to try for a request, and
their health from the outcomes of forwarded requests and of OPTIONS probes.

Rules of this file: no I/O and no clock (``now`` is a parameter); a health change comes
back as a ``Notice`` for the log. Sending a probe is the engine's (it needs the core).
"""

from __future__ import annotations

import random
from collections import OrderedDict
from collections.abc import Sequence

from sipguard.config import Config
from sipguard.engine.actions import EngineAction, Notice
from sipguard.proxy.balancer import Balancer, Target
from sipguard.proxy.events import BranchOutcome, OriginatedResult
from sipguard.proxy.health import FailureReason, HealthEvent, TargetWentDown, response_failure
from sipguard.proxy.probe import ProbeSchedule
from sipguard.sip import Request

__all__ = ["MAX_REMEMBERED_DIALOGS", "DialogMemory", "UpstreamSet"]

MAX_REMEMBERED_DIALOGS = 65_536
"""Call-IDs whose answering upstream is kept for UAs that ignore Record-Route (LRU)."""


class DialogMemory:
    """Call-ID -> the upstream whose 2xx answered its INVITE."""

    def __init__(self, cap: int = MAX_REMEMBERED_DIALOGS) -> None:
        self._cap = cap
        self._dialogs: OrderedDict[str, Target] = OrderedDict()

    def remember(self, call_id: str, target: Target) -> None:
        """``target`` answered the INVITE of ``call_id``."""
        self._dialogs[call_id] = target
        self._dialogs.move_to_end(call_id)
        if len(self._dialogs) > self._cap:
            self._dialogs.popitem(last=False)

    def first(self, call_id: str, upstreams: Sequence[Target]) -> Sequence[Target]:
        """``upstreams`` with the one that answered ``call_id`` first: a UA that ignores
        Record-Route sends its in-dialog requests to us, and they belong to that PBX."""
        target = self._dialogs.get(call_id)
        if target is None or target not in upstreams:
            return upstreams
        return (target, *(t for t in upstreams if t is not target))


class UpstreamSet:
    """The balancer, the probe schedule and the dialog memory of one policy."""

    def __init__(self, config: Config, now: float) -> None:
        self.config = config
        self.balancer = Balancer(config.upstream, config.dispatcher) if config.upstream else None
        targets = self.balancer.targets if self.balancer else ()
        self.probes = ProbeSchedule(targets, config.dispatcher.probe_interval, start=now)
        self.dialogs = DialogMemory()

    def reconfigured(self, config: Config, now: float) -> UpstreamSet:
        """The set for ``config``: this one when its upstreams and dispatcher are the same
        (health and dialogs kept), else a fresh one."""
        if config.upstream == self.config.upstream and config.dispatcher == self.config.dispatcher:
            self.config = config
            return self
        return UpstreamSet(config, now)

    def candidates(self, request: Request, rng: random.Random) -> Sequence[Target]:
        """The upstreams to try for ``request``, in order; an in-dialog request goes to
        the PBX that answered its dialog first (UAs that ignore Record-Route)."""
        if self.balancer is None:
            return ()
        upstreams = self.balancer.candidates(request.call_id, rng)
        if request.to.tag is not None:
            return self.dialogs.first(request.call_id, upstreams)
        return upstreams

    def branch_outcome(self, outcome: BranchOutcome, now: float) -> list[EngineAction]:
        """A forwarded request to an upstream ended: its health, and who answered."""
        target = outcome.tag
        if self.balancer is None or not isinstance(target, Target):
            return []
        forwarded = outcome.request
        if forwarded is not None and forwarded.method == "INVITE" and 200 <= outcome.status < 300:
            self.dialogs.remember(forwarded.call_id, target)
        if outcome.timed_out:
            event = self.balancer.mark(target, False, now, reason=FailureReason.TIMEOUT)
        elif outcome.transport_failed:
            event = self.balancer.mark(target, False, now, reason=FailureReason.TRANSPORT_ERROR)
        else:
            failover = self.config.dispatcher.failover_statuses
            reason = response_failure(outcome.status, failover)
            ok = reason is None
            event = self.balancer.mark(target, ok, now, reason=reason or FailureReason.FAILED)
        return _notice(event)

    def probe_result(self, result: OriginatedResult, now: float) -> list[EngineAction]:
        """An OPTIONS probe was answered, timed out or could not be sent."""
        target = result.tag
        if self.balancer is None or not isinstance(target, Target):
            return []
        if self.probes.in_flight(target):
            self.probes.finished(target)
        if result.response is None:
            why = (
                FailureReason.TRANSPORT_ERROR if result.transport_failed else FailureReason.TIMEOUT
            )
            event = self.balancer.mark(target, False, now, reason=why)
        else:
            reason = response_failure(result.response.status)
            event = self.balancer.mark(
                target, reason is None, now, reason=reason or FailureReason.FAILED
            )
        return _notice(event)


def _notice(event: HealthEvent[Target] | None) -> list[EngineAction]:
    if event is None:
        return []
    name = "upstream down" if isinstance(event, TargetWentDown) else "upstream up"
    fields = [("uri", str(event.target.uri))]
    if isinstance(event, TargetWentDown):
        fields.append(("reason", str(event.reason)))
    return [Notice(name, tuple(fields))]
