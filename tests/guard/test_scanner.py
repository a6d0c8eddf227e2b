"""Scanner stage: real SIPVicious captures dropped, SIPp passed; signatures; behaviour."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field

import pytest

from sipguard.config import TransportName
from sipguard.guard import (
    BanOrder,
    Drop,
    GuardContext,
    GuardState,
    MemorySink,
    Offence,
    OffenceKind,
    Pass,
    Pipeline,
    Reason,
    Sighting,
    Verdict,
)
from sipguard.guard.calls import CallTable
from sipguard.guard.scanner import (
    DEFAULT_SCANNER_AGENTS,
    ScannerPolicy,
    ScannerStage,
    is_sipvicious_tag,
    new_sighting_table,
)
from sipguard.guard.sightings import SightingTable
from sipguard.sip import Request
from sipguard.transport.base import Peer
from tests.helpers.corpus import FIXTURES
from tests.helpers.sipmsg import parse_request, request

CAPTURES = FIXTURES / "captures"
EXPECTED = tomllib.loads((CAPTURES / "expected.toml").read_text())
CAPTURED_REQUESTS = sorted(name for name, meta in EXPECTED.items() if not meta["kind"].isdigit())
LISTENER = Peer(TransportName.UDP, "192.0.2.1", 5060)


def ctx_from(
    host: str = "203.0.113.5",
    *,
    now: float = 10.0,
    transport: TransportName = TransportName.UDP,
    trusted: bool = False,
) -> GuardContext:
    return GuardContext(Peer(transport, host, 5060), LISTENER, now, 1e9, trusted=trusted)


@dataclass
class Tables:
    """Bans, rates, nonces and jails as the scanner stage needs them: untouched, except
    the jail, which records the offences the pipeline hands it."""

    offences: list[tuple[OffenceKind, str, bool]] = field(default_factory=list)

    def is_banned(self, host: str, wall: float) -> bool:
        return False

    def ban(self, order: BanOrder) -> None:
        raise AssertionError("no jail here orders a ban")

    def available(self, key: str, rate: float, burst: float, now: float) -> float:
        raise AssertionError("the scanner stage reads no rate")

    def consume(self, key: str, tokens: float, now: float) -> None:
        raise AssertionError("the scanner stage consumes no rate")

    def highest_nc(self, nonce: str) -> int | None:
        raise AssertionError("the scanner stage reads no nonce")

    def use(self, nonce: str, nc: int) -> None:
        raise AssertionError("the scanner stage uses no nonce")

    def offence(
        self, kind: OffenceKind, source: str, verified: bool, wall: float
    ) -> BanOrder | None:
        self.offences.append((kind, source, verified))
        return None


def state_with(table: SightingTable | None = None) -> GuardState:
    tables = Tables()
    return GuardState(
        tables, tables, tables, tables, table or new_sighting_table(ScannerPolicy()), CallTable()
    )


def captured(name: str) -> Request:
    return parse_request((CAPTURES / name).read_bytes())


# -- real captures ---------------------------------------------------------------------


@pytest.mark.parametrize("name", CAPTURED_REQUESTS)
def test_every_sipvicious_capture_is_dropped_and_every_sipp_one_passes(name: str) -> None:
    outcome = ScannerStage().decide(captured(name), ctx_from("127.0.0.1"), state_with())
    if EXPECTED[name]["scanner"]:
        assert isinstance(outcome.verdict, Drop)
        assert outcome.verdict.reason is Reason.SCANNER_USER_AGENT
        assert Offence(OffenceKind.SCANNER, "127.0.0.1", False) in outcome.effects
    else:
        assert outcome.verdict == Pass()


def test_the_captures_hold_both_kinds() -> None:
    kinds = {EXPECTED[name]["scanner"] for name in CAPTURED_REQUESTS}
    assert kinds == {True, False}


def test_compact_svmap_without_user_agent_is_still_recognised() -> None:
    req = captured("sipvicious-svmap-options-compact.sip")
    assert req.get("User-Agent") is None
    assert ScannerStage().signature(req) == "scanner display name"
    no_names = ScannerStage(ScannerPolicy(display_names=()))
    assert no_names.signature(req) == "SIPVicious From tag"


# -- signatures ------------------------------------------------------------------------


def options(user_agent: str | None = None, **headers: str) -> Request:
    merged: dict[str, str | None] = {"User-Agent": user_agent}
    merged.update(headers)
    return parse_request(request("OPTIONS", "sip:biloxi.example.com", merged))


@pytest.mark.parametrize(
    "agent",
    [
        "friendly-scanner",
        "Friendly-Scanner",
        "sipvicious 0.2.8",
        "sipcli/v1.8",
        "VaxSIPUserAgent/3.1",
        "pplsip",
        "sundayddr",
        "sip-scan",
        "iWar",
        "SIVuS/1.09",
        "smap 0.6.0",
    ],
)
def test_scanner_user_agents_are_dropped(agent: str) -> None:
    outcome = ScannerStage().decide(options(agent), ctx_from(), state_with())
    assert outcome.verdict == Drop(Reason.SCANNER_USER_AGENT, "scanner User-Agent")
    assert outcome.effects == (Offence(OffenceKind.SCANNER, "203.0.113.5", False),)


@pytest.mark.parametrize(
    "agent",
    [
        "sipsak 0.9.6",  # an admin's tool: left out on purpose
        "Asterisk PBX 18.20.0",  # real servers (corpus 087, 091)
        "Cosmap/1.0",  # "smap" only as a word
        "Zoiper v2.10.20.4_1",
        "MicroSIP/3.21.4",
    ],
)
def test_real_user_agents_pass(agent: str) -> None:
    assert ScannerStage().decide(options(agent), ctx_from(), state_with()).verdict == Pass()


def test_extra_user_agents_extend_the_list() -> None:
    stage = ScannerStage(ScannerPolicy(extra_user_agents=("sipsak",)))
    assert isinstance(stage.decide(options("sipsak 0.9.6"), ctx_from(), state_with()).verdict, Drop)
    assert stage.signature(options("friendly-scanner")) is not None  # defaults kept


def test_the_default_list_is_nonempty_and_clean() -> None:
    assert "friendly-scanner" in DEFAULT_SCANNER_AGENTS
    assert "sipsak" not in DEFAULT_SCANNER_AGENTS


def test_a_scanner_display_name_is_dropped() -> None:
    req = options(To='"SIPVicious"<sip:100@1.1.1.1>')
    assert ScannerStage().signature(req) == "scanner display name"


@pytest.mark.parametrize(
    "tag",
    [
        "3766303030303031336166320132333433343237333932",  # svmap: 7f0000013af2
        "3130300132313933363336323536",  # svwar: 100
        "3130303a313030300131353533343937363534",  # svcrack: 100:1000
    ],
)
def test_sipvicious_tags(tag: str) -> None:
    assert is_sipvicious_tag(tag)


@pytest.mark.parametrize(
    "tag",
    [
        "3206210844",  # svcrack's fixed first tag: too short to tell
        "as022cbb0e",  # Asterisk
        "10430SIPpTag001",
        "1928301774",
        "3130300131",  # "100\x011": too few digits after the 0x01
        "0131323334353637",  # nothing before the 0x01
        "1f30300132313933363336323536",  # a control character before the 0x01
        "313030013231393336333632353",  # odd length
        "3130300132313933363336323536zz",  # not hex
        "e495220a31344eb39a6bf44ee3b01303",
    ],
)
def test_other_tags_are_not_sipvicious(tag: str) -> None:
    assert not is_sipvicious_tag(tag)


def test_trusted_sources_are_never_flagged() -> None:
    outcome = ScannerStage().decide(
        options("friendly-scanner"), ctx_from(trusted=True), state_with()
    )
    assert outcome.verdict == Pass()
    assert outcome.effects == ()


def test_offences_from_streams_count_fully() -> None:
    ctx = ctx_from(transport=TransportName.TLS)
    outcome = ScannerStage().decide(options("friendly-scanner"), ctx, state_with())
    assert outcome.effects == (Offence(OffenceKind.SCANNER, "203.0.113.5", True),)


# -- behaviour -------------------------------------------------------------------------


def register_for(user: str, **headers: str) -> Request:
    merged = {
        "From": f"<sip:{user}@biloxi.example.com>;tag=1",
        "To": f"<sip:{user}@biloxi.example.com>",
    }
    merged.update(headers)
    return parse_request(request("REGISTER", "sip:biloxi.example.com", merged))


def options_for(user: str) -> Request:
    return parse_request(request("OPTIONS", f"sip:{user}@biloxi.example.com"))


def run(
    stage: ScannerStage, state: GuardState, requests: list[Request], ctx: GuardContext
) -> list[Verdict]:
    """The verdicts of a pipeline of this one stage, which applies its effects."""
    pipeline = Pipeline([stage], state, MemorySink())
    return [pipeline.decide(req, ctx).verdict for req in requests]


def test_a_source_walking_through_users_is_dropped() -> None:
    stage = ScannerStage(ScannerPolicy(max_distinct_users=5))
    state = state_with(SightingTable(60.0, 100, 6))
    verdicts = run(stage, state, [register_for(str(u)) for u in range(100, 110)], ctx_from())
    assert verdicts[:5] == [Pass()] * 5
    assert all(v == Drop(Reason.SCANNER_BEHAVIOUR, "over 5 users in 60 s") for v in verdicts[5:])
    jail = state.jails
    assert isinstance(jail, Tables)
    assert jail.offences == [(OffenceKind.SCANNER, "203.0.113.5", False)] * 5


def test_an_options_sweep_is_dropped() -> None:
    stage = ScannerStage(ScannerPolicy(max_distinct_users=3))
    state = state_with(SightingTable(60.0, 100, 4))
    verdicts = run(stage, state, [options_for(str(u)) for u in range(1, 6)], ctx_from())
    assert [type(v) for v in verdicts] == [Pass, Pass, Pass, Drop, Drop]


def test_the_decision_reads_and_the_effect_records() -> None:
    stage = ScannerStage()
    table = SightingTable(60.0, 100, 30)
    outcome = stage.decide(register_for("100"), ctx_from(), state_with(table))
    assert outcome.effects == (Sighting("203.0.113.5", "100"),)
    assert table.distinct("203.0.113.5", 10.0) == 0  # only the pipeline applies it


def test_a_phone_asking_again_and_again_for_itself_passes() -> None:
    stage = ScannerStage(ScannerPolicy(max_distinct_users=3))
    state = state_with(SightingTable(60.0, 100, 4))
    verdicts = run(stage, state, [register_for("100")] * 50, ctx_from())
    assert set(verdicts) == {Pass()}


def test_requests_with_credentials_and_in_dialog_requests_are_not_counted() -> None:
    stage = ScannerStage(ScannerPolicy(max_distinct_users=2))
    auth = 'Digest username="u", realm="r", nonce="n", uri="sip:b", response="0"'
    with_credentials = [register_for(str(u), Authorization=auth) for u in range(10)]
    in_dialog = [
        parse_request(request("INVITE", f"sip:{u}@b.example.com", {"To": "<sip:b@b>;tag=x"}))
        for u in range(10)
    ]
    not_counted = [parse_request(request("MESSAGE", f"sip:{u}@b.example.com")) for u in range(10)]
    for req in (*with_credentials, *in_dialog, *not_counted):
        assert stage.target(req) is None


def test_the_target_of_each_request_kind() -> None:
    stage = ScannerStage()
    assert stage.target(register_for("100")) == "100"  # REGISTER: the To user
    assert stage.target(options_for("101")) == "101"  # the Request-URI user
    user_less = parse_request(
        request("OPTIONS", "sip:Biloxi.example.com", {"To": "<sip:b.example.com>"})
    )
    assert stage.target(user_less) == "@biloxi.example.com"
    invite = parse_request(request("INVITE", "tel:+12125550100", {"Contact": "<sip:a@b>"}))
    assert stage.target(invite) == "+12125550100"


def test_the_window_forgives_in_virtual_time() -> None:
    stage = ScannerStage(ScannerPolicy(max_distinct_users=3))
    state = state_with(SightingTable(60.0, 100, 4))
    users = [register_for(str(u)) for u in range(4)]
    assert type(run(stage, state, users, ctx_from(now=0.0))[-1]) is Drop
    assert run(stage, state, [register_for("200")], ctx_from(now=61.0)) == [Pass()]


def test_ipv6_sources_are_counted_per_prefix() -> None:
    stage = ScannerStage(ScannerPolicy(max_distinct_users=3))
    state = state_with(SightingTable(60.0, 100, 4))
    for u in range(3):  # one attacker, rotating addresses inside its /64
        assert run(stage, state, [register_for(str(u))], ctx_from(f"2001:db8:1:2::{u + 1}")) == [
            Pass()
        ]
    assert type(run(stage, state, [register_for("9")], ctx_from("2001:db8:1:2::99"))[0]) is Drop
    assert run(stage, state, [register_for("9")], ctx_from("2001:db8:1:3::1")) == [Pass()]
    assert stage.source_key("2001:db8:1:2::99") == "2001:db8:1:2::/64"
    assert stage.source_key("203.0.113.5") == "203.0.113.5"


def test_trusted_sources_are_never_counted() -> None:
    stage = ScannerStage(ScannerPolicy(max_distinct_users=1))
    outcome = stage.decide(register_for("100"), ctx_from(trusted=True), state_with())
    assert outcome.effects == ()


@pytest.mark.parametrize(
    "policy", [ScannerPolicy(max_distinct_users=0), ScannerPolicy(ipv6_prefix=129)]
)
def test_bad_policies_are_refused(policy: ScannerPolicy) -> None:
    with pytest.raises(ValueError, match="max_distinct_users"):
        ScannerStage(policy)


def test_new_sighting_table_has_room_above_the_threshold() -> None:
    table = new_sighting_table(ScannerPolicy(max_distinct_users=7, window=30.0, max_sources=10))
    assert (table.window, table.max_sources, table.max_per_source) == (30.0, 10, 8)
