"""The admin listener's app: /metrics, /healthz, /readyz, the debugger page and its API, and the bearer token.

One implementation for both process models: a single-process gateway
(``server.gateway.Gateway.admin_app``) and the parent of several workers
(``supervisor``) serve the same app, and differ only in where the metrics
and the recent rejections come from and what "ready" means.  The public
listener never serves these.

The debugger: ``/`` is a static page (``admin_page/``: HTML, CSS and a
little JavaScript, no build step, nothing from elsewhere) that shows what
the API returns: ``/api/routes`` (the routes in match order with their
effective policies), ``/api/rejections`` (the recent rejections and shadow
disagreements, grouped with the fix for each group), ``/api/explain`` and
``/api/diagnose`` (``explain`` and ``diagnosis`` on the live config).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
from collections.abc import Callable
from importlib import resources
from urllib.parse import urlsplit

from aiohttp import web

from .browser_errors import KNOWN_FORMATS
from .browser_errors import parse as parse_browser_error
from .diagnosis import diagnose, record_fixes
from .explain import explain
from .rejections import RejectionLog
from .routes import RouteTable

__all__ = ["ADMIN_OPEN_PATHS", "admin_application", "bearer_token_matches"]

# Open without the token: they say no more than "alive" and "ready" (a
# Kubernetes httpGet probe could only send a token written into the Pod
# spec), or are the debugger page's static files, which hold no data (the
# page asks for the token and sends it to the API).
ADMIN_OPEN_PATHS = frozenset({"/healthz", "/readyz", "/", "/app.js", "/app.css"})

_PAGE_FILES = {"/": ("index.html", "text/html"), "/app.js": ("app.js", "text/javascript"),
               "/app.css": ("app.css", "text/css")}
# The page loads only its own files and talks only to its own API.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
                               "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}
_API_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
MAX_API_BODY = 64 * 1024
DEFAULT_RECORDS = 100  # /api/rejections: the newest records sent unless ?limit= says otherwise
MAX_GROUPS = 100  # and at most this many groups (the most frequent)

_EXPOSITION_HEADERS = {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}


def admin_application(
    token: str | None, exposition: Callable[[], bytes], not_ready: Callable[[], str | None], *,
    table: Callable[[], RouteTable] | None = None, rejections: RejectionLog | None = None, workers: int = 0,
) -> web.Application:
    """The admin listener's app.

    ``exposition()``: the Prometheus text for /metrics.  ``not_ready()``: None
    when /readyz should say "ready" (200), else the word it says with 503
    ("draining", "starting").  /healthz says "ok" while the process answers.

    With a token (``admin.token``), everything but /healthz and /readyz
    (that is /metrics, and any path that does not exist) needs
    ``Authorization: Bearer <token>``; a missing or wrong one gets 401 with
    ``WWW-Authenticate: Bearer``.  The token is compared in constant time,
    and neither logged nor counted.
    """

    async def metrics(request: web.Request) -> web.Response:
        return web.Response(body=exposition(), headers=_EXPOSITION_HEADERS)

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(request: web.Request) -> web.Response:
        why = not_ready()
        if why is None:
            return web.Response(text="ready\n")
        return web.Response(status=503, text=f"{why}\n")

    guard = _loopback_hosts_only() if token is None else _bearer_auth(token)
    app = web.Application(middlewares=[guard], client_max_size=MAX_API_BODY)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    if table is not None:
        _add_debugger(app, table, rejections if rejections is not None else RejectionLog(0), workers)
    return app


def _page_file(path: str) -> tuple[bytes, str]:
    name, content_type = _PAGE_FILES[path]
    return resources.files("gateway").joinpath("admin_page", name).read_bytes(), content_type


def _json(data: object, status: int = 200) -> web.Response:
    return web.Response(text=json.dumps(data), status=status, content_type="application/json",
                        headers=_API_HEADERS)


def _route_json(index: int | None, name: str, settings, route=None) -> dict:
    return {
        "index": index, "name": name,
        "path": route.path if route is not None else None, "path_regex": route.path_regex if route else None,
        "host": route.host if route is not None else None, "upstream": route.upstream if route else None,
        "origins": [("re:" if p.kind == "regex" else "") + p.text for p in settings.origins],
        "methods": list(settings.methods) if settings.methods is not None else None,
        "allow_headers": list(settings.allow_headers) if settings.allow_headers is not None else None,
        "expose_headers": list(settings.expose_headers) if settings.expose_headers is not None else None,
        "supports_credentials": settings.supports_credentials, "max_age": settings.max_age,
        "allow_private_network": settings.allow_private_network, "mode": settings.mode.value,
        "on_reject": settings.on_reject.value, "refused_preflight": settings.refused_preflight.value,
        "csrf": route.csrf.value if route is not None else "off",
    }


def _add_debugger(app: web.Application, table: Callable[[], RouteTable], log: RejectionLog, workers: int) -> None:
    """The page and its API over the live config (``table()``) and the recent rejections (``log``)."""
    debugger = _Debugger(table, log, workers)
    for path in _PAGE_FILES:
        app.router.add_get(path, debugger.static)
    app.router.add_get("/api/routes", debugger.routes)
    app.router.add_get("/api/rejections", debugger.rejections)
    app.router.add_get("/api/explain", debugger.explained)
    app.router.add_post("/api/diagnose", debugger.diagnosed)


class _Debugger:
    """The handlers of the debugger page and API."""

    def __init__(self, table: Callable[[], RouteTable], log: RejectionLog, workers: int):
        self.table = table
        self.log = log
        self.workers = workers
        self.page = {path: _page_file(path) for path in _PAGE_FILES}  # read once: a broken install fails at start
        # /api/rejections answers by query, kept while the log and the config stay the same (the page
        # polls every 5 s; a large log is not rebuilt for each poll): query -> (version, table, JSON).
        self._answers: dict[tuple, tuple[int, RouteTable, str]] = {}

    async def static(self, request: web.Request) -> web.Response:
        body, content_type = self.page[request.path]
        return web.Response(body=body, content_type=content_type, charset="utf-8", headers=_PAGE_HEADERS)

    async def routes(self, request: web.Request) -> web.Response:
        current = self.table()
        listed = [_route_json(r.route.index, r.name, r.route.cors, r.route) for r in current.routes]
        return _json({"routes": listed, "defaults": _route_json(None, "defaults.cors", current.config.defaults_cors)})

    def _grouped(self, current: RouteTable, shadow: bool, path: str | None, origin: str | None) -> list[dict]:
        found = []
        routes = {r.name for r in current.routes} | {"__no_route__"}
        for group in self.log.groups(shadow=shadow, path=path, origin=origin, limit=MAX_GROUPS):
            last = group["last"]
            fixes = [] if shadow else [fix.to_json() for fix in record_fixes(last, current)]
            note = "" if last.route in routes else "the route is no longer in the config"
            found.append({"route": group["route"], "origin": group["origin"], "reason": group["reason"],
                          "count": group["count"], "last": last.to_json(), "fixes": fixes, "note": note})
        return found

    async def rejections(self, request: web.Request) -> web.Response:
        query, log = request.query, self.log
        path, origin = query.get("path"), query.get("origin")
        try:
            limit = max(0, min(int(query.get("limit", DEFAULT_RECORDS)), log.capacity))
        except ValueError:
            return _json({"error": "limit must be a number"}, 400)
        current = self.table()
        key = (path, origin, limit)
        kept = self._answers.get(key)
        if kept is not None and kept[0] == log.version and kept[1] is current:
            return web.Response(text=kept[2], content_type="application/json", headers=_API_HEADERS)
        records = [r.to_json() for r in log.recent(path=path, origin=origin, shadow=False, limit=limit)]
        shadow = [r.to_json() for r in log.recent(path=path, origin=origin, shadow=True, limit=limit)]
        text = json.dumps({"capacity": log.capacity, "workers": self.workers, "kept": len(log), "records": records,
                           "groups": self._grouped(current, False, path, origin),
                           "shadow": {"records": shadow, "groups": self._grouped(current, True, path, origin)}})
        if len(self._answers) >= 8:
            self._answers.clear()
        self._answers[key] = (log.version, current, text)
        return web.Response(text=text, content_type="application/json", headers=_API_HEADERS)

    async def explained(self, request: web.Request) -> web.Response:
        query = request.query
        origin, path = query.get("origin", ""), query.get("path", "")
        if not origin or not path.startswith("/"):
            return _json({"error": "origin and path (starting with /) are required"}, 400)
        result = explain(self.table(), path=path, origin=origin, method=query.get("method") or "GET",
                         headers=tuple(query.getall("headers", ())), host=query.get("host") or None,
                         preflight=query.get("preflight") == "1", credentials=query.get("credentials") == "1")
        return _json({**result.to_json(), "lines": list(result.lines)})

    async def diagnosed(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except (ValueError, UnicodeDecodeError, RecursionError):
            return _json({"error": "send a JSON object: {\"message\": \"...\"}"}, 400)
        if not isinstance(body, dict) or not isinstance(body.get("message"), str) or not body["message"].strip():
            return _json({"error": "send a JSON object with the browser's console message in \"message\""}, 400)
        extra = {key: body.get(key) if isinstance(body.get(key), str) and body.get(key) else None
                 for key in ("url", "origin", "method", "gateway_url")}
        error = parse_browser_error(body["message"])
        if error is None:
            return _json({"error": f"not a CORS error message this gateway knows; it reads {KNOWN_FORMATS}"}, 422)
        url = error.url or extra["url"]
        origin = error.origin or extra["origin"]
        try:
            path = urlsplit(url).path if url else None
        except ValueError:
            path = None
        recorded = tuple(self.log.recent(path=path, origin=origin, shadow=False, limit=20)) if path and origin else ()
        result = diagnose(error, self.table(), url=extra["url"], origin=extra["origin"], method=extra["method"],
                          gateway_url=extra["gateway_url"], rejections=recorded)
        return _json(result.to_json())


def bearer_token_matches(authorization: tuple[str, ...] | list[str], expected: bytes) -> bool:
    """Do the request's Authorization header values carry exactly ``Bearer <expected>``?"""
    if len(authorization) != 1:
        return False
    scheme, _, credentials = authorization[0].strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    try:
        given = credentials.strip().encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(given, expected)


def host_is_loopback_or_ip(host: str | None) -> bool:
    """Whether a Host header names ``localhost`` or an IP address (a page on a rebound DNS name cannot send it)."""
    if not host:
        return False
    if host.startswith("["):  # [IPv6]:port
        end = host.find("]")
        if end < 0:
            return False
        name = host[1:end]
    else:  # name:port, or a bare IPv6 address (several colons)
        name = host.partition(":")[0] if host.count(":") == 1 else host
    name = name.rstrip(".").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def _loopback_hosts_only():
    """Without a token the admin listener is on loopback; still, a page on another site that rebinds its own
    DNS name to 127.0.0.1 could read it from the browser.  Its requests carry that name as Host: refused."""

    @web.middleware
    async def loopback_hosts_only(request: web.Request, handler):
        resource = request.match_info.route.resource
        if (resource is not None and resource.canonical in ("/healthz", "/readyz")) or host_is_loopback_or_ip(
                request.headers.get("Host")):
            return await handler(request)
        return web.Response(status=403, text="403 Forbidden: without admin.token the admin listener answers only "
                                             "Host: localhost or an IP address (DNS-rebinding protection)\n",
                            headers={"Cache-Control": "no-store"})

    return loopback_hosts_only


def _bearer_auth(token: str):
    expected = token.encode("ascii")

    @web.middleware
    async def bearer_auth(request: web.Request, handler):
        resource = request.match_info.route.resource
        if resource is not None and resource.canonical in ADMIN_OPEN_PATHS:
            return await handler(request)
        authorization = request.headers.getall("Authorization", ())
        if bearer_token_matches(authorization, expected):
            return await handler(request)
        challenge = 'Bearer realm="cors-gateway admin"'
        if authorization:
            challenge += ', error="invalid_token"'
        return web.Response(
            status=401, text="401 Unauthorized: send Authorization: Bearer <admin.token>\n",
            headers={"WWW-Authenticate": challenge, "Cache-Control": "no-store"},
        )

    return bearer_auth
