"""Pass 2, the meaning: a validated schema (``schema._Config``) compiled into ``settings.GatewayConfig``.

``_Compiler`` checks what a schema cannot and makes the security refusals:
the admin and public listeners must not share a port; an admin listener off
loopback needs ``admin.token`` (16 to 1024 visible ASCII characters, from the
key, the environment or ``admin.token_file``); ``trusted_proxies`` must be
addresses or networks and must not, even together, cover an address family;
upstream URLs are ``scheme://host[:port]`` only; a route has exactly one of
``path`` (a prefix, no glob) and ``path_regex`` (RE2), a known upstream, a
unique name, and a ``host`` that is a host name only.  Each ``cors`` block is
checked by ``_CorsChecks`` (``checks.py``).  Every problem is collected;
``compile`` raises one ConfigError listing them all.

I/O: it loads the files the config names, as the server will, so that
``check`` catches what would fail at start: ``admin.token_file`` is read,
each upstream's ``ca_file`` is loaded into an SSL context, and
``listen.tls``'s certificate and key are loaded (``tls.server_context``).
"""

from __future__ import annotations

import ipaddress
import re
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from urllib.parse import urlsplit

import re2

from ..origins import PatternError, normalize_host
from ..pathregex import compile_path_regex
from ..settings import (
    AccessLogSettings,
    ClientLimits,
    GatewayConfig,
    MetricsSettings,
    Route,
    TlsSettings,
    Upstream,
)
from .checks import _CorsChecks
from .errors import ConfigError
from .mistakes import _glob_path_message
from .schema import _Admin, _Config, _Cors, _Route, _Tls, _Upstream

# admin.token: long enough not to be guessed, short enough for a header line.
MIN_ADMIN_TOKEN = 16
MAX_ADMIN_TOKEN = 1024
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]*")


def is_loopback(host: str) -> bool:
    """Does a listener on ``host`` accept loopback connections only (127.0.0.0/8, ::1, localhost)?

    Anything else (0.0.0.0, "", an interface's address, another name) may be
    reachable from other machines.
    """
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


class _Compiler(_CorsChecks):
    """Compiles one config; ``errors`` and ``warnings`` hold what it found."""

    def __init__(self, source: str):
        super().__init__()
        self.source = source

    def compile(self, model: _Config) -> GatewayConfig:
        if model.listen.port == model.admin.port and model.listen.port != 0:
            self.error("admin.port", "the admin listener must not share the public listener's port")
        admin_token = self._admin_token(model.admin)
        upstreams = {name: self._upstream(name, up) for name, up in model.upstreams.items()}
        defaults_cors = self._cors(model.defaults.cors, _Cors(), "defaults.cors", "defaults.cors")
        routes = []
        names: dict[str, int] = {}
        for index, route in enumerate(model.routes):
            compiled = self._route(index, route, model, upstreams)
            if compiled is None:
                continue
            if compiled.name in names:
                self.error(
                    f"routes.{index}.name",
                    f"route name {compiled.name!r} is already used by routes.{names[compiled.name]}; "
                    "names label metrics and must be unique",
                )
            names[compiled.name] = index
            routes.append(compiled)
        trusted_proxies = self._trusted_proxies(model.listen.trusted_proxies)
        tls = self._tls(model.listen.tls) if model.listen.tls is not None else None
        if self.errors:
            raise ConfigError(self.errors, self.warnings)
        return GatewayConfig(
            listen_host=model.listen.host,
            listen_port=model.listen.port,
            keepalive_timeout=model.listen.keepalive_timeout,
            max_client_connections=model.listen.max_connections,
            limits=ClientLimits(
                header_timeout=model.listen.header_timeout,
                max_request_line=model.listen.max_request_line,
                max_header_size=model.listen.max_header_size,
                max_headers=model.listen.max_headers,
                max_body_size=model.listen.max_body_size,
                send_timeout=model.listen.send_timeout,
                body_timeout=model.listen.body_timeout,
                max_connections_per_ip=model.listen.max_connections_per_ip,
            ),
            trusted_proxies=trusted_proxies,
            tls=tls,
            admin_host=model.admin.host,
            admin_port=model.admin.port,
            admin_token=admin_token,
            recent_rejections=model.admin.recent_rejections,
            shutdown_timeout=model.shutdown_timeout,
            cache_size=model.cache_size,
            metrics=MetricsSettings(model.metrics.max_origin_labels),
            access_log=AccessLogSettings(model.access_log.enabled, model.access_log.sample_rate),
            upstreams=upstreams,
            routes=tuple(routes),
            defaults_cors=defaults_cors,
            warnings=tuple(self.warnings),
            source=self.source,
        )

    def _tls(self, tls: _Tls) -> TlsSettings:
        """listen.tls, checked by loading it as the listener will (``tls.server_context``)."""
        from ..tls import TlsError, server_context

        settings = TlsSettings(tls.cert_file, tls.key_file, tls.min_version)
        try:
            server_context(settings)
        except TlsError as err:
            self.error(f"listen.tls.{err.key}", str(err))
        return settings

    def _trusted_proxies(self, entries: list[str]) -> tuple[IPv4Network | IPv6Network, ...]:
        networks = []
        for index, entry in enumerate(entries):
            try:
                network = ipaddress.ip_network(entry.strip(), strict=True)
            except ValueError as err:
                self.error(f"listen.trusted_proxies.{index}",
                           f"{entry!r} is not an IP address or network ({err}); e.g. \"10.0.0.0/8\" or \"127.0.0.1\"")
                continue
            mapped = network.network_address.ipv4_mapped if network.version == 6 else None
            if mapped is not None and network.prefixlen >= 96:
                # ::ffff:a.b.c.d is how an IPv4 peer looks on a dual-stack socket.
                network = ipaddress.ip_network(f"{mapped}/{network.prefixlen - 96}")
            if network.prefixlen == 0:
                self.error(f"listen.trusted_proxies.{index}",
                           f"{entry!r} trusts every client to set X-Forwarded-For/-Proto/-Host; list the proxies' "
                           "own addresses instead")
                continue
            networks.append((entry, network))
        for version, everything in ((4, "0.0.0.0/0"), (6, "::/0")):
            family = [(entry, network) for entry, network in networks if network.version == version]
            if any(net.prefixlen == 0 for net in ipaddress.collapse_addresses(n for _, n in family)):
                listed = ", ".join(repr(entry) for entry, _ in family[:6]) + (", ..." if len(family) > 6 else "")
                self.error(
                    "listen.trusted_proxies",
                    f"together the entries {listed} cover every IPv{version} address, as {everything} would: "
                    "that trusts every client to set X-Forwarded-For/-Proto/-Host; list the proxies' own "
                    "addresses instead",
                )
        return tuple(network for _, network in networks)

    def _admin_token(self, admin: _Admin) -> str | None:
        """The admin bearer token (admin.token or admin.token_file), checked.  No message may contain it."""
        token, path = admin.token, "admin.token"
        if admin.token_file is not None:
            if token is not None:
                self.error(
                    "admin.token_file",
                    "give admin.token (CORS_GATEWAY_ADMIN_TOKEN) or admin.token_file "
                    "(CORS_GATEWAY_ADMIN_TOKEN_FILE), not both",
                )
            else:
                path = "admin.token_file"
                try:
                    raw = Path(admin.token_file).read_bytes()
                except OSError as err:
                    self.error(path, f"cannot read the token file {admin.token_file}: {err.strerror or err}")
                    return None
                token = raw.strip(b" \t\r\n").decode("latin-1")
        if token is None:
            if not is_loopback(admin.host):
                self.error(
                    "admin.token",
                    f"required when the admin listener is not on loopback (admin.host is {admin.host!r}): "
                    "anyone who reaches that port could read /metrics; set admin.token (or "
                    f"CORS_GATEWAY_ADMIN_TOKEN, or admin.token_file) to at least {MIN_ADMIN_TOKEN} random "
                    "characters, e.g. from openssl rand -hex 32, or bind admin.host: 127.0.0.1",
                )
            return None
        what = "the token" if path == "admin.token" else "the file's token"
        if not _VISIBLE_ASCII.fullmatch(token):
            self.error(path, f"{what} must be visible ASCII characters only (no spaces or control characters)")
        elif len(token) < MIN_ADMIN_TOKEN:
            self.error(
                path,
                f"{what} is too short ({len(token)} characters): use at least {MIN_ADMIN_TOKEN} random "
                "characters, e.g. from openssl rand -hex 32",
            )
        elif len(token) > MAX_ADMIN_TOKEN:
            self.error(path, f"{what} is too long ({len(token)} characters): at most {MAX_ADMIN_TOKEN}")
        return token

    def _upstream(self, name: str, up: _Upstream) -> Upstream:
        path = f"upstreams.{name}.url"
        parts = urlsplit(up.url)
        url = up.url
        if parts.scheme not in ("http", "https") or not parts.hostname:
            self.error(path, 'must be an absolute http:// or https:// URL, e.g. "http://127.0.0.1:5000"')
        elif parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
            self.error(path, "must be scheme://host[:port] only (the request path is forwarded as it is)")
        else:
            try:
                parts.port  # noqa: B018 - raises on a bad port
            except ValueError:
                self.error(path, "invalid port")
            url = f"{parts.scheme}://{parts.netloc}"
        ca_file = up.ca_file
        if ca_file is not None:
            import ssl

            try:
                ssl.create_default_context(cafile=ca_file)
            except (OSError, ssl.SSLError) as err:
                self.error(f"upstreams.{name}.ca_file", f"cannot load the CA bundle: {err}")
            if parts.scheme != "https":
                self.warn(f"upstreams.{name}.ca_file", "only used for https:// upstreams")
        return Upstream(
            name, url, up.connect_timeout, up.read_timeout, up.max_connections, up.preserve_host, ca_file,
            up.request_buffering,
        )

    def _route(self, index: int, route: _Route, model: _Config, upstreams: dict) -> Route | None:
        base = f"routes.{index}"
        if (route.path is None) == (route.path_regex is None):
            self.error(base, "give exactly one of path (a prefix) or path_regex")
        if route.path is not None and not route.path.startswith("/"):
            self.error(f"{base}.path", 'must start with "/"')
        elif route.path is not None and "*" in route.path:
            self.error(f"{base}.path", _glob_path_message(route.path))
        if route.path_regex is not None:
            try:
                compile_path_regex(route.path_regex)  # Python-like \d, \w, \s and "." (gateway/pathregex.py)
            except re2.error as err:
                detail = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else str(err)
                self.error(f"{base}.path_regex", f"invalid regex (RE2 syntax): {detail}")
        if route.upstream not in upstreams:
            known = ", ".join(sorted(upstreams))
            self.error(f"{base}.upstream", f"unknown upstream {route.upstream!r} (defined: {known})")
        host = self._route_host(route.host, f"{base}.host") if route.host else None
        cors = self._cors(route.cors, model.defaults.cors, f"{base}.cors", "defaults.cors")
        name = route.name or route.path or route.path_regex or base
        return Route(index, name, route.upstream, cors, route.path, route.path_regex, host, route.csrf)

    def _route_host(self, value: str, path: str) -> str:
        """A route's ``host``, normalised as a browser sends it (lowercase, IDN in Punycode), or an error."""
        problem = None
        if "://" in value:
            problem = "a scheme"
        elif any(c.isspace() for c in value):
            problem = "whitespace"
        elif "@" in value:
            problem = "a user name"
        elif "/" in value or "?" in value or "#" in value:
            problem = "a path"
        elif ":" in value and not (value.startswith("[") and value.endswith("]")):
            try:
                ipaddress.IPv6Address(value)
                problem = f"an IPv6 address without brackets (write [{value}])"
            except ValueError:
                problem = "a port"
        if problem is not None:
            self.error(
                path,
                f'give the host name only, e.g. "api.example.com" (found {problem} in {value!r}): routes match '
                "on the request's host name and ignore its port, so this route would never match",
            )
            return value.lower()
        try:
            return normalize_host(value)
        except PatternError as err:
            self.error(path, str(err))
            return value.lower()

