"""The guard pipeline: the one place the order of the stages is written, and the one place
their effects are applied and their non-pass verdicts audited.

Theory of operation: ``admit(source)`` runs before parsing (stage 1: the ban list: one
set lookup, so a banned flood costs nothing). ``decide(request, context)`` runs each
stage in ``STAGES`` order; a stage returns an ``Outcome`` (verdict, effects, and maybe a
context enriched with what it established: trusted peer, authenticated user). The first
non-pass verdict ends the run. Effects of every stage that ran are applied, offences go
to the jails, and a ban a jail orders is applied and audited at once.

Rules of this file: stages are pure over (request, context, state) and never apply
effects themselves; this file never decides anything a stage should.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from sipguard.guard.context import GuardContext
from sipguard.guard.effects import Consume, Effect, Offence, Sighting, StartCall, UseNonce
from sipguard.guard.events import AuditSink, SecurityEvent
from sipguard.guard.state import BanOrder, GuardState
from sipguard.guard.verdict import Challenge, Drop, Pass, Reason, Reject, Verdict
from sipguard.sip import Request

__all__ = ["Decision", "Outcome", "Pipeline", "Stage"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """One stage's answer."""

    verdict: Verdict
    effects: tuple[Effect, ...] = ()
    context: GuardContext | None = None
    """The context for the stages after this one, when this stage learnt something."""
    request: Request | None = None
    """The request for the stages after this one (and for routing), when this stage
    removed something (P-Asserted-Identity from an untrusted source, RFC 3325)."""


class Stage(Protocol):
    """A guard: a name (for the audit log) and a pure decision."""

    name: str

    def decide(self, request: Request, ctx: GuardContext, state: GuardState) -> Outcome:
        """The verdict on ``request`` (read ``state``; never change it)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """The pipeline's answer: the verdict, the stage that gave it, the final context."""

    verdict: Verdict
    stage: str
    context: GuardContext
    request: Request
    """The request as the stages left it (what is routed on a pass)."""


class Pipeline:
    """Runs ``stages`` in order over ``state``, reporting to ``audit``."""

    def __init__(self, stages: Sequence[Stage], state: GuardState, audit: AuditSink) -> None:
        self.stages = tuple(stages)
        self.state = state
        self.audit = audit

    def admit(self, source: str, wall: float) -> bool:
        """Stage 1, before parsing: False when ``source`` (an IP literal) is banned."""
        return not self.state.bans.is_banned(source, wall)

    def decide(self, request: Request, ctx: GuardContext) -> Decision:
        """Run the stages over ``request``; apply their effects; audit a non-pass."""
        effects: list[Effect] = []
        for stage in self.stages:
            outcome = stage.decide(request, ctx, self.state)
            effects.extend(outcome.effects)
            if outcome.context is not None:
                ctx = outcome.context
            if outcome.request is not None:
                request = outcome.request
            if not isinstance(outcome.verdict, Pass):
                # The refusal is recorded before the ban its offence may trigger.
                self._audit(stage.name, outcome.verdict, request, ctx)
                self._apply(effects, ctx)
                return Decision(outcome.verdict, stage.name, ctx, request)
        self._apply(effects, ctx)
        return Decision(Pass(), "", ctx, request)

    def _apply(self, effects: list[Effect], ctx: GuardContext) -> None:
        for effect in effects:
            if isinstance(effect, Consume):
                self.state.rates.consume(effect.key, effect.tokens, ctx.now)
            elif isinstance(effect, UseNonce):
                self.state.nonces.use(effect.nonce, effect.nc)
            elif isinstance(effect, Sighting):
                self.state.sightings.see(effect.source, effect.what, ctx.now)
            elif isinstance(effect, StartCall):
                self.state.calls.start(effect.call_id, effect.user, ctx.now)
            elif isinstance(effect, Offence):
                self.report(effect, ctx.wall)

    def report(self, offence: Offence, wall: float) -> None:
        """Count ``offence`` in the jails (and ban, audited, when one fills up); for
        offences seen outside a stage, such as a PBX refusing credentials (upstream auth)."""
        order = self.state.jails.offence(offence.kind, offence.source, offence.verified, wall)
        if order is not None:
            self._ban(order, wall)

    def call_answered(self, call_id: str, now: float) -> None:
        """A call the guards admitted was answered (a 2xx to its INVITE)."""
        self.state.calls.answered(call_id, now)

    def call_ended(self, call_id: str) -> None:
        """A call ended (a final non-2xx to its INVITE, or a BYE): it stops counting."""
        self.state.calls.end(call_id)

    def _ban(self, order: BanOrder, wall: float) -> None:
        self.state.bans.ban(order)
        event = SecurityEvent(
            wall, order.jail, "ban", Reason.BANNED, order.network,
            detail=f"until {order.until:.0f} after {order.offences} offences",
        )  # fmt: skip
        self.audit.emit(event)

    def _audit(self, stage: str, verdict: Verdict, request: Request, ctx: GuardContext) -> None:
        source = f"{ctx.source.transport}:{ctx.source.hostport}"
        if isinstance(verdict, Drop):
            action, status, reason, detail = "drop", None, verdict.reason, verdict.detail
        elif isinstance(verdict, Reject):
            action, status, reason, detail = (
                "reject",
                verdict.status,
                verdict.reason,
                verdict.detail,
            )
        elif isinstance(verdict, Challenge):
            action, status, reason, detail = (
                "challenge", verdict.status, verdict.reason, verdict.detail
            )  # fmt: skip
        else:
            return
        self.audit.emit(
            SecurityEvent(
                ctx.wall,
                stage,
                action,
                reason,
                source,
                status=status,
                method=request.method,
                call_id=request.get("Call-ID"),
                user=ctx.user,
                detail=detail,
            )
        )
