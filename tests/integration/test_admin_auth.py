"""The admin listener's bearer token (``admin.token``), against real listeners.

* In process (``Gateway``, as test_gateway.py runs it) and through the CLI,
  with one process and with ``--workers 2`` (whose parent serves the admin
  listener): /metrics and the debugger's /api/* need ``Authorization: Bearer
  <token>`` (401 with ``WWW-Authenticate: Bearer`` otherwise); /healthz,
  /readyz and the debugger page's static files stay open.
* The CLI refuses an admin listener off loopback without a token, and never
  prints the token.
* A new token in a reloaded config takes effect after a restart only.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request

import aiohttp
import pytest
from multidict import CIMultiDict

import gateway.admin
import gateway.server
from gateway.admin import bearer_token_matches
from gateway.config import parse_config

from ..support import ROOT, free_port, stop_process, wait_for_port

TOKEN = "test-admin-token-0123456789abcdef"
OTHER = "another-admin-token-0123456789abc"
ALLOWED = "https://app.example.com"


def config_text(upstream_url: str, *, port: int = 0, admin: int = 0, admin_extra: str = "",
                admin_host: str = "127.0.0.1") -> str:
    return textwrap.dedent(f"""\
        listen: {{host: 127.0.0.1, port: {port}}}
        admin: {{host: "{admin_host}", port: {admin}{admin_extra}}}
        shutdown_timeout: 5
        access_log: {{enabled: false}}
        upstreams:
          app: {{url: "{upstream_url}"}}
        routes:
          - name: api
            path: /api/
            upstream: app
            cors: {{origins: ["{ALLOWED}"]}}
        """)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def assert_token_enforced(session: aiohttp.ClientSession, admin_url: str, token: str = TOKEN) -> None:
    """/metrics only with the token; the probes without."""
    async with session.get(admin_url + "/metrics") as r:
        assert r.status == 401
        assert r.headers["WWW-Authenticate"].startswith("Bearer ")
        assert "invalid_token" not in r.headers["WWW-Authenticate"]  # nothing was sent
        assert token not in await r.text()
    for headers in (bearer("wrong-token-0123456789abcdef"), bearer(token[:-1]), bearer(token + "x"),
                    {"Authorization": f"Basic {token}"}, {"Authorization": token}, {"Authorization": "Bearer"}):
        async with session.get(admin_url + "/metrics", headers=headers) as r:
            assert r.status == 401, headers
            assert r.headers["WWW-Authenticate"].startswith("Bearer "), headers
            assert 'error="invalid_token"' in r.headers["WWW-Authenticate"], headers
    async with session.get(admin_url + "/metrics", headers=bearer(token)) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert "cors_gateway_requests_total" in await r.text()
    async with session.get(admin_url + "/metrics", headers={"Authorization": f"bearer  {token} "}) as r:
        assert r.status == 200  # the scheme is case-insensitive (RFC 9110)
    async with session.get(admin_url + "/healthz") as r:
        assert (r.status, await r.text()) == (200, "ok\n")
    async with session.get(admin_url + "/readyz") as r:
        assert (r.status, await r.text()) == (200, "ready\n")
    # The debugger's API needs it; its page (static, no data) does not: it asks for the token.
    for path in ("/api/routes", "/api/rejections", "/api/explain?origin=https://a.example&path=/api/x"):
        async with session.get(admin_url + path) as r:
            assert r.status == 401, path
        async with session.get(admin_url + path, headers=bearer(token)) as r:
            assert r.status == 200, path
            assert r.headers["Content-Type"] == "application/json; charset=utf-8"
    async with session.post(admin_url + "/api/diagnose", json={"message": "x"}) as r:
        assert r.status == 401
    for path, content_type in (("/", "text/html"), ("/app.js", "text/javascript"), ("/app.css", "text/css")):
        async with session.get(admin_url + path) as r:
            assert r.status == 200, path
            assert r.headers["Content-Type"] == f"{content_type}; charset=utf-8"
            assert token not in await r.text()
    # Any other path needs the token too: without it, not even whether it exists is told.
    async with session.get(admin_url + "/nothing-here") as r:
        assert r.status == 401
    async with session.get(admin_url + "/nothing-here", headers=bearer(token)) as r:
        assert r.status == 404


# -- in process ----------------------------------------------------------------------------


@pytest.fixture
async def start_gateway():
    started: list[gateway.server.Gateway] = []

    async def start(text: str) -> gateway.server.Gateway:
        gw = gateway.server.Gateway(parse_config(text))
        await gw.start("127.0.0.1", 0)
        started.append(gw)
        return gw

    yield start
    for gw in started:
        await gw.stop()


async def test_metrics_needs_the_token_and_the_probes_do_not(start_gateway, upstream):
    gw = await start_gateway(config_text(upstream.url, admin_extra=f", token: {TOKEN}"))
    async with aiohttp.ClientSession() as session:
        await assert_token_enforced(session, f"http://127.0.0.1:{gw.admin_port}")
        # Two Authorization headers are refused, even if one is right.
        headers = CIMultiDict([("Authorization", f"Bearer {TOKEN}"), ("Authorization", "Bearer x")])
        async with session.get(f"http://127.0.0.1:{gw.admin_port}/metrics", headers=headers) as r:
            assert r.status == 401
        # The public listener is untouched by the admin token.
        async with session.get(f"http://127.0.0.1:{gw.port}/api/echo", headers={"Origin": ALLOWED}) as r:
            assert r.status == 200


async def test_without_a_token_a_loopback_admin_listener_is_open(start_gateway, upstream):
    gw = await start_gateway(config_text(upstream.url))
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{gw.admin_port}/metrics") as r:
        assert r.status == 200 and "WWW-Authenticate" not in r.headers


async def test_the_token_is_compared_with_hmac_compare_digest(start_gateway, upstream, monkeypatch):
    compared: list[tuple[bytes, bytes]] = []
    real = gateway.admin.hmac.compare_digest

    def spy(a, b):
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(gateway.admin.hmac, "compare_digest", spy)
    gw = await start_gateway(config_text(upstream.url, admin_extra=f", token: {TOKEN}"))
    async with aiohttp.ClientSession() as session:
        for token, status in ((TOKEN, 200), (OTHER, 401)):
            async with session.get(f"http://127.0.0.1:{gw.admin_port}/metrics", headers=bearer(token)) as r:
                assert r.status == status
    assert compared == [(TOKEN.encode(), TOKEN.encode()), (OTHER.encode(), TOKEN.encode())]


def test_bearer_token_matches():
    expected = TOKEN.encode()
    assert bearer_token_matches([f"Bearer {TOKEN}"], expected)
    assert bearer_token_matches([f"BEARER {TOKEN}"], expected)
    assert bearer_token_matches([f" Bearer   {TOKEN} "], expected)
    assert not bearer_token_matches([], expected)
    assert not bearer_token_matches([f"Bearer {TOKEN}", f"Bearer {TOKEN}"], expected)
    assert not bearer_token_matches([f"Basic {TOKEN}"], expected)
    assert not bearer_token_matches([f"Bearer{TOKEN}"], expected)
    assert not bearer_token_matches([f"Bearer {TOKEN} extra"], expected)
    assert not bearer_token_matches(["Bearer "], expected)
    assert not bearer_token_matches([f"Bearer {TOKEN}\udcff"], expected)  # a raw 0xff byte, as aiohttp decodes it
    assert not bearer_token_matches(["Bearer \ud800"], expected)  # not encodable at all


async def test_a_new_token_takes_effect_after_a_restart_only(start_gateway, upstream, caplog):
    gw = await start_gateway(config_text(upstream.url, admin_extra=f", token: {TOKEN}"))
    with caplog.at_level(logging.WARNING, logger="gateway"):
        gw.apply_config(parse_config(config_text(upstream.url, admin_extra=f", token: {OTHER}")))
    assert "admin_token" in caplog.text and "after a restart" in caplog.text
    assert TOKEN not in caplog.text and OTHER not in caplog.text
    assert gw.config.admin_token == TOKEN
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{gw.admin_port}/metrics", headers=bearer(TOKEN)) as r:
            assert r.status == 200
        async with session.get(f"http://127.0.0.1:{gw.admin_port}/metrics", headers=bearer(OTHER)) as r:
            assert r.status == 401


# -- the CLI, one process and a parent with workers ------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORS_GATEWAY_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    env.update(extra)
    return env


def _status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as err:
        return err.code


def _wait_ready(admin_url: str, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + 20
    while True:
        assert proc.poll() is None, f"the gateway exited with {proc.returncode}"
        try:
            if _status(admin_url + "/readyz") == 200:
                return
        except OSError:
            pass
        assert time.monotonic() < deadline, "never ready"
        time.sleep(0.1)


@pytest.fixture
def run_cli(tmp_path, upstream):
    started: list[subprocess.Popen] = []

    def run(workers: int, admin_extra: str = "", env: dict[str, str] | None = None):
        port, admin = free_port(), free_port()
        path = tmp_path / f"gateway-{len(started)}.yaml"
        path.write_text(config_text(upstream.url, port=port, admin=admin, admin_extra=admin_extra))
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "run", "-c", str(path), "--workers", str(workers)],
            cwd=ROOT, env=clean_env(**(env or {})), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        started.append(proc)
        wait_for_port(admin, proc)
        admin_url = f"http://127.0.0.1:{admin}"
        _wait_ready(admin_url, proc)
        return proc, path, admin_url

    yield run
    for proc in started:
        if proc.poll() is None:
            stop_process(proc)


@pytest.mark.parametrize("workers", [1, 2])
async def test_cli_enforces_the_token_from_the_environment(run_cli, workers):
    proc, _, admin_url = run_cli(workers, env={"CORS_GATEWAY_ADMIN_TOKEN": TOKEN})
    async with aiohttp.ClientSession() as session:
        await assert_token_enforced(session, admin_url)
        if workers > 1:  # the parent's aggregated metrics
            async with session.get(admin_url + "/metrics", headers=bearer(TOKEN)) as r:
                assert "cors_gateway_worker_restarts_total" in await r.text()
    stop_process(proc)
    assert proc.returncode == 0
    assert TOKEN not in proc.stderr.read()


async def test_cli_parent_keeps_its_token_across_a_reload(run_cli):
    proc, path, admin_url = run_cli(2, admin_extra=f", token: {TOKEN}")
    path.write_text(path.read_text().replace(TOKEN, OTHER))
    proc.send_signal(signal.SIGHUP)
    series = 'cors_gateway_config_reloads_total{result="success"}'
    deadline = time.monotonic() + 20
    async with aiohttp.ClientSession() as session:
        while True:
            async with session.get(admin_url + "/metrics", headers=bearer(TOKEN)) as r:
                assert r.status == 200
                if f"{series} 1.0" in (await r.text()).splitlines():
                    break
            assert time.monotonic() < deadline, "the reload never happened"
            await asyncio.sleep(0.2)
        async with session.get(admin_url + "/metrics", headers=bearer(OTHER)) as r:
            assert r.status == 401
    stop_process(proc)
    stderr = proc.stderr.read()
    assert "admin_token take effect after a restart" in stderr
    assert TOKEN not in stderr and OTHER not in stderr


@pytest.mark.parametrize(
    ("admin_host", "env", "expected"),
    [
        pytest.param("0.0.0.0", {}, "admin.token: required when the admin listener is not on loopback "
                     "(admin.host is '0.0.0.0')", id="file-opens-it"),
        pytest.param("127.0.0.1", {"CORS_GATEWAY_ADMIN_HOST": "::"}, "admin.token: required when the admin "
                     "listener is not on loopback (admin.host is '::')", id="environment-opens-it"),
        pytest.param("0.0.0.0", {"CORS_GATEWAY_ADMIN_TOKEN": "short-secret"}, "admin.token: the token is too "
                     "short (12 characters)", id="short-token"),
    ],
)
def test_cli_refuses_an_unprotected_admin_listener(tmp_path, upstream, admin_host, env, expected):
    path = tmp_path / "gateway.yaml"
    path.write_text(config_text(upstream.url, port=free_port(), admin=free_port(), admin_host=admin_host))
    result = subprocess.run([sys.executable, "-m", "gateway", "run", "-c", str(path)], check=False,
                            cwd=ROOT, env=clean_env(**env), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1, result.stderr
    assert expected in result.stderr
    assert "short-secret" not in result.stdout + result.stderr


def test_check_refuses_a_file_that_opens_the_admin_listener_without_a_token(tmp_path, upstream):
    path = tmp_path / "gateway.yaml"
    path.write_text(config_text(upstream.url, admin_host="0.0.0.0"))
    result = subprocess.run([sys.executable, "-m", "gateway", "check", "-c", str(path)], check=False,
                            cwd=ROOT, env=clean_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 1
    assert "admin.token: required when the admin listener is not on loopback" in result.stdout
