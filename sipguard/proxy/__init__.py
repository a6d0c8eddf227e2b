"""The sans-I/O proxy layer (RFC 3261 §16): routing decisions, upstream dispatching, health."""

from sipguard.proxy.balancer import Balancer, Target, rendezvous_score
from sipguard.proxy.destination import Destination, destination_of
from sipguard.proxy.errors import ProxyError, TooManyHopsError
from sipguard.proxy.forward import (
    LOOP_HASH_LENGTH,
    apply_strict_route,
    branch_loop_part,
    forward_request,
    loop_hash,
    make_branch,
    needs_double_record_route,
    next_hop,
    our_via,
    postprocess_routing,
    record_route_values,
)
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
from sipguard.proxy.identity import ListenAddress, LocalIdentity
from sipguard.proxy.location import Location, aor_of, by_preference, host_key
from sipguard.proxy.probe import ProbeSchedule, build_probe
from sipguard.proxy.registrar import SUPPORTED_OPTIONS, PathPolicy, RegisterOutcome, register
from sipguard.proxy.route import (
    is_in_dialog,
    is_our_record_route,
    preprocess_routes,
    strip_local_maddr,
)
from sipguard.proxy.validate import (
    check_loops,
    check_max_forwards,
    check_proxy_require,
    validate_request,
)
from sipguard.proxy.via import (
    ResponseTarget,
    is_our_via,
    response_destination,
    stamp_received,
    strip_top_via,
)

__all__ = [
    "DEFAULT_FAILURE_STATUSES",
    "LOOP_HASH_LENGTH",
    "SUPPORTED_OPTIONS",
    "Balancer",
    "Destination",
    "FailureReason",
    "Health",
    "HealthEvent",
    "ListenAddress",
    "LocalIdentity",
    "Location",
    "Outcome",
    "PathPolicy",
    "ProbeSchedule",
    "ProxyError",
    "RegisterOutcome",
    "ResponseTarget",
    "Target",
    "TargetCameUp",
    "TargetHealth",
    "TargetWentDown",
    "TooManyHopsError",
    "aor_of",
    "apply_strict_route",
    "branch_loop_part",
    "build_probe",
    "by_preference",
    "check_loops",
    "check_max_forwards",
    "check_proxy_require",
    "destination_of",
    "forward_request",
    "host_key",
    "is_in_dialog",
    "is_our_record_route",
    "is_our_via",
    "loop_hash",
    "make_branch",
    "needs_double_record_route",
    "next_hop",
    "our_via",
    "postprocess_routing",
    "preprocess_routes",
    "record_route_values",
    "register",
    "rendezvous_score",
    "response_destination",
    "response_failure",
    "stamp_received",
    "strip_local_maddr",
    "strip_top_via",
    "validate_request",
]
