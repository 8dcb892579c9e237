"""flask-cors's options as the app wrote them, and flask-cors's own reading of them.

Mirrored from flask-cors's source (``flask_cors/core.py``, 6.0): the
defaults, the ``CORS_*`` config keys, the ``probably_regex`` heuristic that
decides whether a string is a regex, ``re_fix``, ``ensure_iterable``,
``flexible_str`` and the order of a ``resources`` dict.  ``Opt`` is one
option's value with the source line it was written on; ``options_from_*``
read a call's keywords or a dict literal into ``Options``.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from typing import Any

from .findings import Site
from .source import Project, Regex, SourceFile, Unresolved

__all__ = [
    "DEFAULT_OPTIONS", "FC_ALL_METHODS", "FC_CONFIG_KEYS", "FC_DEFAULTS", "Opt", "Options", "ensure_list",
    "flexible_str", "options_from_dict", "options_from_keywords", "probably_regex", "re_fix", "resource_sort_key",
]


FC_ALL_METHODS = ["GET", "HEAD", "POST", "OPTIONS", "PUT", "PATCH", "DELETE"]
FC_DEFAULTS: dict[str, Any] = {
    "origins": "*",
    "methods": FC_ALL_METHODS,
    "allow_headers": "*",
    "expose_headers": None,
    "supports_credentials": False,
    "max_age": None,
    "send_wildcard": False,
    "automatic_options": True,
    "vary_header": True,
    "resources": r"/*",
    "intercept_exceptions": True,
    "always_send": True,
    "allow_private_network": False,
}
FC_CONFIG_KEYS = {f"CORS_{name.upper()}": name for name in FC_DEFAULTS}
# flask-cors's own heuristic: a string with any of these is compiled as a regex.
_REGEX_HINT_CHARS = frozenset("*\\]?$^[]()")


def probably_regex(value: str | Regex) -> bool:
    """flask-cors's test for "this string is a regex" (core.probably_regex)."""
    return isinstance(value, Regex) or not _REGEX_HINT_CHARS.isdisjoint(value)


def re_fix(value: Any) -> Any:
    """flask-cors turns a bare ``*`` into the regex ``.*`` (core.re_fix)."""
    return ".*" if value == "*" else value


def resource_sort_key(pattern: str | Regex) -> tuple[int, int, int, int]:
    """The order of a ``resources`` dict (core.parse_resources): literals, compiled, regex strings."""
    if isinstance(pattern, Regex):
        return (1, 0, -pattern.pattern.count("/"), -len(pattern.pattern))
    if probably_regex(pattern):
        return (1, 1, -pattern.count("/"), -len(pattern))
    return (0, 0, -pattern.count("/"), -len(pattern))


def flexible_str(value: Any) -> str | None:
    """How flask-cors renders methods and expose_headers (core.flexible_str)."""
    if value is None:
        return None
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(str(item) for item in sorted(value, key=str))
    return str(value)


def ensure_list(value: Any) -> list:
    """A scalar (or string) as a one-item list (core.ensure_iterable)."""
    if isinstance(value, (list, tuple, set, frozenset)):
        return list(value)
    return [value]


@dataclass(frozen=True)
class Opt:
    """One flask-cors option: its value and where it was written (None: flask-cors's default)."""

    value: Any
    site: Site | None = None
    node: ast.expr | None = field(default=None, compare=False, repr=False)  # the expression written
    file: SourceFile | None = field(default=None, compare=False, repr=False)  # the file it is in


Options = dict[str, Opt]
DEFAULT_OPTIONS: Options = {name: Opt(value) for name, value in FC_DEFAULTS.items()}


def options_from_keywords(project: Project, file: SourceFile, keywords: list[ast.keyword]) -> Options:
    """Options passed as ``name=value``; ``**spread`` is expanded when it is a literal dict."""
    options: Options = {}
    for keyword in keywords:
        if keyword.arg is not None:
            site = (file.display, keyword.value.lineno)
            options[keyword.arg] = Opt(project.value(file, keyword.value), site, keyword.value, file)
            continue
        owner, node = project.node_of(file, keyword.value)
        if isinstance(node, ast.Dict):
            options.update(options_from_dict(project, owner, node))
        else:
            options["**"] = Opt(Unresolved(file.segment(keyword.value)), (file.display, keyword.value.lineno))
    return options


def options_from_dict(project: Project, file: SourceFile, node: ast.Dict) -> Options:
    """Options written as a dict literal ``{"origins": ..., ...}``, key by key."""
    options: Options = {}
    for key, value in zip(node.keys, node.values, strict=True):
        key_value = project.value(file, key) if key is not None else None
        where = (file.display, value.lineno)
        if not isinstance(key_value, str):
            options["**"] = Opt(Unresolved(file.segment(value)), where)
            continue
        options[key_value] = Opt(project.value(file, value), where, value, file)
    return options
