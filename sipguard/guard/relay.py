"""Stage 8, anti-open-proxy: an untrusted source reaches only our own domains, cannot
steer a request with a pre-loaded Route, and cannot assert an identity (RFC 3325).

For an initial request (no To tag) from an untrusted source, in this order:
1. every Route value must point at us (``is_local``): a phone may pre-load us as its
   outbound proxy, but a Route beyond us would send the request where the Request-URI
   checks below never looked (403, ROUTE_INJECTION). Authenticated users too: a Route
   would bypass the dial-plan checks that read the Request-URI;
2. REGISTER: the Request-URI names the registrar's domain (RFC 3261 §10.2); a foreign
   one is 403 (FOREIGN_REGISTER). The To (address of record) is the auth stage's;
3. any other method: a foreign Request-URI is 403 (RELAY_DENIED), unless the user is
   authenticated and ``allow_authenticated_relay`` is set.
In-dialog requests are left to the proxy, which only follows a Route it record-routed.

From every untrusted source, initial or not: P-Asserted-Identity, P-Preferred-Identity
and Remote-Party-ID are removed (RFC 3325 §5 and §6: only a node of the trust domain
may assert an identity), and the stripped request is handed on. Trusted peers keep them.

Rules of this file: pure; "local" is a callable given at construction (our domains,
our addresses, the PBX in edge mode) plus the policy's ``local_domains``, so this stage
knows no identities itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sipguard.guard.context import GuardContext
from sipguard.guard.pipeline import Outcome
from sipguard.guard.state import GuardState
from sipguard.guard.verdict import Pass, Reason, Reject, Verdict
from sipguard.sip import Request, SipParseError, SipUri, Uri

__all__ = ["IDENTITY_HEADERS", "RelayPolicy", "RelayStage"]

IDENTITY_HEADERS = ("P-Asserted-Identity", "P-Preferred-Identity", "Remote-Party-ID")


@dataclass(frozen=True, slots=True)
class RelayPolicy:
    """Tunables of the relay stage (``[guard.relay]``)."""

    local_domains: tuple[str, ...] = ()
    """Domains (or IP literals) that are ours, besides what ``is_local`` says."""
    allow_authenticated_relay: bool = False
    """Let authenticated users send requests to foreign domains (calls out)."""
    strip_identity: tuple[str, ...] = IDENTITY_HEADERS
    """Headers removed from requests of untrusted sources (RFC 3325 trust domain)."""


class RelayStage:
    """Refuses relaying, foreign registrations and Route injection; strips identities."""

    name = "relay"

    def __init__(
        self, policy: RelayPolicy | None = None, is_local: Callable[[Uri], bool] | None = None
    ) -> None:
        self.policy = policy or RelayPolicy()
        self._domains = frozenset(
            d.lower().rstrip(".").strip("[]") for d in self.policy.local_domains
        )
        self._is_local = is_local

    def decide(self, request: Request, ctx: GuardContext, state: GuardState) -> Outcome:
        """Pass (with the identity headers removed), or Reject 403."""
        if ctx.trusted:
            return Outcome(Pass())
        stripped = self.strip(request)
        verdict = self._check(request, ctx)
        return Outcome(verdict, request=stripped if stripped is not request else None)

    def is_local(self, uri: Uri) -> bool:
        """True when ``uri`` points at us (a local domain, our address, the PBX)."""
        if isinstance(uri, SipUri) and uri.host_bare.lower().rstrip(".") in self._domains:
            return True
        return self._is_local is not None and self._is_local(uri)

    def strip(self, request: Request) -> Request:
        """``request`` without the identity headers (the same object if it had none)."""
        for name in self.policy.strip_identity:
            if request.has(name):
                request = request.without_header(name)
        return request

    def _check(self, request: Request, ctx: GuardContext) -> Verdict:
        if request.to.tag is not None:
            return Pass()  # in-dialog: the proxy follows only our own Record-Route
        return self._route_check(request) or self._target_check(request, ctx)

    def _route_check(self, request: Request) -> Reject | None:
        try:
            routes = request.routes
        except SipParseError as exc:
            return Reject(400, Reason.MALFORMED, exc.reason)
        for route in routes:
            if not self.is_local(route.uri):
                return Reject(403, Reason.ROUTE_INJECTION, f"Route to {_host(route.uri)}")
        return None

    def _target_check(self, request: Request, ctx: GuardContext) -> Verdict:
        if self.is_local(request.uri):
            return Pass()
        if request.method == "REGISTER":
            return Reject(403, Reason.FOREIGN_REGISTER, f"REGISTER for {_host(request.uri)}")
        if ctx.user is not None and self.policy.allow_authenticated_relay:
            return Pass()
        detail = f"{request.method} to {_host(request.uri)}"
        return Reject(403, Reason.RELAY_DENIED, detail, phrase="Relaying Denied")


def _host(uri: Uri) -> str:
    # For the audit detail: the host only (a user part may carry a victim's number).
    return uri.host if isinstance(uri, SipUri) else uri.scheme
