"""Stage 7, authentication: digest challenges and verification (RFC 3261 §22, RFC 7616,
RFC 8760), then the identity rule (the authenticated user may only act as itself).

Theory of operation (``local`` mode, the default): a request from an untrusted source
that needs authentication either carries Digest credentials for our realm or is
challenged (401 + WWW-Authenticate for REGISTER, 407 + Proxy-Authenticate otherwise; one
challenge per offered algorithm, strongest first, RFC 8760 §2.3). Credentials are
checked in this order: well-formed and of an offered algorithm; the nonce is ours (an
HMAC-signed one, ``nonce.py``) and fresh; the response matches; the nonce count is new;
the user is the From user (and the To user of a REGISTER). A valid nonce, one we sent to
this very address, proves the source receives our packets, so from there on its
offences count fully (``verified``); failures before that count as unverified.

Which requests are authenticated, as in Kamailio's default script (REGISTER and initial
requests from outside): everything from an untrusted source except ACK and CANCEL
(RFC 3261 §22.1 forbids challenging them), in-dialog requests (a To tag and a Route:
they follow the Route set we Record-Routed, and the proxy follows only a Route of its
own, as Kamailio's loose_route does; a To tag without a Route is challenged, so a forged
tag alone is no way around authentication),
and OPTIONS to the server itself (no user part: phones' keep-alives). Policy can
challenge in-dialog requests and keep-alive OPTIONS too. Credentials on a request that
is not authenticated are not read (an ACK repeats its INVITE's nonce count).

Anti-enumeration (issue 5, stage 4): an unknown user and a wrong password get the same
verdict, effects and detail; only the fresh nonce differs. An unknown user's response is
computed against a dummy HA1, so both paths do the same hashing.

``upstream`` mode: every request passes here. The PBX challenges; the engine watches the
answers, and a request that carried credentials and is answered 401, 407 or 403 counts as
an authentication failure for the jails.

Rules of this file: ``decide`` is pure (no clock, no randomness, no writes: the nonce
count is recorded by the pipeline through ``UseNonce``).
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Protocol

from sipguard.guard.context import GuardContext
from sipguard.guard.digest import (
    Algorithm,
    Credentials,
    CredentialsError,
    response_matches,
    supported,
)
from sipguard.guard.digest import ha1 as compute_ha1
from sipguard.guard.effects import Effect, Offence, OffenceKind, UseNonce
from sipguard.guard.nonce import NonceFactory, NonceState
from sipguard.guard.pipeline import Outcome
from sipguard.guard.state import GuardState
from sipguard.guard.verdict import Challenge, Pass, Reason, Reject
from sipguard.sip import AuthValue, Request, SipParseError, SipUri, Uri
from sipguard.sip.grammar import quote, unescape

__all__ = ["AuthMode", "AuthPolicy", "AuthStage", "UserView"]

_NEVER_CHALLENGED = frozenset({"ACK", "CANCEL"})  # RFC 3261 §22.1: MUST NOT challenge
_FAILED = "wrong credentials"  # one detail for unknown user and wrong password


class AuthMode(StrEnum):
    """Who holds the credentials."""

    LOCAL = "local"
    """sipguard challenges and verifies against its user store."""
    UPSTREAM = "upstream"
    """The PBX challenges; sipguard passes requests and watches the answers."""


@dataclass(frozen=True, slots=True)
class AuthPolicy:
    """``[guard.auth]``."""

    mode: AuthMode = AuthMode.LOCAL
    """``local`` (challenge here) or ``upstream`` (the PBX challenges)."""
    realm: str | None = None
    """The digest realm; None: the server's domain."""
    nonce_lifetime: float = 300.0
    """Seconds a nonce is accepted; an older one is answered with stale=true."""
    algorithms: tuple[Algorithm, ...] = (Algorithm.SHA512_256, Algorithm.SHA256, Algorithm.MD5)
    """Offered in this order (strongest first); credentials of another one are refused."""
    authenticate_in_dialog: bool = False
    """Also challenge in-dialog requests (a To tag and a Route: BYE, re-INVITE...)."""
    options_keepalive: bool = True
    """Let OPTIONS to the server itself (Request-URI without user) pass unauthenticated."""
    domains: tuple[str, ...] = ()
    """Other hosts phones write in From/To for our users (the server's IP address...)."""


class UserView(Protocol):
    """The stored HA1 values the stage reads (``sipguard.store.users.UserTable``)."""

    def ha1(self, user: str, realm: str, algorithm: Algorithm) -> str | None:
        """HA1 of ``user`` in ``realm`` for the (non-session) ``algorithm``, or None."""


class AuthStage:
    """Digest authentication and the identity rule."""

    name = "auth"

    def __init__(
        self, policy: AuthPolicy, users: UserView, nonces: NonceFactory, realm: str
    ) -> None:
        """``realm``: the server's domain (the realm unless the policy names one).

        Raises:
            ValueError: none of the policy's algorithms can be computed here.
        """
        self.policy = policy
        self.users = users
        self.nonces = nonces
        self.realm = policy.realm or realm
        # An algorithm this build's OpenSSL lacks is not offered rather than failing start.
        self.offered = tuple(a for a in policy.algorithms if supported(a))
        if not self.offered:
            raise ValueError("no digest algorithm of the policy is available")
        self._dummy = {a.base: compute_ha1("", self.realm, "", a) for a in self.offered}
        self._hosts = frozenset(_host_key(h) for h in (realm, self.realm, *policy.domains))

    def decide(self, request: Request, ctx: GuardContext, state: GuardState) -> Outcome:
        """Pass, challenge, or reject ``request`` (see the module docstring)."""
        if self.policy.mode is AuthMode.UPSTREAM or ctx.trusted or not self._needs_auth(request):
            return Outcome(Pass())
        try:
            value = self._find(request)
        except SipParseError:
            return self._challenge(request, ctx, Reason.AUTH_FAILED, "malformed credentials")
        if value is None:
            return self._challenge(request, ctx, Reason.AUTH_REQUIRED, offence=False)
        try:
            credentials = Credentials.from_auth(value)
            if credentials.algorithm not in self.offered:
                raise CredentialsError("algorithm not offered")  # noqa: TRY301 - one answer
        except CredentialsError as exc:
            return self._challenge(request, ctx, Reason.AUTH_FAILED, str(exc))
        return self._verify(request, ctx, state, credentials)

    def _needs_auth(self, request: Request) -> bool:
        method = request.method
        if method in _NEVER_CHALLENGED:
            return False
        if method == "REGISTER":
            return True
        # In-dialog (a To tag) along a Route set: it follows our Record-Route, and the
        # proxy follows only a Route of its own. Without a Route it is challenged: a
        # forged To tag alone must not be a way around authentication.
        in_dialog = request.to.tag is not None and request.has("Route")
        if in_dialog and not self.policy.authenticate_in_dialog:
            return False
        keepalive = isinstance(request.uri, SipUri) and request.uri.user is None
        return not (method == "OPTIONS" and keepalive and self.policy.options_keepalive)

    def _find(self, request: Request) -> AuthValue | None:
        # The header answering our challenge first; the other one too, since what is
        # hashed does not name the header. Other realms are another proxy's (§22.3).
        if request.method == "REGISTER":
            lines = request.authorization + request.proxy_authorization
        else:
            lines = request.proxy_authorization + request.authorization
        for value in lines:
            if value.scheme.lower() == "digest" and value.params.get("realm") == self.realm:
                return value
        return None

    def _verify(
        self, request: Request, ctx: GuardContext, state: GuardState, cred: Credentials
    ) -> Outcome:
        lifetime = self.policy.nonce_lifetime
        freshness = self.nonces.check(cred.nonce, self.realm, ctx.wall, lifetime, ctx.source.host)
        if freshness is NonceState.INVALID:
            return self._challenge(request, ctx, Reason.AUTH_FAILED, "nonce not ours")
        stored = self.users.ha1(cred.username, self.realm, cred.algorithm.base)
        # Unknown users are checked against a dummy HA1: the same work, the same answer.
        key = self._dummy[cred.algorithm.base] if stored is None else stored
        matched = response_matches(cred.expected(key, request.method), cred.response)
        right = matched and stored is not None
        if freshness is NonceState.STALE:
            if right:  # RFC 7616 §3.3: stale only when the digest itself was right
                return self._challenge(request, ctx, Reason.AUTH_STALE, stale=True, offence=False)
            return self._challenge(request, ctx, Reason.AUTH_FAILED, _FAILED)
        # It answered with a fresh nonce we sent to this very address: it receives our
        # packets, so its offences count fully from here on.
        proven = replace(ctx, verified=True)
        if not right:
            return self._challenge(request, proven, Reason.AUTH_FAILED, _FAILED)
        highest = state.nonces.highest_nc(cred.nonce)
        if highest is not None and cred.nc <= highest:
            # RFC 7616 §3.4: a reused nc is a replay. Not ``proven``: a replay shows
            # nothing about who sent it. stale=true lets a phone that merely sent two
            # requests out of order retry at once with a new nonce.
            return self._challenge(
                request, ctx, Reason.AUTH_REPLAY, "nonce count reused", stale=True
            )
        return self._authorise(request, replace(proven, user=cred.username), cred)

    def _authorise(self, request: Request, ctx: GuardContext, cred: Credentials) -> Outcome:
        used: tuple[Effect, ...] = (UseNonce(cred.nonce, cred.nc),)
        if not self._identity_ok(request, cred.username):
            detail = "authenticated user is not the From user" + (
                " or the To user" if request.method == "REGISTER" else ""
            )
            return Outcome(Reject(403, Reason.IDENTITY_MISMATCH, detail), used, ctx)
        return Outcome(Pass(), used, ctx)

    def _identity_ok(self, request: Request, user: str) -> bool:
        sender = request.from_.uri
        if request.method == "REGISTER":
            # No third-party registration: From and To are both the user (issue 5, stage 7).
            return self._is_user(sender, user) and self._is_user(request.to.uri, user)
        return self._is_user(sender, user) or _anonymous(sender)

    def _is_user(self, uri: Uri, user: str) -> bool:
        if not isinstance(uri, SipUri) or uri.user is None:
            return False
        return unescape(uri.user) == user and _host_key(uri.host) in self._hosts

    def _challenge(  # noqa: PLR0913 - every caller names what differs
        self,
        request: Request,
        ctx: GuardContext,
        reason: Reason,
        detail: str = "",
        *,
        stale: bool = False,
        offence: bool = True,
    ) -> Outcome:
        status = 401 if request.method == "REGISTER" else 407
        field = "WWW-Authenticate" if status == 401 else "Proxy-Authenticate"
        unique = f"{ctx.source.port}|{request.get('Call-ID')}|{request.get('CSeq')}"
        nonce = self.nonces.issue(
            self.realm, ctx.wall, ctx.source.host, unique.encode("utf-8", "replace")
        )
        suffix = ", stale=true" if stale else ""
        headers = tuple(
            (field, f'Digest realm={quote(self.realm)}, nonce="{nonce}", '
                    f'algorithm={a.value}, qop="auth"{suffix}')
            for a in self.offered
        )  # fmt: skip
        effects: tuple[Effect, ...] = ()
        if offence:
            effects = (Offence(OffenceKind.AUTH_FAILURE, ctx.source.host, ctx.verified),)
        return Outcome(Challenge(status, headers, reason, detail), effects, ctx)


def _anonymous(uri: Uri) -> bool:
    # RFC 3323 §4.1.1.3 anonymity ("anonymous@anonymous.invalid"; phones vary the host).
    # The user name "anonymous" is reserved in the user store, so no one is impersonated.
    return isinstance(uri, SipUri) and (uri.user or "").lower() == "anonymous"


def _host_key(host: str) -> str:
    bare = host[1:-1] if host.startswith("[") else host
    try:
        return ipaddress.ip_address(bare).compressed  # RFC 5954 §4.2: compare addresses
    except ValueError:
        return bare.lower().rstrip(".")
