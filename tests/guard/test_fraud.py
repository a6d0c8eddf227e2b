"""Toll-fraud stage: dial plans per group, concurrent calls and calls per minute per user."""

from __future__ import annotations

import math
import re
from dataclasses import replace
from typing import Any

import pytest

from sipguard.guard import (
    Consume,
    GuardContext,
    GuardState,
    MemorySink,
    Pass,
    Pipeline,
    Reason,
    Reject,
    StartCall,
)
from sipguard.guard.banlist import BanList
from sipguard.guard.buckets import TokenBuckets
from sipguard.guard.calls import CallTable
from sipguard.guard.fraud import (
    DEFAULT_GROUPS,
    DialGroup,
    FraudPolicy,
    FraudStage,
    dial_readings,
    dialled_number,
)
from sipguard.guard.jail import JailTable
from sipguard.guard.nonce import NonceCounts
from sipguard.guard.pipeline import Outcome
from sipguard.guard.sightings import SightingTable
from sipguard.sip import Peer, Request, TransportName, parse_message, parse_uri

LISTENER = Peer(TransportName.UDP, "192.0.2.1", 5060)
SOURCE = Peer(TransportName.TLS, "198.51.100.20", 5061)
ALICE = GuardContext(SOURCE, LISTENER, now=100.0, wall=1000.0, user="alice", verified=True)
ANONYMOUS = GuardContext(SOURCE, LISTENER, now=100.0, wall=1000.0)
TRUSTED = GuardContext(SOURCE, LISTENER, now=100.0, wall=1000.0, trusted=True)
PREMIUM_UK = "+449012345678"
INTERNATIONAL = "+33142685300"
NATIONAL = "02079460000"
# Only the dial plan under test: no caps.
NO_CAPS = FraudPolicy(max_concurrent=0, calls_per_minute=0)
DIAL_PLAN = FraudStage(NO_CAPS)


def req(
    uri: str = "sip:bob@biloxi.example.com",
    *,
    method: str = "INVITE",
    to_tag: str = "",
    call_id: str = "a84b4c76e66710@pc33.atlanta.example.com",
) -> Request:
    """A literal request from Alice's phone (To tag and Call-ID as given)."""
    text = (
        f"{method} {uri} SIP/2.0\r\n"
        "Via: SIP/2.0/TLS 198.51.100.20:5061;branch=z9hG4bK776asdhds\r\n"
        "Max-Forwards: 70\r\n"
        "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
        f"To: <{uri}>{to_tag}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: 314159 {method}\r\n"
        "Contact: <sip:alice@198.51.100.20:5061;transport=tls>\r\n"
        "Content-Length: 0\r\n"
        "\r\n"
    )
    msg = parse_message(text.encode())
    assert isinstance(msg, Request)
    return msg


def state(calls: CallTable | None = None) -> GuardState:
    return GuardState(
        BanList(),
        TokenBuckets(1000),
        NonceCounts(),
        JailTable(),
        SightingTable(60, 100, 100),
        CallTable() if calls is None else calls,  # an empty table is falsy
    )


def decide(
    r: Request,
    ctx: GuardContext = ALICE,
    stage: FraudStage = DIAL_PLAN,
    st: GuardState | None = None,
) -> Outcome:
    return stage.decide(r, ctx, st or state())


def rejected(outcome: Outcome, reason: Reason) -> Reject:
    verdict = outcome.verdict
    assert isinstance(verdict, Reject), verdict
    assert (verdict.status, verdict.reason) == (403, reason)
    assert outcome.effects == ()
    return verdict


# --- the dialled number --------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "number"),
    [
        ("tel:+1-212-555-0100", "+12125550100"),
        ("tel:7042;phone-context=example.com", "7042"),
        ("sip:+44(0)20.7946-0000@biloxi.example.com;user=phone", "+440207946" + "0000"),
        ("sip:%2B449012345678@biloxi.example.com", PREMIUM_UK),  # %2B is "+"
        ("sip:%30%30%33%33142685300@biloxi.example.com", "0033142685300"),
        ("sip:5753606;context=private@10.1.10.1", "5753606"),
        ("sips:*97@biloxi.example.com", "*97"),
        ("sip:**@backup01.sipphone.com", "**"),
        ("sip:alice@biloxi.example.com", None),
        ("sip:+bob@biloxi.example.com", None),
        ("sip:1900CALLNOW@biloxi.example.com", None),
        ("sip:biloxi.example.com", None),
        ("urn:service:sos", None),
    ],
)
def test_dialled_number_normalises_tel_and_sip_user_parts(uri: str, number: str | None) -> None:
    assert dialled_number(parse_uri(uri)) == number


@pytest.mark.parametrize(
    ("uri", "readings"),
    [
        ("tel:+44-90-1234-5678", (PREMIUM_UK,)),
        ("sip:alice@biloxi.example.com", ()),
        ("sip:1-900-CALLNOW@biloxi.example.com", ("1900", "19002255669")),
        ("tel:+449012345678p1", (PREMIUM_UK, "+44901234567871")),
        ("sip:0044_9012345678@biloxi.example.com", ("0044", "00449012345678")),
    ],
)
def test_dial_readings_of_strings_that_start_like_numbers(
    uri: str, readings: tuple[str, ...]
) -> None:
    assert dial_readings(parse_uri(uri)) == readings


# --- the dial plan -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "cls"),
    [
        ("19005551234", "premium"),
        ("+1-976-555-1234", "premium"),
        ("09012345678", "premium"),
        ("0044-901-234-5678", "premium"),
        ("+881612345678", "premium"),
        ("011-870-772-123456", "premium"),
        ("00882161234567", "premium"),
        ("+883510012345", "premium"),
        (INTERNATIONAL, "international"),
        ("0033142685300", "international"),
        ("01133142685300", "international"),
    ],
)
def test_default_group_is_denied_premium_and_international(number: str, cls: str) -> None:
    verdict = rejected(decide(req(f"tel:{number}")), Reason.DIAL_DENIED)
    assert verdict.phrase == "Destination Not Allowed"
    assert verdict.detail.startswith(f"{cls} destination ")
    assert verdict.detail.endswith("denied to group default")


@pytest.mark.parametrize("number", ["911", "112", "999", "000", "110", "119", "933"])
def test_emergency_numbers_always_pass(number: str) -> None:
    # "000" also matches "international" (00...): allow beats deny.
    assert decide(req(f"sip:{number}@biloxi.example.com")).verdict == Pass()
    assert decide(req(f"tel:{number}"), ANONYMOUS).verdict == Pass()


def test_allow_is_what_lets_an_emergency_number_through_a_matching_deny() -> None:
    no_allow = DialGroup("default", deny=("premium", "international"))
    stage = FraudStage(replace(NO_CAPS, groups=(no_allow,)))
    rejected(decide(req("tel:000"), stage=stage), Reason.DIAL_DENIED)


@pytest.mark.parametrize(
    "uri", ["tel:" + NATIONAL, "sip:1003@192.168.31.109:5060", "sip:alice@biloxi.example.com"]
)
def test_national_numbers_and_names_pass_the_default_dial_plan(uri: str) -> None:
    assert decide(req(uri)) == Outcome(Pass())


@pytest.mark.parametrize(
    "uri",
    [
        "tel:+44-901-234-5678",  # visual separators
        "sip:+44(901)234.5678@biloxi.example.com;user=phone",
        "sip:%2B44%39012345678@biloxi.example.com",  # percent-encoded "+" and "9"
        "sip:1-900-CALLNOW@biloxi.example.com",  # a vanity number, read on the keypad
        "tel:+449012345678p1",  # a pause then DTMF: read as the digits before it too
        "sip:0044_9012345678@biloxi.example.com",
    ],
)
def test_premium_numbers_in_disguise_are_still_premium(uri: str) -> None:
    groups = (DEFAULT_GROUPS[0], replace(DEFAULT_GROUPS[1], members=("alice",)))
    stage = FraudStage(replace(NO_CAPS, groups=groups))
    # Denied as premium even to a group that may call abroad.
    verdict = rejected(decide(req(uri), ALICE, stage), Reason.DIAL_DENIED)
    assert verdict.detail.startswith("premium destination ")


def test_international_group_calls_abroad_but_not_premium() -> None:
    groups = (DEFAULT_GROUPS[0], replace(DEFAULT_GROUPS[1], members=("alice",)))
    stage = FraudStage(replace(NO_CAPS, groups=groups))
    assert decide(req(f"tel:{INTERNATIONAL}"), stage=stage).verdict == Pass()
    assert decide(req("tel:112"), stage=stage).verdict == Pass()
    verdict = rejected(decide(req(f"tel:{PREMIUM_UK}"), stage=stage), Reason.DIAL_DENIED)
    assert verdict.detail == "premium destination +4490… denied to group international"


def test_a_user_belongs_to_the_first_group_listing_it_else_the_default() -> None:
    groups = (
        DialGroup("default", allow=("emergency",), deny=("international",)),
        DialGroup("sales", ("alice", "bob"), deny=("premium",)),
        DialGroup("abroad", ("alice", "carol")),
        DialGroup("closed", deny=("premium", "international")),
    )
    stage = FraudStage(replace(NO_CAPS, groups=groups))
    assert [stage.group_of(u) for u in ("alice", "bob", "carol", "dave", None)] == [
        "sales", "sales", "abroad", "default", "default",
    ]  # fmt: skip
    assert decide(req(f"tel:{INTERNATIONAL}"), ALICE, stage).verdict == Pass()
    carol = replace(ALICE, user="carol")
    assert decide(req(f"tel:{PREMIUM_UK}"), carol, stage).verdict == Pass()
    rejected(decide(req(f"tel:{PREMIUM_UK}"), ALICE, stage), Reason.DIAL_DENIED)
    dave = replace(ALICE, user="dave")
    rejected(decide(req(f"tel:{INTERNATIONAL}"), dave, stage), Reason.DIAL_DENIED)
    # default_group names another group for users no group lists.
    closed = FraudStage(replace(NO_CAPS, groups=groups, default_group="closed"))
    assert closed.group_of("dave") == "closed"
    verdict = rejected(decide(req(f"tel:{PREMIUM_UK}"), dave, closed), Reason.DIAL_DENIED)
    assert verdict.detail.endswith("group closed")


def test_an_unauthenticated_request_gets_the_default_dial_plan_and_no_caps() -> None:
    stage = FraudStage(FraudPolicy(max_concurrent=1, calls_per_minute=1))
    rejected(decide(req(f"tel:{INTERNATIONAL}"), ANONYMOUS, stage), Reason.DIAL_DENIED)
    st = state()
    for _ in range(3):  # over both caps, were they counted
        assert decide(req("tel:" + NATIONAL), ANONYMOUS, stage, st) == Outcome(Pass())


def test_the_audit_detail_carries_no_whole_number() -> None:
    sink = MemorySink()
    pipeline = Pipeline([DIAL_PLAN], state(), sink)
    for number in (PREMIUM_UK, "00332", "+3"):
        decision = pipeline.decide(req(f"tel:{number}"), ALICE)
        assert isinstance(decision.verdict, Reject)
        assert decision.stage == "fraud"
    events = list(sink.events)
    assert [e.reason for e in events] == [Reason.DIAL_DENIED] * 3
    assert [e.status for e in events] == [403] * 3
    assert events[0].detail == "premium destination +4490… denied to group default"
    assert events[1].detail == "international destination 00… denied to group default"
    assert events[2].detail == "international destination +… denied to group default"
    for event, number in zip(events, (PREMIUM_UK, "00332", "+3"), strict=True):
        assert number not in event.detail


# --- what the stage does not judge ---------------------------------------------------


@pytest.mark.parametrize(
    ("r", "ctx"),
    [
        (req(f"tel:{PREMIUM_UK}"), TRUSTED),  # the PBX and trunks have their own dial plans
        (req(f"tel:{PREMIUM_UK}", to_tag=";tag=a6c85cf"), ALICE),  # in-dialog (re-INVITE)
        (req(f"tel:{PREMIUM_UK}", method="MESSAGE"), ALICE),
        (req(f"tel:{PREMIUM_UK}", method="OPTIONS"), ALICE),
    ],
)
def test_trusted_in_dialog_and_non_invite_requests_pass_untouched(
    r: Request, ctx: GuardContext
) -> None:
    stage = FraudStage(FraudPolicy(max_concurrent=1, calls_per_minute=1))
    st = state()
    for _ in range(3):
        assert decide(r, ctx, stage, st) == Outcome(Pass())


def test_disabled_stage_passes_everything() -> None:
    stage = FraudStage(FraudPolicy(enabled=False, max_concurrent=1, calls_per_minute=1))
    st = state()
    for _ in range(3):
        assert decide(req(f"tel:{PREMIUM_UK}"), ALICE, stage, st) == Outcome(Pass())


# --- concurrent calls ----------------------------------------------------------------


def calls_pipeline(policy: FraudPolicy) -> Pipeline:
    table = CallTable(ring_seconds=policy.ring_seconds, max_call_seconds=policy.max_call_seconds)
    return Pipeline([FraudStage(policy)], state(table), MemorySink())


def call(pipeline: Pipeline, n: int, now: float = 100.0, user: str = "alice") -> object:
    ctx = replace(ALICE, now=now, user=user)
    return pipeline.decide(req("sip:1003@biloxi.example.com", call_id=f"call-{n}"), ctx).verdict


def test_a_passed_call_is_counted_and_its_token_taken() -> None:
    outcome = decide(req(call_id="c-1"), ALICE, FraudStage())
    assert outcome == Outcome(Pass(), (StartCall("c-1", "alice"), Consume("calls:alice")))


def test_concurrent_cap_refuses_until_a_call_ends() -> None:
    pipeline = calls_pipeline(FraudPolicy(max_concurrent=2, calls_per_minute=0))
    assert [call(pipeline, n) for n in (1, 2)] == [Pass(), Pass()]
    verdict = call(pipeline, 3)
    assert verdict == Reject(
        403, Reason.CALL_LIMIT, "2 calls, cap 2 (group default)", phrase="Too Many Calls"
    )
    assert call(pipeline, 3, user="bob") == Pass()  # per user
    pipeline.call_ended("call-1")
    assert call(pipeline, 4) == Pass()
    assert isinstance(call(pipeline, 5), Reject)


def test_an_unanswered_call_stops_counting_after_ring_seconds() -> None:
    pipeline = calls_pipeline(FraudPolicy(max_concurrent=1, calls_per_minute=0, ring_seconds=30))
    assert call(pipeline, 1, now=100.0) == Pass()
    assert isinstance(call(pipeline, 2, now=129.9), Reject)
    assert call(pipeline, 3, now=130.0) == Pass()


def test_an_answered_call_counts_until_max_call_seconds() -> None:
    policy = FraudPolicy(
        max_concurrent=1, calls_per_minute=0, ring_seconds=30, max_call_seconds=600
    )
    pipeline = calls_pipeline(policy)
    assert call(pipeline, 1, now=100.0) == Pass()
    pipeline.call_answered("call-1", 110.0)
    assert isinstance(call(pipeline, 2, now=700.0), Reject)  # long past the ring time
    assert call(pipeline, 3, now=710.0) == Pass()


def test_a_group_overrides_the_concurrent_cap() -> None:
    groups = (
        *DEFAULT_GROUPS,
        DialGroup("callcentre", ("alice",), allow=("emergency",), max_concurrent=3),
        DialGroup("uncapped", ("bob",), max_concurrent=0),
    )
    pipeline = calls_pipeline(FraudPolicy(groups=groups, max_concurrent=1, calls_per_minute=0))
    assert [call(pipeline, n) for n in (1, 2, 3)] == [Pass()] * 3
    verdict = call(pipeline, 4)
    assert isinstance(verdict, Reject)
    assert verdict.detail == "3 calls, cap 3 (group callcentre)"
    assert [call(pipeline, n, user="bob") for n in range(10, 20)] == [Pass()] * 10
    assert call(pipeline, 30, user="carol") == Pass()  # the policy's cap of 1
    assert isinstance(call(pipeline, 31, user="carol"), Reject)


# --- calls per minute ----------------------------------------------------------------


def test_calls_per_minute_refill_one_call_every_sixty_over_n_seconds() -> None:
    pipeline = calls_pipeline(FraudPolicy(max_concurrent=0, calls_per_minute=3))
    assert [call(pipeline, n, now=100.0) for n in (1, 2, 3)] == [Pass()] * 3
    verdict = call(pipeline, 4, now=100.0)
    assert verdict == Reject(
        403,
        Reason.CALL_RATE,
        "over 3 calls per minute (group default)",
        phrase="Call Rate Exceeded",
    )
    assert isinstance(call(pipeline, 5, now=119.9), Reject)  # refused calls take no token
    assert call(pipeline, 6, now=120.0) == Pass()  # 60/3 s later: one more
    assert isinstance(call(pipeline, 7, now=120.0), Reject)
    assert call(pipeline, 8, now=100.0, user="bob") == Pass()  # per user


def test_a_call_refused_for_concurrency_spends_no_token() -> None:
    pipeline = calls_pipeline(FraudPolicy(max_concurrent=1, calls_per_minute=2))
    assert call(pipeline, 1) == Pass()
    for n in range(2, 6):
        verdict = call(pipeline, n)
        assert isinstance(verdict, Reject)
        assert verdict.reason is Reason.CALL_LIMIT
    pipeline.call_ended("call-1")
    assert call(pipeline, 6) == Pass()  # the second token was still there
    pipeline.call_ended("call-6")
    verdict = call(pipeline, 7)
    assert isinstance(verdict, Reject)
    assert verdict.reason is Reason.CALL_RATE


def test_a_group_overrides_calls_per_minute() -> None:
    groups = (*DEFAULT_GROUPS, DialGroup("robodialer", ("alice",), calls_per_minute=1))
    pipeline = calls_pipeline(FraudPolicy(groups=groups, max_concurrent=0, calls_per_minute=50))
    assert call(pipeline, 1) == Pass()
    verdict = call(pipeline, 2)
    assert isinstance(verdict, Reject)
    assert verdict.detail == "over 1 calls per minute (group robodialer)"
    assert call(pipeline, 3, now=160.0) == Pass()
    assert [call(pipeline, n, user="bob") for n in range(10, 40)] == [Pass()] * 30


def test_a_name_dials_no_number_but_counts_toward_the_caps() -> None:
    stage = FraudStage(FraudPolicy(max_concurrent=1, calls_per_minute=0))
    outcome = decide(req("sip:bob@biloxi.example.com", call_id="c-9"), ALICE, stage)
    assert outcome == Outcome(Pass(), (StartCall("c-9", "alice"),))


def test_the_stage_itself_changes_no_state() -> None:
    st = state()
    stage = FraudStage(FraudPolicy(max_concurrent=1, calls_per_minute=1))
    first = decide(req(), ALICE, stage, st)
    assert decide(req(), ALICE, stage, st) == first  # nothing was applied in between
    assert st.calls.active("alice", ALICE.now) == 0


# --- policy validation ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"destinations": (("mobile", "07[0-9"),)}, "destination class 'mobile': invalid"),
        ({"destinations": (("a", "1"), ("a", "2"))}, "'a' is empty or defined twice"),
        ({"destinations": (("", "1"),)}, "'' is empty or defined twice"),
        (
            {"groups": (DialGroup("default", allow=("emergancy",)),)},
            "dial group 'default': unknown destination 'emergancy'",
        ),
        (
            {"groups": (DialGroup("default", deny=("satellite",)),)},
            "dial group 'default': unknown destination 'satellite'",
        ),
        ({"groups": (DialGroup("staff"),)}, "default_group 'default' is not a dial group"),
        ({"default_group": "nobody"}, "default_group 'nobody' is not a dial group"),
        ({"groups": (DialGroup("default"), DialGroup("default"))}, "defined twice"),
        ({"max_concurrent": -1}, "max_concurrent and calls_per_minute must be >= 0"),
        ({"calls_per_minute": -1.0}, "max_concurrent and calls_per_minute must be >= 0"),
        ({"calls_per_minute": math.nan}, "max_concurrent and calls_per_minute must be >= 0"),
        ({"calls_per_minute": math.inf}, "max_concurrent and calls_per_minute must be >= 0"),
        ({"ring_seconds": 0.0}, "ring_seconds and max_call_seconds must be > 0"),
        ({"max_call_seconds": -5.0}, "ring_seconds and max_call_seconds must be > 0"),
        ({"ring_seconds": math.nan}, "ring_seconds and max_call_seconds must be > 0"),
    ],
)
def test_policy_errors_name_what_is_wrong(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        replace(FraudPolicy(), **changes)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": ""}, "a dial group needs a name"),
        ({"name": "x", "max_concurrent": -1}, "dial group 'x': max_concurrent must be >= 0"),
        ({"name": "x", "calls_per_minute": -0.5}, "dial group 'x': calls_per_minute must be"),
        ({"name": "x", "calls_per_minute": math.inf}, "dial group 'x': calls_per_minute must be"),
    ],
)
def test_dial_group_errors_name_the_group(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        DialGroup(**kwargs)  # type: ignore[arg-type]


def test_the_default_policy_is_valid_and_documented_groups_exist() -> None:
    policy = FraudPolicy()
    assert [g.name for g in policy.groups] == ["default", "international"]
    assert [name for name, _ in policy.destinations] == ["emergency", "premium", "international"]
    assert (policy.max_concurrent, policy.calls_per_minute) == (4, 10.0)
