"""Peer (4): Starlette's CORSMiddleware in front of an httpx streaming proxy.

Served by uvicorn with uvloop and httptools, one process:

    BENCH_UPSTREAM=http://127.0.0.1:PORT python -m uvicorn bench.peers.starlette_proxy:app \
        --host 127.0.0.1 --port P --loop uvloop --http httptools --no-access-log

CORSMiddleware answers preflights itself and adds the CORS headers to
proxied answers.  The proxy streams both ways (``client.send(stream=True)``,
``aiter_raw``) with one shared ``httpx.AsyncClient``.
"""

from __future__ import annotations

import os
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from ..configs import ALLOW_HEADERS, ALLOWED_ORIGIN, MAX_AGE, METHODS

_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
                  "host", "content-length"})
# uvicorn sends its own Date and Server: do not send the upstream's as well.
_HOP_RESPONSE = frozenset({"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding",
                           "upgrade", "date", "server"})

client: httpx.AsyncClient | None = None


@asynccontextmanager
async def lifespan(app):
    global client
    client = httpx.AsyncClient(
        base_url=os.environ.get("BENCH_UPSTREAM", "http://127.0.0.1:5000"),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=100),
        timeout=httpx.Timeout(60.0),
    )
    yield
    await client.aclose()


async def proxy(request: Request) -> StreamingResponse:
    headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP]
    has_body = "content-length" in request.headers or "transfer-encoding" in request.headers
    if "content-length" in request.headers:
        headers.append(("content-length", request.headers["content-length"]))
    outgoing = client.build_request(
        request.method,
        httpx.URL(path=request.url.path, query=request.url.query.encode("latin-1")),
        headers=headers,
        content=request.stream() if has_body else None,
    )
    upstream = await client.send(outgoing, stream=True)
    response_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP_RESPONSE}
    return StreamingResponse(
        upstream.aiter_raw(), status_code=upstream.status_code, headers=response_headers,
        background=BackgroundTask(upstream.aclose),
    )


app = Starlette(
    routes=[Route("/{path:path}", proxy, methods=list(METHODS) + ["OPTIONS"])],
    middleware=[
        Middleware(
            CORSMiddleware,
            allow_origins=[ALLOWED_ORIGIN],
            allow_methods=list(METHODS),
            allow_headers=list(ALLOW_HEADERS),
            max_age=MAX_AGE,
        )
    ],
    lifespan=lifespan,
)
