"""Same-origin requests through the gateway: never refused by ``block`` or ``csrf``,
no Access-Control-* headers, counted as ``same_origin``.

Browsers send Origin on same-origin POST/PUT/DELETE (fetch on every non-GET),
so the app's own pages, served through the gateway, post with the gateway's
own origin, which nobody lists in ``origins``.
"""

from __future__ import annotations

import aiohttp
import pytest

from .conftest import gateway_config

ROUTES = """\
  - {name: blocked, path: /blocked/, upstream: app, cors: {origins: ["https://app.example.com"], on_reject: block}}
  - {name: csrf, path: /api/, upstream: app, csrf: sec-fetch-site, cors: {origins: ["https://app.example.com"]}}
"""


async def post(gw, path: str, headers: dict[str, str]) -> tuple[int, dict[str, str], str]:
    async with aiohttp.ClientSession() as session:
        async with session.post(gw.url + path, data="x=1", headers=headers) as response:
            return response.status, dict(response.headers), await response.text()


async def scrape(gw) -> str:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{gw.admin_port}/metrics") as response:
            return await response.text()


def cors_headers(headers: dict[str, str]) -> list[str]:
    return sorted(name for name in headers if name.lower().startswith("access-control-"))


@pytest.mark.parametrize("path", ["/blocked/echo", "/api/echo"])
async def test_own_origin_without_sec_fetch_site_passes(make_gateway, recorded, path):
    gw = await make_gateway(gateway_config(recorded.url, ROUTES))
    # aiohttp sends "Host: 127.0.0.1:PORT": the page's origin is the gateway's own.
    status, headers, _ = await post(gw, path, {"Origin": gw.url})
    assert status == 200
    assert cors_headers(headers) == []
    # Everything the same-origin judgement read: a shared cache must not serve
    # this header-less answer to a cross-origin page with the same Origin.
    assert headers["Vary"] == "Origin, Sec-Fetch-Site, X-Forwarded-Host, X-Forwarded-Proto"
    assert len(recorded.requests()) == 1
    route = {"/blocked/echo": "blocked", "/api/echo": "csrf"}[path]
    assert f'cors_gateway_requests_total{{decision="same_origin",kind="actual",route="{route}"}} 1.0' in await scrape(gw)


@pytest.mark.parametrize("path", ["/blocked/echo", "/api/echo"])
async def test_sec_fetch_site_same_origin_passes(make_gateway, recorded, path):
    gw = await make_gateway(gateway_config(recorded.url, ROUTES))
    # Behind a TLS-terminating proxy that is not trusted, the browser's origin
    # (https://...) differs from what the gateway sees; Sec-Fetch-Site tells.
    status, headers, _ = await post(gw, path, {"Origin": "https://admin.internal.example",
                                               "Sec-Fetch-Site": "same-origin"})
    assert status == 200
    assert cors_headers(headers) == []
    assert len(recorded.requests()) == 1


@pytest.mark.parametrize("path, body", [
    ("/blocked/echo", "CORS request rejected: origin_not_allowed: the request's Origin is not allowed on this route\n"),
    ("/api/echo", "cross-site request refused: unsafe method from an origin this route does not allow (csrf)\n"),
])
@pytest.mark.parametrize("headers", [
    {"Origin": "https://evil.example"},  # cross-site, no Sec-Fetch-Site
    {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    {"Origin": "https://other.example.com", "Sec-Fetch-Site": "same-site"},  # same-site is not same-origin
    {"Origin": "__GW__", "Sec-Fetch-Site": "cross-site"},  # the browser's word wins over a matching Origin
], ids=["no-sec-fetch-site", "cross-site", "same-site", "cross-site-own-origin"])
async def test_cross_site_from_disallowed_origins_is_still_refused(make_gateway, recorded, path, body, headers):
    gw = await make_gateway(gateway_config(recorded.url, ROUTES))
    headers = {name: gw.url if value == "__GW__" else value for name, value in headers.items()}
    status, answer_headers, text = await post(gw, path, headers)
    assert (status, text) == (403, body)
    assert cors_headers(answer_headers) == []
    assert recorded.requests() == []


async def test_two_sec_fetch_site_lines_are_not_same_origin(make_gateway, recorded):
    gw = await make_gateway(gateway_config(recorded.url, ROUTES))
    async with aiohttp.ClientSession() as session:
        async with session.post(gw.url + "/blocked/echo", data="x", headers=[
                ("Origin", "https://evil.example"), ("Sec-Fetch-Site", "same-origin"),
                ("Sec-Fetch-Site", "cross-site")]) as response:
            assert response.status == 403
    assert recorded.requests() == []


async def test_default_port_and_case_of_the_host_are_normalised(make_gateway, recorded):
    gw = await make_gateway(gateway_config(recorded.url, ROUTES))
    status, _, _ = await post(gw, "/blocked/echo", {"Host": "GW.Example:80", "Origin": "http://gw.example"})
    assert status == 200
    status, _, _ = await post(gw, "/blocked/echo", {"Host": "gw.example:8080", "Origin": "http://gw.example"})
    assert status == 403  # another port is another origin


@pytest.mark.parametrize("trusted, status", [(True, 200), (False, 403)])
async def test_behind_a_trusted_proxy_its_forwarded_scheme_and_host_count(make_gateway, recorded, trusted, status):
    extra = 'listen: {host: 127.0.0.1, port: 0, trusted_proxies: ["127.0.0.1"]}\n' if trusted else ""
    config = gateway_config(recorded.url, ROUTES)
    if trusted:
        config = config.replace("listen: {host: 127.0.0.1, port: 0}\n", extra)
    gw = await make_gateway(config)
    got, _, _ = await post(gw, "/blocked/echo", {"Origin": "https://shop.example.com",
                                                 "X-Forwarded-Proto": "https", "X-Forwarded-Host": "shop.example.com"})
    assert got == status


async def test_a_preflight_is_never_taken_for_same_origin(make_gateway, recorded):
    gw = await make_gateway(gateway_config(recorded.url, ROUTES))
    async with aiohttp.ClientSession() as session:
        async with session.options(gw.url + "/blocked/echo", headers={
            "Origin": gw.url, "Access-Control-Request-Method": "PUT", "Sec-Fetch-Site": "same-origin"}) as response:
            assert response.status == 403
