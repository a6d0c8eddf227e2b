"""Digest computations against the RFC 7616 examples, and credential validation."""

from __future__ import annotations

import hashlib

import pytest

from sipguard.guard.digest import (
    Algorithm,
    Credentials,
    CredentialsError,
    expected_response,
    ha1,
    hash_hex,
    response_matches,
    supported,
)
from sipguard.sip import AuthValue, SipParseError, parse_message
from sipguard.sip.headers import parse_auth
from tests.helpers.corpus import realworld_files, require_realworld

# RFC 7616 §3.9.1
USER, PASSWORD, REALM = "Mufasa", "Circle of Life", "http-auth@example.org"
NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
MD5_RESPONSE = "8ca523f5e9506fed4657c9700eebdbec"
SHA256_RESPONSE = "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"

# RFC 7616 §3.9.2 (SHA-512-256, the UTF-8 user name "Jäsøn Doe")
JASON, JASON_REALM, JASON_PASSWORD = "J\u00e4s\u00f8n Doe", "api@example.org", "Secret, or not?"
JASON_NONCE = "5TsQWLVdgBdmrQ0XsxbDODV+57QdFR34I9HAbC/RVvkK"
JASON_CNONCE = "NTg6RKcb9boFIAS3KrFK9BGeh+iDa/sm6jUMp2wds69v"
JASON_USERHASH = "488869477bf257147b804c45308cd62ac4e25eb717b12b298c79e62dcea254ec"
JASON_RESPONSE = "ae66e67d6b427bd3f120414a82e4acff38e8ecd9101d6c861229025f607a79dd"


@pytest.mark.parametrize(
    ("algorithm", "response"),
    [(Algorithm.MD5, MD5_RESPONSE), (Algorithm.SHA256, SHA256_RESPONSE)],
)
def test_rfc7616_example(algorithm: Algorithm, response: str) -> None:
    key = ha1(USER, REALM, PASSWORD, algorithm)
    got = expected_response(
        key, NONCE, "00000001", CNONCE, "auth", "GET", "/dir/index.html", algorithm
    )
    assert got == response


def test_rfc7616_example_credentials_verify() -> None:
    value = parse_auth(
        f'Digest username="{USER}", realm="{REALM}", uri="/dir/index.html", algorithm=SHA-256, '
        f'nonce="{NONCE}", nc=00000001, cnonce="{CNONCE}", qop=auth, '
        f'response="{SHA256_RESPONSE}", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"',
        "Authorization",
    )
    cred = Credentials.from_auth(value)
    assert (cred.username, cred.algorithm, cred.nc, cred.opaque is not None) == (
        USER,
        Algorithm.SHA256,
        1,
        True,
    )
    stored = ha1(USER, REALM, PASSWORD, Algorithm.SHA256)
    assert response_matches(cred.expected(stored, "GET"), cred.response)
    assert not response_matches(cred.expected(stored, "POST"), cred.response)


@pytest.mark.skipif(not supported(Algorithm.SHA512_256), reason="no SHA-512/256 in OpenSSL")
def test_sha512_256_is_the_fips_function() -> None:
    # FIPS 180-4 / NIST example "abc" for SHA-512/256 (its own initial hash values).
    assert (
        hash_hex(Algorithm.SHA512_256, "abc")
        == "53048e2681941ef99b2e29b76b4c7dabe4c2d0c634fc6d46e0e2f13107e7af23"
    )


@pytest.mark.skipif(not supported(Algorithm.SHA512_256), reason="no SHA-512/256 in OpenSSL")
def test_rfc7616_sha512_256_example_was_computed_with_truncated_sha512() -> None:
    # RFC 7616 §3.9.2 printed values come from SHA-512 cut to 256 bits (an erratum); we
    # follow FIPS SHA-512/256 (RFC 8760 §2.1 cites [SHA2]), so ours must differ, while
    # the same construction with truncated SHA-512 reproduces the RFC's numbers.
    def truncated(data: str) -> str:
        return hashlib.sha512(data.encode()).hexdigest()[:64]

    assert truncated(f"{JASON}:{JASON_REALM}") == JASON_USERHASH
    ha2 = truncated("GET:/doe.json")
    key = truncated(f"{JASON}:{JASON_REALM}:{JASON_PASSWORD}")
    rfc_response = truncated(f"{key}:{JASON_NONCE}:00000001:{JASON_CNONCE}:auth:{ha2}")
    assert rfc_response == JASON_RESPONSE

    ours = expected_response(
        ha1(JASON, JASON_REALM, JASON_PASSWORD, Algorithm.SHA512_256),
        JASON_NONCE,
        "00000001",
        JASON_CNONCE,
        "auth",
        "GET",
        "/doe.json",
        Algorithm.SHA512_256,
    )
    assert len(ours) == 64
    assert ours != JASON_RESPONSE
    fips = hashlib.new("sha512_256")
    fips.update(f"{JASON}:{JASON_REALM}:{JASON_PASSWORD}".encode())
    assert ha1(JASON, JASON_REALM, JASON_PASSWORD, Algorithm.SHA512_256) == fips.hexdigest()


def test_session_variant_hashes_nonce_and_cnonce_into_a1() -> None:
    stored = ha1(USER, REALM, PASSWORD, Algorithm.MD5)
    plain = expected_response(stored, NONCE, "00000001", CNONCE, "auth", "GET", "/", Algorithm.MD5)
    sess = expected_response(
        stored, NONCE, "00000001", CNONCE, "auth", "GET", "/", Algorithm.MD5_SESS
    )
    a1 = hashlib.md5(f"{stored}:{NONCE}:{CNONCE}".encode()).hexdigest()  # noqa: S324 - RFC
    ha2 = hashlib.md5(b"GET:/").hexdigest()  # noqa: S324 - the RFC's hash
    want = hashlib.md5(f"{a1}:{NONCE}:00000001:{CNONCE}:auth:{ha2}".encode()).hexdigest()  # noqa: S324
    assert sess == want
    assert sess != plain


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, Algorithm.MD5),  # RFC 7616 §3.3: absent means MD5
        ("md5", Algorithm.MD5),
        ("sha-256", Algorithm.SHA256),
        ("SHA-512-256", Algorithm.SHA512_256),
        ("SHA-256-sess", Algorithm.SHA256_SESS),
    ],
)
def test_algorithm_names(text: str | None, expected: Algorithm) -> None:
    assert Algorithm.parse(text) is expected


def test_unknown_algorithm() -> None:
    with pytest.raises(CredentialsError):
        Algorithm.parse("SHA-1")


GOOD = (
    'Digest username="alice", realm="example.com", nonce="n", uri="sip:example.com", '
    'response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="c", qop=auth, '
    "nc=00000001"
)


def test_real_phone_forms_are_accepted() -> None:
    # Seen in ../shared/corpus/realworld: lower-case algorithm, lower-case hex nc,
    # quoted qop is also met in the wild.
    text = GOOD.replace("algorithm=MD5", "algorithm=md5").replace("nc=00000001", "nc=00000d1b")
    cred = Credentials.from_auth(parse_auth(text.replace("qop=auth", 'qop="auth"'), "X"))
    assert (cred.algorithm, cred.nc, cred.nc_text) == (Algorithm.MD5, 0xD1B, "00000d1b")


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (("Digest ", "Basic "), "not Digest"),
        (("qop=auth, ", ""), "missing"),  # RFC 2069 style: no nonce count, refused
        (("qop=auth", "qop=auth-int"), "qop"),
        (("nc=00000001", "nc=1"), "nc"),
        (("nc=00000001", "nc=0000000g"), "nc"),
        (('cnonce="c", ', ""), "missing"),
        (("algorithm=MD5", "algorithm=SHA-256"), "size"),  # 32 hex digits for SHA-256
        (("algorithm=MD5", "algorithm=SHA-1"), "unknown"),
        (('username="alice"', 'username*="x"'), "hashing"),
        (('username="alice"', 'username="alice", userhash=true'), "hashing"),
        (('nonce="n"', 'nonce=""'), "empty"),
        (('response="6629', 'response="zz29'), "size"),
    ],
)
def test_invalid_credentials(change: tuple[str, str], problem: str) -> None:
    value = parse_auth(GOOD.replace(*change), "Authorization")
    with pytest.raises(CredentialsError, match=problem):
        Credentials.from_auth(value)


def test_response_comparison() -> None:
    assert response_matches("abcdef", "ABCDEF")
    assert not response_matches("abcdef", "abcdee")
    assert not response_matches("abcdef", "\u00e9bcdef")


def _corpus_credentials() -> list[AuthValue]:
    values: list[AuthValue] = []
    for path in realworld_files() + realworld_files("quirks"):
        try:
            msg = parse_message(path.read_bytes())
        except SipParseError:
            continue
        try:
            values.extend(msg.authorization + msg.proxy_authorization)
        except SipParseError:
            continue
    return values


def test_real_phone_credentials_are_read() -> None:
    # Every qop=auth credential in ../shared/corpus/realworld is accepted as written (bare
    # or quoted, any algorithm case); the ones without qop answered servers that offered
    # none (RFC 2069 style), which we never do, and are refused for lack of a nonce count.
    require_realworld()
    values = _corpus_credentials()
    with_qop = [v for v in values if "qop" in v.params]
    assert len(with_qop) >= 5
    for value in with_qop:
        cred = Credentials.from_auth(value)
        assert cred.algorithm is Algorithm.MD5
    for value in values:
        if "qop" not in value.params:
            with pytest.raises(CredentialsError, match="missing"):
                Credentials.from_auth(value)
