"""Reading the config: the file's text, and YAML into plain data.

The loader refuses duplicate keys (silently keeping the last is a trap) and
keys that are lists or mappings.  An unquoted ``*`` (``origins: *``) starts a
YAML alias, and YAML's own message does not say so: such a value is read as
the quoted string it was meant to be and reported with its key path, so the
rest of the config is still validated and every problem is reported together.

The only I/O here is ``read_config_text`` reading the config file.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from ..settings import Issue
from .environment import SECRET_KEYS
from .errors import ConfigError


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
        # The value is not repeated: which key it belongs to is unknown here,
        # and it may be a secret (admin.token: *s3cr3t...).
        problem = "found an undefined YAML alias; a value that starts with * is a YAML alias: put the whole value " \
                  "in double quotes"
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
    issues = []
    for index, line, quoted in stars:
        path = paths.get(index, source)
        # A secret's value is never repeated, not even as the fix.
        fix = "put the whole value in double quotes" if path in SECRET_KEYS else f"quote it: {quoted}"
        issues.append(Issue(path, f"an unquoted * starts a YAML alias (line {line}); {fix}"))
    return issues


def read_config_text(path: str | os.PathLike) -> str:
    """The config file's text, or ConfigError (missing, unreadable, not UTF-8)."""
    source = str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Issue(source, "config file not found")]) from None
    except (OSError, UnicodeDecodeError) as err:
        raise ConfigError([Issue(source, f"cannot read config file: {err}")]) from None

