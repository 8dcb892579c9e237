"""``path_regex`` with the meaning the upstream's router gives its classes.

Route regexes run on RE2 (linear time), but they describe paths that Flask
routes with Python's ``re``, and ``cors-gateway import`` writes them from
Werkzeug's converters (``<int:id>`` is ``\\d+``).  RE2's ``\\d``, ``\\w`` and
``\\s`` are ASCII-only and its ``.`` stops at a newline; Python's are Unicode
(``int('١') == 1``, so ``/users/١`` is served by ``<int:id>``).  A route
regex that means less than the upstream's would let such a path skip its
route and take a broader route's policy.  So a ``path_regex`` is compiled
with these meanings, whatever RE2's defaults:

* ``.`` matches every character, newline included (RE2 ``dot_nl``);
* ``\\d`` is ``\\p{Nd}`` (Unicode decimal digits, Python's ``\\d``), ``\\w`` is
  ``[\\p{L}\\p{N}_]`` (Python's ``str.isalnum()`` or ``_``), ``\\s`` is
  Python's ``str.isspace()`` set; ``\\D``, ``\\W``, ``\\S`` their complements;
  inside ``[...]`` the class contents are used (``[\\d.]`` is
  ``[\\p{Nd}.]``);
* ``\\Z`` (Python's end of string) is RE2's ``\\z``.

Refused, because no RE2 regex means the same: ``\\b``/``\\B`` (RE2's word
boundary is ASCII-only), ``\\W`` inside ``[...]`` (RE2 has no class
intersection), POSIX classes ``[[:alpha:]]`` (ASCII-only in RE2, not classes
at all in Python) and ``\\C`` (one byte of a UTF-8 character).

RE2's Unicode tables may be newer than the upstream Python's: a character
assigned as a digit or letter after the upstream's Unicode version is a
digit or letter here too (the upstream then never sees it as one, and the
request takes the same route either way on newer Pythons).

Pure code: imports nothing from the gateway, so config and routes share it.
"""

from __future__ import annotations

import re2

__all__ = ["PATH_RE2", "PathRegexError", "compile_path_regex", "translate_path_regex"]


class PathRegexError(re2.error, ValueError):
    """A ``path_regex`` RE2 cannot compile, or one whose meaning cannot be kept."""


PATH_RE2 = re2.Options()
PATH_RE2.log_errors = False  # errors are reported with key paths
PATH_RE2.dot_nl = True  # "." matches every character, "\n" included, as a route author reads it

_PLAIN_RE2 = re2.Options()
_PLAIN_RE2.log_errors = False

# Python's str.isspace() (and so re's \s on str): bidi types WS, B, S and Zs.
# Stable since Unicode 6.3; tests/unit/test_routes.py checks it against the running Python.
_SPACE_RANGES = (
    (0x09, 0x0D), (0x1C, 0x20), (0x85, 0x85), (0xA0, 0xA0), (0x1680, 0x1680), (0x2000, 0x200A),
    (0x2028, 0x2029), (0x202F, 0x202F), (0x205F, 0x205F), (0x3000, 0x3000),
)


def _ranges(ranges) -> str:
    return "".join(f"\\x{{{lo:X}}}" if lo == hi else f"\\x{{{lo:X}}}-\\x{{{hi:X}}}" for lo, hi in ranges)


def _complement(ranges) -> tuple[tuple[int, int], ...]:
    out, next_lo = [], 0
    for lo, hi in ranges:
        if lo > next_lo:
            out.append((next_lo, lo - 1))
        next_lo = hi + 1
    if next_lo <= 0x10FFFF:
        out.append((next_lo, 0x10FFFF))
    return tuple(out)


_SPACE = _ranges(_SPACE_RANGES)
_NOT_SPACE = _ranges(_complement(_SPACE_RANGES))
_WORD = r"\p{L}\p{N}_"

# Outside [...]: the escape -> an RE2 atom.
_OUTSIDE = {
    "d": r"\p{Nd}",
    "D": r"\P{Nd}",
    "w": f"[{_WORD}]",
    "W": f"[^{_WORD}]",
    "s": f"[{_SPACE}]",
    "S": f"[^{_SPACE}]",
    "Z": r"\z",
}
# Inside [...]: the escape -> class contents.
_INSIDE = {
    "d": r"\p{Nd}",
    "D": r"\P{Nd}",
    "w": _WORD,
    "s": _SPACE,
    "S": _NOT_SPACE,
}

_BOUNDARY = (
    "\\{0} is refused: RE2's word boundary is ASCII-only, Python's re (the upstream's router) treats "
    "letters like 'é' and digits like '١' as word characters; write the boundary out, e.g. (?:/|$) "
    "or a character class"
)
_REFUSED_OUTSIDE = {
    "b": _BOUNDARY.format("b"),
    "B": _BOUNDARY.format("B"),
    "C": "\\C is refused: it matches one byte of a UTF-8 character; write . (any character) instead",
}
_REFUSED_INSIDE = {
    "W": "\\W inside [...] is refused: RE2 cannot express 'not a letter, digit or _' as part of a class; "
         "write (?:\\W|[...]) with the other characters in their own brackets",
    "b": "\\b inside [...] is refused: in Python it is a backspace, in RE2 an error; write \\x08",
    "C": "\\C is refused: it matches one byte of a UTF-8 character",
}


def _posix_refusal(name: str) -> str:
    return (
        f"[:{name}:] is refused: POSIX classes are ASCII-only in RE2, and Python's re (the upstream's router) "
        "has none; write \\p{L} for letters, \\d for digits, \\w for letters, digits and _, \\s for spaces, "
        "or list the characters (e.g. [0-9A-Fa-f])"
    )


def translate_path_regex(text: str) -> str:
    """``text`` with Python's class meanings spelled as RE2 Unicode classes.

    Raises ``PathRegexError`` for constructs no RE2 regex can mean the same
    as.  Malformed regexes are passed on for RE2 to report.
    """
    if "\\" not in text and "[:" not in text:
        return text
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "\\" and i + 1 < n:
            e = text[i + 1]
            if e in _REFUSED_OUTSIDE:
                raise PathRegexError(_REFUSED_OUTSIDE[e])
            if e == "Q":  # \Q...\E: literal text, copied untouched
                end = text.find("\\E", i + 2)
                end = n if end < 0 else end + 2
                out.append(text[i:end])
                i = end
                continue
            out.append(_OUTSIDE.get(e, "\\" + e))
            i += 2
        elif c == "[":
            i = _class(text, i, out)
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _class(text: str, i: int, out: list[str]) -> int:
    """Copy the class starting at ``text[i] == "["``, translated; return the index after it."""
    n = len(text)
    out.append("[")
    i += 1
    if i < n and text[i] == "^":
        out.append("^")
        i += 1
    first = True
    while i < n:
        c = text[i]
        if c == "]" and not first:
            out.append("]")
            return i + 1
        first = False
        if c == "\\" and i + 1 < n:
            e = text[i + 1]
            if e in _REFUSED_INSIDE:
                raise PathRegexError(_REFUSED_INSIDE[e])
            out.append(_INSIDE.get(e, "\\" + e))
            i += 2
        elif c == "[" and text.startswith("[:", i):
            end = text.find(":]", i + 2)
            if end < 0:
                out.append(c)
                i += 1
                continue
            raise PathRegexError(_posix_refusal(text[i + 2 : end].lstrip("^")))
        else:
            out.append(c)
            i += 1
    return i  # unterminated: RE2 reports it


def _detail(err: re2.error) -> str:
    return err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else str(err)


def compile_path_regex(text: str):
    """``text`` compiled for route matching (full match on the decoded path).

    Raises ``PathRegexError`` (a ``ValueError`` and an ``re2.error``) with a
    message that says what to write instead.
    """
    translated = translate_path_regex(text)
    try:
        return re2.compile(translated, options=PATH_RE2)
    except re2.error as err:
        if translated != text:
            # Report the error in the author's terms when RE2 sees it there too.
            try:
                re2.compile(text, options=_PLAIN_RE2)
            except re2.error as original:
                raise PathRegexError(_detail(original)) from None
        raise PathRegexError(_detail(err)) from None
