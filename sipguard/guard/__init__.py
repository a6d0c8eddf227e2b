"""The guard pipeline: ordered, pure stages that decide before anything is routed."""

from sipguard.guard.acl import AclPolicy, AclStage, ListenerAcl
from sipguard.guard.auth import AuthMode, AuthPolicy, AuthStage, UserView
from sipguard.guard.banlist import BanList, InvalidNetworkError, canonical_network
from sipguard.guard.buckets import TokenBuckets
from sipguard.guard.calls import CallTable
from sipguard.guard.context import GuardContext
from sipguard.guard.digest import Algorithm as DigestAlgorithm
from sipguard.guard.digest import Credentials, CredentialsError, UnsupportedAlgorithmError
from sipguard.guard.effects import (
    Consume,
    Effect,
    Offence,
    OffenceKind,
    Sighting,
    StartCall,
    UseNonce,
)
from sipguard.guard.events import AuditSink, MemorySink, SecurityEvent
from sipguard.guard.fraud import (
    DEFAULT_DESTINATIONS,
    DEFAULT_GROUPS,
    DialGroup,
    FraudPolicy,
    FraudStage,
    dial_readings,
    dialled_number,
)
from sipguard.guard.jail import DEFAULT_JAILS, Jail, JailPolicy, JailTable
from sipguard.guard.nonce import NonceCounts, NonceFactory, NonceState
from sipguard.guard.pipeline import Decision, Outcome, Pipeline, Stage
from sipguard.guard.ratelimit import MethodLimit, RateLimitPolicy, RateLimitStage
from sipguard.guard.relay import IDENTITY_HEADERS, RelayPolicy, RelayStage
from sipguard.guard.sanity import SanityPolicy, SanityStage
from sipguard.guard.scanner import (
    DEFAULT_SCANNER_AGENTS,
    ScannerPolicy,
    ScannerStage,
    new_sighting_table,
)
from sipguard.guard.sightings import SightingTable
from sipguard.guard.stages import standard_stages
from sipguard.guard.state import (
    BanOrder,
    Bans,
    Calls,
    GuardState,
    Jails,
    Nonces,
    Rates,
    Sightings,
)
from sipguard.guard.verdict import Challenge, Drop, Pass, Reason, Reject, Verdict

__all__ = [
    "DEFAULT_DESTINATIONS",
    "DEFAULT_GROUPS",
    "DEFAULT_JAILS",
    "DEFAULT_SCANNER_AGENTS",
    "IDENTITY_HEADERS",
    "AclPolicy",
    "AclStage",
    "AuditSink",
    "AuthMode",
    "AuthPolicy",
    "AuthStage",
    "BanList",
    "BanOrder",
    "Bans",
    "CallTable",
    "Calls",
    "Challenge",
    "Consume",
    "Credentials",
    "CredentialsError",
    "Decision",
    "DialGroup",
    "DigestAlgorithm",
    "Drop",
    "Effect",
    "FraudPolicy",
    "FraudStage",
    "GuardContext",
    "GuardState",
    "InvalidNetworkError",
    "Jail",
    "JailPolicy",
    "JailTable",
    "Jails",
    "ListenerAcl",
    "MemorySink",
    "MethodLimit",
    "NonceCounts",
    "NonceFactory",
    "NonceState",
    "Nonces",
    "Offence",
    "OffenceKind",
    "Outcome",
    "Pass",
    "Pipeline",
    "RateLimitPolicy",
    "RateLimitStage",
    "Rates",
    "Reason",
    "Reject",
    "RelayPolicy",
    "RelayStage",
    "SanityPolicy",
    "SanityStage",
    "ScannerPolicy",
    "ScannerStage",
    "SecurityEvent",
    "Sighting",
    "SightingTable",
    "Sightings",
    "Stage",
    "StartCall",
    "TokenBuckets",
    "UnsupportedAlgorithmError",
    "UseNonce",
    "UserView",
    "Verdict",
    "canonical_network",
    "dial_readings",
    "dialled_number",
    "new_sighting_table",
    "standard_stages",
]
