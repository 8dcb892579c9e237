"""The tiny aiohttp upstream (S2, S5, S6; peer (1) of S2 when hit directly).

* ``GET /api/data``: a small JSON body (``bench.configs.SMALL_JSON_BYTES``).
* ``GET /api/big?size=N``: N zero bytes with Content-Length, written in 256 KiB pieces.
* ``POST|PUT /api/sink``: reads the whole body, answers ``{"received": N}``.

    python -m bench.peers.upstream PORT
"""

from __future__ import annotations

import sys

from aiohttp import web

from ..configs import SMALL_JSON_BYTES
from ._serve import serve

_PIECE = memoryview(bytes(256 * 1024))


async def handle(request: web.BaseRequest) -> web.StreamResponse:
    path = request.path
    if path == "/api/data":
        return web.Response(body=SMALL_JSON_BYTES, content_type="application/json")
    if path == "/api/big":
        size = int(request.query.get("size", "1048576"))
        response = web.StreamResponse(
            headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"}
        )
        await response.prepare(request)
        left = size
        while left > 0:
            piece = _PIECE if left >= len(_PIECE) else _PIECE[:left]
            await response.write(piece)
            left -= len(piece)
        await response.write_eof()
        return response
    if path == "/api/sink":
        received = 0
        content = request.content
        while True:
            chunk = await content.readany()
            if not chunk:
                break
            received += len(chunk)
        return web.Response(text=f'{{"received":{received}}}', content_type="application/json")
    return web.Response(status=404, text="not found\n")


def main() -> None:
    serve(handle, int(sys.argv[1]))


if __name__ == "__main__":
    main()
