"""WebSockets are proxied, and the route's origins are enforced on the handshake.

Browsers apply no CORS to WebSockets: without this check any site could open
a socket to the app with the user's cookies (cross-site WebSocket hijacking).
The upstream here is a small aiohttp WebSocket echo server that records the
handshakes it receives.
"""

from __future__ import annotations

import aiohttp
import pytest
from aiohttp import web

from .conftest import gateway_config

ALLOWED = "https://app.example.com"


@pytest.fixture
async def ws_upstream():
    handshakes: list[dict] = []

    async def echo(request: web.Request) -> web.WebSocketResponse:
        handshakes.append({"origin": request.headers.get("Origin"), "cookie": request.headers.get("Cookie"),
                           "path": request.path})
        ws = web.WebSocketResponse(protocols=("chat.v1",))
        await ws.prepare(request)
        async for message in ws:
            if message.type is aiohttp.WSMsgType.TEXT:
                await ws.send_str(f"echo: {message.data}")
            elif message.type is aiohttp.WSMsgType.BINARY:
                await ws.send_bytes(message.data[::-1])
        return ws

    app = web.Application()
    app.router.add_get("/{tail:.*}", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    yield f"http://127.0.0.1:{port}", handshakes
    await runner.cleanup()


ROUTES = """\
  - {name: ws, path: /ws/, upstream: app, cors: {origins: ["https://app.example.com"]}}
  - {name: open, path: /open/, upstream: app, cors: {origins: ["https://app.example.com"], mode: off}}
"""


async def test_allowed_origin_gets_a_working_socket(make_gateway, ws_upstream):
    url, handshakes = ws_upstream
    gw = await make_gateway(gateway_config(url, ROUTES))
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.url + "/ws/chat", headers={"Origin": ALLOWED, "Cookie": "s=1"},
                                      protocols=("chat.v1",)) as ws:
            assert ws.protocol == "chat.v1"
            await ws.send_str("hello")
            assert (await ws.receive()).data == "echo: hello"
            await ws.send_bytes(b"\x00\x01\x02")
            assert (await ws.receive()).data == b"\x02\x01\x00"
    assert handshakes == [{"origin": ALLOWED, "cookie": "s=1", "path": "/ws/chat"}]


async def test_disallowed_origin_is_refused_before_the_upstream(make_gateway, ws_upstream):
    url, handshakes = ws_upstream
    gw = await make_gateway(gateway_config(url, ROUTES))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(gw.url + "/ws/chat", headers={"Origin": "https://evil.example", "Cookie": "s=1"})
    assert info.value.status == 403
    assert handshakes == []


async def test_handshake_without_origin_is_not_a_browser_and_passes(make_gateway, ws_upstream):
    url, handshakes = ws_upstream
    gw = await make_gateway(gateway_config(url, ROUTES))
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.url + "/ws/x") as ws:
            await ws.send_str("hi")
            assert (await ws.receive()).data == "echo: hi"
    assert handshakes == [{"origin": None, "cookie": None, "path": "/ws/x"}]


async def test_mode_off_route_passes_any_origin(make_gateway, ws_upstream):
    url, handshakes = ws_upstream
    gw = await make_gateway(gateway_config(url, ROUTES))
    async with aiohttp.ClientSession() as session:
        async with session.ws_connect(gw.url + "/open/x", headers={"Origin": "https://evil.example"}) as ws:
            await ws.send_str("hi")
            assert (await ws.receive()).data == "echo: hi"
    assert [h["origin"] for h in handshakes] == ["https://evil.example"]


async def test_upstream_down_gives_502(make_gateway):
    from ..support import free_port

    gw = await make_gateway(gateway_config(f"http://127.0.0.1:{free_port()}", ROUTES))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as info:
            await session.ws_connect(gw.url + "/ws/x", headers={"Origin": ALLOWED})
    assert info.value.status == 502
