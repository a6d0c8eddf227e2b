"""Typed header values: Via, name-addr / addr-spec, CSeq, auth headers, Contact lists."""

from __future__ import annotations

import pytest

from sipguard.sip import AbsoluteUri, SipParseError, SipUri, TelUri
from sipguard.sip.headers import (
    CSeq,
    NameAddr,
    parse_auth,
    parse_cseq,
    parse_name_addr,
    parse_name_addr_list,
    parse_via,
    parse_via_list,
)
from tests.helpers.sipmsg import ACCESSORS, access_error, fastest_seconds, parse_request, request


def refused(parse, text: str, reason: str) -> None:
    with pytest.raises(SipParseError) as info:
        parse(text)
    assert (info.value.status, info.value.reason) == (400, reason)


# -- Via (RFC 3261 §20.42) --------------------------------------------------------


@pytest.mark.parametrize(
    ("written", "transport"),
    [
        ("UDP", "UDP"),
        ("TCP", "TCP"),
        ("TLS", "TLS"),
        ("SCTP", "SCTP"),
        ("TLS-SCTP", "TLS-SCTP"),
        ("WS", "WS"),  # RFC 7118
        ("WSS", "WSS"),
        ("udp", "UDP"),  # transport is case-insensitive
        ("Tcp", "TCP"),
        ("X-NEW", "X-NEW"),  # other-transport = token
    ],
)
def test_via_transports(written, transport):
    via = parse_via(f"SIP/2.0/{written} host.example.com;branch=z9hG4bK1")
    assert via.transport == transport
    assert via.protocol == "SIP/2.0"


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("SIP/2.0/UDP host.example.com", "host.example.com", None),
        ("SIP/2.0/UDP host.example.com:5060", "host.example.com", 5060),
        ("SIP/2.0/UDP 192.0.2.1:65535", "192.0.2.1", 65535),
        ("SIP/2.0/UDP [2001:db8::1]", "[2001:db8::1]", None),
        ("SIP/2.0/UDP [2001:db8::1]:5070", "[2001:db8::1]", 5070),
        ("SIP/2.0/UDP [::ffff:192.0.2.1]:5060", "[::ffff:192.0.2.1]", 5060),
        ("SIP/2.0/TCP  host", "host", None),  # LWS = one or more SP / HTAB
        ("SIP/2.0/TCP\thost", "host", None),
    ],
)
def test_via_sent_by(text, host, port):
    via = parse_via(text)
    assert (via.host, via.port) == (host, port)
    assert via.params == ()
    assert str(via) == text


@pytest.mark.parametrize(
    "text",
    [
        "SIP / 2.0 / UDP host ; branch = z9hG4bKx",
        "SIP /2.0/ UDP host;branch =z9hG4bKx",
        "SIP/2.0/UDP host : 5060 ; branch = z9hG4bKx",
        "SIP/2.0/UDP\thost\t;\tbranch\t=\tz9hG4bKx",
    ],
)
def test_via_spacing_allowed_by_the_grammar(text):
    # SLASH, COLON, SEMI and EQUAL all allow SWS around them (RFC 3261 §25.1).
    via = parse_via(text)
    assert (via.transport, via.host, via.branch) == ("UDP", "host", "z9hG4bKx")
    assert via.protocol == "SIP/2.0"
    assert str(via) == text  # kept as written


def test_via_parameters():
    via = parse_via(
        "SIP/2.0/UDP h:5060;branch=z9hG4bK77;rport;received=192.0.2.9;maddr=224.2.0.1;ttl=16"
    )
    assert via.branch == "z9hG4bK77"
    assert via.param("rport") == ""  # RFC 3581 flag in a request
    assert via.param("received") == "192.0.2.9"
    assert via.param("MADDR") == "224.2.0.1"
    assert via.param("ttl") == "16"
    assert via.param("nope") is None


def test_via_rport_with_value_and_ipv6_received():
    via = parse_via("SIP/2.0/UDP h;rport=5061;received=2001:db8::9;branch=z9hG4bK1")
    assert via.param("rport") == "5061"
    assert via.param("received") == "2001:db8::9"
    assert via.branch == "z9hG4bK1"


@pytest.mark.parametrize(
    ("text", "branch"),
    [
        ("SIP/2.0/UDP h", None),  # liberal: no branch (RFC 2543 peers)
        ("SIP/2.0/UDP h;branch=1234", "1234"),  # liberal: no magic cookie
        ("SIP/2.0/UDP h;BRANCH=z9hG4bKa", "z9hG4bKa"),
        ("SIP/2.0/UDP h;branch=z9hG4bK.a/b=c", "z9hG4bK.a/b=c"),
    ],
)
def test_via_branch(text, branch):
    assert parse_via(text).branch == branch


def test_via_list_splits_on_commas_outside_quotes():
    vias = parse_via_list(
        'SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/TCP b:5060 ,SIP/2.0/TLS c;x="1,2"'
    )
    assert [(v.transport, v.host) for v in vias] == [("UDP", "a"), ("TCP", "b"), ("TLS", "c")]
    assert vias[2].param("x") == '"1,2"'


@pytest.mark.parametrize(
    "text",
    [
        "",
        "SIP/2.0/UDP",
        "SIP/2.0 host",
        "SIP/2.0/ host",
        "SIP/2.0/UDP host:",
        "SIP/2.0/UDP host:99999",
        "SIP/2.0/UDP host:65536",
        "SIP/2.0/UDP host:abc",
        "SIP/2.0/UDP [2001:db8::1",
        "SIP/2.0/UDP [zz::1]",
        "SIP/2.0/UDP h;=x",
        "SIP/2.0/UDP h;branch=a b",
        "SIP/2.0/UDP h junk",
        "SIP/2.0/UDP h;bra nch=1",
    ],
)
def test_invalid_vias(text):
    refused(parse_via, text, "Invalid Via")


@pytest.mark.parametrize(
    "host",
    [
        "256.1.1.1",
        "444.555.666.777",
        "01.2.3.4",
        "[2001:db8:::1]",
        "[2001:db8:::192.0.2.1]",
        "[::1::2]",
        "[::ffff:192.0.2.300]",
    ],
)
def test_via_sent_by_ip_addresses_are_checked_like_uri_hosts(host):
    # sent-by = host [ COLON port ]: the same host rule as a SIP URI (RFC 5954 §3.1, §4.1).
    refused(parse_via, f"SIP/2.0/UDP {host};branch=z9hG4bK1", "Invalid Via")


def test_via_with_changed_params_renders_and_parses_back():
    via = parse_via("SIP/2.0/UDP h:5060;rport;branch=z9hG4bK1")
    changed = via.with_params(rport="5062", received="192.0.2.7")
    assert str(changed) == "SIP/2.0/UDP h:5060;branch=z9hG4bK1;rport=5062;received=192.0.2.7"
    again = parse_via(str(changed))
    assert again._replace(raw="") == changed


# -- name-addr and addr-spec (From, To, Contact, Route...) ------------------------


def test_name_addr_and_addr_spec_split_parameters_differently():
    # RFC 3261 §20.10: in an addr-spec the ";" parameters belong to the header.
    bare = parse_name_addr("sip:alice@atlanta.com;tag=1;lr")
    assert bare.uri == SipUri("sip", "atlanta.com", user="alice", raw="sip:alice@atlanta.com")
    assert bare.params == (("tag", "1"), ("lr", None))
    assert bare.display_name is None
    angled = parse_name_addr("<sip:alice@atlanta.com;lr>;tag=1")
    assert isinstance(angled.uri, SipUri)
    assert angled.uri.params == (("lr", None),)
    assert angled.params == (("tag", "1"),)
    assert angled.tag == "1"


@pytest.mark.parametrize(
    ("text", "display"),
    [
        ('"Alice Liddell" <sip:alice@atlanta.com>', "Alice Liddell"),
        ('"" <sip:alice@atlanta.com>', ""),
        ('"Doe, John; <x>" <sip:alice@atlanta.com>', "Doe, John; <x>"),
        ('"A \\"quoted\\" word" <sip:alice@atlanta.com>', 'A "quoted" word'),
        ('"back\\\\slash" <sip:alice@atlanta.com>', "back\\slash"),
        ('"\\a\\b" <sip:alice@atlanta.com>', "ab"),  # quoted-pair of any character
        ('"  spaced  " <sip:alice@atlanta.com>', "  spaced  "),
        ('"Jürgen" <sip:alice@atlanta.com>', "Jürgen"),
        ('"Alice"<sip:alice@atlanta.com>', "Alice"),
        ('  "Alice"   <sip:alice@atlanta.com>', "Alice"),
    ],
)
def test_quoted_display_names(text, display):
    addr = parse_name_addr(text)
    assert addr.display_name == display
    assert str(addr) == text.strip()


@pytest.mark.parametrize(
    ("text", "display"),
    [
        ("Alice <sip:alice@atlanta.com>", "Alice"),
        ("Alice Liddell <sip:alice@atlanta.com>", "Alice Liddell"),
        ("Alice   Pleasance\tLiddell <sip:alice@atlanta.com>", "Alice Pleasance Liddell"),
        ("Alice<sip:alice@atlanta.com>", "Alice"),
        ("a-b.c!d%e*f_g+h`i'j~k <sip:alice@atlanta.com>", "a-b.c!d%e*f_g+h`i'j~k"),
        ("Jürgen Müller <sip:alice@atlanta.com>", "Jürgen Müller"),  # liberal: UTF-8
        ("<sip:alice@atlanta.com>", None),
        ("sip:alice@atlanta.com", None),
    ],
)
def test_unquoted_display_names(text, display):
    assert parse_name_addr(text).display_name == display


@pytest.mark.parametrize(
    ("text", "params"),
    [
        ('<sip:a@b>;tag="q;v"', (("tag", '"q;v"'),)),
        ('<sip:a@b>;x="a,b";y=1', (("x", '"a,b"'), ("y", "1"))),
        ('<sip:a@b>;x="with \\"escape\\""', (("x", '"with \\"escape\\""'),)),
        ("<sip:a@b> ; tag = 5 ; lr", (("tag", "5"), ("lr", None))),
        ("<sip:a@b>;expires=3600;q=0.7", (("expires", "3600"), ("q", "0.7"))),
        ('<sip:a@b>;+sip.instance="<urn:uuid:1>"', (("+sip.instance", '"<urn:uuid:1>"'),)),
    ],
)
def test_header_parameters_keep_quoted_values_as_written(text, params):
    addr = parse_name_addr(text)
    assert addr.params == params
    assert str(addr) == text


def test_addr_spec_with_quoted_header_parameter():
    # generic-param = token [ EQUAL gen-value ]; gen-value = token / host / quoted-string
    addr = parse_name_addr('sip:alice@atlanta.com;tag=1;note="a, b"')
    assert addr.params == (("tag", "1"), ("note", '"a, b"'))


def test_tag_lookup_is_case_insensitive():
    assert parse_name_addr("<sip:a@b>;TAG=x").tag == "x"
    assert parse_name_addr("<sip:a@b>").tag is None
    assert parse_name_addr("<sip:a@b>;tag").tag == ""


@pytest.mark.parametrize(
    ("text", "uri"),
    [
        ("<tel:+1-201-555-0123>;tag=1", TelUri("+1-201-555-0123", raw="tel:+1-201-555-0123")),
        ("tel:+12015550123;tag=1", TelUri("+12015550123", raw="tel:+12015550123")),
        ("<mailto:alice@example.com>", AbsoluteUri("mailto", "alice@example.com")),
        ("Alice <urn:uuid:f81d4fae-7dec>;p", AbsoluteUri("urn", "uuid:f81d4fae-7dec")),
    ],
)
def test_other_uri_schemes_in_addresses(text, uri):
    addr = parse_name_addr(text)
    assert addr.uri == uri
    assert addr.sip_uri is None


def test_ipv6_and_uri_headers_inside_angle_brackets():
    addr = parse_name_addr("<sip:bob@[2001:db8::1]:5060;transport=tcp?subject=hi>;p=1")
    assert addr.sip_uri is not None
    assert (addr.sip_uri.host, addr.sip_uri.port) == ("[2001:db8::1]", 5060)
    assert addr.sip_uri.headers == (("subject", "hi"),)
    assert addr.params == (("p", "1"),)


@pytest.mark.parametrize(
    "text",
    [
        "",
        '"unterminated <sip:a@b>',
        "Alice <sip:a@b",
        "Alice sip:a@b>",
        "<>",
        "Alice <>",
        "< sip:a@b>",  # LAQUOT / RAQUOT: no whitespace inside the brackets
        "<sip:a@b >",
        "<sip:a @b>",
        "<sip:a@b> junk",
        "<sip:a@b>;=x",
        "<sip:a@b>;a b",
        "<sip:a@256.1.1.1>",
        "<sip:a@[2001:db8:::1]>",
        "<sip:a@b:99999>",
        "sip:a@b?subject=x",  # addr-spec cannot hold "?" (RFC 3261 §20.10)
        "sip:a @b",
        "<sip:a@b><sip:c@d>",
        '"Alice" "Bob" <sip:a@b>',
    ],
)
def test_invalid_addresses(text):
    refused(lambda t: parse_name_addr(t, "Contact"), text, "Invalid Contact")


def test_name_addr_list_splits_outside_quotes_and_brackets():
    addrs = parse_name_addr_list(
        '"Doe, John" <sip:j@d>;q=0.5, <sip:a,b@c;lr>, sip:c@d;expires=60', "Contact"
    )
    assert [a.display_name for a in addrs] == ["Doe, John", None, None]
    assert [str(a.uri) for a in addrs] == ["sip:j@d", "sip:a,b@c;lr", "sip:c@d"]
    assert addrs[2].param("expires") == "60"


def test_changed_name_addr_renders_and_parses_back():
    addr = parse_name_addr('"Doe, John" <sip:john@example.com>')
    tagged = addr.with_params(tag="8321234356")
    assert str(tagged) == '"Doe, John" <sip:john@example.com>;tag=8321234356'
    assert parse_name_addr(str(tagged))._replace(raw="") == tagged


@pytest.mark.parametrize(
    ("display", "written"),
    [
        ("Alice", "Alice <sip:a@b>"),
        ("Alice Liddell", "Alice Liddell <sip:a@b>"),
        ("Doe, John", '"Doe, John" <sip:a@b>'),
        ('Say "hi"', '"Say \\"hi\\"" <sip:a@b>'),
        ("back\\slash", '"back\\\\slash" <sip:a@b>'),
    ],
)
def test_built_display_names_are_quoted_when_needed(display, written):
    addr = NameAddr(SipUri("sip", "b", user="a"), display)
    assert str(addr) == written
    assert parse_name_addr(written).display_name == display


# -- CSeq (RFC 3261 §20.16) -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "cseq"),
    [
        ("1 INVITE", CSeq(1, "INVITE")),
        ("0 ACK", CSeq(0, "ACK")),
        ("4294967295 BYE", CSeq(2**32 - 1, "BYE")),  # "a 32-bit unsigned integer"
        ("0000000001 REGISTER", CSeq(1, "REGISTER")),
        ("1  NOTIFY", CSeq(1, "NOTIFY")),  # LWS
        ("1\tOPTIONS", CSeq(1, "OPTIONS")),
        ("1 NEWMETHOD", CSeq(1, "NEWMETHOD")),  # extension-method = token
    ],
)
def test_cseq(text, cseq):
    assert parse_cseq(text) == cseq


@pytest.mark.parametrize(
    "text",
    [
        "4294967296 INVITE",  # 2**32
        "99999999999 INVITE",
        "123456789012345678901234567890 INVITE",
        "-1 INVITE",
        "+1 INVITE",
        "1",
        "1 ",
        "INVITE",
        "INVITE 1",
        "",
        "1 INV@ITE",
        "1 INVITE BYE",
        "1.5 INVITE",
        "0x10 INVITE",
        "\u0661 INVITE",  # ARABIC-INDIC DIGIT ONE: DIGIT is ASCII only
    ],
)
def test_invalid_cseq(text):
    refused(parse_cseq, text, "Invalid CSeq")


def test_cseq_renders():
    assert str(CSeq(7, "BYE")) == "7 BYE"


# -- Authorization / WWW-Authenticate (RFC 3261 §20.7, §20.44, §25) ---------------

CREDENTIALS = (
    'Digest username="bob", realm="biloxi.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", '
    'uri="sip:bob@biloxi.com", qop=auth, nc=00000001, cnonce="0a4f113b", '
    'response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
)


def test_digest_credentials():
    auth = parse_auth(CREDENTIALS, "Authorization")
    assert auth.scheme == "Digest"
    assert auth.params == {
        "username": "bob",
        "realm": "biloxi.com",
        "nonce": "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        "uri": "sip:bob@biloxi.com",
        "qop": "auth",
        "nc": "00000001",
        "cnonce": "0a4f113b",
        "response": "6629fae49393a05397450978507c4ef1",
        "opaque": "5ccc069c403ebaf9f0171e9517f40e41",
    }
    assert auth.quoted == {"username", "realm", "nonce", "uri", "cnonce", "response", "opaque"}
    assert str(auth) == CREDENTIALS


@pytest.mark.parametrize(
    ("text", "params"),
    [
        ('Digest realm="a, b", nonce="x,y"', {"realm": "a, b", "nonce": "x,y"}),
        ('Digest qop="auth,auth-int", algorithm=MD5', {"qop": "auth,auth-int", "algorithm": "MD5"}),
        ('Digest realm="say \\"hi\\""', {"realm": 'say "hi"'}),
        ('Digest realm="x=y; z"', {"realm": "x=y; z"}),
        ('Digest realm = "x" , nonce = y', {"realm": "x", "nonce": "y"}),
        ('Digest realm="x",nonce="y"', {"realm": "x", "nonce": "y"}),
        ('Digest  realm="x"', {"realm": "x"}),
        ('Digest REALM="x"', {"realm": "x"}),  # names read case-insensitively
        ('NewScheme realm="x", other=token', {"realm": "x", "other": "token"}),
    ],
)
def test_auth_params(text, params):
    assert parse_auth(text, "WWW-Authenticate").params == params


@pytest.mark.parametrize(
    "text",
    [
        'Digest realm="a", realm="b"',  # RFC 7616 §3.4: a directive appears at most once
        'Digest realm="a", REALM="b"',
        'Digest nonce="1", realm="a", nonce="2"',
    ],
)
def test_duplicate_auth_params_are_refused(text):
    refused(lambda t: parse_auth(t, "Authorization"), text, "Invalid Authorization")


@pytest.mark.parametrize(
    "text",
    [
        "",
        "Digest",
        'Digest realm="unterminated',
        'Digest realm="x",, nonce="y"',
        'Digest , realm="x"',
        'Digest realm="x" nonce="y"',
        'Dig est realm="x"',
        '"Digest" realm="x"',
    ],
)
def test_malformed_auth_values(text):
    refused(lambda t: parse_auth(t, "Proxy-Authorization"), text, "Invalid Proxy-Authorization")


def _register(headers: dict[str, str | list[str] | None]) -> bytes:
    return request("REGISTER", "sip:registrar.biloxi.example.com", headers)


def test_several_challenges_on_several_lines():
    msg = parse_request(
        _register(
            {
                "WWW-Authenticate": [
                    'Digest realm="a.example.com", nonce="1", algorithm=SHA-256',
                    'Digest realm="a.example.com", nonce="2", algorithm=MD5',
                ],
                "Proxy-Authenticate": 'Digest realm="p", nonce="3"',
            }
        )
    )
    assert [c.params["algorithm"] for c in msg.www_authenticate] == ["SHA-256", "MD5"]
    assert [c.params["nonce"] for c in msg.proxy_authenticate] == ["3"]


def test_auth_headers_are_not_split_on_commas():
    msg = parse_request(
        _register(
            {
                "Authorization": CREDENTIALS,
                "Proxy-Authorization": 'Digest username="a, b", realm="r"',
            }
        )
    )
    assert [a.params["username"] for a in msg.authorization] == ["bob"]
    assert [a.params["username"] for a in msg.proxy_authorization] == ["a, b"]


def test_values_does_not_split_auth_headers():
    msg = parse_request(_register({"Authorization": CREDENTIALS}))
    assert msg.values("Authorization") == [CREDENTIALS]


def test_invalid_auth_header_raises_only_when_read():
    msg = parse_request(_register({"Authorization": 'Digest realm="x" nonce="y"'}))
    assert access_error(lambda: msg.authorization).reason == "Invalid Authorization"
    assert msg.www_authenticate == ()


# -- Contact (RFC 3261 §20.10) ----------------------------------------------------


@pytest.mark.parametrize("value", ["*", " * "])
def test_contact_wildcard(value):
    msg = parse_request(_register({"Contact": value, "Expires": "0"}))
    assert msg.contact_is_star
    assert msg.contacts == ()


@pytest.mark.parametrize(
    "contact", ["*, <sip:a@b>", ["<sip:a@b>", "*"], ["*", "*"], "<sip:a@b>, *", "**"]
)
def test_contact_wildcard_mixed_with_others_is_invalid(contact):
    msg = parse_request(_register({"Contact": contact}))
    assert not msg.contact_is_star
    assert access_error(lambda: msg.contacts).reason == "Invalid Contact"


def test_contact_list_over_lines_commas_and_compact_form():
    msg = parse_request(
        _register(
            {
                "Contact": '<sip:a@192.0.2.1>;expires=60, "X, Y" <sip:b@192.0.2.2>;q=0.5',
                "m": "sip:c@192.0.2.3;expires=0",
                "CONTACT": "<sips:d@[2001:db8::4]:5061>",
            }
        )
    )
    contacts = msg.contacts
    assert [str(c.uri) for c in contacts] == [
        "sip:a@192.0.2.1",
        "sip:b@192.0.2.2",
        "sip:c@192.0.2.3",
        "sips:d@[2001:db8::4]:5061",
    ]
    assert [c.param("expires") for c in contacts] == ["60", None, "0", None]
    assert contacts[1].display_name == "X, Y"
    assert not msg.contact_is_star


@pytest.mark.parametrize(
    "contact", ["", "<sip:a@b>,", "< sip:a@b>", "<sip:a@b>, junk", "<sip:a@b", '"x <sip:a@b>']
)
def test_invalid_contact_raises_only_when_read(contact):
    msg = parse_request(_register({"Contact": contact}))
    assert access_error(lambda: msg.contacts).reason == "Invalid Contact"


def test_routes_and_record_routes():
    msg = parse_request(
        request(
            headers={
                "Route": ["<sip:p1.example.com;lr>, <sip:p2.example.com;lr>", "<sip:p3;lr>"],
                "Record-Route": "<sip:rr.example.com;lr;transport=tcp>",
            }
        )
    )
    assert [r.sip_uri.host for r in msg.routes if r.sip_uri] == [
        "p1.example.com",
        "p2.example.com",
        "p3",
    ]
    assert all(r.sip_uri and r.sip_uri.param("lr") == "" for r in msg.routes)
    assert [str(r.uri) for r in msg.record_routes] == ["sip:rr.example.com;lr;transport=tcp"]


@pytest.mark.parametrize(
    ("header", "accessor"),
    [("Route", "routes"), ("Record-Route", "record_routes"), ("Path", "paths")],
)
def test_invalid_route_raises_only_when_read(header, accessor):
    msg = parse_request(request(headers={header: "<sip:p1;lr>, < sip:p2;lr>"}))
    assert access_error(lambda: ACCESSORS[accessor](msg)).reason == f"Invalid {header}"


def test_addresses_of_a_header_read_before():
    msg = parse_request(request())
    assert msg.addresses("From") == (msg.from_,)


# -- cost: a header value is read in time linear in its length ------------------------


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (parse_name_addr, "a" + " " * 4000 + "b"),  # ~150 ms
        (parse_name_addr, " " * 300 + "b"),  # ~50 ms; cubic: 7 000 spaces take minutes
        (lambda t: parse_auth(t, "Authorization"), "Digest a" + " " * 4000 + "x"),  # ~100 ms
    ],
    ids=["display-name-run", "leading-run", "auth-param-run"],
)
def test_whitespace_runs_are_read_in_linear_time(parse, text):
    assert fastest_seconds(lambda: parse(text), budget=0.005) < 0.005
