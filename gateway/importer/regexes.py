"""flask-cors's Python regexes as gateway regexes, and whether RE2 runs them.

flask-cors matches origins with ``re.match`` (anchored at the start only,
case-insensitive for strings); the gateway full-matches on RE2.
``gateway_origin_regex`` writes the one as the other,
``prefix_match_example`` finds a concrete origin the two disagree on (by
sampling CPython's own parse tree of the regex), and ``runs_on_re2`` reports
a regex the gateway cannot compile.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from re import (
    _constants as sre_constants,  # the sampler walks CPython's own regex parse tree
)
from re import _parser as sre_parser

import re2

from ..origins import QUIET_RE2, is_serialized_origin
from ..pathregex import PathRegexError, compile_path_regex
from .findings import UNTRANSLATABLE, Findings, Site

__all__ = ["anchored_already", "gateway_origin_regex", "prefix_match_example", "runs_on_re2"]


def _sample_char(items: list) -> str | None:
    """A character a regex character class accepts (for the example origin)."""
    negate = bool(items) and items[0][0] == sre_constants.NEGATE
    if negate:
        return next((c for c in "ax0-." if not _class_has(c, items[1:])), None)
    for op, av in items:
        if op == sre_constants.LITERAL:
            return chr(av)
        if op == sre_constants.RANGE:
            lo, hi = av
            return next((c for c in "a1" if lo <= ord(c) <= hi), chr(lo))
        if op == sre_constants.CATEGORY:
            return _CATEGORY_SAMPLES.get(av, "a")
    return None


_CATEGORY_SAMPLES = {
    sre_constants.CATEGORY_DIGIT: "1",
    sre_constants.CATEGORY_NOT_DIGIT: "a",
    sre_constants.CATEGORY_SPACE: " ",
    sre_constants.CATEGORY_NOT_SPACE: "a",
    sre_constants.CATEGORY_WORD: "a",
    sre_constants.CATEGORY_NOT_WORD: "-",
}


def _class_has(char: str, items: list) -> bool:
    for op, av in items:
        if op == sre_constants.LITERAL and chr(av) == char:
            return True
        if op == sre_constants.RANGE and av[0] <= ord(char) <= av[1]:
            return True
        if op == sre_constants.CATEGORY and _CATEGORY_SAMPLES.get(av) is not None:
            probe = {sre_constants.CATEGORY_DIGIT: r"\d", sre_constants.CATEGORY_NOT_DIGIT: r"\D",
                     sre_constants.CATEGORY_SPACE: r"\s", sre_constants.CATEGORY_NOT_SPACE: r"\S",
                     sre_constants.CATEGORY_WORD: r"\w", sre_constants.CATEGORY_NOT_WORD: r"\W"}[av]
            if re.fullmatch(probe, char):
                return True
    return False


_REPEATS = (sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, getattr(sre_constants, "POSSESSIVE_REPEAT", None))


def _sample(tree: Iterable, any_char: str = "a", optional: int = 1) -> str:
    """One short string the parsed regex matches (first branch; ``optional``
    repetitions of what may repeat zero times; ``any_char`` for ``.``)."""
    out = []
    for op, av in tree:
        if op == sre_constants.LITERAL:
            out.append(chr(av))
        elif op == sre_constants.NOT_LITERAL:
            out.append("a" if av != ord("a") else "b")
        elif op == sre_constants.ANY:
            out.append(any_char)
        elif op == sre_constants.IN:
            char = _sample_char(av)
            if char is None:
                raise ValueError("empty class")
            out.append(char)
        elif op in _REPEATS:
            lo, hi, sub = av
            out.append(_sample(sub, any_char, optional) * (lo if lo > 0 else min(hi, optional)))
        elif op == sre_constants.SUBPATTERN:
            out.append(_sample(av[-1], any_char, optional))
        elif op == getattr(sre_constants, "ATOMIC_GROUP", None):
            out.append(_sample(av, any_char, optional))
        elif op == sre_constants.BRANCH:
            out.append(_sample(av[1][0], any_char, optional))
        elif op in (sre_constants.AT, sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            continue
        else:
            raise ValueError(f"cannot sample {op}")
    return "".join(out)


_EXAMPLE_SUFFIXES = (".evil.test", "-evil.test", "evil.test")
# A pattern with no scheme of its own (r".*.example.com", r".*example.com")
# matches from the start of the origin: its examples get one.
_EXAMPLE_PREFIXES = ("https://", "https://a", "http://", "http://a", "https:", "http:")
_WEB_SCHEMES = ("https", "http")


def _web_first(candidates: list[str]) -> list[str]:
    """``candidates``, each with another scheme also tried as https and http, the web schemes first:
    ``[a-z]+://x[.]com`` is better shown with https://x.com.evil.test than with a://x.com.evil.test."""
    expanded = []
    for candidate in candidates:
        scheme, sep, rest = candidate.partition("://")
        if sep and scheme not in _WEB_SCHEMES:
            expanded += [f"{web}://{rest}" for web in _WEB_SCHEMES]
        expanded.append(candidate)
    return sorted(dict.fromkeys(expanded), key=lambda c: c.partition("://")[0] not in _WEB_SCHEMES)


def prefix_match_example(pattern: str, flags: int, gateway_regex: str) -> str | None:
    """An origin a browser can send that ``re.match`` accepts and the gateway's full match refuses."""
    try:
        tree = sre_parser.parse(pattern, flags)
        sample = _sample(tree).lower()
        # "." as a dot and optional parts left out: r".*.example.com" samples
        # as ".example.com", which the prefixes make https://a.example.com.
        bare = _sample(tree, ".", 0).lower()
        compiled = re.compile(pattern, flags)
    except (re.error, ValueError, TypeError, OverflowError):
        return None
    gateway = re2.compile(gateway_regex, options=QUIET_RE2)
    candidates = [sample + suffix for suffix in _EXAMPLE_SUFFIXES]
    candidates += [prefix + stem + suffix for stem in (bare, sample) for prefix in _EXAMPLE_PREFIXES
                   for suffix in _EXAMPLE_SUFFIXES]
    for candidate in _web_first(candidates):
        if compiled.match(candidate) and not gateway.fullmatch(candidate) and is_serialized_origin(candidate):
            return candidate
    return None


def gateway_origin_regex(pattern: str, ignorecase: bool) -> str:
    """flask-cors's ``re.match`` (case-insensitive for strings) as a gateway full-match pattern.

    Browsers send lowercase origins, so ``(?i:`` only matters when the
    pattern has an uppercase letter; it is used exactly then.
    """
    group = "(?i:" if ignorecase and any(c.isupper() for c in pattern) else "(?:"
    # "https://*.example.com" is a regex to flask-cors, where "//*" is one or
    # more "/": written "/+", the same regex, as `check` refuses "//*" (in a
    # config it is a mistaken wildcard; here it is translated on purpose).
    pattern = _STAR_AFTER_SLASHES.sub(r"\1+", pattern)
    return f"^{group}{pattern})$"


_STAR_AFTER_SLASHES = re.compile(r"(/|\\/)(?:/|\\/)\*")


def anchored_already(pattern: str) -> bool:
    return pattern.startswith("^") and pattern.endswith("$") and not pattern.endswith("\\$")


def runs_on_re2(findings: Findings, regex: str, site: Site, what: str, consequence: str, *, path: bool = False) -> bool:
    """Whether the gateway can compile ``regex``; if not, an untranslatable finding says so.

    ``path``: a ``path_regex``, compiled as the gateway compiles those
    (``gateway.pathregex``: Python's Unicode classes, or a refusal saying why).
    """
    try:
        if path:
            compile_path_regex(regex)
        else:
            re2.compile(regex, options=QUIET_RE2)
    except PathRegexError as err:
        findings.add(site, UNTRANSLATABLE, f"{what} cannot run on RE2 ({err}); {consequence}")
        return False
    except re2.error:
        findings.add(site, UNTRANSLATABLE, f"{what} cannot run on RE2 (backreferences or lookaround); {consequence}")
        return False
    return True
