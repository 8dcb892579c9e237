"""Stream requests to upstreams and responses back, untouched but for hop-by-hop headers.

Proxied requests go over the gateway's own keep-alive connection pool, one
``pool.HostPool`` per upstream (its own connection limit and timeouts), with
heads written and responses parsed by ``framing``; WebSocket upgrades go
over an aiohttp ``ClientSession``.  A pooled connection that the upstream
closed just as it was reused is retried once on a new connection, for
bodiless idempotent requests only.  Request bodies are buffered or streamed (``bodies``); responses
are streamed in chunks with backpressure, so a 1 GiB upload or download costs
a few chunk buffers, not 1 GiB.  A client that reads nothing for
``listen.send_timeout`` is cut off.  Bodies pass byte for byte:
Content-Encoding passes through (no decompression either way); redirects are
returned, never followed.  A pooled connection is reused only after a
complete exchange (the whole body sent, exactly as announced, and the whole
response read).  WebSockets are relayed message by message.

``read_timeout`` bounds each wait on the upstream (for the response head and
between body chunks), not the whole transfer; ``connect_timeout`` bounds the
TCP connect and TLS handshake.  Failures before the response head is sent
become ``UpstreamError`` (502, or 504 for timeouts; named by ``diagnose``) so
the caller can answer with CORS headers; failures after it abort the client
connection, since a status can no longer be sent.

With ``listener``, the only module that touches aiohttp's private API (each
use commented with the aiohttp version it was checked against).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable

import aiohttp
from aiohttp import HttpVersion11, web
from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http import SERVER_SOFTWARE
from multidict import CIMultiDict
from yarl import URL

from ..settings import Upstream
from .bodies import BUFFERED, ClientBodyError, _BodyState, _Lease, _request_body
from .diagnose import UpstreamError, _classify, _host_port, _might_be_tls, _speaks_tls
from .framing import LAST_CHUNK, chunk, request_head
from .headers import _response_headers, forwarded_headers, upstream_request_headers
from .pool import Closed, Connection, HostPool, PoolError

__all__ = ["ClientGone", "Decorate", "MidStreamFailure", "UpstreamPool"]

log = logging.getLogger("gateway.proxy")  # the pre-split logger name (log lines show it)


Decorate = Callable[[int, CIMultiDict], None]

_TLS_PROBE_TTL = 30.0  # seconds a probe's answer is reused, per upstream


class UpstreamPool:
    """A ``pool.HostPool`` per configured upstream (proxied requests) and, made
    when first needed, an aiohttp ``ClientSession`` (WebSocket upgrades);
    create inside a running loop."""

    def __init__(self, upstreams: dict[str, Upstream]):
        self.upstreams = upstreams
        self.active = 0  # requests using this pool right now (a replaced pool waits for 0)
        self._hosts: dict[str, HostPool] = {}
        self._host_headers: dict[str, str] = {}  # upstream name: its Host header (preserve_host: false)
        self._sessions: dict[str, aiohttp.ClientSession] = {}  # WebSockets only
        self._tls_probes: dict[str, tuple[float, asyncio.Task]] = {}  # upstream name: (expiry, probe)
        self._answered: dict[str, float] = {}  # upstream name: when a request last got a head (loop time)
        for name, upstream in upstreams.items():
            url = URL(upstream.url)
            host = url.raw_host or ""
            # https upstreams are always verified: against ca_file when given,
            # else the system's trust store.
            tls = ssl.create_default_context(cafile=upstream.ca_file) if url.scheme == "https" else None
            self._hosts[name] = HostPool(host, url.port, tls, max_connections=upstream.max_connections,
                                         connect_timeout=upstream.connect_timeout,
                                         read_timeout=upstream.read_timeout)
            authority = f"[{host}]" if ":" in host else host
            self._host_headers[name] = authority if url.is_default_port() else f"{authority}:{url.port}"

    def _session(self, name: str) -> aiohttp.ClientSession:
        session = self._sessions.get(name)
        if session is None:
            upstream = self.upstreams[name]
            tls = ssl.create_default_context(cafile=upstream.ca_file) if upstream.ca_file else True
            connector = aiohttp.TCPConnector(ssl=tls, limit=upstream.max_connections, limit_per_host=0,
                                             ttl_dns_cache=10, enable_cleanup_closed=False)
            timeout = aiohttp.ClientTimeout(
                total=None,
                # Waiting for a free pooled connection plus connecting; bounded
                # so a saturated pool cannot queue handshakes forever.
                connect=upstream.connect_timeout + upstream.read_timeout,
                sock_connect=upstream.connect_timeout,
                sock_read=upstream.read_timeout,
                ceil_threshold=float("inf"),  # exact deadlines: when the error came tells which fired
            )
            session = self._sessions[name] = aiohttp.ClientSession(
                connector=connector, timeout=timeout, auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),  # never store upstream cookies
                skip_auto_headers=("User-Agent",))
        return session

    async def close(self) -> None:
        for _, probe in self._tls_probes.values():
            probe.cancel()
        for host in self._hosts.values():
            host.close()
        for session in self._sessions.values():
            await session.close()

    async def _upstream_error(self, upstream: Upstream, err: BaseException, waited: float = 0.0) -> UpstreamError:
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
        strip_cors: bool = False,
    ) -> web.StreamResponse:
        """Send ``request`` upstream (to path-and-query ``target``) and stream the answer back.

        ``decorate(status, headers)`` edits the response headers (CORS) before
        they are sent; ``strip_cors`` drops the upstream's ``Access-Control-*``
        headers first.  Raises UpstreamError, or ClientBodyError when the
        client's own upload stalls, breaks, outgrows ``max_body_size`` (0:
        no limit) or, when buffered, takes longer than ``body_timeout``,
        before the head is sent.  Raises ClientGone when the client goes
        (or stops reading and is cut off after ``listen.send_timeout``).
        """
        self.active += 1
        lease = None
        try:
            upstream = self.upstreams[upstream_name]
            body = body_state = None
            if request.body_exists:
                body_state, lease = _BodyState(), _Lease()
                body = await _request_body(request, upstream, body_state, lease, max_body_size, body_timeout)
            head, chunked = self._request_head(request, target, upstream_name, request_id, trusted_proxies, body)
            conn, reader, sender = await self._exchange(upstream, request.method, head, body, chunked, body_state)
            try:
                status = reader.status
                headers = _answer_head(upstream, conn, reader, decorate, strip_cors)
                if (status >= 200 and status != 204 and status != 304 and request.version == HttpVersion11
                        and request.keep_alive and request.method != "HEAD" and "Content-Length" in headers):
                    # The common case: written here, head and body in one send.
                    return await _relay_written(request, upstream, conn, status, reader.reason, headers)
                return await _relay(request, upstream, conn, status, reader.reason, headers)
            finally:
                if sender is not None and not sender.done():
                    # The upstream answered before it had the whole body (a 404,
                    # 401 or 413 sent early, or a view that ignores the body): the
                    # rest may still be in flight, so the connection is closed.
                    conn.abort()
                    await _stop(sender)
                self._hosts[upstream_name].release(conn)
        finally:
            self.active -= 1
            if lease is not None and lease.size:
                BUFFERED.release(lease.size)

    def _request_head(self, request: web.BaseRequest, target: str, upstream_name: str, request_id: str | None,
                      trusted_proxies: tuple, body) -> tuple[bytes, bool]:
        """The request head for the upstream, framed for ``body`` (None, bytes or
        a stream), with ``body`` itself appended when it is bytes; and whether
        the (streamed) body goes chunked."""
        method = request.method
        chunked = False
        headers, has_host, has_length = forwarded_headers(request, self.upstreams[upstream_name], request_id,
                                                          trusted_proxies=trusted_proxies)
        if not has_host:  # preserve_host: false, or an HTTP/1.0 client that sent none
            headers.append(("Host", self._host_headers[upstream_name]))
        if body is None:
            if method not in _BODILESS_METHODS and not has_length:
                headers.append(("Content-Length", "0"))  # RFC 9110 8.6: a POST without a body says so
        elif not has_length:
            if type(body) is bytes:
                headers.append(("Content-Length", str(len(body))))  # a chunked upload, buffered whole
            else:
                headers.append(("Transfer-Encoding", "chunked"))
                chunked = True
        try:
            head = request_head(method, target, headers)
        except ValueError:
            raise ClientBodyError(400, "a header that cannot be forwarded") from None
        return (head + body if type(body) is bytes else head), chunked

    async def _exchange(self, upstream: Upstream, method: str, head: bytes, body, chunked: bool,
                        body_state: _BodyState):
        """Send the request on a pooled connection and read the response head:
        (connection, its reader, the task still sending a streamed body or None)."""
        host = self._hosts[upstream.name]
        loop = host.loop  # (asyncio.get_running_loop() costs a getpid() system call on Python 3.11)
        started = loop.time()
        read_timeout = upstream.read_timeout
        streamed = body is not None and type(body) is not bytes
        # A stale pooled connection (closed by the upstream as it was reused)
        # is retried once on a new one, for requests that are idempotent and
        # have no body: those cannot have been half-done.
        may_retry = body is None and method in _IDEMPOTENT_METHODS
        fresh = False
        while True:
            conn = None if fresh else host.take_idle()
            try:
                if conn is None:
                    conn = await host.acquire(fresh)
            except PoolError as err:
                raise await self._upstream_error(upstream, err, loop.time() - started) from err
            reused = conn.uses > 0
            conn.begin(head_only=method == "HEAD")
            sender = None
            try:
                conn.write(head)
                if streamed:
                    sender = loop.create_task(_send_body(conn, body, chunked, read_timeout))
                reader = await conn.head(read_timeout, _Progress(body_state) if streamed else None)
            except BaseException as err:
                conn.abort()
                host.release(conn)
                if sender is not None:
                    await _stop(sender)
                if not isinstance(err, PoolError):
                    raise
                if body_state is not None and body_state.error is not None:
                    raise body_state.error from err
                if may_retry and reused and isinstance(err, Closed) and not err.mid_body and not conn.got_bytes:
                    may_retry = False
                    fresh = True
                    log.debug("upstream %s closed a pooled connection as it was reused: retrying once",
                              upstream.name)
                    continue
                raise await self._upstream_error(upstream, err, loop.time() - started) from err
            self._answered[upstream.name] = started
            return conn, reader, sender


def _answer_head(upstream: Upstream, conn: Connection, reader, decorate: Decorate, strip_cors: bool) -> CIMultiDict:
    """The response headers to send the client: the upstream's, filtered (``strip_cors``: its
    Access-Control-* too) and decorated."""
    status = reader.status
    if status == 101:
        # Only a WebSocket handshake asks for an upgrade, and those take
        # forward_websocket: a 101 here would leave a tunnel the gateway
        # never judged (RFC 9110 15.2.2: only in answer to Upgrade).
        conn.abort()
        raise UpstreamError("protocol", 502, f"upstream {upstream.name} switched protocols (101) on a request "
                                             "that asked for no upgrade")
    headers = _response_headers(reader.raw_headers, strip_cors)
    decorate(status, headers)
    return headers


async def _relay(request: web.BaseRequest, upstream: Upstream, conn: Connection, status: int, reason: str,
                 response_headers: CIMultiDict) -> web.StreamResponse:
    """Stream the upstream's response to the client through aiohttp's StreamResponse
    (the cases ``_relay_written`` does not take)."""
    response = _ProxiedResponse(status=status, reason=reason,
                                _real_headers=response_headers)  # aiohttp 3.14 private kwarg: no-copy hand-over
    # aiohttp picks the framing: chunked on HTTP/1.1 without a length,
    # close-delimited on HTTP/1.0, none for HEAD, 1xx, 204 and 304.
    try:
        await response.prepare(request)
    except (ConnectionError, aiohttp.ClientConnectionError) as err:
        log.debug("client closed the connection before the response head")
        conn.abort()
        raise ClientGone(response) from err
    read_timeout = upstream.read_timeout
    while True:
        try:
            chunk = await conn.read(read_timeout)
        except PoolError as err:
            # Too late for a status: cut the client connection so it
            # sees a truncated body rather than a complete-looking one.
            error = _classify(err, upstream, mid_body=True)
            log.warning("upstream %s failed mid-response: %s", upstream.name, error)
            if request.transport is not None:
                request.transport.abort()
            raise MidStreamFailure(error, response) from err
        if not chunk:
            break
        try:
            # A client that stops reading is cut off after
            # listen.send_timeout by its connection's watchdog
            # (listener._GuardedHandler): this write then fails.
            await response.write(chunk)
        except (ConnectionError, aiohttp.ClientConnectionError) as err:
            log.debug("client closed the connection mid-response")
            conn.abort()  # the rest of the response is not read: never pooled
            raise ClientGone(response) from err
    try:
        await response.write_eof()
    except (ConnectionError, aiohttp.ClientConnectionError) as err:
        raise ClientGone(response) from err
    return response


async def _relay_written(request: web.BaseRequest, upstream: Upstream, conn: Connection, status: int, reason: str,
                         headers: CIMultiDict) -> _WrittenResponse:
    """Relay a Content-Length-framed response to an HTTP/1.1 keep-alive client
    by writing its bytes to the client's transport directly.

    What aiohttp's StreamResponse would send for it, byte for byte but for
    header bytes that are not UTF-8, passed on as the upstream sent them: the
    same head (its Date and Server added when the upstream sent none, no
    Connection header, the body's length as given), the body as it arrives,
    waiting while the client does not read.  The head goes out with the body
    bytes already here in one send; a StreamResponse sends its head alone
    first, and the sends were a tenth of a proxied request's time
    (bench/RESULTS.md).  Every other case (HEAD, 204 and 304, HTTP/1.0,
    ``Connection: close``, a body of unknown length) takes ``_ProxiedResponse``.
    """
    response = _WrittenResponse(status, reason, headers)
    if "Date" not in headers:
        headers["Date"] = rfc822_formatted_time()
    if "Server" not in headers:
        headers["Server"] = SERVER_SOFTWARE
    text = f"HTTP/1.1 {status} {reason}\r\n" + "\r\n".join(map(": ".join, headers.items())) + "\r\n\r\n"
    lines = len(headers) + 2
    if text.count("\n") != lines or text.count("\r") != lines:
        # The parser let no CR or LF through, and the gateway adds none: a
        # bug, answered as the upstream's fault rather than sent.
        conn.abort()
        raise UpstreamError("protocol", 502, f"upstream {upstream.name} sent a header the gateway cannot pass on")
    head = text.encode("utf-8", "surrogateescape")  # the upstream's bytes (headers._response_headers)
    transport = request.transport
    if transport is None or transport.is_closing():
        conn.abort()
        raise ClientGone(response)
    data = conn.take()
    transport.write(head + data if data else head)
    sent = len(head) + len(data)
    protocol = request.protocol
    read_timeout = upstream.read_timeout
    try:
        while True:
            if protocol.writing_paused:
                # The client is not reading as fast: wait (cut off after
                # listen.send_timeout by listener._GuardedHandler's watchdog).
                await request.writer.drain()
            if conn.finished:
                break  # all relayed (a small answer: at once, with no wait on the upstream)
            try:
                data = await conn.read(read_timeout)
            except PoolError as err:
                error = _classify(err, upstream, mid_body=True)
                log.warning("upstream %s failed mid-response: %s", upstream.name, error)
                transport.abort()
                raise MidStreamFailure(error, response) from err
            if not data:
                break
            if transport.is_closing():
                raise ConnectionResetError("the client closed the connection")
            transport.write(data)
            sent += len(data)
    except (ConnectionError, aiohttp.ClientConnectionError) as err:
        log.debug("client closed the connection mid-response")
        conn.abort()  # the rest of the response is not read: never pooled
        response._body_length = sent
        raise ClientGone(response) from err
    response._body_length = sent
    return response


# RFC 9110 9.2.2; CONNECT is never proxied.
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"})
# Methods whose requests announce no empty body (as aiohttp's client did).
_BODILESS_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE", "CONNECT"})


class _Progress:
    """Whether a streamed request body moved since last asked (the upstream is still reading it)."""

    __slots__ = ("_state", "_seen")

    def __init__(self, state: _BodyState) -> None:
        self._state = state
        self._seen = 0

    def __call__(self) -> bool:
        sent = self._state.sent
        moved = sent != self._seen and not self._state.done
        self._seen = sent
        return moved


async def _send_body(conn: Connection, body, chunked: bool, timeout: float) -> None:
    """Write a streamed request body (``bodies._stream_body``) to ``conn``,
    waiting for the socket to take each part (at most ``timeout`` each).

    Any failure closes the connection, which wakes the request waiting for
    the response head; the client's own failures are on its ``_BodyState``.
    """
    try:
        async for data in body:
            if conn.closed:
                return  # the upstream went away: the head's waiter says how
            conn.write(chunk(data) if chunked else data)
            if conn.write_paused and not await conn.drain(timeout):
                return  # answered already, and reads no more of the body: the connection is spoiled
        if chunked and not conn.closed:
            conn.write(LAST_CHUNK)
    except PoolError:
        conn.abort()
    except asyncio.CancelledError:
        conn.abort()
        raise
    except Exception:  # noqa: BLE001 - the client's body failed (_BodyState says how) or did not match its length
        conn.abort()
    finally:
        await body.aclose()


async def _stop(task: asyncio.Task) -> None:
    """Cancel ``task`` and wait for it to end (its error was handled inside it)."""
    if not task.done():
        task.cancel()
    try:
        await task
    except BaseException:  # noqa: BLE001 - cancelled or failed: either way over
        pass


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
    session = pool._session(upstream_name)
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


# aiohttp private API (checked against aiohttp 3.14; tests/unit/test_aiohttp_hooks.py fails when it moves):
# the underscore attributes this class sets.
class _WrittenResponse(web.StreamResponse):
    """A response ``_relay_written`` wrote to the transport itself: aiohttp's
    ``prepare`` and ``write_eof`` after the handler have nothing left to do.

    Not StreamResponse.__init__ (a header dict and a reason lookup this
    answer never uses): what aiohttp and RequestFlow._finish read of a
    response (status, keep_alive, prepared, body_length, headers) is set
    here or a class default of StreamResponse.
    """

    def __init__(self, status: int, reason: str, headers: CIMultiDict) -> None:
        self._status = status
        self._reason = reason
        self._state = {}
        self._headers = headers
        self._keep_alive = True
        self._eof_sent = True  # prepared: the relay writes every byte

    async def prepare(self, request: web.BaseRequest):
        return None

    async def write_eof(self, data: bytes = b"") -> None:
        return None


class ClientGone(Exception):
    """The client closed its connection while the response was streaming
    (or stopped reading it, and the gateway closed it after ``listen.send_timeout``)."""

    def __init__(self, response: web.StreamResponse):
        super().__init__("client closed the connection")
        self.response = response


class MidStreamFailure(Exception):
    """The upstream failed after the response head was sent; the client connection is aborted."""

    def __init__(self, error: UpstreamError, response: web.StreamResponse):
        super().__init__(str(error))
        self.error = error
        self.response = response
