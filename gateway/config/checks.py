"""Pass 2 for a ``cors`` block: merge it over ``defaults.cors``, parse it, refuse the insecure.

A route's key replaces the default's key (no list union), and every issue
names the key where the offending value was written (the route's or
``defaults.cors``).  Refused, in every ``mode`` (``off`` cannot smuggle an
insecure block past ``check``): ``*`` (or a ``re:`` pattern that matches any
origin) with credentials or with private-network access; ``re:`` patterns
that match strangers' sites and wildcards with public suffixes below them,
with credentials or private-network access; ``expose_headers: "*"`` with
credentials; ``//*`` in a ``re:`` pattern; several entries in one list item;
header and method names that are no HTTP token.  Without credentials or
private-network access the broad entries are warnings.

``_CorsChecks`` is the part of the ``_Compiler`` (``compiler.py``) that does this.
"""

from __future__ import annotations

from typing import Any

from ..http import TOKEN
from ..origin_probes import (
    public_suffix_below,
    regex_matches_any,
    regex_matches_foreign,
    regex_matches_http,
    wildcard_host,
)
from ..origins import (
    Pattern,
    PatternError,
    parse_pattern,
)
from ..settings import DEFAULT_METHODS, CorsSettings
from .errors import _Issues
from .mistakes import _STAR_AFTER_SLASHES, NO_VALUE, _several_entries, _star_after_slashes_message
from .schema import _CORS_KEYS, _Cors

# Chromium caps a preflight's Access-Control-Max-Age at this many seconds.
CHROMIUM_MAX_AGE_CAP = 7200

HTTP_WITH_CREDENTIALS = (
    "an http:// origin with credentials: anyone on the network path can inject script into that origin "
    "and act as your users"
)
# The fix for a re: pattern that lets in strangers' sites.
REGEX_FIX = r"put \. before each domain and list your domains, e.g. re:^https://([a-z0-9-]+\.)?example\.com$"
WILDCARD_FIX = "list your own origins, or a wildcard under a name only you control"


class _CorsChecks(_Issues):
    """Compiles ``cors`` blocks into ``CorsSettings``, reporting to the issue collector it is."""

    def _cors(self, own: _Cors, defaults: _Cors, own_path: str, defaults_path: str) -> CorsSettings:
        """Merge ``own`` over ``defaults`` and validate the result."""
        values: dict[str, Any] = {}
        where: dict[str, str] = {}
        for key in _CORS_KEYS:
            if key in own.model_fields_set:
                values[key], where[key] = getattr(own, key), f"{own_path}.{key}"
            elif key in defaults.model_fields_set:
                values[key], where[key] = getattr(defaults, key), f"{defaults_path}.{key}"
            else:
                values[key], where[key] = None, f"{own_path}.{key}"
        mode = values["mode"] or "enforce"
        credentials = bool(values["supports_credentials"])

        origins, too_broad = self._origins(values["origins"], where["origins"], credentials)
        methods = self._names(values["methods"], where["methods"], upper=True)
        allow_headers = self._names(values["allow_headers"], where["allow_headers"])
        expose_headers = self._names(values["expose_headers"], where["expose_headers"])
        settings = CorsSettings(
            origins=origins,
            methods=DEFAULT_METHODS if values["methods"] is None else methods,
            allow_headers=None if values["allow_headers"] is None else allow_headers,
            expose_headers=() if values["expose_headers"] is None else expose_headers,
            supports_credentials=credentials,
            max_age=values["max_age"],
            allow_private_network=bool(values["allow_private_network"]),
            on_reject=values["on_reject"] or "omit",
            mode=mode,
            refused_preflight=values["refused_preflight"] or "name_cause",
            key_paths=tuple(where.items()),
        )
        # The refusals below run in every mode, also on what parsed of a block
        # with other errors, so that all problems are reported together and
        # `mode: off` cannot smuggle an insecure block past `check`.
        any_origin = any(p.kind == "any" for p in origins)
        if credentials and any_origin:
            self.error(
                where["supports_credentials"],
                'cannot be true when origins allows "*": that would let every website act as your '
                "logged-in users (other gateways silently reflect the origin here); list the allowed origins",
            )
        if credentials and settings.expose_headers is None:
            self.error(
                where["expose_headers"],
                'browsers read "*" as a literal header name when credentials are on; list the header names',
            )
        if settings.allow_private_network and any_origin:
            self.error(
                where["allow_private_network"],
                'cannot be true when origins allows "*": every public website could reach this private '
                "service (CVE-2024-6221 in flask-cors); list the allowed origins",
            )
        if settings.allow_private_network:
            for message in too_broad:
                self.error(where["allow_private_network"], message)
        if credentials and any(p.kind == "null" for p in origins):
            self.warn(
                where["origins"],
                '"null" with credentials: any site can send Origin: null from a sandboxed iframe '
                "and act as your logged-in users",
            )
        if mode == "off":
            return settings
        if not origins and own_path != "defaults.cors":
            explicit_null = values["origins"] is None and (
                "origins" in own.model_fields_set or "origins" in defaults.model_fields_set
            )
            hint = f'; origins is null ({NO_VALUE}): for the opaque origin null, quote it: "null"'
            self.warn(
                where["origins"],
                "no origin is allowed: every cross-origin request to this route is rejected"
                + (hint if explicit_null else ""),
            )
        if settings.max_age is not None and settings.max_age > CHROMIUM_MAX_AGE_CAP:
            self.warn(where["max_age"], f"Chromium caps preflight caching at {CHROMIUM_MAX_AGE_CAP} seconds")
        return settings

    def _origins(self, value: Any, path: str, credentials: bool) -> tuple[tuple[Pattern, ...], list[str]]:
        """The parsed patterns, and the refusal of ``allow_private_network`` for each entry too broad for it."""
        if value is None:
            return (), []
        items = [value] if isinstance(value, str) else list(value)
        patterns: list[Pattern] = []
        too_broad: list[str] = []
        for i, raw in enumerate(items):
            item_path = path if isinstance(value, str) else f"{path}.{i}"
            if _several_entries(raw, item_path, self):
                continue
            try:
                pattern = parse_pattern(raw)
            except PatternError as err:
                self.error(item_path, str(err))
                continue
            if pattern.kind == "regex" and _STAR_AFTER_SLASHES.search(pattern.text):
                self.error(item_path, _star_after_slashes_message(pattern.text))
                continue
            for warning in pattern.warnings:
                self.warn(item_path, warning)
            refused = self._too_broad(pattern, item_path, credentials, too_broad)
            if credentials and pattern.kind in ("exact", "wildcard") and pattern.text.startswith("http://"):
                host = pattern.text[len("http://") :].removeprefix("*.")
                if not host.endswith("]"):  # keep an IPv6 literal whole
                    host = host.rsplit(":", 1)[0]
                # Loopback is exempt: http://*.localhost too (every name under it is loopback).
                if host not in ("localhost", "127.0.0.1", "[::1]"):
                    self.warn(item_path, HTTP_WITH_CREDENTIALS)
            elif credentials and not refused and regex_matches_http(pattern) is not None:
                self.warn(item_path, HTTP_WITH_CREDENTIALS)  # re:^https?://app\.example\.com$ and the like
            patterns.append(pattern)
        kinds = {p.kind for p in patterns}
        if "any" in kinds and kinds - {"any", "null"}:
            self.warn(path, '"*" allows every origin; the other entries are redundant')
        return tuple(patterns), too_broad

    def _too_broad(self, pattern: Pattern, path: str, credentials: bool, pna_refusals: list[str]) -> bool:
        """Judge an entry that lets in sites of strangers: an error with credentials, else a warning.

        Appends the message that refuses ``allow_private_network`` next to it
        to ``pna_refusals``.  True when the entry was refused here.
        """
        probe = regex_matches_any(pattern)
        if probe is not None:
            pna_refusals.append(
                f"cannot be true when a re: pattern in origins matches any origin ({path} matched {probe}): "
                "every public website could reach this private service (CVE-2024-6221 in flask-cors); "
                "anchor it to your own domains"
            )
            if credentials:
                self.error(
                    path,
                    f"re: pattern matches any origin (it matched {probe}); with credentials that lets every "
                    "website act as your users — anchor it to your own domains",
                )
            else:
                self.warn(
                    path, f're: pattern matches any origin (it matched {probe}); use "*" if that is what you mean'
                )
            return credentials
        foreign = regex_matches_foreign(pattern)
        if foreign is not None:
            pna_refusals.append(
                f"cannot be true when a re: pattern in origins matches sites that are not yours ({path} matched "
                f"{foreign}): any of them could reach this private service; {REGEX_FIX}"
            )
            if credentials:
                self.error(
                    path,
                    f"re: pattern matches sites that are not yours (it matched {foreign}); with credentials any "
                    f"of them could act as your users: {REGEX_FIX}",
                )
            else:
                self.warn(
                    path,
                    f"re: pattern matches sites that are not yours (it matched {foreign}), which can then read "
                    f"these responses; {REGEX_FIX}",
                )
            return credentials
        host = wildcard_host(pattern)
        below = public_suffix_below(host) if host is not None else None
        if below is not None:
            suffixes = f'public suffixes such as "{below}", under which anyone can get a name'
            covers = f'"*.{host}" covers {suffixes}'
            pna_refusals.append(
                f'cannot be true when origins has "*.{host}" ({path}), which covers {suffixes}: any site there '
                f"could reach this private service; {WILDCARD_FIX}"
            )
            if credentials:
                self.error(path, f"{covers}; with credentials any site there could act as your users: {WILDCARD_FIX}")
            else:
                self.warn(path, f"{covers}; any site there can read these responses: {WILDCARD_FIX}")
            return credentials
        return False

    def _names(self, value: Any, path: str, *, upper: bool = False) -> tuple[str, ...] | None:
        """A list of header or method names, or None for "*"."""
        if value is None:
            return ()
        items = [value] if isinstance(value, str) else list(value)
        if "*" in items:
            if len(items) > 1:
                self.warn(path, '"*" makes the other entries redundant')
            return None
        names: list[str] = []
        for i, item in enumerate(items):
            item_path = path if isinstance(value, str) else f"{path}.{i}"
            if _several_entries(item, item_path, self):
                continue
            if not TOKEN.fullmatch(item):
                self.error(item_path, f"{item!r} is not a valid HTTP token")
                continue
            name = item.upper() if upper else item
            if name not in names:
                names.append(name)
        return tuple(names)
