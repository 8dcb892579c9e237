"""gateway/server/pool.py against real loopback upstreams that send recorded bytes.

The upstream is a plain asyncio server that reads each request head (and a
Content-Length body) and answers with the next scripted byte string, so a
test says exactly what crosses the wire.  It counts connections: reuse is
asserted from the upstream's side, not taken on the pool's word.
"""

from __future__ import annotations

import asyncio
import gc
import socket
import struct

import pytest

from gateway.server import pool
from gateway.server.framing import request_head
from gateway.server.pool import Closed, ConnectFailed, HostPool, Invalid, ReadTimeout, WaitTimeout

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class Upstream:
    """Answers request N on any connection with ``script[N]`` (bytes, or a callable(writer) coroutine)."""

    def __init__(self, script):
        self.script = list(script)
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        self.writers: list[asyncio.StreamWriter] = []

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc):
        for writer in self.writers:
            writer.transport.abort()
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.connections += 1
        self.writers.append(writer)
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length) if length else b""
                self.requests.append(head + body)
                answer = self.script[len(self.requests) - 1] if len(self.requests) <= len(self.script) else OK
                if callable(answer):
                    await answer(writer)
                else:
                    writer.write(answer)
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


def make_pool(port, **kwargs):
    options = {"max_connections": 4, "connect_timeout": 1.0, "read_timeout": 1.0}
    options.update(kwargs)
    return HostPool("127.0.0.1", port, None, **options)


async def exchange(host: HostPool, method="GET", body=b"", timeout=1.0):
    conn = await host.acquire()
    try:
        conn.begin(method == "HEAD")
        headers = [("Host", "up")] + ([("Content-Length", str(len(body)))] if body else [])
        conn.write(request_head(method, "/", headers) + body)
        reader = await conn.head(timeout)
        data = b""
        while chunk := await conn.read(timeout):
            data += chunk
        return conn, reader.status, data
    finally:
        host.release(conn)


async def test_connection_reused_after_a_complete_exchange():
    async with Upstream([OK, OK, OK]) as up:
        host = make_pool(up.port)
        first, status, body = await exchange(host)
        assert (status, body) == (200, b"ok")
        second, _, _ = await exchange(host)
        third, _, _ = await exchange(host)
        assert first is second is third and first.uses == 3
        assert up.connections == 1 and len(up.requests) == 3
        assert host.open == 1 and list(host.idle) == [first]
        host.close()


@pytest.mark.parametrize("answer, why", [
    (OK + b"HTTP/1.1 200 OK\r\n", "bytes after the response"),
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", "Connection: close"),
    (b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "HTTP/1.0"),
])
async def test_connection_not_reused(answer, why):
    async with Upstream([answer, OK]) as up:
        host = make_pool(up.port)
        first, status, body = await exchange(host)
        assert (status, body) == (200, b"ok"), why
        second, status, body = await exchange(host)
        assert (status, body) == (200, b"ok")
        assert first is not second and first.closed, why
        assert up.connections == 2
        assert host.open == 1
        host.close()


async def test_head_response_never_reused():
    async with Upstream([b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", OK]) as up:
        host = make_pool(up.port)
        first, status, body = await exchange(host, "HEAD")
        assert (status, body) == (200, b"")
        second, _, _ = await exchange(host)
        assert first is not second and up.connections == 2
        host.close()


async def test_close_delimited_body_read_to_the_end_and_not_reused():
    async def answer(writer):
        writer.write(b"HTTP/1.1 200 OK\r\n\r\nall of it")
        await writer.drain()
        writer.close()
    async with Upstream([answer]) as up:
        host = make_pool(up.port)
        conn, status, body = await exchange(host)
        assert (status, body) == (200, b"all of it") and conn.closed
        assert host.open == 0 and not host.idle
        host.close()


async def test_body_cut_short_is_an_error_mid_body():
    async def answer(writer):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
        await writer.drain()
        writer.close()
    async with Upstream([answer]) as up:
        host = make_pool(up.port)
        with pytest.raises(Closed) as err:
            await exchange(host)
        assert err.value.mid_body and not err.value.might_be_tls
        assert host.open == 0
        host.close()


async def test_closed_before_any_byte():
    async def answer(writer):
        writer.close()
    async with Upstream([answer]) as up:
        host = make_pool(up.port)
        with pytest.raises(Closed) as err:
            await exchange(host)
        assert not err.value.mid_body and err.value.might_be_tls
        assert host.open == 0
        host.close()


async def test_garbage_is_invalid_and_closes():
    async with Upstream([b"\x15\x03\x01\x00\x02\x02\x46"]) as up:
        host = make_pool(up.port)
        with pytest.raises(Invalid) as err:
            await exchange(host)
        assert err.value.detail == "bad status line" and err.value.might_be_tls
        assert host.open == 0
        host.close()


async def test_silent_upstream_read_timeout_then_slot_freed():
    async def answer(writer):
        await asyncio.sleep(5)
    async with Upstream([answer]) as up:
        host = make_pool(up.port, read_timeout=0.2)
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(ReadTimeout) as err:
            await exchange(host, timeout=0.2)
        assert 0.15 < loop.time() - started < 1.0
        assert not err.value.mid_body
        await asyncio.sleep(0)
        assert host.open == 0
        host.close()


async def test_stalled_body_read_timeout_is_mid_body():
    async def answer(writer):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        await writer.drain()
        await asyncio.sleep(5)
    async with Upstream([answer]) as up:
        host = make_pool(up.port)
        with pytest.raises(ReadTimeout) as err:
            await exchange(host, timeout=0.2)
        assert err.value.mid_body
        host.close()


async def test_connect_refused():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, not listening: refused
        host = make_pool(port)
        with pytest.raises(ConnectFailed) as err:
            await host.acquire()
        assert isinstance(err.value.os_error, ConnectionRefusedError)
        assert host.open == 0


async def test_idle_connection_older_than_the_ttl_is_closed_not_reused(monkeypatch):
    monkeypatch.setattr(pool, "IDLE_TTL", 0.1)
    async with Upstream([OK, OK]) as up:
        host = make_pool(up.port)
        first, _, _ = await exchange(host)
        await asyncio.sleep(0.15)
        second, _, _ = await exchange(host)
        assert first is not second and first.closed and up.connections == 2
        assert host.open == 1
        host.close()


async def test_upstream_closing_an_idle_connection_frees_its_slot():
    async def answer(writer):
        writer.write(OK)
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.close()  # as an upstream's keep-alive timeout does
    async with Upstream([answer]) as up:
        host = make_pool(up.port)
        conn, _, _ = await exchange(host)
        assert list(host.idle) == [conn]
        for _ in range(100):
            if conn.closed:
                break
            await asyncio.sleep(0.01)
        assert conn.closed and host.open == 0 and not host.idle
        assert host.take_idle() is None
        host.close()


async def test_max_connections_makes_requests_wait_then_hands_over():
    async with Upstream([OK] * 3) as up:
        host = make_pool(up.port, max_connections=1)
        held = await host.acquire()
        waiting = asyncio.ensure_future(host.acquire())
        await asyncio.sleep(0.05)
        assert not waiting.done() and host.open == 1
        held.begin(False)
        held.write(request_head("GET", "/", [("Host", "up")]))
        await held.head(1.0)
        assert await held.read(1.0) == b"ok" and await held.read(1.0) == b""
        host.release(held)
        assert await waiting is held  # handed over, not pooled and re-taken
        host.release(held)
        host.close()


async def test_wait_for_a_busy_pool_is_bounded():
    async with Upstream([]) as up:
        host = make_pool(up.port, max_connections=1, connect_timeout=0.1, read_timeout=0.1)
        held = await host.acquire()
        loop = asyncio.get_running_loop()
        started = loop.time()
        with pytest.raises(WaitTimeout):
            await host.acquire()
        assert 0.15 < loop.time() - started < 1.0
        assert host.open == 1 and not host._waiters
        held.abort()
        host.release(held)
        assert host.open == 0
        host.close()


async def test_a_waiter_cancelled_as_it_is_handed_a_connection_passes_it_on():
    async with Upstream([OK] * 3) as up:
        host = make_pool(up.port, max_connections=1)
        conn = await host.acquire()
        first = asyncio.ensure_future(host.acquire())
        second = asyncio.ensure_future(host.acquire())
        await asyncio.sleep(0.01)
        conn.begin(False)
        conn.write(request_head("GET", "/", [("Host", "up")]))
        await conn.head(1.0)
        assert await conn.read(1.0) == b"ok" and await conn.read(1.0) == b""
        host.release(conn)  # hands it to ``first``...
        first.cancel()  # ...which is cancelled before it runs
        got = await second
        assert got is conn and first.cancelled()
        assert host.open == 1 and up.connections == 1
        got.abort()
        host.release(got)
        assert host.open == 0
        host.close()


async def test_a_waiter_cancelled_while_waiting_leaves_no_trace():
    async with Upstream([]) as up:
        host = make_pool(up.port, max_connections=1)
        held = await host.acquire()
        waiting = asyncio.ensure_future(host.acquire())
        await asyncio.sleep(0.01)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert not host._waiters and host.open == 1
        held.abort()
        host.release(held)
        host.close()


async def test_fresh_acquire_makes_room_by_closing_an_idle_connection():
    async with Upstream([OK, OK]) as up:
        host = make_pool(up.port, max_connections=1)
        old, _, _ = await exchange(host)
        new = await host.acquire(fresh=True)
        assert new is not old and old.closed and host.open == 1
        new.abort()
        host.release(new)
        host.close()


async def test_close_shuts_idle_connections_and_fails_waiters():
    async with Upstream([OK]) as up:
        host = make_pool(up.port, max_connections=1)
        conn, _, _ = await exchange(host)
        again = host.take_idle()
        waiting = asyncio.ensure_future(host.acquire())
        await asyncio.sleep(0.01)
        host.close()
        with pytest.raises(WaitTimeout):
            await waiting
        host.release(again)  # in use at close: closed when released, never pooled
        assert again.closed and not host.idle and host.open == 0


async def test_request_body_written_and_response_read():
    async with Upstream([OK]) as up:
        host = make_pool(up.port)
        _, status, _ = await exchange(host, "POST", body=b"x" * 100_000)
        assert status == 200 and up.requests[0].endswith(b"x" * 100_000)
        host.close()


async def test_a_large_body_is_buffered_only_to_the_high_water_mark():
    size = 8 * 1024 * 1024

    async def answer(writer):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size)
        block = b"z" * 65536
        for _ in range(size // len(block)):
            writer.write(block)
            await writer.drain()
    async with Upstream([answer]) as up:
        host = make_pool(up.port)
        conn = await host.acquire()
        conn.begin(False)
        conn.write(request_head("GET", "/", [("Host", "up")]))
        await conn.head(1.0)
        await asyncio.sleep(0.3)  # nobody reads: the connection must stop reading the socket
        assert conn._paused
        assert conn._buffered < pool._HIGH_WATER + 300_000
        total = 0
        while data := await conn.read(1.0):
            total += len(data)
        assert total == size and conn.reusable
        host.release(conn)
        assert list(host.idle) == [conn]
        host.close()


async def pool_garbage(run) -> list:
    """The pool's own objects among what ``run()`` leaves to the cyclic collector
    (the test's asyncio upstream leaves some of its own, not counted)."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        await run()
        gc.collect()
        found = [obj for obj in gc.garbage
                 if type(obj).__module__.startswith(("gateway.", "httptools")) or isinstance(obj, BaseException)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    return found


async def test_exchanges_leave_no_garbage_cycles():
    """A reference cycle per request costs microseconds and p99 through the cyclic collector."""
    async with Upstream([OK] * 300) as up:
        host = make_pool(up.port)
        for _ in range(20):
            await exchange(host)  # warm up

        async def run():
            for _ in range(200):
                await exchange(host)
        assert await pool_garbage(run) == []
        host.close()


async def test_a_close_delimited_body_cut_by_a_reset_is_not_complete():
    async def answer(writer):
        writer.write(b"HTTP/1.1 200 OK\r\n\r\n0123456789")
        await writer.drain()
        await asyncio.sleep(0.05)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # RST, no FIN
    async with Upstream([answer]) as up:
        host = make_pool(up.port)
        with pytest.raises(Closed) as err:
            await exchange(host)
        assert err.value.mid_body and err.value.reset
        host.close()


async def test_failed_exchanges_leave_no_garbage_cycles():
    async def close(writer):
        writer.close()
    async with Upstream([close] * 300) as up:
        host = make_pool(up.port)
        async def fail():
            try:
                await exchange(host)
            except Closed:
                return
            raise AssertionError("no error")
        for _ in range(5):
            await fail()

        async def run():
            for _ in range(50):
                await fail()
        assert await pool_garbage(run) == []
        host.close()


async def test_a_drain_that_times_out_after_the_head_spoils_the_connection_but_keeps_the_answer():
    async def early(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(OK)  # answers at once, reads none of the body
        await writer.drain()
        await asyncio.sleep(2)
        writer.close()
    server = await asyncio.start_server(early, "127.0.0.1", 0)
    try:
        host = make_pool(server.sockets[0].getsockname()[1])
        conn = await host.acquire()
        conn.begin(False)
        conn.write(request_head("POST", "/", [("Host", "up"), ("Content-Length", "100000000")]))
        await conn.head(1.0)
        for _ in range(100):
            if conn.write_paused:
                break
            conn.write(b"z" * 1_000_000)
        assert conn.write_paused
        assert await conn.drain(0.2) is False
        assert await conn.read(1.0) == b"ok" and await conn.read(1.0) == b""
        assert not conn.closed and not conn.reusable
        host.release(conn)
        assert conn.closed and host.open == 0
        host.close()
    finally:
        server.close()


async def test_a_connection_released_mid_response_leaves_no_garbage_cycle():
    """Released while still open with the response half read (a cancelled relay): closed, and its
    reader let go, not left in a cycle with the parser and the connection."""
    async def answer(writer):
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        await writer.drain()
        await asyncio.sleep(1)
    async with Upstream([answer] * 60) as up:
        host = make_pool(up.port, max_connections=60)

        async def run():
            for _ in range(20):
                conn = await host.acquire()
                conn.begin(False)
                conn.write(request_head("GET", "/", [("Host", "up")]))
                await conn.head(1.0)
                host.release(conn)
                assert conn.closed
        assert await pool_garbage(run) == []
        assert host.open == 0
        host.close()
