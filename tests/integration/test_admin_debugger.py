"""The admin listener's debugger API over real traffic: /api/routes, /api/rejections, /api/explain, /api/diagnose.

In process (``Gateway``) and through the CLI with ``--workers 2``, whose
parent collects the workers' recent rejections; ``diagnose -c`` asking the
running gateway for them.  The page itself is tested in Chromium
(tests/browser/test_admin_page.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request

import aiohttp
import pytest

from gateway.rejections import MAX_PATH

from ..support import ROOT, free_port, raw_request, stop_process, wait_for_port
from .conftest import gateway_config

APP = "https://app.example.com"
EVIL = "https://evil.example"
ROUTES = f"""\
  - {{name: api, path: /api/, upstream: app, cors: {{origins: ["{APP}"], methods: [GET, PUT],
      allow_headers: [Content-Type]}}}}
  - {{name: legacy, path: /legacy/, upstream: app, cors: {{origins: ["{APP}"], mode: shadow}}}}
"""


async def send(session, url: str, method: str = "GET", **headers: str) -> int:
    async with session.request(method, url, headers=headers) as response:
        await response.read()
        return response.status


def admin_url(gw) -> str:
    return f"http://127.0.0.1:{gw.admin_port}"


async def api(session, url: str, **kwargs) -> dict:
    method = "POST" if "json" in kwargs else "GET"
    async with session.request(method, url, **kwargs) as response:
        assert response.headers["Cache-Control"] == "no-store"
        return await response.json()


async def test_routes_rejections_explain_and_diagnose_in_process(make_gateway, recorded):
    gw = await make_gateway(gateway_config(recorded.url, ROUTES))
    async with aiohttp.ClientSession() as session:
        routes = await api(session, admin_url(gw) + "/api/routes")
        assert [(r["index"], r["name"], r["path"], r["origins"], r["methods"], r["mode"]) for r in routes["routes"]] \
            == [(0, "api", "/api/", [APP], ["GET", "PUT"], "enforce"), (1, "legacy", "/legacy/", [APP],
                                                                       ["GET", "HEAD", "POST", "PUT", "PATCH",
                                                                        "DELETE"], "shadow")]
        assert routes["routes"][0]["refused_preflight"] == "name_cause"
        # Rejections: an origin, a header (its preflight names the method asked for), a query never kept.
        assert await send(session, gw.url + "/api/echo?session=secret", Origin=EVIL) == 200
        assert await send(session, gw.url + "/api/echo", "OPTIONS", Origin=APP, **{
            "Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "x-api-key"}) == 200
        assert await send(session, gw.url + "/api/echo", "OPTIONS", Origin=EVIL, **{
            "Access-Control-Request-Method": "PUT"}) == 403
        assert await send(session, gw.url + "/api/echo", Origin=APP, Cookie="a=1", Authorization="Bearer s3") == 200
        # A shadow disagreement: the upstream sends no CORS headers, the gateway would allow.
        assert await send(session, gw.url + "/legacy/echo", Origin=APP) == 404  # (the app has no /legacy/)
        found = await api(session, admin_url(gw) + "/api/rejections")
    records = [(r["route"], r["method"], r["path"], r["origin"], r["kind"], r["reason"]) for r in found["records"]]
    assert records == [
        ("api", "PUT", "/api/echo", EVIL, "preflight", "origin_not_allowed"),
        ("api", "PUT", "/api/echo", APP, "preflight", "header_not_allowed"),
        ("api", "GET", "/api/echo", EVIL, "actual", "origin_not_allowed"),
    ]
    assert "secret" not in json.dumps(found) and "s3" not in json.dumps(found)
    groups = [(g["count"], g["origin"], g["reason"], g["fixes"]) for g in found["groups"]]
    assert groups == [
        (2, EVIL, "origin_not_allowed", [{"key": "routes.0.cors.origins", "change": f'add "{EVIL}"'}]),
        (1, APP, "header_not_allowed", [{"key": "routes.0.cors.allow_headers", "change": 'add "x-api-key"'}]),
    ]
    shadow = found["shadow"]["records"]
    assert [(r["route"], r["kind"], r["reason"], r["detail"]) for r in shadow] == [
        ("legacy", "shadow", "allowed", "actual: the upstream rejects, the gateway allows")]
    async with aiohttp.ClientSession() as session:
        filtered = await api(session, admin_url(gw) + "/api/rejections", params={"path": "/api/echo", "origin": APP})
        assert [r["reason"] for r in filtered["records"]] == ["header_not_allowed"]
        explained = await api(session, admin_url(gw) + "/api/explain",
                              params={"origin": APP, "path": "/api/x", "method": "DELETE"})
        assert (explained["route"], explained["reason"], explained["status"]) == ("api", "method_not_allowed", 200)
        assert explained["fixes"] == [{"key": "routes.0.cors.methods", "change": 'add "DELETE"'}]
        assert explained["lines"][0] == "route: api (routes.0: path /api/, upstream app, mode enforce)"
        message = (f"Access to fetch at '{gw.url}/api/echo' from origin '{APP}' has been blocked by CORS policy: "
                   "Response to preflight request doesn't pass access control check: No 'Access-Control-Allow-Origin' "
                   "header is present on the requested resource.")
        diagnosed = await api(session, admin_url(gw) + "/api/diagnose", json={"message": message,
                                                                             "gateway_url": gw.url})
        # The recorded rejection (a header) settles what the message leaves open.
        assert (diagnosed["route"], diagnosed["reason"]) == ("api", "header_not_allowed")
        async with session.post(admin_url(gw) + "/api/diagnose", json={"message": "hello"}) as r:
            assert r.status == 422 and "not a CORS error message" in (await r.json())["error"]
        async with session.post(admin_url(gw) + "/api/diagnose", data="{not json") as r:
            assert r.status == 400
        async with session.post(admin_url(gw) + "/api/diagnose", data=b"x" * (70 * 1024)) as r:
            assert r.status == 413
        async with session.get(admin_url(gw) + "/api/explain", params={"path": "/api/x"}) as r:
            assert r.status == 400


async def test_recorded_text_is_bounded(make_gateway, recorded):
    gw = await make_gateway(gateway_config(recorded.url, ROUTES).replace(
        "admin: {host: 127.0.0.1, port: 0}", "admin: {host: 127.0.0.1, port: 0, recent_rejections: 3}"))
    async with aiohttp.ClientSession() as session:
        for i in range(5):
            await send(session, gw.url + f"/api/{i}/" + "a" * 2000, Origin=EVIL)
        found = await api(session, admin_url(gw) + "/api/rejections")
    assert found["capacity"] == 3
    assert [r["path"][:7] for r in found["records"]] == ["/api/4/", "/api/3/", "/api/2/"]
    assert all(len(r["path"]) == MAX_PATH and r["path"].endswith("...") for r in found["records"])


def test_workers_hand_their_rejections_to_the_parent_and_diagnose_asks_it(tmp_path, upstream):
    port, admin = free_port(), free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(gateway_config(upstream.url, ROUTES).replace("port: 0}", f"port: {port}}}", 1)
                      .replace("admin: {host: 127.0.0.1, port: 0}", f"admin: {{host: 127.0.0.1, port: {admin}}}"))
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "run", "-c", str(config), "--workers", "2"], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(port, proc)
        wait_for_port(admin, proc)
        # Separate connections: the kernel spreads them over both workers.
        for _ in range(12):
            request = urllib.request.Request(f"http://127.0.0.1:{port}/api/echo", method="OPTIONS", headers={
                "Origin": APP, "Access-Control-Request-Method": "DELETE", "Connection": "close"})
            with urllib.request.urlopen(request, timeout=5) as response:
                assert response.status == 200  # name_cause
        deadline = time.monotonic() + 10
        while True:
            with urllib.request.urlopen(f"http://127.0.0.1:{admin}/api/rejections", timeout=5) as response:
                found = json.loads(response.read())
            if len(found["records"]) == 12 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert found["workers"] == 2
        assert [(r["method"], r["reason"]) for r in found["records"]] == [("DELETE", "method_not_allowed")] * 12
        assert found["groups"][0]["fixes"] == [{"key": "routes.0.cors.methods", "change": 'add "DELETE"'}]
        message = (f"Access to fetch at 'http://127.0.0.1:{port}/api/echo' from origin '{APP}' has been blocked by "
                   "CORS policy: Response to preflight request doesn't pass access control check: No "
                   "'Access-Control-Allow-Origin' header is present on the requested resource.")
        done = subprocess.run([sys.executable, "-m", "gateway", "diagnose", "-c", str(config), "--json", message],
                              cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        diagnosed = json.loads(done.stdout)
        assert (diagnosed["reason"], diagnosed["fixes"]) == (
            "method_not_allowed", [{"key": "routes.0.cors.methods", "change": 'add "DELETE"'}])
        assert diagnosed["gateway"] == (f"http://127.0.0.1:{admin} recorded 12 rejection(s) of /api/echo from {APP}")
    finally:
        stop_process(proc)
    offline = subprocess.run([sys.executable, "-m", "gateway", "diagnose", "-c", str(config), "--json", message],
                             cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert json.loads(offline.stdout)["gateway"].startswith(f"not reachable at http://127.0.0.1:{admin}")


@pytest.mark.parametrize("token_env", ["CORS_GATEWAY_ADMIN_TOKEN"])
def test_diagnose_sends_the_token_the_config_reads(tmp_path, upstream, token_env):
    port, admin = free_port(), free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(gateway_config(upstream.url, ROUTES).replace("port: 0}", f"port: {port}}}", 1)
                      .replace("admin: {host: 127.0.0.1, port: 0}", f"admin: {{host: 127.0.0.1, port: {admin}}}"))
    env = {**__import__("os").environ, token_env: "a-test-token-0123456789abcdef"}
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "run", "-c", str(config)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    message = (f"Access to fetch at 'http://127.0.0.1:{port}/api/echo' from origin '{EVIL}' has been blocked by "
               "CORS policy: No 'Access-Control-Allow-Origin' header is present on the requested resource.")
    try:
        wait_for_port(admin, proc)
        with_token = subprocess.run([sys.executable, "-m", "gateway", "diagnose", "-c", str(config), "--json",
                                     message], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        assert json.loads(with_token.stdout)["gateway"].endswith(f"recorded 0 rejection(s) of /api/echo from {EVIL}")
        without = subprocess.run([sys.executable, "-m", "gateway", "diagnose", "-c", str(config), "--json", message],
                                 cwd=ROOT, capture_output=True, text=True, timeout=60)
        assert json.loads(without.stdout)["gateway"].startswith(f"http://127.0.0.1:{admin} answered 401")
    finally:
        stop_process(proc)


async def test_without_a_token_only_loopback_names_and_addresses_may_ask(make_gateway, recorded):
    """A page that rebinds its own DNS name to 127.0.0.1 reaches the admin listener with that name as Host."""
    gw = await make_gateway(gateway_config(recorded.url, ROUTES))
    async with aiohttp.ClientSession() as session:
        for host in ("evil.example", f"evil.example:{gw.admin_port}", "127.0.0.1.nip.io"):
            for path in ("/", "/api/rejections", "/metrics"):
                async with session.get(admin_url(gw) + path, headers={"Host": host}) as r:
                    assert r.status == 403, (host, path)
                    assert "DNS-rebinding" in await r.text()
            async with session.get(admin_url(gw) + "/healthz", headers={"Host": host}) as r:
                assert r.status == 200  # says no more than alive
        for host in (f"127.0.0.1:{gw.admin_port}", f"localhost:{gw.admin_port}", "[::1]", "10.1.2.3"):
            async with session.get(admin_url(gw) + "/api/routes", headers={"Host": host}) as r:
                assert r.status == 200, host


async def test_found_by_review_paths_limits_and_bodies(make_gateway, recorded):
    gw = await make_gateway(gateway_config(recorded.url, ROUTES).replace(
        "admin: {host: 127.0.0.1, port: 0}", "admin: {host: 127.0.0.1, port: 0, recent_rejections: 1000}"))
    # The recorded path never keeps userinfo, a host, a query or a fragment.
    import asyncio

    # (in a thread: the gateway serves on this test's event loop)
    await asyncio.to_thread(raw_request, gw.port, "GET", f"http://user:SECRET3@127.0.0.1:{gw.port}/api/a?q=SECRET4",
                            {"Origin": EVIL})
    await asyncio.to_thread(raw_request, gw.port, "GET", "/api/b#access_token=SECRET5", {"Origin": EVIL})
    async with aiohttp.ClientSession() as session:
        for i in range(300):
            await send(session, gw.url + f"/api/{i}", Origin=f"https://site{i}.example")
        found = await api(session, admin_url(gw) + "/api/rejections")
        # The newest 100 by default, at most 100 groups; ?limit= asks for fewer.
        assert (found["kept"], len(found["records"]), len(found["groups"])) == (302, 100, 100)
        few = await api(session, admin_url(gw) + "/api/rejections", params={"limit": "5"})
        assert len(few["records"]) == 5
        # The filters apply to the groups too.
        one = await api(session, admin_url(gw) + "/api/rejections",
                        params={"path": "/api/7", "origin": "https://site7.example"})
        assert [(g["origin"], g["count"]) for g in one["groups"]] == [("https://site7.example", 1)]
        everything = await api(session, admin_url(gw) + "/api/rejections", params={"limit": "1000"})
        paths = {r["path"] for r in everything["records"]}
        assert {"/api/a", "/api/b"} <= paths
        assert not any("SECRET" in text or "?" in text or "#" in text for text in paths)
        async with session.get(admin_url(gw) + "/api/rejections", params={"limit": "x"}) as r:
            assert r.status == 400
        async with session.post(admin_url(gw) + "/api/diagnose", data="[" * 60_000) as r:
            assert r.status == 400  # not a RecursionError's 500


def test_a_lowercase_methods_fix_is_the_frontends():
    from gateway.config import parse_config
    from gateway.diagnosis import record_fixes
    from gateway.rejections import Record
    from gateway.routes import RouteTable

    table = RouteTable(parse_config(gateway_config("http://127.0.0.1:5000", ROUTES)))
    record = Record(0.0, "api", "put", "/api/x", APP, "preflight", "method_not_allowed")
    assert [(f.key, f.change) for f in record_fixes(record, table)] == [("(frontend)", 'send method "PUT"')]
