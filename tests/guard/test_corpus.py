"""No false positives: every real-world request passes sanity, ACL, scanner and relay.

Each request of ../shared/corpus/realworld/ (and of its quirks/ folder) goes through a
pipeline of the four stages from its own allowed, untrusted UDP source (the strictest
case: nothing verified, identity headers stripped), with the deployment it was meant
for treated as ours: its Request-URI's domain and that domain's subdomains (corpus 058
pre-loads an IMS S-CSCF, ``scscf.ims-network.com``), and the host of its top Route (the
outbound proxy it was sent to, which would be us: corpus 029, 038, 058, 066, 070, quirk
009). None may be rejected or dropped.

Exceptions, by file:
- quirks/013-polycom-spip601-invite-headers-in-ruri.sip never reaches the guards: the
  parser refuses a Request-URI with URI headers (tests/sip covers it).
- quirks/003-scanner-options-no-final-crlf.sip is itself an attack (an internet
  scanner's probe with random users and a random User-Agent). One probe is not
  recognisable; a sweep of them is caught by scanner behaviour. It is run for crashes
  only, not held to a verdict either way.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from sipguard.config import TransportName
from sipguard.guard import (
    BanOrder,
    GuardContext,
    GuardState,
    MemorySink,
    OffenceKind,
    Pass,
    Pipeline,
    Stage,
)
from sipguard.guard.acl import AclPolicy, AclStage
from sipguard.guard.calls import CallTable
from sipguard.guard.relay import IDENTITY_HEADERS, RelayPolicy, RelayStage
from sipguard.guard.sanity import SanityStage
from sipguard.guard.scanner import ScannerPolicy, ScannerStage, new_sighting_table
from sipguard.sip import Request, SipParseError, SipUri, Uri, parse_message
from sipguard.transport.base import Peer
from tests.helpers.corpus import REALWORLD, realworld_files, realworld_params

ATTACKS = {"quirks/003-scanner-options-no-final-crlf.sip"}
UNPARSABLE = {"quirks/013-polycom-spip601-invite-headers-in-ruri.sip"}
LISTENER = Peer(TransportName.UDP, "192.0.2.1", 5060)
SOURCE = "198.51.100.20"  # in the allow list; each file gets a fresh state


def _name(path: Path) -> str:
    return path.relative_to(REALWORLD).as_posix()


def _is_request(path: Path) -> bool:
    try:
        return isinstance(parse_message(path.read_bytes()), Request)
    except SipParseError:
        return True  # kept, so that the test says why it is not run


def corpus_requests() -> list[object]:
    """One parameter per request file; the one skipped parameter when there is no corpus."""
    files = realworld_files() + realworld_files("quirks")
    if not files:
        return realworld_params()
    return [pytest.param(path, id=_name(path)) for path in files if _is_request(path)]


class QuietTables:
    """Bans, rates, nonces and jails for stages that must not touch them here."""

    def is_banned(self, host: str, wall: float) -> bool:
        return False

    def ban(self, order: BanOrder) -> None:
        raise AssertionError("a real phone got banned")

    def available(self, key: str, rate: float, burst: float, now: float) -> float:
        raise AssertionError("no stage here reads a rate")

    def consume(self, key: str, tokens: float, now: float) -> None:
        raise AssertionError("no stage here consumes a rate")

    def highest_nc(self, nonce: str) -> int | None:
        raise AssertionError("no stage here reads a nonce")

    def use(self, nonce: str, nc: int) -> None:
        raise AssertionError("no stage here uses a nonce")

    def offence(
        self, kind: OffenceKind, source: str, verified: bool, wall: float
    ) -> BanOrder | None:
        raise AssertionError(f"a real phone committed an offence: {kind}")


def ours_for(msg: Request) -> Callable[[Uri], bool]:
    """The deployment ``msg`` was meant for, as ``is_local`` (see the module docstring)."""
    hosts: set[str] = set()
    domain = msg.uri.host_bare.lower() if isinstance(msg.uri, SipUri) else None
    if msg.routes and isinstance(msg.routes[0].uri, SipUri):
        hosts.add(msg.routes[0].uri.host_bare.lower())

    def is_local(uri: Uri) -> bool:
        if not isinstance(uri, SipUri):
            return False
        host = uri.host_bare.lower()
        return host in hosts or (
            domain is not None and (host == domain or host.endswith("." + domain))
        )

    return is_local


def pipeline_for(msg: Request, sink: MemorySink) -> Pipeline:
    quiet = QuietTables()
    state = GuardState(quiet, quiet, quiet, quiet, new_sighting_table(ScannerPolicy()), CallTable())
    stages: list[Stage] = [
        SanityStage(),
        AclStage(AclPolicy(allow=(f"{SOURCE}/32",), deny=("203.0.113.0/24",))),
        ScannerStage(),
        RelayStage(RelayPolicy(), is_local=ours_for(msg)),
    ]
    return Pipeline(stages, state, sink)


@pytest.mark.parametrize("path", corpus_requests())
def test_real_requests_pass_the_front_guards(path: Path) -> None:
    name = _name(path)
    if name in UNPARSABLE:
        pytest.skip("the parser refuses it before any guard runs (tests/sip covers it)")
    msg = parse_message(path.read_bytes())
    assert isinstance(msg, Request)
    ctx = GuardContext(Peer(TransportName.UDP, SOURCE, 5060), LISTENER, now=100.0, wall=1.7e9)
    sink = MemorySink()
    decision = pipeline_for(msg, sink).decide(msg, ctx)
    if name in ATTACKS:
        return  # run for crashes only: see the module docstring
    assert decision.verdict == Pass(), f"{name}: {decision.stage} said {decision.verdict}"
    assert not sink.events
    routed = decision.request
    assert not any(routed.has(h) for h in IDENTITY_HEADERS)
    # What is routed still reads as the same request, minus the identity headers.
    again = parse_message(routed.to_bytes())
    assert isinstance(again, Request)
    assert (again.method, str(again.uri), again.call_id) == (msg.method, str(msg.uri), msg.call_id)


def test_the_known_exceptions_are_in_the_corpus() -> None:
    names = {_name(path) for path in realworld_files("quirks")}
    if not names:
        pytest.skip(f"shared corpus not found at {REALWORLD} (clone ../shared beside the repo)")
    assert names >= ATTACKS | UNPARSABLE
