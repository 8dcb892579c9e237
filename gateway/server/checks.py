"""What the gateway checks about a request besides its CORS policy.

Framing and header bytes it could not pass on faithfully (request
smuggling, a Host or Origin the upstream would read differently), WebSocket
handshakes (RFC 6455), whether a request is same-origin, and ``csrf:
sec-fetch-site``.  Each is a pure function of the request (and the config).
"""

from __future__ import annotations

import base64
import binascii

from aiohttp import HttpVersion11, web

from ..policy import SAME_ORIGIN, CorsPolicy, Decision
from .answers import _BAD_HEADER, _BAD_TRANSFER_ENCODING
from .headers import client_scheme_and_host, is_trusted


def _unforwardable(request: web.BaseRequest) -> str | None:
    """Why the gateway cannot pass this request on faithfully (a 400's text), or None.

    aiohttp's parser refuses Content-Length with Transfer-Encoding,
    duplicate lengths and obsolete line folding; it accepts codings before
    "chunked", which this proxy cannot pass on faithfully.  Refuse rather
    than forward a body the upstream could read differently (request
    smuggling).  Header values that are not UTF-8 (or a Host that is not
    ASCII): aiohttp reads such bytes as surrogates and its client drops them
    when writing, so the upstream would get another value (another Host,
    another Origin) than the one judged here.
    """
    encodings = request.headers.getall("Transfer-Encoding", ())
    if encodings and (len(encodings) != 1 or encodings[0].strip().lower() != "chunked"):
        return _BAD_TRANSFER_ENCODING
    for name, value in request.raw_headers:
        if not value.isascii() and (not _is_utf8(value) or name.lower() == b"host"):
            return _BAD_HEADER
    return None


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _cross_site_forgery(fetch_site: str | None, has_origin: bool, decision: Decision) -> bool:
    """``csrf: sec-fetch-site``: is this unsafe request a cross-site forgery to refuse?

    CORS never stops a "simple" cross-site POST from reaching the server; this
    does.  Browsers say where a request comes from in Sec-Fetch-Site: from the
    same origin or typed by the user ("same-origin", "none") always passes;
    from another site ("same-site", "cross-site") passes only for an origin the
    route's policy allows.  Without Sec-Fetch-Site (older browsers, non-browser
    clients) the Origin decides: a disallowed one is refused, none passes.
    """
    if fetch_site is not None:
        site = fetch_site.strip().lower()
        if site in ("same-origin", "none"):
            return False
        return decision.allowed is not True
    return has_origin and decision.allowed is False


def _off_route_judgement(request: web.BaseRequest, policy: CorsPolicy, origins: tuple[str, ...],
                         trusted_proxies: tuple) -> Decision:
    """What csrf judges a ``mode: off`` route's request by: the route's origins, nothing else of its policy."""
    if not origins:
        return policy.non_cors
    if _same_origin(request, origins, trusted_proxies):
        return SAME_ORIGIN
    return policy.actual(request.method, origins)


def _is_websocket(request: web.BaseRequest) -> bool:
    headers = request.headers
    upgrade = headers.get("Upgrade")
    return (
        upgrade is not None
        and upgrade.strip().lower() == "websocket"
        and request.method == "GET"
        and "upgrade" in {t.strip().lower() for t in headers.get("Connection", "").split(",")}
    )


def _bad_websocket_handshake(request: web.BaseRequest) -> str | None:
    """What is wrong with a client's WebSocket handshake (RFC 6455 4.1), or None."""
    headers = request.headers
    if request.version != HttpVersion11:
        return "HTTP/1.1 is required"
    versions = headers.getall("Sec-WebSocket-Version", ())
    if len(versions) != 1 or versions[0].strip() != "13":
        return "Sec-WebSocket-Version must be 13"
    keys = headers.getall("Sec-WebSocket-Key", ())
    if len(keys) != 1:
        return "exactly one Sec-WebSocket-Key is required"
    try:
        key = base64.b64decode(keys[0].strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != 16:
        return "Sec-WebSocket-Key must be 16 bytes in base64"
    return None


def _same_origin(request: web.BaseRequest, origins: tuple[str, ...], trusted_proxies: tuple) -> bool:
    """Is this request from the origin the client used to reach the gateway?

    ``Sec-Fetch-Site: same-origin`` says so (browsers set it, and no page can
    forge it); without that header, the ``Origin`` must equal the scheme and
    ``Host`` the client used (behind a trusted proxy, its
    ``X-Forwarded-Proto``/``-Host``), default port omitted as browsers do.
    ``same-site`` is not same-origin.
    """
    if len(origins) != 1:
        return False
    sites = request.headers.getall("Sec-Fetch-Site", ())
    if sites:
        return len(sites) == 1 and sites[0].strip().lower() == "same-origin"
    trusted = bool(trusted_proxies) and is_trusted(request.remote or "", trusted_proxies)
    scheme, host = client_scheme_and_host(request, trusted)
    host = host.strip().lower()
    if not host:
        return False
    default = ":80" if scheme == "http" else ":443"
    if host.endswith(default):
        host = host[: -len(default)]
    return origins[0] == f"{scheme}://{host}"
