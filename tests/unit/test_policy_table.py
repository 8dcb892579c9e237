"""Table-driven tests of the CORS policy engine (gateway/policy.py).

Every case names a policy (built from a small YAML ``cors`` block through
``parse_config``, so the config's normalisation is part of what is tested),
one request (method, raw Origin lines, ACRM, ACRH lines, ACRPN lines), and the
exact decision: kind, allowed, reason, the complete header tuple, the Vary
tokens and the status.
"""

from __future__ import annotations

import functools

import pytest
import yaml

from gateway.cache import DecisionCache
from gateway.config import CorsSettings, parse_config
from gateway.policy import CorsPolicy, Kind, Reason

ACAO = "Access-Control-Allow-Origin"
ACAC = "Access-Control-Allow-Credentials"
ACAM = "Access-Control-Allow-Methods"
ACAH = "Access-Control-Allow-Headers"
ACEH = "Access-Control-Expose-Headers"
ACMA = "Access-Control-Max-Age"
ACAPN = "Access-Control-Allow-Private-Network"

V_ORIGIN = ("Origin",)
V_PREFLIGHT = ("Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers")
V_PREFLIGHT_PNA = V_PREFLIGHT + ("Access-Control-Request-Private-Network",)

DEFAULT_ACAM = "GET, HEAD, POST, PUT, PATCH, DELETE"

APP = "https://app.example.com"

# --------------------------------------------------------------------------
# The policies under test (YAML ``cors`` blocks)
# --------------------------------------------------------------------------

POLICIES: dict[str, dict] = {
    # Exact origins, one written in upper case with the default port.
    "exact": {
        "origins": [APP, "http://localhost:3000", "HTTPS://Admin.Example.COM:443"],
        "methods": ["GET", "POST", "PUT", "PATCH"],
        "allow_headers": ["Content-Type", "X-Request-Id"],
        "expose_headers": ["X-Total-Count", "X-Page"],
        "max_age": 600,
    },
    # Credentials: origin reflected, ACAC true, allow_headers "*" echoes names.
    "creds": {
        "origins": [APP],
        "supports_credentials": True,
        "methods": ["GET", "PUT"],
        "allow_headers": "*",
        "expose_headers": ["X-Total-Count"],
        "max_age": 7200,
    },
    # Subdomain wildcard, everything else left at the defaults.
    "wild": {"origins": ["https://*.example.com"]},
    "wild_port": {"origins": ["https://*.example.com:8443"], "methods": ["GET"]},
    "regex": {"origins": [r"re:^https://(app|admin)\.example\.com$"], "methods": ["GET"]},
    # Anchored as text; the alternation makes a prefix/suffix search unsafe.
    "regex_alt": {"origins": [r"re:^https://app\.example\.com|https://admin\.example\.com$"], "methods": ["GET"]},
    # A regex that matches any string: only the serialized-origin gate stands
    # between it and reflecting garbage.
    "regex_all": {"origins": ["re:^.*$"], "methods": ["GET"]},
    # Public route: any origin, no credentials.
    "public": {
        "origins": "*",
        "methods": "*",
        "allow_headers": "*",
        "expose_headers": "*",
        "max_age": 0,
    },
    "null_listed": {"origins": ["null", APP], "methods": ["GET"]},
    "pna": {
        "origins": [APP],
        "methods": ["GET"],
        "allow_headers": ["X-Token"],
        "supports_credentials": True,
        "allow_private_network": True,
    },
    # "exact" answering refused preflights with a plain 403.
    "plain": {
        "origins": [APP],
        "methods": ["GET", "POST", "PUT", "PATCH"],
        "allow_headers": ["Content-Type", "X-Request-Id"],
        "refused_preflight": "plain_403",
    },
    # No method at all: Fetch would take the request's own method for a missing list, so no ok answer.
    "no_methods": {"origins": [APP], "methods": []},
    # methods "*" with credentials: the requested method is echoed, never "*".
    "any_method_creds": {
        "origins": [APP],
        "methods": "*",
        "supports_credentials": True,
        "allow_headers": ["X-Token"],
    },
}


@functools.cache
def settings_for(name: str) -> CorsSettings:
    doc = {
        "upstreams": {"app": {"url": "http://127.0.0.1:5000"}},
        "routes": [{"name": name, "path": "/", "upstream": "app", "cors": POLICIES[name]}],
    }
    config = parse_config(yaml.safe_dump(doc))
    return config.routes[0].cors


# --------------------------------------------------------------------------
# Requests and expected decisions
# --------------------------------------------------------------------------


def _lines(origin) -> list[str]:
    if origin is None:
        return []
    return [origin] if isinstance(origin, str) else list(origin)


def get(origin, method: str = "GET") -> dict:
    return {"method": method, "origins": _lines(origin)}


def pf(origin, acrm="PUT", acrh=(), acrpn=()) -> dict:
    acrm_lines = [acrm] if isinstance(acrm, str) else list(acrm)
    acrh_lines = [acrh] if isinstance(acrh, str) else list(acrh)
    acrpn_lines = [acrpn] if isinstance(acrpn, str) else list(acrpn)
    return {"method": "OPTIONS", "origins": _lines(origin), "acrm": acrm_lines, "acrh": acrh_lines, "acrpn": acrpn_lines}


def ok_actual(*headers, vary=V_ORIGIN):
    return (Kind.ACTUAL, True, None, tuple(headers), vary, 0)


def no_actual(reason):
    return (Kind.ACTUAL, False, reason, (), V_ORIGIN, 403)


def ok_preflight(*headers, vary=V_PREFLIGHT):
    return (Kind.PREFLIGHT, True, None, tuple(headers), vary, 204)


def no_preflight(reason, vary=V_PREFLIGHT):
    return (Kind.PREFLIGHT, False, reason, (), vary, 403)


def named(reason, *headers, vary=V_PREFLIGHT):
    """``refused_preflight: name_cause``: 200 with the origin and the route's lists, which leave out what was
    asked for, so the browser refuses and names it."""
    return (Kind.PREFLIGHT, False, reason, tuple(headers), vary, 200)


def not_cors(*headers, vary=V_ORIGIN):
    return (Kind.NON_CORS, None, None, tuple(headers), vary, 0)


MALFORMED = Reason.MALFORMED_ORIGIN
NOT_ALLOWED = Reason.ORIGIN_NOT_ALLOWED
BAD_METHOD = Reason.METHOD_NOT_ALLOWED
BAD_HEADER = Reason.HEADER_NOT_ALLOWED
NO_PNA = Reason.PRIVATE_NETWORK_NOT_ALLOWED

# The successful answers of the "exact" policy, for brevity.
EXACT_ACTUAL = ((ACEH, "X-Total-Count, X-Page"),)
EXACT_PREFLIGHT = ((ACAM, "GET, POST, PUT, PATCH"), (ACAH, "Content-Type, X-Request-Id"), (ACMA, "600"))
EXACT_LISTS = EXACT_PREFLIGHT[:2]  # a refused preflight names no max-age

LABEL_64 = "a" * 64
HOST_254 = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 62])
MANY_NAMES_64 = ", ".join(f"x-h{i}" for i in range(64))
MANY_NAMES_65 = ", ".join(f"x-h{i}" for i in range(65))
LONG_ACRH = "x-" + "a" * 4095  # 4097 characters, a single valid token

C = pytest.param

CASES = [
    # ---- exact origins --------------------------------------------------
    C("exact", get(APP), ok_actual((ACAO, APP), *EXACT_ACTUAL), id="exact-actual-allowed"),
    C("exact", get("https://admin.example.com"), ok_actual((ACAO, "https://admin.example.com"), *EXACT_ACTUAL),
      id="exact-actual-config-entry-normalised"),
    C("exact", get("http://localhost:3000"), ok_actual((ACAO, "http://localhost:3000"), *EXACT_ACTUAL),
      id="exact-actual-http-localhost-with-port"),
    C("exact", get("https://app.example.com:8443"), no_actual(NOT_ALLOWED), id="exact-other-port"),
    C("exact", get("http://app.example.com"), no_actual(NOT_ALLOWED), id="exact-other-scheme"),
    C("exact", get("http://localhost:3001"), no_actual(NOT_ALLOWED), id="exact-localhost-other-port"),
    C("exact", get("https://example.com"), no_actual(NOT_ALLOWED), id="exact-parent-domain"),
    C("exact", get("https://app.example.com.evil.com"), no_actual(NOT_ALLOWED), id="exact-evil-suffix"),
    C("exact", get("https://evilapp.example.com"), no_actual(NOT_ALLOWED), id="exact-evil-prefix"),
    C("exact", get("null"), no_actual(NOT_ALLOWED), id="exact-null-not-listed"),
    C("exact", get(APP, "POST"), ok_actual((ACAO, APP), *EXACT_ACTUAL), id="exact-actual-post"),
    C("exact", get(APP, "DELETE"), no_actual(BAD_METHOD), id="exact-actual-method-not-allowed"),
    C("exact", get(APP, "PATCH"), ok_actual((ACAO, APP), *EXACT_ACTUAL), id="exact-actual-PATCH-allowed"),
    C("exact", get(APP, "patch"), no_actual(BAD_METHOD), id="exact-actual-lowercase-patch-is-not-PATCH"),
    # A plain OPTIONS (no ACRM) is forwarded and judged by its origin only.
    C("exact", get(APP, "OPTIONS"), ok_actual((ACAO, APP), *EXACT_ACTUAL), id="exact-options-without-acrm-is-actual"),
    C("exact", get(None), not_cors(), id="exact-no-origin-varies-on-origin"),
    C("exact", get(None, "OPTIONS"), not_cors(), id="exact-options-no-origin-not-cors"),
    # preflights
    C("exact", pf(APP), ok_preflight((ACAO, APP), *EXACT_PREFLIGHT), id="exact-preflight-allowed"),
    C("exact", pf(APP, "PATCH"), ok_preflight((ACAO, APP), *EXACT_PREFLIGHT), id="exact-preflight-PATCH"),
    # "patch" with PATCH listed: plain 403, as older Chromium compares uppercased methods.
    C("exact", pf(APP, "patch"), no_preflight(BAD_METHOD), id="exact-preflight-lowercase-patch"),
    C("exact", pf(APP, "purge"), named(BAD_METHOD, (ACAO, APP), *EXACT_LISTS), id="exact-preflight-lowercase-purge"),
    C("no_methods", pf(APP, "PUT"), no_preflight(BAD_METHOD), id="empty-methods-preflight-plain-403"),
    C("exact", pf(APP, "DELETE"), named(BAD_METHOD, (ACAO, APP), *EXACT_LISTS),
      id="exact-preflight-method-not-allowed"),
    # A refused safelisted method: a browser does not check it against ACAM, so an ok answer would let
    # the request through: plain 403.
    C("regex", pf(APP, "POST", "x-a"), no_preflight(BAD_METHOD), id="regex-preflight-safelisted-method-refused-403"),
    C("plain", pf(APP, "DELETE"), no_preflight(BAD_METHOD), id="plain-403-preflight-method-not-allowed"),
    C("plain", pf(APP, "PUT", "x-other"), no_preflight(BAD_HEADER), id="plain-403-preflight-header-not-listed"),
    C("plain", pf("https://evil.example", "DELETE"), no_preflight(NOT_ALLOWED), id="plain-403-origin-not-allowed"),
    C("exact", pf("https://evil.example", "DELETE", "x-other"), no_preflight(NOT_ALLOWED),
      id="exact-preflight-origin-refused-before-method-plain-403"),
    C("exact", pf(APP, ["PUT", "PUT"]), no_preflight(BAD_METHOD), id="exact-preflight-two-acrm-lines"),
    C("exact", pf(APP, "PU T"), no_preflight(BAD_METHOD), id="exact-preflight-acrm-not-a-token"),
    C("exact", pf(APP, "PUT", "content-type,x-request-id"), ok_preflight((ACAO, APP), *EXACT_PREFLIGHT),
      id="exact-preflight-headers-listed"),
    C("exact", pf(APP, "PUT", "X-REQUEST-ID"), ok_preflight((ACAO, APP), *EXACT_PREFLIGHT),
      id="exact-preflight-header-case-insensitive"),
    C("exact", pf(APP, "PUT", ["content-type", "x-request-id"]), ok_preflight((ACAO, APP), *EXACT_PREFLIGHT),
      id="exact-preflight-acrh-over-two-lines"),
    C("exact", pf(APP, "PUT", ["content-type", "x-other"]), named(BAD_HEADER, (ACAO, APP), *EXACT_LISTS),
      id="exact-preflight-acrh-second-line-not-allowed"),
    C("exact", pf(APP, "PUT", " , content-type,, \t,"), ok_preflight((ACAO, APP), *EXACT_PREFLIGHT),
      id="exact-preflight-acrh-empty-items-ignored"),
    C("exact", pf(APP, "PUT", "x-other"), named(BAD_HEADER, (ACAO, APP), *EXACT_LISTS),
      id="exact-preflight-header-not-listed"),
    C("exact", pf(APP, "PUT", "authorization"), named(BAD_HEADER, (ACAO, APP), *EXACT_LISTS),
      id="exact-preflight-authorization-not-listed"),
    C("exact", pf(APP, "PUT", "content-type, x(y)"), no_preflight(BAD_HEADER),
      id="exact-preflight-acrh-invalid-token"),
    C("exact", pf(APP, "PUT", "content type"), no_preflight(BAD_HEADER), id="exact-preflight-acrh-space-in-name"),
    C("exact", pf("https://other.example.com"), no_preflight(NOT_ALLOWED), id="exact-preflight-origin-not-allowed"),
    C("exact", pf("https://APP.example.com"), no_preflight(MALFORMED), id="exact-preflight-malformed-origin"),
    C("exact", pf([APP, APP]), no_preflight(MALFORMED), id="exact-preflight-two-origin-lines"),
    C("exact", pf(APP, "PUT", (), "true"), no_preflight(NO_PNA),
      id="exact-preflight-pna-asked-not-allowed-no-acrpn-vary"),
    C("exact", pf(APP, "PUT", (), "false"), ok_preflight((ACAO, APP), *EXACT_PREFLIGHT),
      id="exact-preflight-pna-false-is-not-asking"),
    # ---- malformed Origin values (never matched, never reflected) ---------
    C("exact", get(""), no_actual(MALFORMED), id="malformed-empty"),
    C("exact", get(APP + "/"), no_actual(MALFORMED), id="malformed-trailing-slash"),
    C("exact", get(APP + "/path"), no_actual(MALFORMED), id="malformed-path"),
    C("exact", get(APP + "?q=1"), no_actual(MALFORMED), id="malformed-query"),
    C("exact", get(APP + "#frag"), no_actual(MALFORMED), id="malformed-fragment"),
    C("exact", get("https://user@app.example.com"), no_actual(MALFORMED), id="malformed-userinfo"),
    C("exact", get("app.example.com"), no_actual(MALFORMED), id="malformed-missing-scheme"),
    C("exact", get("https://APP.example.com"), no_actual(MALFORMED), id="malformed-uppercase-host"),
    C("exact", get("HTTPS://app.example.com"), no_actual(MALFORMED), id="malformed-uppercase-scheme"),
    C("exact", get("https://app.example.com:443"), no_actual(MALFORMED), id="malformed-default-port"),
    C("exact", get("https://app.example.com:99999"), no_actual(MALFORMED), id="malformed-port-out-of-range"),
    C("exact", get("https://app.example.com:8a"), no_actual(MALFORMED), id="malformed-port-not-numeric"),
    C("exact", get("https://app.example.com:"), no_actual(MALFORMED), id="malformed-empty-port"),
    C("exact", get(APP + "\r"), no_actual(MALFORMED), id="malformed-control-char-cr"),
    C("exact", get("https://app\x00.example.com"), no_actual(MALFORMED), id="malformed-control-char-nul"),
    C("exact", get(APP + " "), no_actual(MALFORMED), id="malformed-trailing-space"),
    C("exact", get("https://äpp.example.com"), no_actual(MALFORMED), id="malformed-non-ascii"),
    C("exact", get(f"https://{LABEL_64}.example.com"), no_actual(MALFORMED), id="malformed-label-64-chars"),
    C("exact", get(f"https://{HOST_254}"), no_actual(MALFORMED), id="malformed-host-254-chars"),
    C("exact", get("http://127.000.0.1"), no_actual(MALFORMED), id="malformed-ipv4-leading-zeros"),
    C("exact", get("http://[0:0:0:0:0:0:0:1]"), no_actual(MALFORMED), id="malformed-ipv6-not-canonical"),
    C("exact", get("https://app.example.0x1"), no_actual(MALFORMED), id="malformed-ends-in-hex-number"),
    C("exact", get("https://" + "a" * 300 + ".com"), no_actual(MALFORMED), id="malformed-over-300-chars"),
    C("exact", get([APP, APP]), no_actual(MALFORMED), id="malformed-two-origin-lines-same-value"),
    C("exact", get([APP, "https://other.example.com"]), no_actual(MALFORMED),
      id="malformed-two-origin-lines-different"),
    C("exact", get(APP + ", https://other.example.com"), no_actual(MALFORMED), id="malformed-comma-list"),
    # ---- credentials ----------------------------------------------------
    C("creds", get(APP), ok_actual((ACAO, APP), (ACAC, "true"), (ACEH, "X-Total-Count")),
      id="creds-actual-reflects-origin-with-acac"),
    C("creds", get("https://evil.example.com"), no_actual(NOT_ALLOWED), id="creds-actual-origin-not-allowed"),
    C("creds", get(None), not_cors(), id="creds-no-origin-varies-on-origin"),
    C("creds", pf(APP, "PUT"), ok_preflight((ACAO, APP), (ACAC, "true"), (ACAM, "GET, PUT"), (ACMA, "7200")),
      id="creds-preflight-no-acrh-no-acah"),
    C("creds", pf(APP, "PUT", "Authorization, X-Custom"),
      ok_preflight((ACAO, APP), (ACAC, "true"), (ACAM, "GET, PUT"), (ACAH, "authorization, x-custom"),
                   (ACMA, "7200")),
      id="creds-preflight-allow-headers-star-echoes-authorization"),
    C("creds", pf(APP, "PUT", ["x-a, X-A", "x-b", "x-a"]),
      ok_preflight((ACAO, APP), (ACAC, "true"), (ACAM, "GET, PUT"), (ACAH, "x-a, x-b"), (ACMA, "7200")),
      id="creds-preflight-echo-dedupes-over-lines"),
    C("creds", pf(APP, "PUT", MANY_NAMES_64),
      ok_preflight((ACAO, APP), (ACAC, "true"), (ACAM, "GET, PUT"), (ACAH, MANY_NAMES_64), (ACMA, "7200")),
      id="creds-preflight-64-names-echoed"),
    C("creds", pf(APP, "PUT", MANY_NAMES_65), no_preflight(BAD_HEADER), id="creds-preflight-65-names-refused"),
    C("creds", pf(APP, "PUT", LONG_ACRH), no_preflight(BAD_HEADER), id="creds-preflight-acrh-too-long"),
    C("creds", pf(APP, "PUT", ["x-a," * 1000, "x-b," * 30]), no_preflight(BAD_HEADER),
      id="creds-preflight-acrh-too-long-summed-over-lines"),
    C("creds", pf(APP, "PUT", "x-a, x:b"), no_preflight(BAD_HEADER), id="creds-preflight-echo-refuses-non-token"),
    C("creds", pf(APP, "DELETE"), named(BAD_METHOD, (ACAO, APP), (ACAC, "true"), (ACAM, "GET, PUT")),
      id="creds-preflight-method-not-allowed"),
    C("creds", pf("null"), no_preflight(NOT_ALLOWED), id="creds-preflight-null-not-listed"),
    # ---- methods "*" with credentials: echoed, never "*" ------------------
    C("any_method_creds", pf(APP, "PURGE", "x-token"),
      ok_preflight((ACAO, APP), (ACAC, "true"), (ACAM, "PURGE"), (ACAH, "X-Token")),
      id="methods-star-creds-preflight-echoes-method"),
    C("any_method_creds", pf(APP, "patch"),
      ok_preflight((ACAO, APP), (ACAC, "true"), (ACAM, "patch"), (ACAH, "X-Token")),
      id="methods-star-creds-preflight-echoes-lowercase-method-verbatim"),
    C("any_method_creds", get(APP, "PURGE"), ok_actual((ACAO, APP), (ACAC, "true")),
      id="methods-star-creds-actual-any-method"),
    C("any_method_creds", pf(APP, "PURGE", "authorization"),
      named(BAD_HEADER, (ACAO, APP), (ACAC, "true"), (ACAM, "PURGE"), (ACAH, "X-Token")),
      id="methods-star-creds-listed-headers-still-enforced"),
    # ---- subdomain wildcard ---------------------------------------------
    C("wild", get(APP), ok_actual((ACAO, APP)), id="wild-one-level"),
    C("wild", get("https://a.b.c.example.com"), ok_actual((ACAO, "https://a.b.c.example.com")), id="wild-multi-level"),
    C("wild", get("https://example.com"), no_actual(NOT_ALLOWED), id="wild-apex-not-included"),
    C("wild", get("https://barexample.com"), no_actual(NOT_ALLOWED), id="wild-barexample-suffix-confusion"),
    C("wild", get("https://app.barexample.com"), no_actual(NOT_ALLOWED), id="wild-sub-of-barexample"),
    C("wild", get("http://app.example.com"), no_actual(NOT_ALLOWED), id="wild-other-scheme"),
    C("wild", get("https://app.example.com:8443"), no_actual(NOT_ALLOWED), id="wild-other-port"),
    C("wild", get("https://app.example.com.evil.com"), no_actual(NOT_ALLOWED), id="wild-evil-suffix"),
    C("wild", get("https://app.example.com."), no_actual(NOT_ALLOWED), id="wild-trailing-dot-is-another-host"),
    C("wild", pf(APP, "DELETE", "Authorization"),
      ok_preflight((ACAO, APP), (ACAM, DEFAULT_ACAM), (ACAH, "authorization")),
      id="wild-defaults-methods-and-echoed-headers"),
    C("wild", pf("https://example.com"), no_preflight(NOT_ALLOWED), id="wild-preflight-apex-rejected"),
    C("wild_port", get("https://a.example.com:8443"), ok_actual((ACAO, "https://a.example.com:8443")),
      id="wild-port-same-port"),
    C("wild_port", get("https://a.example.com"), no_actual(NOT_ALLOWED), id="wild-port-default-port"),
    C("wild_port", get("https://a.example.com:9443"), no_actual(NOT_ALLOWED), id="wild-port-other-port"),
    # ---- regex ------------------------------------------------------------
    C("regex", get(APP), ok_actual((ACAO, APP)), id="regex-app"),
    C("regex", get("https://admin.example.com"), ok_actual((ACAO, "https://admin.example.com")), id="regex-admin"),
    C("regex", get("https://example.com.evil.com"), no_actual(NOT_ALLOWED), id="regex-example-com-evil-com"),
    C("regex", get("https://app.example.com.evil.com"), no_actual(NOT_ALLOWED), id="regex-full-match-not-prefix"),
    C("regex", get("https://evil-app.example.com"), no_actual(NOT_ALLOWED), id="regex-full-match-not-suffix"),
    C("regex", get("http://app.example.com"), no_actual(NOT_ALLOWED), id="regex-other-scheme"),
    C("regex_alt", get(APP), ok_actual((ACAO, APP)), id="regex-alternation-allowed"),
    C("regex_alt", get("https://app.example.com.evil.com"), no_actual(NOT_ALLOWED),
      id="regex-alternation-first-branch-must-full-match"),
    C("regex_alt", get("https://evil.com.admin.example.com"), no_actual(NOT_ALLOWED),
      id="regex-alternation-second-branch-must-full-match"),
    C("regex", pf(APP, "GET"), ok_preflight((ACAO, APP), (ACAM, "GET")), id="regex-preflight-allowed"),
    C("regex_all", get("https://anything.test"), ok_actual((ACAO, "https://anything.test")),
      id="regex-all-matches-serialized-origin"),
    C("regex_all", get("null"), no_actual(NOT_ALLOWED), id="regex-all-never-matches-null"),
    C("regex_all", get("https://Evil.test"), no_actual(MALFORMED), id="regex-all-uppercase-not-reflected"),
    C("regex_all", get("https://evil.test/<script>"), no_actual(MALFORMED), id="regex-all-path-not-reflected"),
    C("regex_all", get("https://evil.test\r\nSet-Cookie: a=b"), no_actual(MALFORMED),
      id="regex-all-header-injection-not-reflected"),
    # ---- public route: "*" without credentials -----------------------------
    C("public", get("https://anyone.test"), ok_actual((ACAO, "*"), (ACEH, "*"), vary=()),
      id="public-actual-star-no-vary-origin"),
    C("public", get("https://anyone.test", "PURGE"), ok_actual((ACAO, "*"), (ACEH, "*"), vary=()),
      id="public-actual-any-method"),
    # No Access-Control-* without Origin, and Vary: Origin so a cache never
    # serves this header-less answer to a CORS request.
    C("public", get(None), not_cors(), id="public-no-origin-no-headers-varies"),
    C("public", get("null"), no_actual(NOT_ALLOWED), id="public-null-rejected-varies"),
    C("public", get("https://anyone.test/"), no_actual(MALFORMED), id="public-malformed-rejected-varies"),
    C("public", pf("https://anyone.test", "DELETE", "Authorization, X-Custom"),
      ok_preflight((ACAO, "*"), (ACAM, "DELETE"), (ACAH, "authorization, x-custom"), (ACMA, "0")),
      id="public-preflight-star-echo-method-and-headers"),
    C("public", pf("https://anyone.test", "PUT"), ok_preflight((ACAO, "*"), (ACAM, "PUT"), (ACMA, "0")),
      id="public-preflight-no-headers-max-age-0"),
    C("public", pf("null", "PUT"), no_preflight(NOT_ALLOWED), id="public-preflight-null-rejected"),
    C("public", pf("https://anyone.test", "PUT", (), "true"), no_preflight(NO_PNA),
      id="public-preflight-pna-refused"),
    # ---- null listed ------------------------------------------------------
    C("null_listed", get("null"), ok_actual((ACAO, "null")), id="null-listed-allowed"),
    C("null_listed", pf("null", "GET"), ok_preflight((ACAO, "null"), (ACAM, "GET")), id="null-listed-preflight"),
    C("null_listed", get("NULL"), no_actual(MALFORMED), id="null-uppercase-malformed"),
    C("null_listed", get(APP), ok_actual((ACAO, APP)), id="null-listed-other-entry"),
    # ---- private network access -------------------------------------------
    C("pna", pf(APP, "GET", (), "true"),
      ok_preflight((ACAO, APP), (ACAC, "true"), (ACAM, "GET"), (ACAH, "X-Token"), (ACAPN, "true"),
                   vary=V_PREFLIGHT_PNA),
      id="pna-asked-and-allowed"),
    C("pna", pf(APP, "GET", "x-token", ["false", "TRUE"]),
      ok_preflight((ACAO, APP), (ACAC, "true"), (ACAM, "GET"), (ACAH, "X-Token"), (ACAPN, "true"),
                   vary=V_PREFLIGHT_PNA),
      id="pna-asked-case-insensitive-any-line"),
    C("pna", pf(APP, "GET"),
      ok_preflight((ACAO, APP), (ACAC, "true"), (ACAM, "GET"), (ACAH, "X-Token"), vary=V_PREFLIGHT_PNA),
      id="pna-not-asked-no-acapn-still-varies"),
    C("pna", pf("https://evil.example.com", "GET", (), "true"), no_preflight(NOT_ALLOWED, vary=V_PREFLIGHT_PNA),
      id="pna-origin-not-allowed"),
    C("pna", pf(APP, "PUT", (), "true"),
      named(BAD_METHOD, (ACAO, APP), (ACAC, "true"), (ACAM, "GET"), (ACAH, "X-Token"), vary=V_PREFLIGHT_PNA),
      id="pna-method-checked-first"),
    C("pna", get(APP), ok_actual((ACAO, APP), (ACAC, "true")), id="pna-actual-no-pna-headers"),
]


def test_table_is_large_enough():
    assert len(CASES) >= 70


@pytest.mark.parametrize(("policy_name", "request_", "expected"), CASES)
def test_policy_decision(policy_name, request_, expected):
    policy = CorsPolicy(policy_name, settings_for(policy_name), DecisionCache(64))
    first = policy.decide(**request_)
    # The second call takes the cached per-origin verdict: same answer.
    second = policy.decide(**request_)
    assert first == second
    got = (first.kind, first.allowed, first.reason, first.headers, first.vary, first.status)
    assert got == expected

    if first.allowed is False:
        kind = "preflight" if first.kind is Kind.PREFLIGHT else "request"
        assert first.message.startswith(f"CORS {kind} rejected: {first.reason.value}: ")
        assert first.message.endswith("\n") and first.message.count("\n") == 1
        for origin in request_["origins"]:
            if len(origin) > 4:
                assert origin not in first.message
        if first.status == 200:  # name_cause: the allowed origin, and lists without what was asked for
            headers = dict(first.headers)
            assert headers[ACAO] == request_["origins"][0]
            asked = request_["acrm"][0]
            names = {n.strip().lower() for line in request_["acrh"] for n in line.split(",") if n.strip()}
            listed = {n.strip().lower() for n in headers.get(ACAH, "").split(",") if n.strip()}
            listed_methods = {m.strip() for m in headers.get(ACAM, "").split(",")}
            assert asked not in listed_methods or not names <= listed
            assert asked not in {"GET", "HEAD", "POST"} or not names <= listed
        else:
            assert first.status == 403
            assert not any(name.startswith("Access-Control-Allow-") for name, _ in first.headers)
    else:
        assert first.message == ""
        assert first.label == ("not_applicable" if first.allowed is None else "allowed")
