"""Read a browser's CORS console error: which browser, what it refused, and the facts it names.

``parse(text)`` turns what a developer pastes (one console message of
Chromium, Firefox or Safari/WebKit; surrounding console noise such as
``[Error]`` or a ``GET ... net::ERR_FAILED`` line is ignored) into a
``BrowserError``: the browser, the ``cause`` (one of ``CAUSES``), and what
the message reveals (URL, origin, method, header, status, credentials mode,
the URL a redirect came from).  ``None`` when the text is not a CORS error
this module knows.

The formats are the browsers' own, taken from their sources; each pattern
below names where.  Pure text processing: no config, no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["BROWSERS", "CAUSES", "KNOWN_FORMATS", "BrowserError", "parse"]

# What ``parse`` reads, for the answer to a message it does not know.
KNOWN_FORMATS = (
    "Chromium's \"Access to fetch at '...' from origin '...' has been blocked by CORS policy: ...\" (and "
    "\"Refused to get unsafe header\"), Firefox's \"Cross-Origin Request Blocked: ... (Reason: ...)\", Safari's "
    "\"Origin ... is not allowed by Access-Control-Allow-Origin.\", \"Preflight response is not successful.\", "
    "\"... is not allowed by Access-Control-Allow-Headers/-Methods.\" and \"... due to access control checks.\""
)

BROWSERS = ("chromium", "firefox", "webkit")

# What the browser refused, as the message says it (not yet why the server did it).
CAUSES = {
    "missing_allow_origin": "the answer had no Access-Control-Allow-Origin header",
    "allow_origin_mismatch": "the answer's Access-Control-Allow-Origin names another origin",
    "multiple_allow_origin": "the answer had several Access-Control-Allow-Origin values",
    "invalid_allow_origin": "the answer's Access-Control-Allow-Origin is not a valid value",
    "wildcard_with_credentials": "the answer said Access-Control-Allow-Origin: * to a request with credentials",
    "allow_credentials_missing": "a request with credentials got no Access-Control-Allow-Credentials: true",
    "preflight_not_ok": "the preflight's answer did not have an ok (2xx) status",
    "preflight_redirect": "the preflight was answered with a redirect",
    "method_not_allowed": "the preflight's Access-Control-Allow-Methods did not list the method",
    "header_not_allowed": "the preflight's Access-Control-Allow-Headers did not list a request header",
    "private_network": "a private network preflight's answer lacked Access-Control-Allow-Private-Network: true",
    "local_network_permission": "the page may not reach a more private address (Chromium's Private/Local Network "
                                "Access: an insecure page, or a permission denied)",
    "redirect_not_allowed": "a redirect of the CORS request was refused",
    "invalid_allow_list": "the preflight answer's Access-Control-Allow-Methods or -Headers could not be parsed",
    "scheme_not_supported": "the page or the URL is not http(s) (a file: page, say): CORS needs http(s)",
    "disallowed_by_mode": "the page asked for a same-origin-only request (fetch mode \"same-origin\")",
    "request_failed": "the CORS request did not get an answer (network error, refused connection)",
    "header_not_exposed": "script read a response header that Access-Control-Expose-Headers does not list",
    "blocked": "the request was blocked by access control checks (the message says no more)",
}

# A URL or origin as it appears inside a message: no whitespace, no quotes.
_URL = r"(?P<url>[^\s'\"‘’]+)"
_ORIGIN = r"(?P<origin>[^\s'\"‘’]+)"


@dataclass(frozen=True, slots=True)
class BrowserError:
    """One browser CORS error, as far as its message tells."""

    browser: str  # one of BROWSERS
    cause: str  # one of CAUSES
    message: str  # the message line that was recognised
    source: str  # where this message format comes from (browser source file or documentation)
    url: str | None = None
    origin: str | None = None
    preflight: bool | None = None  # True: the preflight failed; None: the message does not say
    method: str | None = None
    header: str | None = None
    status: int | None = None
    credentials: bool | None = None  # True: credentials mode "include"; None: the message does not say
    value: str | None = None  # the offending header value the message quotes
    redirected_from: str | None = None
    resource: str | None = None  # Chromium's "fetch", "XMLHttpRequest", "script", ...

    def to_json(self) -> dict:
        return {name: getattr(self, name) for name in self.__slots__}


# -- Chromium -------------------------------------------------------------------------------------

_CHROMIUM_SOURCE = "chromium: third_party/blink/renderer/platform/loader/cors/cors_error_string.cc"
# "Access to fetch at 'URL' [(redirected from 'URL')] from origin 'ORIGIN' has been blocked by CORS policy: "
_CHROMIUM = re.compile(
    r"Access to (?P<resource>[A-Za-z]+(?: [A-Za-z]+){0,3}) at '" + _URL +
    r"'(?: \(redirected from '(?P<from>[^']*)'\))? from origin '" + _ORIGIN +
    r"' has been blocked by CORS policy: (?P<reason>.*)"
)
# Chromium before out-of-renderer CORS (about 57-72): "Failed to load URL: REASON Origin 'O' is therefore not
# allowed access." (third_party/WebKit/Source/core/loader/DocumentThreadableLoader.cpp, WebCORS.cpp), and the
# still older "XMLHttpRequest cannot load URL. REASON".
_CHROMIUM_LEGACY = re.compile(
    r"(?:Failed to load (?P<url>\S+?):|XMLHttpRequest cannot load (?P<xhr_url>\S+?)\.) "
    r"(?P<reason>(?:No 'Access-Control|Response (?:to|for) preflight|The 'Access-Control|The value of|"
    r"Request header field|Method |Redirect |Invalid response).*)"
)
_LEGACY_ORIGIN = re.compile(r"Origin '(?P<origin>[^']*)' is therefore not allowed access")
_LEGACY_PREFLIGHT_STATUS = re.compile(r"Response for preflight has invalid HTTP status code (?P<status>\d{3})")
_PREFLIGHT_PREFIX = "Response to preflight request doesn't pass access control check: "
_CHROMIUM_REASONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("missing_allow_origin", re.compile(r"No 'Access-Control-Allow-Origin' header is present on the requested "
                                        r"resource\.")),
    ("allow_origin_mismatch", re.compile(r"The 'Access-Control-Allow-Origin' header has a value '(?P<value>[^']*)' "
                                         r"that is not equal to the supplied origin\.")),
    ("multiple_allow_origin", re.compile(r"The 'Access-Control-Allow-Origin' header contains multiple values "
                                         r"'(?P<value>[^']*)', but only one is allowed\.")),
    ("invalid_allow_origin", re.compile(r"The 'Access-Control-Allow-Origin' header contains the invalid value "
                                        r"'(?P<value>[^']*)'\.")),
    ("wildcard_with_credentials", re.compile(r"The value of the 'Access-Control-Allow-Origin' header in the response "
                                             r"must not be the wildcard '\*' when the request's credentials mode is "
                                             r"'include'\.")),
    ("allow_credentials_missing", re.compile(r"The value of the 'Access-Control-Allow-Credentials' header in the "
                                             r"response is '(?P<value>[^']*)' which must be 'true' when the request's "
                                             r"credentials mode is 'include'\.")),
    ("preflight_not_ok", re.compile(r"It does not have HTTP ok status\.")),
    ("preflight_redirect", re.compile(r"Redirect is not allowed for a preflight request\.")),
    ("method_not_allowed", re.compile(r"Method (?P<method>\S+) is not allowed by Access-Control-Allow-Methods in "
                                      r"preflight response\.")),
    ("header_not_allowed", re.compile(r"Request header field (?P<header>\S+) is not allowed by "
                                      r"Access-Control-Allow-Headers in preflight response\.")),
    ("private_network", re.compile(r"Access-Control-Allow-Private-Network|Private-Network-Access-(?:Id|Name)")),
    ("local_network_permission", re.compile(r"more-private address space|target IP address space|"
                                            r"Permission was denied for this request to access|"
                                            r"Unable to ask for permission to access")),
    ("redirect_not_allowed", re.compile(r"Redirect location '[^']*' contains a username and password|"
                                        r"Redirect location '[^']*' has a disallowed scheme")),
    ("invalid_allow_list", re.compile(r"Cannot parse Access-Control-Allow-(?:Methods|Headers) response header field "
                                      r"in preflight response\.")),
    ("scheme_not_supported", re.compile(r"Cross origin requests are only supported for protocol schemes")),
    ("disallowed_by_mode", re.compile(r"Cross origin requests are not allowed by request mode\.")),
)


def _chromium(line: str) -> BrowserError | None:
    found = _CHROMIUM.search(line)
    if found is None:
        return _chromium_legacy(line)
    reason = found.group("reason")
    preflight = reason.startswith(_PREFLIGHT_PREFIX)
    for cause, pattern in _CHROMIUM_REASONS:
        matched = pattern.search(reason)
        if matched is None:
            continue
        groups = matched.groupdict()
        credentials = True if cause in ("wildcard_with_credentials", "allow_credentials_missing") else None
        if cause in ("method_not_allowed", "header_not_allowed", "preflight_not_ok", "preflight_redirect"):
            preflight = True
        return BrowserError(
            "chromium", cause, found.group(0), _CHROMIUM_SOURCE, url=found.group("url"),
            origin=found.group("origin"), preflight=preflight, method=groups.get("method"),
            header=groups.get("header"), credentials=credentials, value=groups.get("value"),
            redirected_from=found.group("from"), resource=found.group("resource"),
        )
    return None


def _chromium_legacy(line: str) -> BrowserError | None:
    found = _CHROMIUM_LEGACY.search(line)
    if found is None:
        return None
    reason = found.group("reason")
    origin = _LEGACY_ORIGIN.search(reason)
    status = _LEGACY_PREFLIGHT_STATUS.search(reason)
    url = found.group("url") or found.group("xhr_url")
    source = ("chromium (before 73): third_party/WebKit/Source/core/loader/DocumentThreadableLoader.cpp and "
              "platform/exported/WebCORS.cpp")
    fields = {"url": url, "origin": origin.group("origin") if origin else None}
    if status is not None:
        return BrowserError("chromium", "preflight_not_ok", found.group(0), source, preflight=True,
                            status=int(status.group("status")), **fields)
    modern = _chromium(f"Access to request at '{url}' from origin 'x' has been blocked by CORS policy: {reason}")
    if modern is None:
        return None
    return BrowserError("chromium", modern.cause, found.group(0), source, preflight=modern.preflight,
                        method=modern.method, header=modern.header, credentials=modern.credentials,
                        value=modern.value, **fields)


# XMLHttpRequest.getResponseHeader of a header that is not exposed (Chromium prints it; fetch stays silent).
_UNSAFE_HEADER = re.compile(r'Refused to get unsafe header "(?P<header>[!#$%&\'*+.^_`|~0-9A-Za-z-]{1,256})"')
_UNSAFE_HEADER_SOURCE = "chromium: third_party/blink/renderer/core/xmlhttprequest/xml_http_request.cc"


# -- Firefox --------------------------------------------------------------------------------------

_FIREFOX_SOURCE = ("firefox: dom/locales/en-US/chrome/security/security.properties; "
                   "MDN: developer.mozilla.org/en-US/docs/Web/HTTP/CORS/Errors")
_FIREFOX = re.compile(
    r"Cross-Origin Request Blocked: The Same Origin Policy disallows reading the remote resource at ‘?" + _URL +
    r"’?\. \(Reason: (?P<reason>.*?)\)\.?(?:\s*Status code: (?:(?P<status>\d{3})|\(null\))?\.?)?"
)
_Q = r"[‘'\"]"  # Firefox quotes with ‘…’; a copy may have turned them into straight quotes
_Q_END = r"[’'\"]"
_FIREFOX_REASONS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("missing_allow_origin", re.compile(r"CORS header " + _Q + "Access-Control-Allow-Origin" + _Q_END + r" missing")),
    ("allow_origin_mismatch", re.compile(r"CORS header " + _Q + "Access-Control-Allow-Origin" + _Q_END +
                                         r" does not match " + _Q + r"(?P<value>.*?)" + _Q_END)),
    ("wildcard_with_credentials", re.compile(r"Credential is not supported if the CORS header " + _Q +
                                             r"Access-Control-Allow-Origin" + _Q_END + r" is " + _Q + r"\*")),
    ("allow_credentials_missing", re.compile(r"expected " + _Q + r"true" + _Q_END + r" in CORS header " + _Q +
                                             r"Access-Control-Allow-Credentials")),
    ("multiple_allow_origin", re.compile(r"Multiple CORS headers? " + _Q + "Access-Control-Allow-Origin" + _Q_END +
                                         r" not allowed")),
    ("method_not_allowed", re.compile(r"Did not find method in CORS header " + _Q + "Access-Control-Allow-Methods")),
    ("header_not_allowed", re.compile(r"header " + _Q + r"(?P<header>[^’'\"]+)" + _Q_END + r" is not allowed "
                                      r"according to header " + _Q + r"Access-Control-Allow-Headers")),
    # Firefox before about 70: "missing token ‘x’ in CORS header ‘Access-Control-Allow-Headers’ from CORS
    # preflight channel", "CORS preflight channel did not succeed", "Multiple CORS headers ..."
    ("header_not_allowed", re.compile(r"missing token " + _Q + r"(?P<header>[^’'\"]+)" + _Q_END + r" in CORS header " +
                                      _Q + r"Access-Control-Allow-Headers")),
    ("preflight_not_ok", re.compile(r"CORS preflight (?:response|channel) did not succeed")),
    ("redirect_not_allowed", re.compile(r"CORS request external redirect not allowed")),
    ("request_failed", re.compile(r"CORS request did not succeed")),
    ("invalid_allow_list", re.compile(r"invalid token " + _Q + r"(?P<value>[^’'\"]*)" + _Q_END +
                                      r" in CORS header " + _Q + r"Access-Control-Allow-(?:Methods|Headers)")),
    ("scheme_not_supported", re.compile(r"CORS request not http")),
    ("blocked", re.compile(r"CORS disabled|CORS header " + _Q + r"Origin" + _Q_END + r" cannot be added")),
)


def _firefox(line: str) -> BrowserError | None:
    found = _FIREFOX.search(line)
    if found is None:
        return None
    reason = found.group("reason")
    for cause, pattern in _FIREFOX_REASONS:
        matched = pattern.search(reason)
        if matched is None:
            continue
        groups = matched.groupdict()
        status = int(found.group("status")) if found.group("status") else None
        preflight = True if cause in ("method_not_allowed", "header_not_allowed", "preflight_not_ok") else None
        credentials = True if cause in ("wildcard_with_credentials", "allow_credentials_missing") else None
        return BrowserError(
            "firefox", cause, found.group(0), _FIREFOX_SOURCE, url=found.group("url"), preflight=preflight,
            header=groups.get("header"), status=status, credentials=credentials, value=groups.get("value"),
        )
    return None


# -- Safari / WebKit ------------------------------------------------------------------------------

_WEBKIT_SOURCE = ("webkit: Source/WebCore/loader/CrossOriginAccessControl.cpp, CrossOriginPreflightResultCache.cpp, "
                  "ThreadableLoader.cpp")
_WEBKIT_STATUS = r"(?:\s*Status code: (?P<status>\d{3}))?"
_WEBKIT: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("redirect_not_allowed", re.compile(r"Cross-origin redirection to (?P<target>\S+) denied by Cross-Origin Resource "
                                        r"Sharing policy")),
    # Missing or another origin's Access-Control-Allow-Origin: WebKit says the same for both.
    ("missing_allow_origin", re.compile(r"Origin " + _ORIGIN + r" is not allowed by Access-Control-Allow-Origin\." +
                                        _WEBKIT_STATUS)),
    ("preflight_not_ok", re.compile(r"Preflight response is not successful\.?" + _WEBKIT_STATUS)),
    ("multiple_allow_origin", re.compile(r"Access-Control-Allow-Origin cannot contain more than one origin\.")),
    ("invalid_allow_list", re.compile(r"Header Access-Control-Allow-(?:Methods|Headers) has an invalid value")),
    ("scheme_not_supported", re.compile(r"Cross origin requests are only supported for HTTP\.")),
    ("disallowed_by_mode", re.compile(r"Cross origin requests are not allowed when using same-origin fetch mode\.")),
    ("header_not_allowed", re.compile(r"Request header field (?P<header>\S+) is not allowed by "
                                      r"Access-Control-Allow-Headers\.")),
    ("method_not_allowed", re.compile(r"Method (?P<method>\S+) is not allowed by Access-Control-Allow-Methods\.")),
    ("allow_credentials_missing", re.compile(r"Credentials flag is true, but Access-Control-Allow-Credentials is "
                                             r"not \"true\"\.")),
    ("wildcard_with_credentials", re.compile(r"Cannot use wildcard in Access-Control-Allow-Origin when credentials "
                                             r"flag is true\.")),
    ("blocked", re.compile(r"(?:(?:Fetch API|XMLHttpRequest|EventSource) cannot|Cannot) load " + _URL +
                           r" due to access control checks\.")),
)
# Safari prints the reason and then "Fetch API cannot load URL due to access control checks." on its
# own line: the URL comes from there.
_WEBKIT_URL = re.compile(r"(?:(?:Fetch API|XMLHttpRequest|EventSource) cannot|Cannot) load " + _URL +
                         r" due to access control checks")


def _webkit(text: str) -> BrowserError | None:
    url_line = _WEBKIT_URL.search(text)
    url = url_line.group("url").rstrip(".") if url_line else None
    for cause, pattern in _WEBKIT:
        found = pattern.search(text)
        if found is None:
            continue
        groups = found.groupdict()
        status = int(groups["status"]) if groups.get("status") else None
        preflight = True if cause in ("method_not_allowed", "header_not_allowed", "preflight_not_ok") else None
        credentials = True if cause in ("wildcard_with_credentials", "allow_credentials_missing") else None
        target = groups.get("target")
        return BrowserError(
            "webkit", cause, found.group(0), _WEBKIT_SOURCE, url=target or url, origin=groups.get("origin"),
            preflight=preflight, method=groups.get("method"), header=groups.get("header"), status=status,
            credentials=credentials, redirected_from=url if target else None,
        )
    return None


def parse(text: str) -> BrowserError | None:
    """The CORS error in ``text`` (a pasted console message), or None if it holds none this module knows."""
    text = " ".join(text.replace("\u00a0", " ").split())  # console copies wrap lines and use odd spaces
    for reader in (_chromium, _firefox):
        found = reader(text)
        if found is not None:
            return found
    header = _UNSAFE_HEADER.search(text)
    if header is not None:
        return BrowserError("chromium", "header_not_exposed", header.group(0), _UNSAFE_HEADER_SOURCE,
                            header=header.group("header"))
    return _webkit(text)
