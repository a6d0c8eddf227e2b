"""Stage 9, toll-fraud limits: a dial plan per user group (which destinations a group may
call), a cap on each user's concurrent calls and on the calls they start per minute.

Only initial INVITEs (no To tag) are judged: they are what a PBX turns into a paid call.
Everything else passes, and so do trusted peers (the PBX, the carrier trunks), which
enforce their own dial plans on what they send us. For an initial INVITE, in this order
(the cheapest first; a refused call spends nothing):

1. the dial plan: the Request-URI's number (``dial_readings``) is matched against the
   policy's destination classes (``fullmatch``). A class the user's group allows passes
   the number (so ``emergency`` beats a ``deny`` that also matches it); else a class the
   group denies refuses it (403, DIAL_DENIED); a number no class names passes. A user
   part that is a name (``alice``) dials no number and passes. A request with no
   authenticated user (``[auth] mode = "upstream"``: the PBX authenticates) gets the
   default group's dial plan;
2. concurrent calls: a user already holding ``max_concurrent`` calls is refused (403,
   CALL_LIMIT); an admitted call is counted from here (``StartCall``) until the engine
   sees it end, or until its time runs out (``calls.py``);
3. calls per minute: a token bucket per user, ``calls:<user>`` (403, CALL_RATE).
Caps need a user, so they are skipped when there is none.

A dial string that starts like a number but goes on with letters or marks (a vanity
number ``1-900-CALLNOW``, a pause and DTMF ``+4490...p1``, ``0044_900...``) is judged
under two readings, and refused if either is: the digits before the first letter (what a
PBX that stops at a pause dials), and the whole string with letters read as keypad
digits (ITU-T E.161) and marks dropped (what a PBX that maps vanity numbers dials).

The audit detail names the class and the group and at most the first five characters of
the number (``+4490…``): the audit log is no call record and keeps no victim's number.

Rules of this file: ``decide`` reads the state and never changes it (``Calls.active``
may forget calls whose time ran out, as ``TokenBuckets.available`` refills: nothing a
reader can see changes by it); the pipeline applies ``StartCall`` and ``Consume``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from sipguard.guard.context import GuardContext
from sipguard.guard.effects import Consume, Effect, StartCall
from sipguard.guard.pipeline import Outcome
from sipguard.guard.state import GuardState
from sipguard.guard.verdict import Pass, Reason, Reject
from sipguard.sip import Request, SipParseError, SipUri, TelUri, Uri
from sipguard.sip.grammar import unescape

__all__ = [
    "DEFAULT_DESTINATIONS",
    "DEFAULT_GROUPS",
    "DialGroup",
    "FraudPolicy",
    "FraudStage",
    "dial_readings",
    "dialled_number",
]

# Each is an example for an operator to tune to the home country (see FraudPolicy).
DEFAULT_DESTINATIONS: tuple[tuple[str, str], ...] = (
    # Emergency services: North America 911 (933: its address test line), Europe 112,
    # UK 999, Australia 000, Japan/China 110 and 119.
    ("emergency", r"911|112|999|000|110|119|933"),
    # Premium rate, each written as dialled at home and with the +, 00 or 011 prefixes:
    # North American 1-900 and 1-976; UK 09; the international networks and satellite
    # services (+870 Inmarsat, +881 GMSS, +882/+883 international networks) and the ITU
    # International Premium Rate Service (+979), favourites of toll fraud.
    (
        "premium",
        r"(\+1|001|0111|1)?(900|976)[2-9]\d{6}"
        r"|(\+44|0044|01144|0)9\d{9}"
        r"|(\+|00|011)(870|881|882|883|979)\d*",
    ),
    # Anything dialled with an international prefix: + (E.164), 00 (most of the world),
    # 011 (North America). A phone that writes even national numbers in E.164 needs the
    # home country excluded, e.g. ``(\+|00|011)(?!44).*`` in the UK.
    ("international", r"(\+|00|011).*"),
)


@dataclass(frozen=True, slots=True)
class DialGroup:
    """A group of users sharing a dial plan and call caps (``[[guard.fraud.groups]]``)."""

    name: str
    """The group's name (audit details; ``default_group`` names one)."""
    members: tuple[str, ...] = ()
    """Authenticated user names (as in the user store) in this group."""
    allow: tuple[str, ...] = ()
    """Destination classes this group may always call, whatever ``deny`` says."""
    deny: tuple[str, ...] = ()
    """Destination classes this group may not call (unless ``allow`` names one too)."""
    max_concurrent: int | None = None
    """This group's cap on a user's calls in progress; None: the policy's; 0: no cap."""
    calls_per_minute: float | None = None
    """This group's cap on the calls a user starts per minute; None: the policy's; 0: none."""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("a dial group needs a name")
        if self.max_concurrent is not None and self.max_concurrent < 0:
            raise ValueError(f"dial group {self.name!r}: max_concurrent must be >= 0")
        if self.calls_per_minute is not None and not _is_rate(self.calls_per_minute):
            raise ValueError(f"dial group {self.name!r}: calls_per_minute must be >= 0")


DEFAULT_GROUPS = (
    DialGroup("default", allow=("emergency",), deny=("premium", "international")),
    # Operators put users who may call abroad here; premium numbers stay closed.
    DialGroup("international", allow=("emergency",), deny=("premium",)),
)


@dataclass(frozen=True, slots=True)
class FraudPolicy:
    """Tunables of the toll-fraud stage (``[guard.fraud]``)."""

    enabled: bool = True
    """False: every request passes this stage."""
    destinations: tuple[tuple[str, str], ...] = DEFAULT_DESTINATIONS
    """Destination classes: (name, regular expression matched against the whole number,
    as ``dialled_number`` normalises it). The defaults are examples: tune them to the
    home country (national prefixes, E.164 numbers of the home country)."""
    groups: tuple[DialGroup, ...] = DEFAULT_GROUPS
    """Dial groups; a user belongs to the first group listing it, else ``default_group``."""
    default_group: str = "default"
    """The group of users no group lists, and of requests with no authenticated user."""
    max_concurrent: int = 4
    """Calls a user may have in progress at once (unless the group says); 0: no cap."""
    calls_per_minute: float = 10.0
    """Calls a user may start per minute, as a burst refilled evenly over the minute
    (unless the group says); 0: no cap."""
    ring_seconds: float = 180.0
    """Seconds an unanswered call counts when its end is never seen (the call table)."""
    max_call_seconds: float = 10_800.0
    """Seconds an answered call counts when its BYE is never seen (the call table)."""

    def __post_init__(self) -> None:
        _compile_destinations(self.destinations)
        if self.max_concurrent < 0 or not _is_rate(self.calls_per_minute):
            raise ValueError("max_concurrent and calls_per_minute must be >= 0")
        if not (self.ring_seconds > 0 and self.max_call_seconds > 0):
            raise ValueError("ring_seconds and max_call_seconds must be > 0")
        classes = {name for name, _ in self.destinations}
        names: set[str] = set()
        for group in self.groups:
            if group.name in names:
                raise ValueError(f"dial group {group.name!r} is defined twice")
            names.add(group.name)
            for cls in (*group.allow, *group.deny):
                if cls not in classes:
                    raise ValueError(f"dial group {group.name!r}: unknown destination {cls!r}")
        if self.default_group not in names:
            raise ValueError(f"default_group {self.default_group!r} is not a dial group")


def _is_rate(value: float) -> bool:
    return math.isfinite(value) and value >= 0


def _compile_destinations(
    destinations: tuple[tuple[str, str], ...],
) -> dict[str, re.Pattern[str]]:
    """The destination classes compiled, by name.

    Raises:
        ValueError: an empty or repeated name, or an invalid expression (naming the class).
    """
    compiled: dict[str, re.Pattern[str]] = {}
    for name, pattern in destinations:
        if not name or name in compiled:
            raise ValueError(f"destination class {name!r} is empty or defined twice")
        try:
            compiled[name] = re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"destination class {name!r}: invalid pattern: {exc}") from None
    return compiled


# RFC 3966 §3: visual-separator = "-" / "." / "(" / ")"; they carry no digit.
_SEPARATORS = str.maketrans("", "", "-.()")
_NUMBER_RE = re.compile(r"\+?[0-9*#]+")
# ITU-T E.161: the letters on a telephone keypad.
_KEYPAD = str.maketrans(
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz",
    "2223334445556667777888999922233344455566677778889999",
)


def _dial_string(uri: Uri) -> str | None:
    """The Request-URI's dial string, decoded, without separators or parameters."""
    if isinstance(uri, TelUri):
        text = uri.number
    elif isinstance(uri, SipUri) and uri.user is not None:
        # RFC 3261 §19.1.6: user = telephone-subscriber; its ";" parameters are no digits.
        text = unescape(uri.user).partition(";")[0]
    else:
        return None
    return text.translate(_SEPARATORS)


def dialled_number(uri: Uri) -> str | None:
    """The number ``uri`` dials, normalised (``tel:+1-212-555-0100`` → ``+12125550100``):
    a ``+`` then digits, ``*`` and ``#``; None when it is no number (``sip:alice@...``)."""
    text = _dial_string(uri)
    if text is None or _NUMBER_RE.fullmatch(text) is None:
        return None
    return text


def dial_readings(uri: Uri) -> tuple[str, ...]:
    """The numbers the dial plan judges for ``uri``: its number; for a dial string that
    starts like a number and goes on with letters or marks, the digits before them and
    the whole read on a keypad (see the module docstring); none for a name."""
    text = _dial_string(uri)
    if text is None:
        return ()
    head = _NUMBER_RE.match(text)
    if head is None:
        return ()  # a name: "alice", "+bob"
    if head.end() == len(text):
        return (text,)
    keyed = text[0] + "".join(c for c in text[1:].translate(_KEYPAD) if c in "0123456789*#")
    return tuple(dict.fromkeys((head.group(), keyed)))


def _shown(number: str) -> str:
    """At most the first five characters, and never more than half of the number."""
    return number[: min(5, len(number) // 2)] + "…"


@dataclass(frozen=True, slots=True)
class _Plan:
    """A group as the stage uses it: compiled classes, caps resolved against the policy."""

    name: str
    allow: tuple[re.Pattern[str], ...]
    deny: tuple[tuple[str, re.Pattern[str]], ...]
    max_concurrent: int
    calls_per_minute: float


class FraudStage:
    """The toll-fraud stage (see the module docstring)."""

    name = "fraud"

    def __init__(self, policy: FraudPolicy | None = None) -> None:
        self.policy = p = policy or FraudPolicy()
        classes = _compile_destinations(p.destinations)
        self._plans = {
            g.name: _Plan(
                g.name,
                tuple(classes[c] for c in g.allow),
                tuple((c, classes[c]) for c in g.deny),
                p.max_concurrent if g.max_concurrent is None else g.max_concurrent,
                p.calls_per_minute if g.calls_per_minute is None else g.calls_per_minute,
            )
            for g in p.groups
        }
        self._group_of: dict[str, str] = {}
        for group in p.groups:
            for user in group.members:
                self._group_of.setdefault(user, group.name)  # the first group listing it

    def group_of(self, user: str | None) -> str:
        """The name of ``user``'s dial group (the default one for no user)."""
        if user is None:
            return self.policy.default_group
        return self._group_of.get(user, self.policy.default_group)

    def decide(self, request: Request, ctx: GuardContext, state: GuardState) -> Outcome:
        """Pass (counting the call), or Reject 403 with the limit it broke."""
        if not self.policy.enabled or ctx.trusted or not _initial_invite(request):
            return Outcome(Pass())
        plan = self._plans[self.group_of(ctx.user)]
        refused = self._dial_plan(request.uri, plan)
        if refused is not None or ctx.user is None:
            return Outcome(refused or Pass())
        return self._caps(request, ctx.user, plan, ctx, state)

    def _dial_plan(self, uri: Uri, plan: _Plan) -> Reject | None:
        for number in dial_readings(uri):
            if any(pattern.fullmatch(number) for pattern in plan.allow):
                continue
            for cls, pattern in plan.deny:
                if pattern.fullmatch(number):
                    detail = f"{cls} destination {_shown(number)} denied to group {plan.name}"
                    return Reject(403, Reason.DIAL_DENIED, detail, phrase="Destination Not Allowed")
        return None

    def _caps(
        self, request: Request, user: str, plan: _Plan, ctx: GuardContext, state: GuardState
    ) -> Outcome:
        """Concurrent calls first, then calls per minute (a refused call takes no token)."""
        effects: list[Effect] = []
        if plan.max_concurrent > 0:
            active = state.calls.active(user, ctx.now)
            if active >= plan.max_concurrent:
                detail = f"{active} calls, cap {plan.max_concurrent} (group {plan.name})"
                return Outcome(Reject(403, Reason.CALL_LIMIT, detail, phrase="Too Many Calls"))
            try:
                effects.append(StartCall(request.call_id, user))
            except SipParseError as exc:  # a call that cannot be named cannot be counted
                return Outcome(Reject(400, Reason.MALFORMED, exc.reason))
        rate = plan.calls_per_minute
        if rate > 0:
            key = f"calls:{user}"
            if state.rates.available(key, rate / 60.0, rate, ctx.now) < 1:
                detail = f"over {rate:g} calls per minute (group {plan.name})"
                return Outcome(Reject(403, Reason.CALL_RATE, detail, phrase="Call Rate Exceeded"))
            effects.append(Consume(key))
        return Outcome(Pass(), tuple(effects))


def _initial_invite(request: Request) -> bool:
    """An INVITE outside a dialog (no To tag); an unreadable To is judged as initial."""
    if request.method != "INVITE":
        return False
    try:
        return request.to.tag is None
    except SipParseError:
        return True
