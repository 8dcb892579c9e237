"""Differential tests: the gateway configured by the importer vs flask-cors, as a browser sees them.

For every app of the corpus (``apps/``: a module, or a package of modules
served from ``NAME.app`` for setups spread over several files; both runs see
``conftest.CORPUS_ENV``), the same request matrix goes to

* (a) the app running flask-cors, and
* (c) the gateway, configured by ``import_app(app_file).config_yaml``, in
  front of (b) the same app with flask-cors replaced by a no-op stub.

Raw headers are not compared (``Vary``, the ``Access-Control-Allow-Methods``
listing and friends legitimately differ). What is compared is what a browser
makes of the exchange, per the Fetch standard's CORS protocol, for both
credentials modes ``omit`` and ``include``: whether the page gets the response
(``cors_ok``), and if so its status and the response headers script can read.

Every difference is named in ``EXPECTED`` with its reason and must actually
occur.  Where the gateway is deliberately stricter than flask-cors, a
``security`` or ``warning`` finding of the importer must announce it; where it
is more lenient, a finding or a README sentence must.  A known bug is listed
with ``known_bug`` and makes the comparison xfail, naming it.  Any other
difference fails.

Run alone: ``.venv/bin/python -m pytest -q tests/differential`` (about 20 s on a
busy 2-core machine: 2 Werkzeug processes, one gateway per app, ~12k requests).
"""

from __future__ import annotations

import http.client
import re
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest

from .conftest import APP_NAMES, ROOT

# -- the request matrix ----------------------------------------------------------

ALLOWED = "https://app.example.com"
EVIL = "https://evil.example"
NULL = "null"
COMMON_ORIGINS: tuple[str | None, ...] = (None, ALLOWED, EVIL, NULL)

JSON = ("Content-Type", "application/json")
TEXT = ("Content-Type", "text/plain;charset=UTF-8")
AUTH = ("Authorization", "Bearer t0k3n")
CUSTOM = ("X-Custom", "1")

# (method, request headers set by the page): simple requests first, then
# requests a browser preflights (method, or a non-safelisted header).
SHAPES: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("GET", ()),
    ("HEAD", ()),
    ("POST", (TEXT,)),
    ("POST", (JSON,)),
    ("PUT", (JSON,)),
    ("DELETE", ()),
    ("PATCH", ()),
    ("OPTIONS", ()),  # fetch(url, {method: "OPTIONS"}): preflighted like any non-safelisted method
    ("GET", (AUTH,)),
    ("GET", (CUSTOM,)),
    ("PUT", (JSON, AUTH, CUSTOM)),
)

# Headers the corpus apps set; the readable set is computed over these (plus
# the safelisted Content-Type), never over transport or gateway-added headers.
APP_RESPONSE_HEADERS = ("content-type", "x-total-count", "x-trace")


@dataclass(frozen=True)
class Case:
    paths: tuple[str, ...]
    origins: tuple[str, ...] = ()  # beyond COMMON_ORIGINS


CASES: dict[str, Case] = {
    "allow_headers_regex": Case(("/uploads", "/uploads/a.txt", "/nope")),
    "allow_headers_restricted": Case(("/notes", "/notes/1", "/nope")),
    "blueprint_cors": Case(("/api/v1/widgets", "/api/v1/widgets/1", "/api/v1/nope", "/health")),
    "blueprint_twice": Case(
        ("/v1/items", "/v2/items", "/v1/admin/users", "/v2/admin/users", "/v1/nope", "/items"),
    ),
    "config_style": Case(("/profile", "/profile/avatar", "/nope"), ("https://admin.example.com",)),
    "cors_with_view_override": Case(("/data", "/embed", "/nope"), ("https://partner.example.net",)),
    "credentials_explicit": Case(("/me", "/cart/1", "/nope"), ("https://www.example.com",)),
    "credentials_wildcard": Case(("/account", "/account/cards/1", "/nope")),
    "cross_origin_views": Case(
        ("/open", "/partner/1", "/internal", "/legacy", "/guarded", "/nope"), ("https://partner.example.net",),
    ),
    "expose_headers": Case(("/reports", "/reports/1", "/nope")),
    "global_defaults": Case(("/items", "/items/1", "/guarded", "/nope")),
    "init_app_factory": Case(("/api/tasks", "/api/tasks/1", "/api/nope", "/home")),
    "max_age": Case(("/fast/ping", "/slow/ping", "/nope")),
    "methods_restricted": Case(("/docs", "/docs/1", "/nope")),
    "origin_strings": Case(
        ("/things", "/nope"),
        (
            "https://a.example.com", "https://xexample.com", "https://xexample.com.evil.test",
            "https://www.example.net", "https://shop.example.net.evil.test",
        ),
    ),
    "origins_list": Case(("/api/users", "/api/users/ada", "/api/login", "/nope"), ("http://localhost:3000",)),
    "regex_origins": Case(
        ("/search", "/search/x", "/nope"),
        (
            "https://a.example.com", "https://a.b.example.com", "https://a.example.com.evil.test",
            "https://a.example.com:8443", "https://example.com", "https://app.example.org",
        ),
    ),
    "pkg_blueprints": Case(("/users/list", "/orders/list", "/admin", "/nope")),
    "pkg_config_object": Case(("/api/report", "/api/nope", "/other"), ("https://admin.example.com",)),
    "pkg_env": Case(("/api/data", "/api/nope", "/other"), ("https://admin.example.com",)),
    "pkg_mounted": Case(("/api/v1/items", "/v1/items", "/api/v1/nope")),
    "pkg_settings": Case(("/items", "/nope")),
    "pkg_star": Case(("/api/things", "/home", "/api/nope")),
    "pkg_two_apps": Case(("/api/catalog", "/admin/users", "/api/nope"), ("https://admin.example.com",)),
    "pkg_two_apps_admin": Case(("/admin/users", "/api/catalog", "/admin/nope"), ("https://admin.example.com",)),
    "regex_dotstar": Case(
        ("/things", "/nope"),
        ("https://a.example.com", "https://a.example.com.com", "https://a.example.com.evil.test"),
    ),
    "resources_ordered": Case(
        (
            "/api/catalog", "/api/admin/settings", "/api/v2/things", "/nope",
            # The same views, percent-encoded: Werkzeug decodes the path before routing.
            "/api/%61dmin/settings", "/api%2Fadmin/settings",
        ),
        ("https://admin.example.com",),
    ),
    "resources_regex": Case(("/api/orders", "/api/orders/1", "/api/nope", "/public/status", "/nope")),
    "resources_tricky_order": Case(
        ("/api/v1/secret", "/api/v2/secret", "/api/v1/status", "/api/v1/nope"),
        ("https://secret.example.com",),
    ),
    "send_wildcard": Case(("/feed", "/feed/1", "/nope")),
    "view_methods": Case(("/api/items", "/api/items/new", "/api/items/7", "/api/nope", "/open")),
}


@dataclass(frozen=True)
class Scenario:
    origin: str | None
    method: str
    path: str
    headers: tuple[tuple[str, str], ...]

    def __str__(self) -> str:
        headers = ", ".join(f"{name}: {value}" for name, value in self.headers)
        return f"{self.method} {self.path} [{headers}] from {self.origin}"


def scenarios_for(name: str) -> list[Scenario]:
    case = CASES[name]
    found = []
    for origin in (*COMMON_ORIGINS, *case.origins):
        for path in case.paths:
            for method, headers in SHAPES:
                if origin is None and needs_preflight(method, headers):
                    # Without Origin it is a same-origin (or non-browser) request:
                    # nothing is preflighted; one plain request per method is enough.
                    headers = ()
                scenario = Scenario(origin, method, path, headers)
                if scenario not in found:
                    found.append(scenario)
    return found


# -- the browser's side: the Fetch standard's CORS checks ------------------------------

SAFELISTED_METHODS = {"GET", "HEAD", "POST"}
SAFELISTED_CONTENT_TYPES = {"application/x-www-form-urlencoded", "multipart/form-data", "text/plain"}
SAFELISTED_RESPONSE_HEADERS = {
    "cache-control", "content-language", "content-length", "content-type", "expires", "last-modified", "pragma",
}


def unsafe_header_names(headers: Iterable[tuple[str, str]]) -> list[str]:
    """Fetch's "CORS-unsafe request-header names", sorted and lowercased."""
    unsafe = set()
    for name, value in headers:
        lower = name.lower()
        if lower in {"accept", "accept-language", "content-language"}:
            continue
        if lower == "content-type" and value.split(";")[0].strip().lower() in SAFELISTED_CONTENT_TYPES:
            continue
        unsafe.add(lower)
    return sorted(unsafe)


def needs_preflight(method: str, headers: Iterable[tuple[str, str]]) -> bool:
    return method not in SAFELISTED_METHODS or bool(unsafe_header_names(headers))


@dataclass(frozen=True)
class Response:
    status: int
    headers: tuple[tuple[str, str], ...]  # (lowercased name, value), in order, duplicates kept

    def all(self, name: str) -> list[str]:
        return [value for key, value in self.headers if key == name]

    def one(self, name: str) -> str | None:
        values = self.all(name)
        return ", ".join(values) if values else None


def split_list(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def cors_check(response: Response, origin: str, credentials: bool) -> bool:
    """Fetch's CORS check."""
    acao = response.all("access-control-allow-origin")
    if len(acao) != 1:
        return False
    if not credentials and acao[0] == "*":
        return True
    if acao[0] != origin:
        return False
    return not credentials or response.one("access-control-allow-credentials") == "true"


def preflight_ok(response: Response, scenario: Scenario, credentials: bool) -> bool:
    """Fetch's CORS-preflight fetch, steps after the response arrives."""
    if not cors_check(response, scenario.origin, credentials) or not 200 <= response.status <= 299:
        return False
    methods = split_list(response.one("access-control-allow-methods"))
    header_names = [name.lower() for name in split_list(response.one("access-control-allow-headers"))]
    if (
        scenario.method not in methods
        and scenario.method not in SAFELISTED_METHODS
        and (credentials or "*" not in methods)
    ):
        return False
    for name in unsafe_header_names(scenario.headers):
        if name in header_names:
            continue
        # "*" covers any name except Authorization, and only without credentials.
        if name == "authorization" or credentials or "*" not in header_names:
            return False
    return True


@dataclass(frozen=True)
class Outcome:
    cors_ok: bool
    status: int | None = None
    readable: frozenset[str] = frozenset()

    def __str__(self) -> str:
        if not self.cors_ok:
            return "CORS error"
        return f"{self.status} readable={sorted(self.readable)}"


CORS_ERROR = Outcome(False)


def browser_outcome(scenario: Scenario, credentials: bool, preflight: Response | None, actual: Response) -> Outcome:
    if scenario.origin is None:  # not a CORS request: the page reads its own origin's answer
        return Outcome(True, actual.status, frozenset())
    if needs_preflight(scenario.method, scenario.headers):
        assert preflight is not None
        if not preflight_ok(preflight, scenario, credentials):
            return CORS_ERROR
    if not cors_check(actual, scenario.origin, credentials):
        return CORS_ERROR
    exposed = {name.lower() for name in split_list(actual.one("access-control-expose-headers"))}
    wildcard = "*" in exposed and not credentials
    present = {name for name, _ in actual.headers}
    readable = frozenset(
        name for name in APP_RESPONSE_HEADERS
        if name in present and (name in SAFELISTED_RESPONSE_HEADERS or name in exposed or wildcard)
    )
    return Outcome(True, actual.status, readable)


# -- the wire: a real HTTP client, one keep-alive connection per server ------------------


class Client:
    def __init__(self, base_url: str):
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname, parts.port
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=10)

    def send(self, method: str, path: str, headers: dict[str, str], body: bytes | None = None) -> Response:
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=body, headers=headers)
                raw = self.conn.getresponse()
                raw.read()
                if raw.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                return Response(raw.status, tuple((k.lower(), v) for k, v in raw.getheaders()))
            except (ConnectionError, http.client.HTTPException):
                self.conn.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def exchange(client: Client, scenario: Scenario) -> tuple[Response | None, Response]:
    """What a browser would send: the preflight (when one is needed), then the actual request."""
    preflight = None
    base = {"Origin": scenario.origin} if scenario.origin is not None else {}
    if scenario.origin is not None and needs_preflight(scenario.method, scenario.headers):
        request_headers = {**base, "Access-Control-Request-Method": scenario.method}
        unsafe = unsafe_header_names(scenario.headers)
        if unsafe:
            request_headers["Access-Control-Request-Headers"] = ",".join(unsafe)
        preflight = client.send("OPTIONS", scenario.path, request_headers)
    # Sent even when the preflight failed, so both credentials modes can be judged
    # (a browser would stop there; the outcome function does).
    body = None
    headers = dict(scenario.headers)
    if scenario.method in {"POST", "PUT", "PATCH"}:
        body = b'{"a": 1}' if headers.get("Content-Type") == "application/json" else b"a=1"
    actual = client.send(scenario.method, scenario.path, {**base, **headers}, body)
    return preflight, actual


def run_matrix(base_url: str, scenarios: list[Scenario]) -> dict[Scenario, tuple[Response | None, Response]]:
    client = Client(base_url)
    try:
        return {scenario: exchange(client, scenario) for scenario in scenarios}
    finally:
        client.close()


# -- the comparison ----------------------------------------------------------------


@dataclass(frozen=True)
class Difference:
    scenario: Scenario
    credentials: str  # "omit" | "include"
    flask_cors: Outcome
    gateway: Outcome

    def __str__(self) -> str:
        return f"{self.scenario} credentials={self.credentials}: flask-cors {self.flask_cors}, gateway {self.gateway}"


@dataclass
class Comparison:
    scenarios: list[Scenario]
    differences: list[Difference]
    agreements_ok: int  # scenario x mode where both let the page read the answer
    flask_responses: dict
    gateway_responses: dict

    def flask_cors_shares_simple_get(self, origin: str | None, path: str, credentials: str) -> bool:
        """Did flask-cors let this origin read a plain GET of this path?"""
        get = Scenario(origin, "GET", path, ())
        return browser_outcome(get, credentials == "include", *self.flask_responses[get]).cors_ok


def compare(flask_url: str, gateway_url: str, scenarios: list[Scenario]) -> Comparison:
    with ThreadPoolExecutor(2) as pool:
        flask_future = pool.submit(run_matrix, flask_url, scenarios)
        gateway_future = pool.submit(run_matrix, gateway_url, scenarios)
        flask, gateway = flask_future.result(), gateway_future.result()
    differences, agreements_ok = [], 0
    for scenario in scenarios:
        modes = ("omit",) if scenario.origin is None else ("omit", "include")
        for mode in modes:
            ours = browser_outcome(scenario, mode == "include", *gateway[scenario])
            theirs = browser_outcome(scenario, mode == "include", *flask[scenario])
            if ours != theirs:
                differences.append(Difference(scenario, mode, theirs, ours))
            elif ours.cors_ok and scenario.origin is not None:
                agreements_ok += 1
    return Comparison(scenarios, differences, agreements_ok, flask, gateway)


# -- the expected differences ----------------------------------------------------------


@dataclass(frozen=True)
class Expected:
    """A deliberate difference between flask-cors and the gateway, and why.

    Where the gateway is stricter (``flask_cors`` readable, ``gateway`` not),
    the importer must say so: ``finding`` is a regex that one of its
    ``security``/``warning`` findings must match.  A difference where the
    gateway is more lenient is either announced the same way, or is documented
    gateway behaviour (``documented`` is then a phrase README.md must contain).
    ``known_bug`` and ``finding_bug`` mark known bugs, reported to be fixed.
    """

    reason: str
    flask_cors: bool  # cors_ok under flask-cors
    gateway: bool  # cors_ok through the gateway
    finding: str | None = None
    documented: str | None = None
    origins: tuple[str | None, ...] | None = None  # None: any
    credentials: str | None = None  # "omit" | "include" | None: either
    methods: tuple[str, ...] | None = None
    paths: tuple[str, ...] | None = None  # path prefixes
    gateway_statuses: tuple[int, ...] | None = None  # the statuses the page reads through the gateway
    # Only for origins flask-cors let read a plain GET of the same path (a lenient
    # difference must not hide an origin the gateway should have refused).
    origin_allowed_by_flask_cors: bool = False
    known_bug: str = ""  # the difference itself is a bug (not deliberate): the comparison xfails, naming it
    finding_bug: str = ""  # deliberate, but the finding is missing: the announcement test xfails, naming it

    def covers(self, diff: Difference, comparison: Comparison) -> bool:
        s = diff.scenario
        return (
            (self.origins is None or s.origin in self.origins)
            and (self.gateway_statuses is None or diff.gateway.status in self.gateway_statuses)
            and (
                not self.origin_allowed_by_flask_cors
                or comparison.flask_cors_shares_simple_get(s.origin, s.path, diff.credentials)
            )
            and (self.credentials is None or diff.credentials == self.credentials)
            and (self.methods is None or s.method in self.methods)
            and (self.paths is None or any(s.path.startswith(p) for p in self.paths))
            and diff.flask_cors.cors_ok == self.flask_cors
            and diff.gateway.cors_ok == self.gateway
        )

    def describe(self) -> str:
        def what(ok: bool) -> str:
            return "readable" if ok else "CORS error"

        return (
            f"origins={self.origins or 'any'} credentials={self.credentials or 'any'} "
            f"methods={self.methods or 'any'} paths={self.paths or 'any'}: "
            f"flask-cors {what(self.flask_cors)}, gateway {what(self.gateway)} ({self.reason})"
        )


def null_under_star(paths: tuple[str, ...] | None = None) -> Expected:
    return Expected(
        reason='origins "*": flask-cors reflects every Origin, the opaque "null" of sandboxed iframes and '
        'file: pages included; the gateway\'s "*" does not include null (README: "*" does **not** include null)',
        flask_cors=True, gateway=False, finding=r"refuses Origin: null", origins=(NULL,), credentials="omit",
        paths=paths,
    )


# Paths Flask does not route (404), under a path flask-cors covers.
NOT_ROUTED = ("/nope", "/api/nope", "/api/v1/nope", "/admin/nope")


def preflight_answered_by_gateway() -> Expected:
    return Expected(
        reason="a URL Flask does not route: Flask answers the preflight 404, so the browser never sends the "
        "request; the gateway answers preflights itself, so the page reads the app's 404 (no data, the "
        "upstream only sees a request it 404s)",
        flask_cors=False, gateway=True, documented="preflights are always answered", paths=NOT_ROUTED,
        gateway_statuses=(404,), origin_allowed_by_flask_cors=True,
    )


EXPECTED: dict[str, tuple[Expected, ...]] = {
    "allow_headers_regex": (
        Expected(
            reason="allow_headers regex r'X-Custom.*': the gateway has no header regexes, so the importer emits "
            '"*" (every requested name echoed, Authorization included); flask-cors allowed only names matching '
            "the regex and Content-Type",
            flask_cors=False, gateway=True, finding=r"allow_headers regex", paths=("/uploads",),
            origin_allowed_by_flask_cors=True,
        ),
        preflight_answered_by_gateway(),
    ),
    "allow_headers_restricted": (preflight_answered_by_gateway(),),
    "blueprint_cors": (),
    "blueprint_twice": (),
    "config_style": (preflight_answered_by_gateway(),),
    "cors_with_view_override": (preflight_answered_by_gateway(),),
    "credentials_explicit": (preflight_answered_by_gateway(),),
    "credentials_wildcard": (
        Expected(
            reason='supports_credentials with origins "*": flask-cors reflects every Origin with '
            "Access-Control-Allow-Credentials: true, so any website can act as the logged-in user; the gateway "
            'refuses that config and the importer emits "*" without credentials',
            flask_cors=True, gateway=False, finding=r"supports_credentials=True: with origins \"\*\"",
            credentials="include",
        ),
        null_under_star(),
        preflight_answered_by_gateway(),
    ),
    "cross_origin_views": (
        null_under_star(paths=("/open", "/legacy")),
        Expected(
            reason="@cross_origin(automatic_options=False): Flask answers the view's preflights itself, without "
            "CORS headers, so every preflighted request failed; the gateway answers them",
            flask_cors=False, gateway=True, finding=r"automatic_options=False", paths=("/legacy",),
            origin_allowed_by_flask_cors=True,
        ),
        Expected(
            reason="@cross_origin only decorates what the view returns: abort(401) and an exception (500) "
            "escape it, so the page got a CORS error; the gateway decorates every response of the route, "
            "errors included, so the page reads 401/500",
            flask_cors=False, gateway=True, documented="error responses always carry CORS headers",
            paths=("/guarded",), origins=("https://partner.example.net",), gateway_statuses=(401, 500),
        ),
    ),
    "expose_headers": (preflight_answered_by_gateway(),),
    "global_defaults": (null_under_star(), preflight_answered_by_gateway()),
    "init_app_factory": (preflight_answered_by_gateway(),),
    "max_age": (),
    "methods_restricted": (
        Expected(
            reason="methods=[GET, PUT]: flask-cors consults methods only for preflights, so a simple cross-origin "
            "POST still got CORS headers; the gateway applies methods to actual requests too",
            flask_cors=True, gateway=False, finding=r"methods leave out POST", methods=("POST",),
        ),
        preflight_answered_by_gateway(),
    ),
    "origin_strings": (
        Expected(
            reason=r"origin regex re.compile(r'https://(www|shop)\.example\.net') and the glob "
            "'https://*.example.com' (a regex to flask-cors): flask-cors uses re.match, anchored at the start "
            "only; the gateway matches the whole origin",
            flask_cors=True, gateway=False, finding=r"re\.match, which anchors only the start",
            origins=("https://shop.example.net.evil.test", "https://xexample.com.evil.test"),
        ),
        preflight_answered_by_gateway(),
    ),
    "origins_list": (preflight_answered_by_gateway(),),
    "regex_origins": (
        Expected(
            reason=r"origin regex r'https://.*\.example\.com': flask-cors uses re.match, anchored at the start "
            "only, so any origin that merely begins like an allowed one passes; the gateway matches the whole origin",
            flask_cors=True, gateway=False, finding=r"re\.match, which anchors only the start",
            origins=("https://a.example.com.evil.test", "https://a.example.com:8443"),
        ),
        preflight_answered_by_gateway(),
    ),
    "pkg_blueprints": (),
    "pkg_config_object": (preflight_answered_by_gateway(),),
    "pkg_env": (preflight_answered_by_gateway(),),
    "pkg_mounted": (preflight_answered_by_gateway(),),
    "pkg_settings": (preflight_answered_by_gateway(),),
    "pkg_star": (preflight_answered_by_gateway(),),
    "pkg_two_apps": (null_under_star(paths=("/api/",)), preflight_answered_by_gateway()),
    "pkg_two_apps_admin": (preflight_answered_by_gateway(),),
    "regex_dotstar": (
        Expected(
            reason="origin regex r'.*.example.com': re.match anchors only the start and '.*' takes the scheme, so "
            "flask-cors let any origin that begins with something, any character and 'example.com' read the "
            "responses; the gateway matches the whole origin",
            flask_cors=True, gateway=False, finding=r"re\.match, which anchors only the start",
            origins=("https://a.example.com.com", "https://a.example.com.evil.test"),
        ),
        preflight_answered_by_gateway(),
    ),
    "resources_ordered": (
        null_under_star(paths=("/api/catalog",)),
    ),
    "resources_regex": (preflight_answered_by_gateway(),),
    "resources_tricky_order": (null_under_star(paths=("/api/v1/status",)), preflight_answered_by_gateway()),
    "send_wildcard": (null_under_star(), preflight_answered_by_gateway()),
    "view_methods": (
        null_under_star(paths=("/open",)),
        Expected(
            reason="@cross_origin(methods=[GET]) on a view that also takes POST: flask-cors consults methods only "
            "for preflights, so a simple cross-origin POST still got CORS headers; the gateway applies methods "
            "to actual requests too",
            flask_cors=True, gateway=False, finding=r"methods leave out POST", methods=("POST",), paths=("/open",),
        ),
        preflight_answered_by_gateway(),
    ),
}


# -- the tests -------------------------------------------------------------------------

_results: dict[str, Comparison] = {}


@pytest.fixture
def deployment(request, deployments):
    found = deployments[request.param]
    if found.error:
        pytest.fail(found.error, pytrace=False)
    return found


@pytest.fixture
def comparison(deployment, app_servers):
    name = deployment.name
    if name not in _results:
        with_flask_cors, _ = app_servers
        _results[name] = compare(with_flask_cors.url(name), deployment.url, scenarios_for(name))
    return _results[name]


def findings_text(deployment) -> str:
    return "\n".join(
        f"  {f.severity}: {f.file}:{f.line}: {f.message}" for f in deployment.result.findings
    ) or "  (none)"


def test_the_corpus_is_covered():
    assert len(APP_NAMES) >= 12
    assert sorted(CASES) == APP_NAMES
    assert sorted(EXPECTED) == APP_NAMES


@pytest.mark.parametrize("deployment", APP_NAMES, indirect=True)
def test_import_finds_the_routes(deployment):
    result = deployment.result
    assert result.routes_found >= 1, findings_text(deployment)
    for finding in result.findings:
        assert finding.severity in {"security", "warning", "untranslatable", "info"}, finding


@pytest.mark.parametrize("deployment", APP_NAMES, indirect=True)
def test_the_harness_compares_real_cors(deployment, comparison, app_servers):
    """flask-cors really answered on (a), nothing did on (b), and some requests succeed both ways."""
    _, without = app_servers
    assert comparison.agreements_ok > 0, "no scenario where both let the page read the answer"
    acao = [
        resp for pair in comparison.flask_responses.values() for resp in pair
        if resp is not None and resp.all("access-control-allow-origin")
    ]
    assert acao, "flask-cors never sent Access-Control-Allow-Origin: the matrix does not exercise it"
    client = Client(without.url(deployment.name))
    try:
        path = CASES[deployment.name].paths[0]
        bare = client.send("GET", path, {"Origin": ALLOWED})
        assert bare.all("access-control-allow-origin") == [], "the stubbed app still does CORS"
    finally:
        client.close()


@pytest.mark.parametrize("deployment", APP_NAMES, indirect=True)
def test_browser_outcome_matches_flask_cors(deployment, comparison):
    expected = EXPECTED[deployment.name]
    unexpected, bugs = [], set()
    for diff in comparison.differences:
        covering = [e for e in expected if e.covers(diff, comparison)]
        if not covering:
            unexpected.append(diff)
        elif all(e.known_bug for e in covering):
            bugs.update(e.known_bug for e in covering)
    if unexpected:
        shown = "\n".join(f"  {d}" for d in unexpected[:40])
        more = f"\n  ... and {len(unexpected) - 40} more" if len(unexpected) > 40 else ""
        pytest.fail(
            f"{len(unexpected)} unexpected difference(s) of {len(comparison.scenarios)} scenarios:\n{shown}{more}\n"
            f"findings:\n{findings_text(deployment)}\nconfig:\n{deployment.result.config_yaml}",
            pytrace=False,
        )
    if bugs:
        pytest.xfail("known bug(s): " + "; ".join(sorted(bugs)))


@pytest.mark.parametrize("deployment", APP_NAMES, indirect=True)
def test_every_expected_difference_occurs_and_is_announced(deployment, comparison):
    problems, known_bugs = [], []
    findings = [f for f in deployment.result.findings if f.severity in {"security", "warning"}]
    readme = (ROOT / "README.md").read_text()
    for expected in EXPECTED[deployment.name]:
        if not any(expected.covers(d, comparison) for d in comparison.differences):
            problems.append(f"never observed (fixed? then remove the entry): {expected.describe()}")
        if expected.known_bug:
            continue  # a bug is not announced but fixed; the comparison test xfails on it
        if expected.flask_cors and not expected.gateway:
            assert expected.finding, f"a stricter gateway must be announced by a finding: {expected.describe()}"
        if expected.finding and not any(re.search(expected.finding, f.message) for f in findings):
            missing = f"no security/warning finding matches {expected.finding!r}: {expected.describe()}"
            if expected.finding_bug:
                known_bugs.append(f"{expected.finding_bug} ({missing})")
            else:
                problems.append(missing)
        if expected.documented and expected.documented not in readme:
            problems.append(f"README.md no longer says {expected.documented!r}: {expected.describe()}")
        if not expected.finding and not expected.documented:
            problems.append(f"neither announced nor documented: {expected.describe()}")
    if problems:
        pytest.fail("\n".join(problems) + f"\nfindings:\n{findings_text(deployment)}", pytrace=False)
    if known_bugs:
        pytest.xfail("\n".join(known_bugs))


# -- the browser model itself, on hand-made answers ---------------------------------


def _response(status: int = 200, **headers: str) -> Response:
    return Response(status, tuple((name.replace("_", "-").lower(), value) for name, value in headers.items()))


def test_fetch_model_cors_check():
    star = _response(access_control_allow_origin="*")
    assert cors_check(star, ALLOWED, credentials=False)
    assert not cors_check(star, ALLOWED, credentials=True)  # "*" never with credentials
    reflected = _response(access_control_allow_origin=ALLOWED)
    assert cors_check(reflected, ALLOWED, credentials=False)
    assert not cors_check(reflected, ALLOWED, credentials=True)  # no Access-Control-Allow-Credentials
    assert not cors_check(reflected, EVIL, credentials=False)
    credentialed = _response(access_control_allow_origin=ALLOWED, access_control_allow_credentials="true")
    assert cors_check(credentialed, ALLOWED, credentials=True)
    assert cors_check(_response(access_control_allow_origin=NULL), NULL, credentials=False)
    twice = Response(200, (("access-control-allow-origin", ALLOWED), ("access-control-allow-origin", ALLOWED)))
    assert not cors_check(twice, ALLOWED, credentials=False)


def test_fetch_model_preflight():
    put = Scenario(ALLOWED, "PUT", "/x", (JSON, AUTH))
    base = {"access_control_allow_origin": ALLOWED, "access_control_allow_credentials": "true"}
    good = _response(204, **base, access_control_allow_methods="GET, PUT", access_control_allow_headers="content-type, Authorization")
    assert preflight_ok(good, put, credentials=True)
    assert not preflight_ok(_response(404, **base, access_control_allow_methods="PUT",
                                      access_control_allow_headers="content-type, authorization"), put, credentials=False)
    wildcards = _response(204, **base, access_control_allow_methods="*", access_control_allow_headers="*")
    assert not preflight_ok(wildcards, put, credentials=False)  # "*" never covers Authorization
    assert preflight_ok(wildcards, Scenario(ALLOWED, "PUT", "/x", (JSON, CUSTOM)), credentials=False)
    assert not preflight_ok(wildcards, Scenario(ALLOWED, "PUT", "/x", (JSON,)), credentials=True)  # literal "*"
    assert not preflight_ok(_response(200, **base), Scenario(ALLOWED, "POST", "/x", (CUSTOM,)), credentials=False)
    assert preflight_ok(_response(200, **base, access_control_allow_headers="x-custom"),
                        Scenario(ALLOWED, "POST", "/x", (CUSTOM,)), credentials=True)  # POST needs no ACAM


def test_fetch_model_outcome_and_readable_headers():
    get = Scenario(ALLOWED, "GET", "/x", ())
    answer = _response(200, access_control_allow_origin="*", access_control_expose_headers="*",
                       content_type="application/json", x_trace="t", x_total_count="1", x_request_id="r")
    assert browser_outcome(get, False, None, answer) == Outcome(True, 200, frozenset(APP_RESPONSE_HEADERS))
    assert browser_outcome(get, True, None, answer) == CORS_ERROR
    listed = _response(201, access_control_allow_origin=ALLOWED, access_control_expose_headers="X-Trace",
                       content_type="application/json", x_trace="t", x_total_count="1")
    assert browser_outcome(get, False, None, listed) == Outcome(True, 201, frozenset({"content-type", "x-trace"}))
    assert not needs_preflight("POST", [TEXT]) and needs_preflight("POST", [JSON]) and needs_preflight("PATCH", [])
    assert unsafe_header_names([JSON, AUTH, CUSTOM, ("Accept", "*/*")]) == ["authorization", "content-type", "x-custom"]
