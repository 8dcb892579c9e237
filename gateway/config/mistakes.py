"""The classic mistakes, said with what to write instead.

A glob in a prefix ``path`` (``/api/*``), ``//*`` in a ``re:`` pattern, several
comma-separated entries in one list item, and YAML's no-value (``null``,
``~``, nothing) where a value was meant: messages that name the mistake and
give the text that says what was meant.  ``compiler.py`` and ``checks.py``
decide when they apply (``_several_entries`` finds and reports its own);
``recovery.py`` uses ``NO_VALUE`` for pydantic's errors about an empty list
item.
"""

from __future__ import annotations

import re

from .environment import split_list
from .errors import _Issues
from .loading import _double_quoted

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


def _several_entries(item: str, path: str, issues: _Issues) -> bool:
    """Refuse a list item that holds several comma-separated entries (``["GET, POST"]``).

    A string given as the key's whole value was already split into a list
    (``_split_list_strings``): a comma left in an item was written in a list.
    """
    entries = split_list(item)
    if len(entries) < 2:
        return False
    listed = ", ".join(_double_quoted(e) for e in entries)
    issues.error(path, f"{_double_quoted(item)} holds {len(entries)} entries: in a list, give each its own item: "
                       f"[{listed}] (a comma-separated string is read as a list only as the key's whole value)")
    return True


def _glob_to_regex(glob: str) -> str:
    """A path glob as RE2: ``**`` is anything, ``*`` one segment (or part of one)."""
    parts = re.split(r"(\*\*|\*)", glob)
    return "".join({"**": ".*", "*": "[^/]+"}.get(p, re.sub(r"([.^$|?+()\[\]{}\\])", r"\\\1", p)) for p in parts)

