"""Upstream faults: garbage, resets, half heads, stalls, late answers.

A raw asyncio server plays the upstream and misbehaves on purpose, chosen by
the request path.  Each fault must give the client a 502/504 (with CORS
headers for an allowed origin) within the configured timeout, never a hang
and never another request's answer, and the pool must serve normally after.
"""

from __future__ import annotations

import asyncio
import re

import aiohttp
import pytest

from .conftest import gateway_config

ALLOWED = "https://app.example.com"
ROUTES = f'  - {{name: api, path: /api/, upstream: app, cors: {{origins: ["{ALLOWED}"]}}}}\n'


async def evil_upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode()
            fault = path.rsplit("/", 1)[-1].split("?")[0]
            if fault == "garbage":
                writer.write(b"\x00\x01 this is not HTTP \xff\r\n\r\n")
                await writer.drain()
                return
            if fault == "reset":
                writer.transport.abort()  # RST before any byte of a response
                return
            if fault == "half-head":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Le")
                await writer.drain()
                return
            if fault == "stall":
                await asyncio.sleep(30)
                return
            if fault == "bad-length":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\nabc")
                await writer.drain()
                return
            # A normal answer that names the request it answers.
            body = path.encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
            if fault == "slow":
                await asyncio.sleep(0.01)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def faulty(make_gateway):
    server = await asyncio.start_server(evil_upstream, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    config = gateway_config(f"http://127.0.0.1:{port}", ROUTES).replace("read_timeout: 1.5", "read_timeout: 0.5")
    gw = await make_gateway(config)
    yield gw
    server.close()
    await server.wait_closed()


FAULTS = {
    "garbage": (502, "upstream sent an invalid response\n"),
    "bad-length": (502, "upstream sent an invalid response\n"),
    "reset": (502, "upstream closed the connection\n"),
    "half-head": (502, "upstream closed the connection\n"),
    "stall": (504, "upstream timed out\n"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_faulty_upstream_gives_a_readable_error_in_time_and_the_pool_recovers(faulty, fault, method):
    status, text = FAULTS[fault]
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as session:
        started = loop.time()
        async with session.request(method, faulty.url + f"/api/{fault}", headers={"Origin": ALLOWED}) as response:
            assert response.status == status
            assert await response.text() == text
            assert response.headers["Access-Control-Allow-Origin"] == ALLOWED  # the page can read it
        # A GET may be retried once on a fresh connection; the timeout bounds each wait.
        assert loop.time() - started < 2 * 0.5 + 1.0
        for i in range(3):  # the pool serves normally afterwards
            async with session.get(faulty.url + f"/api/ok-{fault}-{i}") as response:
                assert response.status == 200
                assert await response.text() == f"/api/ok-{fault}-{i}"


async def test_concurrent_requests_among_faults_each_get_their_own_answer(faulty):
    paths = [f"/api/item-{i}" if i % 4 else f"/api/{('garbage', 'reset', 'half-head', 'bad-length')[i // 4 % 4]}"
             for i in range(64)]

    async def one(session: aiohttp.ClientSession, path: str) -> tuple[str, int, str]:
        async with session.get(faulty.url + path) as response:
            return path, response.status, await response.text()

    connector = aiohttp.TCPConnector(limit=16)
    async with aiohttp.ClientSession(connector=connector) as session:
        results = await asyncio.gather(*(one(session, p) for p in paths))
    for path, status, text in results:
        if re.fullmatch(r"/api/item-\d+", path):
            assert (status, text) == (200, path)  # never another request's body
        else:
            assert status == 502
