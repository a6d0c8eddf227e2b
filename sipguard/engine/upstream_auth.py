"""[auth] mode = "upstream": fail2ban in the path. The nonces of the challenges a PBX
sent, bounded, so that its refusal of the credentials that come back is graded as
verified evidence only for an address that read the challenge.

Rules of this file: LRU tables with fixed caps; no clock, no I/O.
"""

from __future__ import annotations

from collections import OrderedDict

from sipguard.guard import Offence, OffenceKind
from sipguard.proxy.events import BranchOutcome
from sipguard.sip import Response, SipParseError

__all__ = ["MAX_REMEMBERED_NONCES", "UpstreamAuth"]

MAX_REMEMBERED_NONCES = 65_536
"""Upstream challenges remembered, by (client address, nonce) (LRU)."""


class UpstreamAuth:
    """Grades a PBX's refusal of credentials as evidence for the jails."""

    def __init__(self, cap: int = MAX_REMEMBERED_NONCES) -> None:
        self._cap = cap
        self._relayed: OrderedDict[tuple[str, str], None] = OrderedDict()

    def challenge_sent(self, challenge: Response, host: str) -> None:
        """We carried ``challenge`` to ``host``. Credentials that come back from there
        with its nonce prove the address receives our packets (it read the challenge),
        so the PBX refusing them is verified evidence."""
        try:
            values = (*challenge.www_authenticate, *challenge.proxy_authenticate)
        except SipParseError:
            return
        for value in values:
            nonce = value.params.get("nonce")
            if nonce:
                self._relayed[(host, nonce)] = None
                self._relayed.move_to_end((host, nonce))
        while len(self._relayed) > self._cap:
            self._relayed.popitem(last=False)

    def offence(self, outcome: BranchOutcome) -> Offence | None:
        """An authentication failure when a request that carried credentials was answered
        401, 407 or 403; None otherwise (a first challenge is a login, not a failure)."""
        request, source = outcome.request, outcome.source
        if outcome.status not in (401, 403, 407) or request is None or source is None:
            return None
        try:
            credentials = (*request.authorization, *request.proxy_authorization)
        except SipParseError:
            credentials = ()
        if not credentials:
            return None
        host = source.peer.host
        nonce = credentials[0].params.get("nonce", "")
        verified = source.reliable or (host, nonce) in self._relayed
        return Offence(OffenceKind.AUTH_FAILURE, host, verified)
