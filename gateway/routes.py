"""The route table: which route (and so which policy and upstream) a request takes.

Routes are tried in file order; the first match wins.  ``path`` is a prefix
that respects segment boundaries (``/api`` matches ``/api`` and ``/api/x`` but
not ``/apiary``; ``/api/`` matches everything below ``/api/``), ``path_regex``
must match the whole path (RE2, linear time), and an optional ``host`` must
equal the request's host name (port ignored).  Matching is case-sensitive,
as URL paths are: ``/API/`` never takes ``/api/``'s policy.

Routes are matched on the path *as the upstream will read it*: Flask (and
most frameworks) percent-decode the path, and Werkzeug merges repeated
slashes, so ``normalize_path`` does the same for matching, while the raw path
is forwarded untouched.  A path with dot-segments (``/public/../admin``,
``/public/%2e%2e/admin``) or a backslash is refused with 400: upstreams
disagree on how to resolve those, so no policy could be applied safely.

Pure code: the gateway and ``cors-gateway explain`` share it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import re2

from .cache import DecisionCache
from .config import GatewayConfig, Route
from .origins import QUIET_RE2
from .policy import CorsPolicy

__all__ = ["CompiledRoute", "RouteTable", "normalize_path"]

_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_SLASHES = re.compile(r"//+")


def _decode(match: re.Match) -> str:
    return chr(int(match.group(1), 16))


def normalize_path(path: str) -> str | None:
    """The path to match routes on, or None if the request must be refused (400)."""
    if not path.startswith("/"):
        return None
    if "%" not in path and "//" not in path and "/." not in path and "\\" not in path:
        return path  # the common case: nothing to do
    if "%" in path:
        path = _ESCAPE.sub(_decode, path)
    if "\\" in path:
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
        self.regex = re2.compile(route.path_regex, options=QUIET_RE2) if route.path_regex is not None else None
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
            CompiledRoute(route, CorsPolicy(route.name, route.cors, self.cache)) for route in config.routes
        )
        self._matchers = tuple((_PathMatcher(r.route), r) for r in self.routes)
        # Most configs match on paths only: then the Host header is never parsed.
        self._uses_host = any(r.route.host is not None for r in self.routes)
        # Errors for unmatched paths (404) are judged by defaults.cors.
        self.fallback = CorsPolicy("__no_route__", config.defaults_cors, self.cache)

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
