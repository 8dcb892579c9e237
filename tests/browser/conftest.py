"""A real headless Chromium, real frontend pages on several origins, the real gateway CLI.

Everything binds to loopback.  The browser is Debian's ``chromium`` driven by
Playwright with ``executable_path`` (no browser is ever downloaded).  In CI a
missing or broken browser fails the run; elsewhere the suite is skipped with
the reason printed.

Origins used by the tests (``World``):

* ``A``    http://localhost:<pA>       allowed on most routes
* ``B``    http://localhost:<pB>       another port: another origin, not allowed
* ``IP_A`` http://127.0.0.1:<pA>       same port, other host name: not allowed
* ``SUB``  http://app.localhost:<pA>   matches the *.localhost wildcard and the regex
* ``SUB2`` http://x.y.localhost:<pA>   matches the wildcard, not the regex

The gateway is at http://localhost:<gw> (same *site* as the pages, so SameSite
cookies flow, but a different *origin*, so every call is a CORS call).
"""

from __future__ import annotations

import http.server
import os
import shutil
import subprocess
import sys
import threading
import urllib.request
from dataclasses import dataclass

import pytest
import pytest_asyncio

from ..support import ROOT, Upstream, free_port, start_wsgi, stop_process, unavailable, wait_for_port

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


def _unavailable(reason: str):
    unavailable("the browser suite", reason)


class _Page(http.server.BaseHTTPRequestHandler):
    """Serves one empty page for any path: what matters is the origin it runs on."""

    def do_GET(self):
        body = b"<!doctype html><html><head><title>frontend</title></head><body>frontend</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@dataclass
class World:
    pA: int
    pB: int
    gw_port: int
    admin_port: int
    upstream: Upstream
    flask_cors: Upstream
    ws_port: int = 0
    config_path: str = ""  # the gateway's config file (for diagnose -c)

    @property
    def A(self) -> str:
        return f"http://localhost:{self.pA}"

    @property
    def B(self) -> str:
        return f"http://localhost:{self.pB}"

    @property
    def IP_A(self) -> str:
        return f"http://127.0.0.1:{self.pA}"

    @property
    def SUB(self) -> str:
        return f"http://app.localhost:{self.pA}"

    @property
    def SUB2(self) -> str:
        return f"http://x.y.localhost:{self.pA}"

    @property
    def GW(self) -> str:
        return f"http://localhost:{self.gw_port}"

    def metric(self, name: str, **labels: str) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.admin_port}/metrics", timeout=5) as response:
            text = response.read().decode()
        wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
        for line in text.splitlines():
            if line.startswith(f"{name}{{{wanted}}} "):
                return float(line.rsplit(" ", 1)[1])
        raise AssertionError(f"no series {name}{{{wanted}}}")


def browser_config(pA: int, admin: int, upstream: str, flask_cors: str, dead: int, ws: str) -> str:
    A = f"http://localhost:{pA}"
    return f"""\
listen: {{host: 127.0.0.1, port: 0}}
admin: {{host: 127.0.0.1, port: {admin}}}
upstreams:
  app: {{url: "{upstream}", read_timeout: 5}}
  short: {{url: "{upstream}", read_timeout: 1}}
  down: {{url: "http://127.0.0.1:{dead}", connect_timeout: 1}}
  flaskcors: {{url: "{flask_cors}"}}
  ws: {{url: "{ws}"}}
defaults:
  cors:
    origins: ["{A}"]
    methods: [GET, POST, PUT, DELETE]
    allow_headers: [Content-Type, X-Custom]
    expose_headers: [X-Request-Id]
routes:
  - {{name: api, path: /api/, upstream: app}}
  - name: creds
    path: /creds/
    upstream: app
    cors: {{supports_credentials: true, allow_headers: [Content-Type, Authorization]}}
  - {{name: anyhdr, path: /anyhdr/, upstream: app, cors: {{allow_headers: "*"}}}}
  - {{name: credsany, path: /credsany/, upstream: app, cors: {{allow_headers: "*", supports_credentials: true}}}}
  - {{name: public, path: /public/, upstream: app, cors: {{origins: "*"}}}}
  - {{name: wild, path: /wild/, upstream: app, cors: {{origins: ["http://*.localhost:{pA}"]}}}}
  - name: regex
    path: /regex/
    upstream: app
    cors: {{origins: ["re:^http://(app|admin)\\\\.localhost:{pA}$"]}}
  - {{name: blocked, path: /blocked/, upstream: app, cors: {{on_reject: block}}}}
  - {{name: cached, path: /cached/, upstream: app, cors: {{max_age: 600}}}}
  - {{name: nocache, path: /nocache/, upstream: app, cors: {{max_age: 0}}}}
  - {{name: timeout, path: /timeout/, upstream: short}}
  - {{name: down, path: /down/, upstream: down}}
  - {{name: flaskcors, path: /fc/, upstream: flaskcors, cors: {{supports_credentials: true}}}}
  - {{name: pna, path: /pna/, upstream: app, cors: {{allow_private_network: true}}}}
  - {{name: ws, path: /ws/, upstream: ws}}
  - {{name: plain, path: /plain/, upstream: app, cors: {{refused_preflight: plain_403}}}}
"""


@pytest.fixture(scope="session")
def world(tmp_path_factory):
    upstream = start_wsgi("tests.apps.recording_app:create_app")
    flask_cors = start_wsgi("tests.apps.flask_cors_app:create_app")
    ws_port = free_port()
    ws_echo = subprocess.Popen([sys.executable, "-m", "tests.apps.ws_echo", str(ws_port)], cwd=ROOT)
    wait_for_port(ws_port, ws_echo)
    pA, pB, gw_port, admin, dead = (free_port() for _ in range(5))
    servers = []
    for port in (pA, pB):
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Page)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    config = tmp_path_factory.mktemp("browser") / "gateway.yaml"
    config.write_text(browser_config(pA, admin, upstream.url, flask_cors.url, dead, f"http://127.0.0.1:{ws_port}"))
    gateway = subprocess.Popen(
        [sys.executable, "-m", "gateway", "--log-level", "WARNING", "run", "-c", str(config), "--port", str(gw_port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_port(gw_port, gateway)
        yield World(pA, pB, gw_port, admin, upstream, flask_cors, ws_port, str(config))
    finally:
        stop_process(gateway)
        for server in servers:
            server.shutdown()
        stop_process(upstream.proc)
        stop_process(flask_cors.proc)
        stop_process(ws_echo)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def browser():
    path = _chromium_path()
    if path is None:
        _unavailable("Debian's chromium is not installed (apt-get install chromium)")
    try:
        from playwright.async_api import async_playwright
    except ImportError:
        _unavailable("the playwright package is not installed")
    async with async_playwright() as playwright:
        try:
            browser = await playwright.chromium.launch(executable_path=path, args=CHROMIUM_FLAGS)
        except Exception as err:  # noqa: BLE001 - any launch failure is reported the same way
            _unavailable(f"chromium failed to start: {err}")
        yield browser
        await browser.close()


@pytest_asyncio.fixture(loop_scope="session")
async def context(browser):
    """A fresh browser context per test: no cookies, no preflight cache carried over."""
    context = await browser.new_context()
    yield context
    await context.close()


@pytest.fixture
def upstream_seen(world):
    """The recording upstream, cleared before the test."""
    world.upstream.clear()
    return world.upstream
