"""The per-request flow: refuse, route, judge, answer or forward, record.

Per request (``RequestFlow.handle``):

1. Refuse what the upstream could read differently from the gateway (400):
   header values that are not UTF-8, a ``#`` in the request-target, and paths
   that ``routes.normalize_path`` refuses (dot-segments, backslashes, control
   characters, invalid UTF-8).  Pick the route on the decoded path; no route
   means a 404.  Both are judged by ``defaults.cors``.
2. ``mode: off`` proxies untouched.  ``mode: shadow`` proxies untouched and
   compares the upstream's CORS answer with the gateway's own decision.
3. ``mode: enforce``: the policy decides.  Preflights are answered here (the
   upstream never sees them); rejected actual requests are forwarded without
   CORS headers (``on_reject: omit``) or refused with 403 (``block``); allowed
   ones are forwarded and decorated.  The upstream's own ``Access-Control-*``
   headers are always stripped so there is one source of truth, and ``Vary``
   is merged without duplicates.
4. Errors made by the gateway (400, 404, 502, 504) carry the CORS headers an
   allowed origin would get, so the frontend can read them.
5. Whatever happened is recorded once, in ``_finish``: metrics, the access log
   and the rate-limited rejection log, with the request's X-Request-Id.

What one request learns on the way (its config generation, request id,
origins, route, decision, upstream timing) lives on its ``_Outcome``.
``server.gateway.Gateway`` adds the listeners, reloads and the lifecycle.
"""

from __future__ import annotations

import logging
import time

from aiohttp import HttpVersion11, web
from multidict import CIMultiDict

from ..http import ACAC, ACAM, ACAO, ACRH, ACRM, ACRPN, SAFE_METHODS, TOKEN, is_preflight
from ..logs import RequestLog
from ..metrics import NO_ROUTE, Metrics
from ..policy import SAME_ORIGIN, Decision, Kind, Reason, allowed_methods_differ, upstream_would_allow
from ..rejections import RejectionLog
from ..routes import CompiledRoute, RouteTable, normalize_path
from ..settings import Csrf, GatewayConfig, Mode, OnReject
from .answers import _BAD_PATH, _CSRF_REFUSED, _NO_ROUTE, _answer, _decorator
from .bodies import ClientBodyError
from .checks import (
    _bad_websocket_handshake,
    _cross_site_forgery,
    _is_websocket,
    _off_route_judgement,
    _same_origin,
    _unforwardable,
)
from .diagnose import UpstreamError
from .headers import _REQUEST_ID_SHAPE, REQUEST_ID, _new_request_id, _set_request_id
from .listener import _PreflightAnswer
from .upstream import ClientGone, Decorate, MidStreamFailure, UpstreamPool

__all__ = ["RequestFlow"]

log = logging.getLogger("gateway")  # the pre-split logger name (log lines show it)

_HTTP11 = HttpVersion11
# The upstream's response headers, as the shadow comparison reads them (lowercase names).
_ACAO = ACAO.lower()
_ACAC = ACAC.lower()
_ACAM = ACAM.lower()


class _Outcome:
    """What happened to one request, filled in as it goes, recorded in ``_finish``."""

    __slots__ = ("table", "pool", "request_id", "origins", "route", "kind", "decision", "reason", "origin",
                 "upstream", "upstream_seconds", "status", "judgement")

    def __init__(self, table: RouteTable, pool: UpstreamPool | None, request_id: str) -> None:
        # The config generation this request runs under, start to end, even
        # if a reload swaps in another meanwhile.
        self.table = table
        self.pool = pool
        self.request_id = request_id  # the client's X-Request-Id if it looks like one, else a new one
        self.origins: list[str] | tuple[str, ...] = ()  # the request's Origin header values
        self.route = NO_ROUTE
        self.kind = Kind.NON_CORS.value
        self.decision = "not_applicable"
        self.reason: str | None = None
        self.origin: str | None = None  # the Origin, if exactly one was sent
        self.upstream: str | None = None
        self.upstream_seconds: float | None = None
        self.status: int | None = None  # overrides the response's (a cut-off stream counts as 502)
        self.judgement: Decision | None = None

    def judged(self, decision: Decision) -> None:
        self.kind, self.decision, self.reason = decision.labels
        self.judgement = decision


def _recorded_method(request: web.BaseRequest, preflight: bool) -> str:
    """The method a rejection record keeps: a preflight's is the one the page asked for (when a token)."""
    if preflight:
        requested = request.headers.get(ACRM, "")
        if TOKEN.fullmatch(requested):
            return requested
    return request.method


def _off_route_refusal(
    request: web.BaseRequest, route: CompiledRoute, outcome: _Outcome, preflight: bool, csrf: bool
) -> web.Response | None:
    """A ``mode: off`` route's request is proxied untouched, unless csrf refuses it (403)."""
    origins = outcome.origins
    if origins:
        outcome.kind = (Kind.PREFLIGHT if preflight else Kind.ACTUAL).value
    # csrf is not CORS: it holds in every mode (off: judged by the route's
    # origins, nothing else of its policy is applied).
    if csrf and _cross_site_forgery(request.headers.get("Sec-Fetch-Site"), bool(origins), _off_route_judgement(
            request, route.policy, origins, outcome.table.config.trusted_proxies)):
        return _answer(403, _CSRF_REFUSED, None, outcome.request_id)
    return None


class RequestFlow:
    """Serve one request after another under the live config (``table``) and upstream ``pool``."""

    def __init__(self, config: GatewayConfig, *, worker: bool = False):
        """``worker``: a worker process of a multi-process gateway (its parent loads configs)."""
        self.config = config
        self.table = RouteTable(config)
        self.metrics = Metrics(self.table, config.metrics.max_origin_labels, config_owner=not worker)
        self.logs = RequestLog(config.access_log.enabled, config.access_log.sample_rate)
        # The admin page's recent rejections; a worker hands its new ones to the parent (supervisor).
        self.rejections = RejectionLog(config.recent_rejections, worker=worker)
        self.pool: UpstreamPool | None = None
        self._credential_warnings: dict[str, float] = {}  # route -> when last warned (public route + credentials)

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        start = time.perf_counter()
        ids = request.headers.getall(REQUEST_ID, ())
        request_id = ids[0] if len(ids) == 1 and _REQUEST_ID_SHAPE.fullmatch(ids[0]) else _new_request_id()
        outcome = _Outcome(self.table, self.pool, request_id)
        response: web.StreamResponse | None = None
        metrics = self.metrics
        metrics.in_flight_count += 1
        try:
            response = await self._handle(request, outcome)
            return response
        finally:
            metrics.in_flight_count -= 1
            self._finish(request, outcome, response, time.perf_counter() - start)

    async def _handle(self, request: web.BaseRequest, outcome: _Outcome) -> web.StreamResponse:
        headers = request.headers
        method = request.method
        origins = outcome.origins = headers.getall("Origin", ())
        if len(origins) == 1:
            outcome.origin = origins[0]
        problem = _unforwardable(request)
        if problem is not None:
            self.metrics.client_refused("malformed_request")
            response = _answer(400, problem, None, outcome.request_id)
            response.force_close()
            return response
        preflight = is_preflight(method, headers)
        # A "#" anywhere in the target: aiohttp's client would cut it (and what
        # follows) off as a fragment, so the upstream would get another
        # request than the one judged here.
        raw_path = request.raw_path
        path = normalize_path(raw_path.partition("?")[0]) if "#" not in raw_path else None
        if path is None:
            return self._refuse(request, outcome, preflight, 400, _BAD_PATH)
        route = outcome.table.match(headers.get("Host"), path)
        if route is None:
            return self._refuse(request, outcome, preflight, 404, _NO_ROUTE)
        outcome.route = route.name
        if _is_websocket(request):
            return await self._websocket(request, route, outcome)

        mode = route.mode
        csrf = route.route.csrf is Csrf.SEC_FETCH_SITE and method not in SAFE_METHODS
        if mode is Mode.OFF:
            refused = _off_route_refusal(request, route, outcome, preflight, csrf)
            if refused is not None:
                return refused
            return await self._forward(request, route, outcome, _decorator(None, outcome.request_id), None)
        decision = self._decide(request, route, outcome, preflight)

        if mode is Mode.SHADOW:
            if csrf and _cross_site_forgery(headers.get("Sec-Fetch-Site"), bool(origins), decision):
                # Shadow adds no CORS headers (the upstream's pass through), and so neither does this 403.
                return _answer(403, _CSRF_REFUSED, None, outcome.request_id)
            # The decision is only for the gateway's own 502/504: the upstream cannot answer those.
            return await self._forward(request, route, outcome, self._shadow_comparer(request, route, decision,
                                                                                       outcome), decision)
        if decision.kind is Kind.PREFLIGHT:
            if decision.allowed and request.version == _HTTP11 and request.keep_alive:
                return _PreflightAnswer(decision, outcome.request_id)
            return _answer(decision.status, decision.message, decision, outcome.request_id)
        if decision.allowed is False and route.route.cors.on_reject is OnReject.BLOCK:
            return _answer(403, decision.message, decision, outcome.request_id)
        if csrf and _cross_site_forgery(headers.get("Sec-Fetch-Site"), bool(origins), decision):
            return _answer(403, _CSRF_REFUSED, decision, outcome.request_id)
        # The gateway's decision replaces the upstream's own CORS headers.
        return await self._forward(request, route, outcome, _decorator(decision, outcome.request_id), decision,
                                   strip_cors=True)

    def _decide(self, request: web.BaseRequest, route: CompiledRoute, outcome: _Outcome, preflight: bool) -> Decision:
        """The route's CORS decision on this request (``mode: enforce`` or ``shadow``), noted on ``outcome``."""
        origins = outcome.origins
        policy = route.policy
        headers = request.headers
        if not origins:
            decision = policy.non_cors
        elif not preflight and _same_origin(request, origins, outcome.table.config.trusted_proxies):
            decision = SAME_ORIGIN
        elif preflight:
            decision = policy.preflight(origins, headers.getall(ACRM), headers.getall(ACRH, ()),
                                        headers.getall(ACRPN, ()))
        else:
            decision = policy.actual(request.method, origins)
            if policy.public and decision.allowed and "Cookie" in headers:
                self._public_route_with_credentials(route.name)
        outcome.judged(decision)
        return decision

    def _public_route_with_credentials(self, route: str) -> None:
        """A public route (``origins: "*"``, no credentials) got a cross-origin
        request with a cookie: the page sent it with ``credentials: "include"``
        (cross-origin cookies go with nothing else), so the browser refuses
        the ``*`` answer and the page sees a CORS error.  An ``Authorization``
        header set by script is no credential in CORS terms (``*`` answers it
        fine), so it is not flagged.  Said once a minute per route."""
        now = time.monotonic()
        last = self._credential_warnings.get(route)
        if last is not None and now - last < 60.0:
            return
        self._credential_warnings[route] = now  # route names come from the config: bounded
        log.warning(
            "route %s is public (origins: \"*\", no credentials) but got a cross-origin request with a Cookie: a "
            "browser sending credentials refuses Access-Control-Allow-Origin: *, so the page gets a CORS error. "
            "List the allowed origins and set supports_credentials: true on this route",
            route,
        )

    def _refuse(
        self, request: web.BaseRequest, outcome: _Outcome, preflight: bool, status: int, text: str
    ) -> web.Response:
        """Answer a request the gateway refuses itself (400, 404), judged by defaults.cors."""
        fallback = outcome.table.fallback
        if fallback.settings.mode is Mode.OFF:
            return _answer(status, text, None, outcome.request_id)
        origins = outcome.origins
        if not origins:
            decision = fallback.non_cors
        elif preflight:
            headers = request.headers
            decision = fallback.preflight(origins, headers.getall(ACRM), headers.getall(ACRH, ()),
                                          headers.getall(ACRPN, ()))
        else:
            decision = fallback.actual(request.method, origins)
        outcome.judged(decision)
        if decision.kind is Kind.PREFLIGHT:
            # Answer the preflight by defaults.cors, so that an allowed origin
            # then gets to read the 404 of its actual request.
            return _answer(decision.status, decision.message, decision, outcome.request_id)
        return _answer(status, text, decision, outcome.request_id)

    async def _forward(
        self, request: web.BaseRequest, route: CompiledRoute, outcome: _Outcome, decorate: Decorate,
        decision: Decision | None, strip_cors: bool = False,
    ) -> web.StreamResponse:
        """Forward to the route's upstream; ``decorate`` edits the upstream's response head (its
        ``Access-Control-*`` headers dropped first when ``strip_cors``), and ``decision``'s CORS
        headers go on the gateway's own error answers (413, 502, 504, ...)."""
        upstream = outcome.upstream = route.route.upstream
        request_id = outcome.request_id
        started = time.perf_counter()

        def on_head(status: int, headers: CIMultiDict) -> None:
            outcome.upstream_seconds = time.perf_counter() - started
            decorate(status, headers)

        # (A rejected decision has no Access-Control-Allow-* headers, only Vary; a refused preflight's
        # name_cause headers only reach a client with a 502/504 in shadow mode: not an ok status.)
        config = outcome.table.config
        limit = config.limits.max_body_size
        if limit and (request.content_length or 0) > limit:
            # Refused before a byte of it is forwarded (or a 100 Continue
            # sent); the connection is closed after the answer (aiohttp may
            # read and drop the body for up to its lingering time first).
            self.metrics.client_refused("body_too_large")
            response = _answer(413, f"request body larger than {limit} bytes (listen.max_body_size)\n", decision,
                               request_id)
            response.force_close()
            return response
        try:
            return await outcome.pool.forward(request, request.raw_path, upstream, on_head, request_id,
                                              trusted_proxies=config.trusted_proxies, max_body_size=limit,
                                              body_timeout=config.limits.body_timeout, strip_cors=strip_cors)
        except UpstreamError as err:
            self.metrics.upstream_errors.labels(upstream, err.kind).inc()
            if log.isEnabledFor(logging.WARNING):
                log.warning("route %s: upstream %s: %s (request %s)", route.name, upstream, err, request_id)
            return _answer(err.status, f"{err}\n", decision, request_id)
        except ClientBodyError as err:
            # The client's upload stalled, broke or outgrew the limit: not the upstream's fault.
            if err.status == 413:
                self.metrics.client_refused("body_too_large")
            elif err.status == 408 and "body_timeout" in str(err):
                self.metrics.client_refused("body_timeout")
            response = _answer(err.status, f"{err}\n", decision, request_id)
            response.force_close()
            return response
        except MidStreamFailure as err:
            self.metrics.upstream_errors.labels(upstream, err.error.kind).inc()
            outcome.status = 502
            return err.response  # the connection is already aborted
        except ClientGone as err:
            return err.response

    async def _websocket(self, request: web.BaseRequest, route: CompiledRoute, outcome: _Outcome) -> web.StreamResponse:
        """Proxy a WebSocket upgrade, enforcing the route's origins first.

        Browsers apply no CORS to WebSockets, so without this check any site
        could open a socket with the user's cookies (cross-site WebSocket
        hijacking).  A handshake whose Origin the policy does not allow gets
        403 before the upstream sees it, whatever ``on_reject`` says (``mode:
        off`` routes pass it through).  A handshake without Origin is not from
        a browser and passes.
        """
        request_id = outcome.request_id
        origins = outcome.origins
        problem = _bad_websocket_handshake(request)
        if problem is not None:
            # Refused before anything is opened upstream; a client error, so
            # logged at DEBUG only (a scanner cannot fill the error log).
            log.debug("refused a malformed WebSocket handshake (%s, request %s)", problem, request_id)
            self.metrics.client_refused("malformed_request")
            response = _answer(400, f"bad WebSocket handshake: {problem}\n", None, request_id)
            if problem.startswith("Sec-WebSocket-Version"):
                response.headers["Sec-WebSocket-Version"] = "13"  # RFC 6455 4.4: the versions we speak
            return response
        if route.mode is not Mode.OFF and origins and not _same_origin(request, origins,
                                                                       outcome.table.config.trusted_proxies):
            decision = route.policy.actual("GET", origins)
            outcome.judged(decision)
            if not decision.allowed:
                return _answer(403, decision.message.replace("CORS request", "WebSocket handshake"), None,
                               request_id)
        outcome.upstream = route.route.upstream
        try:
            return await outcome.pool.forward_websocket(request, route.route.upstream, request_id,
                                                        trusted_proxies=outcome.table.config.trusted_proxies)
        except UpstreamError as err:
            self.metrics.upstream_errors.labels(route.route.upstream, err.kind).inc()
            log.warning("route %s: upstream %s: %s (request %s)", route.name, route.route.upstream, err, request_id)
            return _answer(err.status, f"{err}\n", None, request_id)

    def _shadow_comparer(
        self, request: web.BaseRequest, route: CompiledRoute, decision: Decision, outcome: _Outcome
    ) -> Decorate:
        """Pass the upstream's answer through; count browser-visible disagreements."""
        headers = request.headers
        origins = outcome.origins
        request_id = outcome.request_id

        def compare(status: int, response_headers: CIMultiDict) -> None:
            _set_request_id(response_headers, request_id)
            if decision.kind is Kind.NON_CORS or decision is SAME_ORIGIN or len(origins) != 1:
                return
            acao = response_headers.getall(ACAO, ())
            observed = {name.lower(): value for name, value in response_headers.items()}
            if acao:
                observed[_ACAO] = ", ".join(acao)
            upstream_allowed = upstream_would_allow(
                decision.kind,
                origins[0],
                route.route.cors.supports_credentials,
                status,
                observed,
                headers.get(ACRM, ""),
                headers.getall(ACRH, ()),
            )
            disagree = upstream_allowed != bool(decision.allowed)
            if not disagree and decision.kind is Kind.PREFLIGHT and decision.allowed:
                ours = dict(decision.headers).get(ACAC) == "true"
                theirs = observed.get(_ACAC) == "true"
                disagree = ours != theirs or allowed_methods_differ(route.route.cors.methods, observed.get(_ACAM), ours)
            if disagree:
                self.metrics.shadow_disagreements.labels(route.name, decision.kind.value).inc()
                if self.rejections.capacity:
                    self.rejections.add(
                        route.name, _recorded_method(request, decision.kind is Kind.PREFLIGHT), request.raw_path,
                        origins[0], "shadow",
                        decision.reason.value if decision.reason else "allowed",
                        f"{decision.kind.value}: the upstream {'allows' if upstream_allowed else 'rejects'}, the "
                        f"gateway {'allows' if decision.allowed else 'rejects'}",
                    )
                if log.isEnabledFor(logging.WARNING):
                    log.warning(
                        "shadow disagreement on route %s (%s, request %s): upstream %s, gateway %s%s",
                        route.name,
                        decision.kind.value,
                        request_id,
                        "allows" if upstream_allowed else "rejects",
                        "allows" if decision.allowed else "rejects",
                        f" ({decision.reason.value})" if decision.reason else "",
                    )

        return compare

    def _finish(
        self, request: web.BaseRequest, outcome: _Outcome, response: web.StreamResponse | None, duration: float
    ) -> None:
        """Record one request: metrics, the rejection log, the access log."""
        if outcome.status is not None:
            status = outcome.status
        elif response is not None:
            status = response.status
        else:
            status = 500  # the handler raised: aiohttp answers 500
        reason = outcome.reason
        origin_label = None
        if reason is not None and reason != Reason.NO_ROUTE.value:
            malformed = reason == Reason.MALFORMED_ORIGIN.value or outcome.origin is None
            origin_label = self.metrics.origin_label(outcome.route, outcome.origin, malformed)
            judgement = outcome.judgement
            detail = judgement.detail if judgement is not None else ""
            self.logs.rejection(outcome.route, origin_label, outcome.kind, reason, request.method, detail)
            if self.rejections.capacity:
                self.rejections.add(outcome.route, _recorded_method(request, outcome.kind == Kind.PREFLIGHT.value),
                                    request.raw_path, outcome.origin, outcome.kind, reason, detail)
        self.metrics.observe(outcome.route, outcome.kind, outcome.decision, reason, status, duration, origin_label)
        if outcome.upstream_seconds is not None:
            self.metrics.observe_upstream(outcome.upstream, outcome.upstream_seconds)
        if self.logs.enabled:
            if response is None:
                size = 0
            elif response.prepared:
                size = response.body_length
            else:
                size = len(getattr(response, "body", None) or b"")
            self.logs.access(
                outcome.request_id, request.method, request.raw_path, outcome.route, outcome.origin, outcome.kind,
                outcome.decision, reason, status, size, duration, outcome.upstream_seconds,
            )
