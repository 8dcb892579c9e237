"""Route matching (gateway/routes.py): prefixes, regexes (gateway/pathregex.py), hosts, order."""

from __future__ import annotations

import re
import textwrap
import unicodedata

import pytest
import re2

from gateway.config import ConfigError, parse_config
from gateway.pathregex import _SPACE_RANGES, PathRegexError, compile_path_regex, translate_path_regex
from gateway.routes import RouteTable, normalize_path


def table(routes_yaml: str) -> RouteTable:
    text = 'upstreams:\n  app: {url: "http://127.0.0.1:5000"}\nroutes:\n' + textwrap.indent(
        textwrap.dedent(routes_yaml), "  "
    )
    return RouteTable(parse_config(text))


def matched(table_: RouteTable, host: str | None, path: str) -> str | None:
    route = table_.match(host, path)
    return None if route is None else route.name


MAIN = table(
    """
    - {name: api, path: /api, upstream: app, cors: {origins: "https://a.test"}}
    - {name: static, path: /static/, upstream: app, cors: {origins: "https://a.test"}}
    - {name: files, path_regex: "^/files/[0-9]+$", upstream: app, cors: {origins: "https://a.test"}}
    - {name: unanchored, path_regex: "/v[0-9]+/items", upstream: app, cors: {origins: "https://a.test"}}
    - {name: admin, path: /, host: Admin.Example.com, upstream: app, cors: {origins: "https://a.test"}}
    """
)


@pytest.mark.parametrize(
    ("host", "path", "expected"),
    [
        # prefix without trailing slash: the path itself and everything below
        pytest.param(None, "/api", "api", id="prefix-exact"),
        pytest.param(None, "/api/", "api", id="prefix-slash"),
        pytest.param(None, "/api/v1/users", "api", id="prefix-below"),
        pytest.param(None, "/apiary", None, id="prefix-segment-boundary"),
        pytest.param(None, "/api2/x", None, id="prefix-segment-boundary-digit"),
        pytest.param(None, "/ap", None, id="shorter-than-prefix"),
        # case-sensitive
        pytest.param(None, "/API", None, id="uppercase-path"),
        pytest.param(None, "/API/users", None, id="uppercase-below"),
        pytest.param(None, "/Api/users", None, id="mixed-case"),
        # prefix with trailing slash: only below it
        pytest.param(None, "/static/", "static", id="slash-prefix-exact"),
        pytest.param(None, "/static/app.css", "static", id="slash-prefix-below"),
        pytest.param(None, "/static", None, id="slash-prefix-without-slash"),
        pytest.param(None, "/staticfiles/x", None, id="slash-prefix-boundary"),
        pytest.param(None, "/STATIC/app.css", None, id="slash-prefix-uppercase"),
        # path_regex is a full match
        pytest.param(None, "/files/123", "files", id="regex-match"),
        pytest.param(None, "/files/123/raw", None, id="regex-no-trailing-extra"),
        pytest.param(None, "/x/files/123", None, id="regex-no-leading-extra"),
        pytest.param(None, "/files/abc", None, id="regex-no-match"),
        pytest.param(None, "/FILES/123", None, id="regex-case-sensitive"),
        pytest.param(None, "/v2/items", "unanchored", id="unanchored-regex-match"),
        pytest.param(None, "/x/v2/items", None, id="unanchored-regex-is-still-full-match-start"),
        pytest.param(None, "/v2/items/9", None, id="unanchored-regex-is-still-full-match-end"),
        # host matching: name only, case-insensitive, port and trailing dot ignored
        pytest.param("admin.example.com", "/anything", "admin", id="host-match"),
        pytest.param("ADMIN.Example.COM:8443", "/anything", "admin", id="host-case-and-port"),
        pytest.param("admin.example.com.", "/anything", "admin", id="host-trailing-dot"),
        pytest.param("other.example.com", "/anything", None, id="host-other"),
        pytest.param(None, "/anything", None, id="host-missing"),
        pytest.param("admin.example.com.evil.test", "/anything", None, id="host-suffix-attack"),
        # first match wins: /api comes before the host route
        pytest.param("admin.example.com", "/api/x", "api", id="earlier-route-wins"),
    ],
)
def test_match(host, path, expected):
    assert matched(MAIN, host, path) == expected


def test_first_match_wins_in_file_order():
    broad_first = table(
        """
        - {name: broad, path: /api, upstream: app}
        - {name: narrow, path: /api/v1, upstream: app}
        """
    )
    narrow_first = table(
        """
        - {name: narrow, path: /api/v1, upstream: app}
        - {name: broad, path: /api, upstream: app}
        """
    )
    assert matched(broad_first, None, "/api/v1/x") == "broad"
    assert matched(narrow_first, None, "/api/v1/x") == "narrow"
    assert matched(narrow_first, None, "/api/v2") == "broad"


def test_case_sensitive_routes_get_their_own_policy():
    t = table(
        """
        - {name: lower, path: /api/, upstream: app, cors: {origins: "https://a.test"}}
        - {name: upper, path: /API/, upstream: app, cors: {origins: "https://b.test"}}
        """
    )
    assert matched(t, None, "/api/x") == "lower"
    assert matched(t, None, "/API/x") == "upper"
    assert t.match(None, "/API/x").policy.decide("GET", ["https://a.test"]).allowed is False
    assert t.match(None, "/api/x").policy.decide("GET", ["https://a.test"]).allowed is True


def test_root_prefix_matches_everything():
    t = table("- {name: all, path: /, upstream: app}\n")
    assert matched(t, None, "/") == "all"
    assert matched(t, "x.test", "/a/b") == "all"


def test_routes_share_one_cache_and_have_a_fallback():
    t = table(
        """
        - {name: a, path: /a, upstream: app}
        - {name: b, path: /b, upstream: app}
        """
    )
    assert t.cache.capacity == 10_000
    assert [r.name for r in t.routes] == ["a", "b"]
    assert [r.mode for r in t.routes] == ["enforce", "enforce"]
    assert t.fallback.name == "__no_route__"


# --------------------------------------------------------------------------
# Non-ASCII paths and path_regex semantics (gateway/pathregex.py): a path the
# upstream (Flask: Werkzeug, Python's re) routes to a narrow route must not
# skip it for a broader one.
# --------------------------------------------------------------------------

ADMIN = table(
    r"""
    - {name: admin-users, path_regex: '/api/admin/users/\d+', upstream: app}
    - {name: files, path_regex: '/files/.*', upstream: app}
    - {name: word, path_regex: '/w/\w+', upstream: app}
    - {name: cafe, path: /café/, upstream: app}
    - {name: api, path: /api/, upstream: app}
    """
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        pytest.param("/api/admin/users/12", "admin-users", id="ascii-digits"),
        pytest.param("/api/admin/users/%D9%A1", "admin-users", id="arabic-indic-digit-escaped"),
        pytest.param("/api/admin/users/١٢", "admin-users", id="arabic-indic-digits-raw"),
        pytest.param("/api/admin/users/%EF%BC%91", "admin-users", id="fullwidth-digit"),
        pytest.param("/api/admin/users/%E0%A5%AC", "admin-users", id="devanagari-digit"),
        pytest.param("/api/admin/users/%C2%B2", "api", id="superscript-two-is-no-decimal"),  # int('²') fails
        pytest.param("/api/admin/users/x", "api", id="letter"),
        pytest.param("/caf%C3%A9/menu", "cafe", id="non-ascii-prefix-escaped"),
        pytest.param("/café/menu", "cafe", id="non-ascii-prefix-raw"),
        pytest.param("/w/%C3%A9t%C3%A9", "word", id="word-accented"),
        pytest.param("/w/stra%C3%9Fe", "word", id="word-eszett"),
        pytest.param("/w/%E4%B8%AD%E6%96%87", "word", id="word-cjk"),
        pytest.param("/w/%D9%A1_x", "word", id="word-digit-underscore"),
        pytest.param("/w/a%CC%81", None, id="combining-mark-is-no-word-character"),  # as in Python's re
    ],
)
def test_decoded_paths_take_the_route_the_upstream_serves(raw, expected):
    path = normalize_path(raw)
    assert path is not None
    assert matched(ADMIN, None, path) == expected
    # The reference: Python's re on the path Werkzeug routes on.
    if expected == "admin-users":
        assert re.fullmatch(r"/api/admin/users/\d+", path)
        int(path.rsplit("/", 1)[1])  # and Werkzeug's int converter takes it


def test_dot_matches_newline():
    # Newlines never reach matching (normalize_path refuses them), but a route regex
    # is not weaker for it: "/files/.*" covers every path below /files/.
    assert matched(ADMIN, None, "/files/\nsecret") == "files"
    assert matched(ADMIN, None, "/files/a\r\n\x85\u2028b") == "files"
    assert normalize_path("/files/%0Asecret") is None


# Regexes checked against Python's re (re.DOTALL: "." is any character here).
REGEXES = [
    r"\d+", r"\D+", r"\w+", r"\W+", r"\s+", r"\S+", r"[\d]+", r"[^\d]+", r"[\D]+", r"[\w.-]+", r"[^\w]+",
    r"[\s]+", r"[^\s/]+", r"[\S]+", r"[^\S]+", r"[a\d_]+", r".+", r"a.b", r"[^/]+", r"(?i)\w+", r"\d{2}\.\d+",
    r"[\d\s]+", r"x\Z", r"\\d", r"[\\d]+", r"\Q\d\E", r"\p{Greek}+", r"[\p{Nd}x]+",
]
SAMPLES = [
    "0", "9", "١", "٢٣", "۳", "१", "１", "߀", "𝟘", "²", "Ⅻ", "½", "a", "Z", "é", "ß", "Ω", "中", "文字", "ｱ", "_", "-",
    ".", "/", " ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u1680", "\u2007", "\u2028",
    "\u2029", "\u202f", "\u3000", "\u180e", "\u200b", "\ufeff", "a\u0301", "\u0301", "\x00", "\x7f", "\ud7ff",
    "\U0010ffff", "\ufffd", "x", "ax", "a\nb", "aéb", "12.5", "١٢.٥", "d", "\\d", "\\", "αβγ", "ab1", "a b",
    "..", "1x", "\u00aa", "\u00b5", "\u02b0", "\u2160", "\u3007", "\U00010107",
]


@pytest.mark.parametrize("regex", REGEXES)
def test_path_regex_accepts_what_python_re_accepts(regex):
    compiled = compile_path_regex(regex)
    python = re.compile(regex.replace(r"\Q\d\E", r"\\d").replace(r"\p{Greek}", "[α-ωΑ-Ω]").replace(r"\p{Nd}", r"\d"),
                        re.DOTALL)
    for sample in SAMPLES:
        assert (compiled.fullmatch(sample) is not None) == (python.fullmatch(sample) is not None), (regex, sample)


@pytest.mark.parametrize(("python_class", "translated"), [(r"\d", r"\d"), (r"\w", r"\w"), (r"\s", r"\s"),
                                                          (r"\D", r"\D"), (r"\W", r"\W"), (r"\S", r"\S")])
def test_unicode_classes_agree_on_the_bmp(python_class, translated):
    # Every assigned BMP character (RE2's tables may be newer than this Python's:
    # characters unassigned here are skipped).
    compiled = compile_path_regex(f"{translated}")
    python = re.compile(python_class)
    for code in range(0x10000):
        char = chr(code)
        if 0xD800 <= code <= 0xDFFF or unicodedata.category(char) == "Cn":
            continue
        assert (compiled.fullmatch(char) is not None) == (python.fullmatch(char) is not None), hex(code)


def test_space_class_is_pythons_isspace():
    spaces = [code for code in range(0x110000) if chr(code).isspace()]
    listed = [code for lo, hi in _SPACE_RANGES for code in range(lo, hi + 1)]
    assert listed == spaces


def test_plain_re2_would_have_missed_them():
    # Why the translation exists: RE2's defaults are ASCII-only and "." stops at "\n".
    quiet = re2.Options()
    quiet.log_errors = False
    assert re2.compile(r"\d+", options=quiet).fullmatch("١") is None
    assert re2.compile(r"\w+", options=quiet).fullmatch("é") is None
    assert re2.compile(r".*", options=quiet).fullmatch("\n") is None
    assert compile_path_regex(r"\d+").fullmatch("١") is not None
    assert compile_path_regex(r"\w+").fullmatch("é") is not None
    assert compile_path_regex(r".*").fullmatch("\n") is not None


def test_translation_text():
    assert translate_path_regex(r"/users/\d+") == r"/users/\p{Nd}+"
    assert translate_path_regex(r"/[\w.-]+") == r"/[\p{L}\p{N}_.-]+"
    assert translate_path_regex(r"/\W") == r"/[^\p{L}\p{N}_]"
    assert translate_path_regex(r"\\d") == r"\\d"  # an escaped backslash, then "d"
    assert translate_path_regex(r"\Q\d\E\d") == r"\Q\d\E\p{Nd}"
    assert translate_path_regex(r"[]\d]") == r"[]\p{Nd}]"  # "]" first in a class is literal
    assert translate_path_regex("/static/[a-z]+") == "/static/[a-z]+"


@pytest.mark.parametrize(
    ("regex", "message"),
    [
        (r"/a\b", r"\b is refused: RE2's word boundary is ASCII-only"),
        (r"/a\Bb", r"\B is refused"),
        (r"/[\W/]+", r"\W inside [...] is refused"),
        (r"/[^\W]+", r"\W inside [...] is refused"),
        (r"/[[:alpha:]]+", "[:alpha:] is refused: POSIX classes are ASCII-only in RE2"),
        (r"/[x[:^digit:]]+", "[:digit:] is refused"),
        (r"/\C", r"\C is refused"),
        (r"/[\b]", r"\b inside [...] is refused"),
    ],
)
def test_untranslatable_constructs_are_refused_with_what_to_write(regex, message):
    with pytest.raises(PathRegexError, match=re.escape(message)):
        compile_path_regex(regex)
    with pytest.raises(ConfigError) as info:
        table(f"- {{path_regex: '{regex}', upstream: app}}\n")
    assert f"routes.0.path_regex: invalid regex (RE2 syntax): {message}" in str(info.value)


def test_path_regex_errors_name_the_authors_text():
    with pytest.raises(ConfigError) as info:
        table(r"- {path_regex: '/[\d', upstream: app}" + "\n")
    assert r"routes.0.path_regex: invalid regex (RE2 syntax): missing ]: [\d" in str(info.value)
    assert isinstance(PathRegexError("x"), ValueError)
