"""Binding values for store and location tests."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sipguard.store import Binding

NOW = 1_700_000_000.0

BASE = Binding(
    aor="sip:alice@example.com",
    contact="sip:alice@192.0.2.10:5060",
    expires_at=NOW + 3600,
    q=None,
    call_id="reg-1@192.0.2.10",
    cseq=1,
    path=(),
    source="udp:192.0.2.10:5060",
    user_agent="TestPhone/1.0",
    updated_at=NOW,
)


def binding(**changes: Any) -> Binding:
    """``BASE`` with ``changes``."""
    return replace(BASE, **changes)
