"""From a browser's CORS error to its cause under the config, and the config edit that fixes it.

``diagnose(error, table, ...)`` takes a ``browser_errors.BrowserError`` and
the gateway's ``RouteTable`` and says what the browser did, which route serves
the URL, what the gateway decides for that origin/method/headers (through
``explain``, the same engine as ``cors-gateway explain``), the precise cause
and the fixes as config key paths.  When the gateway allows what the browser
refused, the cause is on the browser's side of the gateway, one of
``BROWSER_SIDE`` (the request did not go through the gateway, a redirect to
another origin, credentials to a public route, ...).

A message does not always say what was refused (Chromium prints the same
"No 'Access-Control-Allow-Origin' header" for a preflight refused for its
origin, for a safelisted method or behind ``refused_preflight: plain_403``).
``rejections`` (what the running gateway recorded for that URL and origin,
newest first) settle it; without them the possible causes are listed with how
to tell them apart.  Pure: no I/O (the CLI fetches the rejections).
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from .browser_errors import CAUSES, BrowserError
from .explain import Explanation, Fix, explain, reason_fixes
from .http import SAFELISTED_METHODS
from .rejections import Record
from .routes import RouteTable
from .settings import Mode, RefusedPreflight

__all__ = ["BROWSER_SIDE", "Diagnosis", "diagnose", "record_fixes"]

# Causes outside the gateway's decision (the ``reason`` when the gateway itself allows the request).
BROWSER_SIDE = {
    "not_through_gateway": "the request did not go to the gateway (the URL's host or port is not the gateway's)",
    "redirected_elsewhere": "the answer was a redirect to another origin, which then refused the request",
    "credentials_on_public_route": 'a request with credentials got "Access-Control-Allow-Origin: *", which '
                                   "browsers never share with credentials",
    "credentials_not_enabled": "a request with credentials needs Access-Control-Allow-Credentials: true, which "
                               "this route does not send",
    "header_not_exposed": "script read a response header the route does not list in expose_headers",
    "upstream_cors_headers": "the route's mode passes the upstream's own CORS headers through (shadow or off)",
    "preflight_cache": "the browser used a preflight answer it had cached (max_age) from an older policy",
    "request_failed": "the request got no answer at all (the gateway is down, unreachable, or the connection "
                      "failed)",
    "answered_elsewhere": "the gateway allows this request: the refused answer did not come from this config",
    "not_http": "the page (a file: page, say) or the URL is not http(s), and CORS only works between http(s) "
                "origins",
    "same_origin_mode": 'the page asked for a same-origin-only request (fetch mode "same-origin")',
    "local_network_permission": "Chromium's Private/Local Network Access kept a page from reaching a more "
                                "private address (an insecure page, or a permission the user or a policy denied); "
                                "no server header changes that",
}

_QUOTED = re.compile(r'"([!#$%&\'*+.^_`|~0-9A-Za-z-]+)"')  # the token names a rejection's detail quotes

# What the gateway never answers with in mode enforce: the browser saw another server's answer.
_NOT_FROM_ENFORCE = {
    "allow_origin_mismatch": "the gateway only ever answers with the request's own origin or *",
    "multiple_allow_origin": "the gateway sends one Access-Control-Allow-Origin and drops the upstream's",
    "invalid_allow_origin": "the gateway only ever answers with the request's own origin or *",
    "invalid_allow_list": "the gateway's Access-Control-Allow-Methods/-Headers are token lists",
    "preflight_redirect": "the gateway answers preflights itself and never redirects them",
}


@dataclass(frozen=True)
class Diagnosis:
    """What happened and what to change."""

    error: BrowserError
    url: str | None
    origin: str | None
    browser_did: str
    route: str | None = None
    decision: str | None = None
    reason: str | None = None  # a gateway rejection reason (policy.Reason), "no_route", or one of BROWSER_SIDE
    cause: str = ""
    fixes: tuple[Fix, ...] = ()
    possible: tuple[str, ...] = ()  # when the message leaves several causes open: each, and how to tell
    explanation: Explanation | None = field(default=None, repr=False)

    def to_json(self) -> dict:
        return {
            "browser": self.error.browser, "url": self.url, "origin": self.origin, "route": self.route,
            "decision": self.decision, "reason": self.reason, "fixes": [fix.to_json() for fix in self.fixes],
            "message": self.error.message, "browser_cause": self.error.cause, "browser_did": self.browser_did,
            "cause": self.cause, "possible": list(self.possible),
        }

    def lines(self) -> list[str]:
        out = [f"browser: {self.error.browser}", f"browser did: {self.browser_did}",
               f"browser refused: {CAUSES[self.error.cause]}"]
        if self.explanation is not None:
            out.append(self.explanation.lines[0])
        if self.decision is not None:
            out.append(f"gateway decision: {self.decision}")
        out.append(f"reason: {self.reason or 'unknown'}")
        if self.cause:
            out.append(f"cause: {self.cause}")
        out += [f"fix: {fix}" for fix in self.fixes]
        if self.possible:
            out.append("possible causes (the message does not say which):")
            out += [f"  - {item}" for item in self.possible]
        return out


def _browser_did(error: BrowserError, url: str | None, origin: str | None, method: str | None) -> str:
    what = error.resource or "request"
    target = url or "(URL not in the message)"
    source = f" from origin {origin}" if origin else ""
    redirect = f" (redirected from {error.redirected_from})" if error.redirected_from else ""
    if error.preflight:
        how = f"sent a preflight (OPTIONS{', for ' + method if method else ''}) first, and it failed"
    elif error.preflight is False:
        how = "sent the request without a preflight, and refused its answer"
    else:
        how = "refused the answer"
    credentials = "; credentials mode include" if error.credentials else ""
    return f"{what} {target}{redirect}{source}: {how}{credentials}"


def _split(url: str | None):
    """``urlsplit(url)``, or None for a URL that does not parse (or has a bad port)."""
    if url is None:
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return None
    return parts


def _host_header(url: str) -> str | None:
    """The Host header a browser sends for ``url`` (for routes with ``host:``)."""
    parts = _split(url)
    if parts is None or not parts.hostname:
        return None
    return parts.netloc.rpartition("@")[2]


def _origin_of(url: str) -> str | None:
    parts = _split(url)
    if parts is None:
        return None
    port = parts.port
    if not parts.scheme or not parts.hostname:
        return None
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return f"{parts.scheme}://{parts.hostname}" + ("" if port in (None, default) else f":{port}")


_LOOPBACK = ("localhost", "127.0.0.1", "::1")


def _gateway_elsewhere(url: str, table: RouteTable, gateway_url: str | None) -> tuple[bool, str] | None:
    """Why ``url`` may not be the gateway's: (certain, why), or None when it may well be.

    Certain with ``--gateway-url``, or for a loopback URL on another port than ``listen.port``; a
    public URL on another port may be the gateway behind a TLS terminator or a load balancer."""
    target = _origin_of(url)
    parts = _split(url)
    if target is None or parts is None:
        return None
    if gateway_url:
        ours = _origin_of(gateway_url)
        if ours is not None and ours != target:
            return True, f"the page called {target}, the gateway is {ours}"
        return None
    port = parts.port or {"http": 80, "https": 443}.get(parts.scheme)
    listen = table.config.listen_port
    if not listen or port == listen:
        return None
    loopback = parts.hostname in _LOOPBACK or (parts.hostname or "").startswith("127.")
    why = f"the page called {target} (port {port}); the gateway listens on port {listen} (listen.port)"
    if loopback:
        return True, why
    return False, (f"{why}: unless a load balancer or TLS terminator forwards that port to it, the request did not "
                   "go through the gateway (--gateway-url says which URL is the gateway's)")


def diagnose(error: BrowserError, table: RouteTable, *, url: str | None = None, origin: str | None = None,
             method: str | None = None, gateway_url: str | None = None,
             rejections: tuple[Record, ...] = ()) -> Diagnosis:
    """Explain ``error`` under the config of ``table``; ``url``, ``origin``, ``method`` fill in what the message
    does not say; ``rejections``: the running gateway's recent ones for this URL and origin, newest first."""
    url = error.url or url
    origin = error.origin or origin
    method = error.method or method
    did = _browser_did(error, url, origin, method)
    base = {"error": error, "url": url, "origin": origin, "browser_did": did}
    if error.cause == "request_failed":
        return Diagnosis(**base, reason="request_failed", cause=BROWSER_SIDE["request_failed"],
                         possible=("the gateway is not running or not reachable at that URL (check /readyz on its "
                                   "admin listener)", "a TLS or certificate error (see the browser's network tab)"))
    if url is None:
        return Diagnosis(**base, reason=None, cause="the message names no URL: pass --url (and --origin) to "
                                                  "say which request it was")
    parts = _split(url)
    if parts is None:
        return Diagnosis(**base, reason=None, cause=f"the URL {url!r} does not parse: pass the request's URL with "
                                                  "--url")
    if error.redirected_from and _origin_of(error.redirected_from) != _origin_of(url):
        return Diagnosis(
            **base, reason="redirected_elsewhere",
            cause=(f"{error.redirected_from} answered with a redirect to {_origin_of(url)}, and the browser then asked "
                   f"that origin, which is not the gateway; its answer had no CORS headers for {origin}"),
            fixes=(Fix("(upstream app)", "redirect to a URL on the gateway: build it from the request's "
                                         "X-Forwarded-Host/-Proto (Werkzeug's ProxyFix) or keep "
                                         "upstreams.*.preserve_host: true"),),
        )
    if error.cause == "scheme_not_supported" or parts.scheme not in ("http", "https"):
        return Diagnosis(**base, reason="not_http", cause=BROWSER_SIDE["not_http"],
                         fixes=(Fix("(frontend)", "serve the page over http(s) and call the gateway's http(s) URL"),))
    if error.cause == "local_network_permission":
        return Diagnosis(**base, reason="local_network_permission", cause=BROWSER_SIDE["local_network_permission"],
                         fixes=(Fix("(frontend)", "serve the page over https, and let the user grant the local "
                                                  "network permission Chromium asks for"),))
    if error.cause == "disallowed_by_mode":
        return Diagnosis(**base, reason="same_origin_mode", cause=BROWSER_SIDE["same_origin_mode"],
                         fixes=(Fix("(frontend)", 'drop mode: "same-origin" from the fetch call'),))
    if error.cause == "redirect_not_allowed":
        return Diagnosis(**base, reason="redirected_elsewhere",
                         cause="the answer was a redirect the browser would not follow for a CORS request",
                         fixes=(Fix("(upstream app)", "answer the URL itself instead of redirecting (a trailing "
                                                      "slash redirect, say: call the final URL)"),))
    elsewhere = _gateway_elsewhere(url, table, gateway_url)
    if elsewhere is not None and elsewhere[0]:
        return Diagnosis(**base, reason="not_through_gateway", cause=f"{BROWSER_SIDE['not_through_gateway']}: "
                                                                     f"{elsewhere[1]}",
                         fixes=(Fix("(frontend)", f"call the gateway's URL instead of {_origin_of(url)}"),))
    if origin is None:
        return Diagnosis(**base, reason=None, cause="the message names no origin (Firefox does not): pass --origin "
                                                    "with the page's origin")
    found = _judge(error, table, base, parts.path or "/", _host_header(url), origin, method, rejections)
    if elsewhere is not None and found.decision != "rejected":
        found = dataclasses.replace(found, possible=(elsewhere[1], *found.possible))
    return found


def _judge(error: BrowserError, table: RouteTable, base: dict, path: str, host: str | None, origin: str,
           method: str | None, rejections: tuple[Record, ...]) -> Diagnosis:
    cause = error.cause
    credentials = bool(error.credentials)
    headers = (error.header,) if error.header and cause != "header_not_exposed" else ()
    preflight = bool(error.preflight) or cause in ("method_not_allowed", "header_not_allowed")
    route = table.match(host, path)
    policy = route.policy if route is not None else table.fallback
    recorded = _matching_record(error, rejections, route.name if route is not None else "__no_route__")
    if recorded is not None and method is None:
        method = recorded.method  # a preflight's record holds the method the page asked for
    # The method to judge: the message's, a recorded one, or one the route allows (to isolate the
    # origin and header checks).
    if cause == "method_not_allowed" and method is None and recorded is None:
        return _unnamed_method(error, table, base, path, host, origin, policy)
    judged_method = method or _some_allowed_method(policy, preflight)
    result = explain(table, path=path, origin=origin, method=judged_method, headers=headers, host=host,
                     preflight=preflight, credentials=credentials)
    found = {**base, "route": result.route, "decision": result.decision, "explanation": result}
    if result.mode in (Mode.OFF, Mode.SHADOW) and result.route is not None:
        return Diagnosis(**found, reason="upstream_cors_headers",
                         cause=f"route {result.route} is in mode {result.mode}: the upstream's own CORS headers (and "
                               "its answers to preflights) reach the browser, not the gateway's decision",
                         fixes=(Fix(policy.settings.key_path("mode", result.where),
                                    "set to enforce (after shadow mode shows no disagreements)"),))
    never = _NOT_FROM_ENFORCE.get(cause)
    if never is None and cause == "preflight_not_ok" and error.browser == "chromium":
        # Chromium says this only after the CORS check passed: the answer had CORS headers and a non-2xx status.
        never = "the gateway answers preflights itself with 204, 200, or 403 without CORS headers"
    if never is not None and result.route is not None:
        return Diagnosis(**found, reason="answered_elsewhere",
                         cause=f"{BROWSER_SIDE['answered_elsewhere']}: {never}; another server or a cache between "
                               "the gateway and the browser answered",
                         possible=("a cache or CDN that ignores Vary: Origin served another origin's answer",
                                   "the page called another server than the gateway"))
    if recorded is not None and result.decision != "rejected":
        # The running gateway refused it (e.g. for a method the message does not name): trust the record.
        return Diagnosis(**found, reason=recorded.reason,
                         cause=f"the gateway recorded: {recorded.detail or recorded.reason}",
                         fixes=_fixes_for_record(recorded, policy.settings, result.where, origin))
    if result.decision == "rejected":
        cause = result.refusal if result.refusal and result.reason != "malformed_origin" else result.detail
        fixes = result.fixes
        lowercase = _lowercase_method_fix(method, policy.settings) if result.reason == "method_not_allowed" \
            and method else None
        if lowercase is not None:
            cause = (f'the page sends the method "{method}", and methods are case-sensitive: fetch() uppercases '
                     f'only DELETE, GET, HEAD, OPTIONS, POST and PUT, so "{method}" is not the "{method.upper()}" '
                     "the route allows")
            fixes = (lowercase,)
        return Diagnosis(**found, reason=result.reason, cause=cause, fixes=fixes)
    return _allowed_but_refused(error, policy, found, result, method)


def _unnamed_method(error: BrowserError, table: RouteTable, base: dict, path: str, host: str | None, origin: str,
                    policy) -> Diagnosis:
    """A method refusal whose message does not name the method (Firefox's CORSMethodNotFound)."""
    result = explain(table, path=path, origin=origin, method=_some_allowed_method(policy, True), host=host,
                     preflight=True)
    key = policy.settings.key_path("methods", result.where)
    listed = ", ".join(policy.settings.methods or ()) or "(none)"
    return Diagnosis(
        **base, route=result.route, decision="rejected", reason="method_not_allowed", explanation=result,
        cause=f"the page asked for a method {key} does not list ({listed}); {error.browser} does not name it",
        fixes=(Fix(key, "add the method the page uses (--method METHOD names it here)"),),
    )


def _matching_record(error: BrowserError, rejections: tuple[Record, ...], route: str) -> Record | None:
    """The newest recorded rejection that can be the one the message is about (same route, same kind),
    when the message leaves the cause open (a message that names it is never overruled by another
    request's record)."""
    open_ = error.cause in ("missing_allow_origin", "preflight_not_ok", "blocked") or (
        error.cause == "method_not_allowed" and error.method is None) or (
        error.cause == "header_not_allowed" and error.header is None)
    if not open_:
        return None
    for record in rejections:
        if record.kind == "shadow" or record.route != route:
            continue
        if error.preflight is not None and (record.kind == "preflight") != error.preflight:
            continue
        if error.cause == "method_not_allowed" and record.reason != "method_not_allowed":
            continue
        return record
    return None


def _some_allowed_method(policy, preflight: bool) -> str:
    methods = policy.settings.methods
    if methods is None:
        return "PUT" if preflight else "GET"
    for candidate in (("PUT", "PATCH", "DELETE", "POST", "GET") if preflight else ("GET", "POST", "HEAD")):
        if candidate in methods:
            return candidate
    return methods[0] if methods else "GET"


def _lowercase_method_fix(method: str, settings) -> Fix | None:
    """fetch() uppercases only DELETE, GET, HEAD, OPTIONS, POST and PUT: "patch" is not the listed "PATCH"."""
    if method != method.upper() and settings.methods is not None and method.upper() in settings.methods:
        return Fix("(frontend)", f'send method "{method.upper()}"')
    return None


def record_fixes(record: Record, table: RouteTable) -> tuple[Fix, ...]:
    """The config edits that would have let a recorded rejection through (the admin page's "fix")."""
    if record.route == "__no_route__":
        policy = table.fallback
    else:
        route = next((r for r in table.routes if r.name == record.route), None)
        if route is None:
            return ()
        policy = route.policy
    return _fixes_for_record(record, policy.settings, policy.where, record.origin or "")


def _fixes_for_record(record: Record, settings, where: str, origin: str) -> tuple[Fix, ...]:
    if record.reason == "method_not_allowed":
        lowercase = _lowercase_method_fix(record.method, settings)
        if lowercase is not None:
            return (lowercase,)
    names = _QUOTED.findall(record.detail.partition(" not in ")[0]) if record.reason == "header_not_allowed" else []
    fixes = reason_fixes(record.reason, settings, where, origin=origin, method=record.method, header_names=names)
    if record.reason == "header_not_allowed" and not fixes:
        return (Fix(settings.key_path("allow_headers", where), "add the requested header names"),)
    return fixes


def _allowed_but_refused(error: BrowserError, policy, found: dict, result: Explanation,
                         method: str | None) -> Diagnosis:
    """The gateway allows what the browser refused: name the cause on the browser's side."""
    cause = error.cause
    where = result.where
    key = policy.settings.key_path
    if cause == "wildcard_with_credentials" or (error.credentials and result.credentials_shared is False):
        reason = "credentials_on_public_route" if policy.public else "credentials_not_enabled"
        return Diagnosis(**found, reason=reason, cause=BROWSER_SIDE[reason], fixes=result.fixes)
    if cause == "private_network" and not policy.settings.allow_private_network:
        return Diagnosis(**{**found, "decision": "rejected"}, reason="private_network_not_allowed",
                         cause=f"the route does not answer private network preflights ("
                               f"{key('allow_private_network', where)} is false)",
                         fixes=(Fix(key("allow_private_network", where), "set to true (for origins you trust)"),))
    if cause == "allow_credentials_missing":
        fixes = result.fixes or (Fix(key("supports_credentials", where), "set to true"),)
        return Diagnosis(**found, reason="credentials_not_enabled", cause=BROWSER_SIDE["credentials_not_enabled"],
                         fixes=fixes)
    if cause == "header_not_exposed":
        exposed = policy.settings.expose_headers
        if exposed is not None and error.header and error.header.lower() not in {h.lower() for h in exposed}:
            return Diagnosis(**found, reason="header_not_exposed", cause=BROWSER_SIDE["header_not_exposed"],
                             fixes=(Fix(key("expose_headers", where), f'add "{error.header}"'),))
    possible = _open_causes(error, policy, where, method)
    if policy.settings.max_age and cause in ("method_not_allowed", "header_not_allowed"):
        return Diagnosis(**found, reason="preflight_cache", cause=BROWSER_SIDE["preflight_cache"] + (
            f" ({key('max_age', where)} is {policy.settings.max_age}s): reload with the cache disabled, or wait"),
            possible=possible)
    return Diagnosis(**found, reason="answered_elsewhere", cause=BROWSER_SIDE["answered_elsewhere"],
                     possible=possible)


def _open_causes(error: BrowserError, policy, where: str, method: str | None) -> tuple[str, ...]:
    """What else can make the browser print this message, given the route's policy."""
    settings = policy.settings
    key = settings.key_path
    possible = []
    methods = settings.methods
    if method is None and methods is not None:
        refused_simple = [m for m in SAFELISTED_METHODS if m not in methods and not (m == "HEAD" and "GET" in methods)]
        if refused_simple:
            possible.append(f"the page used {'/'.join(sorted(refused_simple))}, which {key('methods', where)} "
                            "leaves out (add it there)")
        if settings.refused_preflight is RefusedPreflight.PLAIN_403:
            possible.append(f"a method or header refused behind {key('refused_preflight', where)}: plain_403 (set "
                            "it to name_cause and the browser names it)")
    if error.preflight and not settings.allow_private_network:
        possible.append(f"a private network request (Chromium's Private Network Access): "
                        f"{key('allow_private_network', where)}")
    possible.append("the request did not reach this gateway (another host or port, or a cached answer): check the "
                    "URL and the browser's network tab; diagnose -c with the gateway running asks it for its "
                    "recorded rejections")
    if settings.max_age:
        possible.append(f"a preflight cached for up to {settings.max_age}s ({key('max_age', where)}) under an older "
                        "policy")
    return tuple(possible)
