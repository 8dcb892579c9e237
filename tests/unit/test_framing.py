"""gateway/server/framing.py on recorded byte streams: what the upstream sends, byte for byte.

Every stream is fed whole, and again one byte at a time (a TCP segment can
end anywhere): both must give the same events.
"""

from __future__ import annotations

import pytest

from gateway.server import framing
from gateway.server.framing import BadResponse, ResponseReader, chunk, request_head


class Sink:
    def __init__(self):
        self.events: list = []

    def on_head(self):
        self.events.append("head")

    def on_body(self, data):
        if self.events and isinstance(self.events[-1], bytes):
            self.events[-1] += data
        else:
            self.events.append(bytes(data))

    def on_complete(self):
        self.events.append("complete")


def parse(stream: bytes, *, head_only=False, split=False, eof=False):
    sink = Sink()
    reader = ResponseReader(sink, head_only=head_only)
    pieces = [stream[i:i + 1] for i in range(len(stream))] if split else [stream]
    for piece in pieces:
        reader.feed(piece)
    if eof:
        reader.finish()
    return reader, sink.events


def both(stream: bytes, **kwargs):
    """Parse whole and byte by byte; the outcomes must agree."""
    whole = parse(stream, **kwargs)
    split = parse(stream, split=True, **kwargs)
    for name in ("status", "reason", "raw_headers", "headed", "complete", "keep_alive", "close_delimited", "extra"):
        assert getattr(whole[0], name) == getattr(split[0], name), name
    assert whole[1] == split[1]
    return whole


def refused(stream: bytes, **kwargs) -> BadResponse:
    with pytest.raises(BadResponse) as whole:
        parse(stream, **kwargs)
    with pytest.raises(BadResponse) as split:
        parse(stream, split=True, **kwargs)
    assert whole.value.detail == split.value.detail
    return whole.value


# -- bodies and their three ends ---------------------------------------------------


def test_content_length_body_keep_alive():
    reader, events = both(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello")
    assert (reader.status, reader.reason, reader.version) == (200, "OK", "1.1")
    assert reader.raw_headers == [(b"Content-Type", b"text/plain"), (b"Content-Length", b"5")]
    assert events == ["head", b"hello", "complete"]
    assert reader.complete and reader.keep_alive and not reader.close_delimited and not reader.extra


def test_chunked_body_with_extensions_and_trailers_dropped():
    stream = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5;ext=1\r\nhello\r\n1\r\n \r\n5\r\nworld\r\n0\r\nX-Trailer: secret\r\n\r\n")
    reader, events = both(stream)
    assert events == ["head", b"hello world", "complete"]
    assert reader.raw_headers == [(b"Transfer-Encoding", b"chunked")]  # the trailer is not a header
    assert reader.keep_alive


def test_close_delimited_body_ends_at_eof_and_is_not_reusable():
    reader, events = both(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil the end", eof=True)
    assert events == ["head", b"until the end", "complete"]
    assert reader.close_delimited and reader.complete and not reader.keep_alive


def test_close_delimited_body_not_complete_before_eof():
    reader, events = both(b"HTTP/1.1 200 OK\r\n\r\npart")
    assert events == ["head", b"part"] and not reader.complete


def test_truncated_content_length_body_is_incomplete_at_eof():
    reader, _ = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
    assert reader.finish() is False and not reader.complete


def test_truncated_chunked_body_is_incomplete_at_eof():
    reader, _ = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel")
    assert reader.finish() is False and not reader.complete


def test_head_response_ends_with_its_head_whatever_content_length_says():
    reader, events = both(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n", head_only=True)
    assert events == ["head", "complete"]
    assert reader.complete and not reader.keep_alive  # unknown bytes may follow: never reused


@pytest.mark.parametrize("status", [204, 304])
def test_no_body_statuses_complete_at_head(status):
    reader, events = both(b"HTTP/1.1 %d X\r\nETag: \"1\"\r\n\r\n" % status)
    assert events == ["head", "complete"]
    assert reader.keep_alive and not reader.close_delimited


def test_http10_response_is_not_kept_alive():
    reader, events = both(b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
    assert events == ["head", b"ok", "complete"]
    assert reader.version == "1.0" and not reader.keep_alive


def test_connection_close_is_not_kept_alive():
    reader, _ = both(b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok")
    assert reader.complete and not reader.keep_alive


def test_interim_answers_are_skipped():
    stream = (b"HTTP/1.1 100 Continue\r\n\r\n"
              b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"
              b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n")
    reader, events = both(stream)
    assert events == ["head", "complete"]
    assert reader.status == 201 and reader.raw_headers == [(b"Content-Length", b"0")]


def test_switching_protocols_unasked_is_refused():
    assert "101" in refused(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n").detail


def test_bytes_after_the_response_mark_it_extra_but_keep_it():
    reader, events = both(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert events == ["head", b"ok", "complete"]
    assert reader.extra  # the pool never reuses this connection


def test_feed_after_complete_marks_extra():
    reader, _ = parse(b"HTTP/1.1 204 No Content\r\n\r\n")
    reader.feed(b"X")
    assert reader.extra


def test_header_value_trailing_whitespace_trimmed_and_empty_values_kept():
    reader, _ = both(b"HTTP/1.1 200 OK\r\nX-A: v \t\r\nX-Empty:\r\nContent-Length: 0\r\n\r\n")
    assert reader.raw_headers == [(b"X-A", b"v"), (b"X-Empty", b""), (b"Content-Length", b"0")]


def test_repeated_headers_kept_in_order():
    reader, _ = both(b"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 0\r\n\r\n")
    assert reader.raw_headers[:2] == [(b"Set-Cookie", b"a=1"), (b"Set-Cookie", b"b=2")]


def test_non_ascii_reason_and_values_pass_as_bytes():
    reader, _ = both(b"HTTP/1.1 200 \xc3\x96K\r\nX-N: caf\xc3\xa9\r\nContent-Length: 0\r\n\r\n")
    assert reader.raw_headers[0] == (b"X-N", b"caf\xc3\xa9")
    assert reader.reason == "ÖK"  # UTF-8 (surrogateescape), as aiohttp's server reads requests


# -- what strict parsing refuses -------------------------------------------------------


@pytest.mark.parametrize("stream", [
    b"SSH-2.0-OpenSSH_9.2\r\n",
    b"\x15\x03\x01\x00\x02\x02\x46",  # a TLS alert: an https port spoken to in plain HTTP
    b"HTTP/1.1 2000 OK\r\n\r\n",
    b"HTTP/1.1 OK\r\n\r\n",
    b"<html>hello</html>",
])
def test_bad_status_line(stream):
    bad = refused(stream)
    assert bad.detail == "bad status line" and bad.status_line


@pytest.mark.parametrize("stream", [
    # two lengths, or a length beside chunked: request smuggling's raw material
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n",
])
def test_ambiguous_framing_is_refused(stream):
    bad = refused(stream)
    assert bad.detail in ("not valid HTTP/1.1", "invalid header") and not bad.status_line


@pytest.mark.parametrize("stream", [
    b"HTTP/1.1 200 OK\r\nX-A: a\r\n folded\r\nContent-Length: 0\r\n\r\n",  # obs-fold
    b"HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n",  # NUL in a value
    b"HTTP/1.1 200 OK\r\nX A: a\r\nContent-Length: 0\r\n\r\n",  # space in a name
    b"HTTP/1.1 200 OK\r\nX-A : a\r\nContent-Length: 0\r\n\r\n",  # space before the colon
    b"HTTP/1.1 200 OK\nX-A: a\nContent-Length: 0\n\n",  # bare LF line ends
    b"HTTP/1.1 200 OK\r\nX-A: a\rb\r\nContent-Length: 0\r\n\r\n",  # a bare CR
])
def test_malformed_headers_are_refused(stream):
    bad = refused(stream)
    assert not bad.status_line or stream.startswith(b"HTTP/1.1 200 OK\n")


@pytest.mark.parametrize("body", [
    b"zz\r\nhello\r\n0\r\n\r\n",  # not hex
    b"5\r\nhelloXX0\r\n\r\n",  # no CR LF after the data
    b"5\nhello\n0\n\n",  # bare LFs
])
def test_bad_chunked_body(body):
    bad = refused(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    assert bad.detail == "bad chunked body"


def test_head_too_large():
    stream = b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"a" * framing.MAX_HEAD_BYTES + b"\r\n\r\n"
    assert refused(stream).detail in ("response head too large", "invalid header", "not valid HTTP/1.1")
    # fed in pieces the cap is what stops it (never unbounded memory)
    with pytest.raises(BadResponse) as err:
        parse(stream[: framing.MAX_HEAD_BYTES + 100])
    assert err.value.detail == "response head too large"


def test_too_many_header_lines():
    lines = b"".join(b"X-%d: v\r\n" % i for i in range(framing.MAX_HEADERS + 1))
    assert refused(b"HTTP/1.1 200 OK\r\n" + lines + b"\r\n").detail == "too many header lines"
    lines = b"".join(b"X-%d: v\r\n" % i for i in range(framing.MAX_HEADERS - 1))
    reader, _ = both(b"HTTP/1.1 200 OK\r\n" + lines + b"Content-Length: 0\r\n\r\n")
    assert len(reader.raw_headers) == framing.MAX_HEADERS


def test_interim_answers_do_not_count_towards_the_header_cap():
    interim = b"HTTP/1.1 103 Early Hints\r\n" + b"".join(b"Link: <%d>\r\n" % i for i in range(100)) + b"\r\n"
    reader, _ = both(interim * 3 + b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert reader.status == 200 and reader.raw_headers == [(b"Content-Length", b"0")]


def test_close_drops_references():
    reader, _ = parse(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    reader.close()
    assert reader._parser is None and reader._sink is None


# -- out: request heads and chunks --------------------------------------------------------


def test_request_head_bytes():
    head = request_head("POST", "/a?b=c", [("Host", "up:80"), ("Content-Length", "3"), ("X-É", "café")])
    assert head == ("POST /a?b=c HTTP/1.1\r\nHost: up:80\r\nContent-Length: 3\r\nX-É: café\r\n\r\n").encode()


def test_request_head_without_headers():
    assert request_head("GET", "/", []) == b"GET / HTTP/1.1\r\n\r\n"


@pytest.mark.parametrize("headers, target", [
    ([("X-A", "a\r\nX-Injected: 1")], "/"),
    ([("X-A", "a\nGET /evil HTTP/1.1")], "/"),
    ([("X-A", "a\rb")], "/"),
    ([("X-A", "a\0b")], "/"),
    ([("X-A\r\nX-B", "b")], "/"),
    ([], "/ HTTP/1.1\r\nX-Injected: 1\r\n"),
    ([], "/\0"),
])
def test_request_head_refuses_line_breaks_and_nul(headers, target):
    with pytest.raises(ValueError):
        request_head("GET", target, headers)


def test_chunk_framing():
    assert chunk(b"hello") == b"5\r\nhello\r\n"
    assert chunk(b"x" * 255) == b"ff\r\n" + b"x" * 255 + b"\r\n"
    assert framing.LAST_CHUNK == b"0\r\n\r\n"


def test_what_we_frame_parses_back():
    """Our chunked encoding read by the same strict parser (as a response body): no drift."""
    body = b"".join(chunk(bytes([65 + i]) * (i * 37 + 1)) for i in range(20)) + framing.LAST_CHUNK
    reader, events = both(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    assert events[1] == b"".join(bytes([65 + i]) * (i * 37 + 1) for i in range(20))
    assert reader.complete and reader.keep_alive


# -- found by review: each failed before its fix ---------------------------------------


def test_trailers_without_end_are_capped():
    stream = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nX-T: "
    sink = Sink()
    reader = ResponseReader(sink)
    reader.feed(stream)
    with pytest.raises(BadResponse) as err:
        for _ in range(framing.MAX_HEAD_BYTES // 4096 + 2):
            reader.feed(b"a" * 4096)
    assert err.value.detail == "response trailers too large"
    assert sink.events == ["head", b"hello"]


def test_a_long_chunked_body_is_not_mistaken_for_trailers():
    body = b"".join(chunk(b"x" * 1000) for _ in range(1000)) + framing.LAST_CHUNK
    reader, events = parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    assert reader.complete and events[1] == b"x" * 1_000_000


def test_an_interim_answer_with_a_body_is_refused_not_passed_off_as_the_body():
    bad = refused(b"HTTP/1.1 150 Odd\r\nContent-Length: 7\r\n\r\nINJECT!HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")
    assert bad.detail == "an interim (1xx) response with a body"


@pytest.mark.parametrize("coding", [b"gzip", b"chunked, gzip", b"xchunked"])
def test_a_transfer_coding_not_ending_in_chunked_reads_until_close(coding):
    reader, events = both(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: " + coding + b"\r\n\r\nabcdef", eof=True)
    assert reader.close_delimited and reader.complete and events == ["head", b"abcdef", "complete"]


def test_chunked_after_another_coding_is_framed():
    reader, events = both(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")
    assert not reader.close_delimited and reader.complete and events == ["head", b"abc", "complete"]


@pytest.mark.parametrize("reason", [b"O\x7fK", b"O\x0bK", b"O\x00K"])
def test_control_characters_in_the_reason_are_refused(reason):
    refused(b"HTTP/1.1 200 " + reason + b"\r\nContent-Length: 0\r\n\r\n")


def test_tab_in_the_reason_is_allowed():
    reader, _ = both(b"HTTP/1.1 200 O\tK\r\nContent-Length: 0\r\n\r\n")
    assert reader.reason == "O\tK"


def test_reset_reads_the_next_response_with_the_same_parser():
    sink = Sink()
    reader = ResponseReader(sink)
    reader.feed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nX-A: 1\r\n\r\nok")
    assert reader.complete and reader.keep_alive
    parser = reader._parser
    reader.reset(head_only=False)
    assert not reader.complete and reader.raw_headers == [] and reader.status == 0
    for byte in b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nnew\r\n0\r\n\r\n":
        reader.feed(bytes([byte]))
    assert reader._parser is parser
    assert (reader.status, reader.reason, reader.raw_headers) == (201, "Created", [(b"Transfer-Encoding", b"chunked")])
    assert sink.events == ["head", b"ok", "complete", "head", b"new", "complete"]
    assert reader.complete and not reader.extra
