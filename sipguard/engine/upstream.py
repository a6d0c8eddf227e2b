"""What the engine remembers about the upstreams' answers, bounded: which PBX answered a
dialog (for UAs that ignore Record-Route), and the nonces of the challenges a PBX sent
([auth] mode = "upstream": fail2ban in the path).

Rules of this file: LRU tables with fixed caps; no clock, no I/O.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

from sipguard.guard import Offence, OffenceKind
from sipguard.proxy.balancer import Target
from sipguard.proxy.events import BranchOutcome
from sipguard.sip import Response, SipParseError

__all__ = ["MAX_REMEMBERED_DIALOGS", "MAX_REMEMBERED_NONCES", "DialogMemory", "UpstreamAuth"]

MAX_REMEMBERED_NONCES = 65_536
"""Upstream challenges remembered, by (client address, nonce) (LRU)."""
MAX_REMEMBERED_DIALOGS = 65_536
"""Call-IDs whose answering upstream is kept for UAs that ignore Record-Route (LRU)."""


class DialogMemory:
    """Call-ID -> the upstream whose 2xx answered its INVITE."""

    def __init__(self, cap: int = MAX_REMEMBERED_DIALOGS) -> None:
        self._cap = cap
        self._dialogs: OrderedDict[str, Target] = OrderedDict()

    def remember(self, call_id: str, target: Target) -> None:
        """``target`` answered the INVITE of ``call_id``."""
        self._dialogs[call_id] = target
        self._dialogs.move_to_end(call_id)
        if len(self._dialogs) > self._cap:
            self._dialogs.popitem(last=False)

    def first(self, call_id: str, upstreams: Sequence[Target]) -> Sequence[Target]:
        """``upstreams`` with the one that answered ``call_id`` first: a UA that ignores
        Record-Route sends its in-dialog requests to us, and they belong to that PBX."""
        target = self._dialogs.get(call_id)
        if target is None or target not in upstreams:
            return upstreams
        return (target, *(t for t in upstreams if t is not target))


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
