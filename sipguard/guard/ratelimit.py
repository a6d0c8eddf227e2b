"""Rate limits: token buckets per source, per source and method, per authenticated user, a
pike-style density detector, and a global overload limit.

Rules of this file (what the limits are and how they are decided; ``buckets.py`` holds
the counts):
- ``decide`` only reads buckets (``available``) and returns ``Consume`` effects; the
  pipeline takes the tokens. Per-key tokens are taken only when every limit let the
  request through; the pike counter counts every request, refused or not, because it
  measures what a source sends, not what we serve.
- Over a per-key limit: 503 with Retry-After to a source that has shown it receives our
  packets (verified, or a stream connection); a silent drop for an unverified UDP
  source, because its address may be forged and answering it would make us a
  reflector aimed at whoever owns that address.
- Pike (Kamailio's ``pike`` module, as a bucket): more than ``pike_density`` requests
  from one source within about ``pike_interval`` seconds is a flood: refused as above,
  and reported as an ``Offence(FLOOD)`` for the jails. Pike only reports; whether a
  report becomes a ban is the jail's decision.
- Global overload (all sources together): a new request gets 503 with Retry-After;
  in-dialog requests (a To tag) and ACK/CANCEL still pass, so calls in progress can
  end. Trusted sources skip every per-source limit but count toward the global one.
- IPv6 sources are keyed by their ``ipv6_prefix`` network: one host owns a whole /64,
  so per-address keys would let it rotate addresses past every limit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sipguard.guard.banlist import network_of
from sipguard.guard.context import GuardContext
from sipguard.guard.effects import Consume, Effect, Offence, OffenceKind
from sipguard.guard.pipeline import Outcome
from sipguard.guard.state import GuardState, Rates
from sipguard.guard.verdict import Drop, Pass, Reason, Reject, Verdict
from sipguard.sip import Request, SipParseError

__all__ = ["GLOBAL_KEY", "MethodLimit", "RateLimitPolicy", "RateLimitStage", "source_key"]

GLOBAL_KEY = "global"
# Requests that end or acknowledge something already admitted; refusing them under
# overload would leave calls hanging and make the overload last longer.
_ALWAYS_UNDER_OVERLOAD = frozenset({"ACK", "CANCEL"})


@dataclass(frozen=True, slots=True)
class MethodLimit:
    """A per-source limit for one method (``[[guard.ratelimit.methods]]``)."""

    method: str
    """The SIP method, as written on the wire (methods are case-sensitive)."""
    rate: float
    """Requests per second a source may send of this method, sustained."""
    burst: float
    """Requests a source may send at once before the rate applies."""


_DEFAULT_METHODS = (
    MethodLimit("REGISTER", rate=10.0, burst=100.0),
    MethodLimit("INVITE", rate=5.0, burst=30.0),
    MethodLimit("OPTIONS", rate=5.0, burst=30.0),
)


@dataclass(frozen=True, slots=True)
class RateLimitPolicy:
    """Tunables of the rate-limit stage (``[guard.ratelimit]``); a rate of 0 disables a limit."""

    source_rate: float = 20.0
    """Requests per second one source (an IPv4 address or an IPv6 prefix) may send."""
    source_burst: float = 100.0
    """Requests one source may send at once (a NAT'd office booting its phones)."""
    methods: tuple[MethodLimit, ...] = _DEFAULT_METHODS
    """Per source and method limits, on top of the per-source one."""
    user_rate: float = 10.0
    """Requests per second one authenticated user may send (applies once a user is known)."""
    user_burst: float = 50.0
    """Requests one authenticated user may send at once."""
    pike_interval: float = 2.0
    """Seconds: the sampling interval of the density detector."""
    pike_density: int = 200
    """Requests from one source within ``pike_interval`` that make a flood; 0 disables."""
    overload_rate: float = 2000.0
    """Requests per second across all sources before new requests are refused."""
    overload_burst: float = 4000.0
    """Requests across all sources that may arrive at once."""
    overload_retry_after: int = 10
    """Seconds, the Retry-After of a 503 under overload (spreads the clients' retries)."""
    ipv6_prefix: int = 64
    """IPv6 sources sharing this prefix share their per-source buckets."""

    def __post_init__(self) -> None:
        limits = [(self.source_rate, self.source_burst), (self.user_rate, self.user_burst)]
        limits += [(self.overload_rate, self.overload_burst)]
        limits += [(m.rate, m.burst) for m in self.methods]
        for rate, burst in limits:
            if rate < 0 or (rate > 0 and burst < 1):
                raise ValueError("a rate must be >= 0 and its burst >= 1")
        if self.pike_density < 0 or self.pike_interval <= 0:
            raise ValueError("pike_density must be >= 0 and pike_interval > 0")
        if not 0 <= self.ipv6_prefix <= 128:
            raise ValueError("ipv6_prefix must be within 0..128")


@dataclass(frozen=True, slots=True)
class _Limit:
    key: str
    rate: float
    burst: float


def source_key(host: str, ipv6_prefix: int = 64) -> str:
    """The bucket key of a source: ``src:203.0.113.5`` or ``src:2001:db8::/64``."""
    if ":" not in host:  # IPv4: the literal is already the key (the hot path)
        return f"src:{host}"
    try:
        return f"src:{network_of(host, ipv6_prefix)}"
    except ValueError:  # not an IP literal: key by the text, which is still bounded
        return f"src:{host}"


class RateLimitStage:
    """The rate-limit stage (see the module docstring)."""

    name = "ratelimit"

    def __init__(self, policy: RateLimitPolicy | None = None) -> None:
        self.policy = policy or RateLimitPolicy()
        self._methods = {m.method: m for m in self.policy.methods if m.rate > 0}

    def decide(self, request: Request, ctx: GuardContext, state: GuardState) -> Outcome:
        """Pass with the tokens to take, or refuse (503 / drop) with the reason."""
        rates, p = state.rates, self.policy
        src = None if ctx.trusted else source_key(ctx.source.host, p.ipv6_prefix)
        counted: tuple[Effect, ...] = ()
        if src is not None and p.pike_density > 0:
            flood, counted = self._pike(src, ctx, rates)
            if flood is not None:
                return flood
        limits = self._limits(src, request, ctx)
        for limit in limits:
            tokens = rates.available(limit.key, limit.rate, limit.burst, ctx.now)
            if tokens < 1:
                wait = (1 - tokens) / limit.rate
                detail = f"{limit.key} over {limit.rate:g}/s"
                return Outcome(_refuse(ctx, Reason.RATE_LIMITED, detail, wait), counted)
        taken = [Consume(limit.key) for limit in limits]
        if p.overload_rate > 0:
            tokens = rates.available(GLOBAL_KEY, p.overload_rate, p.overload_burst, ctx.now)
            if tokens < 1 and not _in_progress(request):
                return Outcome(_overloaded(p), counted)
            taken.append(Consume(GLOBAL_KEY))
        return Outcome(Pass(), (*counted, *taken))

    def _pike(
        self, src: str, ctx: GuardContext, rates: Rates
    ) -> tuple[Outcome | None, tuple[Effect, ...]]:
        """The density check: (a flood outcome or None, the effect counting this request)."""
        p = self.policy
        key = f"pike:{src.removeprefix('src:')}"
        counted: tuple[Effect, ...] = (Consume(key),)
        if rates.available(key, p.pike_density / p.pike_interval, p.pike_density, ctx.now) >= 1:
            return None, counted
        offence = Offence(OffenceKind.FLOOD, ctx.source.host, _verified(ctx))
        detail = f"over {p.pike_density} requests in {p.pike_interval:g} s"
        verdict = _refuse(ctx, Reason.FLOOD, detail, p.pike_interval)
        return Outcome(verdict, (*counted, offence)), counted

    def _limits(self, src: str | None, request: Request, ctx: GuardContext) -> list[_Limit]:
        p = self.policy
        limits: list[_Limit] = []
        if src is not None:
            if p.source_rate > 0:
                limits.append(_Limit(src, p.source_rate, p.source_burst))
            method = self._methods.get(request.method)
            if method is not None:
                limits.append(_Limit(f"{src}:{method.method}", method.rate, method.burst))
        if ctx.user is not None and p.user_rate > 0:
            limits.append(_Limit(f"user:{ctx.user}", p.user_rate, p.user_burst))
        return limits


def _verified(ctx: GuardContext) -> bool:
    return ctx.verified or ctx.reliable


def _refuse(ctx: GuardContext, reason: Reason, detail: str, wait: float) -> Verdict:
    if not _verified(ctx):
        # Possibly a forged UDP source: a 503 would go to whoever owns the address.
        return Drop(reason, detail)
    # RFC 3261 §21.5.4: 503 may say when to retry, in Retry-After.
    retry = str(max(1, math.ceil(wait)))
    return Reject(503, reason, detail, headers=(("Retry-After", retry),))


def _overloaded(policy: RateLimitPolicy) -> Verdict:
    retry = str(max(1, policy.overload_retry_after))
    detail = f"over {policy.overload_rate:g} requests/s in total"
    return Reject(503, Reason.OVERLOAD, detail, headers=(("Retry-After", retry),))


def _in_progress(request: Request) -> bool:
    """ACK, CANCEL, or a request inside a dialog (its To carries a tag)."""
    if request.method in _ALWAYS_UNDER_OVERLOAD:
        return True
    try:
        return request.to.tag is not None
    except SipParseError:  # an unreadable To cannot claim a dialog
        return False
