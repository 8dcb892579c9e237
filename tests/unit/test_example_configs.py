"""The example configs (config/, the demo's, deploy/) load cleanly and mean what their comments say."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from aiohttp.test_utils import make_mocked_request

from gateway.config import DEFAULT_METHODS, ConfigError, GatewayConfig, load_config, parse_config
from gateway.routes import RouteTable

ROOT = Path(__file__).resolve().parents[2]
CONFIG_DIR = ROOT / "config"
EXAMPLES = sorted(CONFIG_DIR.glob("*.yaml"))
DEMO_YAML = ROOT / "gateway" / "demo" / "demo.yaml"
DEPLOY_YAMLS = [*sorted((ROOT / "deploy").glob("*.yaml")), ROOT / "deploy" / "compose" / "gateway.yaml"]


def _load(name: str) -> GatewayConfig:
    return load_config(CONFIG_DIR / name)


def _headers(decision) -> dict[str, str]:
    return dict(decision.headers)


def test_the_documented_examples_exist():
    names = {p.name for p in EXAMPLES}
    assert {
        "gateway.yaml",
        "single-origin.yaml",
        "many-origins-credentials.yaml",
        "public-api.yaml",
    } <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_loads_without_errors_or_warnings(path: Path):
    config = load_config(path)
    assert config.routes
    assert config.warnings == ()
    # parse_config on the text gives the same result as load_config on the file.
    again = parse_config(path.read_text(encoding="utf-8"), source=str(path))
    assert again.routes == config.routes
    assert again.upstreams == config.upstreams
    assert again.defaults_cors == config.defaults_cors


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_every_route_enforces_and_names_a_defined_upstream(path: Path):
    config = load_config(path)
    for route in config.routes:
        assert route.upstream in config.upstreams
        assert route.cors.mode == "enforce"


# -- config/gateway.yaml ------------------------------------------------------


def test_gateway_yaml_listeners_and_demo_upstream():
    config = _load("gateway.yaml")
    assert (config.listen_host, config.listen_port) == ("0.0.0.0", 8080)
    assert (config.admin_host, config.admin_port) == ("127.0.0.1", 9090)
    assert config.upstreams["demo"].url == "http://127.0.0.1:5000"


def test_gateway_yaml_api_route_allows_the_demo_page_only():
    table = RouteTable(_load("gateway.yaml"))
    route = table.match("localhost:8080", "/api/hello")
    assert route is not None and route.name == "api"

    allowed = route.policy.actual("GET", ["http://localhost:8000"])
    assert allowed.allowed is True
    assert _headers(allowed)["Access-Control-Allow-Origin"] == "http://localhost:8000"
    assert _headers(allowed)["Access-Control-Expose-Headers"] == "X-Request-Id"
    assert "Access-Control-Allow-Credentials" not in _headers(allowed)
    assert allowed.vary == ("Origin",)

    rejected = route.policy.actual("GET", ["https://evil.example"])
    assert rejected.allowed is False
    assert rejected.headers == ()


def test_gateway_yaml_route_keys_replace_defaults_without_list_union():
    config = _load("gateway.yaml")
    api, admin = config.routes
    # Keys the api route leaves out come from defaults.cors ...
    assert api.cors.max_age == 600
    assert api.cors.on_reject == "block"
    # ... keys a route sets replace the default, lists included.
    assert admin.cors.max_age == 60
    origins = {p.text for p in admin.cors.origins}
    assert "http://localhost:8000" not in origins
    assert {p.kind for p in admin.cors.origins} == {"exact", "wildcard", "regex"}
    assert admin.cors.supports_credentials is True


def test_gateway_yaml_preflight_is_answered_with_configured_lists():
    route = RouteTable(_load("gateway.yaml")).match(None, "/api/items/1")
    ok = route.policy.preflight(["http://localhost:8000"], ["PUT"], ["content-type"])
    assert (ok.allowed, ok.status) == (True, 204)
    assert _headers(ok)["Access-Control-Allow-Methods"] == "GET, POST, PUT, DELETE"
    assert _headers(ok)["Access-Control-Max-Age"] == "600"
    # refused_preflight: name_cause: an ok answer whose list leaves PATCH out, so the browser names it
    bad = route.policy.preflight(["http://localhost:8000"], ["PATCH"])
    assert (bad.allowed, bad.status) == (False, 200)
    assert _headers(bad)["Access-Control-Allow-Origin"] == "http://localhost:8000"
    assert _headers(bad)["Access-Control-Allow-Methods"] == "GET, POST, PUT, DELETE"
    assert "Access-Control-Max-Age" not in _headers(bad)
    assert route.policy.preflight(["https://evil.example"], ["PATCH"]).status == 403


# -- config/single-origin.yaml --------------------------------------------------


def test_single_origin_allows_exactly_one_origin():
    config = _load("single-origin.yaml")
    (route,) = config.routes
    assert [(p.kind, p.text) for p in route.cors.origins] == [("exact", "https://app.example.com")]
    assert route.cors.methods == DEFAULT_METHODS
    assert route.cors.supports_credentials is False
    assert route.cors.on_reject == "omit"

    policy = RouteTable(config).match(None, "/anything").policy
    assert policy.actual("GET", ["https://app.example.com"]).allowed is True
    assert policy.actual("GET", ["https://other.example.com"]).allowed is False
    # Never "repaired": a trailing slash is not what a browser sends.
    assert policy.actual("GET", ["https://app.example.com/"]).allowed is False


# -- config/many-origins-credentials.yaml ------------------------------------


def test_many_origins_uses_credentials_and_every_pattern_kind():
    config = _load("many-origins-credentials.yaml")
    (route,) = config.routes
    cors = route.cors
    assert cors.supports_credentials is True
    kinds = [p.kind for p in cors.origins]
    assert kinds.count("exact") >= 2
    assert "wildcard" in kinds and "regex" in kinds
    assert "any" not in kinds and "null" not in kinds
    assert all(p.text.startswith("^") and p.text.endswith("$") for p in cors.origins if p.kind == "regex")
    assert "authorization" in {h.lower() for h in cors.allow_headers}
    assert cors.expose_headers  # listed, never "*" (None) with credentials


@pytest.mark.parametrize(
    "origin, allowed",
    [
        ("https://app.example.com", True),
        ("https://partner.example.net:8443", True),
        ("https://pr-42.preview.example.com", True),
        ("https://a.b.preview.example.com", True),
        ("https://eu-7.example.org", True),
        ("http://localhost:3000", True),
        ("https://preview.example.com", False),  # the wildcard needs a subdomain
        ("https://evilpreview.example.com", False),
        ("https://eu-7.example.org.evil.com", False),  # the regex is anchored
        ("https://eu-7xexample.org", False),  # the dot is escaped: literal
        ("https://partner.example.net", False),  # wrong port
        ("http://app.example.com", False),  # wrong scheme
        ("null", False),
    ],
)
def test_many_origins_matching(origin: str, allowed: bool):
    policy = RouteTable(_load("many-origins-credentials.yaml")).match(None, "/api/me").policy
    decision = policy.actual("GET", [origin])
    assert decision.allowed is allowed
    if allowed:
        assert _headers(decision)["Access-Control-Allow-Origin"] == origin
        assert _headers(decision)["Access-Control-Allow-Credentials"] == "true"
    else:
        assert decision.headers == ()


def test_many_origins_preflight_allows_authorization():
    policy = RouteTable(_load("many-origins-credentials.yaml")).match(None, "/api/me").policy
    decision = policy.preflight(["https://app.example.com"], ["DELETE"], ["authorization,content-type"])
    assert (decision.allowed, decision.status) == (True, 204)
    headers = _headers(decision)
    assert "Authorization" in headers["Access-Control-Allow-Headers"]
    assert headers["Access-Control-Allow-Credentials"] == "true"
    assert all(value != "*" for value in headers.values())


# -- config/public-api.yaml ----------------------------------------------------


def test_public_api_allows_any_origin_without_credentials_read_only():
    config = _load("public-api.yaml")
    (route,) = config.routes
    assert [p.kind for p in route.cors.origins] == ["any"]
    assert route.cors.supports_credentials is False
    assert route.cors.allow_private_network is False
    assert set(route.cors.methods) == {"GET", "HEAD"}

    policy = RouteTable(config).match(None, "/v1/items").policy
    assert policy.public is True
    decision = policy.actual("GET", ["https://any-site.example"])
    assert decision.allowed is True
    assert _headers(decision)["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in _headers(decision)
    assert decision.vary == ()  # the same answer for every Origin


def test_public_api_refuses_cross_origin_writes():
    policy = RouteTable(_load("public-api.yaml")).match(None, "/v1/items").policy
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        preflight = policy.preflight(["https://any-site.example"], [method])
        # "a 200 listing GET, HEAD, so the browser console names the method, or 403 for POST"
        assert (preflight.allowed, preflight.status) == (False, 403 if method == "POST" else 200)
        if method != "POST":
            assert _headers(preflight)["Access-Control-Allow-Methods"] == "GET, HEAD"
    assert policy.actual("POST", ["https://any-site.example"]).allowed is False


# -- What the comments say, checked against the code ---------------------------
#
# Each test below quotes the comment it checks.  Requests go through the
# gateway's engine (gateway.server.Gateway.handle) with no upstream pool: an
# answer proves the upstream was never called.


def _text(name: str) -> str:
    return (CONFIG_DIR / name).read_text(encoding="utf-8")


def _edited(text: str, old: str, new: str) -> str:
    """``text`` with the first ``old`` replaced (which must be there: the test follows the file)."""
    assert old in text, f"the example no longer contains {old!r}"
    return text.replace(old, new, 1)


def _errors(text: str, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        parse_config(text, source="example", env=env)
    return [str(issue) for issue in info.value.errors]


def _demo_text() -> str:
    """demo.yaml with its ports filled in, as `cors-gateway demo` does."""
    text = DEMO_YAML.read_text(encoding="utf-8")
    for key, port in {"port": 8080, "admin_port": 9090, "upstream_port": 5000, "frontend_port": 8000}.items():
        text = text.replace("{" + key + "}", str(port))
    return text


def _answer(config: GatewayConfig, method: str, path: str, **headers: str):
    """The engine's answer to a request that it must answer itself (no upstream)."""
    from gateway.server import Gateway

    request = make_mocked_request(method, path, headers={"Host": "gateway.test:8080", **headers})
    return asyncio.run(Gateway(config).handle(request))


@pytest.mark.parametrize("path", [*EXAMPLES, DEMO_YAML, *DEPLOY_YAMLS], ids=lambda p: str(p.relative_to(ROOT)))
def test_every_example_loads_with_and_without_an_environment(path: Path):
    text = _demo_text() if path == DEMO_YAML else path.read_text(encoding="utf-8")
    config = parse_config(text, source=str(path))
    assert config.routes and config.environment == ()
    # An empty environment changes nothing: no example depends on a variable being set.
    assert parse_config(text, source=str(path), env={}).routes == config.routes


def test_gateway_yaml_yaml_traps():
    # "quote "*" -- an unquoted * starts a YAML alias." / "`check` names the key and says what to write"
    text = _edited(_text("gateway.yaml"), 'origins: ["http://localhost:8000"]\n\n    # Seconds', "origins: *\n\n    # Seconds")
    line = text[: text.index("origins: *")].count("\n") + 1
    assert _errors(text) == [f'defaults.cors.origins: an unquoted * starts a YAML alias (line {line}); quote it: "*"']
    # "quote "null" -- an unquoted null is YAML's null (no value), not the opaque origin "null"."
    text = _edited(_text("gateway.yaml"), 'origins: ["http://localhost:8000"]\n\n      # Methods',
                   'origins: [null]\n\n      # Methods')
    assert _errors(text) == [
        'routes.0.cors.origins.0: YAML reads an unquoted null, ~ or an empty value as no value: for the opaque '
        'origin null, quote it: "null"'
    ]
    # "`mode: off` may stay unquoted (YAML reads it as false; the gateway maps that back to "off")"
    config = parse_config(_edited(_text("gateway.yaml"), "      mode: enforce\n", "      mode: off\n"))
    assert config.routes[0].cors.mode == "off"


def test_gateway_yaml_environment_comment():
    # "`origins: ${CORS_ORIGINS}` with CORS_ORIGINS="https://a.example.com, https://b.example.com" allows both."
    text = _edited(_text("gateway.yaml"), 'origins: ["http://localhost:8000"]\n\n      # Methods',
                   "origins: ${CORS_ORIGINS}\n\n      # Methods")
    config = parse_config(text, env={"CORS_ORIGINS": "https://a.example.com, https://b.example.com"})
    policy = RouteTable(config).match(None, "/api/hello").policy
    assert policy.actual("GET", ["https://a.example.com"]).allowed is True
    assert policy.actual("GET", ["https://b.example.com"]).allowed is True
    # "An unset variable without a default is an error."
    assert _errors(text, env={}) == [
        "routes.0.cors.origins: environment variable CORS_ORIGINS is not set (set it, or give a default: "
        "${CORS_ORIGINS:-...})"
    ]
    # "${NAME:-default} when NAME is unset or empty"
    text = _edited(text, "origins: ${CORS_ORIGINS}\n", "origins: ${CORS_ORIGINS:-http://localhost:8000}\n")
    for env in ({}, {"CORS_ORIGINS": ""}):
        assert [p.text for p in parse_config(text, env=env).routes[0].cors.origins] == ["http://localhost:8000"]
    # "Inside [...] or {...}, quote the reference: ["${NAME}"]."
    quoted = _edited(_text("gateway.yaml"), 'origins: ["http://localhost:8000"]\n\n      # Methods',
                     'origins: ["${CORS_ORIGIN}"]\n\n      # Methods')
    config = parse_config(quoted, env={"CORS_ORIGIN": "https://a.example.com"})
    assert [p.text for p in config.routes[0].cors.origins] == ["https://a.example.com"]


def test_gateway_yaml_refused_shapes_in_comments():
    # 'No globs: "/api/*" is refused (write "/api/").'
    found = _errors(_edited(_text("gateway.yaml"), "path: /api/\n", "path: /api/*\n"))
    assert len(found) == 1 and found[0].startswith("routes.0.path: ") and found[0].endswith(
        "write path: /api/ (a prefix already matches everything below it)")
    # "Not a wildcard: re:^https://*.example.com$ is refused (that * repeats the "/")."
    found = _errors(_edited(_text("gateway.yaml"), "- 're:^https://admin-[a-z0-9]+\\.example\\.com$'",
                            "- 're:^https://*.admin.example.com$'"))
    assert len(found) == 1 and found[0].startswith('routes.1.cors.origins.2: "*" right after "//" repeats the "/"')
    assert 'write "https://*.admin.example.com"' in found[0]


def test_gateway_yaml_mode_off_keeps_the_security_refusals():
    # "off: ... The security refusals of `check` still apply ...; only its warnings are skipped."
    text = _text("gateway.yaml")
    off = _edited(text, "      mode: enforce\n", "      mode: off\n")
    insecure = _edited(_edited(off, "supports_credentials: false", "supports_credentials: true"),
                       'origins: ["http://localhost:8000"]\n\n      # Methods', 'origins: "*"\n\n      # Methods')
    assert [e.split(":")[0] for e in _errors(insecure)] == ["routes.0.cors.supports_credentials"]
    over_cap = "      max_age: 86400\n      mode: "
    warned = parse_config(_edited(text, "      mode: ", over_cap)).warnings
    assert [w.path for w in warned] == ["routes.0.cors.max_age"]
    assert parse_config(_edited(off, "      mode: ", over_cap)).warnings == ()


def test_gateway_yaml_blocks_and_answers_as_commented():
    config = _load("gateway.yaml")
    # "block answer 403 with a one-line reason; the upstream is never called."
    for path in ("/api/hello", "/admin/users"):
        response = _answer(config, "POST", path, Origin="https://evil.example")
        assert response.status == 403
        assert response.text.count("\n") == 1 and "origin_not_allowed" in response.text
    # "Rejected preflights are answered by the gateway (see refused_preflight)" (the upstream never sees them);
    # "name_cause (default) 200 with this origin's Access-Control-Allow-Origin and the route's methods"
    preflight = _answer(config, "OPTIONS", "/api/hello", Origin="http://localhost:8000",
                        **{"Access-Control-Request-Method": "PATCH"})
    assert preflight.status == 200
    assert preflight.headers["Access-Control-Allow-Methods"] == "GET, POST, PUT, DELETE"
    assert preflight.text == "CORS preflight rejected: method_not_allowed: the requested method is not allowed on " \
                             "this route\n"
    # "plain_403  403 without CORS headers"
    plain = parse_config(_edited(_text("gateway.yaml"), "refused_preflight: name_cause", "refused_preflight: plain_403"))
    refused = _answer(plain, "OPTIONS", "/api/hello", Origin="http://localhost:8000",
                      **{"Access-Control-Request-Method": "PATCH"})
    assert refused.status == 403 and "Access-Control-Allow-Origin" not in refused.headers
    allowed = _answer(config, "OPTIONS", "/api/hello", Origin="http://localhost:8000",
                      **{"Access-Control-Request-Method": "PUT"})
    assert allowed.status == 204
    # "defaults.cors also judges requests that match no route: the gateway answers them 404 (and answers
    # their preflights 204/403) by these settings, so an allowed page can read the 404"
    missing = _answer(config, "GET", "/nowhere", Origin="http://localhost:8000")
    assert missing.status == 404 and missing.headers["Access-Control-Allow-Origin"] == "http://localhost:8000"
    assert _answer(config, "OPTIONS", "/nowhere", Origin="https://evil.example",
                   **{"Access-Control-Request-Method": "GET"}).status == 403


def test_gateway_yaml_routes_and_paths_as_commented():
    table = RouteTable(_load("gateway.yaml"))
    # '"/api/" matches /api/ and everything below it (but not /api itself)'
    assert table.match(None, "/api/").name == "api" and table.match(None, "/api/a/b").name == "api"
    assert table.match(None, "/api") is None
    # 'percent-decoded to UTF-8 ("/caf%C3%A9/" is "/café/"), repeated slashes merged'
    from gateway.routes import normalize_path

    assert normalize_path("/caf%C3%A9/") == "/café/" and table.match(None, normalize_path("//api//x")).name == "api"
    # "Dot-segments, backslashes, "#", control characters and invalid UTF-8 are refused with 400."
    assert [normalize_path(p) for p in ("/api/../admin/", "/api\\x", "/api/#x", "/api/%00", "/api/%E9")] == [None] * 5
    # "max_age and on_reject are not set here, so this route takes defaults.cors's values (600 and block)."
    api = table.match(None, "/api/x").route
    assert (api.cors.max_age, api.cors.on_reject) == (600, "block")
    # "Methods ... Written names are uppercased, and requests' methods are matched case-sensitively"
    assert table.match(None, "/api/x").policy.actual("put", ["http://localhost:8000"]).allowed is False
    # "Applies to actual requests too: with [GET], a cross-origin POST is rejected"
    assert table.match(None, "/admin/x").policy.actual("POST", ["https://admin.example.com"]).allowed is False


def test_gateway_yaml_commented_out_routes_load_and_mean_what_they_say():
    text = _text("gateway.yaml")
    block = text[text.index("  # - name: versioned"):]
    uncommented = "\n".join(re.sub(r"^  # ?", "  ", line) for line in block.splitlines()) + "\n"
    config = parse_config(text[: text.index("  # More route shapes")] + uncommented)
    versioned, docs = config.routes[2:]
    assert (versioned.path_regex, versioned.host, versioned.cors.mode) == ("^/v[0-9]+/.*$", "api.example.com", "shadow")
    # 'origins: ${DOCS_ORIGINS:-*}   # from the environment; default "*": public, Access-Control-Allow-Origin: *'
    assert [p.kind for p in docs.cors.origins] == ["any"] and docs.cors.on_reject == "omit"
    assert RouteTable(config).match(None, "/docs/x").policy.public is True
    env = {"DOCS_ORIGINS": "https://docs.example.com"}
    docs = parse_config(text[: text.index("  # More route shapes")] + uncommented, env=env).routes[3]
    assert [p.text for p in docs.cors.origins] == ["https://docs.example.com"]


def test_single_origin_string_forms_as_commented():
    # "a plain string is the same as a one-item list (and "https://a.example.com, https://b.example.com" as a
    # list of both)."
    text = _text("single-origin.yaml")
    as_list = parse_config(_edited(text, 'origins: "https://app.example.com"', 'origins: ["https://app.example.com"]'))
    assert as_list.routes == _load("single-origin.yaml").routes
    both = parse_config(_edited(text, 'origins: "https://app.example.com"',
                                'origins: "https://a.example.com, https://b.example.com"'))
    assert [p.text for p in both.routes[0].cors.origins] == ["https://a.example.com", "https://b.example.com"]


# -- config/many-origins-credentials.yaml, config/public-api.yaml: via the engine --


def test_many_origins_rejected_origin_never_reaches_the_app():
    # "A rejected Origin never reaches the Flask app (403 from the gateway), so a cross-site "simple" POST
    # cannot have side effects either."
    config = _load("many-origins-credentials.yaml")
    assert _answer(config, "POST", "/api/transfer", Origin="https://evil.example").status == 403
    # "Requests matching no route get a 404 from the gateway; with these defaults the listed frontends can
    # read that 404"
    missing = _answer(config, "GET", "/elsewhere", Origin="https://app.example.com")
    assert missing.status == 404
    assert missing.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert missing.headers["Access-Control-Allow-Credentials"] == "true"


def test_public_api_rejected_writes_never_reach_the_upstream():
    # "on_reject: block  # rejected cross-origin writes never reach the upstream"
    config = _load("public-api.yaml")
    for method in ("POST", "PUT", "DELETE"):
        assert _answer(config, method, "/v1/items", Origin="https://any-site.example").status == 403


# -- gateway/demo/demo.yaml ------------------------------------------------------


def test_demo_yaml_as_its_comment_and_the_demo_page_say():
    # "The config `cors-gateway demo` runs (ports are filled in from its flags)."
    config = parse_config(_demo_text())
    assert (config.listen_port, config.admin_port, config.upstreams["demo"].url) == (8080, 9090, "http://127.0.0.1:5000")
    table = RouteTable(config)
    # The page (both spellings of its origin) may call /api/; /admin/ only allows admin.example.com and
    # blocks the page's call with a 403 that never reaches the upstream.
    for origin in ("http://localhost:8000", "http://127.0.0.1:8000"):
        assert table.match(None, "/api/hello").policy.actual("GET", [origin]).allowed is True
        assert _answer(config, "GET", "/admin/secret", Origin=origin).status == 403


# -- deploy/: the image's default and the Compose config --------------------------


def test_deploy_gateway_yaml_as_commented():
    path = ROOT / "deploy" / "gateway.yaml"
    config = load_config(path)
    (route,) = config.routes
    # "Every path is proxied; no cross-origin page is allowed until you list its origin below (rejected actual
    # requests are forwarded without CORS headers, so same-origin and non-browser clients keep working)."
    assert RouteTable(config).match(None, "/any/path").route is route
    assert route.cors.origins == () and route.cors.on_reject == "omit"
    rejected = RouteTable(config).match(None, "/x").policy.actual("POST", ["https://app.example.com"])
    assert (rejected.allowed, rejected.headers) == (False, ())
    # "Environment overrides (e.g. CORS_GATEWAY_UPSTREAM_URL=http://127.0.0.1:8000, CORS_GATEWAY_LISTEN_PORT,
    # CORS_GATEWAY_ADMIN_PORT) change it without a new file."
    env = {"CORS_GATEWAY_UPSTREAM_URL": "http://127.0.0.1:8000", "CORS_GATEWAY_LISTEN_PORT": "8081",
           "CORS_GATEWAY_ADMIN_PORT": "9091"}
    moved = load_config(path, env=env)
    assert (moved.upstreams["app"].url, moved.listen_port, moved.admin_port) == ("http://127.0.0.1:8000", 8081, 9091)
    # "The gateway refuses a non-loopback admin listener without a token."
    with pytest.raises(ConfigError) as info:
        load_config(path, env={"CORS_GATEWAY_ADMIN_HOST": "0.0.0.0"})
    assert [e.path for e in info.value.errors] == ["admin.token"]
    opened = load_config(path, env={"CORS_GATEWAY_ADMIN_HOST": "0.0.0.0", "CORS_GATEWAY_ADMIN_TOKEN": "x" * 32})
    assert (opened.admin_host, opened.admin_token) == ("0.0.0.0", "x" * 32)


def test_deploy_compose_gateway_yaml_as_commented():
    config = load_config(ROOT / "deploy" / "compose" / "gateway.yaml")
    table = RouteTable(config)
    # "The frontend page (http://localhost:8000, another origin) may call /api/."
    assert table.match(None, "/api/items").policy.actual("GET", ["http://localhost:8000"]).allowed is True
    # "Only a (hypothetical) admin site may call /admin/: the frontend's call is rejected with a 403 and Flask
    # never sees it."
    assert _answer(config, "GET", "/admin/users", Origin="http://localhost:8000").status == 403
    # "docker compose stop waits stop_grace_period (25s) before SIGKILL." and the drain fits in it.
    compose = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
    assert "stop_grace_period: 25s" in compose and config.shutdown_timeout < 25
