"""Wire it together: the public listener, the CORS middleware logic, the admin listener.

Per request (``Gateway.handle``):

1. Pick the route (``routes.RouteTable``); no route means a 404 judged by
   ``defaults.cors``.
2. ``mode: off`` proxies untouched.  ``mode: shadow`` proxies untouched and
   compares the upstream's CORS answer with the gateway's own decision.
3. ``mode: enforce``: the policy decides.  Preflights are answered here (the
   upstream never sees them); rejected actual requests are forwarded without
   CORS headers (``on_reject: omit``) or refused with 403 (``block``); allowed
   ones are forwarded and decorated.  The upstream's own ``Access-Control-*``
   headers are always stripped so there is one source of truth, and ``Vary``
   is merged without duplicates.
4. Errors made by the gateway (404, 502, 504) carry the CORS headers an
   allowed origin would get, so the frontend can read them.

The admin listener (never the public one) serves /metrics, /healthz, /readyz.
"""

from __future__ import annotations

import logging

from aiohttp import web
from multidict import CIMultiDict

from .config import GatewayConfig
from .metrics import NO_ROUTE, Metrics
from .policy import Decision, Kind, allowed_methods_differ, upstream_would_allow
from .proxy import ClientBodyError, ClientGone, MidStreamFailure, UpstreamError, UpstreamPool
from .routes import CompiledRoute, RouteTable, normalize_path

__all__ = ["Gateway"]

log = logging.getLogger("gateway")

_TEXT = "text/plain; charset=utf-8"


def merge_vary(headers: CIMultiDict, tokens: tuple[str, ...]) -> None:
    """Add ``tokens`` to the Vary header(s), case-insensitively without duplicates."""
    if not tokens:
        return
    existing = headers.getall("Vary", ())
    if not existing:
        headers["Vary"] = ", ".join(tokens)
        return
    values: list[str] = []
    seen: set[str] = set()
    for line in existing:
        for item in line.split(","):
            item = item.strip()
            if item and item.lower() not in seen:
                seen.add(item.lower())
                values.append(item)
    if "*" in seen:  # "Vary: *" already says everything varies
        headers["Vary"] = "*"
        return
    for token in tokens:
        if token.lower() not in seen:
            seen.add(token.lower())
            values.append(token)
    headers["Vary"] = ", ".join(values)


def strip_cors_headers(headers: CIMultiDict) -> None:
    for name in [n for n in headers if n.lower().startswith("access-control-")]:
        headers.popall(name, None)


def _plain(status: int, text: str, decision: Decision | None) -> web.Response:
    """A response made by the gateway itself, with the decision's CORS headers."""
    response = web.Response(status=status, text=text, content_type="text/plain", charset="utf-8")
    response.headers["Server"] = "cors-gateway"
    if decision is not None:
        response.headers.extend(decision.headers)
        merge_vary(response.headers, decision.vary)
    return response


class Gateway:
    """A running gateway: config, compiled routes, upstream pool, listeners."""

    def __init__(self, config: GatewayConfig):
        self.config = config
        self.table = RouteTable(config)
        self.metrics = Metrics(self.table)
        self.pool: UpstreamPool | None = None
        self.ready = False
        self._runners: list[web.BaseRunner] = []
        self.port: int | None = None
        self.admin_port: int | None = None

    # -- the request path --------------------------------------------------

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        self.metrics.in_flight.inc()
        try:
            return await self._handle(request)
        finally:
            self.metrics.in_flight.dec()

    async def _handle(self, request: web.BaseRequest) -> web.StreamResponse:
        headers = request.headers
        raw_path = request.raw_path
        method = request.method
        origins = headers.getall("Origin", ())
        path = normalize_path(raw_path.partition("?")[0])
        if path is None:
            return self._no_route(request, method, origins, 400, "bad request path: dot-segments and backslashes are refused\n")
        target = raw_path  # forwarded as sent; `path` is how the upstream will read it
        route = self.table.match(headers.get("Host"), path)

        if route is None:
            return self._no_route(request, method, origins, 404, "no route matches this request\n")
        mode = route.mode
        if mode == "off":
            return await self._proxy(request, target, route, None, strip=False)
        policy = route.policy
        if not origins:
            decision = policy.non_cors
        elif method == "OPTIONS" and "Access-Control-Request-Method" in headers:
            decision = policy.preflight(
                origins,
                headers.getall("Access-Control-Request-Method"),
                headers.getall("Access-Control-Request-Headers", ()),
                headers.getall("Access-Control-Request-Private-Network", ()),
            )
        else:
            decision = policy.actual(method, origins)

        if mode == "shadow":
            return await self._shadow(request, target, route, decision, origins)

        if decision.kind is Kind.PREFLIGHT:
            if decision.allowed:
                response = web.Response(status=204)
                response.headers.extend(decision.headers)
                merge_vary(response.headers, decision.vary)
            else:
                response = _plain(403, decision.message, decision)
                self._log_rejection(route.name, request, decision)
            self.metrics.observe(route.name, decision.kind, decision.label, decision.reason, response.status)
            return response

        if decision.allowed is False:
            self._log_rejection(route.name, request, decision)
            if route.route.cors.on_reject == "block":
                self.metrics.observe(route.name, decision.kind, decision.label, decision.reason, 403)
                return _plain(403, decision.message, decision)
        return await self._proxy(request, target, route, decision, strip=True)

    def _no_route(
        self, request: web.BaseRequest, method: str, origins: tuple[str, ...], status: int, text: str
    ) -> web.StreamResponse:
        """Answer a request the gateway refuses itself (404, 400), judged by defaults.cors."""
        headers = request.headers
        fallback = self.table.fallback
        if fallback.settings.mode == "off":
            self.metrics.observe(NO_ROUTE, Kind.NON_CORS, "not_applicable", None, status)
            return _plain(status, text, None)
        decision = fallback.decide(
            method,
            origins,
            headers.getall("Access-Control-Request-Method", ()),
            headers.getall("Access-Control-Request-Headers", ()),
            headers.getall("Access-Control-Request-Private-Network", ()),
        )
        if decision.kind is Kind.PREFLIGHT:
            # Answer the preflight by defaults.cors, so that an allowed origin
            # then gets to read the 404 of its actual request.
            if decision.allowed:
                response: web.Response = web.Response(status=204)
                response.headers.extend(decision.headers)
                merge_vary(response.headers, decision.vary)
            else:
                response = _plain(403, decision.message, decision)
        else:
            response = _plain(status, text, decision)
        self.metrics.observe(NO_ROUTE, decision.kind, decision.label, decision.reason, response.status)
        return response

    async def _proxy(
        self, request: web.BaseRequest, target: str, route: CompiledRoute, decision: Decision | None, *, strip: bool
    ) -> web.StreamResponse:
        def decorate(status: int, headers: CIMultiDict) -> None:
            if strip:
                strip_cors_headers(headers)
            if decision is not None:
                headers.extend(decision.headers)
                merge_vary(headers, decision.vary)

        return await self._forward(request, target, route, decision, decorate)

    async def _forward(
        self, request: web.BaseRequest, target: str, route: CompiledRoute, decision: Decision | None, decorate
    ) -> web.StreamResponse:
        upstream = route.route.upstream
        kind = decision.kind if decision is not None else Kind.NON_CORS
        label = decision.label if decision is not None else "not_applicable"
        reason = decision.reason if decision is not None else None
        try:
            response = await self.pool.forward(request, target, upstream, decorate)
        except UpstreamError as err:
            self.metrics.upstream_errors.labels(upstream, err.kind).inc()
            if log.isEnabledFor(logging.WARNING):
                log.warning("route %s: upstream %s: %s", route.name, upstream, err)
            # A rejected decision carries no Access-Control-Allow-* headers,
            # only Vary, so passing it on never grants what the policy refused.
            response = _plain(err.status, f"{err}\n", decision)
        except ClientBodyError as err:
            # The client's upload stalled or broke: not the upstream's fault.
            response = _plain(err.status, f"{err}\n", decision)
            response.force_close()
        except MidStreamFailure as err:
            self.metrics.upstream_errors.labels(upstream, err.error.kind).inc()
            self.metrics.observe(route.name, kind, label, reason, 502)
            return err.response  # the connection is already aborted
        except ClientGone as err:
            self.metrics.observe(route.name, kind, label, reason, err.response.status)
            return err.response
        self.metrics.observe(route.name, kind, label, reason, response.status)
        return response

    async def _shadow(
        self, request: web.BaseRequest, target: str, route: CompiledRoute, decision: Decision, origins: tuple[str, ...]
    ) -> web.StreamResponse:
        """Pass the upstream's answer through; count browser-visible disagreements."""
        headers = request.headers

        def compare(status: int, response_headers: CIMultiDict) -> None:
            if decision.kind is Kind.NON_CORS or len(origins) != 1:
                return
            acao = response_headers.getall("Access-Control-Allow-Origin", ())
            observed = {name.lower(): value for name, value in response_headers.items()}
            if acao:
                observed["access-control-allow-origin"] = ", ".join(acao)
            upstream_allowed = upstream_would_allow(
                decision.kind,
                origins[0],
                route.route.cors.supports_credentials,
                status,
                observed,
                headers.get("Access-Control-Request-Method", ""),
                headers.getall("Access-Control-Request-Headers", ()),
            )
            disagree = upstream_allowed != bool(decision.allowed)
            if not disagree and decision.kind is Kind.PREFLIGHT and decision.allowed:
                ours = dict(decision.headers).get("Access-Control-Allow-Credentials") == "true"
                theirs = observed.get("access-control-allow-credentials") == "true"
                disagree = ours != theirs or allowed_methods_differ(
                    route.route.cors.methods, observed.get("access-control-allow-methods"), ours
                )
            if disagree:
                self.metrics.shadow_disagreements.labels(route.name, decision.kind.value).inc()
                if log.isEnabledFor(logging.WARNING):
                    log.warning(
                        "shadow disagreement on route %s (%s): upstream %s, gateway %s%s",
                        route.name,
                        decision.kind.value,
                        "allows" if upstream_allowed else "rejects",
                        "allows" if decision.allowed else "rejects",
                        f" ({decision.reason.value})" if decision.reason else "",
                    )

        return await self._forward(request, target, route, decision, compare)

    def _log_rejection(self, route: str, request: web.BaseRequest, decision: Decision) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info(
                "rejected %s %s on route %s: %s",
                decision.kind.value,
                request.method,
                route,
                decision.reason.value if decision.reason else "",
            )

    # -- admin ---------------------------------------------------------------

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(
            body=self.metrics.exposition(),
            headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"},
        )

    async def _healthz(self, request: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def _readyz(self, request: web.Request) -> web.Response:
        if self.ready:
            return web.Response(text="ready\n")
        return web.Response(status=503, text="draining\n")

    def admin_app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/metrics", self._metrics)
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        return app

    # -- lifecycle -------------------------------------------------------------

    async def start(self, host: str | None = None, port: int | None = None) -> None:
        """Bind both listeners (port 0 picks a free port) and start serving."""
        self.pool = UpstreamPool(self.config.upstreams)
        server = web.Server(self.handle, access_log=None, handler_cancellation=False)
        runner = web.ServerRunner(server, shutdown_timeout=self.config.shutdown_timeout)
        await runner.setup()
        site = web.TCPSite(
            runner,
            host if host is not None else self.config.listen_host,
            port if port is not None else self.config.listen_port,
            reuse_address=True,
        )
        await site.start()
        self._runners.append(runner)
        self.port = _bound_port(runner)

        admin_runner = web.AppRunner(self.admin_app(), access_log=None)
        await admin_runner.setup()
        admin_site = web.TCPSite(admin_runner, self.config.admin_host, self.config.admin_port, reuse_address=True)
        await admin_site.start()
        self._runners.append(admin_runner)
        self.admin_port = _bound_port(admin_runner)
        self.ready = True

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (up to shutdown_timeout), close."""
        self.ready = False
        for runner in self._runners:
            await runner.cleanup()
        self._runners.clear()
        if self.pool is not None:
            await self.pool.close()
            self.pool = None


def _bound_port(runner: web.BaseRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return address[1]
    raise RuntimeError("listener has no TCP address")

