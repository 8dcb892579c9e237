"""A WebSocket echo upstream that records handshakes: python -m tests.apps.ws_echo PORT.

GET /__handshakes returns the recorded handshakes (origin, path) as JSON.
"""

from __future__ import annotations

import sys

from aiohttp import WSMsgType, web


def create_app() -> web.Application:
    handshakes: list[dict] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/__handshakes":
            if request.method == "DELETE":
                handshakes.clear()
            return web.json_response(handshakes)
        handshakes.append({"origin": request.headers.get("Origin"), "path": request.path})
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for message in ws:
            if message.type is WSMsgType.TEXT:
                await ws.send_str(f"echo: {message.data}")
        return ws

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    return app


if __name__ == "__main__":
    web.run_app(create_app(), host="127.0.0.1", port=int(sys.argv[1]), print=None, access_log=None)
