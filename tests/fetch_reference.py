"""A slow, deliberately plain reference model of the gateway's CORS answers.

Written from the WHATWG Fetch standard ("CORS protocol", "CORS check",
"CORS-preflight fetch"), the WHATWG URL standard (origin and host
serialisation) and the README's documented gateway rules ("CORS behaviour",
"Config reference", "Security refusals of check").  It must stay independent
of ``gateway.origins`` and ``gateway.policy``: the property tests in
``tests/unit/test_properties.py`` compare the two, so sharing code would make
them agree by construction.  It favours obviousness over speed: no caches, no
indexes, no combined regexes, one pattern at a time.

Where the README documents a deliberate deviation from (or a tightening of)
what a browser might send, the model follows the README and says so in a
``README:`` comment.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field

import idna

# --------------------------------------------------------------------------
# Character classes (ASCII only: str.isdigit() & co. accept other scripts)
# --------------------------------------------------------------------------

LOWER = "abcdefghijklmnopqrstuvwxyz"
DIGITS = "0123456789"
HEX = DIGITS + "abcdef"
# RFC 9110 "token": the only thing a method or a header name may be.
TOKEN_CHARS = frozenset("!#$%&'*+-.^_`|~" + DIGITS + LOWER + LOWER.upper())
# What a header name or value may contain on the wire without any risk:
# visible ASCII plus SP and HTAB (RFC 9110 field-value, without obs-text).
SAFE_HEADER_CHARS = frozenset(chr(c) for c in range(0x21, 0x7F)) | {" ", "\t"}
# Fetch: "HTTP tab or space" is what is trimmed around list items.
HTTP_TAB_OR_SPACE = " \t"

# WHATWG URL "special scheme" default ports.
DEFAULT_PORTS = {"ftp": 21, "http": 80, "https": 443, "ws": 80, "wss": 443}

# README: "Only an Origin that is exactly a browser-serialised origin
# (..., at most 300 characters) or null can be matched."
MAX_ORIGIN_LENGTH = 300

# README: ACRH "is refused if it is longer than 4096 characters, has more
# than 64 names, or contains anything that is not a token".
MAX_ACRH_LENGTH = 4096
MAX_ACRH_NAMES = 64

# README "Config reference": the default of `methods`.
DEFAULT_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")

# README "Security refusals of check": a re: pattern matches any origin when
# it fully matches one of these made-up origins.
PROBE_ORIGINS = (
    "https://cors-gateway-probe.invalid",
    "http://cors-gateway-probe.invalid",
    "https://cors-gateway-probe.invalid:8443",
)
# README "Security refusals of check": a re: pattern that matches a site that
# is not the author's (a registrable domain under a common suffix, or a
# missing-dot shape of a domain the pattern names) is refused with credentials
# or private network access.  The model knows only the shapes of the domains
# the tests use.
FOREIGN_PROBES = tuple(
    f"{scheme}://{host}"
    for scheme in ("https", "http")
    for host in (
        "attacker-site.com", "attackersite.org", "evilexample.com", "evil-example.com",
        "example.com.evil-attacker.com", "app-example.com", "admin-example.com",
    )
)


def is_token(text: str) -> bool:
    return len(text) > 0 and all(c in TOKEN_CHARS for c in text)


def ascii_lower(text: str) -> str:
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in text)


def is_safe_header_text(text: str) -> bool:
    return all(c in SAFE_HEADER_CHARS for c in text)


# --------------------------------------------------------------------------
# Origins (WHATWG URL: origin serialisation and host serialisation)
# --------------------------------------------------------------------------


def serialize_origin(scheme: str, host: str, port: int | None) -> str:
    """The serialisation of a tuple origin: scheme "://" host [":" port].

    ``port`` is None for the scheme's default port (URL parsing drops it).
    """
    if port is not None and DEFAULT_PORTS.get(scheme) == port:
        port = None
    return f"{scheme}://{host}" + ("" if port is None else f":{port}")


def serialize_ipv6(pieces: list[int]) -> str:
    """WHATWG URL "IPv6 serializer" (without the brackets)."""
    # compress: the first longest run of two or more zero pieces.
    compress, best, run_start, run_len = None, 1, None, 0
    for i, piece in enumerate(pieces + [1]):  # sentinel closes a trailing run
        if piece == 0:
            if run_start is None:
                run_start, run_len = i, 0
            run_len += 1
        else:
            if run_start is not None and run_len > best:
                compress, best = run_start, run_len
            run_start = None
    out = ""
    ignore0 = False
    for i, piece in enumerate(pieces):
        if ignore0 and piece == 0:
            continue
        ignore0 = False
        if compress == i:
            out += "::" if i == 0 else ":"
            ignore0 = True
            continue
        out += format(piece, "x")
        if i != 7:
            out += ":"
    return out


def _ipv6_pieces(text: str) -> list[int] | None:
    # The stdlib parses; the serialisation above is the standard's own.
    if "%" in text:  # zone identifiers are not part of a URL host
        return None
    try:
        packed = ipaddress.IPv6Address(text).packed
    except ValueError:
        return None
    return [packed[i] << 8 | packed[i + 1] for i in range(0, 16, 2)]


def _ends_in_a_number(host: str) -> bool:
    """WHATWG URL "ends in a number checker" (host already lowercase)."""
    parts = host.split(".")
    if parts[-1] == "":
        if len(parts) == 1:
            return False
        parts = parts[:-1]
    last = parts[-1]
    if last and all(c in DIGITS for c in last):
        return True
    return last.startswith("0x") and all(c in HEX for c in last[2:])


def _is_serialized_ipv4(host: str) -> bool:
    """True if ``host`` is what the IPv4 serializer outputs: four decimal octets."""
    parts = host.split(".")
    if len(parts) != 4:
        return False
    for part in parts:
        if not part or not all(c in DIGITS for c in part):
            return False
        if str(int(part)) != part or int(part) > 255:  # no leading zeros, in range
            return False
    return True


def _is_dns_label(label: str) -> bool:
    # README: lowercase host names.  A browser's URL parser would also
    # accept some other ASCII punctuation in a host; the gateway only accepts
    # LDH labels (plus "_", which browsers do put in host names) of DNS
    # length.  Stricter is safe here (a rejection, never a reflection), so
    # the model follows the gateway's documented shape.
    if not 1 <= len(label) <= 63:
        return False
    if not all(c in LOWER or c in DIGITS or c in "-_" for c in label):
        return False
    return not label.startswith("-") and not label.endswith("-")


def is_serialized_host(host: str) -> bool:
    """Would a browser serialise some host exactly as ``host``?"""
    if host.startswith("[") and host.endswith("]"):
        pieces = _ipv6_pieces(host[1:-1])
        return pieces is not None and serialize_ipv6(pieces) == host[1:-1]
    if not host:
        return False
    if _ends_in_a_number(host):
        # The URL parser turns such a host into an IPv4 address, whose
        # serialisation is dotted decimal without a trailing dot.
        return _is_serialized_ipv4(host)
    name = host.removesuffix(".")  # one trailing dot: a distinct, valid host
    if not 1 <= len(name) <= 253:
        return False
    return all(_is_dns_label(label) for label in name.split("."))


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int | None  # None: the default port


def split_origin(text: str) -> tuple[str, str, str | None] | None:
    """``scheme://host[:port]`` into its three texts, or None (no validation)."""
    scheme, sep, rest = text.partition("://")
    if not sep:
        return None
    if rest.startswith("["):
        end = rest.find("]")
        if end < 0:
            return None
        host, after = rest[: end + 1], rest[end + 1 :]
        if after == "":
            return scheme, host, None
        if not after.startswith(":"):
            return None
        return scheme, host, after[1:]
    if ":" in rest:
        host, port = rest.rsplit(":", 1)
        return scheme, host, port
    return scheme, rest, None


def _is_scheme(text: str) -> bool:
    return bool(text) and text[0] in LOWER and all(c in LOWER or c in DIGITS or c in "+-." for c in text)


def parse_serialized_origin(value: str) -> Origin | None:
    """The tuple origin whose serialisation is exactly ``value``, else None.

    ``null`` (an opaque origin) is handled by the callers.  Every scheme is
    treated alike (``chrome-extension://id`` is what Chromium sends).
    """
    if len(value) > MAX_ORIGIN_LENGTH:
        return None
    parts = split_origin(value)
    if parts is None:
        return None
    scheme, host, port_text = parts
    if not _is_scheme(scheme) or not is_serialized_host(host):
        return None
    port = None
    if port_text is not None:
        # Serialised ports are decimal without leading zeros.  README: port 0
        # is refused (no page is served from port 0).
        if not port_text or not all(c in DIGITS for c in port_text) or len(port_text) > 5:
            return None
        if port_text[0] == "0" or not 1 <= int(port_text) <= 65535:
            return None
        port = int(port_text)
    origin = Origin(scheme, host, port)
    if serialize_origin(scheme, host, port) != value:
        return None  # e.g. an explicit default port
    return origin


def is_serialized_origin(value: str) -> bool:
    return value == "null" or parse_serialized_origin(value) is not None


class NotAnOrigin(ValueError):
    pass


def normalize_config_origin(text: str) -> str:
    """README: config-side origins are normalised for case, IDNs and default
    ports (``HTTPS://App.Example.com:443`` is ``https://app.example.com``), and
    otherwise must already be ``scheme://host[:port]``."""
    if not text or text != text.strip() or any(ord(c) < 0x21 or ord(c) == 0x7F for c in text):
        raise NotAnOrigin("empty, surrounding whitespace or control characters")
    parts = split_origin(text)
    if parts is None:
        raise NotAnOrigin("not scheme://host[:port]")
    scheme, host, port_text = parts
    for bad in "/?#@\\":
        if bad in host or (port_text and bad in port_text):
            raise NotAnOrigin(f"an origin has no {bad!r}")
    scheme = ascii_lower(scheme)
    if host.startswith("["):
        pieces = _ipv6_pieces(host[1:-1]) if host.endswith("]") else None
        if pieces is None:
            raise NotAnOrigin("bad IPv6 literal")
        host = f"[{serialize_ipv6(pieces)}]"
    else:
        if not host.isascii():
            # WHATWG URL: UTS #46 non-transitional processing (faß.de is
            # xn--fa-hia.de, not fass.de as with IDNA 2003).
            try:
                host = idna.encode(host, uts46=True, transitional=False).decode("ascii")
            except idna.IDNAError:
                raise NotAnOrigin("bad IDN") from None
        host = ascii_lower(host)
    port = None
    if port_text is not None:
        if not port_text or not all(c in DIGITS for c in port_text) or len(port_text) > 5:
            raise NotAnOrigin("port is not a number")
        port = int(port_text)  # leading zeros are tolerated in config
        if not 1 <= port <= 65535:
            raise NotAnOrigin("port out of range")
    result = serialize_origin(scheme, host, port)
    if not _is_scheme(scheme) or not is_serialized_host(host):
        raise NotAnOrigin("invalid scheme or host")
    if len(result) > MAX_ORIGIN_LENGTH:
        raise NotAnOrigin("longer than any Origin the gateway accepts from a browser: it could never match")
    return result


# --------------------------------------------------------------------------
# Configured origin patterns (README "Kinds of origins entry")
# --------------------------------------------------------------------------

# Suffixes the tests use that are public (or otherwise refused) suffixes.
# README: a wildcard is "refused over a public suffix (*.co.uk, *.github.io)
# or an IP address", and a single label other than localhost is a public
# suffix.  The model knows only the few the tests generate.
REFUSED_WILDCARD_BASES = frozenset({"com", "co.uk", "github.io", "test", "internal", "127.0.0.1"})


@dataclass(frozen=True)
class OriginPattern:
    kind: str  # "any" | "null" | "exact" | "wildcard" | "regex"
    text: str = ""  # exact: the normalised origin; regex: the source
    scheme: str = ""  # wildcard
    domain: str = ""  # wildcard: the part after "*."
    port: int | None = None  # wildcard


class Refused(ValueError):
    """The README says the gateway must refuse this config."""


def parse_origin_pattern(raw: str) -> OriginPattern:
    if raw == "*":
        return OriginPattern("any")
    if raw == "null":
        return OriginPattern("null")
    if ascii_lower(raw) == "null":
        raise Refused('write the null origin as lowercase "null"')
    if raw.startswith("re:"):
        source = raw[3:]
        # README: "It must start with ^ and end with $".
        if not source.startswith("^") or not source.endswith("$") or source.endswith("\\$"):
            raise Refused("re: patterns must be anchored")
        try:
            re.compile(source)
        except re.error:
            raise Refused("invalid regex") from None
        return OriginPattern("regex", text=source)
    if "*" in raw:
        scheme, sep, rest = raw.partition("://")
        # README: "The * must be the whole leftmost label."
        if not sep or not scheme or not rest.startswith("*.") or "*" in rest[2:]:
            raise Refused("a wildcard may only stand as the whole leftmost label")
        try:
            base = normalize_config_origin(f"{scheme}://{rest[2:]}")
        except NotAnOrigin as err:
            raise Refused(str(err)) from None
        origin = parse_serialized_origin(base)
        if origin is None:
            raise Refused("not an origin")
        if origin.host in REFUSED_WILDCARD_BASES or origin.host.startswith("[") or _is_serialized_ipv4(origin.host):
            raise Refused("wildcard over a public suffix or an IP address")
        return OriginPattern("wildcard", scheme=origin.scheme, domain=origin.host, port=origin.port)
    try:
        return OriginPattern("exact", text=normalize_config_origin(raw))
    except NotAnOrigin as err:
        raise Refused(str(err)) from None


def regex_matches_any(pattern: OriginPattern) -> bool:
    return pattern.kind == "regex" and any(re.fullmatch(pattern.text, probe) for probe in PROBE_ORIGINS)


def regex_matches_foreign(pattern: OriginPattern) -> bool:
    return pattern.kind == "regex" and any(re.fullmatch(pattern.text, probe) for probe in FOREIGN_PROBES)


def pattern_matches(pattern: OriginPattern, origin: str) -> bool:
    """Does one pattern allow one *valid* serialized origin (not ``null``)?"""
    if pattern.kind == "any":
        return True
    if pattern.kind == "exact":
        return origin == pattern.text
    if pattern.kind == "regex":
        # Full match, never re.match / re.search (the flask-cors, sanic-cors
        # and Kong mistake).  Python's re stands in for RE2: the tests only
        # generate patterns both engines read alike.
        return re.fullmatch(pattern.text, origin) is not None
    if pattern.kind == "wildcard":
        parsed = parse_serialized_origin(origin)
        assert parsed is not None
        # README: "Any subdomain of example.com, at any depth, with that
        # scheme and port.  Not example.com itself, and not barexample.com."
        return (
            parsed.scheme == pattern.scheme
            and parsed.port == pattern.port
            and parsed.host.endswith("." + pattern.domain)
            and len(parsed.host) > len(pattern.domain) + 1
        )
    return False  # "null" never matches a tuple origin


def origin_allowed(patterns: tuple[OriginPattern, ...], origin: str) -> bool:
    """Is ``origin`` (a single header value) allowed by the patterns?"""
    if not is_serialized_origin(origin):
        return False
    if origin == "null":
        # README: "null is allowed only where "null" is listed" ("*" and
        # regexes never cover it).
        return any(p.kind == "null" for p in patterns)
    return any(pattern_matches(p, origin) for p in patterns)


# --------------------------------------------------------------------------
# Effective settings of one route (README "cors" table and merge rule)
# --------------------------------------------------------------------------

CORS_KEYS = (
    "origins", "methods", "allow_headers", "expose_headers", "supports_credentials",
    "max_age", "allow_private_network", "on_reject", "mode", "refused_preflight",
)


@dataclass(frozen=True)
class Settings:
    patterns: tuple[OriginPattern, ...] = ()
    methods: tuple[str, ...] | None = DEFAULT_METHODS  # None: "*"
    allow_headers: tuple[str, ...] | None = None  # None: "*" (the default)
    expose_headers: tuple[str, ...] | None = ()  # None: "*"
    credentials: bool = False
    max_age: int | None = None
    private_network: bool = False
    # README "refused_preflight": name_cause (the default) or plain_403.
    name_cause: bool = True
    refusals: tuple[str, ...] = field(default=())

    @property
    def any_origin(self) -> bool:
        return any(p.kind == "any" for p in self.patterns)

    @property
    def public(self) -> bool:
        # README: "A route with "*" and no credentials is public".
        return self.any_origin and not self.credentials


def _as_list(value) -> list:
    return [value] if isinstance(value, str) else list(value)


def _names(value, *, upper: bool, refusals: list[str]) -> tuple[str, ...] | None:
    items = _as_list(value)
    if "*" in items:
        return None
    names: list[str] = []
    for item in items:
        if not is_token(item):
            refusals.append(f"{item!r} is not a valid HTTP token")
            continue
        name = item.upper() if upper else item  # README: methods are uppercased
        if name not in names:
            names.append(name)
    return tuple(names)


def settings_from_block(block: dict) -> Settings:
    """One ``cors`` block's effective settings and the refusals it earns."""
    refusals: list[str] = []
    patterns: list[OriginPattern] = []
    for raw in _as_list(block.get("origins") or []):
        try:
            patterns.append(parse_origin_pattern(raw))
        except Refused as err:
            refusals.append(str(err))
    credentials = bool(block.get("supports_credentials"))
    private_network = bool(block.get("allow_private_network"))
    methods = DEFAULT_METHODS if block.get("methods") is None else _names(block["methods"], upper=True, refusals=refusals)
    allow_headers = None if block.get("allow_headers") is None else _names(
        block["allow_headers"], upper=False, refusals=refusals
    )
    expose = () if block.get("expose_headers") is None else _names(block["expose_headers"], upper=False, refusals=refusals)
    any_origin = any(p.kind == "any" for p in patterns)
    open_regex = any(regex_matches_any(p) for p in patterns)
    foreign_regex = any(regex_matches_foreign(p) for p in patterns)
    # README "Security refusals of check".
    if credentials and any_origin:
        refusals.append('credentials with "*"')
    if credentials and expose is None:
        refusals.append('expose_headers "*" with credentials')
    if private_network and any_origin:
        refusals.append('private network access with "*"')
    if private_network and open_regex:
        refusals.append("private network access with a re: pattern that matches any origin")
    if credentials and open_regex:
        refusals.append("credentials with a re: pattern that matches any origin")
    if (credentials or private_network) and foreign_regex and not open_regex:
        refusals.append("credentials or private network access with a re: pattern that matches sites not yours")
    return Settings(
        patterns=tuple(patterns),
        methods=methods,
        allow_headers=allow_headers,
        expose_headers=expose,
        credentials=credentials,
        max_age=block.get("max_age"),
        private_network=private_network,
        name_cause=block.get("refused_preflight") != "plain_403",
        refusals=tuple(refusals),
    )


def merge_blocks(defaults: dict, route: dict) -> dict:
    """README: "a key set in a route's cors replaces the same key of
    defaults.cors"; lists are never merged."""
    return {key: route[key] if key in route else defaults[key] for key in CORS_KEYS if key in route or key in defaults}


def route_settings(defaults: dict, route: dict) -> Settings:
    """The route's settings; ``refusals`` also holds those of defaults.cors,
    which is checked on its own too (it judges requests that match no route)."""
    merged = settings_from_block(merge_blocks(defaults, route))
    own = settings_from_block(defaults)
    refusals = tuple(dict.fromkeys(own.refusals + merged.refusals))
    return Settings(**{**merged.__dict__, "refusals": refusals})


# --------------------------------------------------------------------------
# The expected answer to one request
# --------------------------------------------------------------------------

ACAO = "Access-Control-Allow-Origin"
ACAC = "Access-Control-Allow-Credentials"
ACAM = "Access-Control-Allow-Methods"
ACAH = "Access-Control-Allow-Headers"
ACEH = "Access-Control-Expose-Headers"
ACMA = "Access-Control-Max-Age"
ACAPN = "Access-Control-Allow-Private-Network"


@dataclass(frozen=True)
class Request:
    """Raw header *lines*, as the proxy sees them (duplicates visible)."""

    method: str
    origins: tuple[str, ...] = ()
    acrm: tuple[str, ...] = ()
    acrh: tuple[str, ...] = ()
    acrpn: tuple[str, ...] = ()


@dataclass(frozen=True)
class Expected:
    kind: str  # "preflight" | "actual" | "non_cors"
    allowed: bool | None
    reason: str | None
    headers: dict
    vary: frozenset
    status: int


def parse_requested_headers(lines: tuple[str, ...]) -> list[str] | None:
    """Access-Control-Request-Headers over any number of lines: the
    lowercased names without duplicates, or None if refused."""
    if sum(len(line) for line in lines) > MAX_ACRH_LENGTH:
        return None
    names: list[str] = []
    for line in lines:
        for item in line.split(","):
            name = item.strip(HTTP_TAB_OR_SPACE)
            if name == "":
                continue  # README/tests: empty items (" , a,,") are ignored
            if not is_token(name):
                return None
            name = ascii_lower(name)
            if name not in names:
                names.append(name)
    # README: "more than 64 names" -- distinct names (a repeated name is one).
    if len(names) > MAX_ACRH_NAMES:
        return None
    return names


def asks_private_network(lines: tuple[str, ...]) -> bool:
    # Any line whose value, trimmed of HTTP whitespace, is ASCII
    # case-insensitively "true".
    return any(ascii_lower(line.strip(" \t\r\n")) == "true" for line in lines)


def _allowed_methods(settings: Settings) -> set[str] | None:
    if settings.methods is None:
        return None
    methods = set(settings.methods)
    if "GET" in methods:
        methods.add("HEAD")  # README: "HEAD is allowed wherever GET is"
    return methods


def _origin_headers(settings: Settings, origin: str) -> dict:
    if settings.public:
        return {ACAO: "*"}  # README: "*" exactly on public routes
    headers = {ACAO: origin}  # the request's own, validated origin
    if settings.credentials:
        headers[ACAC] = "true"
    return headers


def expected_response(settings: Settings, request: Request) -> Expected:
    origin_vary = frozenset({"Origin"})
    # README: "A request without Origin is not a CORS request: ... no
    # Access-Control-* headers, only Vary: Origin."
    if not request.origins:
        return Expected("non_cors", None, None, {}, origin_vary, 0)

    # Fetch: a CORS-preflight request is OPTIONS with Origin and
    # Access-Control-Request-Method.
    if request.method == "OPTIONS" and request.acrm:
        vary = {"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"}
        if settings.private_network:
            vary.add("Access-Control-Request-Private-Network")
        vary = frozenset(vary)

        def reject(reason: str) -> Expected:
            return Expected("preflight", False, reason, {}, vary, 403)

        if len(request.origins) != 1 or not is_serialized_origin(request.origins[0]):
            return reject("malformed_origin")
        origin = request.origins[0]
        if not origin_allowed(settings.patterns, origin):
            return reject("origin_not_allowed")
        if len(request.acrm) != 1 or not is_token(request.acrm[0]):
            return reject("method_not_allowed")
        method = request.acrm[0]  # case-sensitive
        def name_the_cause(reason: str, acam: str) -> Expected:
            # README "refused_preflight": an allowed origin refused for its method or a header gets an
            # ok answer whose lists leave that out, so the browser itself names it; no max-age.
            headers = _origin_headers(settings, origin)
            if acam:
                headers[ACAM] = acam
            if settings.allow_headers:
                headers[ACAH] = ", ".join(settings.allow_headers)
            return Expected("preflight", False, reason, headers, vary, 200)

        listed_methods = "" if settings.methods is None else ", ".join(settings.methods)
        allowed_methods = _allowed_methods(settings)
        if allowed_methods is not None and method not in allowed_methods:
            # Fetch: a CORS-safelisted method passes a browser's preflight whatever ACAM lists.
            # README: plain 403 for a safelisted method, an empty list, or a method listed in upper case.
            if (settings.name_cause and method not in ("GET", "HEAD", "POST") and listed_methods
                    and method.upper() not in allowed_methods):
                return name_the_cause("method_not_allowed", listed_methods)
            return reject("method_not_allowed")
        requested = parse_requested_headers(request.acrh)
        if requested is None:
            return reject("header_not_allowed")
        if settings.allow_headers is not None:
            allowed_names = {ascii_lower(h) for h in settings.allow_headers}
            if any(name not in allowed_names for name in requested):
                if settings.name_cause:
                    return name_the_cause("header_not_allowed", listed_methods or method)
                return reject("header_not_allowed")
        wants_pna = asks_private_network(request.acrpn)
        if wants_pna and not settings.private_network:
            return reject("private_network_not_allowed")

        headers = _origin_headers(settings, origin)
        # Never "*" (read literally with credentials): the list, or the
        # requested method when methods is "*".
        headers[ACAM] = method if settings.methods is None else ", ".join(settings.methods)
        if settings.allow_headers is None:
            if requested:
                headers[ACAH] = ", ".join(requested)  # "*" never covers Authorization: echo
        elif settings.allow_headers:
            headers[ACAH] = ", ".join(settings.allow_headers)
        if settings.max_age is not None:
            headers[ACMA] = str(settings.max_age)
        if wants_pna:
            headers[ACAPN] = "true"
        return Expected("preflight", True, None, headers, vary, 204)

    # An actual request (a plain OPTIONS without ACRM included).
    def reject_actual(reason: str) -> Expected:
        # README: rejections always vary on Origin, also on public routes.
        return Expected("actual", False, reason, {}, origin_vary, 403)

    if len(request.origins) != 1 or not is_serialized_origin(request.origins[0]):
        return reject_actual("malformed_origin")
    origin = request.origins[0]
    if not origin_allowed(settings.patterns, origin):
        return reject_actual("origin_not_allowed")
    allowed_methods = _allowed_methods(settings)
    # README: "A plain OPTIONS ... is judged by its origin only."
    if allowed_methods is not None and request.method != "OPTIONS" and request.method not in allowed_methods:
        return reject_actual("method_not_allowed")
    headers = _origin_headers(settings, origin)
    if settings.expose_headers is None:
        headers[ACEH] = "*"
    elif settings.expose_headers:
        headers[ACEH] = ", ".join(settings.expose_headers)
    # README public-route rule: the allowed answers of a public route carry
    # no Vary: Origin (the same "*" for everyone).
    return Expected("actual", True, None, headers, frozenset() if settings.public else origin_vary, 0)
