"""THE order of the guard stages: the one place it is written (issue 5, cheap checks first).

The ban check runs before parsing (``Pipeline.admit``) and the jails act through the
effects the stages return, so neither appears here.
"""

from __future__ import annotations

from collections.abc import Callable

from sipguard.guard.acl import AclPolicy, AclStage
from sipguard.guard.auth import AuthStage
from sipguard.guard.fraud import FraudPolicy, FraudStage
from sipguard.guard.pipeline import Stage
from sipguard.guard.ratelimit import RateLimitPolicy, RateLimitStage
from sipguard.guard.relay import RelayPolicy, RelayStage
from sipguard.guard.sanity import SanityPolicy, SanityStage
from sipguard.guard.scanner import ScannerPolicy, ScannerStage
from sipguard.sip import Uri

__all__ = ["standard_stages"]


def standard_stages(  # noqa: PLR0913 - each stage's policy, named
    *,
    sanity: SanityPolicy,
    acl: AclPolicy,
    scanner: ScannerPolicy,
    ratelimit: RateLimitPolicy,
    auth: AuthStage,
    relay: RelayPolicy,
    fraud: FraudPolicy,
    is_local: Callable[[Uri], bool],
) -> tuple[Stage, ...]:
    """The stages in order: sanity, ACL, scanner, rate limits, authentication, anti-relay,
    toll fraud."""
    return (
        SanityStage(sanity),
        AclStage(acl),
        ScannerStage(scanner),
        RateLimitStage(ratelimit),
        auth,
        RelayStage(relay, is_local),
        FraudStage(fraud),
    )
