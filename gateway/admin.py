"""The admin listener's app: /metrics, /healthz and /readyz, and the bearer token that guards them.

One implementation for both process models: a single-process gateway
(``server.gateway.Gateway.admin_app``) and the parent of several workers
(``supervisor``) serve the same app, and differ only in where the metrics
come from and what "ready" means.  The public listener never serves these.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable

from aiohttp import web

__all__ = ["ADMIN_OPEN_PATHS", "admin_application", "bearer_token_matches"]

# Open without the token: they say no more than "alive" and "ready", and a
# Kubernetes httpGet probe could only send a token written into the Pod spec.
ADMIN_OPEN_PATHS = frozenset({"/healthz", "/readyz"})

_EXPOSITION_HEADERS = {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}


def admin_application(
    token: str | None, exposition: Callable[[], bytes], not_ready: Callable[[], str | None]
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

    app = web.Application(middlewares=[] if token is None else [_bearer_auth(token)])
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    return app


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
