"""The admin page (``/`` on the admin listener) in headless Chromium.

Against the browser suite's gateway (one process, no token) and against one
started here with ``--workers 2`` and an admin token: the page lists the
routes, the rejections made through the gateway with their reason and fix,
and answers its diagnose and explain forms.  Origins and paths carrying HTML
and script are shown as text, never run.  The screenshot in README.md is
taken here (``ADMIN_PAGE_SCREENSHOT=path`` saves it; it is always taken).
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import pytest_asyncio

from ..support import ROOT, free_port, raw_request, stop_process, wait_for_port

pytestmark = pytest.mark.asyncio(loop_scope="session")

TOKEN = "page-test-token-0123456789abcdef"
HOSTILE_ORIGIN = 'https://x.example"><img src=x onerror="window.pwned=1">'
HOSTILE_PATH = "/api/<script>window.pwned=2</script><img/src=x/onerror=window.pwned=3>"


async def fetch_from(context, origin: str, url: str, init: dict) -> str:
    page = await context.new_page()
    await page.goto(origin + "/")
    result = await page.evaluate(
        "async ({url, init}) => { try { const r = await fetch(url, init); return 'ok ' + r.status; }"
        " catch (e) { return String(e); } }", {"url": url, "init": init})
    await page.close()
    return result


async def rows(page, table: str) -> list[list[str]]:
    return await page.eval_on_selector_all(
        f"#{table} tbody tr", "rows => rows.map(r => Array.from(r.cells, c => c.textContent))")


async def wait_for_rows(page, table: str, predicate, timeout: float = 10.0) -> list[list[str]]:
    import asyncio

    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        found = await rows(page, table)
        if predicate(found):
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"#{table}: {found}")
        await page.click("#refresh")
        await asyncio.sleep(0.3)


async def test_the_page_lists_rejections_with_their_fix_and_answers_both_forms(world, context, tmp_path):
    # Rejections through the gateway: a refused origin, a refused header (Chromium's own requests),
    # and hostile origin and path bytes no browser sends.
    assert await fetch_from(context, world.B, world.GW + "/api/echo", {}) == "TypeError: Failed to fetch"
    assert await fetch_from(context, world.A, world.GW + "/api/echo",
                            {"method": "PUT", "headers": {"X-Api-Key": "k"}}) == "TypeError: Failed to fetch"
    raw_request(world.gw_port, "GET", "/api/echo", {"Origin": HOSTILE_ORIGIN})
    raw_request(world.gw_port, "GET", HOSTILE_PATH, {"Origin": world.B})

    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: dialogs.append(dialog.message))
    await page.goto(f"http://127.0.0.1:{world.admin_port}/")

    routes = await wait_for_rows(page, "routes", lambda found: len(found) >= 5)
    assert routes[0][:5] == ["0", "api", "/api/", world.A, "GET, POST, PUT, DELETE"]
    assert routes[4][:4] == ["4", "public", "/public/", "*"]

    groups = await wait_for_rows(page, "groups", lambda found: any(world.B in row[2] for row in found))
    by_origin = {(row[1], row[2], row[3]): row for row in groups}
    refused = by_origin[("api", world.B, "origin_not_allowed")]
    assert refused[5] == f'defaults.cors.origins: add "{world.B}"'
    header = by_origin[("api", world.A, "header_not_allowed")]
    assert header[4].startswith("PUT /api/echo at ")
    assert header[5] == 'defaults.cors.allow_headers: add "x-api-key"'
    hostile = by_origin[("api", HOSTILE_ORIGIN, "malformed_origin")]
    assert hostile[5] == "(none: not a browser's request)"

    recent = await rows(page, "recent")
    assert any(row[3] == HOSTILE_PATH for row in recent), recent  # shown as text
    # Nothing the requests carried ran or became an element.
    assert await page.evaluate("() => window.pwned") is None
    assert await page.locator("main img, main script").count() == 0
    assert errors == [] and dialogs == []

    # The diagnose form: a message Chromium printed for the refused origin.
    message = (f"Access to fetch at '{world.GW}/api/echo' from origin '{world.B}' has been blocked by CORS policy: No "
               "'Access-Control-Allow-Origin' header is present on the requested resource.")
    await page.fill("#diagnose-message", message)
    await page.click("#diagnose-form button")
    await page.wait_for_function("() => document.getElementById('diagnose-result').textContent.includes('reason')")
    diagnosed = await page.text_content("#diagnose-result")
    assert "reason: origin_not_allowed" in diagnosed
    assert f'fix: defaults.cors.origins: add "{world.B}"' in diagnosed

    # The explain form.
    await page.fill("#explain-origin", world.A)
    await page.fill("#explain-path", "/api/items")
    await page.fill("#explain-method", "PATCH")
    await page.click("#explain-form button")
    await page.wait_for_function("() => document.getElementById('explain-result').textContent.includes('reason')")
    explained = await page.text_content("#explain-result")
    assert "reason: method_not_allowed" in explained
    assert 'fix: defaults.cors.methods: add "PATCH"' in explained

    shot = os.environ.get("ADMIN_PAGE_SCREENSHOT") or str(tmp_path / "admin-page.png")
    await page.set_viewport_size({"width": 1280, "height": 900})
    await page.screenshot(path=shot, full_page=True)
    assert os.path.getsize(shot) > 10_000
    assert await page.evaluate("() => window.pwned") is None
    await page.close()


@pytest_asyncio.fixture(loop_scope="session")
async def workers_gateway(world, tmp_path):
    """A second gateway before the same upstream: --workers 2, an admin token from the environment."""
    port, admin = free_port(), free_port()
    config = tmp_path / "workers.yaml"
    config.write_text(f"""\
listen: {{host: 127.0.0.1, port: {port}}}
admin: {{host: 127.0.0.1, port: {admin}}}
upstreams:
  app: {{url: "{world.upstream.url}"}}
routes:
  - {{name: api, path: /api/, upstream: app, cors: {{origins: ["{world.A}"], methods: [GET]}}}}
""")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gateway", "--log-level", "WARNING", "run", "-c", str(config), "--workers", "2"],
        cwd=ROOT, env={**os.environ, "CORS_GATEWAY_ADMIN_TOKEN": TOKEN}, stdout=subprocess.DEVNULL,
    )
    try:
        wait_for_port(port, proc)
        wait_for_port(admin, proc)
        yield f"http://localhost:{port}", f"http://127.0.0.1:{admin}"
    finally:
        stop_process(proc)


async def test_the_page_asks_for_the_token_and_shows_the_workers_rejections(world, context, workers_gateway):
    gateway_url, admin_url = workers_gateway
    for _ in range(4):  # separate pages: connections spread over both workers
        assert await fetch_from(context, world.A, gateway_url + "/api/echo", {"method": "DELETE"}) == \
            "TypeError: Failed to fetch"
    page = await context.new_page()
    await page.goto(admin_url + "/")
    await page.wait_for_selector("#token-form:not([hidden])")
    assert "needs its admin token" in await page.text_content("#status")
    assert await rows(page, "routes") == []
    await page.fill("#token", "a-wrong-token-0123456789abcdef")
    await page.click("#token-form button")
    await page.wait_for_function("() => document.getElementById('status').textContent.includes('refused')")
    await page.fill("#token", TOKEN)
    await page.click("#token-form button")
    routes = await wait_for_rows(page, "routes", lambda found: len(found) == 1 and found[0][1] == "api")
    assert routes[0][3:5] == [world.A, "GET"]
    assert await page.is_hidden("#token-form")
    groups = await wait_for_rows(page, "groups", lambda found: found and found[0][0] == "4")
    assert groups[0][1:4] == ["api", world.A, "method_not_allowed"]
    assert groups[0][5] == 'routes.0.cors.methods: add "DELETE"'
    assert "from 2 workers" in await page.text_content("#rejections-note")
    # The token lives in this tab's sessionStorage only.
    assert await page.evaluate("() => sessionStorage.getItem('cors-gateway-admin-token')") == TOKEN
    assert await page.evaluate("() => localStorage.length") == 0
    await page.close()
