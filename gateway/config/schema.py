"""Pass 1, the shape of the config: the pydantic models of the YAML's keys.

Types, ranges, defaults and unknown keys (typos: every model forbids extra
keys).  The models are only the schema: ``compiler.py`` turns a validated
``_Config`` into the frozen ``settings`` objects the engine uses, and
``recovery.py`` turns pydantic's errors into key paths.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Tls(_Model):
    cert_file: str
    key_file: str
    min_version: Literal["1.2", "1.3"] = "1.2"

    @field_validator("min_version", mode="before")
    @classmethod
    def _yaml_number(cls, value: Any) -> Any:
        # YAML reads an unquoted 1.2 as a number.
        return str(value) if isinstance(value, float) else value


class _Listen(_Model):
    host: str = "0.0.0.0"
    port: int = Field(8080, ge=0, le=65535, strict=True)
    keepalive_timeout: float = Field(75.0, gt=0, le=3600)
    max_connections: int = Field(10_000, ge=1, strict=True)
    header_timeout: float = Field(10.0, gt=0, le=3600)
    max_request_line: int = Field(8190, ge=256, le=1_048_576, strict=True)
    max_header_size: int = Field(8190, ge=256, le=1_048_576, strict=True)
    max_headers: int = Field(100, ge=8, le=10_000, strict=True)
    max_body_size: int = Field(100 * 1024 * 1024, ge=0, strict=True)
    send_timeout: float = Field(60.0, gt=0, le=3600)
    body_timeout: float = Field(60.0, gt=0, le=3600)
    max_connections_per_ip: int = Field(256, ge=1, strict=True)
    trusted_proxies: list[str] = Field(default_factory=list)
    tls: _Tls | None = None


class _Admin(_Model):
    host: str = "127.0.0.1"
    port: int = Field(9090, ge=0, le=65535, strict=True)
    token: str | None = Field(None, repr=False)  # a secret: never in a repr, log or error message
    token_file: str | None = None
    recent_rejections: int = Field(200, ge=0, le=10_000, strict=True)


class _Upstream(_Model):
    url: str
    connect_timeout: float = Field(5.0, gt=0)
    read_timeout: float = Field(60.0, gt=0)
    max_connections: int = Field(100, ge=1, strict=True)
    preserve_host: bool = True
    ca_file: str | None = None
    request_buffering: int = Field(1024 * 1024, ge=0, le=1024 * 1024 * 1024, strict=True)


StrOrList = str | list[str]


class _Cors(_Model):
    origins: StrOrList | None = None
    methods: StrOrList | None = None
    allow_headers: StrOrList | None = None
    expose_headers: StrOrList | None = None
    supports_credentials: bool | None = None
    max_age: int | None = Field(None, ge=0, strict=True)
    allow_private_network: bool | None = None
    on_reject: Literal["omit", "block"] | None = None
    mode: Literal["enforce", "shadow", "off"] | None = None
    refused_preflight: Literal["name_cause", "plain_403"] | None = None

    @field_validator("mode", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        # YAML 1.1 reads an unquoted `off` as false.
        return "off" if value is False else value


class _Defaults(_Model):
    cors: _Cors = _Cors()


class _Route(_Model):
    name: str | None = None
    path: str | None = None
    path_regex: str | None = None
    host: str | None = None
    upstream: str
    cors: _Cors = _Cors()
    csrf: Literal["off", "sec-fetch-site"] = "off"

    @field_validator("csrf", mode="before")
    @classmethod
    def _yaml_off(cls, value: Any) -> Any:
        return "off" if value is False else value


class _MetricsSettings(_Model):
    max_origin_labels: int = Field(100, ge=0, le=10_000, strict=True)


class _AccessLog(_Model):
    enabled: bool = True
    sample_rate: float = Field(1.0, ge=0.0, le=1.0)


class _Config(_Model):
    listen: _Listen = _Listen()
    admin: _Admin = _Admin()
    shutdown_timeout: float = Field(30.0, ge=0)
    cache_size: int = Field(10_000, ge=1, le=10_000_000, strict=True)
    metrics: _MetricsSettings = _MetricsSettings()
    access_log: _AccessLog = _AccessLog()
    upstreams: dict[str, _Upstream] = Field(min_length=1)
    defaults: _Defaults = _Defaults()
    routes: list[_Route] = Field(min_length=1)


# The keys of a cors block, and those of them that take a string or a list.
_CORS_KEYS = tuple(_Cors.model_fields)
_STR_OR_LIST_KEYS = ("origins", "methods", "allow_headers", "expose_headers")
