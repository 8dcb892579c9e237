"""What ``check`` probes a configured origin pattern with, at config time only.

A ``re:`` pattern is tried on made-up origins: any origin at all
(``regex_matches_any``), strangers' registrable domains under common
suffixes and the missing-dot shapes of the domains it names
(``regex_matches_foreign``), and ``http://`` origins (``regex_matches_http``).
``public_suffix_below`` finds wildcards with public suffixes beneath them
(``*.amazonaws.com`` covers every customer's ``s3.amazonaws.com`` bucket).
The config loader turns what these find into refusals and warnings.
"""

from __future__ import annotations

import functools
import re

import publicsuffixlist
import re2

from .origins import (
    _IPV4_NUMBER,
    _LABEL,
    QUIET_RE2,
    Pattern,
    _Malformed,
    _public_suffixes,
    _to_ascii,
    is_serialized_origin,
)

__all__ = [
    "PROBE_ORIGINS",
    "public_suffix_below",
    "regex_matches_any",
    "regex_matches_foreign",
    "regex_matches_http",
    "wildcard_host",
]


# Made-up origins that no real deployment lists (.invalid is reserved, RFC
# 6761).  A re: pattern that matches one of them matches any origin, in
# effect: it is as open as "*", only less visibly so.
PROBE_ORIGINS = (
    "https://cors-gateway-probe.invalid",
    "http://cors-gateway-probe.invalid",
    "https://cors-gateway-probe.invalid:8443",
)


def regex_matches_any(pattern: Pattern) -> str | None:
    """For a ``regex`` pattern, the first probe origin it matches, else None.

    Matching is the same full match ``OriginMatcher`` runs on requests.
    """
    if pattern.kind != "regex":
        return None
    regex = re2.compile(pattern.text, options=QUIET_RE2)
    return next((probe for probe in PROBE_ORIGINS if regex.fullmatch(probe)), None)


# --------------------------------------------------------------------------
# Regexes broader than their author meant (config time only)
# --------------------------------------------------------------------------

# Registrable domains anyone can buy, under the most common public suffixes:
# a re: pattern that matches one of them (``^https://.+\.[a-z]{2,3}$``,
# ``^https://[a-z0-9-]+\.(com|net|org|io)$``) lets strangers' sites in.
# Each name twice, with and without "-", for patterns written with [a-z]+.
_STRANGERS = ("attacker-site", "attackersite")
_FOREIGN_HOSTS = tuple(
    f"{label}.{suffix}" for suffix in ("com", "net", "org", "io", "co.uk", "de") for label in _STRANGERS
) + ("www.attackersite.com",)
_ATTACKER_DOMAINS = ("evil-attacker.com", "evilattacker.com")
_PROBE_PORTS = ("", ":8443")
_SCHEMES = ("https://", "http://")
_QUANTIFIERS = frozenset("*+?{")
_HOST_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-.")
_LITERAL_PORT = re.compile(r"(?<![\\0-9]):([0-9]{1,5})(?![0-9])")


def _class_end(source: str, i: int) -> int:
    """The index of the "]" that closes the character class opening at ``source[i]``
    (a "]" first in the class, or after "^", is a member; escapes are skipped)."""
    n = len(source)
    j = i + 1
    if j < n and source[j] == "^":
        j += 1
    if j < n and source[j] == "]":
        j += 1
    while j < n and source[j] != "]":
        j += 2 if source[j] == "\\" else 1
    return j


def _literal_runs(source: str) -> list[list[tuple[str, bool]]]:
    r"""Runs of literal host-name characters in a regex, as (character, is an unescaped dot).

    A crude reading, good enough to find the domains a pattern is about:
    character classes, escapes other than ``\.``/``\-``, and any character a
    quantifier applies to end a run.
    """
    runs: list[list[tuple[str, bool]]] = []
    run: list[tuple[str, bool]] = []
    i, n = 0, len(source)
    while i < n:
        c = source[i]
        if c == "[":  # a class: skip it whole
            j = _class_end(source, i)
            if run:
                runs.append(run)
                run = []
            i = j + 1
            continue
        if c == "\\" and i + 1 < n:
            char, wild, width = (source[i + 1], False, 2) if source[i + 1] in ".-" else (None, False, 2)
        else:
            lower = c.lower()
            char, wild, width = (lower, c == ".", 1) if lower in _HOST_CHARS else (None, False, 1)
        quantified = i + width < n and source[i + width] in _QUANTIFIERS
        if char is None or quantified:
            if run:
                runs.append(run)
                run = []
        else:
            run.append((char, wild))
        i += width
    if run:
        runs.append(run)
    return runs


def _literal_domains(source: str) -> list[tuple[str, tuple[int, ...]]]:
    """The domain names written in a regex: (name, positions of unescaped dots in it)."""
    domains: list[tuple[str, tuple[int, ...]]] = []
    for run in _literal_runs(source):
        text = "".join(c for c, _ in run)
        start = len(text) - len(text.lstrip(".-"))
        end = len(text.rstrip(".-"))
        name = text[start:end]
        labels = name.split(".")
        if len(labels) < 2 or not all(_LABEL.fullmatch(label) for label in labels):
            continue
        if _IPV4_NUMBER.fullmatch(labels[-1]) or labels[-1] == "localhost":
            continue  # an address or a loopback name: nobody else can own it
        wild = tuple(i - start for i, (_, is_wild) in enumerate(run[start:end], start) if is_wild)
        if (name, wild) not in domains:
            domains.append((name, wild))
    return domains


def _foreign_hosts(source: str) -> list[str]:
    """Host names outside the pattern author's domains that a careless pattern would match."""
    psl = _public_suffixes()
    hosts = list(_FOREIGN_HOSTS)
    for name, wild in _literal_domains(source):
        own = psl.privatesuffix(name)  # the registrable domain, None if name is a public suffix
        if own is None:
            hosts += [f"{label}.{name}" for label in _STRANGERS]  # re:^https://[a-z]+\.github\.io$
        else:
            # The classic missing-dot shapes: evilexample.com, evil-example.com,
            # example.com.evil-attacker.com.
            hosts += [f"evil{own}", f"evil-{own}"]
            hosts += [f"{base}.{attacker}" for base in dict.fromkeys((name, own)) for attacker in _ATTACKER_DOMAINS]
            # An unescaped dot matches "-" too: app.example.com -> app-example.com.
            for pos in wild:
                variant = f"{name[:pos]}-{name[pos + 1:]}"
                other = psl.privatesuffix(variant)
                if other is not None and other != own and not variant.endswith(f".{own}"):
                    hosts.append(variant)
        below = public_suffix_below(name)
        if below is not None:  # re:^https://.*\.amazonaws\.com$ takes in every S3 bucket
            hosts += [f"{label}." + below.replace("*", label) for label in _STRANGERS]
    return list(dict.fromkeys(hosts))


def _ports(source: str) -> tuple[str, ...]:
    literal = [f":{p}" for p in _LITERAL_PORT.findall(source)[:4]]
    return tuple(dict.fromkeys(_PROBE_PORTS + tuple(literal)))


@functools.lru_cache(maxsize=256)
def _foreign_match(source: str) -> str | None:
    regex = re2.compile(source, options=QUIET_RE2)
    ports = _ports(source)
    for scheme in _SCHEMES:
        for host in _foreign_hosts(source):
            for port in ports:
                probe = f"{scheme}{host}{port}"
                if regex.fullmatch(probe) and is_serialized_origin(probe):
                    return probe
    return None


def regex_matches_foreign(pattern: Pattern) -> str | None:
    r"""For a ``regex`` pattern, an origin of someone else's site it matches, else None.

    Probes registrable domains under common public suffixes
    (``https://attacker-site.com``) and, for each domain written in the
    pattern (``example\.com``), the missing-dot shapes (``https://evilexample.com``,
    ``https://evil-example.com``, ``https://example.com.evil-attacker.com``),
    an unescaped dot (``app.example.com`` matching ``https://app-example.com``)
    and sites under public suffixes below it (``*.s3.amazonaws.com``); with
    and without a port, https and http.  Call it after ``regex_matches_any``.
    """
    if pattern.kind != "regex":
        return None
    return _foreign_match(pattern.text)


def _scan(source: str):
    """(index, character, depth) of the regex's syntax characters: not escaped, not in a class."""
    depth, i, n = 0, 0, len(source)
    while i < n:
        c = source[i]
        if c == "\\":
            i += 2
            continue
        if c == "[":
            i = _class_end(source, i) + 1
            continue
        if c == "(":
            yield i, c, depth
            depth += 1
        elif c == ")":
            depth -= 1
            yield i, c, depth
        else:
            yield i, c, depth
        i += 1


def _alternatives(source: str) -> list[str]:
    """The top-level alternatives of an anchored regex, an enclosing group unwrapped."""
    body = source
    while True:
        stripped = body.removeprefix("^").removesuffix("$")
        if stripped.startswith("("):
            closing = next((i for i, c, d in _scan(stripped) if c == ")" and d == 0), -1)
            if closing == len(stripped) - 1:
                inner = stripped[1:-1]
                body = inner[2:] if inner.startswith("?:") else inner
                continue
        body = stripped
        break
    cuts = [i for i, c, d in _scan(body) if c == "|" and d == 0]
    parts, last = [], 0
    for cut in cuts:
        parts.append(body[last:cut])
        last = cut + 1
    parts.append(body[last:])
    return [p.removeprefix("^").removesuffix("$") for p in parts]


_LOOPBACK_NAME = r"(?:localhost|127\\?\.0\\?\.0\\?\.1|\\\[::1\\\])"
_LOOPBACK_REST = re.compile(
    rf"(?:(?:.*\\\.)?localhost|{_LOOPBACK_NAME}|\((?:\?:)?{_LOOPBACK_NAME}(?:\|{_LOOPBACK_NAME})*\))"
    r"(?:(?:\((?:\?:)?)?:[0-9\[\]\-+*?{},()|\\d]*)?"
)


def regex_matches_http(pattern: Pattern) -> str | None:
    """For a ``regex`` pattern that can match an ``http://`` origin off loopback, that origin (or branch), else None.

    Either a probe matched (an http:// origin under a domain the pattern
    names, or a stranger's), or a branch of the pattern starts with a scheme
    that matches ``http`` (``^http://``, ``^https?://``, ``^(http|https)://``)
    and is not only about ``localhost``, ``127.0.0.1`` or ``[::1]``.
    """
    if pattern.kind != "regex":
        return None
    return _http_match(pattern.text)


@functools.lru_cache(maxsize=256)
def _http_match(source: str) -> str | None:
    regex = re2.compile(source, options=QUIET_RE2)
    hosts = [name for name, _ in _literal_domains(source)] + _foreign_hosts(source)
    for host in dict.fromkeys(hosts):
        for port in _ports(source):
            probe = f"http://{host}{port}"
            if regex.fullmatch(probe) and is_serialized_origin(probe):
                return probe
    for branch in _alternatives(source):
        sep = branch.find("://")
        if sep <= 0:
            continue
        try:
            scheme = re2.compile(branch[:sep], options=QUIET_RE2)
        except re2.error:
            continue  # a scheme part that is no regex on its own (a group spans "://")
        if scheme.fullmatch("http") and not _LOOPBACK_REST.fullmatch(branch[sep + 3 :]):
            return branch
    return None


@functools.cache
def _suffixes_below() -> dict[str, str]:
    """{name: a public suffix below it} for every name with PSL entries (ICANN or private) beneath it.

    Built once, on first use, from the list ``publicsuffixlist`` ships.
    """
    entries: set[str] = set()
    path = getattr(publicsuffixlist, "PSLFILE", None)
    if path is not None:
        with open(path, encoding="utf-8") as lines:
            for line in lines:
                entry = line.strip().split(" ")[0].lower()
                if entry and not entry.startswith(("//", "!")):
                    entries.add(entry)
    else:  # pragma: no cover - an older layout of the package
        entries = {e for e in _public_suffixes()._publicsuffix if not e.startswith("!")}
    below: dict[str, tuple[tuple[int, int, str], str]] = {}
    for entry in entries:
        try:
            ascii_entry = entry if entry.isascii() else ".".join(
                label if label == "*" else _to_ascii(label) for label in entry.split(".")
            )
        except _Malformed:
            continue
        labels = ascii_entry.split(".")
        rank = (len(labels), len(ascii_entry), ascii_entry)
        # s3.amazonaws.com is below amazonaws.com and com; *.x.y (every
        # child of x.y) is below x.y itself and y.
        for i in range(1, len(labels)):
            name = ".".join(labels[i:])
            if name not in below or rank < below[name][0]:
                below[name] = (rank, ascii_entry)
    return {name: entry for name, (_, entry) in below.items()}


def public_suffix_below(host: str) -> str | None:
    """A public suffix strictly below ``host`` (``amazonaws.com`` -> ``s3.amazonaws.com``), else None.

    Anyone can get a name under a public suffix: a wildcard or regex over
    ``host`` takes in sites of strangers, such as other customers' buckets.
    """
    return _suffixes_below().get(host.lower().rstrip("."))


def wildcard_host(pattern: Pattern) -> str | None:
    """The domain of a ``wildcard`` pattern (``https://*.example.com:8443`` -> ``example.com``)."""
    if pattern.kind != "wildcard":
        return None
    rest = pattern.text.split("://*.", 1)[1]
    return rest.rsplit(":", 1)[0] if ":" in rest else rest


