"""The registrar, RFC 3261 §10.3 step by step, on literal REGISTER requests."""

from __future__ import annotations

from dataclasses import replace
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from sipguard.proxy import Location, PathPolicy, register
from sipguard.sip import Request, parse_message
from sipguard.store import Binding, DeleteAor, DeleteBinding, PutBinding
from tests.proxy.registers import (
    CALL_ID,
    CONFIG,
    DOMAIN,
    LOCAL_HOSTS,
    NOW,
    SOURCE,
    contact_values,
    request,
    run,
)

AOR = "sip:alice@example.com"
PHONE = "<sip:alice@198.51.100.7:5060>"
DESK = "<sip:alice@198.51.100.8:5060>"


def registered(location: Location, now: float = NOW) -> list[str]:
    return [b.contact for b in location.lookup(AOR, now)]


def snapshot(location: Location) -> tuple[Binding, ...]:
    return location.bindings(AOR, NOW)


# -- adding, refreshing, removing ----------------------------------------------------


def test_add_stores_the_binding_and_answers_200_listing_it() -> None:
    location = Location()
    outcome = run(location, request(PHONE, expires=600))
    response = outcome.response
    assert response.status == 200
    assert contact_values(response) == ["<sip:alice@198.51.100.7:5060>;expires=600"]
    assert parsedate_to_datetime(response.get("Date") or "").timestamp() == int(NOW)
    assert response.to.tag  # a final response carries a To tag
    assert not response.has("Record-Route")
    (binding,) = location.lookup(AOR, NOW)
    assert outcome.changes == (PutBinding(binding),)
    assert binding == Binding(
        aor=AOR,
        contact="sip:alice@198.51.100.7:5060",
        expires_at=NOW + 600,
        q=None,
        call_id=CALL_ID,
        cseq=1,
        path=(),
        source=SOURCE,
        user_agent="TestPhone/1.0",
        updated_at=NOW,
    )


def test_refresh_with_higher_cseq_updates_the_binding() -> None:
    location = Location()
    run(location, request(PHONE, expires=600, cseq=1))
    outcome = run(location, request(PHONE, expires=900, cseq=2), now=NOW + 300)
    assert outcome.response.status == 200
    (binding,) = location.lookup(AOR, NOW + 300)
    assert (binding.cseq, binding.expires_at) == (2, NOW + 300 + 900)
    assert outcome.changes == (PutBinding(binding),)
    assert contact_values(outcome.response) == [f"{PHONE};expires=900"]


def test_refresh_matches_by_uri_equality_not_text() -> None:
    location = Location()
    run(location, request("<sip:alice@198.51.100.7:5060;transport=udp>", expires=600))
    outcome = run(
        location, request("<sip:alice@198.51.100.7:5060;TRANSPORT=UDP>", expires=600, cseq=2)
    )
    assert outcome.response.status == 200
    assert registered(location) == ["sip:alice@198.51.100.7:5060;TRANSPORT=UDP"]
    assert outcome.changes[0] == DeleteBinding(AOR, "sip:alice@198.51.100.7:5060;transport=udp")


def test_contact_expires_zero_removes_only_that_binding() -> None:
    location = Location()
    run(location, request(PHONE, DESK, expires=600))
    outcome = run(location, request(f"{PHONE};expires=0", cseq=2, expires=600))
    assert outcome.response.status == 200
    assert outcome.changes == (DeleteBinding(AOR, "sip:alice@198.51.100.7:5060"),)
    assert registered(location) == ["sip:alice@198.51.100.8:5060"]
    assert contact_values(outcome.response) == [f"{DESK};expires=600"]


def test_removing_an_unknown_contact_changes_nothing() -> None:
    location = Location()
    outcome = run(location, request(PHONE, expires=0))
    assert outcome.response.status == 200
    assert outcome.changes == ()
    assert contact_values(outcome.response) == []


def test_several_contacts_on_one_line_with_their_own_q() -> None:
    location = Location()
    outcome = run(location, request(f"{PHONE};q=0.5, {DESK};q=1.0", expires=600))
    assert contact_values(outcome.response) == [
        f"{DESK};expires=600;q=1",
        f"{PHONE};expires=600;q=0.5",
    ]
    assert [b.q for b in location.lookup(AOR, NOW)] == [1.0, 0.5]


# -- the wildcard ------------------------------------------------------------------


def test_wildcard_with_expires_zero_removes_every_binding() -> None:
    location = Location()
    run(location, request(PHONE, DESK, expires=600))
    outcome = run(location, request("*", expires=0, cseq=2))
    assert outcome.response.status == 200
    assert outcome.changes == (DeleteAor(AOR),)
    assert location.count() == 0
    assert contact_values(outcome.response) == []


def test_wildcard_for_an_aor_without_bindings_changes_nothing() -> None:
    outcome = run(Location(), request("*", expires=0))
    assert (outcome.response.status, outcome.changes) == (200, ())


@pytest.mark.parametrize(
    ("contacts", "expires"),
    [(("*",), None), (("*",), 600), (("*", PHONE), 0), ((f"*, {PHONE}",), 0)],
    ids=["no-expires", "nonzero-expires", "two-lines", "one-line"],
)
def test_wildcard_misuse_is_400(contacts: tuple[str, ...], expires: int | None) -> None:
    location = Location()
    run(location, request(DESK, expires=600))
    before = snapshot(location)
    outcome = run(location, request(*contacts, expires=expires, cseq=2))
    assert (outcome.response.status, outcome.response.reason) == (400, "Invalid Wildcard")
    assert outcome.changes == ()
    assert snapshot(location) == before


def test_wildcard_with_an_old_cseq_of_the_same_call_id_fails() -> None:
    location = Location()
    run(location, request(PHONE, expires=600, cseq=5))
    outcome = run(location, request("*", expires=0, cseq=5))
    assert outcome.response.status == 400
    assert outcome.changes == ()
    assert location.count() == 1


def test_wildcard_from_another_call_id_removes_regardless_of_cseq() -> None:
    location = Location()
    run(location, request(PHONE, expires=600, cseq=5))
    outcome = run(location, request("*", expires=0, cseq=1, call_id="other@198.51.100.9"))
    assert outcome.response.status == 200
    assert location.count() == 0


# -- expiry intervals ----------------------------------------------------------------


def test_too_brief_is_423_with_min_expires() -> None:
    location = Location()
    outcome = run(location, request(PHONE, expires=30))
    assert outcome.response.status == 423
    assert outcome.response.get("Min-Expires") == "60"
    assert outcome.response.to.tag
    assert (outcome.changes, location.count()) == ((), 0)


def test_the_contact_parameter_wins_over_the_expires_header() -> None:
    location = Location()
    too_brief = run(location, request(f"{PHONE};expires=30", expires=600))
    assert too_brief.response.status == 423
    ok = run(location, request(f"{PHONE};expires=120", expires=10, cseq=2))
    assert contact_values(ok.response) == [f"{PHONE};expires=120"]


def test_longer_than_max_expires_is_shortened() -> None:
    location = Location()
    outcome = run(location, request(PHONE, expires=100_000))
    assert contact_values(outcome.response) == [f"{PHONE};expires=3600"]
    assert location.lookup(AOR, NOW)[0].expires_at == NOW + 3600


def test_huge_expires_is_read_as_the_maximum_not_refused() -> None:
    outcome = run(Location(), request(f"{PHONE};expires=99999999999999999999"))
    assert contact_values(outcome.response) == [f"{PHONE};expires=3600"]


def test_without_any_expires_the_default_is_used() -> None:
    location = Location()
    outcome = run(location, request(PHONE))
    assert contact_values(outcome.response) == [f"{PHONE};expires=1800"]


def test_the_200_reports_the_remaining_time_of_other_bindings() -> None:
    location = Location()
    run(location, request(DESK, expires=600))
    outcome = run(location, request(PHONE, expires=600, cseq=2), now=NOW + 100.4)
    assert sorted(contact_values(outcome.response)) == [
        f"{PHONE};expires=600",
        f"{DESK};expires=500",
    ]


# -- Call-ID and CSeq ordering -------------------------------------------------------


@pytest.mark.parametrize("cseq", [4, 5])
def test_same_call_id_without_higher_cseq_is_refused(cseq: int) -> None:
    location = Location()
    run(location, request(PHONE, expires=600, cseq=5))
    before = snapshot(location)
    outcome = run(location, request(PHONE, expires=900, cseq=cseq), now=NOW + 10)
    assert (outcome.response.status, outcome.response.reason) == (400, "Out-of-Order CSeq")
    assert outcome.changes == ()
    assert snapshot(location) == before


def test_out_of_order_removal_is_refused_too() -> None:
    location = Location()
    run(location, request(PHONE, expires=600, cseq=5))
    outcome = run(location, request(PHONE, expires=0, cseq=3))
    assert outcome.response.status == 400
    assert location.count() == 1


def test_another_call_id_replaces_whatever_its_cseq() -> None:
    location = Location()
    run(location, request(PHONE, expires=600, cseq=50))
    outcome = run(location, request(PHONE, expires=900, cseq=1, call_id="reboot@198.51.100.7"))
    assert outcome.response.status == 200
    (binding,) = location.lookup(AOR, NOW)
    assert (binding.call_id, binding.cseq) == ("reboot@198.51.100.7", 1)


def test_an_expired_binding_does_not_block_a_lower_cseq() -> None:
    location = Location()
    run(location, request(PHONE, expires=600, cseq=5))
    outcome = run(location, request(PHONE, expires=600, cseq=1), now=NOW + 601)
    assert outcome.response.status == 200


# -- the contacts cap ----------------------------------------------------------------


def test_more_than_max_contacts_is_403_and_changes_nothing() -> None:
    location = Location()
    contacts = [f"<sip:alice@198.51.100.{i}>" for i in range(10, 14)]
    run(location, request(*contacts[:3], expires=600))
    before = snapshot(location)
    outcome = run(location, request(contacts[3], expires=600, cseq=2))
    assert (outcome.response.status, outcome.response.reason) == (403, "Too Many Contacts")
    assert outcome.changes == ()
    assert snapshot(location) == before
    # Replacing one at the cap is fine: remove one, add another in the same request.
    swap = run(location, request(f"{contacts[0]};expires=0", contacts[3], expires=600, cseq=3))
    assert swap.response.status == 200
    assert location.count() == 3


def test_a_refresh_goes_through_for_an_aor_already_over_a_lowered_cap() -> None:
    location = Location()
    run(location, request(PHONE, DESK, expires=600))
    lowered = replace(CONFIG, max_contacts=1)
    assert run(location, request(PHONE, expires=600, cseq=2), config=lowered).response.status == 200
    grow = run(location, request("<sip:alice@198.51.100.9>", cseq=3), config=lowered)
    assert grow.response.status == 403


def test_a_flood_of_contacts_is_refused_before_comparing_them() -> None:
    contacts = ", ".join(f"<sip:a@198.51.100.{i}>" for i in range(200))
    outcome = run(Location(), request(contacts, expires=600))
    assert outcome.response.status == 403


# -- queries and refusals ------------------------------------------------------------


def test_register_without_contact_is_a_query() -> None:
    location = Location()
    run(location, request(PHONE, DESK, expires=600))
    before = snapshot(location)
    outcome = run(location, request(cseq=2), now=NOW + 60)
    assert outcome.response.status == 200
    assert outcome.changes == ()
    assert sorted(contact_values(outcome.response)) == [
        f"{PHONE};expires=540",
        f"{DESK};expires=540",
    ]
    assert snapshot(location) == before


@pytest.mark.parametrize(
    ("uri", "status"),
    [
        ("sip:example.org", 404),
        ("sip:EXAMPLE.com", 200),
        ("sip:192.0.2.1:5060", 200),
        ("sip:[2001:DB8:0::1]", 200),
        ("sip:192.0.2.2", 404),
        ("sips:example.com", 200),
    ],
)
def test_request_uri_must_name_a_served_domain(uri: str, status: int) -> None:
    outcome = run(Location(), request(PHONE, uri=uri))
    assert outcome.response.status == status
    if status == 404:
        assert outcome.response.reason == "Domain Not Served"
        assert outcome.changes == ()


@pytest.mark.parametrize(
    "to", ["<sip:alice@example.org>", "<tel:+12125551212>", "<sip:example.com>", "<mailto:a@b>"]
)
def test_to_must_be_an_aor_of_a_served_domain(to: str) -> None:
    outcome = run(Location(), request(PHONE, to=to))
    assert (outcome.response.status, outcome.response.reason) == (
        404,
        "Address-of-Record Not Served",
    )


def test_to_at_a_local_ip_is_its_own_aor() -> None:
    location = Location()
    run(location, request(PHONE, uri="sip:192.0.2.1", to="<sip:100@192.0.2.1:5060>"))
    assert location.count() == 1
    assert location.lookup("sip:100@192.0.2.1", NOW)


def test_unknown_require_is_420_with_unsupported() -> None:
    outcome = run(Location(), request(PHONE, extra=[("Require", "path, 100rel, foo")]))
    assert outcome.response.status == 420
    assert outcome.response.get("Unsupported") == "100rel, foo"
    assert outcome.changes == ()


def test_require_path_alone_is_accepted() -> None:
    extra = [("Require", "path"), ("Path", "<sip:edge.example.net;lr>")]
    outcome = run(Location(), request(PHONE, extra=extra))
    assert outcome.response.status == 200


@pytest.mark.parametrize(
    ("contact", "reason"),
    [
        ("<mailto:alice@example.com>", "Invalid Contact URI"),
        (f"{DESK};expires=soon", "Invalid Contact Expires"),
        (f"{DESK};expires=-5", "Invalid Contact Expires"),
        (f"{DESK};q=1.5", "Invalid Contact q-value"),
        (f"{DESK};q=high", "Invalid Contact q-value"),
        ("<sip:alice@[::zz]>", "Invalid Contact"),
    ],
)
def test_one_bad_contact_among_good_ones_changes_nothing(contact: str, reason: str) -> None:
    location = Location()
    run(location, request(PHONE, expires=600))
    before = snapshot(location)
    new = "<sip:alice@198.51.100.20>"
    outcome = run(location, request(f"{PHONE};expires=0", new, contact, expires=600, cseq=2))
    assert (outcome.response.status, outcome.response.reason) == (400, reason)
    assert outcome.changes == ()
    assert snapshot(location) == before


def test_one_too_brief_contact_among_good_ones_changes_nothing() -> None:
    location = Location()
    outcome = run(location, request(PHONE, f"{DESK};expires=5", expires=600))
    assert outcome.response.status == 423
    assert location.count() == 0


def test_a_malformed_expires_header_is_400() -> None:
    outcome = run(Location(), request(PHONE, expires="tomorrow"))
    assert (outcome.response.status, outcome.changes) == (400, ())


def test_tel_contacts_can_be_registered() -> None:
    location = Location()
    outcome = run(location, request("<tel:+12125551212>", expires=600))
    assert outcome.response.status == 200
    assert registered(location) == ["tel:+12125551212"]


def test_only_register_is_accepted() -> None:
    msg = parse_message(
        b"OPTIONS sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP 198.51.100.7;branch=z9hG4bKx\r\n"
        b"From: <sip:a@example.com>;tag=1\r\nTo: <sip:a@example.com>\r\nCall-ID: x\r\n"
        b"CSeq: 1 OPTIONS\r\n\r\n"
    )
    with pytest.raises(ValueError, match="REGISTER"):
        register(
            msg,  # type: ignore[arg-type]
            Location(),
            config=CONFIG,
            domain=DOMAIN,
            local_hosts=LOCAL_HOSTS,
            source=SOURCE,
            now=NOW,
        )


def test_the_to_tag_is_stable_for_the_same_request() -> None:
    first = run(Location(), request(PHONE, expires=30)).response
    second = run(Location(), request(PHONE, expires=30)).response
    other = run(Location(), request(PHONE, expires=30, cseq=2)).response
    assert first.to.tag == second.to.tag != other.to.tag


# -- Path (RFC 3327) -----------------------------------------------------------------

EDGE = "<sip:edge.example.net;lr>"
SBC = "<sip:sbc.example.net;lr;ob>"


def test_path_is_stored_in_order_and_echoed() -> None:
    location = Location()
    extra = [("Supported", "path, outbound"), ("Path", EDGE), ("Path", SBC)]
    outcome = run(location, request(PHONE, expires=600, extra=extra))
    assert outcome.response.status == 200
    assert outcome.response.get("Path") == f"{EDGE}, {SBC}"
    assert location.lookup(AOR, NOW)[0].path == (EDGE, SBC)


def test_path_without_supported_path_is_420_by_default() -> None:
    location = Location()
    outcome = run(location, request(PHONE, extra=[("Path", EDGE)]))
    assert outcome.response.status == 420
    assert outcome.response.get("Unsupported") == "path"
    assert location.count() == 0


def test_path_without_supported_path_is_kept_when_policy_accepts() -> None:
    location = Location()
    outcome = run(location, request(PHONE, extra=[("Path", EDGE)]), path_policy=PathPolicy.ACCEPT)
    assert outcome.response.status == 200
    assert outcome.response.get("Path") == EDGE
    assert location.lookup(AOR, NOW)[0].path == (EDGE,)


def test_no_path_header_in_the_200_without_path_in_the_request() -> None:
    outcome = run(Location(), request(PHONE, extra=[("Supported", "path")]))
    assert not outcome.response.has("Path")


# -- expiry through the location -----------------------------------------------------


def test_bindings_expire_through_location_expire() -> None:
    location = Location()
    run(location, request(PHONE, expires=600))
    run(location, request(DESK, expires=1200, cseq=2))
    assert location.expire(NOW + 600) == [DeleteBinding(AOR, "sip:alice@198.51.100.7:5060")]
    assert registered(location, NOW + 600) == ["sip:alice@198.51.100.8:5060"]
    query = run(location, request(cseq=3), now=NOW + 600)
    assert contact_values(query.response) == [f"{DESK};expires=600"]


# -- real traffic --------------------------------------------------------------------

CAPTURES = Path(__file__).parent.parent / "fixtures" / "captures"


def test_a_captured_sipp_register_is_stored() -> None:
    msg = parse_message((CAPTURES / "sipp-register.sip").read_bytes())
    assert isinstance(msg, Request)
    location = Location()
    outcome = register(
        msg,
        location,
        config=CONFIG,
        domain=DOMAIN,
        local_hosts=frozenset({"127.0.0.1"}),
        source="udp:127.0.0.1:15073",
        now=NOW,
    )
    assert outcome.response.status == 200
    location.apply(outcome.changes)
    (binding,) = location.lookup("sip:100@127.0.0.1", NOW)
    assert binding.contact == "sip:100@127.0.0.1:15073;transport=UDP"
    assert binding.expires_at == NOW + 3600
    assert binding.source == "udp:127.0.0.1:15073"


def test_outbound_contact_parameters_are_not_part_of_the_stored_contact() -> None:
    location = Location()
    contact = (
        "<sip:alice@198.51.100.7:5060;ob>;reg-id=1;q=0.7;expires=600;"
        '+sip.instance="<urn:uuid:00000000-0000-1000-8000-000A95A0E128>"'
    )
    outcome = run(location, request(contact))
    assert outcome.response.status == 200
    (binding,) = location.lookup(AOR, NOW)
    assert (binding.contact, binding.q) == ("sip:alice@198.51.100.7:5060;ob", 0.7)
    assert contact_values(outcome.response) == [
        "<sip:alice@198.51.100.7:5060;ob>;expires=600;q=0.7"
    ]


@pytest.mark.parametrize(
    ("uri", "contact", "status"),
    [
        ("sips:example.com", "<sips:alice@198.51.100.7:5061>", 200),
        ("sip:example.com", "<sips:alice@198.51.100.7:5061>", 400),
        ("sips:example.com", "<sips:alice@198.51.100.7:5061>, <sip:a@198.51.100.7>", 400),
        ("sip:example.com", "<sip:alice@198.51.100.7>", 200),  # no SIPS: no rule
    ],
)
def test_a_sips_contact_binds_only_when_everything_is_sips(
    uri: str, contact: str, status: int
) -> None:
    # RFC 5630 §5.2: else a secure resource could be bound to an insecure one.
    outcome = run(Location(), request(contact, uri=uri))
    assert outcome.response.status == status
    assert bool(outcome.changes) == (status == 200)
