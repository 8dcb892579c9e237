"""``${NAME}`` in the config, as `check`, `explain` and `run` (and its reloads) read it: real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

from .conftest import ROOT, free_port, stop_process, wait_for_port

CLI = [sys.executable, "-m", "gateway"]
TOKEN = "0123456789abcdef-very-secret"

CONFIG = """\
listen: {host: 127.0.0.1, port: "${PORT:-8080}"}
admin: {host: 127.0.0.1, port: "${ADMIN_PORT:-9090}", token: "${ADMIN_TOKEN}"}
upstreams:
  api: {url: "http://127.0.0.1:5000"}
routes:
  - path: /api/
    upstream: api
    cors:
      origins: ${CORS_ORIGINS}
      max_age: ${MAX_AGE:-600}
      on_reject: block
"""


USED = ("CORS_ORIGINS", "ADMIN_TOKEN", "MAX_AGE", "PORT", "ADMIN_PORT")


def environment(**variables: str) -> dict[str, str]:
    """The test's environment without the gateway's own variables and those of CONFIG, plus ``variables``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORS_GATEWAY_") and k not in USED}
    return {**env, **variables}


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], cwd=ROOT, capture_output=True, text=True, timeout=60, env=env)


def write(tmp_path: Path, text: str = CONFIG) -> str:
    path = tmp_path / "gateway.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_check_shows_the_expanded_values_but_never_the_admin_token(tmp_path):
    path = write(tmp_path)
    env = environment(CORS_ORIGINS="https://a.example.com, https://b.example.com", ADMIN_TOKEN=TOKEN,
                      CORS_GATEWAY_LISTEN_PORT="8081")
    result = cli("check", "-c", path, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    # listen.port: the override wins over the file's ${PORT:-8080}, so it is listed as the override's.
    assert result.stdout.splitlines() == [
        'environment: listen.port = "8081"  (from CORS_GATEWAY_LISTEN_PORT)',
        "environment: admin.port = 9090  (from ${ADMIN_PORT}; ADMIN_PORT not set: default used)",
        "environment: admin.token = (secret, not shown)  (from ${ADMIN_TOKEN})",
        'environment: routes.0.cors.origins = ["https://a.example.com", "https://b.example.com"]  '
        "(from ${CORS_ORIGINS})",
        "environment: routes.0.cors.max_age = 600  (from ${MAX_AGE}; MAX_AGE not set: default used)",
        f"{path}: OK (1 route(s), 0 warning(s))",
    ]
    assert TOKEN not in result.stdout + result.stderr


def test_check_refuses_unset_variables_with_their_key_paths(tmp_path):
    path = write(tmp_path, CONFIG.replace("      max_age:", "      methods: [GET, *]\n      max_age:"))
    result = cli("check", "-c", path, env=environment(ADMIN_TOKEN="short"))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        'routes.0.cors.methods.1: an unquoted * starts a YAML alias (line 10); quote it: "*"',
        "routes.0.cors.origins: environment variable CORS_ORIGINS is not set (set it, or give a default: "
        "${CORS_ORIGINS:-...})",
        "admin.token: the token is too short (5 characters): use at least 16 random characters, e.g. from openssl "
        "rand -hex 32 (from ${ADMIN_TOKEN})",
        'routes.0.cors.methods: warning: "*" makes the other entries redundant',  # judged as quoted
        f"{path}: 3 error(s), 1 warning(s)",
    ]


def test_explain_judges_the_expanded_origins(tmp_path):
    path = write(tmp_path)
    env = environment(CORS_ORIGINS="https://a.example.com,https://b.example.com", ADMIN_TOKEN=TOKEN)
    rejected = cli("explain", "-c", path, "--path", "/api/x", "--origin", "https://evil.example", env=env)
    assert rejected.returncode == 0, rejected.stderr
    lines = rejected.stdout.splitlines()
    assert 'environment: routes.0.cors.origins = ["https://a.example.com", "https://b.example.com"]  ' \
           "(from ${CORS_ORIGINS})" in lines
    assert "detail: the request's Origin is not allowed on this route; allowed origins: https://a.example.com, " \
           "https://b.example.com" in lines
    allowed = cli("explain", "-c", path, "--path", "/api/x", "--origin", "https://b.example.com", env=env)
    assert "  Access-Control-Allow-Origin: https://b.example.com" in allowed.stdout.splitlines()
    assert TOKEN not in rejected.stdout + rejected.stderr + allowed.stdout + allowed.stderr


def _preflight(port: int, origin: str) -> int:
    request = urllib.request.Request(f"http://127.0.0.1:{port}/api/x", method="OPTIONS",
                                     headers={"Origin": origin, "Access-Control-Request-Method": "PUT"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def test_run_and_its_reloads_fill_in_the_environment(tmp_path):
    port, admin = free_port(), free_port()
    path = write(tmp_path)
    env = environment(CORS_ORIGINS="https://a.example.com", ADMIN_TOKEN=TOKEN, PORT=str(port), ADMIN_PORT=str(admin))
    proc = subprocess.Popen([*CLI, "run", "-c", path], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(port, proc)
        assert _preflight(port, "https://a.example.com") == 204
        assert _preflight(port, "https://b.example.com") == 403
        # A reload reads the file again, with the same environment.
        both = CONFIG.replace("origins: ${CORS_ORIGINS}", 'origins: "${CORS_ORIGINS}, https://b.example.com"')
        Path(path).write_text(both)
        proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while _preflight(port, "https://b.example.com") != 204 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _preflight(port, "https://b.example.com") == 204
        assert _preflight(port, "https://a.example.com") == 204
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert TOKEN not in err
    finally:
        if proc.poll() is None:
            stop_process(proc)
