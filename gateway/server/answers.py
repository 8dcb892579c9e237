"""What the gateway writes itself: its own answers, and the CORS headers it puts on the upstream's.

``_answer`` is every response the gateway makes (400, 403, 404, 413, 502,
504, a refused preflight), with the decision's CORS headers so that an
allowed frontend can read the error.  ``_decorator`` edits a proxied
response's head: the upstream's own ``Access-Control-*`` headers are
stripped (one source of truth), the decision's added, ``Vary`` merged
without duplicates.  (An allowed preflight's 204 is written as prebuilt
bytes by ``listener._PreflightAnswer``.)
"""

from __future__ import annotations

from aiohttp import web
from multidict import CIMultiDict

from ..policy import Decision
from .headers import REQUEST_ID, _set_request_id

__all__ = ["merge_vary"]


_BAD_PATH = "bad request path: dot-segments, backslashes, '#', control characters and invalid UTF-8 are refused\n"
_NO_ROUTE = "no route matches this request\n"
_BAD_HEADER = "bad request header: header values must be valid UTF-8 (and Host ASCII)\n"
_BAD_TRANSFER_ENCODING = "unsupported Transfer-Encoding: only chunked is accepted\n"
_CSRF_REFUSED = "cross-site request refused: unsafe method from an origin this route does not allow (csrf)\n"
_TOO_LARGE = {
    414: "request line too long (listen.max_request_line)\n",
    431: "request header fields too large or too many (listen.max_header_size, listen.max_headers)\n",
}


def merge_vary(headers: CIMultiDict, tokens: tuple[str, ...]) -> None:
    """Add ``tokens`` to the Vary header(s), case-insensitively without duplicates."""
    if not tokens:
        return
    existing = headers.getall("Vary", ())
    if not existing:
        headers["Vary"] = ", ".join(tokens)
        return
    values: list[str] = []
    seen: set[str] = set()
    for line in existing:
        for item in line.split(","):
            item = item.strip()
            if item and item.lower() not in seen:
                seen.add(item.lower())
                values.append(item)
    if "*" in seen:  # "Vary: *" already says everything varies
        headers["Vary"] = "*"
        return
    for token in tokens:
        if token.lower() not in seen:
            seen.add(token.lower())
            values.append(token)
    headers["Vary"] = ", ".join(values)


def _answer(status: int, text: str, decision: Decision | None, request_id: str) -> web.Response:
    """A response made by the gateway itself, with the decision's CORS headers."""
    if text:
        response = web.Response(status=status, text=text, content_type="text/plain", charset="utf-8")
    else:
        response = web.Response(status=status)
    headers = response.headers
    headers["Server"] = "cors-gateway"
    headers[REQUEST_ID] = request_id
    if decision is not None:
        headers.extend(decision.headers)
        merge_vary(headers, decision.vary)
    return response


def _decorator(decision: Decision | None, request_id: str):
    """The response-head editor for an enforce (or off) route: ``decorate(status, headers)``.

    (On an enforce route the upstream's own ``Access-Control-*`` headers are
    already gone: ``UpstreamPool.forward(strip_cors=True)``.)
    """

    def decorate(status: int, headers: CIMultiDict) -> None:
        _set_request_id(headers, request_id)
        if decision is not None:
            headers.extend(decision.headers)
            merge_vary(headers, decision.vary)

    return decorate
