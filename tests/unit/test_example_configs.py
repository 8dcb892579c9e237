"""The example configs in config/ load cleanly and mean what their comments say."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import DEFAULT_METHODS, GatewayConfig, load_config, parse_config
from gateway.routes import RouteTable

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
EXAMPLES = sorted(CONFIG_DIR.glob("*.yaml"))


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
    bad = route.policy.preflight(["http://localhost:8000"], ["PATCH"])
    assert (bad.allowed, bad.status) == (False, 403)


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
        assert (preflight.allowed, preflight.status) == (False, 403)
    assert policy.actual("POST", ["https://any-site.example"]).allowed is False
