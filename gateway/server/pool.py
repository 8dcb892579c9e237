"""Keep-alive HTTP/1.1 connections to one upstream, on asyncio protocols.

``HostPool`` holds up to ``max_connections`` connections to one upstream
(idle ones LIFO, so few stay warm), resolves its name (cached
``DNS_TTL`` seconds), connects (TCP, then TLS verified against ``ca_file`` or
the system's store) within ``connect_timeout``, and makes a request that
finds every connection busy wait, in all (waiting, resolving, connecting) at
most ``connect_timeout + read_timeout``.  An idle connection older than
``IDLE_TTL`` is closed rather than reused: upstreams close idle keep-alive
connections after a few seconds (gunicorn after 2), and one reused just as
the upstream closes it loses the request.

``Connection`` is one connection's protocol: it writes what it is given
(pausing for the socket's backpressure, ``drain``), parses the answer with
``framing.ResponseReader`` and buffers the body up to ``_HIGH_WATER`` bytes
before it stops reading from the socket.  Every wait on the upstream
(``head``, ``read``, ``drain``) is bounded by the caller's timeout.

A connection goes back to the pool only after a complete exchange: the
request written in full (nothing left in the write buffer), the response
read to its framed end, the upstream willing to keep it open, and no byte
after the response.  Everything else closes it.

Failures are ``PoolError`` subclasses, each carrying what ``diagnose`` needs
to name it (never the upstream's bytes).
"""

from __future__ import annotations

import asyncio
import collections
import errno
import functools
import socket
import ssl

from .framing import BadResponse, ResponseReader

__all__ = ["DNS_TTL", "IDLE_TTL", "Connection", "HostPool", "PoolError"]

DNS_TTL = 10.0  # seconds a resolved address list is reused (aiohttp's ttl_dns_cache was 10)
IDLE_TTL = 1.5  # seconds a connection may sit idle and still be reused (below gunicorn's keepalive of 2 s)
_HIGH_WATER = 256 * 1024  # response body bytes buffered before reading from the upstream pauses
_LOW_WATER = 64 * 1024


class PoolError(Exception):
    """The upstream could not be used or did not answer well; ``diagnose`` names it."""

    might_be_tls = False  # an http:// upstream behaving as a TLS port does with plain HTTP


class ResolveFailed(PoolError):
    def __init__(self, os_error: OSError):
        super().__init__("name resolution failed")
        self.os_error = os_error


class ConnectFailed(PoolError):
    def __init__(self, os_error: OSError):
        super().__init__("connect failed")
        self.os_error = os_error


class TlsFailed(PoolError):
    def __init__(self, ssl_error: ssl.SSLError):
        super().__init__("TLS handshake failed")
        self.ssl_error = ssl_error


class ConnectTimeout(PoolError):
    """The TCP connect (and TLS handshake) took longer than ``connect_timeout``."""


class WaitTimeout(PoolError):
    """No connection within ``connect_timeout + read_timeout``: all were busy, or resolving took that long."""


class ReadTimeout(PoolError):
    """The upstream sent nothing (or read nothing of the body) for ``read_timeout``."""

    def __init__(self, mid_body: bool):
        super().__init__("read timeout")
        self.mid_body = mid_body


class Closed(PoolError):
    """The upstream closed (``reset``: reset) the connection before the response was complete."""

    def __init__(self, *, reset: bool, head_begun: bool, mid_body: bool):
        super().__init__("connection closed")
        self.reset = reset
        self.mid_body = mid_body
        self.might_be_tls = not head_begun and not mid_body


class Invalid(PoolError):
    """The upstream's bytes are not a valid response (``detail``: a fixed phrase)."""

    def __init__(self, bad: BadResponse):
        super().__init__(bad.detail)
        self.detail = bad.detail
        self.might_be_tls = bad.status_line


class Connection(asyncio.Protocol):
    """One connection to the upstream, carrying one exchange at a time."""

    __slots__ = ("_pool", "_counted", "_loop", "transport", "_reader", "_waiter", "_chunks", "_buffered", "_paused",
                 "_write_paused", "_drainer", "_error", "_got_bytes", "closed", "spoiled", "uses", "idle_since")

    def __init__(self, pool: HostPool) -> None:
        self._pool = pool
        self._counted = True  # holds one of the pool's ``open`` slots until closed
        self._loop = pool.loop
        self.transport: asyncio.Transport | None = None
        self._reader: ResponseReader | None = None  # made on the first exchange, reset for each next one
        self._waiter: asyncio.Future | None = None  # the caller waiting in head() or read()
        self._chunks: collections.deque[bytes] = collections.deque()
        self._buffered = 0
        self._paused = False  # reading from the socket paused (body buffer full)
        self._write_paused = False
        self._drainer: asyncio.Future | None = None
        self._error: PoolError | None = None
        self._got_bytes = False  # any byte of this exchange's response
        self.closed = False
        self.spoiled = False  # the request was not sent in full: never reused
        self.uses = 0  # exchanges begun on this connection
        self.idle_since = 0.0

    # -- asyncio.Protocol --------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        reader = self._reader
        if reader is None or reader.complete:
            # Bytes nobody asked for: never reuse this connection.
            self._fail(Invalid(BadResponse("bytes after the end of the response")), close=True)
            return
        self._got_bytes = True
        try:
            reader.feed(data)
        except BadResponse as bad:
            self._fail(Invalid(bad), close=True)

    def eof_received(self) -> bool:
        return False  # close the transport: connection_lost follows

    def connection_lost(self, exc: Exception | None) -> None:
        aborted = self.closed  # closed by the gateway: a close-delimited body is cut, not complete
        self.closed = True
        reader = self._reader
        # A close-delimited body ends with a clean close only: a reset cuts it.
        if reader is not None and not reader.complete and (aborted or exc is not None or self._error is not None
                                                           or not reader.finish()):
            reset = isinstance(exc, ConnectionResetError) or getattr(exc, "errno", None) == errno.ECONNRESET
            self._fail(Closed(reset=reset, head_begun=self._got_bytes, mid_body=reader.headed))
        self._pool._lost(self)
        drainer = self._drainer
        if drainer is not None and not drainer.done():
            drainer.set_result(None)  # the writer sees ``closed``
        self._wake()
        if reader is not None and reader.complete:
            self._drop_reader()  # (mid-exchange, release() -> finish() does it once the caller is done)

    def pause_writing(self) -> None:
        self._write_paused = True

    def resume_writing(self) -> None:
        self._write_paused = False
        drainer = self._drainer
        if drainer is not None and not drainer.done():
            drainer.set_result(None)

    # -- framing.ResponseReader's sink ------------------------------------------

    def on_head(self) -> None:
        self._wake()

    def on_body(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > _HIGH_WATER and not self._paused and not self.closed:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def on_complete(self) -> None:
        self._wake()

    # -- the exchange -------------------------------------------------------------

    def begin(self, head_only: bool) -> ResponseReader:
        """Start an exchange: the response will be read by the connection's ``ResponseReader``
        (made on the first exchange, reset on the next: a reused connection's last exchange
        was complete, so its parser is between messages)."""
        self.uses += 1
        self._got_bytes = False
        reader = self._reader
        if reader is None:
            reader = self._reader = ResponseReader(self, head_only=head_only)
        else:
            reader.reset(head_only)
        return reader

    def write(self, data: bytes) -> None:
        if self.closed:
            raise self._error or Closed(reset=False, head_begun=self._got_bytes, mid_body=False)
        self.transport.write(data)

    @property
    def got_bytes(self) -> bool:
        """Any byte of this exchange's response arrived."""
        return self._got_bytes

    @property
    def write_paused(self) -> bool:
        return self._write_paused

    async def drain(self, timeout: float) -> bool:
        """Wait until the socket takes more, at most ``timeout`` (an upstream that
        reads none of the body): False when it did not.

        Before the response head, that fails the exchange (ReadTimeout).  After
        it the upstream has answered without reading the rest, and its answer
        may still be arriving: the connection is only spoiled (never reused),
        and the caller stops sending.
        """
        if not self._write_paused or self.closed:
            return True
        drainer = self._drainer = self._loop.create_future()
        timer = self._loop.call_later(timeout, _expire, drainer)
        try:
            await drainer
            return True
        except _Expired:
            if self._reader is not None and self._reader.headed:
                self.spoiled = True
                return False
            error = ReadTimeout(mid_body=False)
            self._fail(error, close=True)
            raise error from None
        finally:
            timer.cancel()
            self._drainer = None

    async def head(self, timeout: float, moving=None) -> ResponseReader:
        """The response head (on the reader), within ``timeout`` of silence from the upstream.

        ``moving()``, if given, is asked when ``timeout`` passes: True (the
        request body is still going out, so the upstream is reading it)
        waits another ``timeout``.
        """
        reader = self._reader
        while not reader.headed:
            if self._error is not None:
                raise self._error
            await self._wait(timeout, False, moving)
        return reader

    async def read(self, timeout: float) -> bytes:
        """The next body bytes, b"" at the end of the body; each wait bounded by ``timeout``."""
        while True:
            if self._chunks:
                return self.take()
            if self._reader.complete:
                return b""
            if self._error is not None:
                raise self._error
            await self._wait(timeout, mid_body=True)

    def take(self) -> bytes:
        """The body bytes received so far and not yet read (b"" if none), without waiting."""
        chunks = self._chunks
        if not chunks:
            return b""
        if len(chunks) == 1:
            data = chunks.popleft()
        else:
            data = b"".join(chunks)
            chunks.clear()
        self._buffered -= len(data)
        if self._paused and self._buffered < _LOW_WATER and not self.closed:
            self._paused = False
            self.transport.resume_reading()
        return data

    @property
    def finished(self) -> bool:
        """The whole response has arrived and been read (``read`` would return b"")."""
        return self._reader.complete and not self._chunks

    @property
    def reusable(self) -> bool:
        """The exchange is complete, framed, and nothing of it is left unsent or unread."""
        reader = self._reader
        return (not self.closed and not self.spoiled and self._error is None and reader is not None and reader.complete
                and reader.keep_alive and not reader.extra and not self._chunks
                and not self.transport.get_write_buffer_size())

    def finish(self) -> None:
        """End the exchange: an idle connection from now on (``HostPool.release`` decides its fate)."""
        if self.closed:
            self._drop_reader()
        # A failed exchange's error holds a traceback whose frames hold this
        # connection: dropped, so no cycle is left for the collector.
        self._error = None
        self.idle_since = self._loop.time()

    def abort(self) -> None:
        """Close now, dropping whatever is unsent (the connection is never reused)."""
        if not self.closed and self.transport is not None:
            self.closed = True
            self.transport.abort()
        self.closed = True

    # -- internals ----------------------------------------------------------------

    def _drop_reader(self) -> None:
        """Break reader <-> parser <-> connection once the connection is closed: no garbage cycle."""
        reader = self._reader
        if reader is not None:
            reader.close()

    async def _wait(self, timeout: float, mid_body: bool, moving=None) -> None:
        waiter = self._waiter = self._loop.create_future()
        timer = self._loop.call_later(timeout, _expire, waiter)
        try:
            await waiter
        except _Expired:
            if moving is not None and moving():
                return
            error = ReadTimeout(mid_body)
            self._fail(error, close=True)
            raise error from None
        finally:
            timer.cancel()
            self._waiter = None

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _fail(self, error: PoolError, close: bool = False) -> None:
        if self._error is None:
            self._error = error
        if close:
            self.abort()
        self._wake()


class _Expired(Exception):
    """A wait's timer fired."""


def _expire(future: asyncio.Future) -> None:
    if not future.done():
        future.set_exception(_Expired())


class HostPool:
    """Connections to one upstream ``host:port`` (``tls``: an SSLContext for https)."""

    def __init__(self, host: str, port: int, tls: ssl.SSLContext | None, *, max_connections: int,
                 connect_timeout: float, read_timeout: float, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.host = host
        self.port = port
        self.tls = tls
        self.max_connections = max_connections
        self.connect_timeout = connect_timeout
        self.wait_budget = connect_timeout + read_timeout
        self.loop = loop or asyncio.get_running_loop()
        self.idle: collections.deque[Connection] = collections.deque()
        self.open = 0  # connections open or being opened
        self._waiters: collections.deque[asyncio.Future] = collections.deque()
        self._addresses: list | None = None
        self._addresses_until = 0.0
        self._ip = _is_ip(host)
        self.closing = False

    def take_idle(self) -> Connection | None:
        """A warm idle connection, if there is one (no wait)."""
        idle = self.idle
        now = self.loop.time()
        while idle:
            conn = idle.pop()
            if not conn.closed and now - conn.idle_since < IDLE_TTL:
                return conn
            self._discard(conn)
        return None

    async def acquire(self, fresh: bool = False) -> Connection:
        """A connection for one exchange: an idle one (unless ``fresh``), a new one, or the
        next one released, all within ``connect_timeout + read_timeout``."""
        if not fresh:
            conn = self.take_idle()
            if conn is not None:
                return conn
        loop = self.loop
        deadline = loop.time() + self.wait_budget
        while self.open >= self.max_connections:
            if fresh:
                # A retry: make room by closing an idle connection, or wait for one.
                conn = self.take_idle()
                if conn is not None:
                    self._discard(conn)
                    continue
            waiter = loop.create_future()
            self._waiters.append(waiter)
            timer = loop.call_later(max(deadline - loop.time(), 0), _expire, waiter)
            try:
                conn = await waiter
            except _Expired:
                self._remove_waiter(waiter)
                raise WaitTimeout("all connections stayed busy") from None
            except asyncio.CancelledError:
                if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                    # Handed a connection (or a free slot) just as this
                    # request was cancelled: pass it on, never lose it.
                    got = waiter.result()
                    if got is not None:
                        self._pass_on(got)
                    else:
                        self._wake_one()
                else:
                    self._remove_waiter(waiter)
                raise
            finally:
                timer.cancel()
            if conn is not None:
                if fresh:
                    self._discard(conn)
                    continue
                return conn
            # None: a slot came free, try again.
        self.open += 1
        try:
            return await self._connect(deadline)
        except BaseException:
            self.open -= 1
            self._wake_one()
            raise

    def release(self, conn: Connection) -> None:
        """The exchange on ``conn`` ended: pool it if it may carry another, else close it."""
        if not conn.reusable or self.closing:
            self._discard(conn)  # closed first, so finish() drops its reader (no garbage cycle)
            conn.finish()
            return
        conn.finish()
        self._pass_on(conn)

    def _pass_on(self, conn: Connection) -> None:
        """An idle connection: to the first request waiting for one, else into the pool."""
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(conn)
                return
        self.idle.append(conn)

    def close(self) -> None:
        """Close every idle connection; those in use close when released."""
        self.closing = True
        while self.idle:
            self._discard(self.idle.pop())
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(WaitTimeout("the pool closed"))

    # -- internals ----------------------------------------------------------------

    async def _connect(self, deadline: float) -> Connection:
        loop = self.loop
        addresses = await self._resolve(deadline)
        limit = min(self.connect_timeout, deadline - loop.time())
        error: PoolError | None = None
        conn: Connection | None = None
        connected = False
        try:
            async with asyncio.timeout(limit):
                for family, address in addresses:
                    conn = Connection(self)
                    try:
                        await loop.create_connection(
                            functools.partial(_same, conn), address[0], address[1], family=family, ssl=self.tls,
                            server_hostname=self.host if self.tls is not None else None,
                            # the timeout around this fires first; this one would be another error
                            ssl_handshake_timeout=self.connect_timeout + 1 if self.tls is not None else None)
                    except ssl.SSLError as err:
                        raise TlsFailed(err) from err
                    except OSError as err:
                        error = ConnectFailed(err)
                        continue
                    if self.closing:
                        raise WaitTimeout("the pool closed")
                    connected = True
                    return conn
        except TimeoutError:
            if limit < self.connect_timeout:
                raise WaitTimeout("resolving and waiting took the whole budget") from None
            raise ConnectTimeout("connect timeout") from None
        finally:
            if not connected and conn is not None and conn.transport is not None:
                # Connected just as the time ran out (or the pool closed): the
                # caller gives the slot back, so this one is not counted.
                conn._counted = False
                conn.abort()
        raise error or ConnectFailed(OSError(errno.EHOSTUNREACH, "no address"))

    async def _resolve(self, deadline: float) -> list:
        if self._ip:
            if self._addresses is None:
                family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
                self._addresses = [(family, (self.host, self.port))]
            return self._addresses
        loop = self.loop
        if self._addresses is not None and loop.time() < self._addresses_until:
            return self._addresses
        try:
            async with asyncio.timeout(max(deadline - loop.time(), 0)):
                infos = await loop.getaddrinfo(self.host, self.port, type=socket.SOCK_STREAM)
        except TimeoutError:
            raise WaitTimeout("resolving took the whole budget") from None
        except OSError as err:
            raise ResolveFailed(err) from err
        self._addresses = [(family, address[:2]) for family, _, _, _, address in infos]
        self._addresses_until = loop.time() + DNS_TTL
        return self._addresses

    def _discard(self, conn: Connection) -> None:
        conn.abort()
        self._lost(conn)

    def _lost(self, conn: Connection) -> None:
        """``conn`` closed (or is closing): its slot is free once, whatever calls this first."""
        if not conn._counted:
            return
        conn._counted = False
        self.open -= 1
        try:
            self.idle.remove(conn)
        except ValueError:
            pass
        self._wake_one()

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # a slot came free: connect anew
                return

    def _remove_waiter(self, waiter: asyncio.Future) -> None:
        try:
            self._waiters.remove(waiter)
        except ValueError:
            pass


def _same(conn: Connection) -> Connection:
    return conn


def _is_ip(host: str) -> bool:
    try:
        socket.inet_pton(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
    except OSError:
        return False
    return True
