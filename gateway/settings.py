"""The validated config as the engine and the server use it: frozen dataclasses.

``config`` (the loader) builds these from YAML; ``policy``, ``routes`` and the
server read them.  Standard library only (and ``origins.Pattern``), so the
engine depends on no loader, schema library or YAML parser.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from ipaddress import IPv4Network, IPv6Network

from .origins import Pattern

__all__ = [
    "DEFAULT_METHODS",
    "AccessLogSettings",
    "ClientLimits",
    "CorsSettings",
    "Csrf",
    "EnvValue",
    "GatewayConfig",
    "Issue",
    "MetricsSettings",
    "Mode",
    "OnReject",
    "RefusedPreflight",
    "Route",
    "TlsSettings",
    "Upstream",
]

class Mode(StrEnum):
    """``cors.mode``: apply the policy, compare it with the upstream's, or proxy untouched."""

    ENFORCE = "enforce"
    SHADOW = "shadow"
    OFF = "off"


class OnReject(StrEnum):
    """``cors.on_reject``: forward a rejected actual request without CORS headers, or answer 403."""

    OMIT = "omit"
    BLOCK = "block"


class RefusedPreflight(StrEnum):
    """``cors.refused_preflight``: how a preflight from an allowed origin refused for its method or a
    header is answered.

    ``name_cause``: 200 with the route's ``Access-Control-Allow-Origin`` (and credentials), methods
    and headers, which leave out the requested one, so the browser still refuses and its console
    names the method or header.  ``plain_403``: 403 without CORS headers (the browser only says the
    preflight failed).
    """

    NAME_CAUSE = "name_cause"
    PLAIN_403 = "plain_403"


class Csrf(StrEnum):
    """``routes[].csrf``: refuse cross-site unsafe requests judged by Sec-Fetch-Site, or not."""

    OFF = "off"
    SEC_FETCH_SITE = "sec-fetch-site"


# flask-cors's default method list (less OPTIONS, whose preflight the gateway
# answers itself), so a migrating team keeps its behaviour.
DEFAULT_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


@dataclass(frozen=True, slots=True)
class Issue:
    """One config problem: where it is and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True, slots=True)
class EnvValue:
    """A key whose value came from the environment (``${NAME}`` in the file, or a ``CORS_GATEWAY_*`` override)."""

    path: str
    variables: tuple[str, ...]  # "${NAME}" for each reference in the value, or the override's "CORS_GATEWAY_..."
    shown: str  # the value as the gateway read it (JSON), or "(secret, not shown)"
    defaulted: tuple[str, ...] = ()  # the variables that were not set, so their default was used

    def __str__(self) -> str:
        unset = f"; {', '.join(self.defaulted)} not set: default used" if self.defaulted else ""
        return f"{self.path} = {self.shown}  (from {', '.join(self.variables)}{unset})"


@dataclass(frozen=True, slots=True)
class Upstream:
    name: str
    url: str  # scheme://host[:port], no trailing slash
    connect_timeout: float
    read_timeout: float
    max_connections: int
    preserve_host: bool
    ca_file: str | None = None  # CA bundle for https upstreams (default: the system's)
    # Request bodies up to this many bytes are read whole before the upstream
    # request starts (a slow uploader cannot pin a sync worker); 0: always stream.
    request_buffering: int = 1024 * 1024


@dataclass(frozen=True, slots=True)
class CorsSettings:
    """A route's effective CORS settings, after merging over defaults."""

    origins: tuple[Pattern, ...] = ()
    methods: tuple[str, ...] | None = DEFAULT_METHODS  # None: any method
    allow_headers: tuple[str, ...] | None = None  # None: "*" (requested names echoed)
    expose_headers: tuple[str, ...] | None = ()  # None: "*"
    supports_credentials: bool = False
    max_age: int | None = None
    allow_private_network: bool = False
    on_reject: OnReject = OnReject.OMIT
    mode: Mode = Mode.ENFORCE
    refused_preflight: RefusedPreflight = RefusedPreflight.NAME_CAUSE
    # Where each key's value was written: ("origins", "defaults.cors.origins"), ...; a key
    # left at the built-in default is named where the route would set it.
    key_paths: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    def key_path(self, key: str, block: str) -> str:
        """The config key path to edit for ``key`` (``block``: the route's cors block, for keys not recorded)."""
        for name, path in self.key_paths:
            if name == key:
                return path
        return f"{block}.{key}"

    def __post_init__(self) -> None:
        # The loader passes the YAML's strings; the enums compare equal to them.
        object.__setattr__(self, "on_reject", OnReject(self.on_reject))
        object.__setattr__(self, "mode", Mode(self.mode))
        object.__setattr__(self, "refused_preflight", RefusedPreflight(self.refused_preflight))


@dataclass(frozen=True, slots=True)
class Route:
    index: int
    name: str
    upstream: str
    cors: CorsSettings
    path: str | None = None
    path_regex: str | None = None
    host: str | None = None
    csrf: Csrf = Csrf.OFF  # sec-fetch-site: refuse cross-site unsafe requests from disallowed origins

    def __post_init__(self) -> None:
        object.__setattr__(self, "csrf", Csrf(self.csrf))


@dataclass(frozen=True, slots=True)
class MetricsSettings:
    max_origin_labels: int = 100  # distinct origin label values per route, then "__other__"


@dataclass(frozen=True, slots=True)
class AccessLogSettings:
    enabled: bool = True
    sample_rate: float = 1.0  # share of allowed, non-5xx requests logged


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """The public listener's TLS (``listen.tls``): HTTPS only when set."""

    cert_file: str  # PEM certificate chain, re-read on reload and when the file changes
    key_file: str  # PEM private key
    min_version: str = "1.2"  # "1.2" or "1.3"


@dataclass(frozen=True, slots=True)
class ClientLimits:
    """What one client request may cost before the gateway refuses it (``listen.*``)."""

    header_timeout: float = 10.0  # seconds from a request's first byte to the end of its head
    max_request_line: int = 8190  # bytes; longer gets 414
    max_header_size: int = 8190  # bytes per header line; longer gets 431
    max_headers: int = 100  # header lines; more get 431
    max_body_size: int = 100 * 1024 * 1024  # bytes; 0 = unlimited; larger gets 413
    send_timeout: float = 60.0  # seconds a write to the client may stall; then the connection is closed
    body_timeout: float = 60.0  # seconds to receive a buffered request body (request_buffering); then 408
    max_connections_per_ip: int = 256  # open connections per client address (trusted proxies exempt)


@dataclass(frozen=True, slots=True)
class GatewayConfig:
    listen_host: str
    listen_port: int
    admin_host: str
    admin_port: int
    shutdown_timeout: float
    cache_size: int
    upstreams: dict[str, Upstream]
    routes: tuple[Route, ...]
    defaults_cors: CorsSettings
    metrics: MetricsSettings = MetricsSettings()
    access_log: AccessLogSettings = AccessLogSettings()
    keepalive_timeout: float = 75.0  # seconds an idle client connection is kept open
    max_client_connections: int = 10_000  # open client connections per process; more are closed at once
    # The admin listener's bearer token (admin.token or admin.token_file); /metrics needs it when set.
    admin_token: str | None = field(default=None, repr=False)
    # Rejections (and shadow disagreements) the admin page keeps per process (admin.recent_rejections).
    recent_rejections: int = 200
    limits: ClientLimits = ClientLimits()
    # Peers whose X-Forwarded-* headers are kept (and extended); anyone else's are replaced.
    trusted_proxies: tuple[IPv4Network | IPv6Network, ...] = ()
    tls: TlsSettings | None = None  # listen.tls: the public listener is HTTPS only
    warnings: tuple[Issue, ...] = field(default=())
    source: str = "<string>"
    # Keys set from the environment (${NAME} in the file, CORS_GATEWAY_* overrides), for `check`.
    environment: tuple[EnvValue, ...] = ()
