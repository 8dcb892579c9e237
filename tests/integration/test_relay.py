"""How responses cross the gateway, byte for byte, on its two relay paths.

A Content-Length response to an HTTP/1.1 keep-alive client is written by
the gateway itself (``upstream._relay_written``: head and body in one send);
everything else (HEAD, 204/304, HTTP/1.0, ``Connection: close``, bodies of
unknown length) goes through aiohttp's StreamResponse.  The two must send
the same head.  A raw upstream sends exact bytes and counts its
connections; a raw client reads exact bytes.
"""

from __future__ import annotations

import asyncio

import pytest

from .conftest import gateway_config

ALLOWED = "https://app.example.com"
ROUTES = f'  - {{name: api, path: /api/, upstream: app, cors: {{origins: ["{ALLOWED}"], expose_headers: [x-name]}}}}\n'

ANSWERS = {
    # UTF-8 and a byte that is not UTF-8, as some upstreams send in values
    "bytes": b"HTTP/1.1 200 OK\r\nX-Name: caf\xc3\xa9 \xff\r\nContent-Length: 2\r\n\r\nok",
    # no Date, no Server, no Content-Type: the gateway adds Date and Server, never a Content-Type
    "bare": b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
    "chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "big": b"HTTP/1.1 200 OK\r\nContent-Length: 4194304\r\n\r\n" + b"b" * 4194304,
}


class RawUpstream:
    def __init__(self):
        self.connections = 0

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                name = head.split(b" ", 2)[1].decode().rsplit("/", 1)[-1]
                writer.write(ANSWERS[name])
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def relay(make_gateway):
    upstream = RawUpstream()
    server = await asyncio.start_server(upstream.serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    gw = await make_gateway(gateway_config(f"http://127.0.0.1:{port}", ROUTES))
    gw.upstream = upstream
    yield gw
    server.close()
    await server.wait_closed()


async def exchange(port: int, path: str, *, method="GET", version="1.1", close=False, length=None):
    """One request on a new connection: (head lines without Date, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        lines = [f"{method} {path} HTTP/{version}", "Host: gw", f"Origin: {ALLOWED}"]
        if close:
            lines.append("Connection: close")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        if length is not None:
            body = await asyncio.wait_for(reader.readexactly(length), 5)
        else:
            body = await asyncio.wait_for(reader.read(), 5)
        return head, body
    finally:
        writer.close()


def without_date_and_id(head: bytes) -> list[bytes]:
    return [line for line in head.split(b"\r\n") if not line.startswith((b"Date: ", b"X-Request-Id: "))]


async def test_written_head_matches_aiohttps_for_the_same_response(relay):
    fast, body = await exchange(relay.port, "/api/bare", length=5)
    slow, slow_body = await exchange(relay.port, "/api/bare", close=True)
    assert body == slow_body == b"hello"
    assert without_date_and_id(fast) + [b"Connection: close"] == sorted(
        without_date_and_id(slow), key=lambda line: line == b"Connection: close")
    lines = without_date_and_id(fast)
    assert lines[0] == b"HTTP/1.1 200 OK"
    assert sorted(lines[1:-2]) == sorted([
        b"Content-Length: 5", b"Server: " + __import__("aiohttp").http.SERVER_SOFTWARE.encode(),
        b"Access-Control-Allow-Origin: " + ALLOWED.encode(), b"Access-Control-Expose-Headers: x-name",
        b"Vary: Origin",
    ])
    assert b"\r\nDate: " in fast and b"Content-Type" not in fast


async def test_header_bytes_pass_as_sent(relay):
    head, body = await exchange(relay.port, "/api/bytes", length=2)
    assert b"\r\nX-Name: caf\xc3\xa9 \xff\r\n" in head and body == b"ok"


async def test_header_bytes_on_aiohttps_path_keep_utf8(relay):
    # (aiohttp's writer drops bytes that are not UTF-8: the README says so)
    head, body = await exchange(relay.port, "/api/bytes", close=True)
    assert b"\r\nX-Name: caf\xc3\xa9 \r\n" in head and body == b"ok"


@pytest.mark.parametrize("kwargs, framing", [
    ({"version": "1.0"}, b""),
    ({"close": True}, b"Connection: close"),
    ({"method": "HEAD", "length": 0}, b""),
])
async def test_the_other_cases_take_aiohttps_path(relay, kwargs, framing):
    head, body = await exchange(relay.port, "/api/bare", **kwargs)
    lines = head.split(b"\r\n")
    assert lines[0] == (b"HTTP/1.0 200 OK" if kwargs.get("version") == "1.0" else b"HTTP/1.1 200 OK")
    assert b"Content-Length: 5" in lines
    assert body == (b"" if kwargs.get("method") == "HEAD" else b"hello")
    if framing:
        assert framing in lines


async def test_unknown_length_is_rechunked(relay):
    head, body = await exchange(relay.port, "/api/chunked", close=True)
    assert b"Transfer-Encoding: chunked" in head.split(b"\r\n")
    assert body == b"5\r\nhello\r\n0\r\n\r\n"


async def test_keep_alive_requests_on_one_connection_get_their_own_answers(relay):
    reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
    try:
        for name, expected in [("bare", b"hello"), ("bytes", b"ok"), ("chunked", b"hello"), ("bare", b"hello")]:
            writer.write(f"GET /api/{name} HTTP/1.1\r\nHost: gw\r\nOrigin: {ALLOWED}\r\n\r\n".encode())
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            if b"Transfer-Encoding: chunked" in head:
                data = await asyncio.wait_for(reader.readuntil(b"0\r\n\r\n"), 5)
                assert data == b"5\r\nhello\r\n0\r\n\r\n"
            else:
                length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                assert await asyncio.wait_for(reader.readexactly(length), 5) == expected
    finally:
        writer.close()
    assert relay.upstream.connections == 1


async def test_a_client_gone_mid_body_never_lets_the_upstream_connection_be_reused(relay):
    reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
    writer.write(f"GET /api/big HTTP/1.1\r\nHost: gw\r\nOrigin: {ALLOWED}\r\n\r\n".encode())
    await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    await reader.readexactly(1000)
    writer.transport.abort()  # gone with most of 4 MiB unread
    await asyncio.sleep(0.3)
    head, body = await exchange(relay.port, "/api/bare", length=5)
    assert body == b"hello" and head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert relay.upstream.connections == 2  # the half-read one was closed, not pooled


async def test_a_big_body_to_a_slow_reader_arrives_whole(relay):
    reader, writer = await asyncio.open_connection("127.0.0.1", relay.port)
    try:
        writer.transport.set_write_buffer_limits(0)
        writer.write(f"GET /api/big HTTP/1.1\r\nHost: gw\r\nOrigin: {ALLOWED}\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert b"Content-Length: 4194304" in head
        got = 0
        while got < 4194304:
            data = await asyncio.wait_for(reader.read(65536), 5)
            assert data and set(data) == {ord("b")}
            got += len(data)
            if got < 1024 * 1024:
                await asyncio.sleep(0.001)  # slow at first: the gateway must wait, not buffer 4 MiB
        assert got == 4194304
    finally:
        writer.close()


async def test_an_early_streamed_answer_outlives_an_upload_the_upstream_stopped_reading(make_gateway):
    """The upstream answers a big streamed upload at once and reads no more of
    it, streaming its answer for longer than read_timeout: the answer arrives
    whole (the stalled upload only stops being sent)."""
    async def early(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for i in range(8):
            await asyncio.sleep(0.3)
            writer.write(b"6\r\npart%02d\r\n" % i)
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(2)
        writer.close()
    server = await asyncio.start_server(early, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = gateway_config(f"http://127.0.0.1:{port}", ROUTES).replace("read_timeout: 1.5",
                                                                       "read_timeout: 1, request_buffering: 0")
    gw = await make_gateway(config)
    size = 64 * 1024 * 1024
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)

    async def upload():
        writer.write(b"POST /api/up HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % size)
        block = b"z" * 65536
        for _ in range(size // len(block)):
            writer.write(block)
            await writer.drain()
    sending = asyncio.ensure_future(upload())
    try:
        data = await asyncio.wait_for(reader.read(), 10)
    finally:
        sending.cancel()
        writer.close()
        server.close()
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert body.count(b"part") == 8 and body.endswith(b"0\r\n\r\n")
