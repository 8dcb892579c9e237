"""``cors-gateway diagnose`` on the messages Chromium itself prints.

Pages on other origins make failing requests through the real gateway (or
around it) in headless Chromium; the console message Chromium prints is
captured from Playwright's ``console`` events and fed to the real command
(``diagnose -c`` with the gateway's own config), which must name the cause
and the config key.  Also shown here: with ``refused_preflight: name_cause``
(the default) Chromium's own message names the refused method or header;
with ``plain_403`` it does not.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest
import pytest_asyncio

from ..support import ROOT

pytestmark = pytest.mark.asyncio(loop_scope="session")

FETCH = """
async ({url, init}) => {
  try { const r = await fetch(url, init); await r.text(); return "ok " + r.status; }
  catch (e) { return `${e.name}: ${e.message}`; }
}
"""

XHR_READ_HEADER = """
({url, header}) => new Promise((resolve) => {
  const x = new XMLHttpRequest();
  x.open("GET", url);
  x.onload = () => resolve(String(x.getResponseHeader(header)));
  x.onerror = () => resolve("error");
  x.send();
})
"""


@pytest_asyncio.fixture(loop_scope="session")
async def page_on(context):
    """open(origin) -> (page, console messages of type error, as Chromium printed them)."""
    async def open_(origin: str):
        page = await context.new_page()
        messages: list[str] = []
        page.on("console", lambda message: messages.append(message.text) if message.type == "error" else None)
        await page.goto(origin + "/")
        return page, messages

    return open_


async def cors_message(messages: list[str], needle: str = "CORS policy") -> str:
    for _ in range(100):  # the console event can trail the failed promise
        found = [m for m in messages if needle in m]
        if found:
            return found[-1]
        await asyncio.sleep(0.05)
    raise AssertionError(f"Chromium printed no message with {needle!r}: {messages}")


def diagnose(world, message: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "gateway", "diagnose", "-c", world.config_path, "--json", "--gateway-url", world.GW,
         *args, message],
        cwd=ROOT, capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def fixes(found: dict) -> list[tuple[str, str]]:
    return [(fix["key"], fix["change"]) for fix in found["fixes"]]


async def test_disallowed_origin(world, page_on):
    page, messages = await page_on(world.B)
    assert await page.evaluate(FETCH, {"url": world.GW + "/api/echo", "init": {}}) == "TypeError: Failed to fetch"
    message = await cors_message(messages)
    assert "No 'Access-Control-Allow-Origin' header is present" in message
    found = diagnose(world, message)
    assert (found["route"], found["decision"], found["reason"]) == ("api", "rejected", "origin_not_allowed")
    assert fixes(found) == [("defaults.cors.origins", f'add "{world.B}"')]


async def test_header_not_allowed_is_named_by_chromium(world, page_on):
    page, messages = await page_on(world.A)
    init = {"method": "PUT", "headers": {"X-Secret-Token": "1"}}
    assert await page.evaluate(FETCH, {"url": world.GW + "/api/echo", "init": init}) == "TypeError: Failed to fetch"
    message = await cors_message(messages)
    assert "Request header field x-secret-token is not allowed by Access-Control-Allow-Headers in preflight " \
           "response." in message
    found = diagnose(world, message)
    assert (found["route"], found["reason"]) == ("api", "header_not_allowed")
    assert fixes(found) == [("defaults.cors.allow_headers", 'add "x-secret-token"')]


async def test_method_not_allowed_is_named_by_chromium(world, page_on):
    page, messages = await page_on(world.A)
    assert await page.evaluate(FETCH, {"url": world.GW + "/api/echo", "init": {"method": "PATCH"}}) == \
        "TypeError: Failed to fetch"
    message = await cors_message(messages)
    assert "Method PATCH is not allowed by Access-Control-Allow-Methods in preflight response." in message
    found = diagnose(world, message)
    assert (found["route"], found["reason"]) == ("api", "method_not_allowed")
    assert fixes(found) == [("defaults.cors.methods", 'add "PATCH"')]


async def test_plain_403_leaves_chromium_without_the_cause(world, page_on):
    page, messages = await page_on(world.A)
    assert await page.evaluate(FETCH, {"url": world.GW + "/plain/echo", "init": {"method": "PATCH"}}) == \
        "TypeError: Failed to fetch"
    message = await cors_message(messages)
    assert "Response to preflight request doesn't pass access control check: No 'Access-Control-Allow-Origin' " \
           "header is present" in message
    # Asked, the running gateway's record of that preflight settles it...
    found = diagnose(world, message)
    assert (found["route"], found["reason"]) == ("plain", "method_not_allowed")
    assert fixes(found) == [("defaults.cors.methods", 'add "PATCH"')]
    # ... and without it the causes that remain are listed.
    offline = diagnose(world, message, "--offline")
    assert offline["route"] == "plain" and offline["reason"] == "answered_elsewhere"
    assert any("routes.15.cors.refused_preflight: plain_403" in item for item in offline["possible"])


async def test_credentials_to_a_public_route(world, page_on):
    page, messages = await page_on(world.A)
    init = {"credentials": "include"}
    assert await page.evaluate(FETCH, {"url": world.GW + "/public/echo", "init": init}) == "TypeError: Failed to fetch"
    message = await cors_message(messages)
    assert "must not be the wildcard '*' when the request's credentials mode is 'include'" in message
    found = diagnose(world, message)
    assert (found["route"], found["decision"], found["reason"]) == ("public", "allowed", "credentials_on_public_route")
    assert fixes(found) == [("routes.4.cors.origins", 'list the allowed origins instead of "*"'),
                            ("routes.4.cors.supports_credentials", "set to true")]


async def test_credentials_to_a_route_without_them(world, page_on):
    page, messages = await page_on(world.A)
    init = {"credentials": "include"}
    assert await page.evaluate(FETCH, {"url": world.GW + "/api/echo", "init": init}) == "TypeError: Failed to fetch"
    message = await cors_message(messages)
    assert "'Access-Control-Allow-Credentials' header in the response is '' which must be 'true'" in message
    found = diagnose(world, message)
    assert (found["route"], found["reason"]) == ("api", "credentials_not_enabled")
    assert fixes(found) == [("routes.0.cors.supports_credentials", "set to true")]


async def test_a_header_read_that_is_not_exposed(world, page_on):
    page, messages = await page_on(world.A)
    read = await page.evaluate(XHR_READ_HEADER, {"url": world.GW + "/api/echo", "header": "X-Secret"})
    assert read == "null"
    message = await cors_message(messages, "Refused to get unsafe header")
    assert message == 'Refused to get unsafe header "X-Secret"'
    found = diagnose(world, message, "--url", world.GW + "/api/echo", "--origin", world.A)
    assert (found["route"], found["reason"]) == ("api", "header_not_exposed")
    assert fixes(found) == [("defaults.cors.expose_headers", 'add "X-Secret"')]


async def test_the_upstream_redirects_to_another_origin(world, page_on):
    page, messages = await page_on(world.A)
    away = world.upstream.url + "/api/echo"
    url = world.GW + "/api/redirect-away?to=" + away
    assert await page.evaluate(FETCH, {"url": url, "init": {}}) == "TypeError: Failed to fetch"
    message = await cors_message(messages)
    assert f"(redirected from '{url}')" in message
    found = diagnose(world, message)
    assert found["reason"] == "redirected_elsewhere"
    assert found["url"] == away


async def test_the_page_calls_the_app_directly(world, page_on):
    page, messages = await page_on(world.A)
    direct = world.upstream.url + "/api/echo"
    assert await page.evaluate(FETCH, {"url": direct, "init": {}}) == "TypeError: Failed to fetch"
    message = await cors_message(messages)
    found = diagnose(world, message)
    assert found["reason"] == "not_through_gateway"
    assert found["url"] == direct
