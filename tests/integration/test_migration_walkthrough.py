"""README "Migrating from flask-cors" > "Try it on the demo app", run step by step as written.

Real processes on loopback ports, the CLI as a user runs it:

1. ``cors-gateway import gateway/demo/legacy_app.py --upstream URL -o FILE``
   (the demo app with its own flask-cors setup) exits 0, and ``cors-gateway
   check -c FILE`` passes;
2. the legacy app is served (``python -m gateway.demo.legacy_app --port P``)
   and ``cors-gateway run -c FILE`` (``mode: shadow``) in front of it: a
   matrix of preflights and actual requests gets exactly flask-cors's answers
   through the gateway, and ``cors_gateway_shadow_disagreements_total`` is 0
   for every route;
3. the README's ``sed`` switches the file to ``mode: enforce`` (the running
   gateway reloads it), and the legacy app is replaced, on the same port, by
   the plain demo upstream (``python -m gateway.demo.upstream``, no CORS
   code): the same matrix gets the same outcome in a browser as the legacy
   app gave (which origin may read, credentials, methods and headers a
   preflight allows, exposed headers, max age, status).

The exact answers of both sides are pinned below.  The README must contain the
commands run here (with its ports and paths), so the docs and this test
cannot drift apart.
"""

from __future__ import annotations

import http.client
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from ..support import ROOT, free_port, stop_process, wait_for_port

README = (ROOT / "README.md").read_text(encoding="utf-8")

# The commands as README prints them; the test runs them with its own port and file.
README_UPSTREAM, README_CONFIG = "http://127.0.0.1:5000", "/tmp/legacy.yaml"
IMPORT = "cors-gateway import gateway/demo/legacy_app.py --upstream {upstream} -o {config}"
CHECK = "cors-gateway check -c {config}"
RUN = "cors-gateway run -c {config}"
SERVE_LEGACY = "python -m gateway.demo.legacy_app"
SERVE_PLAIN = "python -m gateway.demo.upstream"
ENFORCE = "sed -i.bak 's/mode: shadow$/mode: enforce/' {config}"
METRICS = "curl -s 127.0.0.1:9090/metrics | grep shadow_disagreements"
README_COMMANDS = [
    IMPORT.format(upstream=README_UPSTREAM, config=README_CONFIG),
    CHECK.format(config=README_CONFIG),
    RUN.format(config=README_CONFIG),
    SERVE_LEGACY,
    SERVE_PLAIN,
    ENFORCE.format(config=README_CONFIG),
    METRICS,
]

_SCRIPT = Path(sys.executable).with_name("cors-gateway")
CLI = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "gateway"]

FRONTEND = "http://localhost:8000"  # the demo page's origin (`cors-gateway demo`)
FRONTEND_IP = "http://127.0.0.1:8000"
ADMIN = "https://admin.example.com"
EVIL = "https://evil.example"

CORS_HEADERS = (
    "Access-Control-Allow-Origin",
    "Access-Control-Allow-Credentials",
    "Access-Control-Allow-Methods",
    "Access-Control-Allow-Headers",
    "Access-Control-Expose-Headers",
    "Access-Control-Max-Age",
    "Vary",
)


@dataclass(frozen=True)
class Case:
    """One request a page on ``origin`` makes (``credentials``: fetch's ``credentials: "include"``)."""

    method: str
    path: str
    origin: str | None
    request_method: str | None = None  # set: a preflight for that method
    request_headers: str | None = None  # the preflight's Access-Control-Request-Headers
    credentials: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None

    @property
    def preflight(self) -> bool:
        return self.request_method is not None

    def send(self, port: int) -> Answer:
        headers = dict(self.headers)
        if self.origin is not None:
            headers["Origin"] = self.origin
        if self.request_method is not None:
            headers["Access-Control-Request-Method"] = self.request_method
        if self.request_headers is not None:
            headers["Access-Control-Request-Headers"] = self.request_headers
        if self.credentials and not self.preflight:
            headers["Cookie"] = "session=walkthrough"  # a browser never sends cookies on a preflight
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            connection.request(self.method, self.path, body=self.body, headers=headers)
            response = connection.getresponse()
            response.read()
        finally:
            connection.close()
        cors = {name: response.getheader(name) for name in CORS_HEADERS if response.getheader(name) is not None}
        return Answer(response.status, cors)


@dataclass(frozen=True)
class Answer:
    status: int
    cors: dict[str, str]


JSON = (("Content-Type", "application/json"),)
CASES: dict[str, Case] = {
    # actual requests
    "get allowed": Case("GET", "/api/hello", FRONTEND),
    "get allowed (127.0.0.1) with cookie": Case("GET", "/api/hello", FRONTEND_IP, credentials=True),
    "get disallowed": Case("GET", "/api/hello", EVIL),
    "get disallowed with cookie": Case("GET", "/api/hello", EVIL, credentials=True),
    "get no origin": Case("GET", "/api/hello", None),
    "get origin null": Case("GET", "/api/hello", "null"),
    "head allowed": Case("HEAD", "/api/hello", FRONTEND),
    "post allowed (Flask 405)": Case("POST", "/api/hello", FRONTEND, headers=(("Content-Type", "text/plain"),), body=b"x"),
    "put allowed": Case("PUT", "/api/items/1", FRONTEND, headers=JSON, body=b'{"name": "walkthrough"}'),
    "delete allowed": Case("DELETE", "/api/items/2", FRONTEND),
    "admin get allowed": Case("GET", "/admin/stats", ADMIN),
    "admin get disallowed": Case("GET", "/admin/stats", FRONTEND),
    "uncovered path": Case("GET", "/nowhere", FRONTEND),
    # preflights
    "preflight put allowed": Case("OPTIONS", "/api/items/1", FRONTEND, "PUT", "content-type"),
    "preflight put allowed, credentials": Case("OPTIONS", "/api/items/1", FRONTEND, "PUT", "content-type", credentials=True),
    "preflight put authorization (127.0.0.1)": Case("OPTIONS", "/api/items/1", FRONTEND_IP, "PUT", "authorization,content-type"),
    "preflight delete allowed": Case("OPTIONS", "/api/items/1", FRONTEND, "DELETE"),
    "preflight put disallowed": Case("OPTIONS", "/api/items/1", EVIL, "PUT", "content-type"),
    "preflight patch (method not allowed)": Case("OPTIONS", "/api/items/1", FRONTEND, "PATCH"),
    "preflight custom header (not allowed)": Case("OPTIONS", "/api/items/1", FRONTEND, "PUT", "x-custom"),
    "admin preflight allowed": Case("OPTIONS", "/admin/stats", ADMIN, "DELETE", "authorization"),
    "admin preflight disallowed": Case("OPTIONS", "/admin/stats", FRONTEND, "DELETE"),
    "uncovered path preflight": Case("OPTIONS", "/nowhere", FRONTEND, "PUT"),
    "options without origin": Case("OPTIONS", "/api/items/1", None),
}


@dataclass
class Walk:
    config_path: str = ""
    import_run: subprocess.CompletedProcess | None = None
    check_run: subprocess.CompletedProcess | None = None
    config_text: str = ""
    legacy: dict[str, Answer] = field(default_factory=dict)  # the legacy app, directly
    shadow: dict[str, Answer] = field(default_factory=dict)  # the gateway (shadow) in front of it
    shadow_metrics: str = ""
    plain: dict[str, Answer] = field(default_factory=dict)  # the plain demo upstream, directly
    enforced: dict[str, Answer] = field(default_factory=dict)  # the gateway (enforce) in front of it
    enforced_metrics: str = ""
    gateway_stderr: str = ""


LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+) \(admin http://127\.0\.0\.1:(\d+)/metrics\)")


def _wait_for(path: Path, pattern: re.Pattern | str, proc: subprocess.Popen, timeout: float = 15.0) -> re.Match:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, path.read_text(errors="replace"))
        if found:
            return found
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited with {proc.returncode}:\n{path.read_text(errors='replace')}")
        time.sleep(0.05)
    raise RuntimeError(f"no {pattern!r} on the gateway's stderr after {timeout}s:\n{path.read_text(errors='replace')}")


def _serve(module: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--port", str(port)],
        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, proc)
    return proc


def _metrics(admin_port: int) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", admin_port, timeout=10)
    try:
        connection.request("GET", "/metrics")
        return connection.getresponse().read().decode()
    finally:
        connection.close()


def run_walkthrough(tmp: Path) -> Walk:
    walk = Walk()
    app_port = free_port()
    upstream = f"http://127.0.0.1:{app_port}"
    config = tmp / "legacy.yaml"
    walk.config_path = str(config)

    # Step 1: import, check.
    walk.import_run = subprocess.run(
        [*CLI, *IMPORT.format(upstream=upstream, config=config).split()[1:]],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )
    assert walk.import_run.returncode == 0, walk.import_run.stderr
    walk.config_text = config.read_text()
    walk.check_run = subprocess.run(
        [*CLI, *CHECK.format(config=config).split()[1:]],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
    )

    # Step 2: the legacy app, the gateway in shadow mode in front of it.
    app = _serve("gateway.demo.legacy_app", app_port)
    gateway = None
    stderr_path = tmp / "gateway.stderr"
    try:
        env = {
            **os.environ,
            "CORS_GATEWAY_LISTEN_HOST": "127.0.0.1",
            "CORS_GATEWAY_LISTEN_PORT": "0",
            "CORS_GATEWAY_ADMIN_PORT": "0",
        }
        with open(stderr_path, "w") as stderr:
            gateway = subprocess.Popen(
                [*CLI, *RUN.format(config=config).split()[1:]],
                cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr,
            )
        listening = _wait_for(stderr_path, LISTENING, gateway)
        port, admin_port = int(listening.group(1)), int(listening.group(2))
        wait_for_port(port, gateway)

        for name, case in CASES.items():
            walk.legacy[name] = case.send(app_port)
            walk.shadow[name] = case.send(port)
        walk.shadow_metrics = _metrics(admin_port)

        # Step 3: enforce (the running gateway reloads the edited file), the plain upstream on the same port.
        subprocess.run(ENFORCE.format(config=config), shell=True, check=True, cwd=ROOT)
        stop_process(app)
        app = _serve("gateway.demo.upstream", app_port)
        _wait_for(stderr_path, r"config reloaded \(the config file changed\)", gateway)
        for name, case in CASES.items():
            walk.plain[name] = case.send(app_port)
            walk.enforced[name] = case.send(port)
        walk.enforced_metrics = _metrics(admin_port)
    finally:
        stop_process(app)
        if gateway is not None:
            stop_process(gateway)
        walk.gateway_stderr = stderr_path.read_text(errors="replace") if stderr_path.exists() else ""
    return walk


@pytest.fixture(scope="module")
def walk(tmp_path_factory) -> Walk:
    return run_walkthrough(tmp_path_factory.mktemp("walkthrough"))


# ---------------------------------------------------------------------------
# What a browser makes of an answer (Fetch: CORS check, CORS-preflight fetch)
# ---------------------------------------------------------------------------

SAFELISTED_METHODS = {"GET", "HEAD", "POST"}


def _tokens(value: str | None) -> list[str]:
    return [item.strip() for item in (value or "").split(",") if item.strip()]


def _cors_check(case: Case, cors: dict[str, str]) -> bool:
    allow_origin = cors.get("Access-Control-Allow-Origin")
    if case.credentials:
        return allow_origin == case.origin and cors.get("Access-Control-Allow-Credentials") == "true"
    return allow_origin in ("*", case.origin)


def browser_outcome(case: Case, answer: Answer) -> tuple:
    """What the page can do with this answer: only this has to survive the migration."""
    if case.origin is None:
        return ("no CORS check", answer.status)  # not a cross-origin request: nothing is checked
    cors = answer.cors
    if not case.preflight:
        if not _cors_check(case, cors):
            return ("blocked",)  # fetch rejects with a TypeError; the page sees nothing
        exposed = sorted(name.lower() for name in _tokens(cors.get("Access-Control-Expose-Headers")))
        return ("readable", answer.status, exposed)
    if not 200 <= answer.status < 300 or not _cors_check(case, cors):
        return ("preflight fails",)
    wildcard_ok = not case.credentials
    methods = _tokens(cors.get("Access-Control-Allow-Methods"))
    method_ok = (
        case.request_method in methods
        or case.request_method in SAFELISTED_METHODS
        or ("*" in methods and wildcard_ok)
    )
    if not method_ok:
        return ("preflight fails",)
    allowed_headers = {name.lower() for name in _tokens(cors.get("Access-Control-Allow-Headers"))}
    for name in _tokens(case.request_headers):
        name = name.lower()
        if name not in allowed_headers and not ("*" in allowed_headers and wildcard_ok and name != "authorization"):
            return ("preflight fails",)
    return ("preflight passes", cors.get("Access-Control-Max-Age"))


# ---------------------------------------------------------------------------
# The exact answers
# ---------------------------------------------------------------------------

VARY_PREFLIGHT = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"


def _read(origin: str) -> dict[str, str]:
    return {"Access-Control-Allow-Origin": origin, "Access-Control-Expose-Headers": "X-Request-Id", "Vary": "Origin"}


def _flask_cors_preflight(origin: str, allow_headers: str | None) -> dict[str, str]:
    answer = {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": "DELETE, GET, POST, PUT",
        "Access-Control-Expose-Headers": "X-Request-Id",
        "Access-Control-Max-Age": "600",
        "Vary": "Origin",
    }
    if allow_headers is not None:
        answer["Access-Control-Allow-Headers"] = allow_headers
    return answer


def _gateway_preflight(origin: str) -> dict[str, str]:
    return {
        "Access-Control-Allow-Origin": origin,
        "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE",
        "Access-Control-Allow-Headers": "Content-Type, Authorization",
        "Access-Control-Max-Age": "600",
        "Vary": VARY_PREFLIGHT,
    }


def _named_refusal(origin: str) -> dict[str, str]:
    return {key: value for key, value in _gateway_preflight(origin).items() if key != "Access-Control-Max-Age"}


# flask-cors in the legacy app, asked directly (and, unchanged, through the gateway in shadow mode).
LEGACY: dict[str, Answer] = {
    "get allowed": Answer(200, _read(FRONTEND)),
    "get allowed (127.0.0.1) with cookie": Answer(200, _read(FRONTEND_IP)),
    "get disallowed": Answer(200, {}),
    "get disallowed with cookie": Answer(200, {}),
    # always_send: flask-cors answers a request without Origin with one of its origins.
    "get no origin": Answer(200, _read(FRONTEND_IP)),
    "get origin null": Answer(200, {}),
    "head allowed": Answer(200, _read(FRONTEND)),
    "post allowed (Flask 405)": Answer(405, _read(FRONTEND)),
    "put allowed": Answer(200, _read(FRONTEND)),
    "delete allowed": Answer(204, _read(FRONTEND)),
    "admin get allowed": Answer(200, {"Access-Control-Allow-Origin": ADMIN}),  # one literal origin: no Vary
    "admin get disallowed": Answer(200, {}),
    "uncovered path": Answer(404, {}),
    "preflight put allowed": Answer(200, _flask_cors_preflight(FRONTEND, "content-type")),
    "preflight put allowed, credentials": Answer(200, _flask_cors_preflight(FRONTEND, "content-type")),
    "preflight put authorization (127.0.0.1)": Answer(
        200, _flask_cors_preflight(FRONTEND_IP, "authorization, content-type"),
    ),
    "preflight delete allowed": Answer(200, _flask_cors_preflight(FRONTEND, None)),
    "preflight put disallowed": Answer(200, {}),
    # A method flask-cors does not allow: no Allow-Methods, so the browser fails the preflight.
    "preflight patch (method not allowed)": Answer(200, _read(FRONTEND)),
    # A header flask-cors does not allow: no Allow-Headers, so the browser fails the preflight.
    "preflight custom header (not allowed)": Answer(200, _flask_cors_preflight(FRONTEND, None)),
    "admin preflight allowed": Answer(200, {
        "Access-Control-Allow-Origin": ADMIN,
        "Access-Control-Allow-Methods": "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT",
        "Access-Control-Allow-Headers": "authorization",
    }),
    "admin preflight disallowed": Answer(200, {}),
    "uncovered path preflight": Answer(404, {}),
    "options without origin": Answer(200, _read(FRONTEND_IP)),
}

REFUSED_PREFLIGHT = Answer(403, {"Vary": VARY_PREFLIGHT})

# The gateway, enforcing the imported config, in front of the plain demo upstream (no flask-cors).
ENFORCED: dict[str, Answer] = {
    "get allowed": Answer(200, _read(FRONTEND)),
    "get allowed (127.0.0.1) with cookie": Answer(200, _read(FRONTEND_IP)),
    "get disallowed": Answer(200, {"Vary": "Origin"}),
    "get disallowed with cookie": Answer(200, {"Vary": "Origin"}),
    "get no origin": Answer(200, {"Vary": "Origin"}),
    "get origin null": Answer(200, {"Vary": "Origin"}),
    "head allowed": Answer(200, _read(FRONTEND)),
    "post allowed (Flask 405)": Answer(405, _read(FRONTEND)),
    "put allowed": Answer(200, _read(FRONTEND)),
    "delete allowed": Answer(204, _read(FRONTEND)),
    "admin get allowed": Answer(200, {"Access-Control-Allow-Origin": ADMIN, "Vary": "Origin"}),
    "admin get disallowed": Answer(200, {"Vary": "Origin"}),
    "uncovered path": Answer(404, {"Vary": "Origin"}),
    "preflight put allowed": Answer(204, _gateway_preflight(FRONTEND)),
    "preflight put allowed, credentials": Answer(204, _gateway_preflight(FRONTEND)),
    "preflight put authorization (127.0.0.1)": Answer(204, _gateway_preflight(FRONTEND_IP)),
    "preflight delete allowed": Answer(204, _gateway_preflight(FRONTEND)),
    "preflight put disallowed": REFUSED_PREFLIGHT,
    # refused_preflight: name_cause: the lists without what was asked for (no Max-Age), so the browser names it.
    "preflight patch (method not allowed)": Answer(200, _named_refusal(FRONTEND)),
    "preflight custom header (not allowed)": Answer(200, _named_refusal(FRONTEND)),
    "admin preflight allowed": Answer(204, {
        "Access-Control-Allow-Origin": ADMIN,
        "Access-Control-Allow-Methods": "GET, HEAD, POST, OPTIONS, PUT, PATCH, DELETE",
        "Access-Control-Allow-Headers": "authorization",
        "Vary": VARY_PREFLIGHT,
    }),
    "admin preflight disallowed": REFUSED_PREFLIGHT,
    "uncovered path preflight": REFUSED_PREFLIGHT,
    "options without origin": Answer(200, {"Vary": "Origin"}),
}

BLOCKED, PREFLIGHT_FAILS = ("blocked",), ("preflight fails",)
EXPOSED = ["x-request-id"]
# What a page gets, before and after: the same for every request of the matrix.
OUTCOMES: dict[str, tuple] = {
    "get allowed": ("readable", 200, EXPOSED),
    "get allowed (127.0.0.1) with cookie": BLOCKED,  # no credentials allowed, as in demo.yaml
    "get disallowed": BLOCKED,
    "get disallowed with cookie": BLOCKED,
    "get no origin": ("no CORS check", 200),
    "get origin null": BLOCKED,
    "head allowed": ("readable", 200, EXPOSED),
    "post allowed (Flask 405)": ("readable", 405, EXPOSED),
    "put allowed": ("readable", 200, EXPOSED),
    "delete allowed": ("readable", 204, EXPOSED),
    "admin get allowed": ("readable", 200, []),
    "admin get disallowed": BLOCKED,
    "uncovered path": BLOCKED,
    "preflight put allowed": ("preflight passes", "600"),
    "preflight put allowed, credentials": PREFLIGHT_FAILS,
    "preflight put authorization (127.0.0.1)": ("preflight passes", "600"),
    "preflight delete allowed": ("preflight passes", "600"),
    "preflight put disallowed": PREFLIGHT_FAILS,
    "preflight patch (method not allowed)": PREFLIGHT_FAILS,
    "preflight custom header (not allowed)": PREFLIGHT_FAILS,
    "admin preflight allowed": ("preflight passes", None),
    "admin preflight disallowed": PREFLIGHT_FAILS,
    "uncovered path preflight": PREFLIGHT_FAILS,
    "options without origin": ("no CORS check", 200),
}


def _samples(metrics_text: str, name: str) -> dict[tuple, float]:
    found = {}
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == name:
                found[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def _migration_section() -> str:
    start = README.index("\n## Migrating from flask-cors\n")
    return README[start:README.index("\n## ", start + 1)]


def _readme_block(after: str, fence: str = "```") -> str:
    """The first fenced block after the line ``after`` in the migration section."""
    section = _migration_section()
    start = section.index(fence, section.index(after))
    start = section.index("\n", start) + 1
    return section[start:section.index("\n```", start)]


# ---------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------

def test_readme_walkthrough_contains_the_commands_this_test_runs():
    section = _migration_section()
    assert "### Try it on the demo app" in section
    for command in README_COMMANDS:
        assert command in section, command
    # The long-running ones are shown as run from the repository root with the venv.
    for command in (SERVE_LEGACY, SERVE_PLAIN):
        assert f".venv/bin/{command}" in section, command
    assert f".venv/bin/{RUN.format(config=README_CONFIG)}" in section


def test_import_translates_the_legacy_app_and_check_passes(walk):
    assert walk.import_run.returncode == 0, walk.import_run.stderr
    stderr = walk.import_run.stderr.replace(walk.config_path, README_CONFIG).splitlines()
    assert stderr == [
        (
            "/tmp/legacy.yaml: check (no-cors route, expected): routes.2.cors.origins: warning: "
            "no origin is allowed: every cross-origin request to this route is rejected"
        ),
        (
            "cors-gateway import: 2 route(s) from gateway/demo/legacy_app.py, 0 finding(s); "
            "the config passes check with 1 warning(s)"
        ),
    ]
    assert walk.check_run.returncode == 0, walk.check_run.stdout + walk.check_run.stderr
    assert walk.check_run.stdout.replace(walk.config_path, README_CONFIG).splitlines()[-1] == (
        "/tmp/legacy.yaml: OK (3 route(s), 1 warning(s))"
    )
    # The README shows this output, and the emitted routes, as they are.
    readme_import = _readme_block("**1. Import.**").splitlines()
    assert readme_import[0] == "$ .venv/bin/" + IMPORT.format(upstream=README_UPSTREAM, config=README_CONFIG)
    assert readme_import[1:] == stderr
    readme_check = _readme_block("**2. Check.**").splitlines()
    assert readme_check[0] == "$ .venv/bin/" + CHECK.format(config=README_CONFIG)
    assert readme_check[1:] == walk.check_run.stdout.replace(walk.config_path, README_CONFIG).splitlines()
    text = walk.config_text
    routes = text[text.index("routes:\n"):text.index("  # paths flask-cors does not cover")]
    assert _readme_block("The routes of `/tmp/legacy.yaml`") == routes.rstrip("\n")


def test_imported_config_carries_the_demo_policy(walk):
    config = yaml.safe_load(walk.config_text)
    assert config["listen"] == {"host": "0.0.0.0", "port": 8080}
    assert config["admin"] == {"host": "127.0.0.1", "port": 9090}
    assert config["defaults"] == {"cors": {"origins": [], "mode": "shadow"}}
    assert [(r["name"], r.get("path_regex", r.get("path")), r["cors"]) for r in config["routes"]] == [
        ("resource /admin/*", "(?:/admin/*)(?s:.*)", {
            "origins": [ADMIN],
            "methods": ["GET", "HEAD", "POST", "OPTIONS", "PUT", "PATCH", "DELETE"],
            "allow_headers": "*",
        }),
        ("resource /api/*", "(?:/api/*)(?s:.*)", {
            "origins": [FRONTEND, FRONTEND_IP],
            "methods": ["GET", "POST", "PUT", "DELETE"],
            "allow_headers": ["Content-Type", "Authorization"],
            "expose_headers": ["X-Request-Id"],
            "max_age": 600,
        }),
        ("no-cors", "/", {"origins": []}),
    ]


def test_legacy_app_answers_with_flask_cors(walk):
    assert walk.legacy == LEGACY


def test_shadow_mode_passes_flask_cors_answers_through(walk):
    assert walk.shadow == walk.legacy


def test_shadow_mode_counts_no_disagreement_on_any_route(walk):
    disagreements = _samples(walk.shadow_metrics, "cors_gateway_shadow_disagreements_total")
    routes = ["resource /admin/*", "resource /api/*", "no-cors", "__no_route__"]
    assert disagreements == {
        (("kind", kind), ("route", route)): 0.0 for route in routes for kind in ("preflight", "actual")
    }
    # Not zero for want of judging: the gateway decided every request of the matrix itself.
    decided = {
        labels: value
        for labels, value in _samples(walk.shadow_metrics, "cors_gateway_requests_total").items()
        if value
    }
    assert decided == {
        (("decision", "allowed"), ("kind", "actual"), ("route", "resource /admin/*")): 1.0,
        (("decision", "rejected"), ("kind", "actual"), ("route", "resource /admin/*")): 1.0,
        (("decision", "allowed"), ("kind", "preflight"), ("route", "resource /admin/*")): 1.0,
        (("decision", "rejected"), ("kind", "preflight"), ("route", "resource /admin/*")): 1.0,
        (("decision", "allowed"), ("kind", "actual"), ("route", "resource /api/*")): 6.0,
        (("decision", "rejected"), ("kind", "actual"), ("route", "resource /api/*")): 3.0,
        (("decision", "not_applicable"), ("kind", "non_cors"), ("route", "resource /api/*")): 2.0,
        (("decision", "allowed"), ("kind", "preflight"), ("route", "resource /api/*")): 4.0,
        (("decision", "rejected"), ("kind", "preflight"), ("route", "resource /api/*")): 3.0,
        (("decision", "rejected"), ("kind", "actual"), ("route", "no-cors")): 1.0,
        (("decision", "rejected"), ("kind", "preflight"), ("route", "no-cors")): 1.0,
    }
    assert "disagree" not in walk.gateway_stderr.lower()


def test_enforce_reloads_the_edited_config(walk):
    reloads = _samples(walk.enforced_metrics, "cors_gateway_config_reloads_total")
    assert reloads == {(("result", "success"),): 1.0, (("result", "failure"),): 0.0}
    assert "config reloaded (the config file changed): 3 route(s)" in walk.gateway_stderr


def test_plain_upstream_has_no_cors_code(walk):
    assert {name: answer.cors for name, answer in walk.plain.items()} == {name: {} for name in CASES}
    assert {name: answer.status for name, answer in walk.plain.items()} == {
        name: answer.status for name, answer in LEGACY.items()
    }


def test_enforce_without_flask_cors_answers(walk):
    assert walk.enforced == ENFORCED


def test_every_request_has_the_same_outcome_in_a_browser_before_and_after(walk):
    before = {name: browser_outcome(CASES[name], answer) for name, answer in walk.legacy.items()}
    after = {name: browser_outcome(CASES[name], answer) for name, answer in walk.enforced.items()}
    assert before == OUTCOMES
    assert after == OUTCOMES
