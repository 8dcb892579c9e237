"""The headers that cross the gateway: what goes upstream, what comes back, and X-Request-Id.

Upstream-bound requests lose hop-by-hop and forwarding headers and gain the
gateway's X-Forwarded-* (a client's own are believed only from a peer in
``listen.trusted_proxies``); responses lose hop-by-hop and Proxy-* headers.
Every request has one X-Request-Id: the client's if it looks like an id, else
a generated one.
"""

from __future__ import annotations

import ipaddress
import random
import re

from aiohttp import web
from multidict import CIMultiDict, CIMultiDictProxy

from ..settings import Upstream

__all__ = ["REQUEST_ID", "client_scheme_and_host", "forwarded_headers", "hop_by_hop_names", "is_trusted",
           "upstream_request_headers"]


REQUEST_ID = "X-Request-Id"
# A client's X-Request-Id is forwarded only if it looks like an id; anything
# else is replaced, so request input never reaches logs or upstreams unchecked.
_REQUEST_ID_SHAPE = re.compile(r"[A-Za-z0-9._:@/+=-]{1,128}")

# Request ids correlate log lines; they grant nothing, so they need to be
# unique, not unpredictable.  A per-process generator seeded from the OS once
# costs ~0.2 us; secrets.token_hex cost a getrandom() syscall per request
# (8 % of a preflight's CPU in the profile).
_ids = random.Random()  # seeded from os.urandom in each (spawned) process


def _new_request_id() -> str:
    return f"{_ids.getrandbits(64):016x}"


# RFC 9110 7.6.1 plus the legacy names proxies must not forward.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade"}
)
# Request headers never forwarded: Expect is answered by the gateway itself,
# Forwarded is client-supplied and replaced by the X-Forwarded-* set below.
_NOT_FORWARDED = frozenset({"expect", "forwarded"})
_NEVER_FORWARDED = _HOP_BY_HOP | _NOT_FORWARDED
# Client-address headers some apps trust; only a trusted proxy's are passed on.
_CLIENT_ADDRESS_HEADERS = frozenset({"x-real-ip", "true-client-ip", "x-client-ip", "cf-connecting-ip"})
_NEVER_FORWARDED_UNTRUSTED = _NEVER_FORWARDED | _CLIENT_ADDRESS_HEADERS
_REPLACED_PREFIXES = ("proxy-", "x-forwarded-")


def hop_by_hop_names(headers: CIMultiDictProxy | CIMultiDict) -> set[str]:
    """Lowercase names never to forward: the fixed set plus those Connection names."""
    names = set(_HOP_BY_HOP)
    for value in headers.getall("Connection", ()):
        for token in value.split(","):
            token = token.strip().lower()
            if token:
                names.add(token)
    return names


# The names dropped on the common path (no Connection header), by (trusted
# peer, preserve_host, a request id replaces the client's): built once.
_DROPPED = {
    (trusted, preserve_host, with_id): frozenset(
        (_NEVER_FORWARDED if trusted else _NEVER_FORWARDED_UNTRUSTED)
        | (set() if preserve_host else {"host"}) | ({REQUEST_ID.lower()} if with_id else set()))
    for trusted in (False, True) for preserve_host in (False, True) for with_id in (False, True)
}


def upstream_request_headers(
    request: web.BaseRequest,
    upstream: Upstream,
    request_id: str | None,
    also_drop: frozenset[str] = frozenset(),
    trusted_proxies: tuple = (),
) -> CIMultiDict:
    """``forwarded_headers`` as a CIMultiDict (the WebSocket handshake edits them)."""
    return CIMultiDict(forwarded_headers(request, upstream, request_id, also_drop, trusted_proxies)[0])


def forwarded_headers(
    request: web.BaseRequest,
    upstream: Upstream,
    request_id: str | None,
    also_drop: frozenset[str] = frozenset(),
    trusted_proxies: tuple = (),
) -> tuple[list[tuple[str, str]], bool, bool]:
    """The headers sent upstream: the client's, less hop-by-hop and forwarding
    headers, plus the gateway's X-Forwarded-* and X-Request-Id; and whether
    they hold a Host and a Content-Length.

    A client's own X-Forwarded-For/-Proto/-Host are believed only from a peer
    in ``listen.trusted_proxies`` (a load balancer in front of the gateway):
    its chain is kept and the peer appended.  From anyone else they are
    replaced, and the other client-address headers some apps trust
    (X-Real-IP, True-Client-IP, X-Client-IP, CF-Connecting-IP) are dropped, so
    a client cannot make the upstream log or trust a made-up address, scheme
    or host.
    """
    incoming = request.headers
    peer = request.remote or ""
    trusted = bool(trusted_proxies) and is_trusted(peer, trusted_proxies)
    preserve_host = upstream.preserve_host
    drop = _DROPPED[trusted, preserve_host, request_id is not None]
    if also_drop or "Connection" in incoming:
        drop = hop_by_hop_names(incoming) | also_drop | drop
    headers = [(name, value) for name, value in incoming.items()
               if not ((lower := name.lower()) in drop or lower.startswith(_REPLACED_PREFIXES))]
    proto, host = client_scheme_and_host(request, trusted)
    forwarded_for = incoming.getall("X-Forwarded-For", ()) if trusted else None
    headers.append(("X-Forwarded-For", ", ".join([*forwarded_for, peer]) if forwarded_for else peer))
    headers.append(("X-Forwarded-Proto", proto))
    if host:
        headers.append(("X-Forwarded-Host", host))
    if request_id is not None:
        headers.append((REQUEST_ID, request_id))
    has_host = "host" not in drop and "Host" in incoming
    has_length = "content-length" not in drop and "Content-Length" in incoming
    return headers, has_host, has_length


def client_scheme_and_host(request: web.BaseRequest, trusted: bool) -> tuple[str, str]:
    """The scheme and Host the client used to reach the gateway.

    The connection's own (``https`` on a TLS listener) and the ``Host``
    header; when the peer is a trusted proxy (``trusted``), its single
    ``X-Forwarded-Proto`` (leftmost item, if ``http`` or ``https``) and
    ``X-Forwarded-Host`` (leftmost item) instead.  The host may be "".
    """
    incoming = request.headers
    proto = request.scheme
    host = incoming.get("Host", "")
    if trusted:
        protos = incoming.getall("X-Forwarded-Proto", ())
        if len(protos) == 1:
            # A chain of proxies may send "https, http": the leftmost is the client's.
            first = protos[0].split(",", 1)[0].strip().lower()
            if first in ("http", "https"):
                proto = first
        hosts = incoming.getall("X-Forwarded-Host", ())
        if len(hosts) == 1 and hosts[0].strip():
            host = hosts[0].split(",", 1)[0].strip()
    return proto, host


def is_trusted(peer: str, networks: tuple) -> bool:
    try:
        address = ipaddress.ip_address(peer.partition("%")[0])
    except ValueError:
        return False
    if address.version == 6 and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks if network.version == address.version)


# Response header prefixes never passed on: without, and with the upstream's CORS headers.
_DROPPED_PREFIXES = {False: ("proxy-",), True: ("proxy-", "access-control-")}


def _response_headers(raw_headers, strip_cors: bool = False) -> CIMultiDict:
    """The upstream's response headers to pass on: all but hop-by-hop ones
    (including those its Connection names), Proxy-*, and with ``strip_cors``
    Access-Control-* (the gateway's decision replaces them).  Names and values are
    decoded from the raw bytes as UTF-8 with surrogateescape, as aiohttp's
    server decodes requests: ``upstream._relay_written`` encodes them back
    byte for byte; aiohttp's writer (the ``_ProxiedResponse`` cases) keeps
    UTF-8 as sent and drops bytes that are not UTF-8."""
    kept = []
    named: set[str] | None = None
    dropped = _DROPPED_PREFIXES[strip_cors]
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1")  # a token (framing's parser is strict): ASCII
        lower = name.lower()
        if lower in _HOP_BY_HOP or lower.startswith(dropped):
            if lower == "connection":
                named = named or set()
                named.update(t.strip().lower() for t in raw_value.decode("utf-8", "surrogateescape").split(","))
            continue
        try:
            value = raw_value.decode()  # the common case, and the cheapest decode
        except UnicodeDecodeError:
            value = raw_value.decode("utf-8", "surrogateescape")
        kept.append((name, value))
    if named:
        kept = [(name, value) for name, value in kept if name.lower() not in named]
    return CIMultiDict(kept)


def _set_request_id(headers: CIMultiDict, request_id: str) -> None:
    """The upstream's own X-Request-Id if it set one (never a second value), else ours."""
    ids = headers.getall(REQUEST_ID, ())
    if not ids:
        headers[REQUEST_ID] = request_id
    elif len(ids) > 1:
        headers[REQUEST_ID] = ids[0]
