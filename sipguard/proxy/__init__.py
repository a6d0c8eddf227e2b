"""The sans-I/O proxy layer (RFC 3261 §16): routing decisions, upstream dispatching, health."""

from sipguard.proxy.balancer import Balancer, Target, rendezvous_score
from sipguard.proxy.health import (
    DEFAULT_FAILURE_STATUSES,
    FailureReason,
    Health,
    HealthEvent,
    Outcome,
    TargetCameUp,
    TargetHealth,
    TargetWentDown,
    response_failure,
)
from sipguard.proxy.location import Location, aor_of, by_preference, host_key
from sipguard.proxy.probe import ProbeSchedule, build_probe
from sipguard.proxy.registrar import SUPPORTED_OPTIONS, PathPolicy, RegisterOutcome, register

__all__ = [
    "DEFAULT_FAILURE_STATUSES",
    "SUPPORTED_OPTIONS",
    "Balancer",
    "FailureReason",
    "Health",
    "HealthEvent",
    "Location",
    "Outcome",
    "PathPolicy",
    "ProbeSchedule",
    "RegisterOutcome",
    "Target",
    "TargetCameUp",
    "TargetHealth",
    "TargetWentDown",
    "aor_of",
    "build_probe",
    "by_preference",
    "host_key",
    "register",
    "rendezvous_score",
    "response_failure",
]
