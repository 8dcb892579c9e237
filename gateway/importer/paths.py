"""Paths: Flask URL rules and flask-cors resource patterns as the gateway matches paths.

``rule_regex`` writes a Werkzeug rule (``/users/<int:id>``) as a full-match
``path_regex``, with each converter's regex as Werkzeug 3.1 defines it
(arguments included); ``rule_sample`` gives a concrete path a rule serves,
and ``resource_matches`` is flask-cors's test of a resource pattern on a
path.
"""

from __future__ import annotations

import re
from typing import Any

from .findings import WARNING, Findings, Site
from .options import probably_regex
from .source import Regex

__all__ = [
    "converter_args", "converter_regex", "matches_every_path", "regex_escape", "resource_matches", "rule_regex",
    "rule_sample",
]


# Werkzeug's rule syntax: <converter(args):name> (werkzeug/routing/rules.py).
_RULE_VARIABLE = re.compile(
    r"<(?:(?P<converter>[a-zA-Z_][a-zA-Z0-9_]*)(?:\((?P<args>.*?)\))?:)?(?P<variable>[a-zA-Z_][a-zA-Z0-9_]*)>"
)
# Werkzeug 3.1's converter regexes (werkzeug/routing/converters.py).  The
# emitted path_regex is compiled by gateway.pathregex, so \d is Unicode as in
# Python's re (<int:id> serves /users/١) and these accept exactly what the
# converters' regexes accept.  PathConverter's "[^/].*?" (no DOTALL: "." stops
# at "\n") becomes "[^/][^\n]*": the gateway's "." matches "\n".
_CONVERTERS = {
    "default": "[^/]+",
    "string": "[^/]+",
    "int": r"\d+",
    "float": r"\d+\.\d+",
    "path": "[^/][^\\n]*",
    "uuid": "[A-Fa-f0-9]{8}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{4}-[A-Fa-f0-9]{12}",
}
# Positional parameters of each converter's __init__ after ``map``.
_CONVERTER_PARAMS = {
    "default": ("minlength", "maxlength", "length"),
    "string": ("minlength", "maxlength", "length"),
    "int": ("fixed_digits", "min", "max", "signed"),
    "float": ("min", "max", "signed"),
    "path": (),
    "uuid": (),
}
_RE2_MAX_REPEAT = 1000  # RE2 refuses {n} above this
# werkzeug.routing.rules._converter_args_re, and its _pythonize.
_CONVERTER_ARG = re.compile(
    r"""
    \s*
    ((?P<name>\w+)\s*=\s*)?
    (?P<value>
        True|False|
        \d+.\d+|
        \d+.|
        \d+|
        [\w\d_.]+|
        [urUR]?(?P<stringval>"[^"]*?"|'[^']*')
    )\s*,
    """,
    re.VERBOSE,
)
_RE2_SPECIAL = set(".^$*+?()[]{}|\\")
_CONVERTER_SAMPLES = {"int": "1", "float": "1.5", "uuid": "00000000-0000-0000-0000-000000000000"}


def regex_escape(text: str) -> str:
    """Escape regex metacharacters only (what RE2 and Python agree on)."""
    return "".join("\\" + c if c in _RE2_SPECIAL else c for c in text)


def _converter_value(text: str) -> Any:
    constants = {"None": None, "True": True, "False": False}
    if text in constants:
        return constants[text]
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            pass
    if text[:1] == text[-1:] and text[:1] in ("'", '"'):
        text = text[1:-1]
    return text


def converter_args(text: str) -> tuple[list, dict] | None:
    """Werkzeug's ``parse_converter_args``: (positional, keyword) values, or None if it would refuse them."""
    text += ","
    args: list = []
    kwargs: dict = {}
    position = 0
    for item in _CONVERTER_ARG.finditer(text):
        if item.start() != position:
            return None
        value = item.group("stringval")
        value = _converter_value(item.group("value") if value is None else value)
        if item.group("name"):
            kwargs[item.group("name")] = value
        else:
            args.append(value)
        position = item.end()
    return args, kwargs  # like Werkzeug, text after the last argument it reads is ignored


def _length(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def converter_regex(converter: str, args_text: str) -> str | None:
    """The regex Werkzeug 3.1's ``converter`` matches a variable with, or None if unknown or unreadable.

    ``int``/``float``: ``signed`` adds ``-?``; ``fixed_digits``, ``min`` and
    ``max`` leave the regex alone, as in Werkzeug, which matches the rule on
    the regex and then answers 404 (it tries no other rule) when
    ``to_python`` refuses the value.  ``default``/``string``: ``minlength``,
    ``maxlength`` and ``length`` are part of the regex (``[^/]{2}``), so a
    value of another length goes to the next rule, as in Werkzeug.
    """
    parsed = converter_args(args_text) if args_text.strip() else ([], {})
    if parsed is None:
        return None
    args, kwargs = parsed
    if converter == "any":
        if kwargs or not args:
            return None
        return "(?:" + "|".join(regex_escape(str(choice)) for choice in args) + ")"
    if converter not in _CONVERTERS:
        return None
    params = _CONVERTER_PARAMS[converter]
    if len(args) > len(params) or any(name not in params for name in kwargs):
        return None
    values = {**dict(zip(params, args, strict=False)), **kwargs}
    if converter in ("int", "float"):
        return ("-?" if values.get("signed") else "") + _CONVERTERS[converter]
    if converter in ("default", "string") and values:
        if values.get("length") is not None:
            length = _length(values["length"])
            repeat = None if length is None else f"{{{length}}}"
        else:
            low = _length(values.get("minlength", 1))
            high = None if values.get("maxlength") is None else _length(values["maxlength"])
            bad_high = values.get("maxlength") is not None and high is None
            repeat = None if low is None or bad_high else f"{{{low},{'' if high is None else high}}}"
        if repeat is None or any(int(n) > _RE2_MAX_REPEAT for n in re.findall(r"\d+", repeat)):
            return None
        return "[^/]" + repeat
    return _CONVERTERS[converter]


def rule_regex(rule: str, site: Site, findings: Findings) -> str:
    """A Flask URL rule as a full-match path regex (converters as Werkzeug defines them)."""
    rule = re.sub("/{2,}", "/", rule)  # Werkzeug merges repeated slashes in rules (merge_slashes)
    out, position = [], 0
    for match in _RULE_VARIABLE.finditer(rule):
        out.append(regex_escape(rule[position : match.start()]))
        converter = match.group("converter") or "default"
        regex = converter_regex(converter, match.group("args") or "")
        if regex is not None:
            out.append(regex)
        elif converter in _CONVERTERS or converter == "any":
            fallback = _CONVERTERS.get(converter, "[^/]+")
            out.append(fallback)
            findings.add(site, WARNING, f"URL converter {match.group(0)!r} in {rule!r}: its arguments could not be "
                         f"translated; matched as {fallback}; fix path_regex by hand if Werkzeug matches less")
        else:
            out.append("[^/]+")
            findings.add(site, WARNING, f"custom URL converter {converter!r} in {rule!r}: matched as one path "
                         "segment ([^/]+); fix path_regex by hand if it matches more")
        position = match.end()
    out.append(regex_escape(rule[position:]))
    return "".join(out)


def rule_sample(rule: str) -> str:
    """A concrete path the rule serves (to test a resource pattern against a view)."""
    def one(match: re.Match) -> str:
        converter = match.group("converter") or "default"
        if converter == "any":
            return (match.group("args") or "x").split(",")[0].strip().strip("'\"")
        return _CONVERTER_SAMPLES.get(converter, "x")

    return _RULE_VARIABLE.sub(one, rule)


def resource_matches(pattern: str | Regex, path: str) -> bool:
    """flask-cors's resource test on a path: ``re.match`` for regexes, equality for literals."""
    if isinstance(pattern, Regex):
        return bool(re.match(pattern.pattern, path, re.IGNORECASE if pattern.ignorecase else 0))
    if probably_regex(pattern):
        try:
            return bool(re.match(pattern, path))
        except re.error:
            return False
    return path == pattern


def matches_every_path(pattern: str | Regex) -> bool:
    """flask-cors's default resource ``/*`` and re_fix's ``.*`` (from ``*``) cover every path."""
    return pattern in ("/*", ".*")
