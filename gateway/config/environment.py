"""The environment in the config: ``${NAME}`` references, comma lists, ``CORS_GATEWAY_*`` overrides.

Applied to the raw YAML data, in this order, before validation
(``pipeline.parse_config``):

* ``${NAME}`` and ``${NAME:-default}`` in string values are filled from the
  given environment (``_expand_env``);
* a string given for a list-valued key is split on commas (``split_list``);
* the ``CORS_GATEWAY_*`` variables override a few keys, so a sidecar needs
  no custom image (``_apply_env``).

Afterwards, issues about a value that came from the environment name the
variable (``_annotated``), and ``check`` lists the keys the environment set
(``_env_values``, secrets never shown).  Nothing here reads ``os.environ``:
the environment is the mapping passed in.
"""

from __future__ import annotations

import json
import re
from types import UnionType
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel

from ..settings import EnvValue, Issue
from .errors import ConfigError
from .schema import _STR_OR_LIST_KEYS, _Config

# --------------------------------------------------------------------------
# CORS_GATEWAY_* overrides
# --------------------------------------------------------------------------

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



# --------------------------------------------------------------------------
# ${NAME} in string values
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


def _expand_env(data: dict, env: dict[str, str]) -> tuple[list[Issue], _Expanded]:
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

    def walk(node: Any, parts: tuple) -> None:
        if id(node) in seen:
            return
        seen.add(id(node))
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in list(items):
            if isinstance(value, str):
                if "$" in value:
                    node[key] = _expand(value, (*parts, key), env, errors, expanded)
            elif isinstance(value, (dict, list)):
                walk(value, (*parts, key))

    walk(data, ())
    return errors, expanded


def _expand(text: str, parts: tuple, env: dict[str, str], errors: list[Issue], expanded: _Expanded) -> Any:
    """The string value ``text`` at key path ``parts`` with its references filled (see ``_expand_env``)."""
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


# --------------------------------------------------------------------------
# A string for a list-valued key
# --------------------------------------------------------------------------


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


# --------------------------------------------------------------------------
# What the environment set: named in issues, listed by `check`
# --------------------------------------------------------------------------


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
    # A variable that holds a secret is not shown anywhere else either.  The
    # variables are compared by name: a reference reads "${NAME}" (or
    # "${NAME:-default}"), an override "NAME".
    secret = {_variable_name(v) for path in SECRET_KEYS if path in found for v in found[path][0]}
    return tuple(
        EnvValue(
            path, references,
            "(secret, not shown)" if path in SECRET_KEYS or secret & {_variable_name(r) for r in references}
            else json.dumps(value),
            defaulted,
        )
        for path, (references, defaulted, value) in found.items()
    )


def _variable_name(reference: str) -> str:
    """NAME, from "${NAME}", "${NAME:-default}" or a bare "NAME"."""
    if reference.startswith("${") and reference.endswith("}"):
        return reference[2:-1].split(":-", 1)[0]
    return reference

