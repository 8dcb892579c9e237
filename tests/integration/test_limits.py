"""Client limits (``listen.*``): oversized heads and bodies, slow heads; answered, closed, never forwarded."""

from __future__ import annotations

import asyncio
import hashlib
import re

import aiohttp
import pytest

from .conftest import gateway_config

ALLOWED = "https://app.example.com"
ROUTES = f'  - {{name: api, path: /api/, upstream: app, cors: {{origins: ["{ALLOWED}"]}}}}\n'


def config_with(upstream_url: str, listen: str) -> str:
    return gateway_config(upstream_url, ROUTES).replace(
        "listen: {host: 127.0.0.1, port: 0}", f"listen: {{host: 127.0.0.1, port: 0, {listen}}}"
    )


async def exchange(port: int, raw: bytes, timeout: float = 5) -> bytes:
    """Send ``raw``, read until the gateway closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), timeout=timeout)
    writer.close()
    return data


def status_line(answer: bytes) -> bytes:
    """The status line without the version (an answer to an unparsable head is HTTP/1.0)."""
    return b"HTTP/1.1 " + answer.split(b"\r\n", 1)[0].split(b" ", 1)[1]


async def refusals(gw) -> dict[str, float]:
    """cors_gateway_client_refusals_total by reason, from the admin listener."""
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{gw.admin_port}/metrics") as response:
            text = await response.text()
    return {m[0]: float(m[1]) for m in re.findall(r'cors_gateway_client_refusals_total\{reason="(\w+)"\} (\S+)', text)}


def head_of(answer: bytes) -> dict[str, str]:
    lines = answer.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")[1:]
    return {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}


OVERSIZED = {
    "request-line": (b"GET /api/echo?" + b"q" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n", b"HTTP/1.1 414 Request-URI Too Long"),
    "header-line": (b"GET /api/echo HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n",
                    b"HTTP/1.1 431 Request Header Fields Too Large"),
    "header-name": (b"GET /api/echo HTTP/1.1\r\nHost: x\r\nX" + b"a" * 9000 + b": 1\r\n\r\n",
                    b"HTTP/1.1 431 Request Header Fields Too Large"),
    "header-count": (b"GET /api/echo HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(120)) + b"\r\n",
                     b"HTTP/1.1 431 Request Header Fields Too Large"),
}


@pytest.mark.parametrize("name", sorted(OVERSIZED))
async def test_oversized_heads_get_414_or_431_and_never_reach_the_upstream(make_gateway, recorded, name):
    gw = await make_gateway(gateway_config(recorded.url, ROUTES))
    raw, expected = OVERSIZED[name]
    answer = await exchange(gw.port, raw)
    assert status_line(answer) == expected
    assert answer.endswith(b"\n")  # the whole answer, then EOF: the connection was closed
    assert recorded.requests() == []
    reason = "request_line_too_long" if name == "request-line" else "headers_too_large"
    assert {k: v for k, v in (await refusals(gw)).items() if v} == {reason: 1.0}
    async with aiohttp.ClientSession() as session:  # the gateway is unharmed
        async with session.get(gw.url + "/api/echo") as response:
            assert response.status == 200


async def test_head_limits_are_configurable(make_gateway, recorded):
    gw = await make_gateway(config_with(recorded.url, "max_request_line: 20000, max_header_size: 20000, max_headers: 20"))
    raw = (b"GET /api/echo?" + b"q" * 9000 + b" HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n"
           + b"Connection: close\r\n\r\n")
    assert status_line(await exchange(gw.port, raw)) == b"HTTP/1.1 200 OK"  # over the defaults, under these
    [entry] = recorded.requests()
    assert dict(entry["headers"])["X-Big"] == "a" * 9000
    many = b"GET /api/echo HTTP/1.1\r\nHost: x\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(25)) + b"\r\n"
    assert status_line(await exchange(gw.port, many)) == b"HTTP/1.1 431 Request Header Fields Too Large"


async def test_a_declared_body_over_the_limit_gets_413_with_cors_headers_and_is_not_forwarded(make_gateway, recorded):
    gw = await make_gateway(config_with(recorded.url, "max_body_size: 1000"))
    async with aiohttp.ClientSession() as session:
        async with session.post(gw.url + "/api/sha256", data=b"x" * 1001, headers={"Origin": ALLOWED}) as response:
            assert response.status == 413
            assert response.headers["Access-Control-Allow-Origin"] == ALLOWED  # the page can read why
            assert response.headers["Connection"] == "close"
            assert await response.text() == "request body larger than 1000 bytes (listen.max_body_size)\n"
        assert recorded.requests() == []
        assert (await refusals(gw))["body_too_large"] == 1.0
        async with session.post(gw.url + "/api/sha256", data=b"x" * 1000) as response:  # the limit itself passes
            assert response.status == 200
            assert await response.json() == {"sha256": hashlib.sha256(b"x" * 1000).hexdigest(), "length": 1000}


async def test_a_chunked_body_that_outgrows_the_limit_gets_413(make_gateway, recorded):
    gw = await make_gateway(config_with(recorded.url, "max_body_size: 100000"))

    async def chunks():
        for _ in range(20):
            yield b"y" * 10_000

    async with aiohttp.ClientSession() as session:
        async with session.post(gw.url + "/api/sha256", data=chunks()) as response:
            assert response.status == 413
            assert await response.text() == "the request body is larger than 100000 bytes\n"
    assert (await refusals(gw))["body_too_large"] == 1.0
    # Whatever the upstream got, it never got the whole body.
    assert all(entry.get("body_length", 0) < 200_000 for entry in recorded.requests())


async def test_zero_means_no_body_limit(make_gateway, recorded):
    gw = await make_gateway(config_with(recorded.url, "max_body_size: 0"))
    body = b"z" * (3 * 1024 * 1024)
    async with aiohttp.ClientSession() as session:
        async with session.post(gw.url + "/api/sha256", data=body) as response:
            assert response.status == 200
            assert (await response.json())["length"] == len(body)


async def test_a_slowly_trickled_head_is_cut_off_with_408(make_gateway, recorded):
    gw = await make_gateway(config_with(recorded.url, "header_timeout: 0.5"))
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    loop = asyncio.get_running_loop()
    started = loop.time()
    writer.write(b"GET /api/echo HTTP/1.1\r\n")
    answer = b""
    for i in range(30):  # one header line every 0.1 s: the head would take 3 s
        try:
            answer = await asyncio.wait_for(reader.read(65536), timeout=0.1)
            break  # the gateway answered (and closes)
        except TimeoutError:
            writer.write(b"X-%d: 1\r\n" % i)
    closed_after = loop.time() - started
    answer += await asyncio.wait_for(reader.read(), timeout=5)  # then EOF
    writer.close()
    assert status_line(answer) == b"HTTP/1.1 408 Request Timeout"
    assert 0.4 < closed_after < 2.0
    assert recorded.requests() == []
    assert (await refusals(gw))["header_timeout"] == 1.0


async def test_a_slow_body_is_not_cut_by_the_head_timeout(make_gateway, recorded):
    gw = await make_gateway(config_with(recorded.url, "header_timeout: 0.3"))
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(b"POST /api/sha256 HTTP/1.1\r\nHost: x\r\nContent-Length: 8\r\nConnection: close\r\n\r\n")
    for byte in b"abcdefgh":  # 8 x 0.15 s = 1.2 s of body, well past the head timeout
        await writer.drain()
        await asyncio.sleep(0.15)
        writer.write(bytes([byte]))
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=5)
    writer.close()
    assert status_line(answer) == b"HTTP/1.1 200 OK"
    assert hashlib.sha256(b"abcdefgh").hexdigest().encode() in answer


async def test_keep_alive_requests_each_get_the_full_head_timeout(make_gateway, recorded):
    gw = await make_gateway(config_with(recorded.url, "header_timeout: 0.5"))
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    for _ in range(3):  # three requests on one connection, 0.3 s apart: 0.9 s in all
        await asyncio.sleep(0.3)
        writer.write(b"GET /api/echo HTTP/1.1\r\nHost: x\r\n\r\n")
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        assert head.startswith(b"HTTP/1.1 200 ")
        await reader.readexactly(int(head_of(head)["content-length"]))
    writer.close()


async def test_a_body_ending_in_its_own_read_does_not_arm_the_head_timeout(make_gateway, recorded):
    """Regression: the read that completed a body used to start the head
    deadline, so an idle keep-alive connection got an unsolicited 408 (and a
    next request could be cut off) header_timeout after an upload."""
    gw = await make_gateway(config_with(recorded.url, "header_timeout: 0.4"))
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    for _ in range(2):
        writer.write(b"POST /api/sha256 HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n")
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(b"hello")  # the body in a read of its own
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=5)
        assert head.startswith(b"HTTP/1.1 200 ")
        await reader.readexactly(int(head_of(head)["content-length"]))
        await asyncio.sleep(0.8)  # idle for twice the head timeout: no 408, no close
        assert not reader.at_eof() and reader._buffer == b""  # noqa: SLF001 - nothing was sent to us
    writer.close()


async def test_pipelined_preflights_that_are_never_read_do_not_pile_up_in_memory(make_gateway, recorded):
    """The prebuilt preflight answer waits for the socket like aiohttp's own
    responses: a client that pipelines and never reads stalls its connection
    instead of growing the gateway's write buffer."""
    import socket

    gw = await make_gateway(gateway_config(recorded.url, ROUTES))
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", gw.port))
    sock.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=sock)
    preflight = (b"OPTIONS /api/x HTTP/1.1\r\nHost: x\r\nOrigin: " + ALLOWED.encode()
                 + b"\r\nAccess-Control-Request-Method: GET\r\n\r\n")

    async def flood():
        for _ in range(20_000):  # about 3 MB of requests, 8 MB of answers
            writer.write(preflight)
            await writer.drain()

    sender = asyncio.ensure_future(flood())
    await asyncio.sleep(1.5)
    [handler] = [h for h in gw._runners[0].server._connections]  # noqa: SLF001 - the one client connection
    buffered = handler.transport.get_write_buffer_size()
    sender.cancel()
    writer.transport.abort()
    assert buffered < 512 * 1024, f"{buffered} bytes of answers buffered for a client that does not read"
