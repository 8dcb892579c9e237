"""Peer (3): a minimal aiohttp reverse proxy, one shared ClientSession, no CORS.

Hop-by-hop headers are dropped both ways, bodies are streamed both ways; no
X-Forwarded-*, no metrics, no log.  The floor of an aiohttp-based proxy.

    python -m bench.peers.aioproxy PORT UPSTREAM_PORT
"""

from __future__ import annotations

import sys

import aiohttp
from aiohttp import web

from ._serve import serve

_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"})

session: aiohttp.ClientSession | None = None
base = ""


async def start() -> None:
    global session
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=100, limit_per_host=0),
        timeout=aiohttp.ClientTimeout(total=None, sock_read=60),
        auto_decompress=False,
        cookie_jar=aiohttp.DummyCookieJar(),
    )


async def stop() -> None:
    await session.close()


async def handle(request: web.BaseRequest) -> web.StreamResponse:
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP]
    data = request.content if request.body_exists else None
    async with session.request(
        request.method, base + request.raw_path, headers=headers, data=data,
        allow_redirects=False, skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding"),
    ) as upstream:
        response = web.StreamResponse(status=upstream.status, reason=upstream.reason)
        for name, value in upstream.headers.items():
            if name.lower() not in _HOP:
                response.headers.add(name, value)
        await response.prepare(request)
        async for chunk in upstream.content.iter_any():
            await response.write(chunk)
        await response.write_eof()
        return response


def main() -> None:
    global base
    port, upstream_port = int(sys.argv[1]), int(sys.argv[2])
    base = f"http://127.0.0.1:{upstream_port}"
    serve(handle, port, on_startup=start, on_cleanup=stop)


if __name__ == "__main__":
    main()
