"""Origin validation, normalisation, pattern parsing and matching (gateway/origins.py)."""

from __future__ import annotations

import pytest

from gateway.origin_probes import (
    PROBE_ORIGINS,
    public_suffix_below,
    regex_matches_any,
    regex_matches_foreign,
    regex_matches_http,
    wildcard_host,
)
from gateway.origins import (
    OriginMatcher,
    Pattern,
    PatternError,
    compile_origins,
    is_serialized_origin,
    normalize_host,
    normalize_origin,
    parse_pattern,
)

LABEL_63 = "a" * 63
LABEL_64 = "a" * 64
HOST_253 = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
HOST_254 = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 62])
assert len(HOST_253) == 253 and len(HOST_254) == 254

# --------------------------------------------------------------------------
# is_serialized_origin
# --------------------------------------------------------------------------

ACCEPTED = [
    pytest.param("https://example.com", id="https"),
    pytest.param("http://example.com", id="http"),
    pytest.param("http://localhost:3000", id="port"),
    pytest.param("https://example.com:65535", id="max-port"),
    pytest.param("https://example.com:1", id="port-1"),
    pytest.param("https://a.b.c.example.com", id="deep-subdomain"),
    pytest.param("null", id="null"),
    pytest.param("https://example.com.", id="trailing-dot-distinct-host"),
    pytest.param("http://127.0.0.1", id="ipv4"),
    pytest.param("http://127.0.0.1:8080", id="ipv4-port"),
    pytest.param("http://0.0.0.0", id="ipv4-zeros"),
    pytest.param("https://[::1]", id="ipv6-loopback"),
    pytest.param("https://[::1]:8443", id="ipv6-port"),
    pytest.param("https://[2001:db8::1]", id="ipv6-canonical"),
    pytest.param("https://[::ffff:102:304]", id="ipv6-mapped-canonical-hex"),
    pytest.param("https://xn--bcher-kva.example", id="punycode"),
    pytest.param("http://a_b.example.com", id="underscore"),
    pytest.param("https://1.example.com", id="numeric-label-not-last"),
    pytest.param("https://0x1.example", id="hex-like-label-not-last"),
    pytest.param("chrome-extension://abcdefghijklmnop", id="extension-scheme"),
    pytest.param(f"https://{LABEL_63}.com", id="label-63"),
    pytest.param(f"https://{HOST_253}", id="host-253"),
    pytest.param(f"https://{HOST_253}.", id="host-253-plus-trailing-dot"),
]

REJECTED = [
    pytest.param("", id="empty"),
    pytest.param("NULL", id="null-uppercase"),
    pytest.param("Null", id="null-mixed-case"),
    pytest.param(" null", id="null-leading-space"),
    pytest.param("https://EXAMPLE.com", id="uppercase-host"),
    pytest.param("HTTPS://example.com", id="uppercase-scheme"),
    pytest.param("https://example.com:443", id="default-port-https"),
    pytest.param("http://example.com:80", id="default-port-http"),
    pytest.param("https://example.com:0443", id="port-leading-zero"),
    pytest.param("https://example.com:0", id="port-0"),
    pytest.param("https://example.com:65536", id="port-too-big"),
    pytest.param("https://example.com:123456", id="port-six-digits"),
    pytest.param("https://example.com:abc", id="port-not-numeric"),
    pytest.param("https://example.com:", id="port-empty"),
    pytest.param("https://example.com/", id="trailing-slash"),
    pytest.param("https://example.com/path", id="path"),
    pytest.param("https://example.com?q", id="query"),
    pytest.param("https://example.com#f", id="fragment"),
    pytest.param("https://user@example.com", id="userinfo"),
    pytest.param("https://user:pw@example.com", id="userinfo-password"),
    pytest.param("https://example.com\\", id="backslash"),
    pytest.param("example.com", id="missing-scheme"),
    pytest.param("://example.com", id="empty-scheme"),
    pytest.param("1https://example.com", id="scheme-starts-with-digit"),
    pytest.param("https://", id="missing-host"),
    pytest.param("https://:8080", id="empty-host-with-port"),
    pytest.param("https://[0:0:0:0:0:0:0:1]", id="ipv6-not-compressed"),
    pytest.param("https://[::0001]", id="ipv6-leading-zeros"),
    pytest.param("https://[::FFFF:102:304]", id="ipv6-uppercase"),
    pytest.param("https://[::ffff:1.2.3.4]", id="ipv6-dotted-quad"),
    pytest.param("https://[::1%eth0]", id="ipv6-zone"),
    pytest.param("https://[::1", id="ipv6-unterminated"),
    pytest.param("https://[::1]x", id="ipv6-junk-after"),
    pytest.param("https://[::1]:443", id="ipv6-default-port"),
    pytest.param("https://[1::2::3]", id="ipv6-invalid"),
    pytest.param("http://127.000.0.1", id="ipv4-leading-zeros"),
    pytest.param("http://01.2.3.4", id="ipv4-leading-zero-first"),
    pytest.param("http://256.1.1.1", id="ipv4-octet-too-big"),
    pytest.param("http://1.2.3", id="ipv4-three-parts"),
    pytest.param("http://1.2.3.4.5", id="ipv4-five-parts"),
    pytest.param("http://1.2.3.4.", id="ipv4-trailing-dot"),
    pytest.param("http://2130706433", id="ipv4-single-number"),
    pytest.param("https://example.0x1", id="ends-in-hex-number"),
    pytest.param("https://example.0x", id="ends-in-bare-0x"),
    pytest.param("https://example.123", id="ends-in-decimal-number"),
    pytest.param(f"https://{LABEL_64}.com", id="label-64"),
    pytest.param(f"https://{HOST_254}", id="host-254"),
    pytest.param("a" * 50 + "://" + HOST_253, id="longer-than-300"),
    pytest.param("https://example..com", id="empty-label"),
    pytest.param("https://example.com..", id="two-trailing-dots"),
    pytest.param("https://.example.com", id="leading-dot"),
    pytest.param("https://-example.com", id="label-leading-hyphen"),
    pytest.param("https://example-.com", id="label-trailing-hyphen"),
    pytest.param("https://bücher.example", id="non-ascii"),
    pytest.param("https://exa\u00admple.com", id="soft-hyphen"),
    pytest.param("https://example.com\r\n", id="crlf"),
    pytest.param("https://exa\x00mple.com", id="nul"),
    pytest.param("https://example.com\t", id="tab"),
    pytest.param("https://example.com\x7f", id="del"),
    pytest.param(" https://example.com", id="leading-space"),
    pytest.param("https://exa mple.com", id="inner-space"),
    pytest.param("https://a.com, https://b.com", id="comma-list"),
    pytest.param("https://a.com https://b.com", id="space-list"),
    pytest.param("https://exa%6dple.com", id="percent-encoded"),
    pytest.param("https://*.example.com", id="wildcard-pattern"),
    pytest.param("*", id="star"),
]


@pytest.mark.parametrize("value", ACCEPTED)
def test_is_serialized_origin_accepts(value):
    assert is_serialized_origin(value) is True


@pytest.mark.parametrize("value", REJECTED)
def test_is_serialized_origin_rejects(value):
    assert is_serialized_origin(value) is False


# --------------------------------------------------------------------------
# normalize_origin (config side: lenient in case, strict in shape)
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        pytest.param("https://example.com", "https://example.com", id="already-normal"),
        pytest.param("HTTPS://App.Example.COM:443", "https://app.example.com", id="case-and-default-port"),
        pytest.param("http://Example.com:80", "http://example.com", id="http-default-port"),
        pytest.param("http://example.com:8080", "http://example.com:8080", id="other-port-kept"),
        pytest.param("https://example.com:0443", "https://example.com", id="leading-zero-default-port"),
        pytest.param("ws://example.com:80", "ws://example.com", id="ws-default-port"),
        pytest.param("wss://example.com:443", "wss://example.com", id="wss-default-port"),
        pytest.param("https://[0:0:0:0:0:0:0:1]:443", "https://[::1]", id="ipv6-compressed"),
        pytest.param("https://[::FFFF:1.2.3.4]", "https://[::ffff:102:304]", id="ipv6-mapped"),
        pytest.param("https://bücher.example", "https://xn--bcher-kva.example", id="idn-to-punycode"),
        pytest.param("https://example.com.", "https://example.com.", id="trailing-dot-kept"),
        pytest.param("http://127.0.0.1:5000", "http://127.0.0.1:5000", id="ipv4"),
    ],
)
def test_normalize_origin(raw, normalized):
    assert normalize_origin(raw) == normalized
    assert is_serialized_origin(normalized) is True


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param("", "origin is empty or has surrounding whitespace", id="empty"),
        pytest.param(" https://example.com", "origin is empty or has surrounding whitespace", id="leading-space"),
        pytest.param("https://exa mple.com", "origin contains control characters or spaces", id="inner-space"),
        pytest.param("https://example.com\x00x", "origin contains control characters or spaces", id="nul"),
        pytest.param(
            "https://example.com/",
            'not a valid origin: an origin has no path (found \'/\') (did you mean "https://example.com"?)',
            id="trailing-slash-hint",
        ),
        pytest.param(
            "https://example.com/app/",
            'not a valid origin: an origin has no path (found \'/\') (did you mean "https://example.com"?)',
            id="path-hint",
        ),
        pytest.param(
            "https://user@example.com", "not a valid origin: an origin has no userinfo (found '@')", id="userinfo"
        ),
        pytest.param(
            "https://example.com?x=1", "not a valid origin: an origin has no query (found '?')", id="query"
        ),
        pytest.param(
            "example.com", "not a valid origin: missing scheme (expected scheme://host[:port])", id="no-scheme"
        ),
        pytest.param("https://example.com:99999", "not a valid origin: port out of range", id="port-range"),
        pytest.param("https://example.com:x", "not a valid origin: port is not a number", id="port-text"),
        pytest.param("https://1.2.3", "not a valid origin: not a valid IPv4 address", id="bad-ipv4"),
        pytest.param("https://example.0x1", "not a valid origin: not a valid IPv4 address", id="ends-in-hex"),
        pytest.param("https://[::1", "not a valid origin: unterminated IPv6 literal", id="ipv6-unterminated"),
        pytest.param(
            "https://[fe80::1%eth0]",
            "not a valid origin: IPv6 zone identifiers are not allowed in origins",
            id="ipv6-zone",
        ),
        pytest.param(
            f"https://{LABEL_64}.com", f"not a valid origin: invalid host label {LABEL_64!r}", id="label-64"
        ),
        pytest.param(
            f"https://{HOST_254}",
            "not a valid origin: host name is empty or longer than 253 characters",
            id="host-254",
        ),
    ],
)
def test_normalize_origin_errors(raw, message):
    with pytest.raises(PatternError) as info:
        normalize_origin(raw)
    assert str(info.value) == message


# UTS #46 non-transitional processing, as the WHATWG URL standard (and so a
# browser's Origin header) does; Python's "idna" codec is IDNA 2003, which
# maps faß.de to fass.de, another domain.  Expected values checked against
# Node's WHATWG URL parser (new URL("https://" + host).host).
@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        pytest.param("https://faß.de", "https://xn--fa-hia.de", id="sharp-s-kept"),
        pytest.param("HTTPS://FAß.DE:443", "https://xn--fa-hia.de", id="sharp-s-uppercase-default-port"),
        pytest.param("https://faß.de.", "https://xn--fa-hia.de.", id="sharp-s-trailing-dot"),
        pytest.param("https://straße.example:8443", "https://xn--strae-oqa.example:8443", id="sharp-s-port"),
        pytest.param("https://faß\u3002de", "https://xn--fa-hia.de", id="ideographic-full-stop"),
        pytest.param("https://a_b.faß.de", "https://a_b.xn--fa-hia.de", id="underscore-label-kept"),
        pytest.param("https://ελλάς.gr", "https://xn--hxarsa0b.gr", id="final-sigma-kept"),
        pytest.param("https://ß.xn--bcher-kva.example", "https://xn--zca.xn--bcher-kva.example",
                     id="unicode-and-punycode-labels"),
        # Valid in UTS #46 though not in IDNA 2008: browsers send these.
        pytest.param("https://☃.net", "https://xn--n3h.net", id="symbol-uts46-valid"),
        pytest.param("https://XN--N3H.NET", "https://xn--n3h.net", id="symbol-punycode-uppercase"),
    ],
)
def test_normalize_origin_uts46(raw, normalized):
    assert normalize_origin(raw) == normalized
    assert is_serialized_origin(normalized) is True


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        pytest.param("https://xn--abc.de", "has an xn-- label that is not valid (UTS #46: ", id="bad-punycode"),
        pytest.param("https://xn--.de", "has an xn-- label that is not valid", id="empty-punycode"),
        pytest.param("https://xn--ss-.de", "an xn-- label must encode non-ASCII characters", id="ascii-punycode"),
        pytest.param("https://xn--a-ecp.ru", "has an xn-- label that is not valid", id="punycode-of-mapped-label"),
        pytest.param("https://a\u200db.de", "is not a valid internationalised domain name (UTS #46: ",
                     id="joiner-out-of-context"),
        pytest.param("https://\u0301a.de", "if a browser accepts it, write the xn-- form it sends",
                     id="leading-combining-mark"),
    ],
)
def test_normalize_origin_uts46_errors(raw, fragment):
    with pytest.raises(PatternError) as info:
        normalize_origin(raw)
    assert str(info.value).startswith("not a valid origin: host ")
    assert fragment in str(info.value)


def test_wildcard_over_an_idn_is_normalised_by_uts46():
    assert parse_pattern("https://*.Faß.de") == Pattern("wildcard", "https://*.xn--fa-hia.de")
    assert compile_origins((parse_pattern("https://*.faß.de"),)).matches("https://shop.xn--fa-hia.de")
    assert not compile_origins((parse_pattern("https://*.faß.de"),)).matches("https://shop.fass.de")


@pytest.mark.parametrize(
    ("raw", "host"),
    [
        pytest.param("API.Example.com.", "api.example.com", id="case-and-trailing-dot"),
        pytest.param("Bücher.Example", "xn--bcher-kva.example", id="idn"),
        pytest.param("faß.de", "xn--fa-hia.de", id="idn-sharp-s"),
        pytest.param("XN--FA-HIA.DE.", "xn--fa-hia.de", id="punycode"),
        pytest.param("[::1]", "[::1]", id="ipv6"),
    ],
)
def test_normalize_host(raw, host):
    assert normalize_host(raw) == host


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param("xn--abc.de", "not a valid host name: host 'xn--abc.de' has an xn-- label", id="bad-punycode"),
        pytest.param("*.example.com", "not a valid host name: invalid host label '*'", id="wildcard"),
        pytest.param("[zz]", "not a valid host: not a valid IPv6 address", id="bad-ipv6"),
    ],
)
def test_normalize_host_errors(raw, message):
    with pytest.raises(PatternError) as info:
        normalize_host(raw)
    assert str(info.value).startswith(message)


# --------------------------------------------------------------------------
# parse_pattern
# --------------------------------------------------------------------------

DOT_WARNING = r"regex has an unescaped '.', which matches any character; write '\.' for a literal dot"


@pytest.mark.parametrize(
    ("raw", "pattern"),
    [
        pytest.param("*", Pattern("any", "*"), id="any"),
        pytest.param("null", Pattern("null", "null"), id="null"),
        pytest.param("HTTPS://App.Example.com:443", Pattern("exact", "https://app.example.com"), id="exact"),
        pytest.param("https://*.Example.com:443", Pattern("wildcard", "https://*.example.com"), id="wildcard"),
        pytest.param(
            "https://*.example.com:8443", Pattern("wildcard", "https://*.example.com:8443"), id="wildcard-port"
        ),
        pytest.param("https://*.app.example.co.uk", Pattern("wildcard", "https://*.app.example.co.uk"),
                     id="wildcard-under-registrable-domain"),
        pytest.param(r"re:^https://a\.example\.com$", Pattern("regex", r"^https://a\.example\.com$"), id="regex"),
        pytest.param(
            "re:^https://a.example.com$",
            Pattern("regex", "^https://a.example.com$", (DOT_WARNING,)),
            id="regex-unescaped-dot-warns",
        ),
        pytest.param(
            r"re:^https://[a.z]+\.example\.com$",
            Pattern("regex", r"^https://[a.z]+\.example\.com$"),
            id="regex-dot-in-class-ok",
        ),
    ],
)
def test_parse_pattern(raw, pattern):
    assert parse_pattern(raw) == pattern


PUBLIC_SUFFIX = '"*.{0}" would allow every site under the public suffix "{0}"; list your own domain, e.g. https://*.example.com'
NOT_LEFTMOST = (
    'a wildcard may only stand as the whole leftmost label, as in "https://*.example.com"; '
    "use a re: pattern for anything else"
)
UNANCHORED = (
    "re: patterns must be anchored with ^ at the start and $ at the end "
    "(unanchored regexes are how https://example.com.evil.com slipped through other gateways)"
)
RE2_PREFIX = "invalid regex (RE2 syntax, no backreferences or lookaround): "


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        pytest.param("https://*.com", PUBLIC_SUFFIX.format("com"), id="star-dot-com"),
        pytest.param("https://*.co.uk", PUBLIC_SUFFIX.format("co.uk"), id="star-co-uk"),
        pytest.param("https://*.github.io", PUBLIC_SUFFIX.format("github.io"), id="star-github-io-private-psl"),
        pytest.param("HTTPS://*.COM", PUBLIC_SUFFIX.format("com"), id="star-com-uppercase"),
        pytest.param("https://*.internal", PUBLIC_SUFFIX.format("internal"), id="single-label"),
        pytest.param("https://a.*.example.com", NOT_LEFTMOST, id="wildcard-middle"),
        pytest.param("https://*example.com", NOT_LEFTMOST, id="wildcard-partial-label"),
        pytest.param("https://app*.example.com", NOT_LEFTMOST, id="wildcard-label-suffix"),
        pytest.param("https://*.*.example.com", NOT_LEFTMOST, id="two-wildcards"),
        pytest.param("https://*", NOT_LEFTMOST, id="wildcard-whole-host"),
        pytest.param("*.example.com", 'wildcard patterns need a scheme, e.g. "https://*.example.com"', id="no-scheme"),
        pytest.param("https://*.1.2.3.4", "a subdomain wildcard needs a domain name, not an IP address", id="ipv4"),
        pytest.param("https://*.[::1]", "a subdomain wildcard needs a domain name, not an IP address", id="ipv6"),
        pytest.param("NULL", 'write the null origin as lowercase "null"', id="null-uppercase"),
        pytest.param(r"re:https://a\.com$", UNANCHORED, id="regex-no-caret"),
        pytest.param(r"re:^https://a\.com", UNANCHORED, id="regex-no-dollar"),
        pytest.param(r"re:https://a\.com", UNANCHORED, id="regex-no-anchors"),
        pytest.param(r"re:^https://a\.com\$", UNANCHORED, id="regex-escaped-dollar"),
        pytest.param("re:^https://(?=a).*$", RE2_PREFIX + "invalid perl operator: (?=", id="regex-lookahead"),
        pytest.param("re:^https://(?!evil).*$", RE2_PREFIX + "invalid perl operator: (?!", id="regex-neg-lookahead"),
        pytest.param("re:^https://(?<=a)b$", RE2_PREFIX + "invalid perl operator: (?<=", id="regex-lookbehind"),
        pytest.param(r"re:^(a)\1$", RE2_PREFIX + r"invalid escape sequence: \1", id="regex-backreference"),
        pytest.param("re:^https://(a$", RE2_PREFIX + "missing ): ^https://(a$", id="regex-unbalanced"),
        pytest.param("https://example.com/", 'not a valid origin: an origin has no path (found \'/\') '
                     '(did you mean "https://example.com"?)', id="exact-with-slash"),
    ],
)
def test_parse_pattern_errors(raw, message):
    with pytest.raises(PatternError) as info:
        parse_pattern(raw)
    assert str(info.value) == message


def test_parse_pattern_rejects_non_strings():
    with pytest.raises(PatternError) as info:
        parse_pattern(5)  # type: ignore[arg-type]
    assert str(info.value) == "origin patterns must be strings"


# --------------------------------------------------------------------------
# OriginMatcher
# --------------------------------------------------------------------------


def _matcher(*raw: str) -> OriginMatcher:
    return compile_origins(tuple(parse_pattern(r) for r in raw))


MIXED = _matcher(
    "https://app.example.com",
    "https://*.example.org",
    "http://*.example.org:8080",
    r"re:^https://(dev|qa)-[0-9]+\.example\.net$",
    # Anchored as text, but the alternation leaves each branch half-anchored:
    # only a full match keeps "https://one.example.io.evil.com" out.
    r"re:^https://one\.example\.io|https://two\.example\.io$",
)


@pytest.mark.parametrize(
    ("origin", "expected"),
    [
        pytest.param("https://app.example.com", True, id="exact"),
        pytest.param("https://app.example.com:8443", False, id="exact-other-port"),
        pytest.param("http://app.example.com", False, id="exact-other-scheme"),
        pytest.param("https://x.app.example.com", False, id="exact-not-subdomains"),
        pytest.param("https://a.example.org", True, id="wildcard-one-level"),
        pytest.param("https://a.b.c.example.org", True, id="wildcard-multi-level"),
        pytest.param("https://example.org", False, id="wildcard-not-apex"),
        pytest.param("https://barexample.org", False, id="wildcard-dot-boundary"),
        pytest.param("https://a.example.org:8080", False, id="wildcard-port-must-match"),
        pytest.param("http://a.example.org:8080", True, id="wildcard-with-port"),
        pytest.param("http://a.example.org", False, id="wildcard-port-pattern-not-default"),
        pytest.param("https://a.example.org.evil.com", False, id="wildcard-evil-suffix"),
        pytest.param("https://dev-12.example.net", True, id="regex"),
        pytest.param("https://qa-1.example.net", True, id="regex-alternative"),
        pytest.param("https://dev-12.example.net.evil.com", False, id="regex-full-match-end"),
        pytest.param("https://evil.dev-12.example.net", False, id="regex-full-match-start"),
        pytest.param("https://dev-.example.net", False, id="regex-needs-digits"),
        pytest.param("https://one.example.io", True, id="alternation-first"),
        pytest.param("https://two.example.io", True, id="alternation-second"),
        pytest.param("https://one.example.io.evil.com", False, id="alternation-first-branch-full-match"),
        pytest.param("https://evil.com.two.example.io", False, id="alternation-second-branch-full-match"),
        pytest.param("null", False, id="null-not-listed"),
    ],
)
def test_matcher(origin, expected):
    assert MIXED.matches(origin) is expected


def test_matcher_wildcard_needs_a_label():
    # Not a serialized origin, but the matcher itself must not accept an
    # empty label in front of the suffix.
    assert _matcher("https://*.example.com").matches("https://.example.com") is False


def test_matcher_any_does_not_include_null():
    matcher = _matcher("*")
    assert matcher.allow_any is True
    assert matcher.matches("https://anything.test") is True
    assert matcher.matches("null") is False


def test_matcher_null_only_when_listed():
    assert _matcher("null").matches("null") is True
    assert _matcher("re:^.*$").matches("null") is False
    assert _matcher("re:^.*$").matches("https://x.test") is True


def test_matcher_structure_and_allows_nothing():
    matcher = _matcher("https://a.test", "https://a.test", "null", "https://*.b.test:8443")
    assert matcher.exact == frozenset({"https://a.test"})
    assert matcher.wildcards == (("https://", ".b.test:8443"),)
    assert matcher.allow_null is True
    assert matcher.allow_any is False
    assert matcher.allows_nothing is False
    assert compile_origins(()).allows_nothing is True
    assert compile_origins(()).matches("https://a.test") is False


def test_wildcard_under_localhost_is_allowed_and_matches_only_subdomains():
    # Every name under localhost is loopback (RFC 6761): a dev setup's *.localhost is safe.
    pattern = parse_pattern("http://*.localhost:3000")
    assert pattern == Pattern("wildcard", "http://*.localhost:3000")
    matcher = compile_origins((pattern,))
    assert matcher.matches("http://app.localhost:3000")
    assert matcher.matches("http://a.b.localhost:3000")
    assert not matcher.matches("http://localhost:3000")
    assert not matcher.matches("http://app.localhost:3001")
    assert not matcher.matches("http://evillocalhost:3000")


# --------------------------------------------------------------------------
# regex_matches_any: a re: pattern as open as "*"
# --------------------------------------------------------------------------


def test_probe_origins_are_serialized_origins_under_a_reserved_name():
    assert PROBE_ORIGINS == (
        "https://cors-gateway-probe.invalid",
        "http://cors-gateway-probe.invalid",
        "https://cors-gateway-probe.invalid:8443",
    )
    assert all(is_serialized_origin(probe) for probe in PROBE_ORIGINS)


@pytest.mark.parametrize(
    ("raw", "probe"),
    [
        pytest.param("re:^.*$", "https://cors-gateway-probe.invalid", id="dot-star"),
        pytest.param("re:^https?://.+$", "https://cors-gateway-probe.invalid", id="any-http-or-https"),
        pytest.param("re:^http://.*$", "http://cors-gateway-probe.invalid", id="any-http-only"),
        pytest.param("re:^https://[a-z.-]+:[0-9]+$", "https://cors-gateway-probe.invalid:8443", id="any-with-port"),
        pytest.param(r"re:^https://[^:]+$", "https://cors-gateway-probe.invalid", id="any-host-class"),
        pytest.param(r"re:^https://.*(\.example\.com)?$", "https://cors-gateway-probe.invalid", id="optional-domain"),
        pytest.param(r"re:^https://(app\.example\.com|.*)$", "https://cors-gateway-probe.invalid",
                     id="open-alternative"),
        pytest.param(r"re:^https://app\.example\.com|.*$", "https://cors-gateway-probe.invalid",
                     id="half-anchored-alternative"),
    ],
)
def test_regex_matches_any(raw, probe):
    assert regex_matches_any(parse_pattern(raw)) == probe
    # The probe is what the request-time matcher would accept.
    assert compile_origins((parse_pattern(raw),)).matches(probe)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(r"re:^https://(eu|us)\.example\.com$", id="alternation"),
        pytest.param(r"re:^https://.*\.example\.com$", id="any-subdomain"),
        pytest.param(r"re:^https://[a-z0-9-]+\.example\.com(:[0-9]+)?$", id="subdomain-any-port"),
        # Matching is a full match, as on requests: a prefix is not enough.
        pytest.param(r"re:^https://cors-gateway-probe|https://app\.example\.com$", id="prefix-is-not-a-match"),
        pytest.param("*", id="star-is-not-a-regex"),
        pytest.param("https://*.example.com", id="wildcard"),
        pytest.param("https://cors-gateway-probe.invalid", id="exact-probe-is-not-a-regex"),
    ],
)
def test_regex_matches_any_not(raw):
    assert regex_matches_any(parse_pattern(raw)) is None


# Regexes that let in other people's sites, though not every origin.
@pytest.mark.parametrize(
    ("raw", "probe"),
    [
        pytest.param(r"re:^https://[a-z0-9-]+\.(com|net|org|io)$", "https://attacker-site.com", id="any-dot-com"),
        pytest.param(r"re:^https://.+\.[a-z]{2,3}$", "https://attacker-site.com", id="any-short-tld"),
        pytest.param(r"re:^https://[a-z]+\.co\.uk$", "https://attackersite.co.uk", id="any-co-uk-letters-only"),
        pytest.param(r"re:^https://[a-z-]+\.de:[0-9]+$", "https://attacker-site.de:8443", id="any-de-with-port"),
        pytest.param(r"re:^http://[a-z0-9-]+\.io:3000$", "http://attacker-site.io:3000", id="http-literal-port"),
        pytest.param(r"re:^https://.*example\.com$", "https://evilexample.com", id="missing-dot"),
        pytest.param(r"re:^https://[a-z]*example\.com$", "https://evilexample.com", id="missing-dot-class"),
        pytest.param(r"re:^https://.*\.?example\.com$", "https://evilexample.com", id="optional-dot"),
        pytest.param(r"re:^https://[a-z-]*example\.com$", "https://evilexample.com", id="missing-dot-hyphen"),
        pytest.param(r"re:^https://(.*-)?example\.com$", "https://evil-example.com", id="hyphen-prefix"),
        pytest.param(r"re:^https://app\.example\.com.*$", "https://app.example.com.evil-attacker.com",
                     id="open-end"),
        pytest.param(r"re:^https://example\.com[a-z.]*$", "https://example.com.evilattacker.com",
                     id="open-end-letters"),
        pytest.param("re:^https://app.example.com$", "https://app-example.com", id="unescaped-dot"),
        pytest.param(r"re:^https://[a-z]+\.github\.io$", "https://attackersite.github.io", id="under-public-suffix"),
        pytest.param(r"re:^https://.*\.amazonaws\.com$", "https://attacker-site.s3.amazonaws.com",
                     id="over-public-suffixes-below"),
        pytest.param(r"re:^https://.*\.example\.co\.uk(:[0-9]+)?$|^https://.*co\.uk$", "https://attacker-site.co.uk",
                     id="second-branch"),
    ],
)
def test_regex_matches_foreign(raw, probe):
    pattern = parse_pattern(raw)
    assert regex_matches_any(pattern) is None  # not open to every origin: the new probes are needed
    assert regex_matches_foreign(pattern) == probe
    # The probe is an origin a browser may send, and the request-time matcher accepts it.
    assert is_serialized_origin(probe)
    assert compile_origins((pattern,)).matches(probe)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(r"re:^https://([a-z0-9-]+\.)?example\.com$", id="optional-subdomain"),
        pytest.param(r"re:^https://app-[0-9]+\.example\.com$", id="numbered-apps"),
        pytest.param(r"re:^https://.*\.example\.com$", id="any-subdomain"),
        pytest.param(r"re:^https://(.*\.)?example\.com$", id="apex-and-subdomains"),
        pytest.param(r"re:^https://(eu|us)\.example\.com$", id="alternation"),
        pytest.param(r"re:^https://[a-z0-9-]+\.example\.com(:[0-9]+)?$", id="subdomain-any-port"),
        pytest.param(r"re:^https://(www\.)?example\.(com|org)$", id="own-domain-two-tlds"),
        pytest.param(r"re:^https://(eu|us|ap)-[0-9]{1,3}\.example\.org$", id="shipped-example"),
        pytest.param(r"re:^https://[a-z0-9-]+\.example\.co\.uk$", id="subdomain-co-uk"),
        pytest.param(r"re:^https://pr-[0-9]+\.preview\.example\.dev$", id="preview-deployments"),
        pytest.param(r"re:^https://myorg\.github\.io$", id="own-site-under-public-suffix"),
        pytest.param(r"re:^https://[a-z0-9-]+\.amazonaws\.com$", id="one-label-under-amazonaws"),
        pytest.param(r"re:^https?://localhost(:[0-9]+)?$", id="localhost"),
        pytest.param(r"re:^https://example\.com\.?$", id="optional-trailing-dot"),
    ],
)
def test_regex_matches_foreign_not(raw):
    assert regex_matches_foreign(parse_pattern(raw)) is None


@pytest.mark.parametrize(
    ("raw", "found"),
    [
        pytest.param(r"re:^https?://app\.example\.com$", "http://app.example.com", id="https-optional"),
        pytest.param(r"re:^http://(eu|us)\.example\.com$", r"http://(eu|us)\.example\.com", id="http-branch"),
        pytest.param(r"re:^(http|https)://(eu|us)\.example\.com$", r"(http|https)://(eu|us)\.example\.com",
                     id="scheme-group"),
        pytest.param(r"re:^(https://app\.example\.com|http://app\.example\.org)$", "http://app.example.org",
                     id="http-alternative"),
        pytest.param(r"re:^https?://localhost(:[0-9]+)?$|^http://[a-z]+\.example\.com$",
                     r"http://[a-z]+\.example\.com", id="loopback-and-other-branch"),
        pytest.param(r"re:^http://(localhost|evil\.com)$", "http://evil.com", id="loopback-alternative-mixed"),
    ],
)
def test_regex_matches_http(raw, found):
    assert regex_matches_http(parse_pattern(raw)) == found


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(r"re:^https://app\.example\.com$", id="https-only"),
        pytest.param(r"re:^https?://localhost(:[0-9]+)?$", id="localhost"),
        pytest.param(r"re:^http://localhost:3000$", id="localhost-port"),
        pytest.param(r"re:^https?://(localhost|127\.0\.0\.1)(:[0-9]+)?$", id="loopback-names"),
        pytest.param(r"re:^http://\[::1\]:[0-9]+$", id="ipv6-loopback"),
        pytest.param(r"re:^http://[a-z0-9-]+\.localhost(:[0-9]+)?$", id="under-localhost"),
        pytest.param(r"re:^(https://app\.example\.com|http://localhost:3000)$", id="http-only-for-loopback"),
    ],
)
def test_regex_matches_http_not(raw):
    assert regex_matches_http(parse_pattern(raw)) is None


@pytest.mark.parametrize(
    ("host", "below"),
    [
        pytest.param("amazonaws.com", True, id="amazonaws"),
        pytest.param("compute.amazonaws.com", True, id="wildcard-entry-below"),
        pytest.param("appspot.com", True, id="appspot"),
        pytest.param("AmazonAWS.com.", True, id="case-and-trailing-dot"),
        pytest.param("example.com", False, id="ordinary-domain"),
        pytest.param("app.example.co.uk", False, id="ordinary-co-uk"),
        pytest.param("localhost", False, id="localhost"),
    ],
)
def test_public_suffix_below(host, below):
    entry = public_suffix_below(host)
    assert (entry is not None) is below
    if below:
        name = host.lower().rstrip(".")
        assert entry.endswith(f".{name}")  # strictly below


def test_wildcard_host():
    assert wildcard_host(parse_pattern("https://*.Example.com:8443")) == "example.com"
    assert wildcard_host(parse_pattern("http://*.localhost")) == "localhost"
    assert wildcard_host(parse_pattern("https://example.com")) is None


def test_indexed_matching_agrees_with_checking_every_pattern():
    """The suffix index and the combined regex give exactly the per-pattern answers."""
    import itertools

    import re2

    raw = [
        "https://*.example.com", "https://*.example.com:8443", "http://*.example.com", "https://*.b.example.org",
        r"re:^https://app\.example\.net$", r"re:^https://(a|b)\.x\.test$", r"re:^https://pr-[0-9]+\.preview\.x\.dev$",
        r"re:^(?i)HTTPS://CASE\.test$",
    ]
    patterns = tuple(parse_pattern(p) for p in raw)
    matcher = compile_origins(patterns)

    def reference(origin: str) -> bool:
        for p in patterns:
            if p.kind == "wildcard":
                prefix, suffix = p.text.split("://*", 1)
                prefix += "://"
                if len(origin) > len(prefix) + len(suffix) and origin.startswith(prefix) and origin.endswith(suffix):
                    return True
            elif p.kind == "regex" and re2.compile(p.text).fullmatch(origin):
                return True
        return False

    hosts = ["example.com", "a.example.com", "a.b.example.com", "barexample.com", "example.com.evil.com",
             "b.example.org", "x.b.example.org", "app.example.net", "a.x.test", "c.x.test", "pr-12.preview.x.dev",
             "pr-.preview.x.dev", "case.test", "a.example.org"]
    schemes, ports = ["https://", "http://", "wss://"], ["", ":8443", ":80"]
    checked = 0
    for scheme, host, port in itertools.product(schemes, hosts, ports):
        origin = scheme + host + port
        assert matcher.matches(origin) == reference(origin), origin
        checked += 1
    assert checked == 126
    assert matcher.matches("https://a.example.com") and not matcher.matches("https://barexample.com")
    assert matcher.matches("https://case.test")  # an inline flag stays scoped to its own pattern


def test_a_configured_origin_longer_than_a_request_may_be_is_refused():
    # DNS caps a host at 253 characters, so only a long (custom) scheme gets there.
    host = ".".join(["a" * 60, "b" * 60, "c" * 60, "d" * 60]) + ".example"
    scheme = "x" * 47
    assert len(f"{scheme}://{host}") == 301
    with pytest.raises(PatternError, match="longer than 300 characters"):
        normalize_origin(f"{scheme}://{host}")
    assert normalize_origin(f"{scheme[1:]}://{host}") == f"{scheme[1:]}://{host}"  # 300: accepted


def test_a_catastrophic_backtracking_pattern_cannot_stall_a_decision():
    """Origin regexes run on RE2 (linear time).  Python's re needs about 2**40
    steps for this pattern and origin; the decision must come back at once.
    The deadline is a hang detector (a thread join), not a speed measurement."""
    import threading

    from gateway.cache import DecisionCache
    from gateway.config import parse_config
    from gateway.policy import CorsPolicy, Reason

    config = parse_config(
        'upstreams: {app: {url: "http://127.0.0.1:5000"}}\n'
        r'routes: [{path: /, upstream: app, cors: {origins: ["re:^https://(a+)+\\.example\\.com$"]}}]' "\n"
    )
    policy = CorsPolicy("r", config.routes[0].cors, DecisionCache(10))
    evil = "https://" + "a" * 40 + "!.example.com"  # not a serialized origin: refused before any regex
    near = "https://" + "a" * 40 + "b.example.com"  # serialized; the regex fails only at the very end
    answers = {}
    worker = threading.Thread(target=lambda: answers.update(
        evil=policy.actual("GET", [evil]).reason, near=policy.actual("GET", [near]).reason,
        ok=policy.actual("GET", ["https://aaaa.example.com"]).allowed,
    ), daemon=True)
    worker.start()
    worker.join(timeout=10)
    assert not worker.is_alive(), "the origin regex backtracked"
    assert answers == {"evil": Reason.MALFORMED_ORIGIN, "near": Reason.ORIGIN_NOT_ALLOWED, "ok": True}
