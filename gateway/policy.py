"""The CORS engine: request facts in, a decision and its header set out.

Pure code: no I/O, no aiohttp.  The proxy hands in the raw header *lists*
(so duplicates are visible) and gets back a ``Decision`` whose ``headers`` are
ready to add to the response and whose ``vary`` tokens are to be merged into
the response's ``Vary``.

Rules follow the WHATWG Fetch standard's CORS protocol:

* Only a browser-serialised origin (see ``origins.is_serialized_origin``) can be
  allowed or reflected; anything else, or more than one ``Origin`` line, is
  ``malformed_origin``.
* ``Access-Control-Allow-Origin`` is ``*`` only on a *public* route (any
  origin, no credentials); otherwise it is the validated origin.  Nothing is
  ever ``*`` while credentials are on: methods and requested headers are
  listed or echoed instead (echoed only after validation as HTTP tokens).
* ``allow_headers: "*"`` echoes the requested names, because a literal ``*``
  never covers ``Authorization``.
* Caching and ``Vary``: every response says ``Vary: Origin`` except the
  allowed answers of a public route, which are the same
  ``Access-Control-Allow-Origin: *`` for every origin.  A request without
  ``Origin`` gets no ``Access-Control-*`` headers, and its response varies on
  ``Origin``, so a shared cache never serves that header-less answer to a
  CORS request (the trap Fetch's "CORS protocol and HTTP caches" describes),
  nor a rejection (malformed origin, ``null``) to an allowed origin.
* A preflight from an allowed origin refused only for its method or a header
  is answered 200 with that origin's ``Access-Control-Allow-Origin`` and the
  route's lists (``refused_preflight: name_cause``, the default), so the
  browser's console names what was refused; it is still a rejection.
  Disallowed origins get 403 without CORS headers, and so does a refused
  method an ok answer could let through: a safelisted one (browsers do not
  check it against the list), any under an empty list, or one whose
  uppercase is listed (older Chromium compares uppercased).
* ``methods`` apply to preflights and to actual requests (a simple POST on a
  GET-only route is not shared, and ``block`` keeps it from the upstream);
  HEAD is allowed wherever GET is, and a plain OPTIONS (no
  ``Access-Control-Request-Method``) is judged by its origin only.

Everything that does not depend on the request is built once in
``CorsPolicy.__init__``; the per-origin part is built once per origin and kept
in the bounded ``cache.DecisionCache``; a preflight's whole answer is kept per
(origin, request headers) in a small bounded table per route, with its header
lines already encoded (``Decision.wire``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from .cache import DecisionCache
from .http import ACAC, ACAH, ACAM, ACAO, ACAPN, ACEH, ACMA, ACRH, ACRM, ACRPN, SAFELISTED_METHODS, TOKEN
from .origins import MAX_ORIGIN_LENGTH, compile_origins, is_serialized_origin
from .settings import CorsSettings, RefusedPreflight

__all__ = ["SAME_ORIGIN", "CorsPolicy", "Decision", "Kind", "Reason", "allowed_methods_differ",
           "upstream_would_allow"]

Headers = tuple[tuple[str, str], ...]


# Requested header lists longer than this are refused without parsing further:
# a browser asks for a handful of names, a 64 KiB list is an attack.
MAX_REQUEST_HEADERS_LENGTH = 4096
MAX_REQUEST_HEADER_NAMES = 64
# The preflight answer cache, per route: entries, and the longest
# Access-Control-Request-Headers kept in a key.
MAX_CACHED_PREFLIGHTS = 1024
MAX_CACHED_REQUEST_HEADERS_LENGTH = 512

_TOKEN = TOKEN


class Kind(StrEnum):
    PREFLIGHT = "preflight"
    ACTUAL = "actual"
    NON_CORS = "non_cors"


class Reason(StrEnum):
    ORIGIN_NOT_ALLOWED = "origin_not_allowed"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    HEADER_NOT_ALLOWED = "header_not_allowed"
    PRIVATE_NETWORK_NOT_ALLOWED = "private_network_not_allowed"
    MALFORMED_ORIGIN = "malformed_origin"
    NO_ROUTE = "no_route"


_EXPLANATIONS = {
    Reason.ORIGIN_NOT_ALLOWED: "the request's Origin is not allowed on this route",
    Reason.METHOD_NOT_ALLOWED: "the requested method is not allowed on this route",
    Reason.HEADER_NOT_ALLOWED: "a requested header is not allowed on this route",
    Reason.PRIVATE_NETWORK_NOT_ALLOWED: "private network access is not allowed on this route",
    Reason.MALFORMED_ORIGIN: "the Origin header is not a single serialized origin",
    Reason.NO_ROUTE: "no route matches this request",
}


@dataclass(frozen=True, slots=True)
class Decision:
    kind: Kind
    allowed: bool | None  # None: not a CORS request (decision "not_applicable")
    reason: Reason | None
    headers: Headers  # Access-Control-* headers to send
    vary: tuple[str, ...]  # tokens to merge into Vary
    status: int = 0  # for preflight answers and blocks: the status to send
    # ``headers`` and the Vary line as HTTP/1.1 header lines, encoded once so
    # that a cached preflight answer is a byte copy (see server.listener._PreflightAnswer).
    wire: bytes = field(default=b"", compare=False, repr=False)
    # (kind, decision label, reason) as the plain strings metrics and logs use.
    labels: tuple[str, str, str | None] = field(default=("", "", None), compare=False, repr=False)
    # For a rejection: what exactly was refused and the config key to change,
    # e.g. 'requested header "x-api-key" is not in routes.2.cors.allow_headers'.
    # For the rejection log and `explain`, never for a response: the only
    # request input in it is method and header names validated as tokens.
    detail: str = field(default="", compare=False, repr=False)

    def __post_init__(self) -> None:
        lines = [f"{name}: {value}\r\n" for name, value in self.headers]
        if self.vary:
            lines.append(f"Vary: {', '.join(self.vary)}\r\n")
        # Values are validated origins and configured tokens: ASCII.
        object.__setattr__(self, "wire", "".join(lines).encode("latin-1"))
        if not self.labels[1]:  # unless given (SAME_ORIGIN)
            label = "not_applicable" if self.allowed is None else "allowed" if self.allowed else "rejected"
            reason = self.reason.value if self.reason is not None else None
            object.__setattr__(self, "labels", (self.kind.value, label, reason))

    @property
    def label(self) -> str:
        return self.labels[1]

    @property
    def message(self) -> str:
        """One line for a 403 body: never contains request input."""
        if self.reason is None:
            return ""
        what = "CORS preflight" if self.kind is Kind.PREFLIGHT else "CORS request"
        return f"{what} rejected: {self.reason.value}: {_EXPLANATIONS[self.reason]}\n"


# A same-origin request (the gateway's own origin calling it, e.g. a page
# served through the gateway posting a form): CORS does not apply, so no
# Access-Control-* header is added and neither ``on_reject: block`` nor
# ``csrf`` refuses it.  Its answer still varies on Origin: the same URL
# answers other origins with CORS headers, and a shared cache must not hand
# this header-less answer to them.  It varies on every header the
# same-origin judgement reads: the same Origin value is cross-origin under
# another Sec-Fetch-Site or (behind a trusted proxy) another forwarded host.
SAME_ORIGIN = Decision(Kind.ACTUAL, True, None, (),
                       ("Origin", "Sec-Fetch-Site", "X-Forwarded-Host", "X-Forwarded-Proto"),
                       labels=("actual", "same_origin", None))


@dataclass(frozen=True, slots=True)
class _OriginVerdict:
    """What the policy says about one origin; cached per (policy, origin)."""

    allowed: bool
    actual: Decision  # the answer to an actual request with an allowed method
    preflight_base: Headers  # ACAO/ACAC part of a successful preflight answer


class CorsPolicy:
    """One route's compiled CORS policy: immutable after construction."""

    __slots__ = (
        "name", "settings", "_key", "_cache", "_origins", "public", "_methods", "_allow_headers",
        "_allow_headers_value", "_acam", "_fixed_preflight", "_preflight_vary", "_actual_vary",
        "_rejected_actual", "_rejected_preflight", "non_cors", "_expose", "_credentials",
        "_malformed_verdict", "_preflights", "where", "_name_cause",
    )

    def __init__(self, name: str, settings: CorsSettings, cache: DecisionCache, key: str = "cors"):
        """``key``: the config key path of this policy's cors block (``routes.2.cors``),
        named in rejection details."""
        self.name = name
        self.where = key  # the config key path of this policy's cors block
        self.settings = settings
        self._key = cache.new_namespace()
        self._cache = cache
        self._origins = compile_origins(settings.origins)
        self._credentials = settings.supports_credentials
        # A public route answers "*" to everyone: the answer does not depend on Origin.
        self.public = self._origins.allow_any and not self._credentials
        # HEAD is GET without a body (RFC 9110): wherever GET is allowed, so is HEAD.
        methods = settings.methods
        if methods is not None and "GET" in methods:
            methods = (*methods, "HEAD")
        self._methods = None if methods is None else frozenset(methods)
        self._allow_headers = (
            None if settings.allow_headers is None else frozenset(h.lower() for h in settings.allow_headers)
        )
        self._allow_headers_value = ", ".join(settings.allow_headers or ())
        self._acam = ", ".join(settings.methods) if settings.methods else ""
        self._name_cause = settings.refused_preflight is RefusedPreflight.NAME_CAUSE

        expose: Headers = ()
        if settings.expose_headers is None:
            expose = ((ACEH, "*"),)  # config refuses this with credentials
        elif settings.expose_headers:
            expose = ((ACEH, ", ".join(settings.expose_headers)),)
        self._expose = expose

        fixed: list[tuple[str, str]] = []
        if settings.max_age is not None:
            fixed.append((ACMA, str(settings.max_age)))
        self._fixed_preflight: Headers = tuple(fixed)

        self._actual_vary = () if self.public else ("Origin",)
        preflight_vary = ["Origin", ACRM, ACRH]
        if settings.allow_private_network:
            preflight_vary.append(ACRPN)
        self._preflight_vary = tuple(preflight_vary)

        # Rejections carry no Access-Control-Allow-* headers (but the
        # refused-preflight answers of ``_refused_preflight``); they always
        # vary on Origin because another origin may get a different answer.
        fixed_details = {
            Reason.ORIGIN_NOT_ALLOWED: (f"the origin is not in {settings.key_path('origins', key)}: add it there if "
                                        "this site may call"),
            Reason.MALFORMED_ORIGIN: "the Origin header is not one serialized origin (not a browser's)",
            Reason.PRIVATE_NETWORK_NOT_ALLOWED: (
                "the page asked for private network access (Access-Control-Request-Private-Network: true); "
                f"{settings.key_path('allow_private_network', key)}: true allows it, for origins you trust"),
            Reason.METHOD_NOT_ALLOWED: f"the method is not in {settings.key_path('methods', key)}",
            Reason.HEADER_NOT_ALLOWED: (f"Access-Control-Request-Headers is malformed or longer than "
                                        f"{MAX_REQUEST_HEADERS_LENGTH} characters or {MAX_REQUEST_HEADER_NAMES} names"),
        }
        self._rejected_actual = {
            r: Decision(Kind.ACTUAL, False, r, (), ("Origin",), 403, detail=fixed_details.get(r, "")) for r in Reason
        }
        self._rejected_preflight = {
            r: Decision(Kind.PREFLIGHT, False, r, (), self._preflight_vary, 403, detail=fixed_details.get(r, ""))
            for r in Reason
        }
        # The answer to a request without Origin (not a CORS request).
        self.non_cors = Decision(Kind.NON_CORS, None, None, (), ("Origin",))
        self._malformed_verdict = _OriginVerdict(False, self._rejected_actual[Reason.MALFORMED_ORIGIN], ())
        # Preflight answers by their raw request headers.  Browsers repeat the
        # same few preflights, so this turns the header parsing and the new
        # Decision into one lookup.  Bounded: emptied when full (an attacker
        # varying the headers only gets the uncached path), and only short
        # keys are kept.
        self._preflights: dict[tuple, Decision] = {}

    # -- per-origin part, cached ------------------------------------------

    def _verdict(self, origin: str) -> _OriginVerdict:
        if len(origin) > MAX_ORIGIN_LENGTH:
            return self._malformed_verdict  # never cache attacker-sized keys
        key = (self._key, origin)
        verdict = self._cache.get(key)
        if verdict is None:
            verdict = self._judge(origin)
            self._cache.put(key, verdict)
        return verdict

    def _judge(self, origin: str) -> _OriginVerdict:
        if not is_serialized_origin(origin):
            return self._malformed_verdict
        if not self._origins.matches(origin):
            reason = Reason.ORIGIN_NOT_ALLOWED
            return _OriginVerdict(False, self._rejected_actual[reason], ())
        if self.public:
            base: Headers = ((ACAO, "*"),)
        else:
            # Safe to reflect: validated as a serialized origin and matched.
            base = ((ACAO, origin),)
            if self._credentials:
                base += ((ACAC, "true"),)
        actual = Decision(Kind.ACTUAL, True, None, base + self._expose, self._actual_vary)
        return _OriginVerdict(True, actual, base)

    # -- the entry points --------------------------------------------------

    def decide(
        self,
        method: str,
        origins: list[str] | tuple[str, ...],
        acrm: list[str] | tuple[str, ...] = (),
        acrh: list[str] | tuple[str, ...] = (),
        acrpn: list[str] | tuple[str, ...] = (),
    ) -> Decision:
        """Classify and judge one request from its raw header value lists."""
        if not origins:
            return self.non_cors
        if method == "OPTIONS" and acrm:
            return self.preflight(origins, acrm, acrh, acrpn)
        return self.actual(method, origins)

    def actual(self, method: str, origins: list[str] | tuple[str, ...]) -> Decision:
        if len(origins) != 1:
            return self._rejected_actual[Reason.MALFORMED_ORIGIN]
        verdict = self._verdict(origins[0])
        if not verdict.allowed:
            return verdict.actual
        if self._methods is not None and method not in self._methods and method != "OPTIONS":
            return self._method_refused(Kind.ACTUAL, method)
        return verdict.actual

    def _method_refused(self, kind: Kind, method: str, base: Headers = ()) -> Decision:
        """A method rejection that names the method (a token: aiohttp's parser or _TOKEN checked it).
        ``base``: a preflight's ACAO/ACAC for its allowed origin (see ``_refused_preflight``)."""
        detail = f'method "{method[:32]}" is not in {self.settings.key_path("methods", self.where)}: add it there'
        if kind is Kind.ACTUAL:
            return Decision(Kind.ACTUAL, False, Reason.METHOD_NOT_ALLOWED, (), ("Origin",), 403, detail=detail)
        # Plain 403 where an ok answer could let the request through: a safelisted method (no
        # Access-Control-Allow-Methods needed), an empty list (Fetch then takes the request's own
        # method), and a method whose uppercase is listed (older Chromium compares uppercased).
        if (self._name_cause and method not in _SAFELISTED_METHODS and self._acam
                and method.upper() not in self._methods):
            return self._refused_preflight(Reason.METHOD_NOT_ALLOWED, base, self._acam, detail)
        return Decision(Kind.PREFLIGHT, False, Reason.METHOD_NOT_ALLOWED, (), self._preflight_vary, 403,
                        detail=detail)

    def _refused_preflight(self, reason: Reason, base: Headers, acam: str, detail: str) -> Decision:
        """``refused_preflight: name_cause``: a preflight from an allowed origin refused for its method or
        a header, answered 200 with the origin's ACAO/ACAC and the route's methods and headers.

        The browser's own checks then fail on exactly the refused method or header, and its console
        says so ("Method PUT is not allowed by Access-Control-Allow-Methods in preflight response")
        instead of "No 'Access-Control-Allow-Origin' header is present".  The lists never name the
        refused method or header, so the browser still refuses; the gateway still counts and logs a
        rejection.  No max-age: nothing of this answer is worth caching.
        """
        headers = list(base)
        if acam:
            headers.append((ACAM, acam))
        if self._allow_headers_value:
            headers.append((ACAH, self._allow_headers_value))
        return Decision(Kind.PREFLIGHT, False, reason, tuple(headers), self._preflight_vary, 200, detail=detail)

    def preflight(
        self,
        origins: list[str] | tuple[str, ...],
        acrm: list[str] | tuple[str, ...],
        acrh: list[str] | tuple[str, ...] = (),
        acrpn: list[str] | tuple[str, ...] = (),
    ) -> Decision:
        if len(origins) != 1:
            return self._rejected_preflight[Reason.MALFORMED_ORIGIN]
        origin = origins[0]
        if (len(origin) > MAX_ORIGIN_LENGTH or len(acrh) > 4 or len(acrm) != 1 or len(acrm[0]) > 32
                or len(acrpn) > 1 or (acrpn and len(acrpn[0]) > 16)
                or sum(map(len, acrh)) > MAX_CACHED_REQUEST_HEADERS_LENGTH):
            self._cache.preflight_misses += 1
            return self._preflight(origin, acrm, acrh, acrpn)  # unusual: not worth a key
        key = (origin, tuple(acrm), tuple(acrh), tuple(acrpn))
        decision = self._preflights.get(key)
        if decision is not None:
            self._cache.preflight_hits += 1
            return decision
        self._cache.preflight_misses += 1
        decision = self._preflight(origin, acrm, acrh, acrpn)
        if len(self._preflights) >= MAX_CACHED_PREFLIGHTS:
            self._preflights.clear()
        self._preflights[key] = decision
        return decision

    def _preflight(
        self,
        origin: str,
        acrm: list[str] | tuple[str, ...],
        acrh: list[str] | tuple[str, ...],
        acrpn: list[str] | tuple[str, ...],
    ) -> Decision:
        rejected = self._rejected_preflight
        verdict = self._verdict(origin)
        if not verdict.allowed:
            return rejected[verdict.actual.reason]

        if len(acrm) != 1 or not _TOKEN.fullmatch(acrm[0]):
            return rejected[Reason.METHOD_NOT_ALLOWED]
        method = acrm[0]  # case-sensitive, as HTTP methods are
        if self._methods is not None and method not in self._methods:
            return self._method_refused(Kind.PREFLIGHT, method, verdict.preflight_base)

        requested = _parse_header_names(acrh)
        if requested is None:
            return rejected[Reason.HEADER_NOT_ALLOWED]
        if self._allow_headers is not None:
            allowed = self._allow_headers
            refused = [name for name in requested if name not in allowed]
            if refused:
                # Validated tokens, lowercased, at most 64 of them: clipped for the log.
                names = ", ".join(f'"{name[:40]}"' for name in refused[:5]) + (", ..." if len(refused) > 5 else "")
                what = "requested header" if len(refused) == 1 else "requested headers"
                detail = (f"{what} {names} not in {self.settings.key_path('allow_headers', self.where)}: add "
                          f"{'it' if len(refused) == 1 else 'them'} there")
                if self._name_cause:
                    acam = self._acam if self._methods is not None else method
                    return self._refused_preflight(Reason.HEADER_NOT_ALLOWED, verdict.preflight_base, acam, detail)
                return Decision(Kind.PREFLIGHT, False, Reason.HEADER_NOT_ALLOWED, (), self._preflight_vary, 403,
                                detail=detail)

        wants_pna = False
        for value in acrpn:
            if value.strip(" \t").lower() == "true":  # HTTP whitespace only, as Fetch trims
                wants_pna = True
        if wants_pna and not self.settings.allow_private_network:
            return rejected[Reason.PRIVATE_NETWORK_NOT_ALLOWED]

        headers = list(verdict.preflight_base)
        # Never "*": with credentials it would be read literally.
        headers.append((ACAM, self._acam if self._methods is not None else method))
        if self._allow_headers is None:
            if requested:  # validated tokens, lowercased: safe to echo
                headers.append((ACAH, ", ".join(requested)))
        elif self._allow_headers_value:
            headers.append((ACAH, self._allow_headers_value))
        headers.extend(self._fixed_preflight)
        if wants_pna:
            headers.append((ACAPN, "true"))
        return Decision(Kind.PREFLIGHT, True, None, tuple(headers), self._preflight_vary, 204)


def _parse_header_names(lines: list[str] | tuple[str, ...]) -> list[str] | None:
    """Parse Access-Control-Request-Headers (possibly over several lines).

    Returns lowercase names without duplicates, or None if the value is too
    long, has too many names, or holds something that is not a token.
    """
    if not lines:
        return []
    total = 0
    for line in lines:
        total += len(line)
    if total > MAX_REQUEST_HEADERS_LENGTH:
        return None
    names: list[str] = []
    for line in lines:
        for item in line.split(","):
            name = item.strip(" \t")
            if not name:
                continue
            # The token check comes first: str.lower() maps some non-ASCII
            # letters to ASCII (U+212A KELVIN SIGN -> "k").
            if not _TOKEN.fullmatch(name):
                return None
            name = name.lower()
            if name not in names:
                names.append(name)
                if len(names) > MAX_REQUEST_HEADER_NAMES:
                    return None
    return names


# --------------------------------------------------------------------------
# Shadow mode: would a browser accept what the upstream answered?
# --------------------------------------------------------------------------

_SAFELISTED_METHODS = SAFELISTED_METHODS


def _header_set(value: str | None) -> set[str]:
    if not value:
        return set()
    return {item.strip().lower() for item in value.split(",") if item.strip()}


def upstream_would_allow(
    kind: Kind,
    origin: str,
    credentials: bool,
    status: int,
    headers: dict[str, str],
    acrm: str = "",
    acrh: tuple[str, ...] | list[str] = (),
) -> bool:
    """Fetch's CORS check (and preflight checks) applied to an upstream answer.

    ``headers`` maps lowercase names to values (the first value; a duplicated
    Access-Control-Allow-Origin is joined with ", " by the caller, which then
    fails here exactly as it fails in a browser).
    """
    acao = headers.get("access-control-allow-origin")
    if acao is None:
        return False
    if credentials:
        if acao != origin or headers.get("access-control-allow-credentials") != "true":
            return False
    elif acao != "*" and acao != origin:
        return False
    if kind is not Kind.PREFLIGHT:
        return True
    if not 200 <= status <= 299:
        return False
    listed = headers.get("access-control-allow-methods") or ""
    methods = {item.strip() for item in listed.split(",")}  # case-sensitive, as in browsers
    if acrm not in _SAFELISTED_METHODS and acrm not in methods and not ("*" in methods and not credentials):
        return False
    allowed = _header_set(headers.get("access-control-allow-headers"))
    wildcard = "*" in allowed and not credentials
    for name in _parse_header_names(acrh) or []:
        if name in allowed:
            continue
        if wildcard and name != "authorization":
            continue
        return False
    return True


# Never part of a method comparison: browsers allow the safelisted ones
# whatever a preflight says, and the gateway answers OPTIONS preflights itself.
_NOT_COMPARED_METHODS = _SAFELISTED_METHODS | {"OPTIONS"}


def allowed_methods_differ(ours: tuple[str, ...] | None, acam: str | None, credentials: bool) -> bool:
    """Shadow mode: would a cached preflight let a page use other methods?

    ``ours`` is the route's configured methods (None: any), ``acam`` the
    upstream's Access-Control-Allow-Methods.  A browser caches the allowed
    methods of a preflight, so a later request with another method behaves
    differently when the lists differ.
    """
    theirs = {item.strip() for item in (acam or "").split(",") if item.strip()}
    if ours is None or ("*" in theirs and not credentials):
        return False  # either side allows any method: only the requested one can be compared
    return set(ours) - _NOT_COMPARED_METHODS != theirs - _NOT_COMPARED_METHODS
