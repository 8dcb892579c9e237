"""Attacks a hostile client makes against the gateway, each checked on both sides:
the gateway's answer and what a real upstream received.

The upstreams are what users run: Flask under ``gunicorn -k gthread`` (keep-alive
workers, which read a pooled connection's next request right after the last
one's body) and under gunicorn ``sync`` workers, plus Werkzeug's own server
(the ``recorded`` fixture).  The gateway's upstream pool is one connection
wide where an attack relies on connection reuse, so that reuse is certain.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import logging
import struct
import zlib

import aiohttp
import pytest

from ..apps.recording_app import deterministic_bytes
from ..support import start_gunicorn, stop_process
from .conftest import gateway_config

ADMIN_ORIGIN = "https://admin.example.com"
ROUTES = (
    f'  - {{name: admin, path: /api/admin/, upstream: app, cors: {{origins: ["{ADMIN_ORIGIN}"], on_reject: block}}}}\n'
    '  - {name: api, path: /api/, upstream: app, cors: {origins: "*"}}\n'
)


@pytest.fixture(scope="module")
def gthread():
    """The recording Flask app under one gunicorn gthread worker with keep-alive."""
    server = start_gunicorn("tests.apps.recording_app:create_app", worker_class="gthread", threads=4)
    yield server
    stop_process(server.proc)


@pytest.fixture(scope="module")
def gunicorn_sync():
    """The recording Flask app under two gunicorn sync workers (no keep-alive)."""
    server = start_gunicorn("tests.apps.recording_app:create_app", worker_class="sync", workers=2,
                            extra=("--timeout", "30"))
    yield server
    stop_process(server.proc)


def one_connection_config(upstream_url: str, routes: str = ROUTES, extra: str = "", upstream: str = "") -> str:
    """A gateway whose upstream pool holds a single connection: every request reuses it."""
    return (
        "listen: {host: 127.0.0.1, port: 0}\n"
        "admin: {host: 127.0.0.1, port: 0}\n"
        f"upstreams:\n  app: {{url: \"{upstream_url}\", connect_timeout: 2, read_timeout: 3, max_connections: 1"
        f"{upstream}}}\n"
        + extra
        + f"routes:\n{routes}"
    )


async def exchange(port: int, raw: bytes, timeout: float = 6.0) -> tuple[int, dict[str, str], bytes]:
    """Send one raw request on a new connection; the status, headers and body of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(raw)
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        body = b""
        if "content-length" in headers:
            body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), timeout)
        elif headers.get("transfer-encoding") == "chunked":
            while True:
                size = int((await asyncio.wait_for(reader.readline(), timeout)).strip(), 16)
                chunk = await asyncio.wait_for(reader.readexactly(size + 2), timeout)
                if size == 0:
                    break
                body += chunk[:-2]
        return status, headers, body
    finally:
        writer.close()


def padded_gzip(content: bytes, size: int) -> bytes:
    """A valid gzip member of exactly ``size`` bytes that inflates to ``content``:
    the attacker pads the FCOMMENT field to choose the gap between the
    compressed length (announced) and the inflated length."""
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = deflater.compress(content) + deflater.flush()
    comment_length = size - 10 - len(deflated) - 8 - 1
    assert comment_length >= 0, "size too small for the content"
    header = b"\x1f\x8b\x08\x10" + b"\x00\x00\x00\x00" + b"\x00\xff"  # FLG.FCOMMENT
    trailer = struct.pack("<II", zlib.crc32(content), len(content))
    member = header + b"c" * comment_length + b"\x00" + deflated + trailer
    assert len(member) == size and gzip.decompress(member) == content
    return member


def head_length(echo: dict, request_line: str) -> int:
    """Bytes of the request head the upstream received, from /echo's view of it."""
    return len(request_line) + 2 + sum(len(k) + 2 + len(v) + 2 for k, v in echo["headers"].items()) + 2


SMUGGLED = b"GET /api/admin/users HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"


def carrier(body: bytes) -> bytes:
    """The attacker's second request: allowed by policy, with a request hidden in its body."""
    return (b"POST /api/echo HTTP/1.1\r\nHost: gw\r\nOrigin: https://evil.example\r\nX-Request-Id: carrier-0001\r\n"
            b"Content-Type: text/plain\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


async def test_compressed_body_cannot_smuggle_a_request_through_a_pooled_connection(make_gateway, gthread):
    """The attack from the issue: a gzip body whose inflated form is shorter than its
    Content-Length, sent to a path the upstream answers without reading the body.
    A gateway that inflates and forwards with the original length leaves the gap
    to be drained from the next request on the pooled connection, whose body is
    then run as a request of its own: here an admin call the gateway refuses."""
    gw = await make_gateway(one_connection_config(gthread.url))
    gthread.clear()
    # Dry run: how long is the carrier's head as the upstream receives it?
    status, _, body = await exchange(gw.port, carrier(b"y" * len(SMUGGLED)))  # the same head as below
    assert status == 200
    gap = head_length(json.loads(body), "POST /api/echo HTTP/1.1")
    # The admin route refuses the evil origin outright.
    status, _, _ = await exchange(gw.port, b"GET /api/admin/users HTTP/1.1\r\nHost: gw\r\n"
                                           b"Origin: https://evil.example\r\n\r\n")
    assert status == 403

    compressed = padded_gzip(b"hi", 2 + gap)
    attack = (b"POST /api/no-such-endpoint HTTP/1.1\r\nHost: gw\r\nOrigin: https://evil.example\r\n"
              b"Content-Encoding: gzip\r\nContent-Type: text/plain\r\nContent-Length: "
              + str(len(compressed)).encode() + b"\r\n\r\n" + compressed)
    status, _, _ = await exchange(gw.port, attack)
    assert status == 404  # Flask's own answer, sent before it read the body
    status, _, body = await exchange(gw.port, carrier(SMUGGLED))
    assert status == 200
    echo = json.loads(body)
    assert echo["method"] == "POST" and echo["body_length"] == len(SMUGGLED)

    seen = [(entry["method"], entry["path"]) for entry in gthread.requests()]
    assert ("GET", "/api/admin/users") not in seen
    assert seen == [("POST", "/api/echo"), ("POST", "/api/no-such-endpoint"), ("POST", "/api/echo")]
    # And the body went upstream as the client sent it: compressed, with its own coding.
    attack_entry = gthread.requests()[1]
    assert ["Content-Encoding", "gzip"] in attack_entry["headers"]
    assert ["Content-Length", str(len(compressed))] in attack_entry["headers"]


async def test_compressed_body_cannot_capture_the_next_clients_request(make_gateway, gthread):
    """The capture variant: the victim's request (with its cookie and token) must
    reach the upstream as a request of its own and get its own answer, never be
    swallowed as the rest of the attacker's body."""
    gw = await make_gateway(one_connection_config(gthread.url))
    gthread.clear()
    victim = (b"GET /api/echo HTTP/1.1\r\nHost: gw\r\nOrigin: https://app.example\r\n"
              b"Cookie: session=victim-secret\r\nAuthorization: Bearer victim-token\r\n\r\n")
    compressed = padded_gzip(b"{}", 2 + 40)  # 40 bytes of the victim's head would be swallowed
    attack = (b"POST /api/no-such-endpoint HTTP/1.1\r\nHost: gw\r\nContent-Encoding: gzip\r\n"
              b"Content-Length: " + str(len(compressed)).encode() + b"\r\n\r\n" + compressed)
    status, _, _ = await exchange(gw.port, attack)
    assert status == 404
    status, _, body = await exchange(gw.port, victim)
    assert status == 200
    echo = json.loads(body)
    assert echo["method"] == "GET"
    assert echo["headers"]["Cookie"] == "session=victim-secret"
    entries = gthread.requests()
    assert [(e["method"], e["path"]) for e in entries] == [("POST", "/api/no-such-endpoint"), ("GET", "/api/echo")]


@pytest.mark.parametrize("incompressible", [False, True])
async def test_gzip_uploads_arrive_byte_for_byte_and_pin_no_worker(make_gateway, gthread, incompressible):
    gw = await make_gateway(one_connection_config(gthread.url))
    content = deterministic_bytes(200_000, seed=7) if incompressible else b"abc" * 100_000
    compressed = gzip.compress(content)
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        for _ in range(2):  # the second one reuses the pooled connection
            async with asyncio.timeout(2.5):  # well under read_timeout: no worker waits for bytes
                async with session.post(gw.url + "/api/sha256", data=compressed,
                                        headers={"Content-Encoding": "gzip"}) as response:
                    assert response.status == 200
                    answer = await response.json()
            assert answer == {"sha256": hashlib.sha256(compressed).hexdigest(), "length": len(compressed)}


async def test_deflate_body_is_forwarded_untouched(make_gateway, recorded):
    gw = await make_gateway(gateway_config(recorded.url, ROUTES))
    compressed = zlib.compress(b"payload " * 1000)
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        async with session.post(gw.url + "/api/sha256", data=compressed,
                                headers={"Content-Encoding": "deflate"}) as response:
            assert response.status == 200
            assert await response.json() == {"sha256": hashlib.sha256(compressed).hexdigest(),
                                              "length": len(compressed)}


async def test_connection_is_not_reused_when_the_upstream_answers_before_the_body_is_sent(make_gateway):
    """Defence in depth, whatever the body path: an upstream that answers before it
    read the body (and treats whatever comes next as a new request, as a naive
    keep-alive server does) must never get another request on that connection,
    or the unsent rest of the body would be read as one."""
    connections = 0
    request_lines: list[str] = []

    async def serve(reader, writer):
        nonlocal connections
        connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_lines.append(head.split(b"\r\n", 1)[0].decode("latin-1"))
                writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")  # the body is never read
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        # Streamed, not buffered: the body is still arriving when the upstream answers.
        gw = await make_gateway(one_connection_config(f"http://127.0.0.1:{port}", upstream=", request_buffering: 0"))
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        hidden = b"GET /api/admin/users HTTP/1.1\r\nHost: x\r\n\r\n"
        # The first body byte goes out with the head (aiohttp sends them
        # together); the rest only after the upstream has answered.
        writer.write(b"POST /api/upload HTTP/1.1\r\nHost: gw\r\nContent-Length: " + str(len(hidden) + 1).encode()
                     + b"\r\n\r\n\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 404 ")
        writer.write(hidden)
        await writer.drain()
        await asyncio.sleep(0.2)
        writer.close()
        status, _, _ = await exchange(gw.port, b"GET /api/second HTTP/1.1\r\nHost: gw\r\n\r\n")
        assert status == 404
        assert request_lines == ["POST /api/upload HTTP/1.1", "GET /api/second HTTP/1.1"]
        assert connections == 2
    finally:
        server.close()
        await server.wait_closed()


HOST_ROUTES = (
    '  - {name: admin-host, host: admin.example.com, path: /, upstream: app,'
    ' cors: {origins: ["https://admin.example.com"], on_reject: block}}\n'
    '  - {name: api, path: /api/, upstream: app, cors: {origins: "*"}}\n'
)


@pytest.mark.parametrize("raw_header", [
    b"Host: admin.example\xff.com",  # routed on one host, forwarded as another
    b"X-User: caf\xe9",  # latin-1, not UTF-8
    b"Origin: https://app.example\xc3",  # a cut UTF-8 sequence
])
async def test_header_values_that_are_not_utf8_are_refused(make_gateway, recorded, raw_header):
    gw = await make_gateway(gateway_config(recorded.url, HOST_ROUTES))
    if not raw_header.startswith(b"Host:"):
        raw_header = b"Host: gw\r\n" + raw_header
    status, headers, body = await exchange(gw.port, b"GET /api/echo HTTP/1.1\r\n" + raw_header + b"\r\n\r\n")
    assert status == 400
    assert body == b"bad request header: header values must be valid UTF-8 (and Host ASCII)\n"
    assert headers["connection"] == "close"
    assert recorded.requests() == []


async def test_utf8_header_values_arrive_unchanged(make_gateway, recorded):
    gw = await make_gateway(gateway_config(recorded.url, HOST_ROUTES))
    status, _, body = await exchange(gw.port, "GET /api/echo HTTP/1.1\r\nHost: gw\r\nX-User: café ✓\r\n\r\n"
                                     .encode("utf-8"))
    assert status == 200
    (entry,) = recorded.requests()
    sent = dict(entry["headers"])
    # WSGI hands header values over as latin-1 of the bytes received.
    assert sent["X-User"].encode("latin-1").decode("utf-8") == "café ✓"


CSRF_ROUTES = (
    '  - {name: shadow, path: /api/echo, upstream: app, csrf: sec-fetch-site,'
    ' cors: {origins: ["https://app.example.com"], mode: shadow}}\n'
    '  - {name: open, path: /public/, upstream: app, csrf: sec-fetch-site,'
    ' cors: {origins: ["https://app.example.com"], mode: "off"}}\n'
)


@pytest.mark.parametrize("path", ["/api/echo", "/public/echo"])
async def test_csrf_holds_in_shadow_and_off_modes(make_gateway, recorded, path):
    """csrf is independent of CORS headers: a cross-site form POST is stopped in every mode."""
    gw = await make_gateway(gateway_config(recorded.url, CSRF_ROUTES))
    forgery = {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site",
               "Content-Type": "application/x-www-form-urlencoded"}
    async with aiohttp.ClientSession() as session:
        async with session.post(gw.url + path, data="amount=1000", headers=forgery) as response:
            assert response.status == 403
            assert await response.text() == ("cross-site request refused: unsafe method from an origin this route "
                                             "does not allow (csrf)\n")
            assert "Access-Control-Allow-Origin" not in response.headers
        assert recorded.requests() == []
        allowed = dict(forgery, Origin="https://app.example.com")
        async with session.post(gw.url + path, data="amount=1", headers=allowed) as response:
            assert response.status == 200
        async with session.post(gw.url + path, data="x", headers={"Sec-Fetch-Site": "same-origin"}) as response:
            assert response.status == 200
    assert [e["method"] for e in recorded.requests()] == ["POST", "POST"]


WS_ROUTES = '  - {name: ws, path: /ws/, upstream: app, cors: {origins: ["https://app.example.com"]}}\n'
WS_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="


@pytest.mark.parametrize("headers, problem", [
    (b"", "Sec-WebSocket-Version must be 13"),
    (b"Sec-WebSocket-Version: 8\r\nSec-WebSocket-Key: " + WS_KEY + b"\r\n", "Sec-WebSocket-Version must be 13"),
    (b"Sec-WebSocket-Version: 13\r\n", "exactly one Sec-WebSocket-Key is required"),
    (b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: c2hvcnQ=\r\n", "Sec-WebSocket-Key must be 16 bytes in base64"),
    (b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: !!notbase64!!!!!!!!!!!==\r\n",
     "Sec-WebSocket-Key must be 16 bytes in base64"),
])
async def test_malformed_websocket_handshake_is_refused_before_the_upstream(make_gateway, caplog, headers,
                                                                           problem):
    contacted = 0

    async def serve(reader, writer):
        nonlocal contacted
        contacted += 1
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        gw = await make_gateway(gateway_config(f"http://127.0.0.1:{port}", WS_ROUTES))
        caplog.set_level("DEBUG")
        status, answer_headers, body = await exchange(
            gw.port, b"GET /ws/chat HTTP/1.1\r\nHost: gw\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + headers + b"\r\n")
        assert status == 400
        assert body == f"bad WebSocket handshake: {problem}\n".encode()
        if "Version" in problem:
            assert answer_headers["sec-websocket-version"] == "13"
        assert contacted == 0
        assert not [r for r in caplog.records if r.levelname in ("ERROR", "WARNING")]
    finally:
        server.close()
        await server.wait_closed()


# -- slow and hostile clients ----------------------------------------------------------


def limits_config(upstream_url: str, listen: str = "", upstream: str = "", routes: str = ROUTES) -> str:
    return (
        f"listen: {{host: 127.0.0.1, port: 0{', ' + listen if listen else ''}}}\n"
        "admin: {host: 127.0.0.1, port: 0}\n"
        f"upstreams:\n  app: {{url: \"{upstream_url}\", connect_timeout: 1, read_timeout: 3"
        f"{', ' + upstream if upstream else ''}}}\n"
        f"routes:\n{routes}"
    )


async def scrape(gw) -> str:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{gw.admin_port}/metrics") as response:
            return await response.text()


async def test_a_client_that_never_reads_releases_its_upstream_connection(make_gateway, recorded):
    """listen.send_timeout: a client that stops reading a large response is cut
    off, and the upstream connection (the only one in the pool) is freed."""
    gw = await make_gateway(limits_config(recorded.url, "send_timeout: 1", "max_connections: 1"))
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(b"GET /api/download?size=268435456 HTTP/1.1\r\nHost: gw\r\n\r\n")  # 256 MiB, never read
    await writer.drain()
    await asyncio.sleep(0.5)
    async with aiohttp.ClientSession() as session:
        async with asyncio.timeout(4):  # without send_timeout: 504 after waiting for the pool's only connection
            async with session.get(gw.url + "/api/echo") as response:
                assert response.status == 200
    # The reader was cut off: its connection ends (after whatever the buffers held).
    async with asyncio.timeout(10):
        while await reader.read(1 << 20):
            pass
    writer.close()
    assert 'cors_gateway_client_refusals_total{reason="send_timeout"} 1.0' in await scrape(gw)


async def trickle(port: int, path: str, body: bytes, pause: float) -> tuple[int, bytes]:
    """Upload ``body`` one byte at a time, ``pause`` seconds apart; the status and body of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"POST {path} HTTP/1.1\r\nHost: gw\r\nContent-Length: {len(body)}\r\n\r\n".encode())
        for i in range(len(body)):
            await writer.drain()
            await asyncio.sleep(pause)
            if writer.is_closing() or reader.at_eof():
                break
            writer.write(body[i:i + 1])
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10)
        length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
        return int(head.split(b" ")[1]), await reader.readexactly(length)
    finally:
        writer.close()


async def test_slow_uploads_do_not_pin_gunicorn_sync_workers(make_gateway, gunicorn_sync):
    """upstreams.<name>.request_buffering: a small body is read whole before the
    upstream request starts, so two trickling uploads leave both sync workers free."""
    gw = await make_gateway(limits_config(gunicorn_sync.url))
    uploads = [asyncio.ensure_future(trickle(gw.port, "/api/upload", b"0123456789", 0.3)) for _ in range(2)]
    await asyncio.sleep(0.5)  # both uploads are under way
    async with aiohttp.ClientSession() as session:
        async with asyncio.timeout(2):  # without buffering: both workers wait for the uploads (3 s)
            async with session.get(gw.url + "/api/echo") as response:
                assert response.status == 200
    for upload in uploads:
        status, body = await upload
        assert (status, json.loads(body)) == (200, {"received": 10})


async def test_request_buffering_off_streams_as_before(make_gateway, recorded):
    gw = await make_gateway(limits_config(recorded.url, upstream="request_buffering: 0"))
    status, body = await trickle(gw.port, "/api/upload", b"abcd", 0.1)
    assert (status, json.loads(body)) == (200, {"received": 4})


async def test_a_buffered_body_that_takes_too_long_gets_408(make_gateway, recorded):
    gw = await make_gateway(limits_config(recorded.url, "body_timeout: 1"))
    status, body = await trickle(gw.port, "/api/upload", b"0123456789", 0.3)
    assert status == 408
    assert body == b"the request body took longer than 1 s (listen.body_timeout)\n"
    assert recorded.requests() == []
    assert 'cors_gateway_client_refusals_total{reason="body_timeout"} 1.0' in await scrape(gw)


async def test_a_buffered_chunked_body_is_forwarded_whole_with_its_length(make_gateway, recorded):
    gw = await make_gateway(limits_config(recorded.url))
    body = deterministic_bytes(100_000, seed=3)

    async def chunks():
        for start in range(0, len(body), 30_000):
            yield body[start:start + 30_000]

    async with aiohttp.ClientSession() as session:
        async with session.post(gw.url + "/api/sha256", data=chunks()) as response:
            assert response.status == 200
            assert await response.json() == {"sha256": hashlib.sha256(body).hexdigest(), "length": len(body)}
    (entry,) = recorded.requests()
    assert ["Content-Length", str(len(body))] in entry["headers"]
    assert not [h for h in entry["headers"] if h[0].lower() == "transfer-encoding"]


async def test_connections_per_client_address_are_capped(make_gateway, recorded):
    gw = await make_gateway(limits_config(recorded.url, "max_connections_per_ip: 3"))
    held = [await asyncio.open_connection("127.0.0.1", gw.port) for _ in range(3)]
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(b"GET /api/echo HTTP/1.1\r\nHost: gw\r\n\r\n")
    async with asyncio.timeout(3):
        assert await reader.read() == b""  # closed before anything was read
    writer.close()
    assert 'cors_gateway_client_refusals_total{reason="ip_connection_limit"} 1.0' in await scrape(gw)
    held_reader, held_writer = held.pop()
    held_writer.close()
    await asyncio.sleep(0.2)
    status, _, _ = await exchange(gw.port, b"GET /api/echo HTTP/1.1\r\nHost: gw\r\n\r\n")  # a slot is free again
    assert status == 200
    for _, other in held:
        other.close()


async def test_trusted_proxies_are_exempt_from_the_per_address_cap(make_gateway, recorded):
    gw = await make_gateway(limits_config(recorded.url, 'max_connections_per_ip: 2, trusted_proxies: ["127.0.0.1"]'))
    held = [await asyncio.open_connection("127.0.0.1", gw.port) for _ in range(4)]
    status, _, _ = await exchange(gw.port, b"GET /api/echo HTTP/1.1\r\nHost: gw\r\n\r\n")
    assert status == 200
    for _, writer in held:
        writer.close()


async def test_a_connection_that_sends_nothing_is_closed_after_header_timeout(make_gateway, recorded):
    gw = await make_gateway(limits_config(recorded.url, "header_timeout: 1"))
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    loop = asyncio.get_running_loop()
    start = loop.time()
    async with asyncio.timeout(4):  # keepalive_timeout (75 s) would hold it open otherwise
        answer = await reader.read()
    assert answer.startswith(b"HTTP/1.1 408 Request Timeout\r\n")
    assert 0.8 < loop.time() - start < 3
    writer.close()


# -- paths: the route is chosen on the path the upstream routes on ----------------------

PATH_ROUTES = (
    f'  - {{name: admin-users, path_regex: "/api/admin/users/\\\\d+", upstream: app,'
    f' cors: {{origins: ["{ADMIN_ORIGIN}"], on_reject: block}}}}\n'
    f'  - {{name: files, path_regex: "/files/.*", upstream: app, cors: {{origins: ["{ADMIN_ORIGIN}"], on_reject: block}}}}\n'
    f'  - {{name: cafe, path: "/café/", upstream: app, cors: {{origins: ["{ADMIN_ORIGIN}"], on_reject: block}}}}\n'
    '  - {name: api, path: /, upstream: app, cors: {origins: "*"}}\n'
)


@pytest.mark.parametrize("server", ["werkzeug", "gunicorn-gthread"])
@pytest.mark.parametrize("target, status", [
    ("/api/admin/users/%D9%A1", 403),  # ARABIC-INDIC DIGIT ONE: Werkzeug's int converter reads it as 1
    ("/api/admin/users/%EF%BC%91", 403),  # FULLWIDTH DIGIT ONE
    ("/caf%C3%A9/menu", 403),  # a non-ASCII route matches its UTF-8 escapes
    ("/files/%0Asecret", 400),  # control characters are refused
    ("/files/%00", 400),
    ("/api/%FF", 400),  # not UTF-8
    ("/api/admin#x", 400),  # a fragment would be cut off before the upstream
    ("/api/echo?a=1#&admin=1", 400),
])
async def test_unicode_and_odd_paths_cannot_slip_past_a_narrower_route(make_gateway, recorded, gthread, server,
                                                                       target, status):
    upstream = recorded if server == "werkzeug" else gthread
    upstream.clear()
    gw = await make_gateway(gateway_config(upstream.url, PATH_ROUTES))
    answer, _, _ = await exchange(gw.port, f"GET {target} HTTP/1.1\r\nHost: gw\r\nOrigin: https://evil.example\r\n\r\n"
                                  .encode())
    assert answer == status
    assert upstream.requests() == []


@pytest.mark.parametrize("server", ["werkzeug", "gunicorn-gthread"])
async def test_allowed_unicode_paths_arrive_as_sent(make_gateway, recorded, gthread, server):
    upstream = recorded if server == "werkzeug" else gthread
    upstream.clear()
    gw = await make_gateway(gateway_config(upstream.url, PATH_ROUTES))
    for target in ("/api/admin/users/%D9%A1", "/caf%C3%A9/menu"):
        status, headers, _ = await exchange(
            gw.port, f"GET {target} HTTP/1.1\r\nHost: gw\r\nOrigin: {ADMIN_ORIGIN}\r\n\r\n".encode())
        assert status == 404  # the recording app has no such view; what matters is what it received
        assert headers["access-control-allow-origin"] == ADMIN_ORIGIN
    assert [entry["path"] for entry in upstream.requests()] == ["/api/admin/users/١", "/café/menu"]


async def test_a_client_that_never_reads_the_gateways_own_answers_is_cut_off(make_gateway, recorded):
    """send_timeout bounds every write, not only proxied ones: pipelined requests the
    gateway answers itself (403 here), never read, must not hold the connection."""
    import socket

    gw = await make_gateway(limits_config(recorded.url, "send_timeout: 1"))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.setblocking(False)
    loop = asyncio.get_running_loop()
    await loop.sock_connect(sock, ("127.0.0.1", gw.port))
    request = b"GET /api/admin/x HTTP/1.1\r\nHost: a\r\nOrigin: https://evil.example\r\n\r\n"
    try:
        async with asyncio.timeout(2):
            while True:  # pipeline until our send buffer is full too
                await loop.sock_sendall(sock, request * 64)
    except (TimeoutError, ConnectionError):
        pass
    closed = False
    for _ in range(60):  # the gateway aborts the connection about 1 s after the client stopped reading
        await asyncio.sleep(0.1)
        if not gw._server.per_ip:
            closed = True
            break
    sock.close()
    assert closed
    assert 'cors_gateway_client_refusals_total{reason="send_timeout"} 1.0' in await scrape(gw)


async def test_refused_connections_log_no_traceback(make_gateway, recorded, caplog):
    gw = await make_gateway(limits_config(recorded.url, "max_connections_per_ip: 2"))
    held = [await asyncio.open_connection("127.0.0.1", gw.port) for _ in range(2)]
    for _ in range(20):
        reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
        async with asyncio.timeout(3):
            assert await reader.read() == b""
        writer.close()
    await asyncio.sleep(0.2)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert 'cors_gateway_client_refusals_total{reason="ip_connection_limit"} 20.0' in await scrape(gw)
    for _, writer in held:
        writer.close()


def test_ipv6_clients_are_counted_per_64():
    from gateway.server.listener import _client_key

    assert _client_key("2001:db8:1:2:aaaa::1") == _client_key("2001:db8:1:2:ffff:1:2:3") == "2001:db8:1:2::/64"
    assert _client_key("2001:db8:1:3::1") != _client_key("2001:db8:1:2::1")
    assert _client_key("::ffff:10.0.0.1") == "10.0.0.1"  # an IPv4 peer on a dual-stack socket
    assert _client_key("10.0.0.1") == "10.0.0.1"


async def test_a_non_ascii_host_is_refused(make_gateway, recorded):
    gw = await make_gateway(gateway_config(recorded.url, HOST_ROUTES))
    # U+212A KELVIN SIGN lowercases to "k": a Unicode-lowercased Host would match
    # a route the upstream never sees.
    status, _, _ = await exchange(gw.port, "GET /api/echo HTTP/1.1\r\nHost: \u212aiosk.example.com\r\n\r\n"
                                  .encode("utf-8"))
    assert status == 400
    assert recorded.requests() == []


async def test_a_reloaded_trusted_proxies_list_applies_to_the_per_address_cap(make_gateway, recorded):
    from gateway.config import parse_config

    gw = await make_gateway(limits_config(recorded.url, "max_connections_per_ip: 2"))
    gw.apply_config(parse_config(limits_config(recorded.url, 'max_connections_per_ip: 2, trusted_proxies: ["127.0.0.1"]')))
    held = [await asyncio.open_connection("127.0.0.1", gw.port) for _ in range(4)]
    status, _, _ = await exchange(gw.port, b"GET /api/echo HTTP/1.1\r\nHost: gw\r\n\r\n")
    assert status == 200
    for _, writer in held:
        writer.close()


async def test_buffered_bodies_share_a_budget_and_give_it_back(make_gateway, recorded, monkeypatch):
    """Past the per-process budget for buffered bodies a body is streamed (here a
    chunked one stays chunked instead of being re-framed with its length)."""
    from gateway.server import bodies as proxy

    gw = await make_gateway(limits_config(recorded.url, "body_timeout: 1"))

    async def chunks():
        yield b"abc"
        yield b"def"

    async with aiohttp.ClientSession() as session:
        async with session.post(gw.url + "/api/sha256", data=chunks()) as response:
            assert response.status == 200
        monkeypatch.setattr(proxy.BUFFERED, "limit", 4)
        async with session.post(gw.url + "/api/sha256", data=chunks()) as response:
            assert response.status == 200
            assert await response.json() == {"sha256": hashlib.sha256(b"abcdef").hexdigest(), "length": 6}
    buffered, streamed = recorded.requests()
    assert ["Content-Length", "6"] in buffered["headers"]
    assert ["Transfer-Encoding", "chunked"] in streamed["headers"]
    monkeypatch.setattr(proxy.BUFFERED, "limit", proxy.MAX_BUFFERED_BYTES)
    status, _ = await trickle(gw.port, "/api/upload", b"0123456789", 0.3)  # buffered, then 408
    assert status == 408
    assert proxy.BUFFERED.used == 0  # every reservation was given back


async def test_an_upstream_101_to_a_plain_request_is_a_502(make_gateway):
    async def serve(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: tunnel\r\nConnection: Upgrade\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(1)
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    try:
        gw = await make_gateway(gateway_config(f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", ROUTES))
        status, _, body = await exchange(gw.port, b"GET /api/echo HTTP/1.1\r\nHost: gw\r\n\r\n")
        assert status == 502
        assert body == b"upstream app switched protocols (101) on a request that asked for no upgrade\n"
    finally:
        server.close()
        await server.wait_closed()
