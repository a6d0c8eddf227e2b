"""The in-memory location index and the canonical address-of-record."""

from __future__ import annotations

import pytest

from sipguard.proxy import Location, aor_of, host_key
from sipguard.sip import SipUri, parse_uri
from sipguard.store import DeleteAor, DeleteBinding, PutBinding
from tests.store.bindings import NOW, binding


def _sip(text: str) -> SipUri:
    uri = parse_uri(text)
    assert isinstance(uri, SipUri)
    return uri


@pytest.mark.parametrize(
    ("uri", "aor"),
    [
        ("sip:alice@example.com", "sip:alice@example.com"),
        ("SIP:alice@EXAMPLE.com", "sip:alice@example.com"),
        ("sips:alice@example.com", "sips:alice@example.com"),
        ("sip:alice@example.com:5060", "sip:alice@example.com"),
        ("sip:alice:secret@example.com", "sip:alice@example.com"),
        ("sip:alice@example.com;transport=tcp;user=ip?subject=x", "sip:alice@example.com"),
        ("sip:%61lice@example.com", "sip:alice@example.com"),
        ("sip:+1%20212@example.com;user=phone", "sip:+1 212@example.com"),
        ("sip:Alice@example.com", "sip:Alice@example.com"),  # the user part is case-sensitive
        ("sip:alice@example.com.", "sip:alice@example.com"),
        ("sip:alice@[2001:DB8:0:0::1]:5061", "sip:alice@[2001:db8::1]"),
        ("sip:alice@192.0.2.1", "sip:alice@192.0.2.1"),
        ("sip:example.com", "sip:example.com"),
    ],
)
def test_aor_of_canonical_form(uri: str, aor: str) -> None:
    assert aor_of(_sip(uri)) == aor


def test_host_key_compares_ipv6_by_value() -> None:
    assert host_key("[2001:db8::1]") == host_key("2001:DB8:0:0:0:0:0:1") == "[2001:db8::1]"
    assert host_key("Example.COM") == "example.com"


def test_lookup_orders_by_q_then_most_recent() -> None:
    location = Location()
    low = binding(contact="sip:low@192.0.2.10", q=0.1, updated_at=NOW + 5)
    old = binding(contact="sip:old@192.0.2.11", q=0.8, updated_at=NOW)
    new = binding(contact="sip:new@192.0.2.12", q=0.8, updated_at=NOW + 1)
    top = binding(contact="sip:top@192.0.2.13", q=None, updated_at=NOW)  # no q ranks as 1.0
    location.load([low, old, new, top])
    assert location.lookup(low.aor, NOW) == (top, new, old, low)


def test_expired_bindings_are_invisible_before_expire_runs() -> None:
    location = Location()
    soon = binding(contact="sip:soon@192.0.2.10", expires_at=NOW + 10)
    late = binding(contact="sip:late@192.0.2.11", expires_at=NOW + 20)
    location.load([soon, late])
    assert location.bindings(soon.aor, NOW + 10) == (late,)
    assert location.lookup(soon.aor, NOW + 20) == ()
    assert location.count() == 2


def test_expire_removes_due_bindings_and_returns_their_deletions() -> None:
    location = Location()
    a = binding(contact="sip:a@192.0.2.10", expires_at=NOW + 10)
    b = binding(aor="sip:bob@example.com", contact="sip:b@192.0.2.11", expires_at=NOW + 10)
    c = binding(contact="sip:c@192.0.2.12", expires_at=NOW + 30)
    location.load([a, b, c])
    assert location.expire(NOW + 9) == []
    removed = location.expire(NOW + 10)
    assert sorted(removed, key=str) == sorted(
        [DeleteBinding(a.aor, a.contact), DeleteBinding(b.aor, b.contact)], key=str
    )
    assert location.count() == 1
    assert location.lookup(c.aor, NOW) == (c,)
    assert location.expire(NOW + 10) == []


def test_a_refreshed_binding_does_not_expire_at_its_old_time() -> None:
    location = Location()
    first = binding(expires_at=NOW + 10)
    location.apply([PutBinding(first)])
    refreshed = binding(expires_at=NOW + 100, cseq=2)
    location.apply([PutBinding(refreshed)])
    assert location.expire(NOW + 50) == []
    assert location.lookup(first.aor, NOW + 50) == (refreshed,)
    assert location.expire(NOW + 100) == [DeleteBinding(first.aor, first.contact)]


def test_many_refreshes_keep_expiry_exact() -> None:
    # Enough refreshes to force the heap to be rebuilt several times.
    location = Location()
    for i in range(1000):
        location.apply([PutBinding(binding(cseq=i, expires_at=NOW + 100 + i))])
    assert location.count() == 1
    assert location.expire(NOW + 1098) == []
    assert location.expire(NOW + 1099) == [DeleteBinding(binding().aor, binding().contact)]
    assert location.count() == 0


def test_apply_delete_binding_and_delete_aor() -> None:
    location = Location()
    a1 = binding(contact="sip:a1@192.0.2.10")
    a2 = binding(contact="sip:a2@192.0.2.11")
    b1 = binding(aor="sip:bob@example.com", contact="sip:b1@192.0.2.12")
    location.apply([PutBinding(a1), PutBinding(a2), PutBinding(b1)])
    location.apply([DeleteBinding(a1.aor, a1.contact), DeleteBinding(a1.aor, "sip:none")])
    assert location.bindings(a1.aor, NOW) == (a2,)
    location.apply([DeleteAor(a1.aor), DeleteAor("sip:nobody@example.com")])
    assert location.bindings(a1.aor, NOW) == ()
    assert location.bindings(b1.aor, NOW) == (b1,)
    assert location.count() == 1
    # A deleted binding is not resurrected by its stale expiry entry.
    assert location.expire(NOW + 7200) == [DeleteBinding(b1.aor, b1.contact)]


def test_bindings_over_a_websocket_go_when_its_connection_closes() -> None:
    location = Location()
    ws = binding(
        aor="sip:alice@example.com",
        contact="sip:x1@df7jal23ls0d.invalid;transport=ws",
        source="ws:198.51.100.7:40000",
    )
    other_ws = binding(
        aor=ws.aor, contact="sip:x2@kj3.invalid;transport=ws", source="ws:198.51.100.7:40001"
    )
    udp = binding(aor=ws.aor, contact="sip:alice@198.51.100.7", source="udp:198.51.100.7:5060")
    location.load([ws, other_ws, udp])
    assert location.flow_closed("ws:198.51.100.7:40000") == [DeleteBinding(ws.aor, ws.contact)]
    remaining = {b.contact for b in location.bindings(ws.aor, 0)}
    assert remaining == {other_ws.contact, udp.contact}
    assert location.flow_closed("ws:198.51.100.7:40000") == []  # nothing twice
    assert location.flow_closed("udp:198.51.100.7:5060") == []  # not a flow
    location.apply([DeleteAor(ws.aor)])
    assert location.flow_closed("ws:198.51.100.7:40001") == []  # gone with its AoR
