"""Stateless nonces (valid, stale, tampered, garbage, other realm) and the nc table."""

from __future__ import annotations

import base64

import pytest

from sipguard.guard import Nonces
from sipguard.guard.nonce import NonceCounts, NonceFactory, NonceState

SECRET = b"k" * 32
REALM = "example.com"
T0 = 1_700_000_000.25
LIFETIME = 300.0
SRC = "203.0.113.5"


@pytest.fixture
def factory() -> NonceFactory:
    return NonceFactory(SECRET)


def test_fresh_nonce_is_valid_until_its_lifetime(factory: NonceFactory) -> None:
    nonce = factory.issue(REALM, T0, SRC, b"call-1")
    assert factory.check(nonce, REALM, T0, LIFETIME, SRC) is NonceState.VALID
    assert factory.check(nonce, REALM, T0 + LIFETIME - 0.001, LIFETIME, SRC) is NonceState.VALID
    assert factory.check(nonce, REALM, T0 + LIFETIME + 0.001, LIFETIME, SRC) is NonceState.STALE


def test_a_nonce_from_far_in_the_future_is_stale(factory: NonceFactory) -> None:
    nonce = factory.issue(REALM, T0 + 2 * LIFETIME, SRC, b"")  # the clock stepped back since
    assert factory.check(nonce, REALM, T0, LIFETIME, SRC) is NonceState.STALE
    assert factory.check(nonce, REALM, T0 + LIFETIME + 1, LIFETIME, SRC) is NonceState.VALID


def test_nonce_is_quotable_and_unique_per_request(factory: NonceFactory) -> None:
    a = factory.issue(REALM, T0, SRC, b"udp:192.0.2.1:5060|call-a")
    b = factory.issue(REALM, T0, SRC, b"udp:192.0.2.2:5060|call-b")
    assert a != b
    assert a == factory.issue(REALM, T0, SRC, b"udp:192.0.2.1:5060|call-a")  # deterministic
    assert len(a) == 52
    assert set(a) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")


def test_other_realm_or_other_secret_is_invalid(factory: NonceFactory) -> None:
    nonce = factory.issue(REALM, T0, SRC, b"x")
    assert factory.check(nonce, "other.example.com", T0, LIFETIME, SRC) is NonceState.INVALID
    other = NonceFactory(b"z" * 32)
    assert other.check(nonce, REALM, T0, LIFETIME, SRC) is NonceState.INVALID


def test_tampered_timestamp_is_invalid(factory: NonceFactory) -> None:
    nonce = factory.issue(REALM, T0 - 10 * LIFETIME, SRC, b"x")
    raw = bytearray(base64.urlsafe_b64decode(nonce))
    raw[1:9] = int(T0 * 1_000_000).to_bytes(8, "big")  # pretend it is fresh
    forged = base64.urlsafe_b64encode(bytes(raw)).decode()
    assert factory.check(forged, REALM, T0, LIFETIME, SRC) is NonceState.INVALID
    # Every single-character change breaks it too: in the time, request bytes or realm
    # MAC (the first 27 bytes, 36 characters) it is not ours at all; in the source MAC
    # it is ours but not this address's.
    for i in range(len(nonce)):
        swapped = "A" if nonce[i] != "A" else "B"
        changed = nonce[:i] + swapped + nonce[i + 1 :]
        state = factory.check(changed, REALM, T0 - 10 * LIFETIME, LIFETIME, SRC)
        assert state is (NonceState.INVALID if i < 36 else NonceState.STALE)


def test_a_nonce_spent_from_another_address_is_not_valid(factory: NonceFactory) -> None:
    # Fetched by an attacker at its own address, then sent from a forged victim address.
    nonce = factory.issue(REALM, T0, "198.51.100.7", b"x")
    assert factory.check(nonce, REALM, T0, LIFETIME, "198.51.100.7") is NonceState.VALID
    assert factory.check(nonce, REALM, T0, LIFETIME, SRC) is NonceState.STALE


@pytest.mark.parametrize(
    "garbage",
    ["", "abc", "x" * 52, "=" * 52, "\u00e9" * 52, "dcd98b7102dd2f0e8b11d0f600bfb0c093", "+" * 52],
)
def test_garbage_is_invalid(factory: NonceFactory, garbage: str) -> None:
    assert factory.check(garbage, REALM, T0, LIFETIME, SRC) is NonceState.INVALID


def test_standard_alphabet_spelling_is_refused(factory: NonceFactory) -> None:
    # The same bytes in the standard alphabet would be a second spelling of one nonce.
    for wall in (T0 + i * 0.000_001 for i in range(200)):
        nonce = factory.issue(REALM, wall, SRC, b"")
        if "-" in nonce or "_" in nonce:
            standard = nonce.replace("-", "+").replace("_", "/")
            assert factory.check(nonce, REALM, wall, LIFETIME, SRC) is NonceState.VALID
            assert factory.check(standard, REALM, wall, LIFETIME, SRC) is NonceState.INVALID
            return
    pytest.fail("no nonce with - or _ in 200 tries")


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        NonceFactory(b"short")


def test_nonce_counts_remember_the_highest() -> None:
    counts: Nonces = NonceCounts()  # the protocol the pipeline writes through
    assert counts.highest_nc("n") is None
    counts.use("n", 1)
    counts.use("n", 5)
    counts.use("n", 3)  # a lower one never lowers the record
    assert counts.highest_nc("n") == 5
    assert counts.highest_nc("other") is None


def test_nonce_counts_are_bounded_under_a_million_nonces() -> None:
    counts = NonceCounts(max_entries=1000)
    for i in range(1_000_000):
        counts.use(f"nonce-{i}", 1)
    assert len(counts) == 1000
    assert counts.highest_nc("nonce-0") is None  # the oldest went first
    assert counts.highest_nc("nonce-999999") == 1


def test_nonce_counts_evict_the_least_recently_used() -> None:
    counts = NonceCounts(max_entries=2)
    counts.use("a", 1)
    counts.use("b", 1)
    counts.use("a", 2)  # a is now the most recent
    counts.use("c", 1)
    assert (counts.highest_nc("a"), counts.highest_nc("b"), counts.highest_nc("c")) == (2, None, 1)


def test_default_cap() -> None:
    counts = NonceCounts()
    for i in range(counts.max_entries + 500):
        counts.use(str(i), 1)
    assert len(counts) == 100_000
