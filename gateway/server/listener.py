"""The public listener's aiohttp subclasses: connection caps, head and send deadlines, the prebuilt preflight.

* ``_CappedServer``: aiohttp's low-level server with ``listen.max_connections``
  and the per-address cap (IPv6 counted per /64, trusted proxies exempt).
* ``_GuardedHandler``: its per-connection protocol, with the request-head
  deadline (``listen.header_timeout``), the ``send_timeout`` watchdog and
  414/431 for oversized heads.
* ``_PreflightAnswer``: an allowed preflight's 204 written as one prebuilt
  byte string.

With ``upstream``, the only module that touches aiohttp's private API: each
class that does carries the "aiohttp private API" comment, and
tests/unit/test_aiohttp_hooks.py fails when aiohttp moves one of them.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging

from aiohttp import web
from aiohttp.helpers import rfc822_formatted_time
from aiohttp.http_exceptions import BadHttpMessage, LineTooLong
from aiohttp.streams import EMPTY_PAYLOAD
from multidict import CIMultiDict, CIMultiDictProxy

from ..policy import Decision
from ..settings import ClientLimits
from .answers import _TOO_LARGE, _answer
from .headers import _new_request_id, is_trusted

log = logging.getLogger("gateway")  # the pre-split logger name (log lines show it)


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
        # RequestFlow._finish read of a response (keep_alive, status, prepared,
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
    ``read_timeout`` per read (bodies.py).

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


# aiohttp private API (checked against aiohttp 3.14; tests/unit/test_aiohttp_hooks.py fails when it moves):
# TCPSite.start re-done with the attributes it sets, to pass ssl_handshake_timeout.
class TlsSite(web.TCPSite):
    """A TCPSite whose TLS handshakes must finish within ``handshake_timeout``.

    The connection caps and the head deadline of ``_GuardedHandler`` begin
    when aiohttp sees the connection, which on a TLS listener is after the
    handshake.  asyncio's own default (60 s) would let a client hold sockets
    that never finish one; ``listen.header_timeout`` bounds it instead.
    """

    def __init__(self, *args, handshake_timeout: float, **kwargs):
        super().__init__(*args, **kwargs)
        self.handshake_timeout = handshake_timeout

    async def start(self) -> None:
        await web.BaseSite.start(self)
        loop = asyncio.get_running_loop()
        server = self._runner.server
        assert server is not None
        self._server = await loop.create_server(
            server, self._host, self._port, ssl=self._ssl_context, backlog=self._backlog,
            reuse_address=self._reuse_address, reuse_port=self._reuse_port,
            ssl_handshake_timeout=self.handshake_timeout,
        )
        sockets = self._server.sockets
        self._bound_port = sockets[0].getsockname()[1] if sockets else self._port
