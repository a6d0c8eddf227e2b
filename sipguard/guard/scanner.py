"""Stage 4, scanner defence: known scanner signatures and scanner behaviour, dropped
without a response (the scanner learns nothing) and reported to the jails.

Signatures (any request, from an untrusted source):
- a User-Agent containing one of ``user_agents`` as a word, case-insensitive (see
  ``DEFAULT_SCANNER_AGENTS`` for where each comes from);
- a From or To display name that is a scanner's name: SIPVicious svmap sends
  ``"sipvicious"<sip:100@1.1.1.1>`` even in compact mode (``-c``), which sends no
  User-Agent at all (tests/fixtures/captures, sipvicious-svmap-options-compact.sip);
- a SIPVicious From tag: hex of ``text + "\\x01" + decimal digits`` (svmap, svwar and
  svcrack 0.3.8 alike). A random tag has this shape with a probability under 1e-8.

Behaviour (stock tools can hide their User-Agent): an untrusted source asking for more
than ``max_distinct_users`` distinct users (the Request-URI user, or the To user for
REGISTER and user-less URIs) in initial ``methods`` requests without credentials,
within the sightings window. That is SIPVicious svwar walking extensions, or an OPTIONS
sweep. Each counted request returns a ``Sighting`` effect; the pipeline records it.
Requests with credentials are the auth stage's business (svcrack), not counted here.

Rules of this file: pure; trusted sources are never flagged; every drop carries an
Offence(SCANNER) whose ``verified`` is the source's (a UDP source may be forged).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from sipguard.guard.context import GuardContext
from sipguard.guard.effects import Offence, OffenceKind, Sighting
from sipguard.guard.pipeline import Outcome
from sipguard.guard.sightings import SightingTable
from sipguard.guard.state import GuardState
from sipguard.guard.verdict import Drop, Pass, Reason
from sipguard.sip import Request, SipUri, TelUri

__all__ = [
    "DEFAULT_SCANNER_AGENTS",
    "ScannerPolicy",
    "ScannerStage",
    "is_sipvicious_tag",
    "new_sighting_table",
]

DEFAULT_SCANNER_AGENTS: tuple[str, ...] = (
    "friendly-scanner",  # SIPVicious svmap/svwar/svcrack default (our captures, 0.3.8)
    "sipvicious",  # SIPVicious (older releases name themselves)
    "sipcli",  # SIPCLI brute forcer: in Kamailio's default kamailio.cfg REQINIT list
    "VaxSIPUserAgent",  # VaxVoIP SDK as used by brute forcers: Kamailio's default list
    "pplsip",  # Kamailio's default list
    "sundayddr",  # a scanner widely reported by fail2ban and honeypot operators
    "sip-scan",  # the sip-scan tool
    "iWar",  # iWar, a VoIP war dialer
    "SIVuS",  # SiVuS, a SIP vulnerability scanner
    "smap",  # smap, a SIP host scanner ("smap 0.6.0"); matched as a word only
)
"""Left out on purpose: ``sipsak`` (an admin's diagnostic and monitoring tool: a sweep
by it is still caught by behaviour), ``Asterisk PBX`` (real Asterisk servers send it:
corpus 087, 091), ``PortSIP VoIP SDK`` and ``VoIP SIP v`` (commercial SDKs inside real
softphones), ``Gulp`` (no public source ties it to a scanner). Add them with
``extra_user_agents`` where your users do not need them."""


@dataclass(frozen=True, slots=True)
class ScannerPolicy:
    """Tunables of the scanner stage (``[guard.scanner]``)."""

    user_agents: tuple[str, ...] = DEFAULT_SCANNER_AGENTS
    """User-Agent words that mark a scanner (case-insensitive)."""
    extra_user_agents: tuple[str, ...] = ()
    """More words, added to ``user_agents`` (extend without repeating the defaults)."""
    display_names: tuple[str, ...] = ("sipvicious", "friendly-scanner")
    """From/To display names that mark a scanner (case-insensitive, whole name)."""
    sipvicious_tags: bool = True
    """Recognise SIPVicious's From tag shape."""
    max_distinct_users: int = 20
    """Distinct users one source may ask for within ``window`` before it is dropped. An
    office of many phones behind one NAT address that reboot together may exceed it:
    raise it, or list that address as trusted."""
    window: float = 60.0
    """Seconds the sightings table remembers (``new_sighting_table`` uses it)."""
    methods: tuple[str, ...] = ("REGISTER", "INVITE", "OPTIONS")
    """Initial requests that count toward ``max_distinct_users``."""
    ipv6_prefix: int = 64
    """IPv6 sources are counted per prefix of this length (an attacker owns a /64)."""
    max_sources: int = 65536
    """Sources the sightings table remembers (``new_sighting_table`` uses it)."""


def new_sighting_table(policy: ScannerPolicy) -> SightingTable:
    """The sightings table ``policy`` needs (its window, room above its threshold)."""
    return SightingTable(policy.window, policy.max_sources, policy.max_distinct_users + 1)


class ScannerStage:
    """Drops known scanners and sources that walk through users."""

    name = "scanner"

    def __init__(self, policy: ScannerPolicy | None = None) -> None:
        self.policy = policy = policy or ScannerPolicy()
        if policy.max_distinct_users < 1 or not 0 <= policy.ipv6_prefix <= 128:
            raise ValueError("max_distinct_users must be >= 1 and ipv6_prefix in 0..128")
        words = [w for w in (*policy.user_agents, *policy.extra_user_agents) if w.strip()]
        alternatives = "|".join(re.escape(w.strip()) for w in words) or r"(?!)"
        # A word, not any substring: "smap" must not match inside another product name.
        self._agents = re.compile(rf"(?<![A-Za-z0-9])(?:{alternatives})(?![A-Za-z0-9])", re.I)
        self._names = frozenset(n.casefold() for n in policy.display_names)
        self._methods = frozenset(policy.methods)

    def decide(self, request: Request, ctx: GuardContext, state: GuardState) -> Outcome:
        """Pass (maybe with a Sighting), or Drop with an Offence(SCANNER)."""
        if ctx.trusted:
            return Outcome(Pass())
        offence = Offence(OffenceKind.SCANNER, ctx.source.host, ctx.verified or ctx.reliable)
        signature = self.signature(request)
        if signature is not None:
            return Outcome(Drop(Reason.SCANNER_USER_AGENT, signature), (offence,))
        target = self.target(request)
        if target is None:
            return Outcome(Pass())
        key = self.source_key(ctx.source.host)
        sighting = Sighting(key, target)
        if state.sightings.distinct(key, ctx.now) >= self.policy.max_distinct_users:
            detail = f"over {self.policy.max_distinct_users} users in {self.policy.window:g} s"
            return Outcome(Drop(Reason.SCANNER_BEHAVIOUR, detail), (sighting, offence))
        return Outcome(Pass(), (sighting,))

    def signature(self, request: Request) -> str | None:
        """What identifies ``request`` as a known scanner's, or None."""
        for agent in request.get_all("User-Agent"):
            if self._agents.search(agent):
                return "scanner User-Agent"
        for address in (request.from_, request.to):
            name = address.display_name
            if name is not None and name.strip().casefold() in self._names:
                return "scanner display name"
        tag = request.from_.tag
        if self.policy.sipvicious_tags and tag is not None and is_sipvicious_tag(tag):
            return "SIPVicious From tag"
        return None

    def target(self, request: Request) -> str | None:
        """The user an initial request without credentials asks for, or None when the
        request does not count toward scanner behaviour."""
        if request.method not in self._methods or request.to.tag is not None:
            return None
        if request.has("Authorization") or request.has("Proxy-Authorization"):
            return None
        user = None if request.method == "REGISTER" else _user(request.uri)
        user = user or _user(request.to.uri)
        if user:
            return user
        uri = request.uri
        return "@" + (uri.host.lower() if isinstance(uri, SipUri) else str(uri))

    def source_key(self, host: str) -> str:
        """The key sightings are counted under: the address, or its IPv6 prefix."""
        if ":" not in host:
            return host
        try:
            network = ipaddress.ip_network(f"{host}/{self.policy.ipv6_prefix}", strict=False)
        except ValueError:
            return host
        return str(network)


def is_sipvicious_tag(tag: str) -> bool:
    """True for a tag of SIPVicious's shape: hex of printable text, 0x01, 6+ digits."""
    if not 16 <= len(tag) <= 256 or len(tag) % 2:
        return False
    try:
        raw = bytes.fromhex(tag)
    except ValueError:
        return False
    text, sep, digits = raw.rpartition(b"\x01")
    if not sep or not text or len(digits) < 6 or not digits.isdigit():
        return False
    return all(0x20 <= byte < 0x7F for byte in text)


def _user(uri: object) -> str | None:
    if isinstance(uri, SipUri):
        return uri.user
    if isinstance(uri, TelUri):
        return uri.number
    return None
