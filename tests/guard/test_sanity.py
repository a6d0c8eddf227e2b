"""Sanity stage: dial strings, user-part length, INVITE Contact, From/To schemes."""

from __future__ import annotations

from typing import Any

import pytest

from sipguard.config import TransportName
from sipguard.guard import GuardContext, GuardState, Offence, OffenceKind, Pass, Reason, Reject
from sipguard.guard.calls import CallTable
from sipguard.guard.sanity import SanityPolicy, SanityStage
from sipguard.guard.sightings import SightingTable
from sipguard.sip import Request
from sipguard.transport.base import Peer
from tests.helpers.sipmsg import parse_request, request

LISTENER = Peer(TransportName.UDP, "192.0.2.1", 5060)
CTX = GuardContext(Peer(TransportName.UDP, "203.0.113.5", 5060), LISTENER, now=10.0, wall=1e9)
CONTACT = "<sip:alice@198.51.100.20:5060>"


class Untouched:
    """The state tables sanity must never read or write."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"sanity touched state: {name}")


_UNTOUCHED: Any = Untouched()
STATE = GuardState(
    _UNTOUCHED, _UNTOUCHED, _UNTOUCHED, _UNTOUCHED, SightingTable(1, 1, 1), CallTable()
)


def invite(uri: str = "sip:bob@biloxi.example.com", **headers: str | None) -> Request:
    merged: dict[str, str | None] = {"Contact": CONTACT}
    merged.update({k.replace("_", "-"): v for k, v in headers.items()})
    return parse_request(request("INVITE", uri, merged))


def decide(req: Request, ctx: GuardContext = CTX, policy: SanityPolicy | None = None):
    return SanityStage(policy).decide(req, ctx, STATE)


def test_a_plain_invite_passes() -> None:
    outcome = decide(invite())
    assert outcome.verdict == Pass()
    assert outcome.effects == ()


@pytest.mark.parametrize(
    "user",
    [
        "100%27%20OR%201=1",  # ' OR 1=1
        "100'or'1'='1",  # a raw quote: legal URI grammar, poison in SQL
        "100;reboot",  # ";" before something that is no telephone parameter
        "100%3Breboot",  # the same ";" escaped
        "100%00",  # NUL
        "100%0D%0AX",  # CR LF
        "100%2527",  # double-escaped quote: "%" is not a dial character
        "100%22",  # a double quote
        "100%20200",  # a space
        "100&SIP%2Fevil",  # Asterisk Dial() channel separator
        "100,tT",  # Asterisk Dial() option separator
        "100$(id)",  # shell substitution
        "%E2%80%8B100",  # a zero-width space
        "100%FF",  # an escape that is not UTF-8
        "100;phone-context=a%27b",  # a known parameter with a poisoned value
        "100;isub=",  # a known parameter with an empty value
        ";isub=1",  # no number at all
    ],
)
def test_dangerous_request_uri_users_are_refused(user: str) -> None:
    outcome = decide(invite(f"sip:{user}@biloxi.example.com"))
    assert isinstance(outcome.verdict, Reject)
    assert outcome.verdict.status == 400
    assert outcome.verdict.reason is Reason.BAD_DIAL_STRING
    assert outcome.verdict.detail.startswith("Request-URI user part")
    assert outcome.effects == (Offence(OffenceKind.MALFORMED, "203.0.113.5", False),)


@pytest.mark.parametrize(
    "user",
    [
        "+1-212-555-0100",  # RFC 3966 visual separators
        "(212)555.0100",
        "*97",  # feature codes
        "%2331%23100",  # "#31#100", escaped as the URI grammar asks
        "**",  # corpus 088 (X-Lite)
        "18885287464*3046",  # corpus 048 (RingCentral)
        "5753606;context=private",  # corpus quirk 002 (AudioCodes)
        "+12125551212;npdi;rn=+12125550000",  # RFC 4694 number portability
        "+4930123456;cpc=ordinary",  # 3GPP calling party category
        "+358-555-1234567;postd=pp22;isub=1411",  # RFC 3261 §19.1.6 example
        "Jos%C3%A9",  # UTF-8 letters, escaped
        "mod_sofia",
        "alice.smith",
        "SIPREC-SRS",
        "1" * 64,
    ],
)
def test_real_dial_strings_pass(user: str) -> None:
    assert decide(invite(f"sip:{user}@biloxi.example.com")).verdict == Pass()


def test_a_tel_request_uri_passes() -> None:
    assert decide(invite("tel:+1-212-555-0100")).verdict == Pass()


def test_an_over_long_user_part_is_refused() -> None:
    outcome = decide(invite(f"sip:{'1' * 65}@biloxi.example.com"))
    assert outcome.verdict == Reject(
        400, Reason.BAD_DIAL_STRING, "Request-URI user part over 64 chars"
    )
    short = SanityPolicy(max_user_length=8)
    assert isinstance(decide(invite("sip:123456789@b.example.com"), policy=short).verdict, Reject)
    assert decide(invite("sip:12345678@b.example.com"), policy=short).verdict == Pass()


def test_the_to_user_is_a_dial_string_too() -> None:
    outcome = decide(invite(To="<sip:100%27--@biloxi.example.com>"))
    assert isinstance(outcome.verdict, Reject)
    assert outcome.verdict.reason is Reason.BAD_DIAL_STRING
    assert outcome.verdict.detail.startswith("To user part")


def test_the_from_user_is_checked_unless_switched_off() -> None:
    req = invite(From="<sip:1%27%3B--@atlanta.example.com>;tag=1")
    outcome = decide(req)
    assert isinstance(outcome.verdict, Reject)
    assert outcome.verdict.detail.startswith("From user part")
    assert decide(req, policy=SanityPolicy(check_from_user=False)).verdict == Pass()


def test_extra_user_chars_widen_the_set() -> None:
    req = invite("sip:a=b@biloxi.example.com")
    assert isinstance(decide(req).verdict, Reject)
    assert decide(req, policy=SanityPolicy(extra_user_chars="=")).verdict == Pass()


def test_in_dialog_requests_are_not_dial_strings() -> None:
    # The Request-URI of an in-dialog request is the peer's Contact, already accepted.
    req = parse_request(
        request("BYE", "sip:x'y@198.51.100.20", {"To": "<sip:bob@biloxi.example.com>;tag=9"})
    )
    assert decide(req).verdict == Pass()


@pytest.mark.parametrize(
    ("contact", "detail"),
    [
        (None, "INVITE without exactly one Contact"),
        (["<sip:a@198.51.100.20>", "<sip:b@198.51.100.20>"], "INVITE without exactly one Contact"),
        ("*", "INVITE without exactly one Contact"),
        ("<tel:+12125550100>", "INVITE Contact is not a SIP or SIPS URI"),
        ("<sip:a@198.51.100.20; x>", "Invalid Contact"),
    ],
)
def test_an_initial_invite_needs_one_sip_contact(
    contact: str | list[str] | None, detail: str
) -> None:
    req = parse_request(request("INVITE", headers={"Contact": contact}))
    outcome = decide(req)
    assert outcome.verdict == Reject(400, Reason.MALFORMED, detail)
    assert outcome.effects == (Offence(OffenceKind.MALFORMED, "203.0.113.5", False),)


def test_the_contact_rule_can_be_switched_off() -> None:
    req = parse_request(request("INVITE"))
    policy = SanityPolicy(require_invite_contact=False)
    assert decide(req, policy=policy).verdict == Pass()


def test_a_reinvite_without_contact_passes() -> None:
    req = parse_request(request("INVITE", headers={"To": "<sip:bob@biloxi.example.com>;tag=9"}))
    assert decide(req).verdict == Pass()


def test_register_may_omit_contact_but_not_send_a_broken_one() -> None:
    query = parse_request(request("REGISTER", "sip:biloxi.example.com"))
    assert decide(query).verdict == Pass()
    broken = parse_request(
        request("REGISTER", "sip:biloxi.example.com", {"Contact": "<sip:a@b.example.com; x>"})
    )
    assert decide(broken).verdict == Reject(400, Reason.MALFORMED, "Invalid Contact")


@pytest.mark.parametrize("header", ["From", "To"])
def test_from_and_to_need_a_telephony_scheme(header: str) -> None:
    value = "<mailto:bob@biloxi.example.com>" + (";tag=1" if header == "From" else "")
    outcome = decide(invite(**{header: value}))
    assert outcome.verdict == Reject(400, Reason.MALFORMED, f"{header} URI scheme not accepted")


def test_an_emergency_service_urn_in_to_passes() -> None:
    assert decide(invite(To="<urn:service:sos>")).verdict == Pass()


@pytest.mark.parametrize(
    ("transport", "verified", "expected"),
    [
        (TransportName.UDP, False, False),  # a UDP source may be forged
        (TransportName.UDP, True, True),  # it answered our challenge
        (TransportName.TCP, False, True),  # a stream cannot be forged
    ],
)
def test_offence_evidence_follows_the_source(
    transport: TransportName, verified: bool, expected: bool
) -> None:
    ctx = GuardContext(Peer(transport, "203.0.113.5", 5060), LISTENER, 1.0, 1.0, verified=verified)
    outcome = decide(invite("sip:100%27@biloxi.example.com"), ctx)
    assert outcome.effects == (Offence(OffenceKind.MALFORMED, "203.0.113.5", expected),)
