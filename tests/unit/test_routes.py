"""Route matching (gateway/routes.py): prefixes, regexes, hosts, order."""

from __future__ import annotations

import textwrap

import pytest

from gateway.config import parse_config
from gateway.routes import RouteTable


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
