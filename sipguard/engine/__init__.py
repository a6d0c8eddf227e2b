"""The engine: bytes and peers in, actions out; the sans-I/O glue between the transports,
the guards and the proxy core (``engine.py``), with the actions it asks for
(``actions.py``), the guard pipeline it builds (``guards.py``), the upstream PBXs
(``upstreams.py``: choice, health, dialogs), upstream authentication evidence
(``upstream_auth.py``) and topology hiding (``hiding.py``)."""

from sipguard.engine.actions import EngineAction, Notice, Persist, PersistBan, Resolve, Transmit
from sipguard.engine.engine import Engine
from sipguard.engine.guards import MAX_RATE_KEYS, GuardSetup, guard_pipeline

__all__ = [
    "MAX_RATE_KEYS",
    "Engine",
    "EngineAction",
    "GuardSetup",
    "Notice",
    "Persist",
    "PersistBan",
    "Resolve",
    "Transmit",
    "guard_pipeline",
]
