"""Shadow mode's browser model: would Chromium accept what the upstream answered?"""

import pytest

from gateway.policy import Kind, allowed_methods_differ, upstream_would_allow

ORIGIN = "https://app.example.com"


@pytest.mark.parametrize(
    "kind, credentials, status, headers, acrm, acrh, expected",
    [
        (Kind.ACTUAL, False, 200, {"access-control-allow-origin": "*"}, "", (), True),
        (Kind.ACTUAL, True, 200, {"access-control-allow-origin": "*"}, "", (), False),
        (Kind.ACTUAL, True, 200, {"access-control-allow-origin": ORIGIN}, "", (), False),  # no ACAC
        (Kind.ACTUAL, True, 200, {"access-control-allow-origin": ORIGIN, "access-control-allow-credentials": "true"},
         "", (), True),
        (Kind.ACTUAL, False, 200, {"access-control-allow-origin": f"{ORIGIN}, {ORIGIN}"}, "", (), False),  # duplicated
        (Kind.ACTUAL, False, 200, {}, "", (), False),
        (Kind.PREFLIGHT, False, 403, {"access-control-allow-origin": ORIGIN}, "PUT", (), False),
        (Kind.PREFLIGHT, False, 200, {"access-control-allow-origin": ORIGIN}, "PUT", (), False),
        (Kind.PREFLIGHT, False, 200, {"access-control-allow-origin": ORIGIN, "access-control-allow-methods": "PUT"},
         "PUT", (), True),
        (Kind.PREFLIGHT, False, 200, {"access-control-allow-origin": ORIGIN, "access-control-allow-methods": "put"},
         "PUT", (), False),  # method names are case-sensitive
        (Kind.PREFLIGHT, False, 200, {"access-control-allow-origin": ORIGIN}, "POST", (), True),  # safelisted
        (Kind.PREFLIGHT, False, 200, {"access-control-allow-origin": ORIGIN, "access-control-allow-headers": "*"},
         "GET", ("authorization",), False),  # "*" never covers Authorization
        (Kind.PREFLIGHT, False, 200, {"access-control-allow-origin": ORIGIN, "access-control-allow-headers": "*"},
         "GET", ("x-custom",), True),
        (Kind.PREFLIGHT, True, 200, {"access-control-allow-origin": ORIGIN, "access-control-allow-credentials": "true",
                                     "access-control-allow-headers": "*"}, "GET", ("x-custom",), False),
        (Kind.PREFLIGHT, False, 200, {"access-control-allow-origin": ORIGIN,
                                      "access-control-allow-headers": "X-Custom, Authorization"},
         "GET", ("authorization, x-custom",), True),
    ],
)
def test_upstream_would_allow(kind, credentials, status, headers, acrm, acrh, expected):
    assert upstream_would_allow(kind, ORIGIN, credentials, status, headers, acrm, acrh) is expected


@pytest.mark.parametrize(
    "ours, acam, credentials, expected",
    [
        (("GET", "PUT"), "GET, PUT", False, False),
        (("GET", "PUT"), "PUT", False, False),  # safelisted methods are never compared
        (("GET", "PUT"), "GET, PUT, OPTIONS", True, False),  # nor OPTIONS (the gateway answers preflights)
        (("GET", "PUT"), "GET, PUT, PATCH, DELETE", True, True),
        (("GET", "PUT", "DELETE"), "PUT", False, True),
        (None, "PUT", False, False),  # any method on our side: only the requested one compares
        (("PUT",), "*", False, False),
        (("PUT",), "*", True, True),  # "*" is a literal method name with credentials
    ],
)
def test_allowed_methods_differ(ours, acam, credentials, expected):
    assert allowed_methods_differ(ours, acam, credentials) is expected
