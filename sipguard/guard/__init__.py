"""The guard pipeline: ordered, pure stages that decide before anything is routed."""

from sipguard.guard.context import GuardContext
from sipguard.guard.effects import Consume, Effect, Offence, OffenceKind, Sighting, UseNonce
from sipguard.guard.events import AuditSink, MemorySink, SecurityEvent
from sipguard.guard.pipeline import Decision, Outcome, Pipeline, Stage
from sipguard.guard.state import BanOrder, Bans, GuardState, Jails, Nonces, Rates, Sightings
from sipguard.guard.verdict import Challenge, Drop, Pass, Reason, Reject, Verdict

__all__ = [
    "AuditSink",
    "BanOrder",
    "Bans",
    "Challenge",
    "Consume",
    "Decision",
    "Drop",
    "Effect",
    "GuardContext",
    "GuardState",
    "Jails",
    "MemorySink",
    "Nonces",
    "Offence",
    "OffenceKind",
    "Outcome",
    "Pass",
    "Pipeline",
    "Rates",
    "Reason",
    "Reject",
    "SecurityEvent",
    "Sighting",
    "Sightings",
    "Stage",
    "UseNonce",
    "Verdict",
]
