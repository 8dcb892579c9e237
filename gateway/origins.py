"""Origin parsing and origin-pattern matching.

Two jobs, both pure (no I/O):

* ``is_serialized_origin`` decides whether an ``Origin`` request header value
  is exactly what a conforming browser sends (the Fetch/HTML "serialized
  origin": lowercase ``scheme://host[:port]``, default port omitted, or the
  literal ``null``).  Anything else is *malformed*: it is never matched and
  never reflected.  We deliberately do not "repair" odd values (uppercase,
  default port, trailing slash): a browser never sends them, so accepting them
  would only widen what an attacker can make us echo.
* ``compile_origins`` turns the configured patterns (exact origins,
  ``scheme://*.domain`` subdomain wildcards, ``re:`` full-match regexes run by
  RE2 in linear time, ``*`` and ``null``) into an immutable ``OriginMatcher``.
  Config-side parsing is lenient in case (``HTTPS://App.Example.com:443`` is
  normalised) but strict in shape; every problem is reported as a
  ``PatternError`` whose message a user can act on.  IDNs are converted by
  UTS #46 non-transitional processing, as browsers do (``faß.de`` is
  ``xn--fa-hia.de``; Python's IDNA 2003 codec would say ``fass.de``).

What ``check`` probes a pattern with (strangers' sites, public suffixes) is
in ``origin_probes``.  The only I/O is reading the public suffix list that
``publicsuffixlist`` ships, once.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from enum import StrEnum

import idna
import re2
from publicsuffixlist import PublicSuffixList

__all__ = [
    "NULL",
    "ANY",
    "OriginMatcher",
    "PatternError",
    "compile_origins",
    "is_serialized_origin",
    "normalize_host",
    "normalize_origin",
    "parse_pattern",
]

NULL = "null"
ANY = "*"
REGEX_PREFIX = "re:"

# A serialized origin is at most scheme + "://" + 253-char host + ":65535";
# anything longer is malformed without further parsing.
MAX_ORIGIN_LENGTH = 300

DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443, "ftp": 21}

# Compiled once at import; these are our own simple, linear patterns.
_VISIBLE_ASCII = re.compile(r"[\x21-\x7e]+")
_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*")
# A DNS label (LDH, plus "_" which browsers accept in host names).
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_\-]{0,61}[a-z0-9_])?")
_DIGITS = re.compile(r"[0-9]+")
# WHATWG URL "ends in a number": a last label of decimal digits or "0x" plus
# hex digits makes the host an IPv4 address (or, failing that, invalid).
_IPV4_NUMBER = re.compile(r"[0-9]+|0x[0-9a-f]*")

QUIET_RE2 = re2.Options()
QUIET_RE2.log_errors = False  # we report errors ourselves, with key paths

_psl: PublicSuffixList | None = None


def _public_suffixes() -> PublicSuffixList:
    global _psl
    if _psl is None:  # loaded lazily: only config compilation needs it
        _psl = PublicSuffixList()
    return _psl


class PatternError(ValueError):
    """A configured origin pattern is invalid; ``str(err)`` says why."""


class _Malformed(Exception):
    pass


def _valid_ipv4(host: str) -> bool:
    parts = host.split(".")
    if len(parts) != 4:
        return False
    for part in parts:
        if not _DIGITS.fullmatch(part) or len(part) > 3:
            return False
        if len(part) > 1 and part[0] == "0":  # browsers serialise without leading zeros
            return False
        if int(part) > 255:
            return False
    return True


def _check_dns_name(host: str) -> None:
    """Raise _Malformed unless ``host`` (lowercase) is a DNS name or IPv4 literal."""
    name = host[:-1] if host.endswith(".") else host  # one trailing dot is a (distinct) valid host
    if not name or len(name) > 253:
        raise _Malformed("host name is empty or longer than 253 characters")
    labels = name.split(".")
    if _IPV4_NUMBER.fullmatch(labels[-1]):
        # WHATWG URL: a host whose last label is a number is an IPv4 address
        # ("example.0x1" is invalid, not a domain).
        if host.endswith(".") or not _valid_ipv4(name):
            raise _Malformed("not a valid IPv4 address")
        return
    for label in labels:
        if not _LABEL.fullmatch(label):
            raise _Malformed(f"invalid host label {label[:70]!r}")


def _split(text: str) -> tuple[str, str, str | None]:
    """Split ``scheme://host[:port]`` into parts, or raise _Malformed."""
    sep = text.find("://")
    if sep <= 0:
        raise _Malformed("missing scheme (expected scheme://host[:port])")
    scheme, rest = text[:sep], text[sep + 3 :]
    if not rest:
        raise _Malformed("missing host")
    for bad, what in (("/", "path"), ("?", "query"), ("#", "fragment"), ("@", "userinfo"), ("\\", "backslash")):
        if bad in rest:
            raise _Malformed(f"an origin has no {what} (found {bad!r})")
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            raise _Malformed("unterminated IPv6 literal")
        host, after = rest[: end + 1], rest[end + 1 :]
        if after and not after.startswith(":"):
            raise _Malformed("junk after IPv6 literal")
        port = after[1:] if after else None
    else:
        host, colon, port_text = rest.rpartition(":")
        if not colon:
            host, port = rest, None
        else:
            port = port_text
    if port is not None and not port:
        raise _Malformed("empty port")
    return scheme, host, port


def _check_port(port: str | None, scheme: str, *, strict: bool) -> int | None:
    if port is None:
        return None
    if not _DIGITS.fullmatch(port) or len(port) > 5:
        raise _Malformed("port is not a number")
    if strict and len(port) > 1 and port[0] == "0":
        raise _Malformed("port has leading zeros")
    number = int(port)
    if not 0 < number <= 65535:
        raise _Malformed("port out of range")
    if DEFAULT_PORTS.get(scheme) == number:
        if strict:
            raise _Malformed("default port must be omitted")
        return None
    return number


def _check_ipv6(host: str, *, strict: bool) -> str:
    inner = host[1:-1]
    if "%" in inner:
        raise _Malformed("IPv6 zone identifiers are not allowed in origins")
    try:
        address = ipaddress.IPv6Address(inner)
    except ValueError:
        raise _Malformed("not a valid IPv6 address") from None
    canonical = f"[{address.compressed}]"
    if strict and canonical != host:
        raise _Malformed("IPv6 address not in canonical form")
    return canonical


def is_serialized_origin(value: str) -> bool:
    """True if ``value`` is a browser-serialised origin or ``null``.

    This is the gate in front of every match and every reflection: only values
    for which this returns True may ever be echoed in a response header.
    """
    if value == NULL:
        return True
    if len(value) > MAX_ORIGIN_LENGTH or not _VISIBLE_ASCII.fullmatch(value):
        return False
    try:
        scheme, host, port = _split(value)
        if not _SCHEME.fullmatch(scheme):
            return False
        _check_port(port, scheme, strict=True)
        if host.startswith("["):
            _check_ipv6(host, strict=True)
        else:
            if host != host.lower():
                return False
            _check_dns_name(host)
    except _Malformed:
        return False
    return True


def _uts46_label(label: str) -> str:
    """One UTS #46-mapped label to its A-label, validated with the WHATWG URL settings.

    The validity criteria of UTS #46 section 4.1 (NFC, no leading combining
    mark, only code points the IDNA mapping table marks valid, CheckJoiners,
    CheckBidi; CheckHyphens off).  Not IDNA 2008's stricter repertoire, which
    ``idna.encode`` applies: browsers accept ``☃.net`` and send
    ``xn--n3h.net``, so a config must be able to name that origin.
    """
    if label.startswith("xn--"):
        try:
            unicode = label[4:].encode("ascii").decode("punycode")
        except UnicodeError:
            raise idna.IDNAError("not valid Punycode") from None
        if not unicode or unicode.isascii():
            raise idna.IDNAError("an xn-- label must encode non-ASCII characters")
        if idna.uts46_remap(unicode, std3_rules=False, transitional=False) != unicode:
            raise idna.IDNAError("the label it encodes is not in its UTS #46 mapped form")
    else:
        unicode = label
    idna.check_nfc(unicode)
    idna.check_initial_combiner(unicode)
    for pos, char in enumerate(unicode):
        if char in "\u200c\u200d" and not idna.valid_contextj(unicode, pos):
            raise idna.InvalidCodepointContext(f"joiner U+{ord(char):04X} not allowed at position {pos + 1}")
    idna.check_bidi(unicode)
    return "xn--" + unicode.encode("punycode").decode("ascii")


def _to_ascii(host: str) -> str:
    """UTS #46 non-transitional ToASCII, as the WHATWG URL standard (and so every browser) does.

    ``faß.de`` is ``xn--fa-hia.de``: IDNA 2003 (Python's ``idna`` codec)
    would map it to ``fass.de``, another domain.  Labels that are plain ASCII
    (not ``xn--``) are left to ``_check_dns_name``, which also accepts ``_``
    as browsers do; ``xn--`` labels must be valid Punycode of a valid label.
    """
    try:
        labels = idna.uts46_remap(host, std3_rules=False, transitional=False).split(".")
        for i, label in enumerate(labels):
            if not label.isascii() or label.startswith("xn--"):
                labels[i] = _uts46_label(label)
    except (idna.IDNAError, UnicodeError) as err:
        if host.isascii():
            raise _Malformed(f"host {host[:80]!r} has an xn-- label that is not valid (UTS #46: {err})") from None
        raise _Malformed(
            f"host {host[:80]!r} is not a valid internationalised domain name (UTS #46: {err}); "
            "if a browser accepts it, write the xn-- form it sends"
        ) from None
    return ".".join(labels)


def _normalize_host(host: str) -> str:
    if host.startswith("["):
        return _check_ipv6(host, strict=False)
    if not host.isascii() or "xn--" in host.lower():
        host = _to_ascii(host)  # UTS #46 mapping lowercases (and more)
    else:
        host = host.lower()
    _check_dns_name(host)
    return host


def normalize_host(text: str) -> str:
    """Normalise a configured host name (a route's ``host``) as a browser would send it.

    Lowercase, IDNs to Punycode by UTS #46 (non-transitional), one trailing
    dot dropped; a bracketed IPv6 literal is kept (lowercased).  Raises
    PatternError for anything that is not a host name.
    """
    if text.startswith("[") and text.endswith("]"):
        try:
            _check_ipv6(text, strict=False)
        except _Malformed as err:
            raise PatternError(f"not a valid host: {err}") from None
        return text.lower()
    try:
        return _normalize_host(text).removesuffix(".")
    except _Malformed as err:
        raise PatternError(f"not a valid host name: {err}") from None


def normalize_origin(text: str) -> str:
    """Normalise a configured origin (lowercase scheme/host, default port dropped).

    Raises PatternError with an actionable message for anything that is not
    an origin (a path, a trailing slash, userinfo, a bad port, ...).
    """
    if not text or text != text.strip():
        raise PatternError("origin is empty or has surrounding whitespace")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        raise PatternError("origin contains control characters or spaces")
    try:
        scheme, host, port = _split(text)
        scheme = scheme.lower()
        if not _SCHEME.fullmatch(scheme):
            raise _Malformed(f"invalid scheme {scheme!r}")
        host = _normalize_host(host)
        number = _check_port(port, scheme, strict=False)
    except _Malformed as err:
        hint = ""
        if "://" in text:
            stripped = text.split("://", 1)
            head = stripped[1].split("/", 1)[0]
            if head and head != stripped[1]:
                hint = f' (did you mean "{stripped[0]}://{head}"?)'
        raise PatternError(f"not a valid origin: {err}{hint}") from None
    origin = f"{scheme}://{host}" + (f":{number}" if number is not None else "")
    if len(origin) > MAX_ORIGIN_LENGTH:
        raise PatternError(f"longer than {MAX_ORIGIN_LENGTH} characters: a browser's Origin that long is refused "
                           "as malformed, so this entry could never match")
    return origin


class PatternKind(StrEnum):
    """What a configured origin pattern is (a str: compares equal to its value)."""

    ANY = "any"
    NULL = "null"
    EXACT = "exact"
    WILDCARD = "wildcard"
    REGEX = "regex"


@dataclass(frozen=True, slots=True)
class Pattern:
    """One parsed configured pattern."""

    kind: PatternKind
    text: str  # normalised text (exact origin, wildcard pattern, regex source)
    warnings: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", PatternKind(self.kind))


_UNESCAPED_DOT = re.compile(r"(?<!\\)\.(?=[A-Za-z0-9])")


def parse_pattern(raw: str) -> Pattern:
    """Parse one configured origin pattern, raising PatternError."""
    if not isinstance(raw, str):
        raise PatternError("origin patterns must be strings")
    if raw == ANY:
        return Pattern("any", ANY)
    if raw == NULL:
        return Pattern("null", NULL)
    if raw.lower() == NULL:
        raise PatternError('write the null origin as lowercase "null"')
    if raw.startswith(REGEX_PREFIX):
        source = raw[len(REGEX_PREFIX) :]
        if not source.startswith("^") or not source.endswith("$") or source.endswith("\\$"):
            raise PatternError(
                "re: patterns must be anchored with ^ at the start and $ at the end "
                "(unanchored regexes are how https://example.com.evil.com slipped through other gateways)"
            )
        try:
            re2.compile(source, options=QUIET_RE2)
        except re2.error as err:
            detail = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else str(err)
            raise PatternError(f"invalid regex (RE2 syntax, no backreferences or lookaround): {detail}") from None
        warnings = ()
        # Only look outside character classes; a crude but useful lint.
        outside = re.sub(r"\[[^\]]*\]", "", source)
        if _UNESCAPED_DOT.search(outside):
            warnings = (r"regex has an unescaped '.', which matches any character; write '\.' for a literal dot",)
        return Pattern("regex", source, warnings)
    if "*" in raw:
        return _parse_wildcard(raw)
    return Pattern("exact", normalize_origin(raw))


def _parse_wildcard(raw: str) -> Pattern:
    scheme, sep, rest = raw.partition("://")
    if not sep or not scheme:
        raise PatternError('wildcard patterns need a scheme, e.g. "https://*.example.com"')
    if not rest.startswith("*.") or "*" in rest[2:]:
        raise PatternError(
            'a wildcard may only stand as the whole leftmost label, as in "https://*.example.com"; '
            "use a re: pattern for anything else"
        )
    base = normalize_origin(f"{scheme}://{rest[2:]}")
    base_scheme, base_rest = base.split("://", 1)
    host = base_rest.rsplit(":", 1)[0] if not base_rest.endswith("]") and ":" in base_rest else base_rest
    if host.startswith("[") or _valid_ipv4(host.rstrip(".")):
        raise PatternError("a subdomain wildcard needs a domain name, not an IP address")
    # *.localhost is the one single-label exception: every name under it is
    # this machine's loopback (RFC 6761), so no other party can own one.
    if host != "localhost" and ("." not in host.strip(".") or _public_suffixes().is_public(host.rstrip("."))):
        raise PatternError(
            f'"*.{host}" would allow every site under the public suffix "{host}"; '
            "list your own domain, e.g. https://*.example.com"
        )
    return Pattern("wildcard", f"{base_scheme}://*.{base_rest}")


@dataclass(frozen=True, slots=True)
class OriginMatcher:
    """Immutable, compiled set of origin patterns.

    ``matches`` must only be called with values for which
    ``is_serialized_origin`` returned True.
    """

    allow_any: bool
    allow_null: bool
    exact: frozenset[str]
    # (prefix, suffix): "https://" and ".example.com[:port]"
    wildcards: tuple[tuple[str, str], ...]
    regexes: tuple  # compiled RE2 objects
    # Derived once, so a decision costs a few dict lookups, not a loop over
    # every pattern: suffix -> schemes ("https://") it is allowed with, and
    # all regexes as one RE2 alternation (one linear-time pass).
    _by_suffix: dict = field(init=False, repr=False, compare=False)
    _combined: object = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        by_suffix: dict[str, set[str]] = {}
        for prefix, suffix in self.wildcards:
            by_suffix.setdefault(suffix, set()).add(prefix)
        object.__setattr__(self, "_by_suffix", {k: frozenset(v) for k, v in by_suffix.items()})
        combined = None
        if len(self.regexes) == 1:
            combined = self.regexes[0]
        elif self.regexes:
            combined = re2.compile("|".join(f"(?:{r.pattern})" for r in self.regexes), options=QUIET_RE2)
        object.__setattr__(self, "_combined", combined)

    def matches(self, origin: str) -> bool:
        if origin == NULL:
            return self.allow_null
        if self.allow_any or origin in self.exact:
            return True
        by_suffix = self._by_suffix
        if by_suffix:
            # Try the origin's own suffixes at each dot after the first host
            # character: a suffix starts with ".", so "barexample.com" can
            # never match "*.example.com", and the label before it is never
            # empty (the origin was validated: no empty labels).
            scheme_end = origin.find("://") + 3
            dot = origin.find(".", scheme_end + 1)
            while dot != -1:
                schemes = by_suffix.get(origin[dot:])
                if schemes is not None and origin[:scheme_end] in schemes:
                    return True
                dot = origin.find(".", dot + 1)
        combined = self._combined
        return combined is not None and combined.fullmatch(origin) is not None

    @property
    def allows_nothing(self) -> bool:
        return not (self.allow_any or self.allow_null or self.exact or self.wildcards or self.regexes)


def compile_origins(patterns: tuple[Pattern, ...]) -> OriginMatcher:
    exact: set[str] = set()
    wildcards: list[tuple[str, str]] = []
    regexes = []
    allow_any = allow_null = False
    for pattern in patterns:
        if pattern.kind == "any":
            allow_any = True
        elif pattern.kind == "null":
            allow_null = True
        elif pattern.kind == "exact":
            exact.add(pattern.text)
        elif pattern.kind == "wildcard":
            scheme, rest = pattern.text.split("://*", 1)
            wildcards.append((scheme + "://", rest))
        elif pattern.kind == "regex":
            regexes.append(re2.compile(pattern.text, options=QUIET_RE2))
    return OriginMatcher(allow_any, allow_null, frozenset(exact), tuple(wildcards), tuple(regexes))
