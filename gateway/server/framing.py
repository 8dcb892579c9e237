"""HTTP/1.1 framing towards upstreams: request heads and chunks out, response heads and bodies in.

Pure bytes in, events out; no sockets, no asyncio (``pool`` owns those), so
every case is unit-tested on recorded byte streams.

Out: ``request_head`` serialises a request head (refusing a CR, LF or NUL
anywhere in it, so no header can split the request); ``chunk`` and
``LAST_CHUNK`` frame a body of unknown length.

In: ``ResponseReader`` parses one response with llhttp (``httptools``), in
strict mode: a bad status line, a header with control characters, obs-fold,
bare LF line ends, two Content-Lengths or Content-Length beside
Transfer-Encoding are errors, never guessed at.  It caps the head
(``MAX_HEAD_BYTES``, ``MAX_HEADERS``), skips interim 1xx answers (a 101 is an
error: nothing here asked for an upgrade), drops trailers, and knows the
three ways a body ends: its Content-Length, its last chunk, or (neither
given) the connection closing.  A response to HEAD ends with its head, as do
204 and 304.  It reports to a sink with ``on_head()``, ``on_body(bytes)`` and
``on_complete()``.
"""

from __future__ import annotations

import re

import httptools

__all__ = ["LAST_CHUNK", "MAX_HEADERS", "MAX_HEAD_BYTES", "BadResponse", "ResponseReader", "chunk", "request_head"]

# A response head larger than this, or with more header lines, is refused
# (502): the upstream is broken or hostile, and the gateway would hold it in
# memory.  aiohttp's client allowed 128 lines of up to 8190 bytes each.
MAX_HEAD_BYTES = 128 * 1024
MAX_HEADERS = 128

LAST_CHUNK = b"0\r\n\r\n"

# Control characters llhttp lets through in a reason phrase (aiohttp's writer
# would refuse them when passing the status line on): the response is refused.
_REASON_CTL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


class BadResponse(Exception):
    """The upstream's bytes are not a valid HTTP/1.1 response.

    ``detail`` is one of a fixed set of phrases (never the upstream's bytes),
    ``status_line``: the status line itself was bad (no status was read).
    """

    def __init__(self, detail: str, *, status_line: bool = False):
        super().__init__(detail)
        self.detail = detail
        self.status_line = status_line


def request_head(method: str, target: str, headers) -> bytes:
    """``METHOD target HTTP/1.1`` and ``headers`` (name, value pairs) as one block of bytes.

    Names and values were parsed by aiohttp's server (tokens; no CR, LF or
    NUL), but are checked again here: one such byte would let a value end
    the head early and start another request on a shared connection.
    """
    text = (f"{method} {target} HTTP/1.1\r\n" + "\r\n".join(map(": ".join, headers)) + "\r\n\r\n" if headers
            else f"{method} {target} HTTP/1.1\r\n\r\n")
    lines = len(headers) + 2  # each header, the request line and the empty line end in the only CR LFs
    if text.count("\r") != lines or text.count("\n") != lines or "\0" in text:
        raise ValueError("a CR, LF or NUL in the request head")
    # (Values that were not UTF-8 were refused before: checks._unforwardable.)
    return text.encode("utf-8")


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (``data`` must not be empty: that is ``LAST_CHUNK``)."""
    return b"%x\r\n%s\r\n" % (len(data), data)


class ResponseReader:
    """Parse one upstream response, telling ``sink`` as it goes.

    ``feed(data)`` raises ``BadResponse``.  After ``on_head``: ``status``,
    ``reason``, ``version`` and ``raw_headers`` (name, value bytes as sent,
    trailing whitespace trimmed), ``close_delimited`` (the body ends when the
    connection closes) and ``keep_alive`` (known at ``on_complete``: the
    upstream lets the connection carry another request).  ``finish()`` is
    called when the upstream closes the connection: it completes a
    close-delimited body, and tells whether the response was complete.
    ``extra``: bytes came after the end of the response (the connection
    must not be reused).  ``reset`` readies it for the next response on a
    reused connection.
    """

    __slots__ = ("_sink", "_parser", "_head_only", "_head_bytes", "_header_bytes", "status", "reason", "version",
                 "raw_headers", "headed", "complete", "keep_alive", "close_delimited", "extra", "_framed",
                 "_te_chunked", "_since_body", "_reason", "__weakref__")

    def __init__(self, sink, *, head_only: bool = False) -> None:
        """``head_only``: the request was HEAD, so the response has no body whatever its headers say."""
        self._sink = sink
        self._parser = httptools.HttpResponseParser(self)
        self.reset(head_only)

    def reset(self, head_only: bool = False) -> None:
        """Ready for the next response on the same connection.

        Only after a complete, reusable exchange (``keep_alive`` and no
        ``extra``): llhttp then waits for a new message, so the parser is kept.
        """
        self._head_only = head_only
        self._head_bytes = 0
        self._header_bytes = 0
        self.status = 0
        self.reason = ""
        self._reason = b""  # the reason phrase's bytes as they arrive
        self.version = "1.1"
        self.raw_headers: list[tuple[bytes, bytes]] = []
        self.headed = False  # the final (non-1xx) head was read
        self.complete = False
        self.keep_alive = False
        self.close_delimited = False
        self.extra = False
        self._framed = False  # Content-Length seen
        self._te_chunked = False  # Transfer-Encoding seen, its last coding chunked
        self._since_body = 0  # bytes fed after the head since the last body bytes (chunk lines, trailers)

    # -- fed by the connection ------------------------------------------------

    def feed(self, data: bytes) -> None:
        if self.complete:
            self.extra = True
            return
        if not self.headed:
            self._head_bytes += len(data)
        else:
            self._since_body += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as err:
            cause = err.__context__
            if isinstance(cause, _Stop):
                return
            if isinstance(cause, BadResponse):
                raise cause from None
            raise
        except httptools.HttpParserUpgrade:
            raise BadResponse("switched protocols (101) on a request that asked for no upgrade") from None
        except httptools.HttpParserError as err:
            if not (self.status or self.raw_headers):
                raise BadResponse("bad status line", status_line=True) from None
            if not self.headed:
                # llhttp's reason is fixed text: "Invalid header value char",
                # "Duplicate Content-Length", ...
                reason = str(err).lower()
                bad_header = "header" in reason and "content-length" not in reason
                raise BadResponse("invalid header" if bad_header else "not valid HTTP/1.1") from None
            raise BadResponse("bad chunked body" if self._te_chunked else "not valid HTTP/1.1") from None
        if not self.headed:
            if self._head_bytes > MAX_HEAD_BYTES:
                raise BadResponse("response head too large")
        elif self._since_body > MAX_HEAD_BYTES and not self.complete:
            # Trailers (or chunk lines) without end: llhttp holds a trailer's
            # value whole until its line ends.
            raise BadResponse("response trailers too large")

    def finish(self) -> bool:
        """The connection closed: whether the response is complete (a close-delimited body ends here)."""
        if self.complete:
            return True
        if self.headed and self.close_delimited:
            self.complete = True
            self.keep_alive = False
            self._sink.on_complete()
            return True
        return False

    def close(self) -> None:
        """Drop the parser and the sink (they refer back to this reader: no cycle left for the collector)."""
        self._parser = None
        self._sink = None

    # -- httptools callbacks ----------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:
            # Bytes after the end of the response: not an answer to anything
            # sent.  The response stands; the connection is not reused.
            self.extra = True
            raise _Stop

    def on_status(self, reason: bytes) -> None:
        # Called once per piece of the reason phrase when it spans two reads.
        if _REASON_CTL.search(reason):
            raise BadResponse("bad status line")
        self.status = self._parser.get_status_code()
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        if self.headed:
            return  # a trailer (after a chunked body): dropped, as aiohttp's client did
        headers = self.raw_headers
        if len(headers) >= MAX_HEADERS:
            raise BadResponse("too many header lines")
        # (``feed`` counts the bytes of a head still arriving; this counts one
        # that arrived whole in a single read.)
        self._header_bytes += len(name) + len(value)
        if self._header_bytes > MAX_HEAD_BYTES:
            raise BadResponse("response head too large")
        headers.append((name, value.rstrip(b" \t")))
        if not self._framed and (len(name) == 14 or len(name) == 17):  # the lengths of the two names below
            lower = name.lower()
            if lower == b"content-length":
                self._framed = True
            elif lower == b"transfer-encoding":
                # A Transfer-Encoding whose last coding is not chunked reads
                # until the connection closes (RFC 9112 6.3), as llhttp does;
                # the last such header decides.
                self._te_chunked = value.rsplit(b",", 1)[-1].strip(b" \t").lower() == b"chunked"

    def on_headers_complete(self) -> None:
        status = self.status = self._parser.get_status_code()
        if 100 <= status < 200 and status != 101:
            # An interim answer (100 Continue, 103 Early Hints): the final
            # head follows.  The gateway sent no Expect, and passes on none.
            self.raw_headers = []
            self._framed = False
            self._te_chunked = False
            self._header_bytes = 0
            self.status = 0
            self._reason = b""
            return
        self.headed = True
        self.reason = self._reason.decode("utf-8", "surrogateescape")
        self.version = self._parser.get_http_version()
        self.close_delimited = not (self._framed or self._te_chunked or self._head_only or status in (204, 304))
        self._sink.on_head()
        if self._head_only:
            # llhttp cannot be told the request was HEAD: it would wait for a
            # Content-Length's worth of body.  The response ends here; the
            # connection is not reused (bytes after this head are unknown).
            self.complete = True
            self.keep_alive = False
            self._sink.on_complete()
            raise _Stop

    def on_body(self, body: bytes) -> None:
        if not self.headed:
            # llhttp reads a body for a 1xx other than 100-103 when it is
            # framed: not a body of the final response, and not allowed.
            raise BadResponse("an interim (1xx) response with a body")
        self._since_body = 0
        self._sink.on_body(body)

    def on_message_complete(self) -> None:
        if not self.headed:
            return  # the end of an interim 1xx answer
        self.complete = True
        self.keep_alive = self._parser.should_keep_alive()
        self._sink.on_complete()


class _Stop(Exception):
    """Ends parsing from a callback (httptools re-raises it from ``feed_data``)."""
