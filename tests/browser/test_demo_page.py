"""The demo page in Chromium: each button shows the request, whether a preflight
was needed, the status, the headers the page could read, and for the refused
call the gateway's one-line reason and the config key (from the demo's own
server, since the browser hides the answer)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import pytest_asyncio

from ..support import ROOT, free_port, stop_process, wait_for_port

pytestmark = pytest.mark.asyncio(loop_scope="session")


@pytest.fixture(scope="module")
def demo():
    ports = {name: free_port() for name in ("port", "admin-port", "upstream-port", "frontend-port")}
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "demo", *(f"--{k}={v}" for k, v in ports.items())],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_port(ports["port"], proc)
        wait_for_port(ports["frontend-port"], proc)
        yield ports
    finally:
        stop_process(proc)


@pytest_asyncio.fixture(loop_scope="session")
async def page(context, demo):
    page = await context.new_page()
    await page.goto(f"http://localhost:{demo['frontend-port']}/")
    return page


async def click(page, button: str) -> str:
    await page.click(f"#{button}")
    await page.wait_for_function("() => document.getElementById('out').textContent.startsWith('request:')")
    await page.wait_for_function("() => !document.getElementById('out').textContent.endsWith('request:')")
    return await page.text_content("#out")


async def test_allowed_call_shows_status_and_readable_headers(page, demo):
    text = await click(page, "allowed")
    lines = text.splitlines()
    assert lines[0] == (f"request:   GET http://localhost:{demo['port']}/api/hello  "
                        f"(Origin: http://localhost:{demo['frontend-port']})")
    assert lines[1] == "preflight: no: a simple request (safelisted method and headers)"
    assert lines[2] == "status:    200 OK"
    assert "  x-request-id: demo-1" in lines  # exposed by the route
    assert "  content-type: application/json" in lines
    assert not any(line.startswith("  server:") for line in lines)  # not exposed: the page cannot read it


async def test_preflighted_call_says_why_it_was_preflighted(page):
    text = await click(page, "preflighted")
    assert "preflight: yes: PUT is not a CORS-safelisted method" in text.splitlines()
    assert "status:    200 OK" in text.splitlines()


async def test_refused_call_shows_the_gateways_reason_and_the_key(page):
    text = await click(page, "rejected")
    lines = text.splitlines()
    assert lines[2] == ("status:    blocked by the browser (TypeError: Failed to fetch); the page cannot read the "
                        "answer")
    assert lines[3] == ("gateway:   403 CORS request rejected: origin_not_allowed: the request's Origin is not allowed "
                        "on this route")
    assert lines[4] == "route:     admin (routes.1)"
    assert lines[5] == "why:       the origin is not in routes.1.cors.origins: add it there if this site may call"
