"""URIs: sip/sips parts, tel, opaque schemes, escapes, IP hosts, ports, §19.1.4 equality."""

from __future__ import annotations

import pytest

from sipguard.sip import AbsoluteUri, SipParseError, SipUri, TelUri, parse_uri, uri_equal


def sip(text: str) -> SipUri:
    uri = parse_uri(text)
    assert isinstance(uri, SipUri), uri
    return uri


def refused(text: str) -> SipParseError:
    with pytest.raises(SipParseError) as info:
        parse_uri(text)
    assert info.value.status == 400
    return info.value


# -- sip / sips: parts ---------------------------------------------------------------

# RFC 3261 §19.1.3, the examples of SIP and SIPS URIs, with the parts each one holds.
RFC_EXAMPLES = {
    "sip:alice@atlanta.com": SipUri("sip", "atlanta.com", user="alice"),
    "sip:alice:secretword@atlanta.com;transport=tcp": SipUri(
        "sip", "atlanta.com", "alice", "secretword", params=(("transport", "tcp"),)
    ),
    "sips:alice@atlanta.com?subject=project%20x&priority=urgent": SipUri(
        "sips",
        "atlanta.com",
        user="alice",
        headers=(("subject", "project%20x"), ("priority", "urgent")),
    ),
    "sip:+1-212-555-1212:1234@gateway.com;user=phone": SipUri(
        "sip", "gateway.com", "+1-212-555-1212", "1234", params=(("user", "phone"),)
    ),
    "sips:1212@gateway.com": SipUri("sips", "gateway.com", user="1212"),
    "sip:alice@192.0.2.4": SipUri("sip", "192.0.2.4", user="alice"),
    "sip:atlanta.com;method=REGISTER?to=alice%40atlanta.com": SipUri(
        "sip",
        "atlanta.com",
        params=(("method", "REGISTER"),),
        headers=(("to", "alice%40atlanta.com"),),
    ),
    # ";" is a user-unreserved character: the parameters are part of the user here.
    "sip:alice;day=tuesday@atlanta.com": SipUri("sip", "atlanta.com", user="alice;day=tuesday"),
}


@pytest.mark.parametrize(("text", "expected"), RFC_EXAMPLES.items())
def test_rfc_examples_parse_into_their_parts(text, expected):
    uri = sip(text)
    assert uri == expected._replace(raw=text)
    assert str(uri) == text


def test_every_part_together():
    uri = sip("sips:alice:pw@[2001:db8::1]:5061;transport=TLS;lr;maddr=192.0.2.1?x=1&y=2")
    assert uri.scheme == "sips"
    assert (uri.user, uri.password) == ("alice", "pw")
    assert (uri.host, uri.host_bare, uri.port) == ("[2001:db8::1]", "2001:db8::1", 5061)
    assert uri.params == (("transport", "TLS"), ("lr", None), ("maddr", "192.0.2.1"))
    assert uri.headers == (("x", "1"), ("y", "2"))


@pytest.mark.parametrize(
    ("text", "scheme"), [("SIP:bob@h", "sip"), ("SiPs:bob@h", "sips"), ("sips:bob@h", "sips")]
)
def test_scheme_is_case_insensitive_and_lowered(text, scheme):
    uri = sip(text)
    assert uri.scheme == scheme
    assert str(uri) == text  # the text as written is kept


@pytest.mark.parametrize(
    ("text", "user", "password"),
    [
        ("sip:u:p@h", "u", "p"),
        ("sip:u:@h", "u", ""),  # password = *( ... ): may be empty
        ("sip:a-b_c.d!e~f*g'h(i)j@h", "a-b_c.d!e~f*g'h(i)j", None),  # unreserved
        ("sip:a&b=c+d$e,f;g?h/i@h", "a&b=c+d$e,f;g?h/i", None),  # user-unreserved
        ("sip:%61lice@h", "%61lice", None),  # escapes stay escaped in .user
        ("sip:null-%00-null@h", "null-%00-null", None),  # RFC 4475 §3.1.1.11 (escnull)
        ("sip:sips%3Auser%40example.com@example.net", "sips%3Auser%40example.com", None),
        ("sip:u:p%40ss@h", "u", "p%40ss"),
    ],
)
def test_userinfo(text, user, password):
    uri = sip(text)
    assert (uri.user, uri.password) == (user, password)
    assert str(uri) == text


@pytest.mark.parametrize(
    "text",
    [
        "sip:a%4@h",  # escaped = "%" HEXDIG HEXDIG
        "sip:a%zz@h",
        "sip:a%@h",
        "sip:@h",  # user = 1*( ... )
        "sip:a b@h",
        "sip:a<b@h",
        "sip:a@b@h",
        "sip:ülrich@h",  # not escaped
    ],
)
def test_invalid_userinfo(text):
    refused(text)


@pytest.mark.parametrize(
    ("text", "params"),
    [
        ("sip:h;lr", (("lr", None),)),
        ("sip:h;transport=tcp;ttl=15", (("transport", "tcp"), ("ttl", "15"))),
        ("sip:h;a=b;a=c", (("a", "b"), ("a", "c"))),
        ("sip:h;p=[x]/y:z&w+v$u", (("p", "[x]/y:z&w+v$u"),)),  # param-unreserved
        ("sip:h;p=%5b", (("p", "%5b"),)),  # escapes stay escaped
        ("sip:h;%70=1", (("%70", "1"),)),
        ("sip:h;;lr;", (("lr", None),)),  # liberal: empty parameters are skipped
        ("sip:h;;", ()),
        ("sip:h;x=", (("x", ""),)),
    ],
)
def test_uri_parameters(text, params):
    uri = sip(text)
    assert uri.params == params
    assert str(uri) == text


def test_param_lookup_is_case_insensitive_and_flags_read_empty():
    uri = sip("sip:h;LR;Transport=TCP;maddr=192.0.2.1")
    assert uri.param("lr") == ""
    assert uri.param("MADDR") == "192.0.2.1"
    assert uri.param("ttl") is None
    assert uri.transport == "tcp"
    assert sip("sip:h").transport is None


@pytest.mark.parametrize("text", ["sip:h;=x", "sip:h;a b", 'sip:h;p="q"', "sip:h;p=<x>"])
def test_invalid_uri_parameters(text):
    refused(text)


@pytest.mark.parametrize(
    ("text", "headers"),
    [
        ("sip:h?a=b", (("a", "b"),)),
        ("sip:h?a=b&c=d", (("a", "b"), ("c", "d"))),
        ("sip:h?subject=project%20x", (("subject", "project%20x"),)),
        ("sip:h?a=", (("a", ""),)),  # hvalue = *( ... ): may be empty
        ("sip:h;lr?a=b", (("a", "b"),)),
    ],
)
def test_uri_headers(text, headers):
    assert sip(text).headers == headers


@pytest.mark.parametrize("text", ["sip:h?", "sip:h?=b", "sip:h?a=b c", "sip:h?a=b&&c=d"])
def test_invalid_uri_headers(text):
    refused(text)


# -- hosts ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "EXAMPLE.com",
        "a-b.example.com",
        "example.com.",  # hostname = *( domainlabel "." ) toplabel [ "." ]
        "localhost",
        "sip.194.213.29.100",  # liberal: numeric top label
        "a_b.example.com",  # liberal: underscore
        "192.0.2.4",
        "192.0.2.0",
        "255.255.255.255",
    ],
)
def test_valid_hosts(host):
    uri = sip(f"sip:u@{host}:5060")
    assert (uri.host, uri.port) == (host, 5060)


@pytest.mark.parametrize(
    "host",
    [
        "256.0.0.1",  # RFC 5954 §4.1: dec-octet is 0-255
        "444.555.666.777",  # the example RFC 5954 §4.1 gives
        "192.0.2.300",
        "01.2.3.4",  # dec-octet has no leading zero
        "192.0.2.04",
        "-host.example.com",
        "ho st",
        "",
    ],
)
def test_invalid_hosts(host):
    refused(f"sip:u@{host}")
    refused(f"sip:{host};lr")


@pytest.mark.parametrize(
    "address",
    [
        "::1",
        "::",
        "2001:db8::1",
        "2001:DB8:0:0:0:0:0:1",
        "fe80::1:2:3:4",
        "::ffff:192.0.2.1",  # IPv4-mapped (RFC 5954 §4.1 ls32)
        "::FFFF:129.144.52.38",
        "0:0:0:0:0:FFFF:129.144.52.38",
        "2001:db8::192.0.2.1",
        "1:2:3:4:5:6:7:8",
    ],
)
def test_valid_ipv6_references(address):
    for text in (f"sip:u@[{address}]", f"sip:[{address}]:5060;lr"):
        uri = sip(text)
        assert uri.host == f"[{address}]"
        assert uri.host_bare == address
        assert str(uri) == text


@pytest.mark.parametrize(
    "address",
    [
        "2001:db8:::192.0.2.1",  # RFC 5954 §3.1: the extra colon
        "2001:db8:::1",
        "::ffff:192.0.2.300",
        "::ffff:192.0.2",
        "1:2:3:4:5:6:7:8:9",
        "12345::1",
        "gggg::1",
        "1::2::3",
        "",
    ],
)
def test_invalid_ipv6_references(address):
    refused(f"sip:u@[{address}]")
    refused(f"sip:u@[{address}]:5060")


@pytest.mark.parametrize(
    "text", ["sip:u@2001:db8::1", "sip:u@[2001:db8::1", "sip:u@2001:db8::1]", "sip:u@[::1]]"]
)
def test_unbracketed_or_unbalanced_ipv6_is_refused(text):
    refused(text)


# -- ports ------------------------------------------------------------------------


@pytest.mark.parametrize(("port", "value"), [("1", 1), ("5060", 5060), ("65535", 65535)])
def test_valid_ports(port, value):
    assert sip(f"sip:u@h:{port}").port == value
    assert sip(f"sip:u@[::1]:{port}").port == value


@pytest.mark.parametrize("port", ["65536", "99999", "123456", "", "abc", "-1", "50 60", "5060a"])
def test_invalid_ports(port):
    refused(f"sip:u@h:{port}")
    refused(f"sip:u@[::1]:{port}")


# -- tel and other schemes --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number", "params"),
    [
        ("tel:+1-201-555-0123", "+1-201-555-0123", ()),
        ("tel:7042;phone-context=example.com", "7042", (("phone-context", "example.com"),)),
        ("tel:+358-555-1234567;postd=pp22", "+358-555-1234567", (("postd", "pp22"),)),
        ("TEL:+1.201.555.0123", "+1.201.555.0123", ()),
    ],
)
def test_tel_uris(text, number, params):
    uri = parse_uri(text)
    assert isinstance(uri, TelUri)
    assert uri.scheme == "tel"
    assert (uri.number, uri.params) == (number, params)
    assert str(uri) == text


@pytest.mark.parametrize("text", ["tel:", "tel:abc xyz", "tel:+1 201", "tel:+1<2>"])
def test_invalid_tel_uris(text):
    refused(text)


@pytest.mark.parametrize(
    ("text", "scheme", "opaque"),
    [
        ("mailto:alice@example.com", "mailto", "alice@example.com"),
        ("urn:service:sos", "urn", "service:sos"),
        ("http://www.example.com/a?b=c", "http", "//www.example.com/a?b=c"),
        ("im:alice@example.com", "im", "alice@example.com"),
        ("x-custom+v1.0:anything;goes", "x-custom+v1.0", "anything;goes"),
    ],
)
def test_other_schemes_are_kept_opaque(text, scheme, opaque):
    uri = parse_uri(text)
    assert uri == AbsoluteUri(scheme, opaque)
    assert str(uri) == text


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no-colon",
        ":opaque",
        "1abc:x",  # scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
        "a_b:x",
        "mailto:",
        "http://a b",
        "http://a<b>",
        'urn:"x"',
        "sip:",
        "sips:",
    ],
)
def test_malformed_uris(text):
    refused(text)


# -- rendering changed URIs -------------------------------------------------------


def test_changed_uri_renders_from_its_parts_and_parses_back():
    uri = sip("sip:alice@atlanta.com;transport=tcp")
    changed = uri.with_changes(port=5070, params=(("transport", "udp"), ("lr", None)))
    assert str(changed) == "sip:alice@atlanta.com:5070;transport=udp;lr"
    assert parse_uri(str(changed)) == changed._replace(raw=str(changed))


def test_rendered_uri_keeps_password_and_headers():
    uri = SipUri("sips", "[2001:db8::1]", "u", "p", 5061, headers=(("a", "b"),))
    assert str(uri) == "sips:u:p@[2001:db8::1]:5061?a=b"


# -- equality: RFC 3261 §19.1.4 and RFC 5954 §4.2 ---------------------------------

# "The URIs within each of the following sets are equivalent" (RFC 3261 §19.1.4), and the
# examples RFC 5954 §4.2 adds for IP addresses written differently.
EQUAL_SETS = [
    ["sip:%61lice@atlanta.com;transport=TCP", "sip:alice@AtLanTa.CoM;Transport=tcp"],
    [
        "sip:carol@chicago.com",
        "sip:carol@chicago.com;newparam=5",
        "sip:carol@chicago.com;security=on",
    ],
    [
        "sip:biloxi.com;transport=tcp;method=REGISTER?to=sip:bob%40biloxi.com",
        "sip:biloxi.com;method=REGISTER;transport=tcp?to=sip:bob%40biloxi.com",
    ],
    [
        "sip:alice@atlanta.com?subject=project%20x&priority=urgent",
        "sip:alice@atlanta.com?priority=urgent&subject=project%20x",
    ],
    ["sip:bob@[::ffff:192.0.2.128]", "sip:bob@[::ffff:c000:280]"],
    ["sip:bob@[2001:db8::9:1]", "sip:bob@[2001:db8::9:01]"],
    ["sip:bob@[0:0:0:0:0:FFFF:129.144.52.38]", "sip:bob@[::FFFF:129.144.52.38]"],
]

# "The URIs within each of the following sets are not equivalent" (RFC 3261 §19.1.4).
NOT_EQUAL_PAIRS = [
    ("SIP:ALICE@AtLanTa.CoM;Transport=udp", "sip:alice@AtLanTa.CoM;Transport=UDP"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:5060"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com;transport=udp"),
    ("sip:bob@biloxi.com", "sip:bob@biloxi.com:6000;transport=tcp"),
    ("sip:carol@chicago.com", "sip:carol@chicago.com?Subject=next%20meeting"),
    ("sip:bob@phone21.boxesbybob.com", "sip:bob@192.0.2.4"),
    # "Note that equality is not transitive": both equal sip:carol@chicago.com, not each other.
    ("sip:carol@chicago.com;security=on", "sip:carol@chicago.com;security=off"),
]

# The rules of §19.1.4, one pair per rule.
RULE_PAIRS = [
    ("sip:alice@atlanta.com", "sips:alice@atlanta.com"),  # never SIP and SIPS
    ("sip:atlanta.com", "sip:alice@atlanta.com"),  # user omitted
    ("sip:alice@atlanta.com", "sip:alice:pw@atlanta.com"),  # password omitted
    ("sip:alice:pw@atlanta.com", "sip:alice:PW@atlanta.com"),  # userinfo case-sensitive
    ("sip:alice@atlanta.com", "sip:alice@atlanta.com;user=phone"),
    ("sip:alice@atlanta.com", "sip:alice@atlanta.com;ttl=1"),
    ("sip:alice@atlanta.com", "sip:alice@atlanta.com;method=INVITE"),
    ("sip:alice@atlanta.com", "sip:alice@atlanta.com;maddr=239.255.255.1"),
    ("sip:alice@atlanta.com;transport=tcp", "sip:alice@atlanta.com;transport=udp"),
    ("sip:alice@atlanta.com?a=b", "sip:alice@atlanta.com?a=c"),
    ("sip:alice@atlanta.com?a=b", "sip:alice@atlanta.com?a=b&c=d"),
    ("sip:bob@[2001:db8::1]", "sip:bob@[2001:db8::2]"),
    ("sip:bob@192.0.2.1", "sip:bob@192.0.2.2"),
    ("sip:bob@biloxi.com:5060", "sip:bob@biloxi.com:5061"),
]


def _pairs(sets: list[list[str]]) -> list[tuple[str, str]]:
    return [(a, b) for group in sets for a in group for b in group]


@pytest.mark.parametrize(("a", "b"), _pairs(EQUAL_SETS))
def test_rfc_equivalent_uris(a, b):
    assert uri_equal(parse_uri(a), parse_uri(b))


@pytest.mark.parametrize(("a", "b"), NOT_EQUAL_PAIRS + RULE_PAIRS)
def test_rfc_non_equivalent_uris(a, b):
    assert not uri_equal(parse_uri(a), parse_uri(b))
    assert not uri_equal(parse_uri(b), parse_uri(a))
    assert uri_equal(parse_uri(a), parse_uri(a))


def test_equality_is_not_transitive():
    carol, on, off = (
        parse_uri("sip:carol@chicago.com"),
        parse_uri("sip:carol@chicago.com;security=on"),
        parse_uri("sip:carol@chicago.com;security=off"),
    )
    assert uri_equal(carol, on)
    assert uri_equal(carol, off)
    assert not uri_equal(on, off)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("sip:alice@atlanta.com;transport=%74cp", "sip:alice@atlanta.com;transport=TCP"),
        ("sip:%41lice@atlanta.com", "sip:Alice@atlanta.com"),
        ("sip:alice@atlanta.com?subject=%70roject", "sip:alice@atlanta.com?subject=project"),
        ("sip:alice:p%61ss@atlanta.com", "sip:alice:pass@atlanta.com"),
    ],
)
def test_escaped_unreserved_characters_equal_their_escapes(a, b):
    assert uri_equal(parse_uri(a), parse_uri(b))


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("sip:%2B12125551212@gateway.com", "sip:+12125551212@gateway.com"),  # "+" reserved
        ("sip:a%3Bb@atlanta.com", "sip:a;b@atlanta.com"),  # ";" reserved
    ],
)
def test_escaped_reserved_characters_differ_from_the_plain_character(a, b):
    # §19.1.4: only characters outside the "reserved" set equal their %HH form.
    assert not uri_equal(parse_uri(a), parse_uri(b))


def test_escaped_parameter_name_is_the_parameter():
    a = parse_uri("sip:bob@biloxi.com;%74ransport=udp")
    assert not uri_equal(a, parse_uri("sip:bob@biloxi.com"))
    assert uri_equal(a, parse_uri("sip:bob@biloxi.com;transport=udp"))


@pytest.mark.parametrize(
    ("a", "b", "equal"),
    [
        ("tel:+1-201-555-0123", "tel:+12015550123", True),  # RFC 3966 §4: separators ignored
        ("tel:+1.201.555.0123", "tel:+1-(201)-555-0123", True),
        ("tel:+12015550123", "tel:+12015550124", False),
        ("tel:7042;phone-context=example.com", "tel:7042;phone-context=EXAMPLE.com", True),
        ("tel:7042;phone-context=example.com", "tel:7042", False),
        ("tel:+12015550123", "sip:+12015550123@example.com", False),
        ("mailto:a@example.com", "mailto:a@example.com", True),
        ("mailto:a@example.com", "MAILTO:a@example.com", True),
        ("mailto:a@example.com", "mailto:b@example.com", False),
        ("mailto:a@example.com", "sip:a@example.com", False),
    ],
)
def test_tel_and_opaque_equality(a, b, equal):
    assert uri_equal(parse_uri(a), parse_uri(b)) is equal
    assert uri_equal(parse_uri(b), parse_uri(a)) is equal


@pytest.mark.parametrize("text", ["sip:h?a", "sip:h?a=b&c", "sip:h?=b"])
def test_uri_header_needs_a_name_and_an_equals_sign(text: str) -> None:
    # header = hname "=" hvalue (RFC 3261 §25.1)
    with pytest.raises(SipParseError) as info:
        parse_uri(text)
    assert info.value.status == 400
