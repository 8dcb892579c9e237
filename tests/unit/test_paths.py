"""normalize_path: routes are matched on the path as the upstream (Flask) reads it."""

import pytest

from gateway.routes import normalize_path


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("/api/x", "/api/x"),
        ("/", "/"),
        ("/api/x.json", "/api/x.json"),
        ("/api/.well-known", "/api/.well-known"),
        ("/%61pi/x", "/api/x"),  # unreserved characters decoded, as Flask would
        ("/%41PI/x", "/API/x"),
        ("/api/%7Euser", "/api/~user"),
        ("/api/a%20b", "/api/a b"),  # every escape decoded, as Flask decodes the path
        ("/api/%25", "/api/%"),
        ("/public%2fapi", "/public/api"),  # Flask routes %2F as "/": so do we
        ("/public%2Fapi/x", "/public/api/x"),
        ("//api//x", "/api/x"),
        ("/api/x/", "/api/x/"),
        ("/public/../api/x", None),
        ("/public/./x", None),
        ("/public/..", None),
        ("/public/%2e%2e/api/x", None),
        ("/public/%2E./api/x", None),
        ("/public/.%2e/api/x", None),
        ("/public%5capi", None),
        ("/public\\api", None),
        ("*", None),
        ("api/x", None),
    ],
)
def test_normalize_path(raw, expected):
    assert normalize_path(raw) == expected


# --------------------------------------------------------------------------
# Decoded as the upstream decodes it: percent-escapes to bytes, then strict
# UTF-8 (gunicorn's PATH_INFO is latin-1 of the bytes, Werkzeug re-decodes
# them as UTF-8).  ``raw`` is what aiohttp gives: the target's bytes decoded
# as UTF-8 with surrogateescape.
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw, expected",
    [
        pytest.param("/caf%C3%A9/", "/café/", id="utf8-escapes"),
        pytest.param("/caf%c3%a9/x", "/café/x", id="utf8-escapes-lowercase"),
        pytest.param("/café/", "/café/", id="raw-utf8"),
        pytest.param("/caf%C3%A9/é", "/café/é", id="raw-and-escaped-utf8"),
        pytest.param("/users/%D9%A1", "/users/١", id="arabic-indic-digit"),
        pytest.param("/users/%EF%BC%91", "/users/１", id="fullwidth-digit"),
        pytest.param("/%E4%B8%AD%E6%96%87", "/中文", id="cjk"),
        pytest.param("/%F0%9F%98%80", "/\U0001F600", id="four-byte-utf8"),
        pytest.param("/a%C2%85b", "/a\x85b", id="nel-is-not-a-c0-control"),
        pytest.param("/a%E2%80%A8b", "/a\u2028b", id="line-separator-passes"),
        pytest.param("/a%23b", "/a#b", id="escaped-hash-is-a-path-character"),
        pytest.param("/a%3Fb", "/a?b", id="escaped-question-mark"),
        pytest.param("/a%zz", "/a%zz", id="malformed-escape-kept-like-unquote"),
        pytest.param("/a%4", "/a%4", id="truncated-escape-kept"),
        pytest.param("/a%2F%2Fb", "/a/b", id="escaped-slashes-merged"),
    ],
)
def test_percent_escapes_are_decoded_as_utf8(raw, expected):
    assert normalize_path(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param("/caf%E9/", id="latin1-byte"),
        pytest.param("/caf\udce9/", id="raw-latin1-byte"),  # aiohttp: the byte 0xE9 as surrogateescape
        pytest.param("/a%C3", id="truncated-sequence"),
        pytest.param("/a%C3%28", id="bad-continuation"),
        pytest.param("/a%C0%AF", id="overlong-slash"),
        pytest.param("/a%ED%A0%80", id="encoded-surrogate"),
        pytest.param("/a%F4%90%80%80", id="above-u10ffff"),
        pytest.param("/a%FF", id="ff"),
        pytest.param("/a%80", id="lone-continuation"),
        pytest.param("/a\ud800", id="lone-surrogate-not-from-a-byte"),
    ],
)
def test_invalid_utf8_is_refused(raw):
    assert normalize_path(raw) is None


@pytest.mark.parametrize("code", [*range(0x20), 0x7F])
def test_control_characters_are_refused(code):
    assert normalize_path(f"/a%{code:02X}b") is None
    assert normalize_path(f"/a%{code:02x}b") is None
    assert normalize_path(f"/a{chr(code)}b") is None  # raw, had the HTTP parser let it through


@pytest.mark.parametrize(
    "raw",
    ["/a#b", "/#", "/a/#/../b", "/a%2F#", "/caf%C3%A9#x"],
)
def test_raw_hash_is_refused(raw):
    # gunicorn and most servers cut the path at "#": the upstream would route on less than was sent.
    assert normalize_path(raw) is None


@pytest.mark.parametrize("raw", ["/%2e%2e/x", "/a/%2E/b", "/a/%2e", "/caf%C3%A9/../x", "/a%5Cb", "/a%5cb"])
def test_escaped_dot_segments_and_backslashes_still_refused(raw):
    assert normalize_path(raw) is None


@pytest.mark.parametrize("raw", ["/api/v1/users/12345/profile", "/", "/static/app.css", "/a-b_c~d!$&'()*+,;=:@"])
def test_plain_ascii_paths_take_the_fast_path(raw):
    # Returned as is (no copy): nothing to decode, merge or refuse.
    assert normalize_path(raw) is raw
