"""Peer (2): a fixed 204 preflight answer, the gateway's headers, no decision at all.

aiohttp's low-level ``web.Server`` on uvloop, as the gateway uses: the floor
of what an aiohttp process can answer, so the gap to the gateway is the cost
of the gateway's own work (routing, the CORS decision, metrics, access log).

    python -m bench.peers.bare PORT
"""

from __future__ import annotations

import sys

from aiohttp import web

from ..configs import PREFLIGHT_RESPONSE_HEADERS
from ._serve import serve


async def handle(request: web.BaseRequest) -> web.Response:
    return web.Response(status=204, headers=PREFLIGHT_RESPONSE_HEADERS)


def main() -> None:
    serve(handle, int(sys.argv[1]))


if __name__ == "__main__":
    main()
