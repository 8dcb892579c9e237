"""The servers the gateway is measured against; each runs as its own process.

* ``upstream``: the tiny aiohttp upstream (S2, S6), also peer (1) of S2.
* ``bare``: peer (2), a fixed 204 preflight answer on aiohttp's low-level server.
* ``aioproxy``: peer (3), a minimal aiohttp reverse proxy, no CORS.
* ``starlette_proxy``: peer (4), Starlette's CORSMiddleware over an httpx
  streaming proxy, served by uvicorn (uvloop, httptools).
* ``flask_app``: the S3 upstream (no CORS) and peer (6) (flask-cors), under gunicorn.

Peer (5), nginx, is configured by ``bench.configs.nginx_conf``.
"""

import os


def use_uvloop():
    """A new event loop: uvloop's, as the gateway uses."""
    import asyncio

    import uvloop

    return uvloop.new_event_loop() if os.name != "nt" else asyncio.new_event_loop()
