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
