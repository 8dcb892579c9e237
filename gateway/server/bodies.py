"""The client's request body on its way upstream: buffered whole, or streamed.

A body up to the upstream's ``request_buffering`` bytes is read whole before
the upstream request starts (a slow uploader cannot pin a sync worker), within
``listen.body_timeout``; all bodies being buffered in a process share
``MAX_BUFFERED_BYTES`` (past it they stream).  Larger ones are streamed with a
``read_timeout`` per read.  Either way the bytes are the client's own, and a
body that does not match the length announced upstream is never completed
(request smuggling).  Failures that are the client's raise ``ClientBodyError``.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from aiohttp import web

from ..settings import Upstream

__all__ = ["BUFFERED", "MAX_BUFFERED_BYTES", "ClientBodyError"]

log = logging.getLogger("gateway.proxy")  # the pre-split logger name (log lines show it)


class ClientBodyError(Exception):
    """The client's request body stalled (408), broke off (400) or was too large (413)
    before the upstream answered."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status = status


class _Lease:
    """Bytes of ``BUFFERED`` one request holds (its buffered body), given back when it ends."""

    __slots__ = ("size",)

    def __init__(self) -> None:
        self.size = 0


class _BufferBudget:
    """All request bodies being buffered in this process share ``limit`` bytes.

    ``request_buffering`` is per request; without a total, clients that each
    send a body just under it and stall would hold it many times over in
    memory.  A request that finds the budget spent is streamed instead, as
    with ``request_buffering: 0``: never refused for it.
    """

    def __init__(self, limit: int):
        self.limit = limit
        self.used = 0

    def reserve(self, lease: _Lease, size: int) -> bool:
        if self.used + size > self.limit:
            log.debug("request buffering budget (%d bytes) spent: streaming this body", self.limit)
            return False
        self.used += size
        lease.size = size
        return True

    def release(self, size: int) -> None:
        self.used -= size


# Per process (each worker has its own), for all upstreams together.
MAX_BUFFERED_BYTES = 256 * 1024 * 1024
BUFFERED = _BufferBudget(MAX_BUFFERED_BYTES)


class _BodyState:
    """How far the client's body got: read to its end (``done``) and how many bytes were passed on."""

    __slots__ = ("error", "done", "sent")

    def __init__(self) -> None:
        self.error: ClientBodyError | None = None
        self.done = False
        self.sent = 0


class _FramingError(Exception):
    """The body the gateway forwarded does not match the length it announced upstream."""


def _expects_continue(request: web.BaseRequest) -> bool:
    expect = request.headers.get("Expect")
    return (
        expect is not None
        and expect.strip().lower() == "100-continue"
        and request.version >= aiohttp.HttpVersion11
    )


async def _request_body(request: web.BaseRequest, upstream: Upstream, body_state: _BodyState, lease: _Lease,
                        max_body_size: int, body_timeout: float):
    """What to send upstream as the body of ``request`` (which has one): the
    whole body as bytes, or a generator streaming it (``_stream_body``).

    Buffered when the upstream's ``request_buffering`` allows it and the
    process's budget has room (reserved on ``lease``); ``body_state`` says
    how far the body got.  Sends ``100 Continue`` first if the client waits
    for it.
    """
    body = None
    if _expects_continue(request):
        # The request is going to be forwarded: tell the client to send
        # its body (the upstream never sees Expect; we stream for it).
        await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    buffering = upstream.request_buffering
    length = request.content_length
    prefix = b""
    if buffering and (length is None or length <= buffering) and BUFFERED.reserve(
            lease, length if length is not None else buffering + 1):
        prefix = await _buffer_body(request, buffering, body_timeout, upstream.read_timeout, max_body_size)
        if length is not None and len(prefix) != length:
            # aiohttp's parser ends a body at exactly its length or
            # fails; never forward one framed otherwise.
            raise ClientBodyError(400, "the request body was cut off")
        if length is not None or len(prefix) <= buffering:
            # The whole body: the upstream request starts only now,
            # so a slow uploader never holds an upstream worker.  (A
            # chunked one is forwarded with its Content-Length.)
            body = prefix
            body_state.done = True
            body_state.sent = len(prefix)
    if body is None:
        body = _stream_body(request, upstream.read_timeout, body_state, max_body_size, prefix)
    return body


async def _buffer_body(request: web.BaseRequest, buffering: int, deadline: float, stall: float, limit: int) -> bytes:
    """Read the client's body whole, if it is at most ``buffering`` bytes: in all
    within ``deadline`` seconds (``listen.body_timeout``), and no read waiting
    longer than ``stall`` (the upstream's ``read_timeout``, as for a streamed
    body).  A longer (chunked) body returns its first ``buffering`` + 1 bytes
    or more, to be streamed on."""
    content = request.content
    chunks: list[bytes] = []
    size = 0
    loop = asyncio.get_running_loop()
    end = loop.time() + deadline
    try:
        while size <= buffering:
            left = end - loop.time()
            if left <= 0:
                raise ClientBodyError(408, f"the request body took longer than {deadline:g} s (listen.body_timeout)")
            try:
                async with asyncio.timeout(min(left, stall)):
                    chunk = await content.readany()
            except TimeoutError:
                if left <= stall:
                    raise ClientBodyError(
                        408, f"the request body took longer than {deadline:g} s (listen.body_timeout)") from None
                raise ClientBodyError(408, "the request body stalled") from None
            if not chunk:
                break
            size += len(chunk)
            if limit and size > limit:
                raise ClientBodyError(413, f"the request body is larger than {limit} bytes")
            chunks.append(chunk)
    except ClientBodyError:
        raise
    except Exception as err:  # noqa: BLE001 - any failure here is the client's
        raise ClientBodyError(400, "the request body was cut off") from err
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def _stream_body(request: web.BaseRequest, timeout: float, state: _BodyState, limit: int,
                       prefix: bytes = b""):
    """The client's body, each read bounded by ``timeout`` (a stalled uploader
    must not hold an upstream connection forever), in all at most ``limit``
    bytes (0: no limit; a larger Content-Length was refused before this).

    The bytes are the client's own: the public listener never decompresses
    (``auto_decompress=False``), so a ``Content-Length`` forwarded as it came
    frames exactly these bytes.  Should the count ever differ from it, the
    generator raises instead of ending: aiohttp then marks the upstream
    connection for closing, so the gap can never be filled by the start of
    another client's request on a pooled connection (request smuggling).
    """
    content = request.content
    remaining = limit or -1
    announced = request.content_length  # None for a chunked body
    if prefix:  # what _buffer_body read before the body turned out too large to buffer
        state.sent = len(prefix)
        if remaining >= 0:
            remaining -= len(prefix)
        yield prefix
    while True:
        try:
            async with asyncio.timeout(timeout):
                chunk = await content.readany()
        except TimeoutError:
            state.error = ClientBodyError(408, "the request body stalled")
            raise state.error from None
        except Exception as err:  # noqa: BLE001 - any failure here is the client's
            state.error = ClientBodyError(400, "the request body was cut off")
            raise state.error from err
        if not chunk:
            if announced is not None and state.sent != announced:
                raise _FramingError(f"forwarded {state.sent} body bytes, announced {announced}")
            state.done = True
            return
        state.sent += len(chunk)
        if remaining >= 0:
            remaining -= len(chunk)
            if remaining < 0:
                state.error = ClientBodyError(413, f"the request body is larger than {limit} bytes")
                raise state.error
        yield chunk
