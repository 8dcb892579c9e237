"""Config loading and validation (the gateway/config/ package)."""

from __future__ import annotations

import json
import textwrap

import pytest

from gateway.config import (
    DEFAULT_METHODS,
    ConfigError,
    CorsSettings,
    Issue,
    load_config,
    parse_config,
)
from gateway.origins import Pattern

UPSTREAMS = """\
upstreams:
  app: {url: "http://127.0.0.1:5000"}
  other: {url: "https://backend.internal:8443/"}
"""

CREDS_STAR = (
    'cannot be true when origins allows "*": that would let every website act as your logged-in users '
    "(other gateways silently reflect the origin here); list the allowed origins"
)
HTTP_CREDS = (
    "warning: an http:// origin with credentials: anyone on the network path can inject script into that "
    "origin and act as your users"
)
NO_ORIGINS = "warning: no origin is allowed: every cross-origin request to this route is rejected"
UNKNOWN_KEY = "unknown key (check the spelling; see README for the config reference)"
PUBLIC_COM = '"*.com" would allow every site under the public suffix "com"; list your own domain, e.g. https://*.example.com'
UNANCHORED = (
    "re: patterns must be anchored with ^ at the start and $ at the end "
    "(unanchored regexes are how https://example.com.evil.com slipped through other gateways)"
)


def config(body: str, *, upstreams: str = UPSTREAMS):
    return parse_config(upstreams + textwrap.dedent(body))


def errors(body: str, *, upstreams: str = UPSTREAMS) -> list[str]:
    with pytest.raises(ConfigError) as info:
        config(body, upstreams=upstreams)
    return [str(issue) for issue in info.value.errors]


def exact(*origins: str) -> tuple[Pattern, ...]:
    return tuple(Pattern("exact", o) for o in origins)


# --------------------------------------------------------------------------
# A valid config
# --------------------------------------------------------------------------


def test_minimal_config_and_defaults():
    cfg = config(
        """
        routes:
          - path: /api
            upstream: app
            cors:
              origins: ["https://App.Example.com:443"]
        """
    )
    assert cfg.warnings == ()
    assert (cfg.listen_host, cfg.listen_port, cfg.admin_host, cfg.admin_port) == ("0.0.0.0", 8080, "127.0.0.1", 9090)
    assert cfg.cache_size == 10_000
    assert cfg.upstreams["app"].url == "http://127.0.0.1:5000"
    assert cfg.upstreams["other"].url == "https://backend.internal:8443"  # trailing slash dropped
    (route,) = cfg.routes
    assert (route.index, route.name, route.upstream, route.path, route.path_regex, route.host) == (
        0, "/api", "app", "/api", None, None,
    )
    assert route.cors == CorsSettings(
        origins=exact("https://app.example.com"),
        methods=DEFAULT_METHODS,
        allow_headers=None,
        expose_headers=(),
        supports_credentials=False,
        max_age=None,
        allow_private_network=False,
        on_reject="omit",
        mode="enforce",
    )
    assert cfg.defaults_cors == CorsSettings(methods=DEFAULT_METHODS)


def test_names_are_normalised_and_deduplicated():
    cfg = config(
        """
        routes:
          - path: /
            upstream: app
            host: API.Example.com.
            cors:
              origins: "https://a.test"
              methods: [get, Put, GET]
              allow_headers: [X-Token, X-Token, Content-Type]
              expose_headers: "*"
        """
    )
    cors = cfg.routes[0].cors
    assert cors.origins == exact("https://a.test")
    assert cors.methods == ("GET", "PUT")
    assert cors.allow_headers == ("X-Token", "Content-Type")
    assert cors.expose_headers is None  # "*" without credentials is allowed
    assert cfg.routes[0].host == "api.example.com"


# --------------------------------------------------------------------------
# Key paths and several errors together
# --------------------------------------------------------------------------


def test_error_names_the_list_item():
    assert errors(
        """
        routes:
          - path: /api
            upstream: app
            cors:
              origins: ["https://a.test", "https://b.test/"]
        """
    ) == [
        "routes.0.cors.origins.1: not a valid origin: an origin has no path (found '/') "
        '(did you mean "https://b.test"?)'
    ]


def test_several_meaning_errors_reported_together():
    assert errors(
        """
        routes:
          - path: /api
            upstream: app
            cors:
              origins: ["https://*.com", "re:https://a\\\\.test", "https://ok.test"]
              methods: [GET, "BAD METHOD"]
          - path: nope
            upstream: missing
            cors:
              origins: "*"
              supports_credentials: true
        """
    ) == [
        f"routes.0.cors.origins.0: {PUBLIC_COM}",
        f"routes.0.cors.origins.1: {UNANCHORED}",
        "routes.0.cors.methods.1: 'BAD METHOD' is not a valid HTTP token",
        'routes.1.path: must start with "/"',
        "routes.1.upstream: unknown upstream 'missing' (defined: app, other)",
        f"routes.1.cors.supports_credentials: {CREDS_STAR}",
    ]


def test_several_shape_errors_reported_together():
    assert errors(
        """
        listen: {port: 70000}
        routes:
          - path: /api
            upstream: app
            cors:
              orgins: ["https://a.test"]
              max_age: -1
              on_reject: drop
              origins: ["https://a.test", 5]
        """
    ) == [
        "listen.port: Input should be less than or equal to 65535",
        "routes.0.cors.origins.1: Input should be a valid string",
        "routes.0.cors.max_age: Input should be greater than or equal to 0",
        "routes.0.cors.on_reject: Input should be 'omit' or 'block'",
        f"routes.0.cors.orgins: {UNKNOWN_KEY}",
    ]


def test_unknown_top_level_key_and_missing_routes():
    assert errors("rotues: []\n") == [
        "routes: Field required",
        f"rotues: {UNKNOWN_KEY}",
    ]


def test_unknown_route_key():
    assert errors(
        """
        routes:
          - path: /api
            upstrem: app
        """
    ) == ["routes.0.upstream: Field required", f"routes.0.upstrem: {UNKNOWN_KEY}"]


def test_key_path_keeps_a_user_key_named_like_a_type():
    # "str" is also a pydantic union tag; a user's upstream may be called that.
    assert errors(
        """
        routes:
          - {path: /, upstream: str}
        """,
        upstreams="upstreams:\n  str: {url: 5}\n",
    ) == ["upstreams.str.url: Input should be a valid string"]


def test_scalar_of_wrong_type_for_string_or_list_key():
    assert errors(
        """
        routes:
          - path: /
            upstream: app
            cors: {origins: 5}
        """
    ) == [
        "routes.0.cors.origins: Input should be a valid string",
        "routes.0.cors.origins: Input should be a valid list",
    ]


def test_config_error_str_is_one_line_per_error():
    with pytest.raises(ConfigError) as info:
        config(
            """
            routes:
              - {path: /a, upstream: x}
              - {path: /b, upstream: y}
            """
        )
    assert str(info.value) == (
        "routes.0.upstream: unknown upstream 'x' (defined: app, other)\n"
        "routes.1.upstream: unknown upstream 'y' (defined: app, other)"
    )
    assert info.value.errors[0] == Issue("routes.0.upstream", "unknown upstream 'x' (defined: app, other)")
    # Warnings found on the way travel with the error.
    assert [str(w) for w in info.value.warnings] == [
        f"routes.0.cors.origins: {NO_ORIGINS}",
        f"routes.1.cors.origins: {NO_ORIGINS}",
    ]


# --------------------------------------------------------------------------
# YAML
# --------------------------------------------------------------------------


def test_duplicate_yaml_keys_refused():
    text = UPSTREAMS + "routes:\n  - path: /a\n    upstream: app\n    upstream: other\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="gw.yaml")
    assert info.value.errors == [Issue("gw.yaml", "invalid YAML (line 7, column 5): duplicate key 'upstream'")]


def test_duplicate_nested_cors_key_refused():
    text = UPSTREAMS + (
        "routes:\n"
        "  - path: /a\n"
        "    upstream: app\n"
        "    cors:\n"
        "      origins: [\"https://a.test\"]\n"
        "      origins: \"*\"\n"
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert [str(e) for e in info.value.errors] == [
        "<string>: invalid YAML (line 9, column 7): duplicate key 'origins'"
    ]


def test_invalid_yaml_syntax():
    with pytest.raises(ConfigError) as info:
        parse_config("routes: [\n", source="x.yaml")
    (issue,) = info.value.errors
    assert issue.path == "x.yaml"
    assert issue.message.startswith("invalid YAML (line 2, column 1): ")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("", "config is empty", id="empty"),
        pytest.param("# only a comment\n\n", "config is empty", id="comment-only"),
        pytest.param("- a\n- b\n", "config must be a mapping of keys (listen, upstreams, routes, ...)", id="list"),
        pytest.param("just text\n", "config must be a mapping of keys (listen, upstreams, routes, ...)", id="scalar"),
    ],
)
def test_not_a_config(text, message):
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="c.yaml")
    assert info.value.errors == [Issue("c.yaml", message)]


def test_missing_file(tmp_path):
    path = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.errors == [Issue(str(path), "config file not found")]


def test_empty_file(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert info.value.errors == [Issue(str(path), "config is empty")]


def test_load_config_from_file_records_source(tmp_path):
    path = tmp_path / "gw.yaml"
    path.write_text(UPSTREAMS + "routes:\n  - {path: /, upstream: app, cors: {origins: 'https://a.test'}}\n")
    cfg = load_config(path)
    assert cfg.source == str(path)
    assert cfg.routes[0].cors.origins == exact("https://a.test")


# --------------------------------------------------------------------------
# defaults.cors merging
# --------------------------------------------------------------------------


def test_defaults_merged_route_key_replaces_no_list_union():
    cfg = config(
        """
        defaults:
          cors:
            origins: ["https://a.test", "https://b.test"]
            methods: [GET]
            allow_headers: [X-Default]
            max_age: 600
            supports_credentials: true
        routes:
          - path: /inherit
            upstream: app
          - path: /override
            upstream: app
            cors:
              origins: ["https://c.test"]
              allow_headers: [X-Own]
              supports_credentials: false
          - path: /none
            upstream: app
            cors:
              origins: []
        """
    )
    inherit, override, none = (r.cors for r in cfg.routes)
    assert inherit == CorsSettings(
        origins=exact("https://a.test", "https://b.test"),
        methods=("GET",),
        allow_headers=("X-Default",),
        max_age=600,
        supports_credentials=True,
    )
    assert override == CorsSettings(
        origins=exact("https://c.test"),
        methods=("GET",),
        allow_headers=("X-Own",),
        max_age=600,
        supports_credentials=False,
    )
    assert none.origins == ()
    assert cfg.defaults_cors == inherit
    assert [str(w) for w in cfg.warnings] == [f"routes.2.cors.origins: {NO_ORIGINS}"]


def test_defaults_error_names_defaults_key_once():
    assert errors(
        """
        defaults:
          cors:
            origins: ["https://a.test/"]
        routes:
          - {path: /a, upstream: app}
          - {path: /b, upstream: app}
        """
    ) == [
        "defaults.cors.origins.0: not a valid origin: an origin has no path (found '/') "
        '(did you mean "https://a.test"?)'
    ]


def test_star_with_credentials_from_defaults_names_defaults_key():
    assert errors(
        """
        defaults:
          cors:
            supports_credentials: true
        routes:
          - path: /a
            upstream: app
            cors: {origins: "*"}
        """
    ) == [f"defaults.cors.supports_credentials: {CREDS_STAR}"]


# --------------------------------------------------------------------------
# mode
# --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "mode"),
    [
        pytest.param("off", "off", id="off-unquoted"),
        pytest.param('"off"', "off", id="off-quoted"),
        pytest.param("shadow", "shadow", id="shadow"),
        pytest.param("enforce", "enforce", id="enforce"),
    ],
)
def test_mode(value, mode):
    cfg = config(
        f"""
        routes:
          - path: /
            upstream: app
            cors: {{origins: "https://a.test", mode: {value}}}
        """
    )
    assert cfg.routes[0].cors.mode == mode


def test_mode_on_is_an_error():
    assert errors(
        """
        routes:
          - path: /
            upstream: app
            cors: {mode: on}
        """
    ) == ["routes.0.cors.mode: Input should be 'enforce', 'shadow' or 'off'"]


def test_mode_off_still_refuses_insecure_cors_blocks():
    # A route switched off today is switched on tomorrow, and defaults.cors
    # with mode off still judges no-route answers: refuse in every mode.
    found = errors(
        """
        defaults:
          cors: {origins: "*", supports_credentials: true, mode: off}
        routes:
          - path: /
            upstream: app
            cors: {origins: "*", supports_credentials: true, mode: off}
        """
    )
    assert [e.split(": ")[0] for e in found] == ["defaults.cors.supports_credentials", "routes.0.cors.supports_credentials"]


def test_mode_off_skips_advisory_warnings():
    cfg = config(
        """
        routes:
          - path: /
            upstream: app
            cors: {mode: off, max_age: 86400}
        """
    )
    assert cfg.routes[0].cors.mode == "off"
    assert cfg.warnings == ()


def test_null_with_credentials_warns():
    cfg = config(
        """
        routes:
          - path: /
            upstream: app
            cors: {origins: ["https://app.example.com", "null"], supports_credentials: true}
        """
    )
    assert [str(w) for w in cfg.warnings] == [
        'routes.0.cors.origins: warning: "null" with credentials: any site can send Origin: null '
        "from a sandboxed iframe and act as your logged-in users"
    ]


def test_security_errors_are_reported_together_with_bad_entries():
    found = errors(
        """
        routes:
          - path: /
            upstream: app
            cors: {origins: ["*", "https://bad/path"], supports_credentials: true}
        """
    )
    assert [e.split(": ")[0] for e in found] == ["routes.0.cors.origins.1", "routes.0.cors.supports_credentials"]


def test_integers_are_strict():
    found = errors(
        """
        routes:
          - path: /
            upstream: app
            cors: {origins: ["https://a.example.com"], max_age: true}
        """
    )
    assert [e.split(": ")[0] for e in found] == ["routes.0.cors.max_age"]


# --------------------------------------------------------------------------
# Security checks
# --------------------------------------------------------------------------


def test_star_with_credentials_refused_with_key_path():
    assert errors(
        """
        routes:
          - path: /a
            upstream: app
            cors:
              origins: ["https://a.test", "*"]
              supports_credentials: true
        """
    ) == [f"routes.0.cors.supports_credentials: {CREDS_STAR}"]


def test_expose_star_with_credentials_refused():
    assert errors(
        """
        routes:
          - path: /a
            upstream: app
            cors:
              origins: ["https://a.test"]
              supports_credentials: true
              expose_headers: "*"
        """
    ) == [
        'routes.0.cors.expose_headers: browsers read "*" as a literal header name when credentials are on; '
        "list the header names"
    ]


def test_private_network_for_every_origin_refused():
    assert errors(
        """
        routes:
          - path: /a
            upstream: app
            cors: {origins: "*", allow_private_network: true}
        """
    ) == [
        'routes.0.cors.allow_private_network: cannot be true when origins allows "*": every public website '
        "could reach this private service (CVE-2024-6221 in flask-cors); list the allowed origins"
    ]


def test_http_origin_with_credentials_only_warns():
    cfg = config(
        """
        routes:
          - path: /a
            upstream: app
            cors:
              origins:
                - "http://app.example.com"
                - "http://localhost:3000"
                - "http://127.0.0.1"
                - "http://[::1]"
                - "http://[::1]:8080"
                - "https://secure.example.com"
                - "http://app.example.com:8080"
              supports_credentials: true
        """
    )
    assert cfg.routes[0].cors.supports_credentials is True
    assert [str(w) for w in cfg.warnings] == [
        f"routes.0.cors.origins.0: {HTTP_CREDS}",
        f"routes.0.cors.origins.6: {HTTP_CREDS}",
    ]


def test_http_origin_without_credentials_does_not_warn():
    cfg = config(
        """
        routes:
          - {path: /a, upstream: app, cors: {origins: "http://app.example.com"}}
        """
    )
    assert cfg.warnings == ()


def test_route_without_origins_warns():
    cfg = config(
        """
        routes:
          - {path: /a, upstream: app}
        """
    )
    assert cfg.warnings == (Issue("routes.0.cors.origins", NO_ORIGINS),)
    assert cfg.routes[0].cors.origins == ()


def test_other_warnings():
    cfg = config(
        """
        routes:
          - path: /a
            upstream: app
            cors:
              origins: ["*", "https://a.test", "re:^https://a.test$"]
              methods: ["*", GET]
              max_age: 86400
        """
    )
    assert [str(w) for w in cfg.warnings] == [
        "routes.0.cors.origins.2: warning: regex has an unescaped '.', which matches any character; "
        "write '\\.' for a literal dot",
        'routes.0.cors.origins: warning: "*" allows every origin; the other entries are redundant',
        'routes.0.cors.methods: warning: "*" makes the other entries redundant',
        "routes.0.cors.max_age: warning: Chromium caps preflight caching at 7200 seconds",
    ]
    assert cfg.routes[0].cors.methods is None


# --------------------------------------------------------------------------
# Routes and upstreams
# --------------------------------------------------------------------------


def test_unknown_upstream():
    assert errors(
        """
        routes:
          - {path: /a, upstream: ap, cors: {origins: "https://a.test"}}
        """
    ) == ["routes.0.upstream: unknown upstream 'ap' (defined: app, other)"]


def test_route_shape_errors():
    assert errors(
        """
        routes:
          - {upstream: app, cors: {origins: "https://a.test"}}
          - {path: /b, path_regex: "^/b$", upstream: app, cors: {origins: "https://a.test"}}
          - {path_regex: "^/(c$", upstream: app, cors: {origins: "https://a.test"}}
          - {name: dup, path: /d, upstream: app, cors: {origins: "https://a.test"}}
          - {name: dup, path: /e, upstream: app, cors: {origins: "https://a.test"}}
        """
    ) == [
        "routes.0: give exactly one of path (a prefix) or path_regex",
        "routes.1: give exactly one of path (a prefix) or path_regex",
        "routes.2.path_regex: invalid regex (RE2 syntax): missing ): ^/(c$",
        "routes.4.name: route name 'dup' is already used by routes.3; names label metrics and must be unique",
    ]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        pytest.param("ftp://h", 'must be an absolute http:// or https:// URL, e.g. "http://127.0.0.1:5000"', id="ftp"),
        pytest.param("127.0.0.1:5000", 'must be an absolute http:// or https:// URL, e.g. "http://127.0.0.1:5000"',
                     id="no-scheme"),
        pytest.param("http://h/api", "must be scheme://host[:port] only (the request path is forwarded as it is)",
                     id="path"),
        pytest.param("http://u@h", "must be scheme://host[:port] only (the request path is forwarded as it is)",
                     id="userinfo"),
        pytest.param("http://h:99999", "invalid port", id="bad-port"),
    ],
)
def test_upstream_url_errors(url, message):
    assert errors(
        """
        routes:
          - {path: /, upstream: app, cors: {origins: "https://a.test"}}
        """,
        upstreams=f'upstreams:\n  app: {{url: "{url}"}}\n',
    ) == [f"upstreams.app.url: {message}"]


def test_admin_port_clash():
    assert errors(
        """
        listen: {port: 9000}
        admin: {port: 9000}
        routes:
          - {path: /, upstream: app, cors: {origins: "https://a.test"}}
        """
    ) == ["admin.port: the admin listener must not share the public listener's port"]


# --------------------------------------------------------------------------
# re: patterns that match any origin
# --------------------------------------------------------------------------

OPEN_REGEX_CREDS = (
    "re: pattern matches any origin (it matched {}); with credentials that lets every website act as your "
    "users — anchor it to your own domains"
)
OPEN_REGEX_WARNING = 'warning: re: pattern matches any origin (it matched {}); use "*" if that is what you mean'
OPEN_REGEX_PNA = (
    "cannot be true when a re: pattern in origins matches any origin ({} matched {}): every public website "
    "could reach this private service (CVE-2024-6221 in flask-cors); anchor it to your own domains"
)
PROBE = "https://cors-gateway-probe.invalid"


def test_open_regex_with_credentials_refused_at_the_origin_entry():
    assert errors(
        """
        routes:
          - path: /a
            upstream: app
            cors:
              origins: ["https://a.test", "re:^https://.*$", "re:^http://.*$", 're:^https://(eu|us)\\.a\\.test$']
              supports_credentials: true
          - path: /b
            upstream: app
            cors: {origins: "re:^.*:[0-9]+$", supports_credentials: true}
        """
    ) == [
        f"routes.0.cors.origins.1: {OPEN_REGEX_CREDS.format(PROBE)}",
        f"routes.0.cors.origins.2: {OPEN_REGEX_CREDS.format('http://cors-gateway-probe.invalid')}",
        f"routes.1.cors.origins: {OPEN_REGEX_CREDS.format('https://cors-gateway-probe.invalid:8443')}",
    ]


def test_open_regex_without_credentials_only_warns():
    cfg = config(
        """
        routes:
          - path: /a
            upstream: app
            cors: {origins: ["https://a.test", "re:^https?://[^/]+$"]}
        """
    )
    assert [p.kind for p in cfg.routes[0].cors.origins] == ["exact", "regex"]
    assert [str(w) for w in cfg.warnings] == [f"routes.0.cors.origins.1: {OPEN_REGEX_WARNING.format(PROBE)}"]


def test_regex_anchored_to_own_domains_is_not_open():
    cfg = config(
        """
        routes:
          - path: /a
            upstream: app
            cors:
              origins: ['re:^https://.*\\.example\\.com$', 're:^https://(eu|us)-[0-9]+\\.example\\.org(:8443)?$']
              supports_credentials: true
              allow_private_network: true
        """
    )
    assert cfg.warnings == ()


def test_open_regex_from_defaults_names_the_defaults_entry():
    # The origins were written in defaults.cors, the credentials in the route.
    assert errors(
        """
        defaults:
          cors: {origins: ["https://a.test", "re:^.*$"]}
        routes:
          - {path: /a, upstream: app, cors: {supports_credentials: true}}
        """
    ) == [f"defaults.cors.origins.1: {OPEN_REGEX_CREDS.format(PROBE)}"]


def test_open_regex_with_private_network_refused():
    with pytest.raises(ConfigError) as info:
        config(
            """
            routes:
              - path: /a
                upstream: app
                cors: {origins: ["https://a.test", "re:^.*$"], allow_private_network: true}
            """
        )
    assert [str(e) for e in info.value.errors] == [
        f"routes.0.cors.allow_private_network: {OPEN_REGEX_PNA.format('routes.0.cors.origins.1', PROBE)}"
    ]
    assert [str(w) for w in info.value.warnings] == [
        f"routes.0.cors.origins.1: {OPEN_REGEX_WARNING.format(PROBE)}"
    ]


def test_open_regex_refused_in_mode_off_too():
    assert errors(
        """
        routes:
          - path: /a
            upstream: app
            cors: {origins: "re:^.*$", supports_credentials: true, allow_private_network: true, mode: off}
        """
    ) == [
        f"routes.0.cors.origins: {OPEN_REGEX_CREDS.format(PROBE)}",
        f"routes.0.cors.allow_private_network: {OPEN_REGEX_PNA.format('routes.0.cors.origins', PROBE)}",
    ]


def test_http_wildcard_with_credentials_warns_like_an_http_origin():
    cfg = config(
        """
        routes:
          - path: /a
            upstream: app
            cors:
              origins:
                - "http://*.example.com"
                - "https://*.example.com"
                - "http://*.localhost:3000"
                - "http://*.localhost"
                - "http://*.example.org:8080"
              supports_credentials: true
          - path: /b
            upstream: app
            cors: {origins: "http://*.example.com"}
        """
    )
    assert [str(w) for w in cfg.warnings] == [
        f"routes.0.cors.origins.0: {HTTP_CREDS}",
        f"routes.0.cors.origins.4: {HTTP_CREDS}",
    ]


# --------------------------------------------------------------------------
# Entries that let in other people's sites: re: patterns broader than meant,
# wildcards over public suffixes, http:// in re: patterns
# --------------------------------------------------------------------------

FOREIGN = "re: pattern matches sites that are not yours (it matched {})"
REGEX_FIX = r"put \. before each domain and list your domains, e.g. re:^https://([a-z0-9-]+\.)?example\.com$"
BELOW = '"*.{}" covers public suffixes such as "'
WILDCARD_FIX = "list your own origins, or a wildcard under a name only you control"


def cors_route(cors: str) -> str:
    return f"""
        routes:
          - path: /a
            upstream: app
            cors: {cors}
        """


def config_issues(body: str) -> tuple[list[str], list[str]]:
    """(errors, warnings) as strings; no errors when the config loads."""
    try:
        cfg = config(body)
    except ConfigError as err:
        return [str(e) for e in err.errors], [str(w) for w in err.warnings]
    return [], [str(w) for w in cfg.warnings]


BROAD_REGEXES = [
    pytest.param(r"re:^https://[a-z0-9-]+\.(com|net|org|io)$", "https://attacker-site.com", id="any-dot-com"),
    pytest.param(r"re:^https://.+\.[a-z]{2,3}$", "https://attacker-site.com", id="any-short-tld"),
    pytest.param(r"re:^https://.*example\.com$", "https://evilexample.com", id="missing-dot"),
    pytest.param(r"re:^https://(.*-)?example\.com$", "https://evil-example.com", id="hyphen-prefix"),
    pytest.param(r"re:^https://app\.example\.com.*$", "https://app.example.com.evil-attacker.com", id="open-end"),
    pytest.param("re:^https://app.example.com$", "https://app-example.com", id="unescaped-dot"),
    pytest.param(r"re:^https://[a-z]+\.github\.io$", "https://attackersite.github.io", id="under-public-suffix"),
]


@pytest.mark.parametrize(("entry", "probe"), BROAD_REGEXES)
def test_broad_regex_with_credentials_refused_at_the_entry(entry, probe):
    found, _ = config_issues(cors_route(f"{{origins: ['https://a.test', '{entry}'], supports_credentials: true}}"))
    assert found == [
        f"routes.0.cors.origins.1: {FOREIGN.format(probe)}; with credentials any of them could act as your users: "
        f"{REGEX_FIX}"
    ]


@pytest.mark.parametrize(("entry", "probe"), BROAD_REGEXES)
def test_broad_regex_with_private_network_refused_at_the_key(entry, probe):
    found, warned = config_issues(cors_route(f"{{origins: '{entry}', allow_private_network: true}}"))
    assert found == [
        f"routes.0.cors.allow_private_network: cannot be true when a re: pattern in origins matches sites that are "
        f"not yours (routes.0.cors.origins matched {probe}): any of them could reach this private service; "
        f"{REGEX_FIX}"
    ]
    assert f"routes.0.cors.origins: warning: {FOREIGN.format(probe)}" in "\n".join(warned)


@pytest.mark.parametrize(("entry", "probe"), BROAD_REGEXES)
def test_broad_regex_without_credentials_only_warns(entry, probe):
    found, warned = config_issues(cors_route(f"{{origins: ['{entry}']}}"))
    assert found == []
    assert f"routes.0.cors.origins.0: warning: {FOREIGN.format(probe)}, which can then read these responses; " \
           f"{REGEX_FIX}" in warned


def test_broad_regex_from_defaults_names_the_defaults_entry():
    found, _ = config_issues(
        r"""
        defaults:
          cors: {origins: ['re:^https://.*example\.com$']}
        routes:
          - {path: /a, upstream: app, cors: {supports_credentials: true}}
        """
    )
    assert found == [
        f"defaults.cors.origins.0: {FOREIGN.format('https://evilexample.com')}; with credentials any of them could "
        f"act as your users: {REGEX_FIX}"
    ]


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(r"re:^https://([a-z0-9-]+\.)?example\.com$", id="optional-subdomain"),
        pytest.param(r"re:^https://app-[0-9]+\.example\.com$", id="numbered-apps"),
        pytest.param(r"re:^https://.*\.example\.com$", id="any-subdomain"),
        pytest.param(r"re:^https://(eu|us)\.example\.com(:8443)?$", id="alternation-port"),
        pytest.param(r"re:^https://(www\.)?example\.(com|org)$", id="own-domain-two-tlds"),
        pytest.param(r"re:^https://[a-z0-9-]+\.example\.co\.uk$", id="subdomain-co-uk"),
        pytest.param(r"re:^https?://localhost(:[0-9]+)?$", id="localhost-http-too"),
        pytest.param("https://*.example.com", id="wildcard"),
        pytest.param("https://*.app.example.co.uk", id="wildcard-co-uk"),
        pytest.param("http://*.localhost:3000", id="wildcard-localhost"),
    ],
)
def test_sane_entries_with_credentials_and_private_network_give_no_issue(entry):
    assert config_issues(
        cors_route(f"{{origins: ['{entry}'], supports_credentials: true, allow_private_network: true}}")
    ) == ([], [])


@pytest.mark.parametrize(
    ("entry", "host"),
    [
        pytest.param("https://*.amazonaws.com", "amazonaws.com", id="amazonaws"),
        pytest.param("https://*.core.windows.net", "core.windows.net", id="azure-storage"),
        pytest.param("https://*.Windows.NET:8443", "windows.net", id="case-port"),
    ],
)
def test_wildcard_over_public_suffixes_refused_with_credentials_or_private_network(entry, host):
    found, _ = config_issues(cors_route(f"{{origins: ['{entry}'], supports_credentials: true}}"))
    [error] = found
    assert error.startswith(f"routes.0.cors.origins.0: {BELOW.format(host)}")
    assert error.endswith(
        f", under which anyone can get a name; with credentials any site there could act as your users: "
        f"{WILDCARD_FIX}"
    )
    found, warned = config_issues(cors_route(f"{{origins: ['{entry}'], allow_private_network: true}}"))
    [error] = found
    assert error.startswith(
        f'routes.0.cors.allow_private_network: cannot be true when origins has "*.{host}" (routes.0.cors.origins.0), '
        'which covers public suffixes such as "'
    )
    assert error.endswith(f", under which anyone can get a name: any site there could reach this private service; "
                          f"{WILDCARD_FIX}")
    assert [w.split(": ", 1)[0] for w in warned] == ["routes.0.cors.origins.0"]


def test_wildcard_over_public_suffixes_without_credentials_only_warns():
    found, warned = config_issues(cors_route("{origins: ['https://*.amazonaws.com']}"))
    assert found == []
    [warning] = warned
    assert warning.startswith(f"routes.0.cors.origins.0: warning: {BELOW.format('amazonaws.com')}")
    assert warning.endswith(f"any site there can read these responses: {WILDCARD_FIX}")


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(r"re:^https?://app\.example\.com$", id="https-optional"),
        pytest.param(r"re:^http://(eu|us)\.example\.com$", id="http"),
        pytest.param(r"re:^(http|https)://(eu|us)\.example\.com$", id="scheme-group"),
        pytest.param(r"re:^(https://app\.example\.com|http://app\.example\.org)$", id="http-alternative"),
    ],
)
def test_regex_that_can_match_http_warns_with_credentials(entry):
    assert config_issues(cors_route(f"{{origins: ['{entry}'], supports_credentials: true}}")) == (
        [], [f"routes.0.cors.origins.0: {HTTP_CREDS}"]
    )
    assert config_issues(cors_route(f"{{origins: ['{entry}']}}")) == ([], [])  # without credentials: fine


@pytest.mark.parametrize(
    "entry",
    [
        pytest.param(r"re:^https?://localhost(:[0-9]+)?$", id="localhost"),
        pytest.param(r"re:^http://(localhost|127\.0\.0\.1|\[::1\]):[0-9]+$", id="loopback-names"),
        pytest.param(r"re:^http://[a-z0-9-]+\.localhost(:[0-9]+)?$", id="under-localhost"),
        pytest.param(r"re:^(https://app\.example\.com|http://localhost:3000)$", id="http-only-for-loopback"),
    ],
)
def test_regex_that_matches_http_only_on_loopback_does_not_warn(entry):
    assert config_issues(cors_route(f"{{origins: ['{entry}'], supports_credentials: true}}")) == ([], [])


# --------------------------------------------------------------------------
# listen.trusted_proxies that trust everyone in pieces
# --------------------------------------------------------------------------


def trusted_errors(entries: str) -> list[str]:
    route = textwrap.dedent(cors_route("{origins: 'https://a.test'}"))
    found, _ = config_issues(f"listen: {{trusted_proxies: {entries}}}\n" + route)
    return found


@pytest.mark.parametrize(
    ("entries", "listed", "version", "everything"),
    [
        pytest.param('["0.0.0.0/1", "128.0.0.0/1"]', "'0.0.0.0/1', '128.0.0.0/1'", 4, "0.0.0.0/0", id="ipv4-halves"),
        pytest.param('["::/1", "8000::/1"]', "'::/1', '8000::/1'", 6, "::/0", id="ipv6-halves"),
        pytest.param('["10.0.0.1", "0.0.0.0/2", "64.0.0.0/2", "128.0.0.0/1"]',
                     "'10.0.0.1', '0.0.0.0/2', '64.0.0.0/2', '128.0.0.0/1'", 4, "0.0.0.0/0", id="ipv4-quarters"),
        pytest.param('["::ffff:0.0.0.0/97", "128.0.0.0/1"]', "'::ffff:0.0.0.0/97', '128.0.0.0/1'", 4, "0.0.0.0/0",
                     id="ipv4-mapped-half"),
    ],
)
def test_trusted_proxies_covering_a_whole_family_in_pieces_refused(entries, listed, version, everything):
    assert trusted_errors(entries) == [
        f"listen.trusted_proxies: together the entries {listed} cover every IPv{version} address, as {everything} "
        "would: that trusts every client to set X-Forwarded-For/-Proto/-Host; list the proxies' own addresses instead"
    ]


def test_trusted_proxies_covering_part_of_a_family_are_kept():
    cfg = config(
        'listen: {trusted_proxies: ["0.0.0.0/1", "10.0.0.0/8", "::/1"]}\n'
        + textwrap.dedent(cors_route("{origins: 'https://a.test'}"))
    )
    assert len(cfg.trusted_proxies) == 3


# --------------------------------------------------------------------------
# routes.N.host: a host name only, IDNs as browsers send them
# --------------------------------------------------------------------------


def host_route(host: str) -> str:
    return f"routes: [{{path: /, upstream: app, host: {json.dumps(host)}, cors: {{origins: 'https://a.test'}}}}]\n"


@pytest.mark.parametrize(
    ("host", "found"),
    [
        pytest.param("api.example.com:8080", "a port", id="port"),
        pytest.param("[::1]:8080", "a port", id="ipv6-port"),
        pytest.param("::1", "an IPv6 address without brackets (write [::1])", id="ipv6-unbracketed"),
        pytest.param("https://api.example.com", "a scheme", id="scheme"),
        pytest.param("api.example.com/v1", "a path", id="path"),
        pytest.param("api.example.com?x", "a path", id="query"),
        pytest.param("api.example.com#x", "a path", id="fragment"),
        pytest.param("user@api.example.com", "a user name", id="userinfo"),
        pytest.param("api .example.com", "whitespace", id="whitespace"),
    ],
)
def test_route_host_with_more_than_a_host_name_refused(host, found):
    assert errors(host_route(host)) == [
        f'routes.0.host: give the host name only, e.g. "api.example.com" (found {found} in {host!r}): routes match '
        "on the request's host name and ignore its port, so this route would never match"
    ]


@pytest.mark.parametrize(
    ("host", "normalized"),
    [
        pytest.param("Bücher.Example.", "xn--bcher-kva.example", id="idn"),
        pytest.param("faß.de", "xn--fa-hia.de", id="idn-sharp-s"),
        pytest.param("XN--FA-HIA.de", "xn--fa-hia.de", id="punycode-uppercase"),
        pytest.param("[::1]", "[::1]", id="ipv6"),
    ],
)
def test_route_host_is_normalised_as_a_browser_sends_it(host, normalized):
    from gateway.routes import RouteTable

    cfg = config(host_route(host))
    assert cfg.routes[0].host == normalized
    assert RouteTable(cfg).match(f"{normalized}:8443", "/x") is not None


def test_route_host_that_is_no_host_name_refused():
    [error] = errors(host_route("xn--abc.example"))
    assert error.startswith(
        "routes.0.host: not a valid host name: host 'xn--abc.example' has an xn-- label that is not valid (UTS #46: "
    )


# --------------------------------------------------------------------------
# Pass 2 runs despite pass 1 errors
# --------------------------------------------------------------------------


def test_shape_error_does_not_hide_a_security_error():
    with pytest.raises(ConfigError) as info:
        config(
            """
            routes:
              - path: /a
                upstream: app
                cors: {origins: "https://a.test", max_age: 1.5}
              - path: /b
                upstream: app
                cors: {origins: "*", supports_credentials: true, max_age: 86400}
            """
        )
    assert str(info.value) == (
        "routes.0.cors.max_age: Input should be a valid integer\n"
        f"routes.1.cors.supports_credentials: {CREDS_STAR}"
    )
    assert [str(w) for w in info.value.warnings] == [
        "routes.1.cors.max_age: warning: Chromium caps preflight caching at 7200 seconds"
    ]


def test_refused_value_gives_no_follow_on_issue():
    # Taken out naively, each refused value would make pass 2 say something
    # wrong: the public port would be the default and clash with admin's, the
    # upstream would be unknown, the route would have "neither path nor
    # path_regex", and its origins would fall back to the defaults' "*".
    with pytest.raises(ConfigError) as info:
        config(
            """
            listen: {port: "8000"}
            admin: {port: 8080}
            defaults:
              cors: {origins: "*"}
            routes:
              - path: [/a, /b]
                upstream: app
                cors: {origins: 5, supports_credentials: true}
              - path: /c
                upstream: other
                cors: {origins: "https://c.test", supports_credentials: true, expose_headers: "*"}
            """,
            upstreams='upstreams:\n  app: "http://127.0.0.1:5000"\n  other: {url: "http://127.0.0.1:5001"}\n',
        )
    assert [str(e) for e in info.value.errors] == [
        "listen.port: Input should be a valid integer",
        "upstreams.app: Input should be a valid dictionary or instance of _Upstream",
        "routes.0.path: Input should be a valid string",
        "routes.0.cors.origins: Input should be a valid string",
        "routes.0.cors.origins: Input should be a valid list",
        # the one real problem pass 2 finds
        'routes.1.cors.expose_headers: browsers read "*" as a literal header name when credentials are on; '
        "list the header names",
    ]
    assert info.value.warnings == []


def test_refused_required_key_does_not_stop_pass_two():
    assert errors(
        """
        routes:
          - path: /a
            upstream: [app]
            cors: {origins: "*", supports_credentials: true}
          - path: /b
            upstrem: app
            cors: {origins: "*", allow_private_network: true}
        """
    ) == [
        "routes.0.upstream: Input should be a valid string",
        "routes.1.upstream: Field required",
        f"routes.1.upstrem: {UNKNOWN_KEY}",
        f"routes.0.cors.supports_credentials: {CREDS_STAR}",
        'routes.1.cors.allow_private_network: cannot be true when origins allows "*": every public website '
        "could reach this private service (CVE-2024-6221 in flask-cors); list the allowed origins",
    ]


def test_mixed_shape_and_meaning_errors_in_odd_places():
    assert errors(
        """
        listen: [8080]
        admin: {port: 9090, hots: "127.0.0.1"}
        defaults:
          cors:
            origins: ["https://a.test", {bad: item}, "re:^.*$"]
            supports_credentials: true
        routes:
          - "/just-a-path"
          - path: /b
            upstrem: app
            cors: {origins: ["*", 7], supports_credentials: true, max_age: 1.5, expose_headers: "*"}
          - path: /c
            upstream: nowhere
            cors: [origins, "*"]
          - path: d
            upstream: other
            cors: {methods: [GET, "BAD METHOD", [PUT]], allow_private_network: true, origins: "*"}
        """
    ) == [
        "listen: Input should be a valid dictionary or instance of _Listen",
        f"admin.hots: {UNKNOWN_KEY}",
        "defaults.cors.origins.1: Input should be a valid string",
        "routes.0: Input should be a valid dictionary or instance of _Route",
        "routes.1.upstream: Field required",
        "routes.1.cors.origins.1: Input should be a valid string",
        "routes.1.cors.max_age: Input should be a valid integer",
        f"routes.1.upstrem: {UNKNOWN_KEY}",
        "routes.2.cors: Input should be a valid dictionary or instance of _Cors",
        "routes.3.cors.methods.2: Input should be a valid string",
        # pass 2, on what is left
        f"defaults.cors.origins.2: {OPEN_REGEX_CREDS.format(PROBE)}",
        f"routes.1.cors.supports_credentials: {CREDS_STAR}",
        'routes.1.cors.expose_headers: browsers read "*" as a literal header name when credentials are on; '
        "list the header names",
        "routes.2.upstream: unknown upstream 'nowhere' (defined: app, other)",
        'routes.3.path: must start with "/"',
        "routes.3.cors.methods.1: 'BAD METHOD' is not a valid HTTP token",
        f"defaults.cors.supports_credentials: {CREDS_STAR}",  # routes.3's origins "*" + defaults' credentials
        'routes.3.cors.allow_private_network: cannot be true when origins allows "*": every public website '
        "could reach this private service (CVE-2024-6221 in flask-cors); list the allowed origins",
    ]


def test_shared_yaml_alias_is_pruned_everywhere_it_is_used():
    assert errors(
        """
        routes:
          - {path: /a, upstream: app, cors: &c {origins: "*", supports_credentials: true, max_age: 1.5}}
          - {path: /b, upstream: app, cors: *c}
        """
    ) == [
        "routes.0.cors.max_age: Input should be a valid integer",
        "routes.1.cors.max_age: Input should be a valid integer",
        f"routes.0.cors.supports_credentials: {CREDS_STAR}",
        f"routes.1.cors.supports_credentials: {CREDS_STAR}",
    ]


@pytest.mark.parametrize(
    ("routes", "shape"),
    [
        pytest.param("rotues: []", ["routes: Field required", f"rotues: {UNKNOWN_KEY}"], id="routes-missing"),
        pytest.param("routes: []", ["routes: List should have at least 1 item after validation, not 0"],
                     id="routes-empty"),
        pytest.param("routes: {path: /a, upstream: app}", ["routes: Input should be a valid list"],
                     id="routes-not-a-list"),
    ],
)
def test_without_routes_only_shape_errors_are_reported(routes, shape):
    # Pass 2 needs routes: with none to stand in for, report what pass 1 found.
    assert errors(
        f"""
        defaults:
          cors: {{origins: "*", supports_credentials: true}}
        {routes}
        """
    ) == shape


def test_shape_errors_with_no_meaning_errors_keep_pass_two_warnings():
    with pytest.raises(ConfigError) as info:
        config(
            """
            shutdown_timeout: soon
            routes:
              - {path: /a, upstream: app, cors: {origins: "http://a.test", supports_credentials: true}}
              - {path: /b, upstream: app, cors: {origins: "https://b.test", bogus: 1}}
            """
        )
    assert [str(e) for e in info.value.errors] == [
        "shutdown_timeout: Input should be a valid number, unable to parse string as a number",
        f"routes.1.cors.bogus: {UNKNOWN_KEY}",
    ]
    assert [str(w) for w in info.value.warnings] == [f"routes.0.cors.origins: {HTTP_CREDS}"]


# --------------------------------------------------------------------------
# The admin listener's bearer token (admin.token)
# --------------------------------------------------------------------------

ADMIN_ROUTES = """
routes:
  - {path: /, upstream: app, cors: {origins: "https://app.example.com"}}
"""
ADMIN_TOKEN = "0123456789abcdef-admin-token"  # what the tests must never see in a message


def admin_config(admin: str, env: dict[str, str] | None = None, extra: str = ""):
    return parse_config(UPSTREAMS + f"admin: {admin}\n" + extra + ADMIN_ROUTES, env=env)


def admin_errors(admin: str, env: dict[str, str] | None = None, extra: str = "") -> list[str]:
    with pytest.raises(ConfigError) as info:
        admin_config(admin, env, extra)
    for text in [str(info.value), *map(str, info.value.errors), *map(str, info.value.warnings)]:
        assert ADMIN_TOKEN not in text
    return [str(issue) for issue in info.value.errors]


def token_required(host: str) -> str:
    return (
        f"admin.token: required when the admin listener is not on loopback (admin.host is {host!r}): anyone who "
        "reaches that port could read /metrics; set admin.token (or CORS_GATEWAY_ADMIN_TOKEN, or admin.token_file) "
        "to at least 16 random characters, e.g. from openssl rand -hex 32, or bind admin.host: 127.0.0.1"
    )


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "10.1.2.3", "fe80::1", "gateway.internal", "::ffff:127.0.0.1"])
def test_admin_listener_off_loopback_needs_a_token(host):
    assert admin_errors(f"{{host: {host!r}}}") == [token_required(host)]


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.53", "::1", "[::1]", "localhost", "LocalHost."])
def test_admin_listener_on_loopback_needs_no_token(host):
    cfg = admin_config(f"{{host: {host!r}}}")
    assert cfg.admin_host == host and cfg.admin_token is None


def test_admin_token_is_kept_off_loopback_and_on_it():
    assert admin_config(f"{{host: 0.0.0.0, token: {ADMIN_TOKEN}}}").admin_token == ADMIN_TOKEN
    # On loopback a token is optional, and enforced when given.
    assert admin_config(f"{{token: {ADMIN_TOKEN}}}").admin_token == ADMIN_TOKEN


def json_string(value: str) -> str:
    return json.dumps(value)  # a JSON string is a YAML double-quoted scalar


@pytest.mark.parametrize(
    ("token", "message"),
    [
        pytest.param("0123456789abcde", "the token is too short (15 characters): use at least 16 random "
                     "characters, e.g. from openssl rand -hex 32", id="15-characters"),
        pytest.param("", "the token is too short (0 characters): use at least 16 random characters, "
                     "e.g. from openssl rand -hex 32", id="empty"),
        pytest.param(ADMIN_TOKEN + " x", "the token must be visible ASCII characters only (no spaces or control "
                     "characters)", id="space"),
        pytest.param(ADMIN_TOKEN + "\t", "the token must be visible ASCII characters only (no spaces or control "
                     "characters)", id="tab"),
        pytest.param(ADMIN_TOKEN + "é", "the token must be visible ASCII characters only (no spaces or control "
                     "characters)", id="non-ascii"),
        pytest.param("a" * 1025, "the token is too long (1025 characters): at most 1024", id="too-long"),
    ],
)
def test_admin_token_must_be_long_visible_ascii(token, message):
    assert admin_errors("{host: 0.0.0.0, token: " + json_string(token) + "}") == [f"admin.token: {message}"]


def test_admin_token_is_never_shown():
    cfg = admin_config(f"{{host: 0.0.0.0, token: {ADMIN_TOKEN}}}")
    assert cfg.admin_token == ADMIN_TOKEN
    assert ADMIN_TOKEN not in repr(cfg) and ADMIN_TOKEN not in str(cfg)
    from gateway.config import _Admin

    assert ADMIN_TOKEN not in repr(_Admin(host="0.0.0.0", token=ADMIN_TOKEN))
    # Nor in the errors of a config refused for something else, or for the token's shape.
    assert admin_errors(f"{{host: 0.0.0.0, token: {ADMIN_TOKEN}, port: 70000}}") == [
        "admin.port: Input should be less than or equal to 65535"
    ]
    assert admin_errors(f'{{host: 0.0.0.0, token: "{ADMIN_TOKEN} {ADMIN_TOKEN}"}}') == [
        "admin.token: the token must be visible ASCII characters only (no spaces or control characters)"
    ]


def test_admin_token_of_the_wrong_type_is_a_shape_error_only():
    assert admin_errors("{host: 0.0.0.0, token: 12345678901234567890}") == [
        "admin.token: Input should be a valid string"
    ]


def test_a_shape_error_elsewhere_does_not_hide_a_missing_admin_token():
    assert admin_errors("{host: 0.0.0.0}", extra="shutdown_timeout: soon\n") == [
        "shutdown_timeout: Input should be a valid number, unable to parse string as a number",
        token_required("0.0.0.0"),
    ]


def test_admin_token_from_the_environment():
    env = {"CORS_GATEWAY_ADMIN_HOST": "0.0.0.0", "CORS_GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN}
    cfg = admin_config("{port: 9191}", env)
    assert (cfg.admin_host, cfg.admin_port, cfg.admin_token) == ("0.0.0.0", 9191, ADMIN_TOKEN)
    # The environment's token replaces the file's.
    assert admin_config('{token: "from-the-file-0123456789"}', env).admin_token == ADMIN_TOKEN
    # Opened by the environment without a token: refused, as in the file.
    assert admin_errors("{port: 9191}", {"CORS_GATEWAY_ADMIN_HOST": "0.0.0.0"}) == [token_required("0.0.0.0")]
    # A bad token says which variable set it.
    assert admin_errors("{}", {**env, "CORS_GATEWAY_ADMIN_TOKEN": "short"}) == [
        ("admin.token: the token is too short (5 characters): use at least 16 random characters, "
        "e.g. from openssl rand -hex 32 (set by CORS_GATEWAY_ADMIN_TOKEN)")
    ]


def test_admin_token_file(tmp_path):
    token_file = tmp_path / "admin-token"
    token_file.write_text(ADMIN_TOKEN + "\n")  # as `openssl rand -hex 32 > file` or a Secret volume writes it
    assert admin_config(f"{{host: 0.0.0.0, token_file: {str(token_file)!r}}}").admin_token == ADMIN_TOKEN
    env = {"CORS_GATEWAY_ADMIN_HOST": "::", "CORS_GATEWAY_ADMIN_TOKEN_FILE": str(token_file)}
    assert admin_config("{}", env).admin_token == ADMIN_TOKEN

    missing = tmp_path / "nope"
    assert admin_errors(f"{{host: 0.0.0.0, token_file: {str(missing)!r}}}") == [
        f"admin.token_file: cannot read the token file {missing}: No such file or directory"
    ]
    assert admin_errors("{}", {**env, "CORS_GATEWAY_ADMIN_TOKEN_FILE": str(missing)}) == [
        (f"admin.token_file: cannot read the token file {missing}: No such file or directory "
        "(set by CORS_GATEWAY_ADMIN_TOKEN_FILE)")
    ]
    token_file.write_text("tooshort\n")
    assert admin_errors(f"{{token_file: {str(token_file)!r}}}") == [
        ("admin.token_file: the file's token is too short (8 characters): use at least 16 random characters, "
        "e.g. from openssl rand -hex 32")
    ]
    token_file.write_bytes(ADMIN_TOKEN.encode() + b"\x00\xff")
    assert admin_errors(f"{{token_file: {str(token_file)!r}}}") == [
        "admin.token_file: the file's token must be visible ASCII characters only (no spaces or control characters)"
    ]
    assert admin_errors(f"{{token: {ADMIN_TOKEN}, token_file: {str(token_file)!r}}}") == [
        ("admin.token_file: give admin.token (CORS_GATEWAY_ADMIN_TOKEN) or admin.token_file "
        "(CORS_GATEWAY_ADMIN_TOKEN_FILE), not both")
    ]


def test_load_config_reads_the_admin_token_from_the_given_environment_only(tmp_path, monkeypatch):
    path = tmp_path / "gateway.yaml"
    path.write_text(UPSTREAMS + "admin: {host: 0.0.0.0}\n" + ADMIN_ROUTES)
    monkeypatch.setenv("CORS_GATEWAY_ADMIN_TOKEN", ADMIN_TOKEN)
    with pytest.raises(ConfigError):
        load_config(path)  # without an env: the file alone (`check` and `run` pass os.environ)
    assert load_config(path, env={"CORS_GATEWAY_ADMIN_TOKEN": ADMIN_TOKEN}).admin_token == ADMIN_TOKEN


# --------------------------------------------------------------------------
# The classic mistakes: each refused (or read as meant) with what to write
# --------------------------------------------------------------------------


def route_with(route_keys: str, cors: str = '{origins: ["https://app.example.com"]}') -> str:
    return f"""
        routes:
          - upstream: app
            {route_keys}
            cors: {cors}
        """


GLOB = '"{}" is a prefix, not a glob: "*" is matched literally, so no real request takes this route ' \
    "(they get another route, or 404); write "


@pytest.mark.parametrize(
    ("path", "instead"),
    [
        pytest.param("/api/*", "path: /api/ (a prefix already matches everything below it)", id="trailing-star"),
        pytest.param("/api/**", "path: /api/ (a prefix already matches everything below it)", id="double-star"),
        pytest.param('"/*"', "path: / (a prefix already matches everything below it)", id="root"),
        pytest.param(
            "/api*",
            'path: /api (matches /api and everything below /api/), or path_regex: "^/api.*$" '
            "(every path that starts with /api)",
            id="star-in-a-segment",
        ),
        pytest.param("/api/*/users", 'path_regex: "^/api/[^/]+/users(/.*)?$"', id="star-in-the-middle"),
        pytest.param("/v1.0/**/x/", r'path_regex: "^/v1\.0/.*/x/.*$"', id="escaped"),
    ],
)
def test_glob_in_a_prefix_path_is_refused_with_what_to_write(path, instead):
    assert errors(route_with(f"path: {path}")) == [f"routes.0.path: {GLOB.format(path.strip(chr(34)))}{instead}"]


def test_paths_without_a_glob_and_regexes_with_a_star_are_fine():
    cfg = config(route_with("path: /api/") + '  - {path_regex: "^/v[0-9]*/.*$", upstream: app}\n')
    assert [r.path or r.path_regex for r in cfg.routes] == ["/api/", "^/v[0-9]*/.*$"]


SLASH_STAR = '"*" right after "//" repeats the "/" (in a regex, * is no wildcard), so this never matches a subdomain'


@pytest.mark.parametrize(
    ("entry", "instead"),
    [
        pytest.param(
            r"re:^https://*.example.com$",
            r' such as https://app.example.com; write "https://*.example.com" (a wildcard entry, without re:; '
            r"every subdomain, at any depth) or re:^https://[a-z0-9-]+\.example\.com$",
            id="the-classic",
        ),
        pytest.param(
            r"re:^https://*\.example\.com$",
            r' such as https://app.example.com; write "https://*.example.com" (a wildcard entry, without re:; '
            r"every subdomain, at any depth) or re:^https://[a-z0-9-]+\.example\.com$",
            id="escaped-dots",
        ),
        pytest.param(
            r"re:^https?://*.example.com:8443$",
            r' such as https://app.example.com:8443; write "https://*.example.com:8443" and '
            r'"http://*.example.com:8443" (wildcard entries, without re:; every subdomain, at any depth) or '
            r"re:^https?://[a-z0-9-]+\.example\.com:8443$",
            id="both-schemes-and-a-port",
        ),
        pytest.param(
            r"re:^https://*.(eu|us)\.example\.com$",
            r'; write a wildcard entry such as "https://*.example.com" (without re:), or a regex such as '
            r"re:^https://[a-z0-9-]+\.example\.com$",
            id="other-shapes",
        ),
        pytest.param(
            r"re:^https:\/\/*.example.com$",
            r'; write a wildcard entry such as "https://*.example.com" (without re:), or a regex such as '
            r"re:^https://[a-z0-9-]+\.example\.com$",
            id="escaped-slashes",
        ),
    ],
)
def test_star_right_after_slashes_in_a_regex_is_refused_with_what_to_write(entry, instead):
    for mode in ("enforce", "off"):
        found = errors(route_with("path: /", f"{{origins: ['https://ok.example.com', '{entry}'], mode: {mode}}}"))
        assert found == [f"routes.0.cors.origins.1: {SLASH_STAR}{instead}"]


def test_regexes_with_a_real_subdomain_class_are_fine():
    cfg = config(route_with("path: /", r"{origins: ['re:^https://[a-z0-9-]+\.example\.com$']}"))
    assert [p.kind for p in cfg.routes[0].cors.origins] == ["regex"]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        pytest.param(
            "origins", '"https://a.example.com, https://b.example.com"',
            exact("https://a.example.com", "https://b.example.com"), id="origins",
        ),
        pytest.param(
            "origins", r"'re:^https://[a-z]{1,3}\.example\.com$,http://[::1]:8080 ,, https://c.example.com,'",
            (Pattern("regex", r"^https://[a-z]{1,3}\.example\.com$"),
             *exact("http://[::1]:8080", "https://c.example.com")),
            id="commas-inside-brackets-do-not-split",
        ),
        pytest.param("methods", '"GET, post ,PUT"', ("GET", "POST", "PUT"), id="methods"),
        pytest.param("methods", '"GET, *"', None, id="methods-star"),
        pytest.param("methods", '""', (), id="empty-string-is-an-empty-list"),
        pytest.param("allow_headers", '"Content-Type, Authorization"', ("Content-Type", "Authorization"), id="allow"),
        pytest.param("expose_headers", '"X-Request-Id,ETag"', ("X-Request-Id", "ETag"), id="expose"),
        pytest.param("origins", '" https://a.example.com "', exact("https://a.example.com"), id="one-item-trimmed"),
    ],
)
def test_comma_separated_string_is_the_list(key, value, expected):
    others = "" if key == "origins" else 'origins: ["https://x.example.com"], '
    cfg = config(route_with("path: /", f"{{{others}{key}: {value}}}"))
    assert getattr(cfg.routes[0].cors, key) == expected


def test_comma_separated_trusted_proxies_are_the_list():
    cfg = config(route_with("path: /") + 'listen: {trusted_proxies: "10.0.0.0/8, 192.168.1.1"}\n')
    assert [str(n) for n in cfg.trusted_proxies] == ["10.0.0.0/8", "192.168.1.1/32"]


def test_items_of_a_comma_separated_string_are_named_like_list_items():
    assert errors(route_with("path: /", '{origins: "https://a.example.com, https://b.example.com/", '
                                        'methods: "GET, BAD METHOD"}')) == [
        "routes.0.cors.origins.1: not a valid origin: an origin has no path (found '/') "
        '(did you mean "https://b.example.com"?)',
        "routes.0.cors.methods.1: 'BAD METHOD' is not a valid HTTP token",
    ]
    # A string without a comma is one entry: its errors keep the key's path.
    assert errors(route_with("path: /", '{origins: "https://b.example.com/"}')) == [
        "routes.0.cors.origins: not a valid origin: an origin has no path (found '/') "
        '(did you mean "https://b.example.com"?)',
    ]


@pytest.mark.parametrize(
    ("cors", "path", "item", "entries"),
    [
        pytest.param('{origins: ["https://a.example.com, https://b.example.com"]}', "routes.0.cors.origins.0",
                     "https://a.example.com, https://b.example.com", ["https://a.example.com", "https://b.example.com"],
                     id="origins"),
        pytest.param('{origins: "*", methods: [PUT, "GET, POST"]}', "routes.0.cors.methods.1", "GET, POST",
                     ["GET", "POST"], id="methods"),
        pytest.param('{origins: "*", allow_headers: ["X-A,X-B, X-C"]}', "routes.0.cors.allow_headers.0",
                     "X-A,X-B, X-C", ["X-A", "X-B", "X-C"], id="headers"),
    ],
)
def test_list_item_with_several_entries_says_give_each_its_own_item(cors, path, item, entries):
    listed = ", ".join(f'"{e}"' for e in entries)
    assert errors(route_with("path: /", cors)) == [
        f'{path}: "{item}" holds {len(entries)} entries: in a list, give each its own item: [{listed}] '
        "(a comma-separated string is read as a list only as the key's whole value)"
    ]


@pytest.mark.parametrize(
    ("cors", "path", "line", "quoted"),
    [
        pytest.param("\n      origins: *", "routes.0.cors.origins", 8, '"*"', id="scalar"),
        pytest.param("\n      origins: [*]", "routes.0.cors.origins.0", 8, '"*"', id="flow-item"),
        pytest.param("\n      origins:\n        - https://a.example.com\n        - *  # any",
                     "routes.0.cors.origins.1", 10, '"*"', id="block-item"),
        pytest.param("\n      methods: [GET, *]", "routes.0.cors.methods.1", 8, '"*"', id="methods"),
        pytest.param("\n      allow_headers: *", "routes.0.cors.allow_headers", 8, '"*"', id="allow-headers"),
        pytest.param("{expose_headers: *}", "routes.0.cors.expose_headers", 7, '"*"', id="flow-mapping"),
    ],
)
def test_unquoted_star_says_quote_it(cors, path, line, quoted):
    text = UPSTREAMS + "routes:\n  - path: /\n    upstream: app\n    cors: " + cors + "\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert [str(e) for e in info.value.errors] == [
        f"{path}: an unquoted * starts a YAML alias (line {line}); quote it: {quoted}"
    ]


def test_unquoted_star_text_is_judged_as_the_quoted_string():
    # What it was meant to be is judged too, so the next run brings no surprise.
    text = UPSTREAMS + "routes:\n  - path: /\n    upstream: app\n    cors:\n      origins: *.example.com\n"
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert [str(e) for e in info.value.errors] == [
        'routes.0.cors.origins: an unquoted * starts a YAML alias (line 8); quote it: "*.example.com"',
        'routes.0.cors.origins: wildcard patterns need a scheme, e.g. "https://*.example.com"',
    ]


def test_unquoted_stars_are_reported_together_with_other_errors():
    text = UPSTREAMS + textwrap.dedent(
        """\
        defaults:
          cors: {origins: *, supports_credentials: true}
        routes:
          - path: /api/*
            upstream: app
            cors: {methods: [GET, *]}
        """
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="gw.yaml")
    assert [str(e) for e in info.value.errors] == [
        'defaults.cors.origins: an unquoted * starts a YAML alias (line 5); quote it: "*"',
        'routes.0.cors.methods.1: an unquoted * starts a YAML alias (line 9); quote it: "*"',
        f"defaults.cors.supports_credentials: {CREDS_STAR}",
        f'routes.0.path: {GLOB.format("/api/*")}path: /api/ (a prefix already matches everything below it)',
    ]


def test_a_star_alias_name_says_quote_it():
    with pytest.raises(ConfigError) as info:
        parse_config(UPSTREAMS + "routes: [{path: /, upstream: app, cors: {origins: *app}}]\n", source="gw.yaml")
    assert [str(e) for e in info.value.errors] == [
        "gw.yaml: invalid YAML (line 4, column 51): found an undefined YAML alias; a value that starts with * is a "
        "YAML alias: put the whole value in double quotes"
    ]


@pytest.mark.parametrize("token", ["*S3cr3tAdminToken0123456789", "*Secret+Token/Value==1234"])
def test_an_unquoted_star_admin_token_is_never_repeated(token):
    """The fix for an unquoted * never shows the value when it is a secret."""
    with pytest.raises(ConfigError) as info:
        parse_config(UPSTREAMS + f"admin: {{host: 127.0.0.1, token: {token}}}\nroutes: [{{path: /, upstream: app}}]\n")
    text = "\n".join(str(e) for e in info.value.errors)
    assert token.lstrip("*")[:8] not in text
    assert "double quotes" in text


NULL_ORIGIN = (
    'YAML reads an unquoted null, ~ or an empty value as no value: for the opaque origin null, quote it: "null"'
)


@pytest.mark.parametrize(
    ("cors", "expected"),
    [
        pytest.param('{origins: ["https://a.example.com", null]}', [f"routes.0.cors.origins.1: {NULL_ORIGIN}"],
                     id="null"),
        pytest.param('{origins: ["https://a.example.com", ~]}', [f"routes.0.cors.origins.1: {NULL_ORIGIN}"],
                     id="tilde"),
        pytest.param(
            '{origins: ["https://a.example.com"], methods: [GET, null]}',
            ["routes.0.cors.methods.1: YAML reads an unquoted null, ~ or an empty value as no value: write the "
             "value, or remove the item"],
            id="methods",
        ),
    ],
)
def test_null_list_item_says_quote_it(cors, expected):
    assert errors(route_with("path: /", cors)) == expected


def test_null_origins_warn_with_the_quote_hint():
    cfg = config(route_with("path: /", "{origins: null}"))
    assert [str(w) for w in cfg.warnings] == [
        f"routes.0.cors.origins: {NO_ORIGINS}; origins is null (YAML reads an unquoted null, ~ or an empty value "
        'as no value): for the opaque origin null, quote it: "null"'
    ]
    quoted = config(route_with("path: /", '{origins: "null"}'))
    assert [p.kind for p in quoted.routes[0].cors.origins] == ["null"]


# --------------------------------------------------------------------------
# ${NAME} in values
# --------------------------------------------------------------------------


def env_config(body: str, env: dict[str, str] | None) -> "GatewayConfig":  # noqa: F821
    return parse_config(UPSTREAMS + textwrap.dedent(body), env=env)


def env_errors(body: str, env: dict[str, str] | None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        env_config(body, env)
    return [str(issue) for issue in info.value.errors]


@pytest.mark.parametrize(
    ("value", "env", "expected"),
    [
        pytest.param("${A}", {"A": "x"}, "x", id="set"),
        pytest.param("pre-${A}-post", {"A": "x"}, "pre-x-post", id="inside-text"),
        pytest.param("${A}${B}", {"A": "x", "B": "y"}, "xy", id="two"),
        pytest.param("a-${A:-d}", {}, "a-d", id="default-when-unset"),
        pytest.param("a-${A:-d}", {"A": ""}, "a-d", id="default-when-empty"),
        pytest.param("a-${A:-d}", {"A": "x"}, "a-x", id="no-default-when-set"),
        pytest.param("a-${A}", {"A": ""}, "a-", id="set-to-empty"),
        pytest.param("a-${A:-}", {}, "a-", id="empty-default"),
        pytest.param("${A:-x, y:z}", {}, "x, y:z", id="default-with-commas"),
        pytest.param("$$A", {"A": "x"}, "$A", id="dollar-dollar"),
        pytest.param("$${A}", {"A": "x"}, "${A}", id="escaped-reference"),
        pytest.param("cost$5 a$ b$c", {}, "cost$5 a$ b$c", id="lone-dollars-stay"),
        pytest.param("${A}", {"A": "${B}"}, "${B}", id="values-are-not-expanded-again"),
    ],
)
def test_env_reference_in_a_string_value(value, env, expected):
    cfg = env_config(f'routes: [{{name: "{value}", path: /, upstream: app, cors: {{origins: "https://a.test"}}}}]', env)
    assert cfg.routes[0].name == expected


def test_regex_dollars_are_left_alone():
    cfg = env_config(r"""
        routes:
          - path_regex: '^/api/(v1|v2)/.*$'
            upstream: app
            cors: {origins: ['re:^https://(a|b)\.example\.com$']}
        """, {})
    assert cfg.routes[0].path_regex == "^/api/(v1|v2)/.*$"
    assert cfg.routes[0].cors.origins[0].text == r"^https://(a|b)\.example\.com$"


ORIGINS_ROUTE = textwrap.dedent(
    """
    routes:
      - path: /
        upstream: app
        cors:
          origins: ${CORS_ORIGINS}
          methods: ${METHODS:-GET, POST}
    """
)


@pytest.mark.parametrize(
    ("value", "origins"),
    [
        pytest.param("https://a.example.com", exact("https://a.example.com"), id="one"),
        pytest.param("https://a.example.com, https://b.example.com", exact("https://a.example.com", "https://b.example.com"),
                     id="two"),
        pytest.param(" https://a.example.com ,,https://b.example.com, ",
                     exact("https://a.example.com", "https://b.example.com"), id="trimmed-and-empty-items-dropped"),
        pytest.param(r"https://a.example.com,re:^https://[a-z]{1,3}\.example\.com$",
                     (*exact("https://a.example.com"), Pattern("regex", r"^https://[a-z]{1,3}\.example\.com$")),
                     id="regex-with-a-comma"),
        pytest.param("*", (Pattern("any", "*"),), id="star"),
    ],
)
def test_env_variable_filling_a_list_key_is_split_on_commas(value, origins):
    cfg = env_config(ORIGINS_ROUTE, {"CORS_ORIGINS": value})
    assert cfg.routes[0].cors.origins == origins
    assert cfg.routes[0].cors.methods == ("GET", "POST")


def test_env_variable_set_to_nothing_allows_no_origin():
    cfg = env_config(ORIGINS_ROUTE, {"CORS_ORIGINS": ""})
    assert cfg.routes[0].cors.origins == ()
    assert [str(w) for w in cfg.warnings] == [f"routes.0.cors.origins: {NO_ORIGINS} (from ${{CORS_ORIGINS}})"]


def test_env_values_of_number_and_boolean_keys():
    cfg = env_config("""
        listen: {port: "${PORT}", trusted_proxies: "${PROXIES:-10.0.0.0/8}"}
        shutdown_timeout: ${GRACE:-2.5}
        routes:
          - path: /
            upstream: app
            cors:
              origins: "https://a.test"
              max_age: ${MAX_AGE:-600}
              supports_credentials: ${CREDS}
              mode: ${MODE}
        """, {"PORT": "8081", "CREDS": "true", "MODE": "shadow"})
    assert (cfg.listen_port, cfg.shutdown_timeout) == (8081, 2.5)
    assert [str(n) for n in cfg.trusted_proxies] == ["10.0.0.0/8"]
    cors = cfg.routes[0].cors
    assert (cors.max_age, cors.supports_credentials, cors.mode) == (600, True, "shadow")
    assert env_errors('listen: {port: "${PORT}"}\n' + ORIGINS_ROUTE, {"PORT": "http", "CORS_ORIGINS": "*"}) == [
        "listen.port: Input should be a valid integer (from ${PORT})"
    ]


def test_unset_variables_are_errors_reported_together_with_the_rest():
    assert env_errors("""
        admin: {token: "${ADMIN_TOKEN}"}
        routes:
          - path: /api/*
            upstream: app
            cors: {origins: "${CORS_ORIGINS}", supports_credentials: true}
          - path: /x/
            upstream: other
            cors: {origins: ["https://a.test", "${EXTRA}"], max_age: -1, allow_headers: "${HEADERS:-}"}
        """, {}) == [
        "admin.token: environment variable ADMIN_TOKEN is not set (set it, or give a default: ${ADMIN_TOKEN:-...})",
        "routes.0.cors.origins: environment variable CORS_ORIGINS is not set (set it, or give a default: "
        "${CORS_ORIGINS:-...})",
        "routes.1.cors.origins.1: environment variable EXTRA is not set (set it, or give a default: ${EXTRA:-...})",
        "routes.1.cors.max_age: Input should be greater than or equal to 0",
        f'routes.0.path: {GLOB.format("/api/*")}path: /api/ (a prefix already matches everything below it)',
    ]


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        pytest.param("${}", "'${}'", id="empty"),
        pytest.param("${1A}", "'${1A}'", id="starts-with-a-digit"),
        pytest.param("${A-d}", "'${A-d}'", id="dash-without-colon"),
        pytest.param("${A:=d}", "'${A:=d}'", id="other-operator"),
        pytest.param("x${A", "'${A'", id="unterminated"),
    ],
)
def test_malformed_reference_is_an_error(value, shown):
    assert env_errors(f'routes: [{{name: "{value}", path: /, upstream: app}}]\n', {"A": "x"}) == [
        f"routes.0.name: {shown} is not a variable reference: write ${{NAME}} or ${{NAME:-default}} (NAME: letters, "
        "digits and _), or $$ for a literal $"
    ]


def test_keys_are_never_expanded():
    cfg = parse_config(
        'upstreams:\n  "${UP}": {url: "http://127.0.0.1:5000"}\n'
        'routes: [{path: /, upstream: "$${UP}", cors: {origins: "https://a.test"}}]\n',
        env={"UP": "x"},
    )
    assert list(cfg.upstreams) == ["${UP}"]
    assert cfg.routes[0].upstream == "${UP}"


def test_errors_in_an_expanded_value_name_the_variable():
    assert env_errors(ORIGINS_ROUTE, {"CORS_ORIGINS": "https://a.example.com, https://b.example.com/"}) == [
        "routes.0.cors.origins.1: not a valid origin: an origin has no path (found '/') "
        '(did you mean "https://b.example.com"?) (from ${CORS_ORIGINS})'
    ]
    credentials = ORIGINS_ROUTE.replace("cors:", "cors:\n      supports_credentials: true")
    assert env_errors(credentials, {"CORS_ORIGINS": "*"}) == [
        f"routes.0.cors.supports_credentials: {CREDS_STAR}"
    ]


def test_environment_lists_the_keys_it_set_and_never_shows_the_admin_token():
    token = "s3cr3t-t0ken-0123456789"
    cfg = env_config("""
        admin: {host: 0.0.0.0, token: "${ADMIN_TOKEN}"}
        routes:
          - name: "${ADMIN_TOKEN}-route"
            path: /
            upstream: app
            cors: {origins: "${CORS_ORIGINS}", max_age: "${MAX_AGE:-600}"}
        """, {"ADMIN_TOKEN": token, "CORS_ORIGINS": "https://a.example.com,https://b.example.com",
              "CORS_GATEWAY_LISTEN_PORT": "8081"})
    assert cfg.admin_token == token
    assert [str(v) for v in cfg.environment] == [
        "admin.token = (secret, not shown)  (from ${ADMIN_TOKEN})",
        "routes.0.name = (secret, not shown)  (from ${ADMIN_TOKEN})",
        'routes.0.cors.origins = ["https://a.example.com", "https://b.example.com"]  (from ${CORS_ORIGINS})',
        "routes.0.cors.max_age = 600  (from ${MAX_AGE}; MAX_AGE not set: default used)",
        'listen.port = "8081"  (from CORS_GATEWAY_LISTEN_PORT)',
    ]
    assert token not in repr(cfg.environment)


def test_admin_token_from_a_variable_is_never_in_a_message():
    short = "abc$def"
    assert env_errors('admin: {token: "${T}"}\n' + ORIGINS_ROUTE, {"T": short, "CORS_ORIGINS": "*"}) == [
        "admin.token: the token is too short (7 characters): use at least 16 random characters, e.g. from openssl "
        "rand -hex 32 (from ${T})"
    ]
    found = env_errors('admin: {token: "0123456789abcdef${oops"}\n' + ORIGINS_ROUTE, {"CORS_ORIGINS": "*"})
    assert found == [
        'admin.token: a "${" is not a variable reference: write ${NAME} or ${NAME:-default} (NAME: letters, digits '
        "and _), or $$ for a literal $"
    ]
    assert "0123456789abcdef" not in str(found)


def test_an_override_replaces_a_value_with_an_unset_variable():
    cfg = parse_config('upstreams: {app: {url: "${APP_URL}"}}\n' + ORIGINS_ROUTE,
                       env={"CORS_GATEWAY_UPSTREAM_APP_URL": "http://10.0.0.5:8000", "CORS_ORIGINS": "*"})
    assert cfg.upstreams["app"].url == "http://10.0.0.5:8000"


def test_without_an_environment_only_defaults_fill_references():
    cfg = parse_config(UPSTREAMS + "routes: [{path: /, upstream: app, cors: {origins: '${O:-https://a.test}'}}]\n")
    assert cfg.routes[0].cors.origins == exact("https://a.test")
    assert cfg.environment[0].defaulted == ("O",)


def test_load_config_and_every_reload_expand_from_the_given_environment(tmp_path, monkeypatch):
    from gateway.supervisor import load  # what `run` and every reload (SIGHUP, file change) call

    path = tmp_path / "gateway.yaml"
    path.write_text(UPSTREAMS + textwrap.dedent(ORIGINS_ROUTE))
    assert load_config(path, env={"CORS_ORIGINS": "https://a.test"}).routes[0].cors.origins == exact("https://a.test")
    monkeypatch.setenv("CORS_ORIGINS", "https://b.test, https://c.test")
    assert load(str(path), None, None).routes[0].cors.origins == exact("https://b.test", "https://c.test")
    path.write_text(UPSTREAMS + textwrap.dedent(ORIGINS_ROUTE).replace("${CORS_ORIGINS}", '"${CORS_ORIGINS}, https://d.test"'))
    assert load(str(path), None, None).routes[0].cors.origins == exact("https://b.test", "https://c.test", "https://d.test")


def test_unquoted_reference_inside_flow_style_says_quote_it():
    with pytest.raises(ConfigError) as info:
        parse_config(UPSTREAMS + "routes: [{path: /, upstream: app, cors: {origins: ${O}}}]\n", env={"O": "*"})
    assert [str(e) for e in info.value.errors] == [
        "<string>: invalid YAML (line 4, column 52): expected ',' or '}', but got '{'; inside [...] or {...} quote a "
        'variable reference: "${NAME}"'
    ]
    cfg = parse_config(UPSTREAMS + "routes: [{path: /, upstream: app, cors: {origins: '${O}'}}]\n", env={"O": "*"})
    assert cfg.routes[0].cors.origins == (Pattern("any", "*"),)


def test_a_key_that_reuses_the_admin_token_variable_is_not_shown():
    token = "t0ken-from-the-environment-0123456789"
    text = UPSTREAMS + ('admin: {host: 127.0.0.1}\n'
                        'routes: [{name: "${CORS_GATEWAY_ADMIN_TOKEN}", path: /, upstream: app}]\n')
    config = parse_config(text, env={"CORS_GATEWAY_ADMIN_TOKEN": token})
    shown = {value.path: value.shown for value in config.environment}
    assert shown == {"admin.token": "(secret, not shown)", "routes.0.name": "(secret, not shown)"}
