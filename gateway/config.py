"""Load and validate the YAML config into immutable typed objects.

``parse_config`` is the one place YAML becomes data (``check``, ``run``,
``explain`` and every reload go through it).  Before validation, an unquoted
``*`` is read as the quoted string it was meant to be (and reported),
``${NAME}``/``${NAME:-default}`` in string values are filled from the given
environment, a string given for a list-valued key is split on commas, and the
``CORS_GATEWAY_*`` overrides are applied.

Validation happens in two passes, and *all* problems are reported together:

1. Shape (pydantic): types, ranges, unknown keys (typos), with the key path of
   each error (``routes.0.cors.max_age: ...``).
2. Meaning (this module): each route's ``cors`` is merged over
   ``defaults.cors`` (a route's key replaces the default's key, no list union),
   origin patterns are parsed, and security mistakes are refused: ``*`` (or a
   ``re:`` pattern that matches any origin) with credentials or with
   private-network access, unanchored ``re:`` patterns, wildcards over public
   suffixes; ``re:`` patterns that match strangers' sites and wildcards with
   public suffixes below them, with credentials or private-network access;
   ``trusted_proxies`` that together cover an address family; a route
   ``host`` that is more than a host name; an admin listener off loopback
   without ``admin.token``.  The classic mistakes are refused with what to
   write instead: a glob in a prefix ``path``, ``//*`` in a ``re:`` pattern,
   several comma-separated entries in one list item.
   Errors name the key where the offending value was written (the route's or
   ``defaults.cors``).

When pass 1 fails, pass 2 still runs on the data without the values pass 1
refused, so a typo elsewhere cannot hide a security mistake; pass 1's errors
come first.

Nothing here does I/O beyond reading the file, and nothing is compiled for the
hot path: ``policy.py`` and ``routes.py`` turn these objects into matchers.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import os
import re
from dataclasses import replace
from ipaddress import IPv4Network, IPv6Network
from pathlib import Path
from types import UnionType
from typing import Any, Literal, Union, get_args, get_origin
from urllib.parse import urlsplit

import re2
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .http import TOKEN
from .origins import (
    Pattern,
    PatternError,
    normalize_host,
    parse_pattern,
    public_suffix_below,
    regex_matches_any,
    regex_matches_foreign,
    regex_matches_http,
    wildcard_host,
)
from .pathregex import compile_path_regex
from .settings import (
    DEFAULT_METHODS,
    AccessLogSettings,
    ClientLimits,
    CorsSettings,
    EnvValue,
    GatewayConfig,
    Issue,
    MetricsSettings,
    Route,
    TlsSettings,
    Upstream,
)

__all__ = [
    "ConfigError",
    "CorsSettings",
    "EnvValue",
    "GatewayConfig",
    "Issue",
    "Route",
    "Upstream",
    "load_config",
    "parse_config",
    "read_config_text",
    "split_list",
    "DEFAULT_CONFIG_PATH",
]

DEFAULT_CONFIG_PATH = "config/gateway.yaml"

CHROMIUM_MAX_AGE_CAP = 7200

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

_TOKEN = TOKEN  # RFC 9110 token

HTTP_WITH_CREDENTIALS = (
    "an http:// origin with credentials: anyone on the network path can inject script into that origin "
    "and act as your users"
)
# The fix for a re: pattern that lets in strangers' sites.
REGEX_FIX = r"put \. before each domain and list your domains, e.g. re:^https://([a-z0-9-]+\.)?example\.com$"
WILDCARD_FIX = "list your own origins, or a wildcard under a name only you control"


class ConfigError(Exception):
    """The config cannot be loaded; ``errors`` lists every problem found."""

    def __init__(self, errors: list[Issue], warnings: list[Issue] | None = None):
        self.errors = errors
        self.warnings = warnings or []
        super().__init__("\n".join(str(e) for e in errors))


# --------------------------------------------------------------------------
# Pass 1: shape
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# The immutable result
# --------------------------------------------------------------------------


# --------------------------------------------------------------------------
# YAML loading (refuses duplicate keys: silently keeping the last is a trap)
# --------------------------------------------------------------------------


class _StrictLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    loader.flatten_mapping(node)
    result: dict = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        try:
            hash(key)
        except TypeError:
            raise yaml.constructor.ConstructorError(
                None, None, "mapping keys must be plain values, not lists or mappings", key_node.start_mark
            ) from None
        if key in result:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r}", key_node.start_mark
            )
        result[key] = loader.construct_object(value_node, deep=deep)
    return result


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(text: str, source: str) -> tuple[Any, list[Issue]]:
    """The YAML data, and the unquoted ``*`` values it had to quote to read it.

    An unquoted ``*`` (``origins: *``) starts a YAML alias, and YAML's own
    message ("expected alphabetic or numeric character") does not say so.
    Such a value is read as the quoted string it was meant to be, and an error
    names its key path and says to quote it; the rest of the config is then
    validated as usual, so every problem is reported together.
    """
    stars: list[tuple[int, int, str]] = []  # (index in the fixed text, line, quoted value)
    while True:
        try:
            data = yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - SafeLoader subclass
            break
        except yaml.YAMLError as err:
            fixed = _quote_star(text, err) if len(stars) < 100 else None
            if fixed is None:
                raise ConfigError([*_star_issues(stars, {}, source), _yaml_issue(err, source)]) from None
            text, star = fixed
            stars.append(star)
    if not stars:
        return data, []
    return data, _star_issues(stars, _scalar_paths(yaml.compose(text, Loader=_StrictLoader)), source)


def _yaml_issue(err: yaml.YAMLError, source: str) -> Issue:
    mark = getattr(err, "problem_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
    problem = getattr(err, "problem", None) or str(err)
    undefined = re.fullmatch(r"found undefined alias '(.*)'", problem)
    if undefined:  # origins: *foo
        problem += f"; a value that starts with * is a YAML alias: quote it: {_double_quoted('*' + undefined[1])}"
    buffer = getattr(mark, "buffer", None)
    if buffer and mark.pointer > 0 and buffer[mark.pointer - 1 : mark.pointer + 1] == "${":  # {origins: ${X}}
        problem += '; inside [...] or {...} quote a variable reference: "${NAME}"'
    return Issue(source, f"invalid YAML{where}: {problem}")


def _double_quoted(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _quote_star(text: str, err: yaml.YAMLError) -> tuple[str, tuple[int, int, str]] | None:
    """``text`` with the unquoted ``*...`` value that caused ``err`` double-quoted, or None."""
    mark = getattr(err, "context_mark", None)
    if not isinstance(err, yaml.scanner.ScannerError) or err.context != "while scanning an alias" or mark is None:
        return None
    start = mark.index
    if text[start : start + 1] != "*":
        return None
    line_start = text.rfind("\n", 0, start) + 1
    before = text[line_start:start]
    in_flow = before.count("[") + before.count("{") > before.count("]") + before.count("}")
    end = start
    while end < len(text) and text[end] not in "\r\n" and not (in_flow and text[end] in ",]}"):
        if text[end] == "#" and text[end - 1] in " \t":
            break
        end += 1
    value = text[start:end].rstrip(" \t")
    quoted = _double_quoted(value)
    return text[:start] + quoted + text[start + len(value) :], (start, mark.line + 1, quoted)


def _scalar_paths(node: yaml.Node | None, prefix: str = "") -> dict[int, str]:
    """{index of a scalar value in the text: its key path} for a composed YAML document."""
    paths: dict[int, str] = {}
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            paths.update(_scalar_paths(value, f"{prefix}{key.value}." if isinstance(key, yaml.ScalarNode) else prefix))
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            paths.update(_scalar_paths(value, f"{prefix}{i}."))
    elif isinstance(node, yaml.ScalarNode):
        paths[node.start_mark.index] = prefix.rstrip(".") or "<root>"
    return paths


def _star_issues(stars: list[tuple[int, int, str]], paths: dict[int, str], source: str) -> list[Issue]:
    return [
        Issue(
            paths.get(index, source),
            f"an unquoted * starts a YAML alias (line {line}); quote it: {quoted}",
        )
        for index, line, quoted in stars
    ]


def read_config_text(path: str | os.PathLike) -> str:
    """The config file's text, or ConfigError (missing, unreadable, not UTF-8)."""
    source = str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Issue(source, "config file not found")]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError([Issue(source, f"cannot read config file: {err}")]) from None


def load_config(path: str | os.PathLike | None = None, env: dict[str, str] | None = None) -> GatewayConfig:
    """Read and validate a config file; raise ConfigError listing every problem.

    ``env`` (for example ``os.environ``) fills the file's ``${NAME}``
    references (without it, only their defaults apply) and may override a few
    keys for container use, see ``ENV_OVERRIDES``.
    """
    if path is None:
        path = os.environ.get("CORS_GATEWAY_CONFIG") or DEFAULT_CONFIG_PATH
    return parse_config(read_config_text(path), source=str(path), env=env)


# Environment variables that override keys, so a sidecar needs no custom image.
ENV_OVERRIDES = {
    "CORS_GATEWAY_LISTEN_HOST": ("listen", "host"),
    "CORS_GATEWAY_LISTEN_PORT": ("listen", "port"),
    "CORS_GATEWAY_ADMIN_HOST": ("admin", "host"),
    "CORS_GATEWAY_ADMIN_PORT": ("admin", "port"),
    # Secrets come from the environment (a Kubernetes Secret), not from a ConfigMap.
    "CORS_GATEWAY_ADMIN_TOKEN": ("admin", "token"),
    "CORS_GATEWAY_ADMIN_TOKEN_FILE": ("admin", "token_file"),
}
UPSTREAM_URL_ENV = "CORS_GATEWAY_UPSTREAM_URL"  # the only upstream's url
UPSTREAM_URL_ENV_PREFIX = "CORS_GATEWAY_UPSTREAM_"  # + NAME + "_URL", NAME upper-cased, other characters as "_"


def upstream_env_name(name: str) -> str:
    return UPSTREAM_URL_ENV_PREFIX + re.sub(r"[^A-Z0-9]", "_", name.upper()) + "_URL"


def _apply_env(data: dict, env: dict[str, str], source: str) -> dict[str, str]:
    """Apply the environment overrides to the raw YAML data (before validation).

    Returns {key path: variable} for the keys it set, to name them in errors.
    """
    errors: list[Issue] = []
    applied: dict[str, str] = {}
    for variable, (section, key) in ENV_OVERRIDES.items():
        value = env.get(variable)
        if value is None:
            continue
        target = data.setdefault(section, {})
        if not isinstance(target, dict):
            continue  # the shape error is reported by validation
        target[key] = int(value) if key == "port" and value.strip().isdigit() else value
        applied[f"{section}.{key}"] = variable
    upstreams = data.get("upstreams")
    if isinstance(upstreams, dict):
        single = env.get(UPSTREAM_URL_ENV)
        if single is not None:
            if len(upstreams) != 1:
                errors.append(Issue(
                    UPSTREAM_URL_ENV,
                    f"the config has {len(upstreams)} upstreams; use {UPSTREAM_URL_ENV_PREFIX}<NAME>_URL instead",
                ))
            else:
                (name, only), = upstreams.items()
                if isinstance(only, dict):
                    only["url"] = single
                    applied[f"upstreams.{name}.url"] = UPSTREAM_URL_ENV
        for name, upstream in upstreams.items():
            variable = upstream_env_name(str(name))
            value = env.get(variable)
            if value is not None and isinstance(upstream, dict):
                upstream["url"] = value
                applied[f"upstreams.{name}.url"] = variable
    if errors:
        raise ConfigError(errors)
    return applied


def parse_config(text: str, source: str = "<string>", env: dict[str, str] | None = None) -> GatewayConfig:
    """Validate a config's text; raise ConfigError listing every problem.

    The single place YAML becomes data: ``${NAME}`` references are filled from
    ``env`` (none set when it is None), a string given for a list-valued key
    is split on commas, then the ``CORS_GATEWAY_*`` overrides (only with an
    ``env``) are applied, then the two validation passes run.
    """
    data, early = _read_yaml(text, source)
    if data is None:
        raise ConfigError([*early, Issue(source, "config is empty")])
    if not isinstance(data, dict):
        raise ConfigError([*early, Issue(source, "config must be a mapping of keys (listen, upstreams, routes, ...)")])
    unset, expanded = _expand_env(data, env or {})
    _split_list_strings(data)
    applied = _apply_env(data, env, source) if env else {}
    # A value with an unset variable stood in as "": issues about it would be about the stand-in.
    unset = [issue for issue in unset if issue.path not in applied]
    gone = {issue.path for issue in unset}
    config: GatewayConfig | None = None
    try:
        config = _validate(data, source)
        errors, warnings = [], list(config.warnings)
    except ConfigError as err:
        errors, warnings = err.errors, err.warnings
    errors = [*early, *unset, *(_annotated(e, applied, expanded) for e in errors if not _under(e.path, gone))]
    warnings = [_annotated(w, applied, expanded) for w in warnings if not _under(w.path, gone)]
    if errors:
        raise ConfigError(errors, warnings)
    assert config is not None
    return replace(config, warnings=tuple(warnings), environment=_env_values(data, env or {}, applied, expanded))


def _under(path: str, paths: set[str]) -> bool:
    return any(path == p or path.startswith(f"{p}.") for p in paths)


def _annotated(issue: Issue, applied: dict[str, str], expanded: _Expanded) -> Issue:
    """``issue`` saying which variable set the value it is about."""
    if issue.path in applied:
        return Issue(issue.path, f"{issue.message} (set by {applied[issue.path]})")
    for parts, (references, _) in expanded.items():
        if _under(issue.path, {_dotted(parts)}):
            return Issue(issue.path, f"{issue.message} (from {', '.join(references)})")
    return issue


# --------------------------------------------------------------------------
# ${NAME} in values, and strings for list-valued keys
# --------------------------------------------------------------------------

# ${NAME} or ${NAME:-default} (the default: text up to the first "}").
_REFERENCE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
_INTEGER = re.compile(r"\s*[+-]?[0-9]+\s*")
# Keys whose value is never shown: not in `check`, not in an error message.
SECRET_KEYS = ("admin.token",)


def _dotted(parts: tuple) -> str:
    return ".".join(str(p) for p in parts)


# {key path (tuple): (the "${NAME}" references used there, the variables whose default was used)}
_Expanded = dict[tuple, tuple[tuple[str, ...], tuple[str, ...]]]


def _expand_env(data: dict, env: dict[str, str]) -> tuple[list[Issue], _Expanded]:  # noqa: C901 - config split (#14)
    """Fill ``${NAME}`` and ``${NAME:-default}`` in every string value of ``data`` (never in keys), in place.

    ``$$`` is a literal ``$``; a ``$`` followed by anything else stays as it is
    (``re:^https://a\\.example\\.com$``).  The default is used when the variable
    is unset or empty.  An integer-valued key (``listen.port: ${PORT}``) gets
    the number.  Returns the errors (an unset variable without a default, a
    malformed reference; the value then has "" in its place) and {key path:
    (the references used there, the variables whose default was used)}.
    """
    errors: list[Issue] = []
    expanded: _Expanded = {}
    seen: set[int] = set()  # a YAML alias shares a container: expand it once

    def expand(text: str, parts: tuple) -> Any:
        path = _dotted(parts)
        out: list[str] = []
        references: list[str] = []
        defaulted: list[str] = []
        i = 0
        while (j := text.find("$", i)) >= 0:
            out.append(text[i:j])
            if text.startswith("$$", j):
                out.append("$")
                i = j + 2
            elif text.startswith("${", j):
                match = _REFERENCE.match(text, j)
                if match is None:
                    end = text.find("}", j)
                    i = len(text) if end < 0 else end + 1
                    shown = 'a "${"' if path in SECRET_KEYS else repr(text[j:i])  # never a secret's text
                    errors.append(Issue(path, f"{shown} is not a variable reference: write ${{NAME}} or "
                                              "${NAME:-default} (NAME: letters, digits and _), or $$ for a literal $"))
                    continue
                name, default = match[1], match[2]
                value = env.get(name)
                if value is None or (value == "" and default is not None):
                    if default is None:
                        errors.append(Issue(path, f"environment variable {name} is not set (set it, or give a "
                                                  f"default: ${{{name}:-...}})"))
                        value = ""
                    else:
                        value = default
                        defaulted.append(name)
                references.append(f"${{{name}}}")
                out.append(value)
                i = match.end()
            else:
                out.append("$")
                i = j + 1
        out.append(text[i:])
        result = "".join(out)
        if references:
            expanded[parts] = (tuple(dict.fromkeys(references)), tuple(dict.fromkeys(defaulted)))
            if _INTEGER.fullmatch(result) and _wants_int(parts):
                return int(result)
        return result

    def walk(node: Any, parts: tuple) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in list(items):
            if isinstance(value, str):
                if "$" in value:
                    node[key] = expand(value, (*parts, key))
            elif isinstance(value, (dict, list)):
                walk(value, (*parts, key))

    walk(data, ())
    return errors, expanded


def _wants_int(parts: tuple) -> bool:
    """Is the key at ``parts`` an integer (a strict one: "8080" would be refused)?"""
    annotation: Any = _Config
    for part in parts:
        if get_origin(annotation) in (Union, UnionType):  # _Tls | None: the model
            models = [a for a in get_args(annotation) if isinstance(a, type) and issubclass(a, BaseModel)]
            annotation = models[0] if len(models) == 1 else annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field_info = annotation.model_fields.get(part) if isinstance(part, str) else None
            if field_info is None:
                return False
            annotation = field_info.annotation
        elif get_origin(annotation) in (dict, list):
            annotation = get_args(annotation)[-1]
        else:
            return False
    return annotation is int or int in get_args(annotation)


def split_list(text: str) -> list[str]:
    """A comma-separated list: items trimmed, empty ones dropped.

    Commas inside (), [] or {} do not split, so a ``re:`` entry keeps its
    ``{1,3}`` and an IPv6 origin its brackets.
    """
    items: list[str] = []
    depth, start, escaped = 0, 0, False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            items.append(text[start:i])
            start = i + 1
    items.append(text[start:])
    return [item.strip() for item in items if item.strip()]


def _split_list_strings(data: dict) -> None:
    """Read a string given for a list-valued key as a comma-separated list, in place.

    ``origins: "https://a.example.com, https://b.example.com"`` (or a
    ``${CORS_ORIGINS}`` holding that) is the list of both; a string without a
    comma stays a string (one entry: its errors keep the key's path).
    """
    blocks: list[dict] = []
    defaults = data.get("defaults")
    if isinstance(defaults, dict) and isinstance(defaults.get("cors"), dict):
        blocks.append(defaults["cors"])
    routes = data.get("routes")
    for route in routes if isinstance(routes, list) else ():
        if isinstance(route, dict) and isinstance(route.get("cors"), dict):
            blocks.append(route["cors"])
    for block in blocks:
        for key in _STR_OR_LIST_KEYS:
            value = block.get(key)
            if isinstance(value, str):
                items = split_list(value)
                block[key] = items[0] if items == [value.strip()] else items
    listen = data.get("listen")
    if isinstance(listen, dict) and isinstance(listen.get("trusted_proxies"), str):
        listen["trusted_proxies"] = split_list(listen["trusted_proxies"])


def _env_values(data: dict, env: dict[str, str], applied: dict[str, str], expanded: _Expanded) -> tuple[EnvValue, ...]:
    """The keys set from the environment, with their values as read (secrets hidden), for ``check``."""
    found: dict[str, tuple[tuple[str, ...], tuple[str, ...], Any]] = {}
    for parts, (references, defaulted) in expanded.items():
        value: Any = data
        for part in parts:
            value = value[part] if isinstance(value, (dict, list)) else None
        found[_dotted(parts)] = (references, defaulted, value)
    for path, variable in applied.items():
        found[path] = ((variable,), (), env.get(variable))
    # A variable that holds a secret is not shown anywhere else either.
    secret = {v for path in SECRET_KEYS if path in found for v in found[path][0]}
    return tuple(
        EnvValue(
            path, references,
            "(secret, not shown)" if path in SECRET_KEYS or secret & set(references) else json.dumps(value),
            defaulted,
        )
        for path, (references, defaulted, value) in found.items()
    )


def _validate(data: dict, source: str) -> GatewayConfig:
    try:
        model = _Config.model_validate(data)
    except ValidationError as err:
        raise _shape_and_meaning_error(data, err, source) from None
    return _Compiler(source).compile(model)


# --------------------------------------------------------------------------
# Pass 2 despite pass 1 errors
# --------------------------------------------------------------------------

# A shape error must not hide a security mistake elsewhere (`max_age: 1.5`
# next to `"*"` with credentials).  So the values pass 1 refused are taken out
# of a copy of the data and, if what is left validates, pass 2 runs on it too.
# Its issues at or under a refused value's path are dropped: they would only
# be about the gap.  Where a gap would make pass 2 say something misleading
# elsewhere, the value is replaced by a stand-in instead:
#
# * a list item, because removing it would renumber the items after it;
# * a key of a ``cors`` block, because without it the route would fall back
#   to ``defaults.cors`` (null keeps the key set, meaning "not set");
# * an upstream, whose absence would make its routes' ``upstream`` unknown;
# * a required key, or one whose absence pass 2 judges: with no ``path`` a
#   route has "neither path nor path_regex", and a default port may clash
#   with the other listener's (port 0 never clashes).
#
# A stand-in's own issues are at the refused value's path, so they are dropped.
_MAX_PRUNE_ATTEMPTS = 5
_STAND_INS: dict[str, Any] = {"url": "", "upstream": "", "path": "", "path_regex": "", "port": 0}
_ROUTE_STAND_IN = {"path": "", "upstream": ""}
_UPSTREAM_STAND_IN = {"url": ""}


def _shape_errors(err: ValidationError) -> list[dict]:
    return [e for e in err.errors() if not _redundant_union_error(e)]


def _shape_and_meaning_error(data: dict, err: ValidationError, source: str) -> ConfigError:
    shape = _shape_errors(err)
    errors = [_pydantic_issue(e) for e in shape]
    pruned: set[str] = set()
    model = _validate_pruned(data, shape, pruned)
    if model is None:
        return ConfigError(errors)
    compiler = _Compiler(source)
    try:
        compiler.compile(model)
    except ConfigError:
        pass  # its issues are on the compiler

    def new(issue: Issue) -> bool:
        return not any(issue.path == p or issue.path.startswith(f"{p}.") for p in pruned)

    return ConfigError(
        errors + [i for i in compiler.errors if new(i)],
        [i for i in compiler.warnings if new(i)],
    )


def _validate_pruned(data: dict, shape: list[dict], pruned: set[str]) -> _Config | None:
    """Validate a copy of ``data`` without the values pydantic refused, or None.

    ``pruned`` receives the key path of every value taken out: those of pass 1,
    and any a later attempt refused (a YAML alias can share a value).
    """
    copied = copy.deepcopy(data)
    for _ in range(_MAX_PRUNE_ATTEMPTS):
        for error in shape:
            loc = tuple(p for i, p in enumerate(error["loc"]) if not _is_union_tag(error["loc"], i))
            if not _prune(copied, loc, error["type"]):
                return None
            pruned.add(_pydantic_issue(error).path)
        try:
            return _Config.model_validate(copied)
        except ValidationError as err:
            shape = _shape_errors(err)
    return None


def _prune(data: dict, loc: tuple, kind: str) -> bool:  # noqa: C901 - split with the config package (issue 14)
    """Take the value at ``loc`` out of ``data``, or put a stand-in there.

    False when that cannot fix the problem (``routes`` or ``upstreams`` is
    missing or refused as a whole).
    """
    if loc and loc[-1] == "[key]":  # a mapping key of the wrong type: drop the entry
        loc, kind = loc[:-1], "invalid_key"
    if not loc:
        return False
    parent: Any = data
    for part in loc[:-1]:
        if isinstance(parent, dict) and _has_key(parent, part):
            parent = parent[part]
        elif isinstance(parent, list) and type(part) is int and 0 <= part < len(parent):
            parent = parent[part]
        else:
            return True  # already gone with a container taken out before
    key = loc[-1]
    if isinstance(parent, list):
        if type(key) is int and 0 <= key < len(parent):
            parent[key] = copy.deepcopy(_ROUTE_STAND_IN) if loc[:-1] == ("routes",) else ""
        return True
    if not isinstance(parent, dict):
        return True
    if kind in ("extra_forbidden", "invalid_key"):
        if _has_key(parent, key):
            del parent[key]
        return True
    if len(loc) == 2 and loc[0] == "upstreams":
        parent[key] = copy.deepcopy(_UPSTREAM_STAND_IN)
    elif len(loc) >= 2 and loc[-2] == "cors" and key in _CORS_KEYS:
        parent[key] = None
    elif key in _STAND_INS:
        parent[key] = _STAND_INS[key]
    elif kind == "missing":
        return False
    elif _has_key(parent, key):
        del parent[key]
    return True


def _has_key(mapping: dict, key: Any) -> bool:
    try:
        return key in mapping
    except TypeError:  # unhashable
        return False


# pydantic reports the members of the ``str | list[str]`` cors keys as extra
# loc parts ("str", "list[str]") right after the key.  Only those positions
# are union tags: elsewhere "str" may be a user's key (an upstream's name).
_UNION_TAGS = ("str", "list[str]")
_STR_OR_LIST_KEYS = ("origins", "methods", "allow_headers", "expose_headers")


def _is_union_tag(loc: tuple, i: int) -> bool:
    return loc[i] in _UNION_TAGS and i >= 2 and loc[i - 1] in _STR_OR_LIST_KEYS and loc[i - 2] == "cors"


def _redundant_union_error(error: dict) -> bool:
    # A list with a bad item also fails the "str" member; the "list[str]"
    # member's error names the item, so the "str" one only misleads.
    loc = error["loc"]
    return bool(loc) and loc[-1] == "str" and _is_union_tag(loc, len(loc) - 1) and isinstance(error.get("input"), list)


def _pydantic_issue(error: dict) -> Issue:
    # Drop the union tags so the path is the user's key path.
    loc = error["loc"]
    parts = [str(p) for i, p in enumerate(loc) if not _is_union_tag(loc, i)]
    path = ".".join(parts) or "<root>"
    message = error["msg"]
    if error["type"] == "extra_forbidden":
        message = "unknown key (check the spelling; see README for the config reference)"
    elif error["type"] == "string_type" and error.get("input") is None and type(loc[-1]) is int:
        if "origins" in loc:
            message = f'{NO_VALUE}: for the opaque origin null, quote it: "null"'
        else:
            message = f"{NO_VALUE}: write the value, or remove the item"
    return Issue(path, message)


# --------------------------------------------------------------------------
# The classic mistakes, said with what to write instead
# --------------------------------------------------------------------------

NO_VALUE = "YAML reads an unquoted null, ~ or an empty value as no value"
# "//*" (or "\/\/*") in a re: pattern: the * repeats the "/", it is no wildcard.
_STAR_AFTER_SLASHES = re.compile(r"(?:/|\\/)(?:/|\\/)\*")
_REGEX_WILDCARD = re.compile(r"\^(https?|https\?)://\*(?:\\?\.)((?:[a-z0-9-]+\\?\.)*[a-z0-9-]+(?::[0-9]+)?)\$")


def _star_after_slashes_message(regex: str) -> str:
    """For re:^https://*.example.com$: what it does, and the two ways to write what was meant."""
    problem = '"*" right after "//" repeats the "/" (in a regex, * is no wildcard), so this never matches a subdomain'
    match = _REGEX_WILDCARD.fullmatch(regex)
    if match is None:
        return (
            f'{problem}; write a wildcard entry such as "https://*.example.com" (without re:), or a regex such as '
            r"re:^https://[a-z0-9-]+\.example\.com$"
        )
    scheme, host = match[1], match[2].replace("\\.", ".")
    schemes = {"https": ["https"], "http": ["http"]}.get(scheme, ["https", "http"])  # https? is both
    wildcards = " and ".join(f'"{s}://*.{host}"' for s in schemes)
    kind = "a wildcard entry" if len(schemes) == 1 else "wildcard entries"
    escaped = host.replace(".", "\\.")
    return (
        f"{problem} such as {schemes[0]}://app.{host}; write {wildcards} ({kind}, without re:; every subdomain, "
        f"at any depth) or re:^{scheme}://[a-z0-9-]+\\.{escaped}$"
    )


def _glob_path_message(path: str) -> str:
    """For path: /api/*: a prefix has no globs; the path (or path_regex) that says what was meant."""
    problem = (
        f'"{path}" is a prefix, not a glob: "*" is matched literally, so no real request takes this route '
        "(they get another route, or 404); "
    )
    stem = path.rstrip("*")
    if "*" in stem:
        regex = _glob_to_regex(stem) + (".*" if path.endswith(("/", "*")) else "(/.*)?")
        return f'{problem}write path_regex: "^{regex}$"'
    if stem.endswith("/"):
        return f"{problem}write path: {stem} (a prefix already matches everything below it)"
    return (
        f"{problem}write path: {stem} (matches {stem} and everything below {stem}/), or path_regex: "
        f'"^{_glob_to_regex(stem)}.*$" (every path that starts with {stem})'
    )


def _several_entries(item: str, path: str, compiler: _Compiler) -> bool:
    """Refuse a list item that holds several comma-separated entries (``["GET, POST"]``).

    A string given as the key's whole value was already split into a list
    (``_split_list_strings``): a comma left in an item was written in a list.
    """
    entries = split_list(item)
    if len(entries) < 2:
        return False
    listed = ", ".join(_double_quoted(e) for e in entries)
    compiler.error(path, f"{_double_quoted(item)} holds {len(entries)} entries: in a list, give each its own item: "
                         f"[{listed}] (a comma-separated string is read as a list only as the key's whole value)")
    return True


def _glob_to_regex(glob: str) -> str:
    """A path glob as RE2: ``**`` is anything, ``*`` one segment (or part of one)."""
    parts = re.split(r"(\*\*|\*)", glob)
    return "".join({"**": ".*", "*": "[^/]+"}.get(p, re.sub(r"([.^$|?+()\[\]{}\\])", r"\\\1", p)) for p in parts)


# --------------------------------------------------------------------------
# Pass 2: meaning
# --------------------------------------------------------------------------

_CORS_KEYS = tuple(_Cors.model_fields)


class _Compiler:
    def __init__(self, source: str):
        self.source = source
        self.errors: list[Issue] = []
        self.warnings: list[Issue] = []

    # defaults.cors is validated once on its own and again under every route
    # that inherits from it: report each problem once.
    def error(self, path: str, message: str) -> None:
        issue = Issue(path, message)
        if issue not in self.errors:
            self.errors.append(issue)

    def warn(self, path: str, message: str) -> None:
        issue = Issue(path, f"warning: {message}")
        if issue not in self.warnings:
            self.warnings.append(issue)

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
        from .tls import TlsError, server_context

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

    def _cors(self, own: _Cors, defaults: _Cors, own_path: str, defaults_path: str) -> CorsSettings:
        """Merge ``own`` over ``defaults`` and validate the result."""
        values: dict[str, Any] = {}
        where: dict[str, str] = {}
        for key in _CORS_KEYS:
            if key in own.model_fields_set:
                values[key], where[key] = getattr(own, key), f"{own_path}.{key}"
            elif key in defaults.model_fields_set:
                values[key], where[key] = getattr(defaults, key), f"{defaults_path}.{key}"
            else:
                values[key], where[key] = None, f"{own_path}.{key}"
        mode = values["mode"] or "enforce"
        credentials = bool(values["supports_credentials"])

        origins, too_broad = self._origins(values["origins"], where["origins"], credentials)
        methods = self._names(values["methods"], where["methods"], upper=True)
        allow_headers = self._names(values["allow_headers"], where["allow_headers"])
        expose_headers = self._names(values["expose_headers"], where["expose_headers"])
        settings = CorsSettings(
            origins=origins,
            methods=DEFAULT_METHODS if values["methods"] is None else methods,
            allow_headers=None if values["allow_headers"] is None else allow_headers,
            expose_headers=() if values["expose_headers"] is None else expose_headers,
            supports_credentials=credentials,
            max_age=values["max_age"],
            allow_private_network=bool(values["allow_private_network"]),
            on_reject=values["on_reject"] or "omit",
            mode=mode,
        )
        # The refusals below run in every mode, also on what parsed of a block
        # with other errors, so that all problems are reported together and
        # `mode: off` cannot smuggle an insecure block past `check`.
        any_origin = any(p.kind == "any" for p in origins)
        if credentials and any_origin:
            self.error(
                where["supports_credentials"],
                'cannot be true when origins allows "*": that would let every website act as your '
                "logged-in users (other gateways silently reflect the origin here); list the allowed origins",
            )
        if credentials and settings.expose_headers is None:
            self.error(
                where["expose_headers"],
                'browsers read "*" as a literal header name when credentials are on; list the header names',
            )
        if settings.allow_private_network and any_origin:
            self.error(
                where["allow_private_network"],
                'cannot be true when origins allows "*": every public website could reach this private '
                "service (CVE-2024-6221 in flask-cors); list the allowed origins",
            )
        if settings.allow_private_network:
            for message in too_broad:
                self.error(where["allow_private_network"], message)
        if credentials and any(p.kind == "null" for p in origins):
            self.warn(
                where["origins"],
                '"null" with credentials: any site can send Origin: null from a sandboxed iframe '
                "and act as your logged-in users",
            )
        if mode == "off":
            return settings
        if not origins and own_path != "defaults.cors":
            explicit_null = values["origins"] is None and (
                "origins" in own.model_fields_set or "origins" in defaults.model_fields_set
            )
            hint = f'; origins is null ({NO_VALUE}): for the opaque origin null, quote it: "null"'
            self.warn(
                where["origins"],
                "no origin is allowed: every cross-origin request to this route is rejected"
                + (hint if explicit_null else ""),
            )
        if settings.max_age is not None and settings.max_age > CHROMIUM_MAX_AGE_CAP:
            self.warn(where["max_age"], f"Chromium caps preflight caching at {CHROMIUM_MAX_AGE_CAP} seconds")
        return settings

    def _origins(self, value: Any, path: str, credentials: bool) -> tuple[tuple[Pattern, ...], list[str]]:
        """The parsed patterns, and the refusal of ``allow_private_network`` for each entry too broad for it."""
        if value is None:
            return (), []
        items = [value] if isinstance(value, str) else list(value)
        patterns: list[Pattern] = []
        too_broad: list[str] = []
        for i, raw in enumerate(items):
            item_path = path if isinstance(value, str) else f"{path}.{i}"
            if _several_entries(raw, item_path, self):
                continue
            try:
                pattern = parse_pattern(raw)
            except PatternError as err:
                self.error(item_path, str(err))
                continue
            if pattern.kind == "regex" and _STAR_AFTER_SLASHES.search(pattern.text):
                self.error(item_path, _star_after_slashes_message(pattern.text))
                continue
            for warning in pattern.warnings:
                self.warn(item_path, warning)
            refused = self._too_broad(pattern, item_path, credentials, too_broad)
            if credentials and pattern.kind in ("exact", "wildcard") and pattern.text.startswith("http://"):
                host = pattern.text[len("http://") :].removeprefix("*.")
                if not host.endswith("]"):  # keep an IPv6 literal whole
                    host = host.rsplit(":", 1)[0]
                # Loopback is exempt: http://*.localhost too (every name under it is loopback).
                if host not in ("localhost", "127.0.0.1", "[::1]"):
                    self.warn(item_path, HTTP_WITH_CREDENTIALS)
            elif credentials and not refused and regex_matches_http(pattern) is not None:
                self.warn(item_path, HTTP_WITH_CREDENTIALS)  # re:^https?://app\.example\.com$ and the like
            patterns.append(pattern)
        kinds = {p.kind for p in patterns}
        if "any" in kinds and kinds - {"any", "null"}:
            self.warn(path, '"*" allows every origin; the other entries are redundant')
        return tuple(patterns), too_broad

    def _too_broad(self, pattern: Pattern, path: str, credentials: bool, pna_refusals: list[str]) -> bool:
        """Judge an entry that lets in sites of strangers: an error with credentials, else a warning.

        Appends the message that refuses ``allow_private_network`` next to it
        to ``pna_refusals``.  True when the entry was refused here.
        """
        probe = regex_matches_any(pattern)
        if probe is not None:
            pna_refusals.append(
                f"cannot be true when a re: pattern in origins matches any origin ({path} matched {probe}): "
                "every public website could reach this private service (CVE-2024-6221 in flask-cors); "
                "anchor it to your own domains"
            )
            if credentials:
                self.error(
                    path,
                    f"re: pattern matches any origin (it matched {probe}); with credentials that lets every "
                    "website act as your users — anchor it to your own domains",
                )
            else:
                self.warn(
                    path, f're: pattern matches any origin (it matched {probe}); use "*" if that is what you mean'
                )
            return credentials
        foreign = regex_matches_foreign(pattern)
        if foreign is not None:
            pna_refusals.append(
                f"cannot be true when a re: pattern in origins matches sites that are not yours ({path} matched "
                f"{foreign}): any of them could reach this private service; {REGEX_FIX}"
            )
            if credentials:
                self.error(
                    path,
                    f"re: pattern matches sites that are not yours (it matched {foreign}); with credentials any "
                    f"of them could act as your users: {REGEX_FIX}",
                )
            else:
                self.warn(
                    path,
                    f"re: pattern matches sites that are not yours (it matched {foreign}), which can then read "
                    f"these responses; {REGEX_FIX}",
                )
            return credentials
        host = wildcard_host(pattern)
        below = public_suffix_below(host) if host is not None else None
        if below is not None:
            suffixes = f'public suffixes such as "{below}", under which anyone can get a name'
            covers = f'"*.{host}" covers {suffixes}'
            pna_refusals.append(
                f'cannot be true when origins has "*.{host}" ({path}), which covers {suffixes}: any site there '
                f"could reach this private service; {WILDCARD_FIX}"
            )
            if credentials:
                self.error(path, f"{covers}; with credentials any site there could act as your users: {WILDCARD_FIX}")
            else:
                self.warn(path, f"{covers}; any site there can read these responses: {WILDCARD_FIX}")
            return credentials
        return False

    def _names(self, value: Any, path: str, *, upper: bool = False) -> tuple[str, ...] | None:
        """A list of header or method names, or None for "*"."""
        if value is None:
            return ()
        items = [value] if isinstance(value, str) else list(value)
        if "*" in items:
            if len(items) > 1:
                self.warn(path, '"*" makes the other entries redundant')
            return None
        names: list[str] = []
        for i, item in enumerate(items):
            item_path = path if isinstance(value, str) else f"{path}.{i}"
            if _several_entries(item, item_path, self):
                continue
            if not _TOKEN.fullmatch(item):
                self.error(item_path, f"{item!r} is not a valid HTTP token")
                continue
            name = item.upper() if upper else item
            if name not in names:
                names.append(name)
        return tuple(names)
