"""Stream requests to upstreams and responses back, untouched but for hop-by-hop headers.

One keep-alive ``ClientSession`` per upstream (its own connection limit and
timeouts).  Bodies are streamed both ways in chunks with backpressure
(``StreamResponse.write`` waits for the socket to drain), so a 1 GiB upload or
download costs a few chunk buffers, not 1 GiB.  Content-Encoding passes
through (no decompression); redirects are returned, never followed.

``read_timeout`` bounds each wait on the upstream (for the response head and
between body chunks), not the whole transfer; ``connect_timeout`` bounds the
TCP connect.  Failures before the response head is sent become
``UpstreamError`` (502, or 504 for timeouts) so the caller can answer with
CORS headers; failures after it abort the client connection, since a status
can no longer be sent.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiohttp
from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from .config import Upstream

__all__ = ["MidStreamFailure", "UpstreamError", "UpstreamPool", "hop_by_hop_names"]

log = logging.getLogger("gateway.proxy")

CHUNK = 64 * 1024

# RFC 9110 7.6.1 plus the legacy names proxies must not forward.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
)
# Headers aiohttp's client would invent if the client did not send them.
_AUTO_HEADERS = ("Accept", "Accept-Encoding", "User-Agent", "Content-Type")


class UpstreamError(Exception):
    """The upstream could not give a response head."""

    def __init__(self, kind: str, status: int, detail: str):
        super().__init__(detail)
        self.kind = kind  # connect | timeout | reset | protocol
        self.status = status  # 502 or 504


def hop_by_hop_names(headers: CIMultiDictProxy | CIMultiDict) -> set[str]:
    """Lowercase names never to forward: the fixed set plus those Connection names."""
    names = set(_HOP_BY_HOP)
    for value in headers.getall("Connection", ()):
        for token in value.split(","):
            token = token.strip().lower()
            if token:
                names.add(token)
    return names


def _classify(err: BaseException) -> UpstreamError:
    if isinstance(err, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return UpstreamError("timeout", 504, "upstream timed out")
    if isinstance(err, aiohttp.ClientConnectorError):
        return UpstreamError("connect", 502, "upstream refused the connection")
    if isinstance(err, (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError, ConnectionResetError)):
        return UpstreamError("reset", 502, "upstream closed the connection")
    return UpstreamError("protocol", 502, "upstream sent an invalid response")


Decorate = Callable[[int, CIMultiDict], None]


class UpstreamPool:
    """Client sessions for every configured upstream; create inside a running loop."""

    def __init__(self, upstreams: dict[str, Upstream]):
        self.upstreams = upstreams
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        for name, upstream in upstreams.items():
            connector = aiohttp.TCPConnector(
                limit=upstream.max_connections,
                limit_per_host=0,
                ttl_dns_cache=10,
                enable_cleanup_closed=False,
            )
            timeout = aiohttp.ClientTimeout(
                total=None,
                # Waiting for a free pooled connection plus connecting; bounded
                # so a saturated pool cannot queue requests forever.
                connect=upstream.connect_timeout + upstream.read_timeout,
                sock_connect=upstream.connect_timeout,
                sock_read=upstream.read_timeout,
            )
            self._sessions[name] = aiohttp.ClientSession(
                connector=connector,
                timeout=timeout,
                auto_decompress=False,
                cookie_jar=aiohttp.DummyCookieJar(),  # never store upstream cookies
                skip_auto_headers=("User-Agent",),
            )

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()

    async def forward(
        self,
        request: web.BaseRequest,
        target: str,
        upstream_name: str,
        decorate: Decorate,
    ) -> web.StreamResponse:
        """Send ``request`` upstream (to path-and-query ``target``) and stream the answer back.

        ``decorate(status, headers)`` edits the response headers (CORS) before
        they are sent.  Raises UpstreamError before the head is sent.
        """
        upstream = self.upstreams[upstream_name]
        session = self._sessions[upstream_name]
        incoming = request.headers
        drop = hop_by_hop_names(incoming)
        headers = CIMultiDict()
        for name, value in incoming.items():
            lower = name.lower()
            if lower in drop or lower.startswith("proxy-") or lower.startswith("x-forwarded-"):
                continue
            headers.add(name, value)
        host = incoming.get("Host", "")
        if not upstream.preserve_host:
            headers.popall("Host", None)
        forwarded_for = incoming.getall("X-Forwarded-For", ())
        peer = request.remote or ""
        headers["X-Forwarded-For"] = ", ".join([*forwarded_for, peer]) if forwarded_for else peer
        headers["X-Forwarded-Proto"] = request.scheme
        if host:
            headers["X-Forwarded-Host"] = host
        skip = [name for name in _AUTO_HEADERS if name not in incoming]

        body = None
        if request.body_exists:
            body = _stream_body(request)

        url = URL(upstream.url + target, encoded=True)
        try:
            upstream_response = await session.request(
                request.method,
                url,
                headers=headers,
                data=body,
                allow_redirects=False,
                skip_auto_headers=skip,
                compress=None,
                chunked=None,
            )
        except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as err:
            raise _classify(err) from err

        async with upstream_response:
            response_headers = CIMultiDict()
            drop = hop_by_hop_names(upstream_response.headers)
            for raw_name, raw_value in upstream_response.raw_headers:
                name = raw_name.decode("latin-1")
                if name.lower() in drop:
                    continue
                response_headers.add(name, raw_value.decode("latin-1"))
            decorate(upstream_response.status, response_headers)
            response = web.StreamResponse(status=upstream_response.status, reason=upstream_response.reason)
            response.headers.extend(response_headers)
            if "Content-Length" not in response_headers and request.method != "HEAD":
                response.enable_chunked_encoding()
            await response.prepare(request)
            try:
                async for chunk in upstream_response.content.iter_chunked(CHUNK):
                    await response.write(chunk)
            except (aiohttp.ClientError, asyncio.TimeoutError) as err:
                # Too late for a status: cut the client connection so it sees
                # a truncated body rather than a complete-looking one.
                error = _classify(err)
                log.warning("upstream %s failed mid-response: %s", upstream_name, error.kind)
                if request.transport is not None:
                    request.transport.abort()
                raise MidStreamFailure(error, response) from err
            await response.write_eof()
            return response


class MidStreamFailure(Exception):
    """The upstream failed after the response head was sent; the client connection is aborted."""

    def __init__(self, error: UpstreamError, response: web.StreamResponse):
        super().__init__(str(error))
        self.error = error
        self.response = response


async def _stream_body(request: web.BaseRequest):
    async for chunk in request.content.iter_chunked(CHUNK):
        yield chunk

