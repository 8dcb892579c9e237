"""Response parsing alone: ``framing.ResponseReader`` (llhttp) against aiohttp's client parser.

    python -m bench.parsers

Both parse the S2 upstream's answer (a 200 with a 76-byte JSON body), a
parser made per response as the pool and aiohttp's client do; ``timeit``,
best of 5.  The measured reason for llhttp in bench/RESULTS.md.
"""

from __future__ import annotations

import asyncio
import timeit

from aiohttp.base_protocol import BaseProtocol
from aiohttp.http_parser import HttpResponseParser

from gateway.server.framing import ResponseReader

from .configs import SMALL_JSON_BYTES

RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: %d\r\n"
            b"Date: Sat, 05 Dec 2026 05:00:00 GMT\r\nServer: Python/3.11 aiohttp/3.14.5\r\n\r\n"
            % len(SMALL_JSON_BYTES)) + SMALL_JSON_BYTES


class _Sink:
    def on_head(self) -> None:
        pass

    def on_body(self, data: bytes) -> None:
        pass

    def on_complete(self) -> None:
        pass


def main(number: int = 100_000) -> None:
    sink = _Sink()

    def ours() -> None:
        reader = ResponseReader(sink)
        reader.feed(RESPONSE)
        reader.close()

    loop = asyncio.new_event_loop()
    protocol = BaseProtocol(loop)

    def aiohttps() -> None:
        parser = HttpResponseParser(protocol, loop, 2**16, max_line_size=8190, max_field_size=8190)
        messages, _, _ = parser.feed_data(RESPONSE)
        messages[0][1].read_nowait()

    for name, run in (("framing.ResponseReader (llhttp via httptools)", ours),
                      ("aiohttp HttpResponseParser + StreamReader", aiohttps)):
        best = min(timeit.repeat(run, number=number, repeat=5)) / number
        print(f"{name:48s} {best * 1e6:6.2f} us per response")
    loop.close()


if __name__ == "__main__":
    main()
