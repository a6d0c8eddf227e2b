"""The guard pipeline a node runs: its stages over fresh, bounded tables, built from the
policy (``guard_pipeline``), and what it needs from outside (``GuardSetup``).

Rules of this file: construction only; deciding is the stages' (``sipguard/guard/``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

from sipguard.config import Config, Mode
from sipguard.engine.actions import EngineAction, Notice, PersistBan
from sipguard.guard import (
    AuthStage,
    BanList,
    CallTable,
    GuardState,
    JailPolicy,
    JailTable,
    MemorySink,
    NonceCounts,
    NonceFactory,
    Pipeline,
    SecurityEvent,
    TokenBuckets,
    UserView,
    new_sighting_table,
    standard_stages,
)
from sipguard.guard.digest import Algorithm as DigestAlgorithm
from sipguard.proxy.identity import LocalIdentity
from sipguard.sip import SipUri, Uri

__all__ = ["MAX_RATE_KEYS", "GuardSetup", "NoUsers", "RecordingSink", "guard_pipeline", "new_bans"]

MAX_RATE_KEYS = 262_144
"""Token buckets kept at once (LRU): a spoofed flood cannot grow them further."""


class NoUsers:
    """A user view with nobody in it (an engine built without a user store)."""

    def ha1(self, user: str, realm: str, algorithm: DigestAlgorithm) -> str | None:
        return None


class RecordingSink(MemorySink):
    """Keeps the last security events and the bans ordered since the last drain."""

    def __init__(self) -> None:
        super().__init__()
        self.new_bans: list[SecurityEvent] = []

    def emit(self, event: SecurityEvent) -> None:
        super().emit(event)
        if event.action == "ban":
            self.new_bans.append(event)


@dataclass(slots=True)
class GuardSetup:
    """What the guards need from outside: the users, the nonce secret, restored bans."""

    users: UserView
    nonce_secret: bytes
    bans: BanList = field(default_factory=BanList)


def guard_pipeline(config: Config, identity: LocalIdentity, setup: GuardSetup) -> Pipeline:
    """The guard pipeline of ``config``: its stages (guard/stages.py) over fresh tables."""
    realm = config.auth.realm or config.server.domain
    # Phones often name the server by its address ("1001@192.0.2.10"): our listener
    # addresses are ours in From/To as much as the domain is.
    hosts = tuple(listener.host for listener in identity.listeners)
    policy = dataclasses.replace(config.auth, domains=(*config.auth.domains, *hosts))
    auth = AuthStage(policy, setup.users, NonceFactory(setup.nonce_secret), realm)
    # Trusted peers are never banned (issue 5): the jails ignore them.
    jail_policy = JailPolicy(
        config.jail.jails, config.jail.ipv6_prefix, (*config.jail.ignore, *config.acl.trusted)
    )
    state = GuardState(
        bans=setup.bans,
        rates=TokenBuckets(MAX_RATE_KEYS),
        nonces=NonceCounts(),
        jails=JailTable(jail_policy),
        sightings=new_sighting_table(config.scanner),
        calls=CallTable(
            ring_seconds=config.fraud.ring_seconds, max_call_seconds=config.fraud.max_call_seconds
        ),
    )

    def is_local(uri: Uri) -> bool:
        # Edge mode: everything goes to the PBX set, which counts as local (issue 5, 8).
        if config.mode is Mode.EDGE:
            return True
        return isinstance(uri, SipUri) and identity.is_local_uri(uri)

    stages = standard_stages(
        sanity=config.sanity,
        acl=config.acl,
        scanner=config.scanner,
        ratelimit=config.ratelimit,
        auth=auth,
        relay=config.relay,
        fraud=config.fraud,
        is_local=is_local,
    )
    return Pipeline(stages, state, RecordingSink())


def new_bans(pipeline: Pipeline, bans: BanList) -> list[EngineAction]:
    """The bans ordered since the last call: each to persist, and a log line for each."""
    sink = pipeline.audit
    if not isinstance(sink, RecordingSink) or not sink.new_bans:
        return []
    out: list[EngineAction] = []
    for event in sink.new_bans:
        order = bans.get(event.source)
        if order is not None:
            out.append(PersistBan(order))
        fields = (("source", event.source), ("jail", event.stage), ("detail", event.detail))
        out.append(Notice("banned", fields))
    sink.new_bans.clear()
    return out
