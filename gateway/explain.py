"""Why the gateway answers a request as it does: the route, the decision, its reason and the config fix.

One answer for ``cors-gateway explain``, ``cors-gateway diagnose`` and the
admin API's ``/api/explain``: ``explain(table, ...)`` takes the facts of one
browser request (path, origin, method, the headers the page sets, whether it
sends credentials) and returns an ``Explanation``: the structured verdict
(route, decision, reason token, fixes as config key paths) and the text lines
``explain`` prints.  Pure: the engine's ``RouteTable`` in, no I/O.

Reasons are the engine's tokens (``policy.Reason``: the same as metrics and
the 403 body), plus ``bad_path`` for a path the gateway refuses with 400.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .http import SAFELISTED_METHODS, TOKEN
from .origins import PatternError, is_serialized_origin, normalize_origin
from .policy import Decision, Kind, _parse_header_names
from .routes import CompiledRoute, RouteTable, normalize_path
from .settings import Mode, OnReject, RefusedPreflight

__all__ = ["Explanation", "Fix", "explain", "origin_problem", "reason_fixes"]


@dataclass(frozen=True, slots=True)
class Fix:
    """One config edit: the key path and the change, e.g. ``routes.2.cors.allow_headers: add "x-api-key"``."""

    key: str
    change: str

    def __str__(self) -> str:
        return f"{self.key}: {self.change}"

    def to_json(self) -> dict:
        return {"key": self.key, "change": self.change}


@dataclass(frozen=True, slots=True)
class Explanation:
    """The gateway's verdict on one request, and what to change in the config."""

    path: str
    origin: str
    method: str
    preflight: bool
    route: str | None  # the route's name; None: no route matches (or the path is refused)
    where: str  # the cors block that decides: "routes.2.cors" or "defaults.cors"
    mode: str  # enforce | shadow | off
    decision: str  # allowed | rejected | not_applicable
    reason: str | None  # policy.Reason token, "no_route" or "bad_path"; None when allowed
    detail: str = ""  # what was refused and what the policy allows instead
    fixes: tuple[Fix, ...] = ()
    # With credentials: does the browser share an allowed answer?  None: not asked.
    credentials_shared: bool | None = None
    status: int | None = None  # a preflight's answer status
    headers: tuple[tuple[str, str], ...] = ()  # the CORS headers answered (Vary last)
    lines: tuple[str, ...] = field(default=(), repr=False)  # what `cors-gateway explain` prints
    refusal: str = ""  # the rejection's own words, naming the refused value and the key (Decision.detail)

    def to_json(self) -> dict:
        return {
            "path": self.path, "origin": self.origin, "method": self.method, "preflight": self.preflight,
            "route": self.route, "where": self.where, "mode": self.mode, "decision": self.decision,
            "reason": self.reason, "detail": self.detail, "fixes": [fix.to_json() for fix in self.fixes],
            "credentials_shared": self.credentials_shared, "status": self.status,
            "headers": [list(pair) for pair in self.headers],
        }


def origin_problem(origin: str) -> str:
    """Why ``origin`` is not an Origin a browser sends (for a malformed_origin rejection)."""
    if origin == "":
        return "the Origin header is empty"
    try:
        normal = normalize_origin(origin)
    except PatternError as err:
        return str(err)
    if normal != origin:
        return f'not in the form browsers send; a browser would send "{normal}"'
    return "not a serialized origin"


def explain(table: RouteTable, *, path: str, origin: str, method: str = "GET", headers: tuple[str, ...] = (),
            host: str | None = None, preflight: bool = False, credentials: bool = False) -> Explanation:
    """Judge one browser request as the running gateway would.

    ``headers``: the names of the request headers the page sets (non-safelisted ones make a preflight);
    ``preflight``: treat it as preflighted even when the browser would not need to.
    """
    names = tuple(h.strip().lower() for item in headers for h in item.split(",") if h.strip())
    lines: list[str] = []
    normal = normalize_path(path.partition("?")[0])
    if normal is None:
        lines += ["route: (none)  -- the path is refused with 400 (dot-segments, backslashes, '#', control "
                  "characters or invalid UTF-8)", "decision: rejected", "reason: no_route"]
        return Explanation(path, origin, method, preflight, None, "defaults.cors", "enforce", "rejected", "bad_path",
                           "the gateway refuses this path with 400", lines=tuple(lines))
    route = table.match(host, normal)
    preflight = preflight or method not in SAFELISTED_METHODS or bool(names)
    policy = route.policy if route is not None else table.fallback
    if preflight:
        decision = policy.preflight([origin], [method], [", ".join(names)] if names else [])
    else:
        decision = policy.actual(method, [origin])
    where = policy.where
    mode = route.route.cors.mode.value if route is not None else table.config.defaults_cors.mode.value

    lines += _request_lines(route, method, preflight)
    if route is not None and route.mode == Mode.OFF:
        lines += ["decision: allowed", "reason: none (mode off: the gateway is a plain proxy here and adds no CORS "
                                       "headers)"]
        return Explanation(path, origin, method, preflight, route.name, where, mode, "allowed", None,
                           lines=tuple(lines))
    detail = _detail(decision, policy, origin)
    lines += _decision_lines(route, decision, detail)
    fixes = list(_fixes(route, decision, policy, where, origin, method, names, normal))
    shared: bool | None = None
    if credentials and decision.allowed:
        shared, credential_lines, credential_fixes = _credentials(policy, where)
        lines += credential_lines
        fixes += credential_fixes
    lines += _answer_lines(route, decision)
    answered = tuple(decision.headers) + ((("Vary", ", ".join(decision.vary)),) if decision.vary else ())
    if route is None:
        verdict, reason = "rejected", "no_route"
    else:
        verdict = decision.label if decision.allowed is not None else "allowed"
        reason = decision.reason.value if decision.reason else None
    return Explanation(
        path, origin, method, preflight, route.name if route is not None else None, where, mode, verdict, reason,
        detail, tuple(fixes), shared, decision.status if decision.kind is Kind.PREFLIGHT else None, answered,
        tuple(lines), decision.detail,
    )


def _request_lines(route: CompiledRoute | None, method: str, preflight: bool) -> list[str]:
    """The route that serves the path, and whether a browser sends a preflight first."""
    lines = []
    if route is None:
        lines.append("route: (none)  -- no route matches; the gateway answers 404, judged by defaults.cors")
    else:
        r = route.route
        scope = f"path {r.path}" if r.path is not None else f"path_regex {r.path_regex}"
        lines.append(f"route: {r.name} (routes.{r.index}: {scope}, upstream {r.upstream}, mode {r.cors.mode})")
    if preflight:
        why = "method is not GET/HEAD/POST" if method not in SAFELISTED_METHODS else "non-safelisted headers"
        lines.append(f"request: preflight (OPTIONS, Access-Control-Request-Method: {method}; a browser preflights: "
                     f"{why})")
    else:
        lines.append(f"request: actual {method} (no preflight: simple method and no extra headers)")
    return lines


def _detail(decision: Decision, policy, origin: str) -> str:
    """What exactly was refused, and what the policy allows instead."""
    if decision.reason is None:
        return ""
    settings = policy.settings
    detail = decision.message.split(": ", 2)[-1].strip()
    reason = decision.reason.value
    if reason == "malformed_origin":
        return origin_problem(origin)
    if reason == "origin_not_allowed":
        allowed = [("re:" if p.kind == "regex" else "") + p.text for p in settings.origins] or ["(none)"]
        detail += "; allowed origins: " + ", ".join(allowed)
    elif reason == "method_not_allowed":
        detail += "; allowed methods: " + (", ".join(settings.methods) if settings.methods is not None else "*")
    elif reason == "header_not_allowed":
        allowed_names = settings.allow_headers
        detail += "; allowed headers: " + (", ".join(allowed_names) if allowed_names is not None else "*")
    return detail


def _decision_lines(route: CompiledRoute | None, decision: Decision, detail: str) -> list[str]:
    lines = []
    if route is None:
        lines += ["decision: rejected", "reason: no_route"]
        reason = f" ({decision.reason.value})" if decision.reason else ""
        lines.append(f"defaults.cors for this origin: {decision.label}{reason}")
    else:
        lines.append(f"decision: {decision.label if decision.allowed is not None else 'allowed'}")
        lines.append(f"reason: {decision.reason.value if decision.reason else 'none'}")
    if decision.reason is None:
        return lines
    lines.append(f"detail: {detail}")
    if decision.detail and decision.reason.value != "malformed_origin":
        lines.append(f"fix: {decision.detail}")
    return lines


def _fixes(route: CompiledRoute | None, decision: Decision, policy, where: str, origin: str, method: str,
           names: tuple[str, ...], path: str):
    """The config edits that would let this request through (none for a malformed origin)."""
    if route is None:
        yield Fix("routes", f"add a route whose path covers {path} (no route matches it)")
    if decision.reason is None:
        return
    reason = decision.reason.value
    allowed = {h.lower() for h in policy.settings.allow_headers or ()}
    refused = [n for n in (_parse_header_names([", ".join(names)]) or []) if n not in allowed]
    yield from reason_fixes(reason, policy.settings, where, origin=origin,
                            method=method if decision.kind is not Kind.NON_CORS else None, header_names=refused)


def reason_fixes(reason: str, settings, where: str, *, origin: str, method: str | None,
                 header_names: list[str]) -> tuple[Fix, ...]:
    """The config edits for one rejection reason (``where``: the cors block's key path; ``header_names``:
    the refused ones).  Nothing for a value no browser sends (a malformed origin, a method not a token)."""
    if reason == "origin_not_allowed" and is_serialized_origin(origin):
        return (Fix(settings.key_path("origins", where), f'add "{origin}"'),)
    if reason == "method_not_allowed" and method is not None and TOKEN.fullmatch(method):
        return (Fix(settings.key_path("methods", where), f'add "{method}"'),)
    if reason == "header_not_allowed":
        return tuple(Fix(settings.key_path("allow_headers", where), f'add "{name}"') for name in header_names)
    if reason == "private_network_not_allowed":
        return (Fix(settings.key_path("allow_private_network", where), "set to true (for origins you trust)"),)
    return ()


def _credentials(policy, where: str) -> tuple[bool, list[str], list[Fix]]:
    """With credentials: will the browser share an allowed answer?"""
    origins = policy.settings.key_path("origins", where)
    credentials = policy.settings.key_path("supports_credentials", where)
    if policy.public:
        return False, [
            'browser: refuses the answer: a request with credentials (cookies, credentials: "include") is never '
            "shared with Access-Control-Allow-Origin: *",
            f"fix: list the allowed origins in {origins} and set {credentials}: true",
        ], [Fix(origins, 'list the allowed origins instead of "*"'), Fix(credentials, "set to true")]
    if not policy.settings.supports_credentials:
        return False, [
            "browser: refuses the answer: a request with credentials needs Access-Control-Allow-Credentials: true, "
            "which this route does not send",
            f"fix: set {credentials}: true (the origins are listed, so this is safe)",
        ], [Fix(credentials, "set to true")]
    return True, ["browser: shares the answer with credentials (Access-Control-Allow-Credentials: true)"], []


def _answer_lines(route: CompiledRoute | None, decision: Decision) -> list[str]:
    """What the gateway does with the request, and the headers it answers with."""
    lines = []
    if route is not None and decision.kind is not Kind.PREFLIGHT and decision.allowed is False:
        blocked = route.route.cors.on_reject == OnReject.BLOCK
        action = "403, upstream not called" if blocked else "forwarded without CORS headers"
        lines.append(f"on_reject: {route.route.cors.on_reject} ({action})")
    if decision.kind is Kind.PREFLIGHT:
        lines.append(f"status: {decision.status}")
        if decision.allowed is False and decision.status == 200:
            lines.append(f"refused_preflight: {RefusedPreflight.NAME_CAUSE} (an ok answer whose lists leave the "
                         "method or header out: the browser still refuses, and its console names it)")
    lines.append("headers:")
    for name, value in decision.headers:
        lines.append(f"  {name}: {value}")
    if decision.vary:
        lines.append(f"  Vary: {', '.join(decision.vary)}")
    if not decision.headers and not decision.vary:
        lines.append("  (none)")
    return lines
