"""The command line, run as a user runs it: real processes, real ports."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from .conftest import ROOT, free_port, stop_process, wait_for_port

CLI = [sys.executable, "-m", "gateway"]


def cli(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "gateway.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


INSECURE = """\
upstreams:
  api: {url: "http://127.0.0.1:5000"}
routes:
  - path: /api/
    upstream: api
    cors:
      origins: ["https://app.example.com", "re:https://.*\\\\.example\\\\.com", "https://*.com"]
      supports_credentials: true
  - path: /public/
    upstream: api
    cors: {origins: "*", supports_credentials: true}
  - path: /insecure-http/
    upstream: api
    cors: {origins: ["http://app.example.com"], supports_credentials: true}
"""


def test_check_refuses_insecure_configs_with_key_paths(tmp_path):
    result = cli("check", "-c", write(tmp_path, INSECURE))
    assert result.returncode == 1, result.stdout
    lines = result.stdout.splitlines()
    assert any(line.startswith("routes.0.cors.origins.1: re: patterns must be anchored") for line in lines), lines
    assert any(line.startswith('routes.0.cors.origins.2: "*.com" would allow every site') for line in lines), lines
    assert any(line.startswith("routes.1.cors.supports_credentials: cannot be true when origins allows") for line in lines), lines
    assert any(line.startswith("routes.2.cors.origins.0: warning: an http:// origin with credentials") for line in lines), lines
    assert lines[-1].endswith("3 error(s), 1 warning(s)")


def test_check_accepts_a_good_config_and_reports_unknown_keys(tmp_path):
    good = write(tmp_path, """\
        upstreams:
          api: {url: "http://127.0.0.1:5000"}
        routes:
          - path: /api/
            upstream: api
            cors: {origins: ["https://app.example.com"], mode: off}
        """)
    result = cli("check", "-c", good)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"{good}: OK (1 route(s), 0 warning(s))"

    typo = tmp_path / "typo.yaml"
    typo.write_text(Path(good).read_text().replace("origins:", "orgins:"))
    result = cli("check", "-c", str(typo))
    assert result.returncode == 1
    assert result.stdout.splitlines()[0].startswith("routes.0.cors.orgins: unknown key")


def test_check_missing_file(tmp_path):
    result = cli("check", "-c", str(tmp_path / "nope.yaml"))
    assert result.returncode == 1
    assert "config file not found" in result.stdout


EXPLAIN_CONFIG = """\
upstreams:
  api: {url: "http://127.0.0.1:5000"}
routes:
  - name: api
    path: /api/
    upstream: api
    cors:
      origins: ["https://app.example.com"]
      allow_headers: [Content-Type]
      supports_credentials: true
"""


def test_explain_says_why_an_origin_is_rejected(tmp_path):
    path = write(tmp_path, EXPLAIN_CONFIG)
    result = cli("explain", "-c", path, "--path", "/api/users", "--origin", "https://evil.example", "--method", "GET")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("route: api (routes.0: path /api/")
    assert "decision: rejected" in lines
    assert "reason: origin_not_allowed" in lines
    assert "detail: the request's Origin is not allowed on this route; allowed origins: https://app.example.com" in lines


def test_explain_authorization_header_not_allowed_and_allowed(tmp_path):
    path = write(tmp_path, EXPLAIN_CONFIG)
    rejected = cli("explain", "-c", path, "--path", "/api/x", "--origin", "https://app.example.com",
                   "--method", "PUT", "--header", "Authorization")
    assert rejected.returncode == 0
    assert "decision: rejected" in rejected.stdout.splitlines()
    assert "reason: header_not_allowed" in rejected.stdout.splitlines()
    allowed = cli("explain", "-c", path, "--path", "/api/x", "--origin", "https://app.example.com",
                  "--method", "PUT", "--header", "Content-Type")
    lines = allowed.stdout.splitlines()
    assert "decision: allowed" in lines
    assert "  Access-Control-Allow-Origin: https://app.example.com" in lines
    assert "  Access-Control-Allow-Credentials: true" in lines


def test_explain_names_the_refused_header_and_the_key_to_change(tmp_path):
    path = write(tmp_path, EXPLAIN_CONFIG)
    result = cli("explain", "-c", path, "--path", "/api/x", "--origin", "https://app.example.com",
                 "--method", "PUT", "--header", "Authorization", "--header", "Content-Type")
    assert 'fix: requested header "authorization" not in routes.0.cors.allow_headers: add it there' in \
        result.stdout.splitlines()
    result = cli("explain", "-c", path, "--path", "/api/x", "--origin", "https://app.example.com", "--method", "PURGE")
    assert 'fix: method "PURGE" is not in routes.0.cors.methods: add it there' in result.stdout.splitlines()


PUBLIC_CONFIG = """\
upstreams:
  api: {url: "http://127.0.0.1:5000"}
routes:
  - {name: status, path: /status, upstream: api, cors: {origins: "*"}}
  - {name: listed, path: /listed/, upstream: api, cors: {origins: ["https://app.example.com"]}}
  - {name: creds, path: /creds/, upstream: api, cors: {origins: ["https://app.example.com"], supports_credentials: true}}
"""


@pytest.mark.parametrize("path, lines", [
    ("/status", ['browser: refuses the answer: a request with credentials (cookies, credentials: "include") is never '
                 "shared with Access-Control-Allow-Origin: *",
                 "fix: list the allowed origins in routes.0.cors.origins and set routes.0.cors.supports_credentials: "
                 "true"]),
    ("/listed/x", ["browser: refuses the answer: a request with credentials needs Access-Control-Allow-Credentials: "
                   "true, which this route does not send",
                   "fix: set routes.1.cors.supports_credentials: true (the origins are listed, so this is safe)"]),
    ("/creds/x", ["browser: shares the answer with credentials (Access-Control-Allow-Credentials: true)"]),
])
def test_explain_credentials_says_whether_the_browser_shares_the_answer(tmp_path, path, lines):
    config = write(tmp_path, PUBLIC_CONFIG)
    result = cli("explain", "-c", config, "--path", path, "--origin", "https://app.example.com", "--credentials")
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert "decision: allowed" in out
    start = out.index(lines[0])
    assert out[start:start + len(lines)] == lines


def test_explain_malformed_and_no_route(tmp_path):
    path = write(tmp_path, EXPLAIN_CONFIG)
    result = cli("explain", "-c", path, "--path", "/api/x", "--origin", "HTTPS://APP.EXAMPLE.COM")
    lines = result.stdout.splitlines()
    assert "reason: malformed_origin" in lines
    assert 'detail: not in the form browsers send; a browser would send "https://app.example.com"' in lines
    result = cli("explain", "-c", path, "--path", "/other", "--origin", "https://app.example.com")
    assert "reason: no_route" in result.stdout.splitlines()


def test_run_serves_and_drains_on_sigterm(tmp_path, upstream):
    port, admin = free_port(), free_port()
    path = write(tmp_path, f"""\
        listen: {{host: 127.0.0.1, port: 1}}
        admin: {{host: 127.0.0.1, port: {admin}}}
        upstreams:
          api: {{url: "{upstream.url}"}}
        routes:
          - path: /api/
            upstream: api
            cors: {{origins: ["https://app.example.com"]}}
        """)
    env = {**os.environ, "CORS_GATEWAY_CONFIG": path}
    proc = subprocess.Popen([*CLI, "run", "--port", str(port)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(port, proc)
        request = urllib.request.Request(f"http://127.0.0.1:{port}/api/echo", headers={"Origin": "https://app.example.com"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
            assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
        with urllib.request.urlopen(f"http://127.0.0.1:{admin}/healthz", timeout=5) as response:
            assert response.read() == b"ok\n"
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert f"listening on http://127.0.0.1:{port}" in err
        # stdout is the JSON access log: one object per request.
        records = [json.loads(line) for line in out.splitlines()]
        assert [(r["method"], r["path"], r["route"], r["status"], r["decision"]) for r in records] == [
            ("GET", "/api/echo", "/api/", 200, "allowed"),
        ]
        assert records[0]["origin"] == "https://app.example.com"
        assert records[0]["upstream_ms"] > 0
    finally:
        if proc.poll() is None:
            stop_process(proc)


def test_run_refuses_invalid_config(tmp_path):
    result = cli("run", "-c", write(tmp_path, INSECURE))
    assert result.returncode == 1
    assert "routes.1.cors.supports_credentials: cannot be true" in result.stderr


def test_demo_shows_allowed_and_rejected_calls():
    ports = {name: free_port() for name in ("port", "admin-port", "upstream-port", "frontend-port")}
    args = [f"--{name}={port}" for name, port in ports.items()]
    proc = subprocess.Popen([*CLI, "demo", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for_port(ports["port"], proc)
        wait_for_port(ports["frontend-port"], proc)
        gateway = f"http://127.0.0.1:{ports['port']}"
        frontend = f"http://localhost:{ports['frontend-port']}"
        allowed = urllib.request.Request(gateway + "/api/hello", headers={"Origin": frontend})
        with urllib.request.urlopen(allowed, timeout=5) as response:
            assert response.status == 200
            assert response.headers["Access-Control-Allow-Origin"] == frontend
            assert b"hello from the Flask upstream" in response.read()
        rejected = urllib.request.Request(gateway + "/api/hello", headers={"Origin": "https://evil.example"})
        with pytest.raises(urllib.error.HTTPError) as info:
            urllib.request.urlopen(rejected, timeout=5)
        assert info.value.code == 403
        assert info.value.headers["Access-Control-Allow-Origin"] is None
        with urllib.request.urlopen(frontend + "/", timeout=5) as response:
            page = response.read().decode()
        assert f"http://localhost:{ports['port']}" in page
    finally:
        stop_process(proc)


def hold_port(port: int = 0) -> socket.socket:
    """A socket listening on 127.0.0.1:port, as another program would hold it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", port))
    sock.listen()
    return sock


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr and "Unclosed" not in stderr, stderr
    lines = stderr.splitlines()
    assert len(lines) == 1, stderr
    return lines[0]


@pytest.mark.parametrize("workers", ["1", "2"])
@pytest.mark.parametrize(("listener", "change"), [("listen", "--port or listen.port"), ("admin", "admin.port")])
def test_run_on_a_busy_port_says_where_and_what_to_change(tmp_path, upstream, workers, listener, change):
    with hold_port() as held:
        busy = held.getsockname()[1]
        ports = {"listen": free_port(), "admin": free_port(), listener: busy}
        path = write(tmp_path, f"""\
            listen: {{host: 127.0.0.1, port: {ports["listen"]}}}
            admin: {{host: 127.0.0.1, port: {ports["admin"]}}}
            upstreams:
              api: {{url: "{upstream.url}"}}
            routes:
              - {{path: /api/, upstream: api, cors: {{origins: ["https://app.example.com"]}}}}
            """)
        result = cli("run", "-c", path, "--workers", workers)
    assert result.returncode == 1
    what = " (admin listener)" if listener == "admin" else ""
    assert one_line(result.stderr) == (f"cannot listen on 127.0.0.1:{busy}{what}: address already in use "
                                       f"(another process holds it); change {change}")


DEMO_FLAGS = ("port", "admin-port", "upstream-port", "frontend-port")


@pytest.mark.parametrize(("flag", "what"), [("port", ""), ("admin-port", " (admin listener)"),
                                            ("frontend-port", " (demo page)"), ("upstream-port", " (demo upstream)")])
def test_demo_on_a_busy_port_says_which_flag_to_change(flag, what):
    with hold_port() as held:
        busy = held.getsockname()[1]
        ports = {name: free_port() for name in DEMO_FLAGS} | {flag: busy}
        result = cli("demo", *[f"--{name}={port}" for name, port in ports.items()])
    assert result.returncode == 1
    assert result.stdout == ""
    assert one_line(result.stderr) == (f"cannot listen on 127.0.0.1:{busy}{what}: address already in use "
                                       f"(another process holds it); change --{flag}")


def test_demo_upstream_takes_a_free_port_when_5000_is_taken():
    try:
        held = hold_port(5000)
    except OSError:  # already taken by something else: just as good
        held = None
    ports = {name: free_port() for name in ("port", "admin-port", "frontend-port")}
    proc = subprocess.Popen([*CLI, "demo", *[f"--{name}={port}" for name, port in ports.items()]], cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(ports["port"], proc)
        frontend = f"http://localhost:{ports['frontend-port']}"
        request = urllib.request.Request(f"http://127.0.0.1:{ports['port']}/api/hello", headers={"Origin": frontend})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 200
            assert b"hello from the Flask upstream" in response.read()
    finally:
        stop_process(proc)
        if held is not None:
            held.close()
    out, err = proc.communicate()
    notice = err.splitlines()[0]
    assert notice.startswith("port 5000 is taken"), err
    chosen = int(notice.split("listens on 127.0.0.1:")[1].split()[0])
    assert chosen != 5000
    assert notice.endswith(f"127.0.0.1:{chosen} instead (--upstream-port picks one)")
    assert f"demo upstream (Flask, no CORS code): http://127.0.0.1:{chosen}" in out.splitlines()
