"""flask-cors's semantics for one route: merged options -> one gateway ``cors`` block.

``CorsTranslator.block`` takes the options in effect for a route (defaults,
config, the ``CORS()`` or ``@cross_origin`` call, the resource) and writes
what the gateway needs to answer as flask-cors did, reporting every place
where it cannot or deliberately does not: a value only known at run time, an
origin flask-cors never matched, ``re.match``'s start-only anchoring,
credentials or private-network access open to every site (refused, as
``gateway.config`` refuses them), options with no equivalent.
"""

from __future__ import annotations

import re
from typing import Any

from ..http import TOKEN
from ..origin_probes import public_suffix_below, regex_matches_any, regex_matches_foreign, wildcard_host
from ..origins import PatternError, normalize_origin, parse_pattern
from .findings import INFO, SECURITY, UNTRANSLATABLE, WARNING, Findings, Site, quoted
from .options import FC_ALL_METHODS, FC_DEFAULTS, Opt, Options, ensure_list, flexible_str, probably_regex, re_fix
from .regexes import anchored_already, gateway_origin_regex, prefix_match_example, runs_on_re2
from .source import Duration, EnvRef, Regex, Unresolved

__all__ = ["CorsTranslator"]

SIMPLE_METHODS = ("GET", "POST")  # never preflighted; HEAD goes with GET in the gateway
_TOKEN = TOKEN


class CorsTranslator:
    """Turns merged flask-cors options into a gateway ``cors`` block, reporting every difference."""

    def __init__(self, findings: Findings, unread_config: list[Site] | None = None):
        """``unread_config``: where config the importer could not read is loaded (it may set CORS_ORIGINS)."""
        self.findings = findings
        self.unread_config = unread_config or []

    def block(
        self, options: Options, anchor: Site, route_methods: set[str] | None = None, *, decorator: bool = False
    ) -> dict:
        """The ``cors`` block for these options.

        ``anchor``: where findings about flask-cors's defaults point (the
        CORS() call or the decorator); ``route_methods``: the view's methods,
        when the route is one view's rule.
        """
        self._unknown_options(options, anchor)
        cors: dict[str, Any] = {}
        # Options unpacked at run time may hold the origins: allow none meanwhile.
        origins = [] if "**" in options else self._origins(options["origins"], anchor)
        # (a "${NAME}" string: a comma list from the environment, checked by the gateway when it loads)
        listed = origins if isinstance(origins, list) else []
        credentials = self._flag(options, "supports_credentials", anchor)
        private_network = self._flag(options, "allow_private_network", anchor)
        credentials = self._credentials_check(listed, credentials, options, anchor)
        private_network = self._private_network_check(listed, private_network, options, anchor)
        cors["origins"] = origins
        if credentials:
            cors["supports_credentials"] = True
        methods = self._methods(options["methods"], anchor, route_methods)
        if methods is not None:
            cors["methods"] = methods
        allow_headers = self._allow_headers(options["allow_headers"], anchor)
        if allow_headers is not None:
            cors["allow_headers"] = allow_headers
        expose = self._expose_headers(options["expose_headers"], anchor, credentials)
        if expose:
            cors["expose_headers"] = expose
        max_age = self._max_age(options["max_age"], anchor)
        if max_age is not None:
            cors["max_age"] = max_age
        if private_network:
            cors["allow_private_network"] = True
        self._no_equivalent(options, decorator, public="*" in listed)
        return cors

    def _site(self, opt: Opt, anchor: Site) -> Site:
        return opt.site or anchor

    def _unknown_options(self, options: Options, anchor: Site) -> None:
        for name, opt in options.items():
            if name == "**":
                self.findings.add(
                    self._site(opt, anchor), UNTRANSLATABLE,
                    f"options unpacked from {opt.value.text} are only known at run time; the emitted route uses "
                    "the other options and no origin: add the unpacked options to the route's cors block by hand",
                )
            elif name not in FC_DEFAULTS:
                self.findings.add(
                    self._site(opt, anchor), WARNING,
                    f"flask-cors ignores the unknown option {name!r} (it only logs a warning); so does the config",
                )

    # -- origins ------------------------------------------------------------

    def _origins(self, opt: Opt, anchor: Site) -> list[str] | str:
        site = self._site(opt, anchor)
        value = opt.value
        if isinstance(value, EnvRef) and value.placeholder() is not None:
            return self._env_origins(value, site)
        if isinstance(value, Unresolved):
            self.findings.add(
                site, UNTRANSLATABLE,
                f"origins {value.text} is only known at run time; emitted origins: [] (no origin allowed) "
                'meanwhile: replace it with the origins it has in production, e.g. origins: ["https://app.example.com"]',
            )
            return []
        if isinstance(value, dict):
            self.findings.add(site, UNTRANSLATABLE, "origins is a dict; emitted origins: [] (list the origins by hand)")
            return []
        if opt.site is None and self.unread_config:
            where = ", ".join(f"{file}:{line}" for file, line in self.unread_config[:3])
            self.findings.add(
                site, UNTRANSLATABLE,
                f"origins not set here, and config loaded where the importer cannot read it ({where}) may set "
                'CORS_ORIGINS; flask-cors\'s default ("*") is not assumed: emitted origins: [] (no origin allowed) '
                "meanwhile: list the origins CORS_ORIGINS has in production",
            )
            return []
        entries = [re_fix(entry) for entry in ensure_list(value)]
        if opt.site is None:
            self.findings.add(
                site, WARNING,
                'origins not set: flask-cors allows every origin by default ("*"), so every website can read these '
                'responses; emitted origins: "*" (the gateway answers "*" and, unlike flask-cors, refuses Origin: '
                "null). List your frontends' origins instead",
            )
        origins: list[str] = []
        for entry in entries:
            for origin in self._origin(entry, site):
                if origin not in origins:
                    origins.append(origin)
        if "*" in origins:
            if opt.site is not None:
                self.findings.add(
                    site, WARNING,
                    'origins "*": flask-cors also allowed Origin: null (sandboxed iframes, file: pages); the '
                    'gateway\'s "*" refuses Origin: null: add "null" to origins if such pages call this app',
                )
            origins = ["*"]  # the other entries are redundant (check would warn)
        return origins

    def _env_origins(self, ref: EnvRef, site: Site) -> list[str] | str:
        """Origins read from the environment: the config reads the same variable (``${NAME}``)."""
        placeholder = ref.placeholder()
        if not ref.split and ref.default is not None and "," in ref.default:
            # flask-cors took the whole default as one origin, which matched nothing.
            self.findings.add(
                site, UNTRANSLATABLE,
                f"origins from the environment variable {ref.name} with the default {ref.default!r}, one string "
                "holding commas, which flask-cors matched against no origin; emitted origins: [] (no origin "
                "allowed): list the origins by hand",
            )
            return []
        what = ("a comma-separated list of origins" if ref.split
                else "one origin (flask-cors does not split it on commas)")
        self.findings.add(
            site, WARNING,
            f"origins come from the environment variable {ref.name} ({what}"
            + (f", default {ref.default!r}" if ref.default is not None else "")
            + f"): emitted as {placeholder}, which the gateway reads from its own environment when it loads the "
            f"config: set {ref.name} there too. The gateway reads the value with its own origin syntax (exact "
            "origins, *.example.com wildcards, re:^...$ regexes), not flask-cors's regex guess: check the value"
            + (". Set but empty, the gateway uses the default where flask-cors allowed no origin"
               if ref.default else ""),
        )
        # A string for a list key is split on commas by the config; one origin stays one list item.
        return placeholder if ref.split else [placeholder]

    def _origin(self, entry: Any, site: Site) -> list[str]:
        if entry == ".*":
            return ["*"]
        if isinstance(entry, Regex):
            return self._origin_regex(entry.pattern, entry.ignorecase, site)
        if not isinstance(entry, str):
            self.findings.add(
                site, WARNING, f"origin {entry!r} is not a string, so flask-cors never matched it; left out"
            )
            return []
        if probably_regex(entry):
            return self._origin_regex(entry, True, site)
        return self._origin_literal(entry, site)

    def _origin_literal(self, entry: str, site: Site) -> list[str]:
        # flask-cors compares a literal with the Origin header, ignoring case.
        text = entry.casefold()
        if text == "null":
            return ["null"]
        try:
            normal = normalize_origin(entry)
        except PatternError as err:
            self.findings.add(
                site, WARNING,
                f"origin {entry!r} is not an origin a browser sends ({err}), so flask-cors never matched it; left out",
            )
            return []
        if normal != text:
            self.findings.add(
                site, WARNING,
                f"origin {entry!r}: flask-cors compares it with the Origin header as text, and browsers send "
                f"{normal!r}, so it never matched; left out (add {normal!r} if you meant it)",
            )
            return []
        return [normal]

    def _origin_regex(self, pattern: str, ignorecase: bool, site: Site) -> list[str]:
        regex = gateway_origin_regex(pattern, ignorecase)
        if not runs_on_re2(self.findings, regex, site, f"origin regex {quoted(pattern)}",
                                 "left out: rewrite it as a re:^...$ pattern RE2 accepts, or list the origins"):
            return []
        self._wildcard_hint(pattern, site)
        example = prefix_match_example(pattern, re.IGNORECASE if ignorecase else 0, regex)
        if example is not None:
            self.findings.add(
                site, SECURITY,
                f"origin regex {quoted(pattern)}: flask-cors matches it with re.match, which anchors only the start, "
                f"so it accepted {example!r}; the gateway matches the whole origin (re:{regex}) and refuses that "
                "origin. Keep it refused; if an origin your pages use no longer matches, add it",
            )
        elif not anchored_already(pattern):
            self.findings.add(
                site, INFO,
                f"origin regex {quoted(pattern)} becomes re:{regex}: the gateway matches the whole origin, flask-cors "
                "only its start; check that the origins your pages use still match",
            )
        return [f"re:{regex}"]

    def _wildcard_hint(self, pattern: str, site: Site) -> None:
        try:
            kind = parse_pattern(pattern).kind
        except PatternError:
            return
        if kind == "wildcard":
            self.findings.add(
                site, WARNING,
                f"origin {quoted(pattern)} is a regex to flask-cors, not a subdomain wildcard ('*' repeats the '/' "
                f"before it, '.' is any character), so it never matched a subdomain; translated as that regex. "
                f"For every subdomain, write {quoted(pattern)} in the gateway config without re: (a gateway wildcard)",
            )

    # -- credentials and private network -------------------------------------

    def _flag(self, options: Options, name: str, anchor: Site) -> bool:
        opt = options[name]
        if isinstance(opt.value, Unresolved):
            self.findings.add(
                self._site(opt, anchor), UNTRANSLATABLE,
                f"{name} {opt.value.text} is only known at run time; emitted false: set {name}: true by hand "
                "if it is true in production",
            )
            return False
        return bool(opt.value)

    def _open_to_all(self, origins: list[str]) -> str | None:
        """'"*"' or the re: pattern that matches any origin, if the origins are open to every site."""
        if "*" in origins:
            return '"*"'
        for origin in origins:
            if origin.startswith("re:") and regex_matches_any(parse_pattern(origin)) is not None:
                return origin
        return None

    def _open_to_strangers(self, origins: list[str]) -> tuple[str, str] | None:
        """(entry, what it lets in) for an entry that takes in strangers' sites: the same
        probes ``check`` refuses with credentials or private network access."""
        for origin in origins:
            try:
                pattern = parse_pattern(origin)
            except PatternError:
                continue
            if pattern.kind == "regex":
                probe = regex_matches_foreign(pattern)
                if probe is not None:
                    return origin, f"strangers' sites such as {probe}"
            host = wildcard_host(pattern)
            below = public_suffix_below(host) if host is not None else None
            if below is not None:
                return origin, f"anyone's site under the public suffix {below}"
        return None

    def _credentials_check(self, origins: list[str], credentials: bool, options: Options, anchor: Site) -> bool:
        open_to = self._open_to_all(origins)
        if credentials and open_to is None and (strangers := self._open_to_strangers(origins)) is not None:
            entry, who = strangers
            self.findings.add(
                self._site(options["supports_credentials"], anchor), SECURITY,
                f"supports_credentials=True: origins entry {entry} lets in {who}, and flask-cors sends them "
                "Access-Control-Allow-Credentials: true, so those sites can act as your logged-in users. The "
                "gateway refuses that; the emitted route keeps the origins without credentials. Fix: anchor "
                r"the entry to your own domains (e.g. re:^https://([a-z0-9-]+\.)?example\.com$) and set "
                "supports_credentials: true",
            )
            return False
        if not credentials or open_to is None:
            return credentials
        site = self._site(options["supports_credentials"], anchor)
        raises = open_to == '"*"' and options["send_wildcard"].value is True
        what = (
            "flask-cors raises ValueError at start-up for this (send_wildcard is on)"
            if raises
            else f"with origins {open_to} flask-cors reflects every Origin with Access-Control-Allow-Credentials: "
            "true, so any website can act as your logged-in users"
        )
        self.findings.add(
            site, SECURITY,
            f"supports_credentials=True: {what}. The gateway refuses that; the emitted route keeps origins "
            f"{open_to} without credentials, so credentialed cross-origin requests fail. Fix: list your "
            "frontends' origins in origins and set supports_credentials: true",
        )
        return False

    def _private_network_check(self, origins: list[str], allowed: bool, options: Options, anchor: Site) -> bool:
        open_to = self._open_to_all(origins)
        if allowed and open_to is None and (strangers := self._open_to_strangers(origins)) is not None:
            entry, who = strangers
            self.findings.add(
                self._site(options["allow_private_network"], anchor), SECURITY,
                f"allow_private_network=True: origins entry {entry} lets in {who}, so they could reach this "
                "private service (CVE-2024-6221); emitted allow_private_network: false. Fix: anchor the entry "
                "to your own domains and set it to true",
            )
            return False
        if not allowed or open_to is None:
            return allowed
        self.findings.add(
            self._site(options["allow_private_network"], anchor), SECURITY,
            f"allow_private_network=True with origins {open_to}: every public website could reach this private "
            "service (CVE-2024-6221); emitted allow_private_network: false. Fix: list the allowed origins and "
            "set it to true",
        )
        return False

    # -- methods and headers --------------------------------------------------

    def _methods(self, opt: Opt, anchor: Site, route_methods: set[str] | None) -> list[str] | None:
        site = self._site(opt, anchor)
        if isinstance(opt.value, Unresolved):
            self.findings.add(
                site, UNTRANSLATABLE,
                f"methods {opt.value.text} is only known at run time; the gateway's default methods apply: "
                "set methods by hand",
            )
            return None
        text = flexible_str(opt.value) or ""
        tokens = [t.strip().upper() for t in text.split(",") if t.strip()]
        methods: list[str] = []
        for token in tokens:
            if token == "*":
                self.findings.add(
                    site, WARNING,
                    "methods '*' is no wildcard to flask-cors (no preflighted method matched it); left out",
                )
            elif not _TOKEN.fullmatch(token):
                self.findings.add(site, WARNING, f"method {token!r} is not a valid HTTP token; left out")
            elif token not in methods:
                # OPTIONS stays: a page's fetch(url, {method: "OPTIONS"}) is
                # preflighted with Access-Control-Request-Method: OPTIONS, which
                # flask-cors's default list allows.
                methods.append(token)
        if route_methods is not None:
            # Flask answers OPTIONS on every route (automatic options).
            methods = [m for m in methods if m in route_methods or m == "OPTIONS"]
        # flask-cors sorts a list alphabetically; written in the usual order here.
        methods.sort(key=lambda m: FC_ALL_METHODS.index(m) if m in FC_ALL_METHODS else len(FC_ALL_METHODS))
        relevant = [m for m in SIMPLE_METHODS if route_methods is None or m in route_methods]
        missing = [m for m in relevant if m not in methods]
        if missing:
            self.findings.add(
                site, WARNING,
                f"methods leave out {', '.join(missing)}: flask-cors never checks methods on requests a browser "
                "does not preflight, so cross-origin " + "/".join(missing) + " requests still got CORS headers; "
                "the gateway checks methods on every request: add them if your pages send them",
            )
        return methods

    def _header_names(self, opt: Opt, anchor: Site, what: str, *, regexes: bool) -> list[str] | str | None:
        site = self._site(opt, anchor)
        if isinstance(opt.value, Unresolved):
            self.findings.add(
                site, UNTRANSLATABLE,
                f"{what} {opt.value.text} is only known at run time; the gateway's default applies: set {what} by hand",
            )
            return None
        if opt.value is None:
            return []
        items = [re_fix(item) for item in ensure_list(opt.value)] if regexes else ensure_list(opt.value)
        names: list[str] = []
        for item in items:
            if item in (".*", "*"):
                return "*"
            if regexes and (isinstance(item, Regex) or (isinstance(item, str) and probably_regex(item))):
                shown = item.pattern if isinstance(item, Regex) else item
                self.findings.add(
                    site, WARNING,
                    f"{what} regex {quoted(shown)}: the gateway has no header regexes; emitted \"*\" (every header "
                    "allowed): list the header names to narrow it",
                )
                return "*"
            for name in str(item).split(","):
                name = name.strip()
                if name and not _TOKEN.fullmatch(name):
                    self.findings.add(site, WARNING, f"{what}: {name!r} is not a valid header name; left out")
                elif name and name.lower() not in (n.lower() for n in names):
                    names.append(name)
        return names

    def _allow_headers(self, opt: Opt, anchor: Site) -> list[str] | str | None:
        return self._header_names(opt, anchor, "allow_headers", regexes=True)

    def _expose_headers(self, opt: Opt, anchor: Site, credentials: bool) -> list[str] | str | None:
        names = self._header_names(opt, anchor, "expose_headers", regexes=False)
        if names == "*" and credentials:
            self.findings.add(
                self._site(opt, anchor), WARNING,
                'expose_headers "*" with credentials: browsers read it as a header named "*", so nothing was '
                "exposed; left out: list the header names",
            )
            return None
        return names

    def _max_age(self, opt: Opt, anchor: Site) -> int | None:
        value = opt.value
        site = self._site(opt, anchor)
        if isinstance(value, Unresolved):
            self.findings.add(
                site, UNTRANSLATABLE, f"max_age {value.text} is only known at run time; left out: set it by hand"
            )
            return None
        if value is None:
            return None
        if isinstance(value, Duration):
            return max(int(value.seconds), 0)
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        self.findings.add(site, WARNING, f"max_age {value!r} is not a whole number of seconds; left out")
        return None

    # -- options without an equivalent ---------------------------------------

    def _no_equivalent(self, options: Options, decorator: bool, public: bool) -> None:
        def explicit(name: str) -> Opt | None:
            opt = options[name]
            return opt if opt.site is not None else None

        if (opt := explicit("send_wildcard")) and opt.value is True and public:
            self.findings.add(opt.site, INFO, 'send_wildcard: the gateway answers "*" itself on a route whose '
                              'origins are "*" without credentials')
        if (opt := explicit("vary_header")) and opt.value is not True:
            self.findings.add(opt.site, WARNING, "vary_header=False has no equivalent: the gateway always sends "
                              "Vary: Origin (except on the allowed answers of a public route), so caches stay correct")
        if (opt := explicit("always_send")) and opt.value is not False:
            self.findings.add(opt.site, WARNING, "always_send has no equivalent: the gateway never sends "
                              "Access-Control-Allow-Origin to a request without Origin (browsers always send Origin "
                              "on cross-origin requests, so only non-browser clients see a difference)")
        if (opt := explicit("automatic_options")) is not None:
            if decorator and opt.value is False:
                self.findings.add(opt.site, WARNING, "automatic_options=False: flask-cors answered this view's "
                                  "preflights without CORS headers (so they failed); the gateway answers them")
            else:
                self.findings.add(opt.site, INFO, "automatic_options: the gateway always answers preflights itself")
        if (opt := explicit("intercept_exceptions")) is not None:
            self.findings.add(opt.site, INFO, "intercept_exceptions: the gateway decorates every answer, errors "
                              "included, with the route's CORS headers")
