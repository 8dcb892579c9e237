r"""The route table: which route (and so which policy and upstream) a request takes.

Routes are tried in file order; the first match wins.  ``path`` is a prefix
that respects segment boundaries (``/api`` matches ``/api`` and ``/api/x`` but
not ``/apiary``; ``/api/`` matches everything below ``/api/``), ``path_regex``
must match the whole path (RE2, linear time), and an optional ``host`` must
equal the request's host name (port ignored).  Matching is case-sensitive,
as URL paths are: ``/API/`` never takes ``/api/``'s policy.

Routes are matched on the path *as the upstream will route on it*.  A WSGI
server (gunicorn) percent-decodes the request-target's path to bytes
(``PATH_INFO``, latin-1 of those bytes) and Werkzeug decodes them as UTF-8,
so ``normalize_path`` percent-decodes to bytes (raw non-ASCII bytes count as
the bytes they are) and decodes them as strict UTF-8; Werkzeug merges
repeated slashes (it redirects to the merged path), so they are merged for
matching.  (Werkzeug first tries the path as sent, where a ``<path:...>``
converter takes an empty segment: ``/api/admin//users/5`` is served by
``/api/<path:rest>`` while the merged path takes ``/api/admin/users/<int:id>``'s
route, the narrower one; tests/unit/test_path_agreement.py pins this.)  The
raw path is forwarded untouched.  Refused with 400, because
upstreams disagree on them or would read them differently from this code:

* dot-segments (``/public/../admin``, ``/public/%2e%2e/admin``) and
  backslashes (raw or ``%5C``): resolved differently by each upstream;
* ``#`` in the target: a fragment to most servers (gunicorn cuts the path
  there), so the upstream routes on less than was sent;
* control characters (``%00``-``%1F``, ``%7F``, raw too): cut, refused or
  passed on depending on the server, and ``\n`` ends ``.`` in Python regexes;
* invalid UTF-8 (``%FF``, a lone ``%C3``): Werkzeug turns it into U+FFFD,
  other stacks into latin-1 or an error; no one path to match.

``path_regex`` is compiled by ``gateway.pathregex.compile_path_regex``: ``.``
matches every character and ``\d``, ``\w``, ``\s`` are Unicode, as in
Python's ``re`` (Werkzeug's ``<int:id>`` serves ``/users/١``), so a path the
upstream routes to a narrow route cannot skip it for a broader one.

Pure code: the gateway and ``cors-gateway explain`` share it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote_to_bytes

from .cache import DecisionCache
from .pathregex import compile_path_regex
from .policy import CorsPolicy
from .settings import GatewayConfig, Route

__all__ = ["CompiledRoute", "RouteTable", "normalize_path"]

_SLASHES = re.compile(r"//+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def normalize_path(path: str) -> str | None:
    """The path to match routes on, or None if the request must be refused (400).

    ``path``: the request-target before ``?`` as aiohttp gives it (the raw
    bytes decoded as UTF-8 with ``surrogateescape``).
    """
    if (
        path[:1] == "/"
        and path.isascii()
        and path.isprintable()  # on ASCII: no control character
        and "%" not in path
        and "//" not in path
        and "/." not in path
        and "\\" not in path
        and "#" not in path
    ):
        return path  # the common case: nothing to do
    if not path.startswith("/") or "#" in path or "\\" in path:
        return None
    try:
        raw = path.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:  # a lone surrogate that is no escaped byte
        return None
    try:
        path = unquote_to_bytes(raw).decode("utf-8")  # gunicorn's unquote, Werkzeug's UTF-8
    except UnicodeDecodeError:
        return None
    if "\\" in path or _CONTROL.search(path) is not None:
        return None
    if "//" in path:
        path = _SLASHES.sub("/", path)
    if "/." in path:
        for segment in path.split("/"):
            if segment == "." or segment == "..":
                return None
    return path


@dataclass(frozen=True, slots=True)
class CompiledRoute:
    route: Route
    policy: CorsPolicy
    # Copied out of ``route`` once: read on every request.
    name: str = field(init=False)
    mode: str = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", self.route.name)
        object.__setattr__(self, "mode", self.route.cors.mode)


class _PathMatcher:
    __slots__ = ("prefix", "exact", "regex", "host")

    def __init__(self, route: Route):
        self.host = route.host
        self.regex = compile_path_regex(route.path_regex) if route.path_regex is not None else None
        path = route.path or "/"
        if path.endswith("/"):
            self.prefix, self.exact = path, None
        else:
            self.prefix, self.exact = path + "/", path

    def matches(self, host: str | None, path: str) -> bool:
        if self.host is not None and host != self.host:
            return False
        if self.regex is not None:
            return self.regex.fullmatch(path) is not None
        return path.startswith(self.prefix) or path == self.exact


class RouteTable:
    """Compiled routes plus the no-route policy (``defaults.cors``)."""

    def __init__(self, config: GatewayConfig, cache: DecisionCache | None = None):
        self.cache = cache or DecisionCache(config.cache_size)
        self.config = config
        self.routes = tuple(
            CompiledRoute(route, CorsPolicy(route.name, route.cors, self.cache, f"routes.{route.index}.cors"))
            for route in config.routes
        )
        self._matchers = tuple((_PathMatcher(r.route), r) for r in self.routes)
        # Most configs match on paths only: then the Host header is never parsed.
        self._uses_host = any(r.route.host is not None for r in self.routes)
        # Errors for unmatched paths (404) are judged by defaults.cors.
        self.fallback = CorsPolicy("__no_route__", config.defaults_cors, self.cache, "defaults.cors")

    def match(self, host_header: str | None, path: str) -> CompiledRoute | None:
        host = _host_name(host_header) if self._uses_host else None
        for matcher, route in self._matchers:
            if matcher.matches(host, path):
                return route
        return None


def _host_name(host_header: str | None) -> str | None:
    if not host_header:
        return None
    host = host_header.strip().lower()
    if host.startswith("["):
        end = host.find("]")
        return host[: end + 1] if end > 0 else host
    return host.rsplit(":", 1)[0].rstrip(".") if ":" in host else host.rstrip(".")
