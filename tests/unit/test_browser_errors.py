"""The browser console messages ``diagnose`` reads: one row per message format, with where it comes from.

Each row is a message as a developer copies it from the console (the URLs
and origins are made up; the wording is the browser's), the source of that
wording, and what ``browser_errors.parse`` must read from it.  The Chromium
ones are also captured live from Debian's chromium in
tests/browser/test_diagnose.py.

Sources (pinned copies read for this table):

* CHROMIUM: third_party/blink/renderer/platform/loader/cors/cors_error_string.cc
  (chromium/chromium@1e90f275757adb3b9d33bad717ac8483e74a76c9; M132 in
  weolar/miniblink132@6a775343; a 2025 mirror of main) and
  core/xmlhttprequest/xml_http_request.cc ("Refused to get unsafe header").
* CHROMIUM_LEGACY: Chromium 57-72, mirror/chromium@0075c9ae
  third_party/WebKit/Source/core/loader/DocumentThreadableLoader.cpp and
  platform/exported/WebCORS.cpp.
* FIREFOX: mozilla/gecko-dev@5f378c92 dom/locales/en-US/chrome/security/security.properties
  (formatted by netwerk/protocol/http/nsCORSListenerProxy.cpp); MDN's
  "CORS errors" pages name the same reasons.
* FIREFOX_OLD: the same file in Firefox about 60-68 (roytam1/UXP@59ee48bf, Feodor2/Mypal68@40abca8e).
* WEBKIT: WebKit/WebKit@00f03c1f Source/WebCore/loader/CrossOriginAccessControl.cpp and
  CrossOriginPreflightResultCache.cpp; the "cannot load ... due to access control checks" line from
  Source/WebCore/loader/ThreadableLoader.cpp (WebKit/WebKit@8884c8a2).
"""

from __future__ import annotations

import pytest

from gateway.browser_errors import CAUSES, parse

CHROMIUM = "cors_error_string.cc"
CHROMIUM_XHR = "xml_http_request.cc"
CHROMIUM_LEGACY = "DocumentThreadableLoader.cpp"
FIREFOX = "security.properties"
FIREFOX_OLD = "security.properties (Firefox 60-68)"
WEBKIT = "CrossOriginAccessControl.cpp"

API = "https://api.example.com/v1/items"
APP = "http://localhost:3000"
BLOCKED = f"Access to fetch at '{API}' from origin '{APP}' has been blocked by CORS policy: "
PREFLIGHT = "Response to preflight request doesn't pass access control check: "
NO_CORS_HINT = " If an opaque response serves your needs, set the request's mode to 'no-cors' to fetch the resource " \
               "with CORS disabled."
FF = f"Cross-Origin Request Blocked: The Same Origin Policy disallows reading the remote resource at {API}. "

# (id, message, source, expected fields)
MESSAGES = [
    ("chromium-no-acao", BLOCKED + "No 'Access-Control-Allow-Origin' header is present on the requested resource."
     + NO_CORS_HINT, CHROMIUM,
     {"browser": "chromium", "cause": "missing_allow_origin", "url": API, "origin": APP, "preflight": False,
      "resource": "fetch"}),
    ("chromium-preflight-no-acao", f"Access to XMLHttpRequest at '{API}' from origin '{APP}' has been blocked by CORS "
     f"policy: {PREFLIGHT}No 'Access-Control-Allow-Origin' header is present on the requested resource.", CHROMIUM,
     {"cause": "missing_allow_origin", "preflight": True, "resource": "XMLHttpRequest"}),
    ("chromium-acao-mismatch", BLOCKED + "The 'Access-Control-Allow-Origin' header has a value "
     "'https://app.example.com' that is not equal to the supplied origin. Have the server send the header with a "
     "valid value.", CHROMIUM, {"cause": "allow_origin_mismatch", "value": "https://app.example.com"}),
    ("chromium-multiple-acao", BLOCKED + "The 'Access-Control-Allow-Origin' header contains multiple values "
     "'http://localhost:3000, *', but only one is allowed. Have the server send the header with a valid value.",
     CHROMIUM, {"cause": "multiple_allow_origin", "value": "http://localhost:3000, *"}),
    ("chromium-invalid-acao", BLOCKED + "The 'Access-Control-Allow-Origin' header contains the invalid value "
     "'localhost:3000'.", CHROMIUM, {"cause": "invalid_allow_origin", "value": "localhost:3000"}),
    ("chromium-wildcard-credentials", BLOCKED + "The value of the 'Access-Control-Allow-Origin' header in the response "
     "must not be the wildcard '*' when the request's credentials mode is 'include'.", CHROMIUM,
     {"cause": "wildcard_with_credentials", "credentials": True}),
    ("chromium-xhr-wildcard-credentials", f"Access to XMLHttpRequest at '{API}' from origin '{APP}' has been blocked "
     "by CORS policy: The value of the 'Access-Control-Allow-Origin' header in the response must not be the wildcard "
     "'*' when the request's credentials mode is 'include'. The credentials mode of requests initiated by the "
     "XMLHttpRequest is controlled by the withCredentials attribute.", CHROMIUM,
     {"cause": "wildcard_with_credentials", "resource": "XMLHttpRequest"}),
    ("chromium-acac-missing", BLOCKED + PREFLIGHT + "The value of the 'Access-Control-Allow-Credentials' header in the "
     "response is '' which must be 'true' when the request's credentials mode is 'include'.", CHROMIUM,
     {"cause": "allow_credentials_missing", "value": "", "preflight": True, "credentials": True}),
    ("chromium-preflight-status", BLOCKED + PREFLIGHT + "It does not have HTTP ok status.", CHROMIUM,
     {"cause": "preflight_not_ok", "preflight": True}),
    ("chromium-preflight-redirect", BLOCKED + PREFLIGHT + "Redirect is not allowed for a preflight request.", CHROMIUM,
     {"cause": "preflight_redirect", "preflight": True}),
    ("chromium-method", BLOCKED + "Method PATCH is not allowed by Access-Control-Allow-Methods in preflight "
     "response.", CHROMIUM, {"cause": "method_not_allowed", "method": "PATCH", "preflight": True}),
    ("chromium-header", BLOCKED + "Request header field x-secret is not allowed by Access-Control-Allow-Headers in "
     "preflight response.", CHROMIUM, {"cause": "header_not_allowed", "header": "x-secret", "preflight": True}),
    ("chromium-private-network", "Access to fetch at 'http://192.168.1.10:8080/api' from origin "
     "'https://app.example.com' has been blocked by CORS policy: " + PREFLIGHT + "No "
     "'Access-Control-Allow-Private-Network' header was present in the preflight response for this private network "
     "request targeting the `private` address space.", CHROMIUM,
     {"cause": "private_network", "url": "http://192.168.1.10:8080/api", "preflight": True}),
    ("chromium-insecure-private-network", "Access to fetch at 'http://localhost:8080/api' from origin "
     "'http://app.example.com' has been blocked by CORS policy: The request client is not a secure context and the "
     "resource is in more-private address space `local`.", CHROMIUM, {"cause": "local_network_permission"}),
    ("chromium-network-permission", "Access to fetch at 'http://localhost:8080/api' from origin "
     "'https://app.example.com' has been blocked by CORS policy: Permission was denied for this request to access "
     "the `loopback` address space.", CHROMIUM, {"cause": "local_network_permission"}),
    ("chromium-redirect", f"Access to fetch at 'https://auth.example.com/login' (redirected from '{API}') from origin "
     f"'{APP}' has been blocked by CORS policy: No 'Access-Control-Allow-Origin' header is present on the requested "
     "resource.", CHROMIUM,
     {"cause": "missing_allow_origin", "url": "https://auth.example.com/login", "redirected_from": API}),
    ("chromium-css", f"Access to CSS stylesheet at '{API}' from origin '{APP}' has been blocked by CORS policy: No "
     "'Access-Control-Allow-Origin' header is present on the requested resource.", CHROMIUM,
     {"cause": "missing_allow_origin", "resource": "CSS stylesheet"}),
    ("chromium-unparsable-list", BLOCKED + "Cannot parse Access-Control-Allow-Headers response header field in "
     "preflight response.", CHROMIUM, {"cause": "invalid_allow_list"}),
    ("chromium-file-scheme", "Access to XMLHttpRequest at 'file:///C:/project/data.json' from origin 'null' has been "
     "blocked by CORS policy: Cross origin requests are only supported for protocol schemes: chrome, data, http, "
     "https.", CHROMIUM, {"cause": "scheme_not_supported", "origin": "null"}),
    ("chromium-unsafe-header", 'Refused to get unsafe header "X-Total-Count"', CHROMIUM_XHR,
     {"cause": "header_not_exposed", "header": "X-Total-Count", "url": None}),
    ("chromium-legacy", f"Failed to load {API}: No 'Access-Control-Allow-Origin' header is present on the requested "
     f"resource. Origin '{APP}' is therefore not allowed access. The response had HTTP status code 404.",
     CHROMIUM_LEGACY, {"cause": "missing_allow_origin", "url": API, "origin": APP}),
    ("chromium-legacy-preflight", f"Failed to load {API}: Response for preflight has invalid HTTP status code 405",
     CHROMIUM_LEGACY, {"cause": "preflight_not_ok", "status": 405, "preflight": True}),
    ("firefox-no-acao", FF + "(Reason: CORS header ‘Access-Control-Allow-Origin’ missing). Status code: 200.",
     FIREFOX, {"browser": "firefox", "cause": "missing_allow_origin", "url": API, "origin": None, "status": 200}),
    ("firefox-no-acao-straight-quotes", FF + "(Reason: CORS header 'Access-Control-Allow-Origin' missing).", FIREFOX,
     {"cause": "missing_allow_origin"}),
    ("firefox-mismatch", FF + "(Reason: CORS header ‘Access-Control-Allow-Origin’ does not match "
     "‘https://app.example.com’).", FIREFOX, {"cause": "allow_origin_mismatch", "value": "https://app.example.com"}),
    ("firefox-credentials-star", "Cross-Origin Request Blocked: The Same Origin Policy disallows reading the remote "
     f"resource at ‘{API}’. (Reason: Credential is not supported if the CORS header ‘Access-Control-Allow-Origin’ "
     "is ‘*’).", FIREFOX, {"cause": "wildcard_with_credentials", "url": API, "credentials": True}),
    ("firefox-acac", FF + "(Reason: expected ‘true’ in CORS header ‘Access-Control-Allow-Credentials’).", FIREFOX,
     {"cause": "allow_credentials_missing"}),
    ("firefox-method", FF + "(Reason: Did not find method in CORS header ‘Access-Control-Allow-Methods’).", FIREFOX,
     {"cause": "method_not_allowed", "method": None, "preflight": True}),
    ("firefox-header", FF + "(Reason: header ‘authorization’ is not allowed according to header "
     "‘Access-Control-Allow-Headers’ from CORS preflight response).", FIREFOX,
     {"cause": "header_not_allowed", "header": "authorization"}),
    ("firefox-preflight", FF + "(Reason: CORS preflight response did not succeed). Status code: 403.", FIREFOX,
     {"cause": "preflight_not_ok", "status": 403}),
    ("firefox-multiple", FF + "(Reason: Multiple CORS header ‘Access-Control-Allow-Origin’ not allowed).", FIREFOX,
     {"cause": "multiple_allow_origin"}),
    ("firefox-did-not-succeed", FF + "(Reason: CORS request did not succeed). Status code: (null).", FIREFOX,
     {"cause": "request_failed", "status": None}),
    ("firefox-external-redirect", FF + "(Reason: CORS request external redirect not allowed).", FIREFOX,
     {"cause": "redirect_not_allowed"}),
    ("firefox-old-header", FF + "(Reason: missing token ‘x-secret’ in CORS header ‘Access-Control-Allow-Headers’ from "
     "CORS preflight channel).", FIREFOX_OLD, {"cause": "header_not_allowed", "header": "x-secret"}),
    ("firefox-old-preflight", FF + "(Reason: CORS preflight channel did not succeed).", FIREFOX_OLD,
     {"cause": "preflight_not_ok"}),
    ("webkit-origin", f"[Error] Origin {APP} is not allowed by Access-Control-Allow-Origin. Status code: 200\n"
     f"[Error] Fetch API cannot load {API} due to access control checks.\n"
     f"[Error] Failed to load resource: Origin {APP} is not allowed by Access-Control-Allow-Origin. Status code: 200 "
     "(items, line 0)", WEBKIT,
     {"browser": "webkit", "cause": "missing_allow_origin", "origin": APP, "url": API, "status": 200}),
    ("webkit-origin-old", f"Origin {APP} is not allowed by Access-Control-Allow-Origin.", WEBKIT,
     {"cause": "missing_allow_origin", "origin": APP, "url": None, "status": None}),
    ("webkit-preflight", "[Error] Preflight response is not successful. Status code: 403\n"
     f"[Error] Fetch API cannot load {API} due to access control checks.", WEBKIT,
     {"cause": "preflight_not_ok", "status": 403, "url": API, "preflight": True}),
    ("webkit-header", "Request header field X-Requested-With is not allowed by Access-Control-Allow-Headers.\n"
     f"XMLHttpRequest cannot load {API} due to access control checks.", WEBKIT,
     {"cause": "header_not_allowed", "header": "X-Requested-With", "url": API}),
    ("webkit-method", "Method PATCH is not allowed by Access-Control-Allow-Methods.", WEBKIT,
     {"cause": "method_not_allowed", "method": "PATCH"}),
    ("webkit-credentials", 'Credentials flag is true, but Access-Control-Allow-Credentials is not "true".', WEBKIT,
     {"cause": "allow_credentials_missing", "credentials": True}),
    ("webkit-wildcard", "Cannot use wildcard in Access-Control-Allow-Origin when credentials flag is true.", WEBKIT,
     {"cause": "wildcard_with_credentials"}),
    ("webkit-multiple", "Access-Control-Allow-Origin cannot contain more than one origin.", WEBKIT,
     {"cause": "multiple_allow_origin"}),
    ("webkit-redirect", "Cross-origin redirection to https://auth.example.com/login denied by Cross-Origin Resource "
     f"Sharing policy: Origin {APP} is not allowed by Access-Control-Allow-Origin. Status code: 302\n"
     f"Fetch API cannot load {API} due to access control checks.", WEBKIT,
     {"cause": "redirect_not_allowed", "url": "https://auth.example.com/login", "redirected_from": API}),
    ("webkit-only-cannot-load", f"Fetch API cannot load {API} due to access control checks.", WEBKIT,
     {"cause": "blocked", "url": API}),
]


def test_the_table_covers_at_least_15_distinct_messages_of_three_browsers():
    assert len({cause for *_, fields in MESSAGES for cause in [fields["cause"]]}) >= 15
    assert {parse(message).browser for _, message, _, _ in MESSAGES} == {"chromium", "firefox", "webkit"}


@pytest.mark.parametrize("message, source, expected", [m[1:] for m in MESSAGES], ids=[m[0] for m in MESSAGES])
def test_parse(message, source, expected):
    found = parse(message)
    assert found is not None, message
    assert found.cause in CAUSES
    for name, value in expected.items():
        assert getattr(found, name) == value, (name, found)
    where = {"chromium": ("cors_error_string.cc", "xml_http_request.cc", "DocumentThreadableLoader.cpp"),
             "firefox": ("security.properties",), "webkit": ("CrossOriginAccessControl.cpp",)}[found.browser]
    assert any(part in found.source for part in where) and source.split(" ")[0] in found.source


@pytest.mark.parametrize("text", [
    "", "hello", "TypeError: Failed to fetch", "GET http://localhost:8080/api net::ERR_FAILED 403",
    "Access to fetch at 'x' from origin 'y' has been blocked by CORS policy: something new entirely.",
    "Cross-Origin Request Blocked: The Same Origin Policy disallows reading the remote resource at x. (Reason: ???).",
])
def test_what_is_not_a_known_cors_error(text):
    assert parse(text) is None


def test_a_console_copy_with_noise_and_wrapped_lines():
    pasted = (
        "GET http://localhost:8080/api/items net::ERR_FAILED 403\n"
        f"Access to fetch at '{API}' from origin\n '{APP}' has been blocked by CORS policy: Method\u00a0PUT is not "
        "allowed by Access-Control-Allow-Methods in preflight response.\n"
        "Uncaught (in promise) TypeError: Failed to fetch"
    )
    found = parse(pasted)
    assert (found.cause, found.method, found.origin, found.url) == ("method_not_allowed", "PUT", APP, API)
