"""Stream requests to upstreams and responses back, untouched but for hop-by-hop headers.

One keep-alive ``ClientSession`` per upstream (its own connection limit and
timeouts).  A request body up to the upstream's ``request_buffering`` bytes is
read whole before the upstream request starts (a slow uploader cannot pin a
sync worker); larger ones, and all responses, are streamed in chunks with
backpressure, so a 1 GiB upload or download costs a few chunk buffers, not
1 GiB.  A client that reads nothing for ``listen.send_timeout`` is cut off.
Bodies pass byte for byte: Content-Encoding passes through (no
decompression either way); redirects are returned, never followed.  A pooled
connection is reused only after a complete exchange (the whole body sent,
exactly as announced, and the whole response read).

``read_timeout`` bounds each wait on the upstream (for the response head and
between body chunks), not the whole transfer; ``connect_timeout`` bounds the
TCP connect and TLS handshake.  Failures before the response head is sent
become ``UpstreamError`` (502, or 504 for timeouts) so the caller can answer
with CORS headers; failures after it abort the client connection, since a
status can no longer be sent.  ``UpstreamError`` names its cause (one of
``metrics.UPSTREAM_ERROR_KINDS``) in a one-line message built only from the
configuration (upstream name, host:port, timeouts) and fixed vocabularies
(OpenSSL and resolver reasons), never from the request or the upstream's bytes.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import re
import ssl
from collections.abc import Callable

import aiohttp
from aiohttp import http_exceptions, web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .settings import Upstream

__all__ = ["ClientBodyError", "ClientGone", "MidStreamFailure", "UpstreamError", "UpstreamPool",
           "client_scheme_and_host", "hop_by_hop_names", "is_trusted"]

log = logging.getLogger("gateway.proxy")


# RFC 9110 7.6.1 plus the legacy names proxies must not forward.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
)
# Request headers never forwarded: Expect is answered by the gateway itself,
# Forwarded is client-supplied and replaced by the X-Forwarded-* set below.
_NOT_FORWARDED = frozenset({"expect", "forwarded"})
_NEVER_FORWARDED = _HOP_BY_HOP | _NOT_FORWARDED
# Client-address headers some apps trust; only a trusted proxy's are passed on.
_CLIENT_ADDRESS_HEADERS = frozenset({"x-real-ip", "true-client-ip", "x-client-ip", "cf-connecting-ip"})
_NEVER_FORWARDED_UNTRUSTED = _NEVER_FORWARDED | _CLIENT_ADDRESS_HEADERS
_REPLACED_PREFIXES = ("proxy-", "x-forwarded-")
# Headers aiohttp's client would invent if the client did not send them.
_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


class UpstreamError(Exception):
    """The upstream could not give a response head."""

    def __init__(self, kind: str, status: int, detail: str):
        super().__init__(detail)
        self.kind = kind  # dns | connect | tls | timeout | reset | protocol (metrics.UPSTREAM_ERROR_KINDS)
        self.status = status  # 502 or 504


def hop_by_hop_names(headers: CIMultiDictProxy | CIMultiDict) -> set[str]:
    """Lowercase names never to forward: the fixed set plus those Connection names."""
    names = set(_HOP_BY_HOP)
    for value in headers.getall("Connection", ()):
        for token in value.split(","):
            token = token.strip().lower()
            if token:
                names.add(token)
    return names


def upstream_request_headers(
    request: web.BaseRequest,
    upstream: Upstream,
    request_id: str | None,
    also_drop: frozenset[str] = frozenset(),
    trusted_proxies: tuple = (),
) -> CIMultiDict:
    """The headers sent upstream: the client's, less hop-by-hop and forwarding
    headers, plus the gateway's X-Forwarded-* and X-Request-Id.

    A client's own X-Forwarded-For/-Proto/-Host are believed only from a peer
    in ``listen.trusted_proxies`` (a load balancer in front of the gateway):
    its chain is kept and the peer appended.  From anyone else they are
    replaced, and the other client-address headers some apps trust
    (X-Real-IP, True-Client-IP, X-Client-IP, CF-Connecting-IP) are dropped, so
    a client cannot make the upstream log or trust a made-up address, scheme
    or host.
    """
    incoming = request.headers
    peer = request.remote or ""
    trusted = bool(trusted_proxies) and is_trusted(peer, trusted_proxies)
    if also_drop or "Connection" in incoming:
        drop = hop_by_hop_names(incoming) | also_drop | _NOT_FORWARDED
        if not trusted:
            drop |= _CLIENT_ADDRESS_HEADERS
    else:
        drop = _NEVER_FORWARDED if trusted else _NEVER_FORWARDED_UNTRUSTED
    headers = CIMultiDict(
        [(name, value) for name, value in incoming.items()
         if not ((lower := name.lower()) in drop or lower.startswith(_REPLACED_PREFIXES))]
    )
    if not upstream.preserve_host:
        headers.popall("Host", None)
    proto, host = client_scheme_and_host(request, trusted)
    forwarded_for = incoming.getall("X-Forwarded-For", ()) if trusted else None
    headers["X-Forwarded-For"] = ", ".join([*forwarded_for, peer]) if forwarded_for else peer
    headers["X-Forwarded-Proto"] = proto
    if host:
        headers["X-Forwarded-Host"] = host
    if request_id is not None:
        headers["X-Request-Id"] = request_id
    return headers


def client_scheme_and_host(request: web.BaseRequest, trusted: bool) -> tuple[str, str]:
    """The scheme and Host the client used to reach the gateway.

    The connection's own (``https`` on a TLS listener) and the ``Host``
    header; when the peer is a trusted proxy (``trusted``), its single
    ``X-Forwarded-Proto`` (leftmost item, if ``http`` or ``https``) and
    ``X-Forwarded-Host`` (leftmost item) instead.  The host may be "".
    """
    incoming = request.headers
    proto = request.scheme
    host = incoming.get("Host", "")
    if trusted:
        protos = incoming.getall("X-Forwarded-Proto", ())
        if len(protos) == 1:
            # A chain of proxies may send "https, http": the leftmost is the client's.
            first = protos[0].split(",", 1)[0].strip().lower()
            if first in ("http", "https"):
                proto = first
        hosts = incoming.getall("X-Forwarded-Host", ())
        if len(hosts) == 1 and hosts[0].strip():
            host = hosts[0].split(",", 1)[0].strip()
    return proto, host


def is_trusted(peer: str, networks: tuple) -> bool:
    try:
        address = ipaddress.ip_address(peer.partition("%")[0])
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks if network.version == address.version)


def _response_headers(raw_headers) -> CIMultiDict:
    """The upstream's response headers to pass on: all but hop-by-hop ones
    (including those its Connection names) and Proxy-*.  Byte-faithful for
    ASCII: names and values are taken from the raw bytes, as latin-1."""
    kept = []
    named: set[str] | None = None
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1")
        lower = name.lower()
        if lower in _HOP_BY_HOP or lower.startswith("proxy-"):
            if lower == "connection":
                named = named or set()
                named.update(t.strip().lower() for t in raw_value.decode("latin-1").split(","))
            continue
        kept.append((name, raw_value.decode("latin-1")))
    if named:
        kept = [(name, value) for name, value in kept if name.lower() not in named]
    return CIMultiDict(kept)


def _host_port(upstream: Upstream) -> tuple[str, str]:
    """The configured upstream's host (as resolved: ASCII) and ``host:port`` for messages."""
    url = URL(upstream.url)
    host = url.raw_host or ""
    return host, (f"[{host}]:{url.port}" if ":" in host else f"{host}:{url.port}")


_SSL_REASON = re.compile(r"[A-Z0-9_]{1,64}")
# OpenSSL's reasons for a handshake with something that answered, but not in TLS.
_NOT_TLS_REASONS = frozenset({"WRONG_VERSION_NUMBER", "UNKNOWN_PROTOCOL", "HTTP_REQUEST", "PACKET_LENGTH_TOO_LONG",
                              "RECORD_LAYER_FAILURE", "UNEXPECTED_EOF_WHILE_READING"})
# aiohttp's parser errors, by class (its messages quote the upstream's bytes: never shown).
_PROTOCOL_DETAILS = (
    (http_exceptions.BadStatusLine, "bad status line"),
    (http_exceptions.LineTooLong, "header line too long"),
    (http_exceptions.InvalidHeader, "invalid header"),
    (http_exceptions.ContentLengthError, "body shorter than its Content-Length"),
    (http_exceptions.TransferEncodingError, "bad chunked body"),
    (http_exceptions.ContentEncodingError, "bad Content-Encoding"),
)


def _fixed_text(text: object, limit: int = 100) -> str:
    """A resolver's or OpenSSL's message, kept to printable ASCII and clipped."""
    text = "".join(c for c in str(text) if " " <= c <= "~").strip().rstrip(".")
    return text[:limit]


def _causes(err: BaseException):
    seen = 0
    while err is not None and seen < 8:
        yield err
        err = err.__cause__ or err.__context__
        seen += 1


def _classify(err: BaseException, upstream: Upstream, waited: float = 0.0, *,
              mid_body: bool = False) -> UpstreamError:
    """Name the failure: kind (the metric label), status and a one-line message.

    ``waited``: seconds from the start of the upstream request to ``err``
    (tells the pool wait from the connect timeout).  ``mid_body``: the
    response head was already received.
    """
    name = upstream.name
    host, where = _host_port(upstream)
    https = upstream.url.startswith("https:")
    if isinstance(err, aiohttp.ClientConnectorDNSError):
        reason = _fixed_text(getattr(err.os_error, "strerror", None) or "")
        return UpstreamError("dns", 502, f"upstream name resolution failed: {host} does not resolve"
                                         + (f" ({reason})" if reason else ""))
    if isinstance(err, aiohttp.ClientConnectorCertificateError):
        cert_error = err.certificate_error
        reason = _fixed_text(getattr(cert_error, "verify_message", None) or getattr(cert_error, "reason", None) or "")
        advice = (f"checked against upstreams.{name}.ca_file" if upstream.ca_file
                  else f"if a private CA signed it, set upstreams.{name}.ca_file")
        return UpstreamError("tls", 502, f"upstream TLS certificate verification failed: {where}"
                                         + (f" ({reason})" if reason else "") + f"; {advice}")
    if isinstance(err, aiohttp.ClientSSLError):
        reason = getattr(err.os_error, "reason", None) or ""
        reason = reason if _SSL_REASON.fullmatch(reason) else ""
        plain = f"; if it serves plain HTTP, use http:// in upstreams.{name}.url"
        if reason in _NOT_TLS_REASONS:
            return UpstreamError("tls", 502, f"upstream TLS handshake failed: {where} does not speak TLS ({reason})"
                                             + plain)
        # An alert (no common version or cipher, ...): it does speak TLS.
        return UpstreamError("tls", 502, f"upstream TLS handshake failed: {where}"
                                         + (f" ({reason})" if reason else plain))
    if isinstance(err, aiohttp.ClientConnectorError):
        os_error = err.os_error
        if isinstance(os_error, ConnectionRefusedError):
            return UpstreamError("connect", 502, f"upstream refused the connection: {where}")
        reason = _fixed_text(getattr(os_error, "strerror", None) or "")
        return UpstreamError("connect", 502, f"upstream connection failed: {where}"
                                             + (f" ({reason})" if reason else ""))
    if isinstance(err, aiohttp.ConnectionTimeoutError):
        budget = upstream.connect_timeout + upstream.read_timeout
        if waited >= budget - 0.002:
            # aiohttp's ``connect`` timeout (pool wait, name resolution and
            # connect together) fired, not ``sock_connect``.
            resolving = "" if _is_ip(host) else f", or resolving {host} took that long"
            return UpstreamError("timeout", 504, f"upstream timed out: all max_connections "
                                                 f"({upstream.max_connections}) to {where} stayed busy for "
                                                 f"connect_timeout + read_timeout ({budget:g} s){resolving}")
        what = " (TCP and TLS handshake)" if https else ""
        return UpstreamError("timeout", 504, f"upstream timed out: connecting to {where}{what} took longer than "
                                             f"connect_timeout ({upstream.connect_timeout:g} s)")
    if isinstance(err, aiohttp.SocketTimeoutError):
        waiting = "no body data" if mid_body else "no response head"
        return UpstreamError("timeout", 504, f"upstream timed out: {where} sent {waiting} within read_timeout "
                                             f"({upstream.read_timeout:g} s)")
    if isinstance(err, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return UpstreamError("timeout", 504, f"upstream timed out: {where}")
    before = "the end of the response" if mid_body else "a complete response head"
    if isinstance(err, aiohttp.ServerDisconnectedError):
        return UpstreamError("reset", 502, f"upstream closed the connection: {where} closed it before {before}")
    if isinstance(err, (aiohttp.ClientOSError, ConnectionResetError)):
        how = "reset it" if getattr(err, "errno", None) == errno.ECONNRESET else "closed it"
        return UpstreamError("reset", 502, f"upstream closed the connection: {where} {how} before {before}")
    detail = "not valid HTTP/1.1"
    for cause in _causes(err):
        found = next((text for cls, text in _PROTOCOL_DETAILS if isinstance(cause, cls)), None)
        if found:
            detail = found
            break
    return UpstreamError("protocol", 502, f"upstream sent an invalid response: {where} ({detail})")


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _might_be_tls(err: BaseException) -> bool:
    """An http:// upstream hung up on the request, reset it, or answered
    something that is not a status line: what a TLS port does with
    plain HTTP (Python's ssl servers close or reset, others send an alert)."""
    if isinstance(err, aiohttp.ServerDisconnectedError):
        return isinstance(err.message, str)  # no head begun (else the partial head it parsed)
    if isinstance(err, (aiohttp.ClientOSError, ConnectionResetError)):
        # Reset, or closed under a body still being sent (EPIPE).
        return not isinstance(err, aiohttp.ClientConnectorError) and (
            isinstance(err, ConnectionResetError) or getattr(err, "errno", None) in (errno.ECONNRESET, errno.EPIPE))
    if isinstance(err, aiohttp.ClientResponseError):
        return any(isinstance(cause, http_exceptions.BadStatusLine) for cause in _causes(err))
    return False


async def _speaks_tls(upstream: Upstream) -> bool:
    """Whether the upstream's host:port completes a TLS handshake (certificate
    not checked: nothing is sent over it), within ``connect_timeout``."""
    host, _ = _host_port(upstream)
    port = URL(upstream.url).port
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    writer = None
    try:
        async with asyncio.timeout(upstream.connect_timeout):
            _, writer = await asyncio.open_connection(host, port, ssl=context,
                                                      server_hostname=None if _is_ip(host) else host)
    except ssl.SSLError as err:
        # A TLS alert (no common version or cipher, a client certificate
        # required): it speaks TLS; a record that is not TLS: it does not.
        return (err.reason or "").startswith(("TLSV1_ALERT", "TLSV13_ALERT", "SSLV3_ALERT"))
    except (OSError, TimeoutError):
        return False
    finally:
        if writer is not None:
            writer.transport.abort()  # nothing to say: no close_notify round trip to wait for
    return True


Decorate = Callable[[int, CIMultiDict], None]

_TLS_PROBE_TTL = 30.0  # seconds a probe's answer is reused, per upstream


class UpstreamPool:
    """Client sessions for every configured upstream; create inside a running loop."""

    def __init__(self, upstreams: dict[str, Upstream]):
        self.upstreams = upstreams
        self.active = 0  # requests using this pool right now (a replaced pool waits for 0)
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._tls_probes: dict[str, tuple[float, asyncio.Task]] = {}  # upstream name: (expiry, probe)
        self._answered: dict[str, float] = {}  # upstream name: when a request last got a head (loop time)
        for name, upstream in upstreams.items():
            # https upstreams are always verified: against ca_file when given,
            # else the system's trust store.
            tls = ssl.create_default_context(cafile=upstream.ca_file) if upstream.ca_file else True
            connector = aiohttp.TCPConnector(
                ssl=tls,
                limit=upstream.max_connections,
                limit_per_host=0,
                ttl_dns_cache=10,
                enable_cleanup_closed=False,
            )
            timeout = aiohttp.ClientTimeout(
                total=None,
                # Waiting for a free pooled connection plus connecting; bounded
                # so a saturated pool cannot queue requests forever.
                connect=upstream.connect_timeout + upstream.read_timeout,
                sock_connect=upstream.connect_timeout,
                sock_read=upstream.read_timeout,
                # Exact deadlines (aiohttp rounds those over 5 s up to a whole
                # second): when the error came tells which timeout fired.
                ceil_threshold=float("inf"),
            )
            self._sessions[name] = aiohttp.ClientSession(
                connector=connector,
                timeout=timeout,
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),  # never store upstream cookies
                skip_auto_headers=("User-Agent",),
            )

    async def close(self) -> None:
        for _, probe in self._tls_probes.values():
            probe.cancel()
        for session in self._sessions.values():
            await session.close()

    async def _upstream_error(self, upstream: Upstream, err: BaseException, waited: float) -> UpstreamError:
        """``_classify``, and for an http:// upstream that hung up without a
        head (or answered no status line), whether its port speaks TLS: the
        only way to tell ``http://`` pointed at a TLS port from a crash."""
        error = _classify(err, upstream, waited)
        if error.kind in ("reset", "protocol") and upstream.url.startswith("http:") and _might_be_tls(err):
            # One that answered in plain HTTP lately is no TLS port (it closed
            # a pooled connection under a request, say): not probed.
            answered = self._answered.get(upstream.name)
            if answered is not None and asyncio.get_running_loop().time() - answered < _TLS_PROBE_TTL:
                return error
            if await self._probe_tls(upstream):
                _, where = _host_port(upstream)
                error = UpstreamError("tls", 502, f"upstream TLS mismatch: {where} speaks TLS, not plain HTTP; "
                                                  f"use https:// in upstreams.{upstream.name}.url")
        return error

    async def _probe_tls(self, upstream: Upstream) -> bool:
        """``_speaks_tls``, run at most once per ``_TLS_PROBE_TTL`` per upstream
        (concurrent failures share one probe): a failing upstream never gets
        a probe per request."""
        loop = asyncio.get_running_loop()
        cached = self._tls_probes.get(upstream.name)
        if cached is None or (cached[1].done() and loop.time() >= cached[0]):
            cached = self._tls_probes[upstream.name] = (loop.time() + _TLS_PROBE_TTL,
                                                        loop.create_task(_speaks_tls(upstream)))
        try:
            return await asyncio.shield(cached[1])
        except Exception:  # noqa: BLE001 - no answer is "not TLS"
            return False

    async def forward_websocket(
        self, request: web.BaseRequest, upstream_name: str, request_id: str | None = None, *,
        trusted_proxies: tuple = (),
    ) -> web.StreamResponse:
        """Open the same WebSocket to the upstream, then relay messages both ways until one side closes."""
        self.active += 1
        try:
            return await _forward_websocket(self, request, upstream_name, request_id, trusted_proxies)
        finally:
            self.active -= 1

    async def forward(
        self,
        request: web.BaseRequest,
        target: str,
        upstream_name: str,
        decorate: Decorate,
        request_id: str | None = None,
        *,
        trusted_proxies: tuple = (),
        max_body_size: int = 0,
        body_timeout: float = 60.0,
    ) -> web.StreamResponse:
        """Send ``request`` upstream (to path-and-query ``target``) and stream the answer back.

        ``decorate(status, headers)`` edits the response headers (CORS) before
        they are sent.  Raises UpstreamError, or ClientBodyError when the
        client's own upload stalls, breaks, outgrows ``max_body_size`` (0:
        no limit) or, when buffered, takes longer than ``body_timeout``,
        before the head is sent.  Raises ClientGone when the client goes
        (or stops reading and is cut off after ``listen.send_timeout``).
        """
        self.active += 1
        lease = _Lease()
        try:
            return await self._forward(request, target, upstream_name, decorate, request_id, trusted_proxies,
                                       max_body_size, body_timeout, lease)
        finally:
            self.active -= 1
            if lease.size:
                BUFFERED.release(lease.size)

    async def _forward(  # noqa: C901 - one exchange; split with the server package (issue 14)
        self,
        request: web.BaseRequest,
        target: str,
        upstream_name: str,
        decorate: Decorate,
        request_id: str | None,
        trusted_proxies: tuple,
        max_body_size: int,
        body_timeout: float,
        lease: _Lease,
    ) -> web.StreamResponse:
        upstream = self.upstreams[upstream_name]
        session = self._sessions[upstream_name]
        incoming = request.headers
        headers = upstream_request_headers(request, upstream, request_id, trusted_proxies=trusted_proxies)
        skip = [name for name in _AUTO_HEADERS if name not in incoming]

        body = None
        body_state = _BodyState()
        if request.body_exists:
            if _expects_continue(request):
                # The request is going to be forwarded: tell the client to send
                # its body (the upstream never sees Expect; we stream for it).
                await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            buffering = upstream.request_buffering
            length = request.content_length
            prefix = b""
            if buffering and (length is None or length <= buffering) and BUFFERED.reserve(
                    lease, length if length is not None else buffering + 1):
                prefix = await _buffer_body(request, buffering, body_timeout, upstream.read_timeout, max_body_size)
                if length is not None and len(prefix) != length:
                    # aiohttp's parser ends a body at exactly its length or
                    # fails; never forward one framed otherwise.
                    raise ClientBodyError(400, "the request body was cut off")
                if length is not None or len(prefix) <= buffering:
                    # The whole body: the upstream request starts only now,
                    # so a slow uploader never holds an upstream worker.  (A
                    # chunked one is forwarded with its Content-Length.)
                    body = prefix
                    body_state.done = True
                    body_state.sent = len(prefix)
            if body is None:
                body = _stream_body(request, upstream.read_timeout, body_state, max_body_size, prefix)

        url = URL(upstream.url + target, encoded=True)
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            upstream_response = await session.request(
                request.method,
                url,
                headers=headers,
                data=body,
                allow_redirects=False,
                skip_auto_headers=skip,
                compress=None,
                chunked=None,
            )
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as err:
            if body_state.error is not None:
                raise body_state.error from err
            raise await self._upstream_error(upstream, err, loop.time() - started) from err
        self._answered[upstream_name] = started
        if upstream_response.status == 101:
            # Only a WebSocket handshake asks for an upgrade, and those take
            # forward_websocket: a 101 here would leave a tunnel the gateway
            # never judged (RFC 9110 15.2.2: only in answer to Upgrade).
            upstream_response.close()
            raise UpstreamError("protocol", 502, f"upstream {upstream_name} switched protocols (101) on a request "
                                                 "that asked for no upgrade")

        if body is not None and not body_state.done:
            # The upstream answered before it had the whole body (a 404, 401
            # or 413 sent early, or a view that ignores the body): the rest of
            # the body may still be in flight to it, so this connection must
            # never carry another request.  (aiohttp 3.14 also closes it when
            # it cancels the unfinished body write; this does not rely on it.)
            connection = upstream_response.connection
            if connection is not None and connection.protocol is not None:
                connection.protocol.force_close()
        async with upstream_response:
            response_headers = _response_headers(upstream_response.raw_headers)
            decorate(upstream_response.status, response_headers)
            response = _ProxiedResponse(status=upstream_response.status, reason=upstream_response.reason,
                                        _real_headers=response_headers)  # aiohttp 3.14 private kwarg: no-copy hand-over
            # aiohttp picks the framing: chunked on HTTP/1.1 without a length,
            # close-delimited on HTTP/1.0, none for HEAD, 1xx, 204 and 304.
            try:
                await response.prepare(request)
            except (ConnectionError, aiohttp.ClientConnectionError) as err:
                log.debug("client closed the connection before the response head")
                raise ClientGone(response) from err
            content = upstream_response.content
            while True:
                try:
                    chunk = await content.readany()
                except (aiohttp.ClientError, asyncio.TimeoutError) as err:
                    # Too late for a status: cut the client connection so it
                    # sees a truncated body rather than a complete-looking one.
                    error = _classify(err, upstream, mid_body=True)
                    log.warning("upstream %s failed mid-response: %s", upstream_name, error)
                    if request.transport is not None:
                        request.transport.abort()
                    raise MidStreamFailure(error, response) from err
                if not chunk:
                    break
                try:
                    # A client that stops reading is cut off after
                    # listen.send_timeout by its connection's watchdog
                    # (app._GuardedHandler): this write then fails.
                    await response.write(chunk)
                except (ConnectionError, aiohttp.ClientConnectionError) as err:
                    log.debug("client closed the connection mid-response")
                    upstream_response.close()  # the rest of the response is not read: never pooled
                    raise ClientGone(response) from err
            try:
                await response.write_eof()
            except (ConnectionError, aiohttp.ClientConnectionError) as err:
                upstream_response.close()
                raise ClientGone(response) from err
            return response


_WS_HANDSHAKE = frozenset({
    "sec-websocket-key", "sec-websocket-version", "sec-websocket-extensions", "sec-websocket-protocol",
    "content-length",
})


async def _pump(source, sink, on_close) -> None:
    """Copy WebSocket messages from ``source`` to ``sink`` until one side closes."""
    async for message in source:
        if message.type is aiohttp.WSMsgType.TEXT:
            await sink.send_str(message.data)
        elif message.type is aiohttp.WSMsgType.BINARY:
            await sink.send_bytes(message.data)
        elif message.type in (aiohttp.WSMsgType.ERROR, aiohttp.WSMsgType.CLOSE):
            break
    await on_close(source.close_code)


async def _forward_websocket(pool: UpstreamPool, request: web.BaseRequest, upstream_name: str,
                             request_id: str | None, trusted_proxies: tuple) -> web.StreamResponse:
    upstream = pool.upstreams[upstream_name]
    session = pool._sessions[upstream_name]
    # The client library makes its own handshake (key, version, extensions, protocols).
    headers = upstream_request_headers(request, upstream, request_id, also_drop=_WS_HANDSHAKE,
                                       trusted_proxies=trusted_proxies)
    protocols = [p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()]
    url = URL(upstream.url.replace("http", "ws", 1) + request.raw_path, encoded=True)
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        upstream_ws = await session.ws_connect(url, headers=headers, protocols=protocols, autoclose=False,
                                               autoping=True, max_msg_size=0)
    except aiohttp.WSServerHandshakeError as err:
        raise UpstreamError("protocol", 502, f"upstream refused the WebSocket handshake ({err.status})") from err
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as err:
        raise await pool._upstream_error(upstream, err, loop.time() - started) from err
    client_ws = web.WebSocketResponse(protocols=[upstream_ws.protocol] if upstream_ws.protocol else (),
                                      autoclose=False, max_msg_size=0)
    try:
        await client_ws.prepare(request)

        async def close_client(code):
            await client_ws.close(code=code or aiohttp.WSCloseCode.OK)

        async def close_upstream(code):
            await upstream_ws.close(code=code or aiohttp.WSCloseCode.OK)

        down = asyncio.ensure_future(_pump(upstream_ws, client_ws, close_client))
        up = asyncio.ensure_future(_pump(client_ws, upstream_ws, close_upstream))
        done, pending = await asyncio.wait({down, up}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    finally:
        await upstream_ws.close()
        await client_ws.close()
    return client_ws


# aiohttp private API (checked against aiohttp 3.14; tests/unit/test_aiohttp_hooks.py fails when it moves):
# the underscore attributes and methods this class reads, sets or overrides.
class _ProxiedResponse(web.StreamResponse):
    """A StreamResponse that adds no Content-Type the upstream did not send.

    aiohttp defaults a missing Content-Type to application/octet-stream, which
    would change how browsers sniff the upstream's body.
    """

    async def _prepare_headers(self) -> None:
        had_type = "Content-Type" in self._headers
        await super()._prepare_headers()
        if not had_type:
            self._headers.popall("Content-Type", None)


class ClientBodyError(Exception):
    """The client's request body stalled (408), broke off (400) or was too large (413)
    before the upstream answered."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status


class ClientGone(Exception):
    """The client closed its connection while the response was streaming
    (or stopped reading it, and the gateway closed it after ``listen.send_timeout``)."""

    def __init__(self, response: web.StreamResponse):
        super().__init__("client closed the connection")
        self.response = response


class _Lease:
    """Bytes of ``BUFFERED`` one request holds (its buffered body), given back when it ends."""

    __slots__ = ("size",)

    def __init__(self) -> None:
        self.size = 0


class _BufferBudget:
    """All request bodies being buffered in this process share ``limit`` bytes.

    ``request_buffering`` is per request; without a total, clients that each
    send a body just under it and stall would hold it many times over in
    memory.  A request that finds the budget spent is streamed instead, as
    with ``request_buffering: 0``: never refused for it.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0

    def reserve(self, lease: _Lease, size: int) -> bool:
        if self.used + size > self.limit:
            log.debug("request buffering budget (%d bytes) spent: streaming this body", self.limit)
            return False
        self.used += size
        lease.size = size
        return True

    def release(self, size: int) -> None:
        self.used -= size


# Per process (each worker has its own), for all upstreams together.
MAX_BUFFERED_BYTES = 256 * 1024 * 1024
BUFFERED = _BufferBudget(MAX_BUFFERED_BYTES)


class _BodyState:
    """How far the client's body got: read to its end (``done``) and how many bytes were passed on."""

    __slots__ = ("error", "done", "sent")

    def __init__(self) -> None:
        self.error: ClientBodyError | None = None
        self.done = False
        self.sent = 0


class _FramingError(Exception):
    """The body the gateway forwarded does not match the length it announced upstream."""


def _expects_continue(request: web.BaseRequest) -> bool:
    expect = request.headers.get("Expect")
    return (
        expect is not None
        and expect.strip().lower() == "100-continue"
        and request.version >= aiohttp.HttpVersion11
    )


class MidStreamFailure(Exception):
    """The upstream failed after the response head was sent; the client connection is aborted."""

    def __init__(self, error: UpstreamError, response: web.StreamResponse):
        super().__init__(str(error))
        self.error = error
        self.response = response


async def _buffer_body(request: web.BaseRequest, buffering: int, deadline: float, stall: float, limit: int) -> bytes:
    """Read the client's body whole, if it is at most ``buffering`` bytes: in all
    within ``deadline`` seconds (``listen.body_timeout``), and no read waiting
    longer than ``stall`` (the upstream's ``read_timeout``, as for a streamed
    body).  A longer (chunked) body returns its first ``buffering`` + 1 bytes
    or more, to be streamed on."""
    content = request.content
    chunks: list[bytes] = []
    size = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    try:
        while size <= buffering:
            left = end - loop.time()
            if left <= 0:
                raise ClientBodyError(408, f"the request body took longer than {deadline:g} s (listen.body_timeout)")
            try:
                async with asyncio.timeout(min(left, stall)):
                    chunk = await content.readany()
            except TimeoutError:
                if left <= stall:
                    raise ClientBodyError(
                        408, f"the request body took longer than {deadline:g} s (listen.body_timeout)") from None
                raise ClientBodyError(408, "the request body stalled") from None
            if not chunk:
                break
            size += len(chunk)
            if limit and size > limit:
                raise ClientBodyError(413, f"the request body is larger than {limit} bytes")
            chunks.append(chunk)
    except ClientBodyError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure here is the client's
        raise ClientBodyError(400, "the request body was cut off") from err
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _stream_body(request: web.BaseRequest, timeout: float, state: _BodyState, limit: int,
                       prefix: bytes = b""):
    """The client's body, each read bounded by ``timeout`` (a stalled uploader
    must not hold an upstream connection forever), in all at most ``limit``
    bytes (0: no limit; a larger Content-Length was refused before this).

    The bytes are the client's own: the public listener never decompresses
    (``auto_decompress=False``), so a ``Content-Length`` forwarded as it came
    frames exactly these bytes.  Should the count ever differ from it, the
    generator raises instead of ending: aiohttp then marks the upstream
    connection for closing, so the gap can never be filled by the start of
    another client's request on a pooled connection (request smuggling).
    """
    content = request.content
    remaining = limit or -1
    announced = request.content_length  # None for a chunked body
    if prefix:  # what _buffer_body read before the body turned out too large to buffer
        state.sent = len(prefix)
        if remaining >= 0:
            remaining -= len(prefix)
        yield prefix
    while True:
        try:
            async with asyncio.timeout(timeout):
                chunk = await content.readany()
        except TimeoutError:
            state.error = ClientBodyError(408, "the request body stalled")
            raise state.error from None
        except Exception as err:  # noqa: BLE001 - any failure here is the client's
            state.error = ClientBodyError(400, "the request body was cut off")
            raise state.error from err
        if not chunk:
            if announced is not None and state.sent != announced:
                raise _FramingError(f"forwarded {state.sent} body bytes, announced {announced}")
            state.done = True
            return
        state.sent += len(chunk)
        if remaining >= 0:
            remaining -= len(chunk)
            if remaining < 0:
                state.error = ClientBodyError(413, f"the request body is larger than {limit} bytes")
                raise state.error
        yield chunk

