"""Wire it together: the public listener, the per-request CORS flow, the admin listener.

Per request (``Gateway.handle``):

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

The admin listener (never the public one) serves /metrics, /healthz, /readyz
(``admin.admin_application``).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import dataclasses
import ipaddress
import logging
import random
import re
import time

from aiohttp import HttpVersion11, web
from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.streams import EMPTY_PAYLOAD
from multidict import CIMultiDict, CIMultiDictProxy

from .admin import admin_application
from .logs import RequestLog, flush_access_log
from .metrics import NO_ROUTE, Metrics
from .policy import SAME_ORIGIN, Decision, Kind, Reason, allowed_methods_differ, upstream_would_allow
from .proxy import (
    ClientBodyError,
    ClientGone,
    MidStreamFailure,
    UpstreamError,
    UpstreamPool,
    client_scheme_and_host,
    is_trusted,
)
from .routes import CompiledRoute, RouteTable, normalize_path
from .settings import ClientLimits, GatewayConfig
from .tls import CertificateWatcher

__all__ = ["Gateway", "merge_vary"]

log = logging.getLogger("gateway")

REQUEST_ID = "X-Request-Id"
# A client's X-Request-Id is forwarded only if it looks like an id; anything
# else is replaced, so request input never reaches logs or upstreams unchecked.
_REQUEST_ID_SHAPE = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

# Request ids correlate log lines; they grant nothing, so they need to be
# unique, not unpredictable.  A per-process generator seeded from the OS once
# costs ~0.2 us; secrets.token_hex cost a getrandom() syscall per request
# (8 % of a preflight's CPU in the profile).
_ids = random.Random()  # seeded from os.urandom in each (spawned) process


def _new_request_id() -> str:
    return f"{_ids.getrandbits(64):016x}"


_BAD_PATH = "bad request path: dot-segments, backslashes, '#', control characters and invalid UTF-8 are refused\n"
_NO_ROUTE = "no route matches this request\n"
_BAD_HEADER = "bad request header: header values must be valid UTF-8 (and Host ASCII)\n"


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


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


def _answer(status: int, text: str, decision: Decision | None, request_id: str) -> web.Response:
    """A response made by the gateway itself, with the decision's CORS headers."""
    if text:
        response = web.Response(status=status, text=text, content_type="text/plain", charset="utf-8")
    else:
        response = web.Response(status=status)
    headers = response.headers
    headers["Server"] = "cors-gateway"
    headers[REQUEST_ID] = request_id
    if decision is not None:
        headers.extend(decision.headers)
        merge_vary(headers, decision.vary)
    return response


_HTTP11 = HttpVersion11
_NO_HEADERS = CIMultiDictProxy(CIMultiDict())  # read-only: a _PreflightAnswer's headers are in its bytes


# aiohttp private API (checked against aiohttp 3.14; tests/unit/test_aiohttp_hooks.py fails when it moves):
# the underscore attributes and methods this class reads, sets or overrides.
class _PreflightAnswer(web.StreamResponse):
    """An allowed preflight's 204, written as one prebuilt byte string.

    The answer is the same bytes for every repeat of a preflight but for the
    Date and X-Request-Id lines, and the policy keeps its header lines encoded
    (``Decision.wire``).  Writing them straight to the transport skips
    aiohttp's header assembly and serialisation, which was most of a
    preflight's cost (bench/RESULTS.md).  Only for HTTP/1.1 keep-alive
    requests, so no Connection header is ever needed; everything else takes
    ``_answer``.  The bytes are what ``_answer`` would send, less the
    ``Content-Type``-free 204's nothing: the integration and browser tests
    run against this path.
    """

    def __init__(self, decision: Decision, request_id: str) -> None:
        # Not StreamResponse.__init__: it builds a header dict and looks up a
        # reason phrase that this answer never uses.  What aiohttp and
        # Gateway._finish read of a response (keep_alive, status, prepared,
        # body_length) is set here or a class default of StreamResponse.
        self._status = 204
        self._reason = "No Content"
        self._state = {}
        self._headers = _NO_HEADERS
        self._wire = decision.wire
        self._request_id = request_id
        self._keep_alive = True

    async def prepare(self, request: web.BaseRequest):
        if self._eof_sent:
            return None
        transport = request.transport
        if transport is None or transport.is_closing():
            raise ConnectionResetError("the client closed the connection")
        transport.write(
            b"HTTP/1.1 204 No Content\r\nServer: cors-gateway\r\nX-Request-Id: "
            + self._request_id.encode("ascii")  # a generated id or one that matched _REQUEST_ID_SHAPE
            + b"\r\nDate: " + rfc822_formatted_time().encode("ascii") + b"\r\n"
            + self._wire + b"\r\n"
        )
        self._eof_sent = True
        if request.protocol.writing_paused:
            # The client is not reading (e.g. it pipelines preflights without
            # reading answers): wait, as aiohttp's own write_eof does, instead
            # of buffering answers without bound.
            await request.writer.drain()
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


class _Outcome:
    """What happened to one request, filled in as it goes, recorded in ``_finish``."""

    __slots__ = ("table", "pool", "route", "kind", "decision", "reason", "origin", "upstream", "upstream_seconds",
                 "status", "judgement")

    def __init__(self, table: RouteTable, pool: UpstreamPool | None) -> None:
        # The config generation this request runs under, start to end, even
        # if a reload swaps in another meanwhile.
        self.table = table
        self.pool = pool
        self.route = NO_ROUTE
        self.kind = Kind.NON_CORS.value
        self.decision = "not_applicable"
        self.reason: str | None = None
        self.origin: str | None = None
        self.upstream: str | None = None
        self.upstream_seconds: float | None = None
        self.status: int | None = None  # overrides the response's (a cut-off stream counts as 502)
        self.judgement: Decision | None = None

    def judged(self, decision: Decision) -> None:
        self.kind, self.decision, self.reason = decision.labels
        self.judgement = decision


class Gateway:
    """A running gateway: config, compiled routes, upstream pool, listeners."""

    def __init__(self, config: GatewayConfig, *, worker: bool = False):
        """``worker``: a worker process of a multi-process gateway (its parent loads configs)."""
        self.config = config
        self.table = RouteTable(config)
        self.metrics = Metrics(self.table, config.metrics.max_origin_labels, config_owner=not worker)
        self.logs = RequestLog(config.access_log.enabled, config.access_log.sample_rate)
        self.pool: UpstreamPool | None = None
        self._retired: set[UpstreamPool] = set()
        self._server: _CappedServer | None = None  # the public listener's, once started
        self.tls: CertificateWatcher | None = None  # the public listener's TLS (listen.tls), once started
        self._credential_warnings: dict[str, float] = {}  # route -> when last warned (public route + credentials)
        self.ready = False
        self._runners: list[web.BaseRunner] = []
        self._sync_task: asyncio.Task | None = None
        self.port: int | None = None
        self.admin_port: int | None = None

    # -- the request path --------------------------------------------------

    async def handle(self, request: web.BaseRequest) -> web.StreamResponse:
        start = time.perf_counter()
        outcome = _Outcome(self.table, self.pool)
        ids = request.headers.getall(REQUEST_ID, ())
        request_id = ids[0] if len(ids) == 1 and _REQUEST_ID_SHAPE.fullmatch(ids[0]) else _new_request_id()
        response: web.StreamResponse | None = None
        metrics = self.metrics
        metrics.in_flight_count += 1
        try:
            response = await self._handle(request, outcome, request_id)
            return response
        finally:
            metrics.in_flight_count -= 1
            self._finish(request, outcome, response, request_id, time.perf_counter() - start)

    async def _handle(  # noqa: C901 - the request flow; split with the server package (issue 14)
        self, request: web.BaseRequest, outcome: _Outcome, request_id: str
    ) -> web.StreamResponse:
        headers = request.headers
        raw_path = request.raw_path
        method = request.method
        origins = headers.getall("Origin", ())
        if len(origins) == 1:
            outcome.origin = origins[0]
        encodings = headers.getall("Transfer-Encoding", ())
        if encodings and (len(encodings) != 1 or encodings[0].strip().lower() != "chunked"):
            # aiohttp's parser refuses Content-Length with Transfer-Encoding,
            # duplicate lengths and obsolete line folding; it accepts codings
            # before "chunked", which this proxy cannot pass on faithfully.
            # Refuse rather than forward a body the upstream could read
            # differently (request smuggling).
            self.metrics.client_refused("malformed_request")
            response = _answer(400, "unsupported Transfer-Encoding: only chunked is accepted\n", None, request_id)
            response.force_close()
            return response
        for name, value in request.raw_headers:
            if not value.isascii() and (not _is_utf8(value) or name.lower() == b"host"):
                # aiohttp reads such bytes as surrogates and its client drops
                # them when writing: the upstream would get another value
                # (another Host, another Origin) than the one judged here.
                self.metrics.client_refused("malformed_request")
                response = _answer(400, _BAD_HEADER, None, request_id)
                response.force_close()
                return response
        # A "#" anywhere in the target: aiohttp's client would cut it (and what
        # follows) off as a fragment, so the upstream would get another
        # request than the one judged here.
        path = normalize_path(raw_path.partition("?")[0]) if "#" not in raw_path else None
        if path is None:
            return self._refuse(request, outcome, request_id, origins, 400, _BAD_PATH)
        route = outcome.table.match(headers.get("Host"), path)
        if route is None:
            return self._refuse(request, outcome, request_id, origins, 404, _NO_ROUTE)
        outcome.route = route.name

        mode = route.mode
        if _is_websocket(request):
            return await self._websocket(request, route, outcome, request_id, origins)
        policy = route.policy
        csrf = route.route.csrf == "sec-fetch-site" and method not in _SAFE_METHODS
        preflight = method == "OPTIONS" and "Access-Control-Request-Method" in headers
        trusted_proxies = outcome.table.config.trusted_proxies
        if mode == "off":
            if origins:
                outcome.kind = (Kind.PREFLIGHT if preflight else Kind.ACTUAL).value
            # csrf is not CORS: it holds in every mode (off: judged by the
            # route's origins, nothing else of its policy is applied).
            if csrf and _cross_site_forgery(
                headers.get("Sec-Fetch-Site"), bool(origins),
                policy.non_cors if not origins
                else SAME_ORIGIN if _same_origin(request, origins, trusted_proxies)
                else policy.actual(method, origins),
            ):
                return _answer(403, _CSRF_REFUSED, None, request_id)
            return await self._forward(request, route, outcome, request_id, _decorator(None, False, request_id))
        if not origins:
            decision = policy.non_cors
        elif not preflight and _same_origin(request, origins, trusted_proxies):
            decision = SAME_ORIGIN
        elif preflight:
            decision = policy.preflight(
                origins,
                headers.getall("Access-Control-Request-Method"),
                headers.getall("Access-Control-Request-Headers", ()),
                headers.getall("Access-Control-Request-Private-Network", ()),
            )
        else:
            decision = policy.actual(method, origins)
            if policy.public and decision.allowed and ("Cookie" in headers or "Authorization" in headers):
                self._public_route_with_credentials(route.name)
        outcome.judged(decision)

        if mode == "shadow":
            if csrf and _cross_site_forgery(
                headers.get("Sec-Fetch-Site"), bool(origins), decision
            ):
                # Shadow adds no CORS headers (the upstream's pass through), and so neither does this 403.
                return _answer(403, _CSRF_REFUSED, None, request_id)
            return await self._forward(
                request, route, outcome, request_id,
                self._shadow_comparer(request, route, decision, origins, request_id),
            )
        if decision.kind is Kind.PREFLIGHT:
            if decision.allowed and request.version == _HTTP11 and request.keep_alive:
                return _PreflightAnswer(decision, request_id)
            return _answer(decision.status, decision.message, decision, request_id)
        if decision.allowed is False and route.route.cors.on_reject == "block":
            return _answer(403, decision.message, decision, request_id)
        if csrf and _cross_site_forgery(
            headers.get("Sec-Fetch-Site"), bool(origins), decision
        ):
            return _answer(403, _CSRF_REFUSED, decision, request_id)
        return await self._forward(request, route, outcome, request_id, _decorator(decision, True, request_id))

    def _public_route_with_credentials(self, route: str) -> None:
        """A public route (``origins: "*"``, no credentials) got a cross-origin
        request with a cookie or Authorization: if the page sent it with
        ``credentials: "include"``, the browser refuses the ``*`` answer and
        the page sees a CORS error.  Said once a minute per route."""
        now = time.monotonic()
        last = self._credential_warnings.get(route)
        if last is not None and now - last < 60.0:
            return
        self._credential_warnings[route] = now  # route names come from the config: bounded
        log.warning(
            "route %s is public (origins: \"*\", no credentials) but got a cross-origin request with a Cookie or "
            "Authorization header: a browser sending credentials refuses Access-Control-Allow-Origin: *, so the page "
            "gets a CORS error. List the allowed origins and set supports_credentials: true on this route",
            route,
        )

    def _refuse(
        self, request: web.BaseRequest, outcome: _Outcome, request_id: str, origins: tuple[str, ...],
        status: int, text: str,
    ) -> web.Response:
        """Answer a request the gateway refuses itself (400, 404), judged by defaults.cors."""
        fallback = outcome.table.fallback
        if fallback.settings.mode == "off":
            return _answer(status, text, None, request_id)
        headers = request.headers
        decision = fallback.decide(
            request.method,
            origins,
            headers.getall("Access-Control-Request-Method", ()),
            headers.getall("Access-Control-Request-Headers", ()),
            headers.getall("Access-Control-Request-Private-Network", ()),
        )
        outcome.judged(decision)
        if decision.kind is Kind.PREFLIGHT:
            # Answer the preflight by defaults.cors, so that an allowed origin
            # then gets to read the 404 of its actual request.
            return _answer(decision.status, decision.message, decision, request_id)
        return _answer(status, text, decision, request_id)

    async def _forward(
        self, request: web.BaseRequest, route: CompiledRoute, outcome: _Outcome, request_id: str, decorate
    ) -> web.StreamResponse:
        upstream = outcome.upstream = route.route.upstream
        started = time.perf_counter()

        def on_head(status: int, headers: CIMultiDict) -> None:
            outcome.upstream_seconds = time.perf_counter() - started
            decorate(status, headers)

        # What the gateway's own error answers carry: the route's decision (a
        # rejected one has no Access-Control-Allow-* headers, only Vary).
        decision = decorate.decision
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
                                              body_timeout=config.limits.body_timeout)
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

    async def _websocket(
        self, request: web.BaseRequest, route: CompiledRoute, outcome: _Outcome, request_id: str,
        origins: tuple[str, ...],
    ) -> web.StreamResponse:
        """Proxy a WebSocket upgrade, enforcing the route's origins first.

        Browsers apply no CORS to WebSockets, so without this check any site
        could open a socket with the user's cookies (cross-site WebSocket
        hijacking).  A handshake whose Origin the policy does not allow gets
        403 before the upstream sees it, whatever ``on_reject`` says (``mode:
        off`` routes pass it through).  A handshake without Origin is not from
        a browser and passes.
        """
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
        if route.mode != "off" and origins and not _same_origin(request, origins,
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
        self, request: web.BaseRequest, route: CompiledRoute, decision: Decision, origins: tuple[str, ...],
        request_id: str,
    ):
        """Pass the upstream's answer through; count browser-visible disagreements."""
        headers = request.headers

        def compare(status: int, response_headers: CIMultiDict) -> None:
            _set_request_id(response_headers, request_id)
            if decision.kind is Kind.NON_CORS or decision is SAME_ORIGIN or len(origins) != 1:
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
                        "shadow disagreement on route %s (%s, request %s): upstream %s, gateway %s%s",
                        route.name,
                        decision.kind.value,
                        request_id,
                        "allows" if upstream_allowed else "rejects",
                        "allows" if decision.allowed else "rejects",
                        f" ({decision.reason.value})" if decision.reason else "",
                    )

        compare.decision = decision  # only for the gateway's own 502/504: the upstream cannot answer those
        return compare

    def _finish(
        self, request: web.BaseRequest, outcome: _Outcome, response: web.StreamResponse | None,
        request_id: str, duration: float,
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
            self.logs.rejection(outcome.route, origin_label, outcome.kind, reason, request.method,
                                judgement.detail if judgement is not None else "")
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
                request_id, request.method, request.raw_path, outcome.route, outcome.origin, outcome.kind,
                outcome.decision, reason, status, size, duration, outcome.upstream_seconds,
            )

    # -- reload ----------------------------------------------------------------

    def apply_config(self, config: GatewayConfig) -> None:
        """Swap in a new, already validated config.

        New requests use it at once; requests in flight finish under the config
        they started with (they hold their own table and pool).  A changed
        upstream set gets a new connection pool, and the old one is closed once
        its last request is done.  Listener addresses cannot change without a
        restart: that part of a new config is ignored with a warning.
        """
        old = self.config
        restart_only = ("listen_host", "listen_port", "admin_host", "admin_port", "admin_token", "shutdown_timeout",
                        "keepalive_timeout", "max_client_connections")
        changed = [name for name in restart_only if getattr(config, name) != getattr(old, name)]
        if changed:
            log.warning("config reload: %s take effect after a restart", ", ".join(changed))
            config = dataclasses.replace(config, **{name: getattr(old, name) for name in changed})
        # The parser's limits, the head timeout and the per-address cap are
        # fixed per listener; the body limit and the body and send timeouts
        # are read per request and change at once.
        limits = dataclasses.replace(old.limits, max_body_size=config.limits.max_body_size,
                                     body_timeout=config.limits.body_timeout,
                                     send_timeout=config.limits.send_timeout)
        if limits != config.limits:
            log.warning("config reload: listen.header_timeout, max_request_line, max_header_size, max_headers "
                        "and max_connections_per_ip take effect after a restart")
            config = dataclasses.replace(config, limits=limits)
        if (config.tls is None) != (old.tls is None):
            log.warning("config reload: turning listen.tls on or off takes effect after a restart")
            config = dataclasses.replace(config, tls=old.tls)
        elif self.tls is not None and config.tls is not None and not self.tls.apply(config.tls):
            config = dataclasses.replace(config, tls=old.tls)  # the old certificate stays (logged)
        table = RouteTable(config)
        if self._server is not None:
            # Read per connection: new connections follow the new config.
            self._server.trusted_proxies = config.trusted_proxies
            self._server.send_timeout = config.limits.send_timeout
        if self.pool is not None and config.upstreams != old.upstreams:
            retired, self.pool = self.pool, UpstreamPool(config.upstreams)
            self._retired.add(retired)
            asyncio.get_running_loop().create_task(self._retire(retired))
        self.metrics.use_table(table)
        self.metrics.max_origin_labels = config.metrics.max_origin_labels
        # The same RequestLog: a reload must not reset the rejection log's rate
        # limits (each reload would grant a new burst).  Its route fragments
        # are rebuilt as routes may have changed.
        self.logs.flush()
        self.logs.reconfigure(config.access_log.enabled, config.access_log.sample_rate)
        self.table = table
        self.config = config

    async def _retire(self, pool: UpstreamPool) -> None:
        """Close a replaced connection pool once the requests still using it are done."""
        while pool.active:
            await asyncio.sleep(0.5)
        if pool in self._retired:
            self._retired.discard(pool)
            await pool.close()

    # -- admin ---------------------------------------------------------------

    def admin_app(self) -> web.Application:
        # The token is read once, here: it changes with a restart, like the listener's address.
        return admin_application(self.config.admin_token, self.metrics.exposition,
                                 lambda: None if self.ready else "draining")

    # -- lifecycle -------------------------------------------------------------

    async def start(
        self, host: str | None = None, port: int | None = None, *, admin: bool = True, reuse_port: bool = False
    ) -> None:
        """Bind the listeners (port 0 picks a free port) and start serving.

        A worker of a multi-process gateway passes ``admin=False`` (its parent
        serves the admin endpoints for all workers) and ``reuse_port=True``
        (the workers share the public port through SO_REUSEPORT).
        """
        server = self._server = _CappedServer(
            self.handle, self.config.limits, self.config.max_client_connections,
            lambda reason: self.metrics.client_refused(reason), access_log=None, handler_cancellation=False,
            keepalive_timeout=self.config.keepalive_timeout,
            trusted_proxies=self.config.trusted_proxies,
            # Request bodies are forwarded byte for byte with the client's own
            # Content-Encoding and Content-Length: aiohttp must not inflate
            # them (it would by default), or the upstream would read a body
            # shorter than announced and take the rest from the next request
            # on a pooled connection.
            auto_decompress=False,
        )
        runner = web.ServerRunner(server, shutdown_timeout=self.config.shutdown_timeout)
        await runner.setup()
        self.tls = CertificateWatcher(self.config.tls) if self.config.tls is not None else None
        site = web.TCPSite(
            runner,
            host if host is not None else self.config.listen_host,
            port if port is not None else self.config.listen_port,
            reuse_address=True,
            reuse_port=reuse_port or None,
            ssl_context=self.tls.context if self.tls is not None else None,
        )
        self._runners.append(runner)
        await site.start()
        self.port = _bound_port(runner)
        # After the bind: a port in use must not leave an unclosed pool behind.
        self.pool = UpstreamPool(self.config.upstreams)

        if admin:
            admin_runner = web.AppRunner(self.admin_app(), access_log=None)
            await admin_runner.setup()
            admin_site = web.TCPSite(admin_runner, self.config.admin_host, self.config.admin_port, reuse_address=True)
            await admin_site.start()
            self._runners.append(admin_runner)
            self.admin_port = _bound_port(admin_runner)
        self._sync_task = asyncio.get_running_loop().create_task(self._sync_metrics())
        self.ready = True

    async def _sync_metrics(self) -> None:
        """Once a second: fold plain counters into metrics, write out batched log lines,
        and pick up a rotated TLS certificate (cert-manager rewrites the Secret's files)."""
        while True:
            await asyncio.sleep(1.0)
            self._flush()
            if self.tls is not None:
                try:
                    self.tls.check()
                except Exception:
                    log.exception("listen.tls: checking the certificate files failed")

    def _flush(self) -> None:
        """Fold the metric tallies in and write the access log out; never raises
        (a failed stdout write must not stop the metrics, or a shutdown)."""
        for step in (self.metrics.sync, self.logs.flush, flush_access_log):
            try:
                step()
            except Exception:
                log.exception("periodic %s failed", getattr(step, "__qualname__", step))

    async def stop(self) -> None:
        """Stop accepting, let in-flight requests finish (up to shutdown_timeout), close."""
        self.ready = False
        for runner in self._runners:  # metrics and logs keep flowing while requests drain
            await runner.cleanup()
        self._runners.clear()
        if self._sync_task is not None:
            self._sync_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sync_task
            self._sync_task = None
        self._flush()  # a worker's last requests reach the shared multiprocess files and stdout
        for pool in [self.pool, *self._retired]:
            if pool is not None:
                await pool.close()
        self._retired.clear()
        self.pool = None


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_CSRF_REFUSED = "cross-site request refused: unsafe method from an origin this route does not allow (csrf)\n"


def _cross_site_forgery(fetch_site: str | None, has_origin: bool, decision: Decision) -> bool:
    """``csrf: sec-fetch-site``: is this unsafe request a cross-site forgery to refuse?

    CORS never stops a "simple" cross-site POST from reaching the server; this
    does.  Browsers say where a request comes from in Sec-Fetch-Site: from the
    same origin or typed by the user ("same-origin", "none") always passes;
    from another site ("same-site", "cross-site") passes only for an origin the
    route's policy allows.  Without Sec-Fetch-Site (older browsers, non-browser
    clients) the Origin decides: a disallowed one is refused, none passes.
    """
    if fetch_site is not None:
        site = fetch_site.strip().lower()
        if site in ("same-origin", "none"):
            return False
        return decision.allowed is not True
    return has_origin and decision.allowed is False


# aiohttp private API (checked against aiohttp 3.14; tests/unit/test_aiohttp_hooks.py fails when it moves):
# the underscore attributes and methods this class reads, sets or overrides.
class _CappedServer(web.Server):
    """aiohttp's low-level server with the client limits of ``listen.*``.

    Each open connection costs a socket and buffers; a client opening
    thousands (idle or slowly sending headers) must not exhaust file
    descriptors for everyone else.  A connection beyond ``max_connections``,
    or beyond ``max_connections_per_ip`` from one client address (an IPv6
    client's whole /64, which one host usually has), is closed before any
    byte is read, which a client sees as a reset: the cheapest answer.
    Without the per-address cap, one host's idle sockets could lock everyone
    else out.  Peers in ``listen.trusted_proxies`` (a load balancer carries
    everyone's connections) are exempt from the per-address cap.  Each
    connection is served by a ``_GuardedHandler``.

    ``trusted_proxies`` and ``send_timeout`` follow reloads (``Gateway.apply_config``).
    """

    def __init__(self, handler, limits: ClientLimits, max_connections: int, refused, trusted_proxies: tuple = (),
                 **kwargs):
        """``refused(reason)`` counts a refusal (``metrics.CLIENT_REFUSAL_REASONS``)."""
        super().__init__(handler, max_line_size=limits.max_request_line, max_field_size=limits.max_header_size,
                         max_headers=limits.max_headers, **kwargs)
        self.max_connections = max_connections
        self.max_per_ip = limits.max_connections_per_ip
        self.trusted_proxies = trusted_proxies
        self.header_timeout = limits.header_timeout
        self.send_timeout = limits.send_timeout
        self.refused = refused
        # Open connections per client address; an address leaves with its
        # last connection, so this holds at most one entry per connection.
        self.per_ip: dict[str, int] = {}

    def __call__(self) -> web.RequestHandler:
        return _GuardedHandler(self, self.header_timeout, loop=self._loop, **self._kwargs)

    def admit(self, handler: _GuardedHandler, transport) -> bool:
        """Count a new connection in; False (counted as a refusal) if it is over a cap."""
        if len(self._connections) >= self.max_connections:
            self.refused("connection_limit")
            return False
        peer = transport.get_extra_info("peername")
        address = peer[0] if isinstance(peer, tuple) and peer else None
        if address is None or (self.trusted_proxies and is_trusted(address, self.trusted_proxies)):
            return True
        key = _client_key(address)
        count = self.per_ip.get(key, 0) + 1
        if count > self.max_per_ip:
            self.refused("ip_connection_limit")
            return False
        self.per_ip[key] = count
        handler.peer_address = key
        return True

    def connection_lost(self, handler, exc: BaseException | None = None) -> None:
        key = handler.peer_address
        if key is not None:
            handler.peer_address = None
            count = self.per_ip.get(key, 0) - 1
            if count > 0:
                self.per_ip[key] = count
            else:
                self.per_ip.pop(key, None)
        super().connection_lost(handler, exc)


def _client_key(address: str) -> str:
    """What the per-address cap counts: an IPv4 address, or an IPv6 address's /64."""
    if ":" not in address:
        return address
    try:
        ip = ipaddress.IPv6Address(address.partition("%")[0])
    except ValueError:
        return address
    if ip.ipv4_mapped is not None:
        return str(ip.ipv4_mapped)
    return str(ipaddress.IPv6Network((int(ip) >> 64 << 64, 64)))


_HEAD_TIMED_OUT = b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"


# aiohttp private API (checked against aiohttp 3.14; tests/unit/test_aiohttp_hooks.py fails when it moves):
# the underscore attributes and methods this class reads, sets or overrides.
class _GuardedHandler(web.RequestHandler):
    """aiohttp's per-connection protocol, plus a deadline on reading a request head
    and the right status for an oversized one.

    Slowloris: a client that trickles a request head byte by byte would hold
    its connection (and a slot of ``max_connections``) for as long as it likes;
    aiohttp itself has no header-read timeout.  From the first byte of a head,
    the whole head must arrive within ``listen.header_timeout`` or the client
    gets 408 and the connection is closed.  Idle keep-alive connections are
    bounded by ``keepalive_timeout`` instead, and slow bodies by the upstream's
    ``read_timeout`` per read (proxy.py).

    aiohttp answers every parse error with 400; an oversized request line is
    414 and an oversized or too numerous header 431 (RFC 9110, RFC 6585).
    """

    __slots__ = ("_body", "_head_deadline", "_head_timeout", "_send_deadline", "peer_address")

    def __init__(self, manager: web.Server, head_timeout: float, **kwargs):
        super().__init__(manager, **kwargs)
        self._head_timeout = head_timeout
        self._head_deadline: asyncio.TimerHandle | None = None
        self._body = None  # the body stream of the latest request head, while it is being received
        self.peer_address: str | None = None  # counted in _CappedServer.per_ip while set
        self._send_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport) -> None:
        # Refused before aiohttp sees the connection: aborting it after
        # RequestHandler.connection_made left aiohttp's start() task to fail
        # on Python 3.11 with a logged traceback per refused connection.
        if not self._manager.admit(self, transport):
            transport.abort()
            return
        super().connection_made(transport)
        # A connection that sends nothing at all is closed after
        # header_timeout too (its first head is timed from the connect):
        # idle sockets must not hold connection slots until keepalive_timeout.
        self._head_deadline = self._loop.call_later(self._head_timeout, self._head_timed_out)

    def pause_writing(self) -> None:
        # The client is not reading what we write (its socket buffer is full).
        # listen.send_timeout bounds that wait for every answer on this
        # connection, the gateway's own (403, preflights) as well as proxied
        # ones: a client that never reads must not hold the connection, or an
        # upstream connection, for ever.
        super().pause_writing()
        if self._send_deadline is None and self._manager is not None:
            self._send_deadline = self._loop.call_later(self._manager.send_timeout, self._send_timed_out)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._send_deadline is not None:
            self._send_deadline.cancel()
            self._send_deadline = None

    def _send_timed_out(self) -> None:
        self._send_deadline = None
        if self.transport is None:
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug("closing a connection whose client read nothing for %.1f s", self._manager.send_timeout)
        self._manager.refused("send_timeout")
        self.transport.abort()  # a waiting write raises ConnectionResetError; the upstream connection is closed

    def data_received(self, data: bytes) -> None:
        heads = self._request_count
        body = self._body
        in_body = body is not None and not body.is_eof()  # before the parser sees these bytes
        super().data_received(data)
        if self._request_count != heads:
            # A head is complete.  (A pipelined next head is rare; its own
            # first byte arms the deadline again on the next read.)
            if self._head_deadline is not None:
                self._head_deadline.cancel()
                self._head_deadline = None
            payload = self._messages[-1][1] if self._messages else EMPTY_PAYLOAD
            self._body = None if payload is EMPTY_PAYLOAD or payload.is_eof() else payload
        elif self._head_deadline is None and data and not self._upgraded and self._payload_parser is None:
            if in_body:
                # These bytes were (the rest of) a body, even if they ended it.
                # A next head that began in the same read is timed from its
                # next read, as a pipelined one is.
                if body.is_eof():
                    self._body = None
                return
            self._body = None
            self._head_deadline = self._loop.call_later(self._head_timeout, self._head_timed_out)

    def _head_timed_out(self) -> None:
        self._head_deadline = None
        if self._force_close or self.transport is None:
            return
        if self._current_request is not None:
            # A response is still being served on this connection (the late
            # head is pipelined behind it): give the head its time afterwards.
            self._head_deadline = self._loop.call_later(self._head_timeout, self._head_timed_out)
            return
        if log.isEnabledFor(logging.DEBUG):
            log.debug("closing a connection whose request head took over %.1f s", self._head_timeout)
        self._manager.refused("header_timeout")
        self.transport.write(_HEAD_TIMED_OUT)
        self.force_close()

    def connection_lost(self, exc: BaseException | None) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None
        if self._send_deadline is not None:
            self._send_deadline.cancel()
            self._send_deadline = None
        self._body = None
        super().connection_lost(exc)

    def _make_error_handler(self, err_info):
        exc = err_info.exc
        if isinstance(exc, LineTooLong):
            # aiohttp's parser names the request target as a bytearray, a
            # header line as bytes.
            status = 414 if exc.args and isinstance(exc.args[0], bytearray) else 431
        elif isinstance(exc, BadHttpMessage) and "Too many headers" in str(exc.message):
            status = 431
        else:
            if self._manager is not None:
                self._manager.refused("malformed_request")
            return super()._make_error_handler(err_info)
        if self._manager is not None:
            self._manager.refused("request_line_too_long" if status == 414 else "headers_too_large")
        text = _TOO_LARGE[status]

        async def answer(request: web.BaseRequest) -> web.StreamResponse:
            response = _answer(status, text, None, _new_request_id())
            response.force_close()
            return response

        return answer


_TOO_LARGE = {
    414: "request line too long (listen.max_request_line)\n",
    431: "request header fields too large or too many (listen.max_header_size, listen.max_headers)\n",
}


def _is_websocket(request: web.BaseRequest) -> bool:
    headers = request.headers
    upgrade = headers.get("Upgrade")
    return (
        upgrade is not None
        and upgrade.strip().lower() == "websocket"
        and request.method == "GET"
        and "upgrade" in {t.strip().lower() for t in headers.get("Connection", "").split(",")}
    )


def _bad_websocket_handshake(request: web.BaseRequest) -> str | None:
    """What is wrong with a client's WebSocket handshake (RFC 6455 4.1), or None."""
    headers = request.headers
    if request.version != HttpVersion11:
        return "HTTP/1.1 is required"
    versions = headers.getall("Sec-WebSocket-Version", ())
    if len(versions) != 1 or versions[0].strip() != "13":
        return "Sec-WebSocket-Version must be 13"
    keys = headers.getall("Sec-WebSocket-Key", ())
    if len(keys) != 1:
        return "exactly one Sec-WebSocket-Key is required"
    try:
        key = base64.b64decode(keys[0].strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 16:
        return "Sec-WebSocket-Key must be 16 bytes in base64"
    return None


def _same_origin(request: web.BaseRequest, origins: tuple[str, ...], trusted_proxies: tuple) -> bool:
    """Is this request from the origin the client used to reach the gateway?

    ``Sec-Fetch-Site: same-origin`` says so (browsers set it, and no page can
    forge it); without that header, the ``Origin`` must equal the scheme and
    ``Host`` the client used (behind a trusted proxy, its
    ``X-Forwarded-Proto``/``-Host``), default port omitted as browsers do.
    ``same-site`` is not same-origin.
    """
    if len(origins) != 1:
        return False
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        return site.strip().lower() == "same-origin"
    trusted = bool(trusted_proxies) and is_trusted(request.remote or "", trusted_proxies)
    scheme, host = client_scheme_and_host(request, trusted)
    host = host.strip().lower()
    if not host:
        return False
    default = ":80" if scheme == "http" else ":443"
    if host.endswith(default):
        host = host[: -len(default)]
    return origins[0] == f"{scheme}://{host}"


def _set_request_id(headers: CIMultiDict, request_id: str) -> None:
    """The upstream's own X-Request-Id if it set one (never a second value), else ours."""
    ids = headers.getall(REQUEST_ID, ())
    if not ids:
        headers[REQUEST_ID] = request_id
    elif len(ids) > 1:
        headers[REQUEST_ID] = ids[0]


def _decorator(decision: Decision | None, strip: bool, request_id: str):
    """The response-head editor for an enforce (or off) route."""

    def decorate(status: int, headers: CIMultiDict) -> None:
        _set_request_id(headers, request_id)
        if strip:
            strip_cors_headers(headers)
        if decision is not None:
            headers.extend(decision.headers)
            merge_vary(headers, decision.vary)

    decorate.decision = decision
    return decorate


def _bound_port(runner: web.BaseRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return address[1]
    raise RuntimeError("listener has no TCP address")
