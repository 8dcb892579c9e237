"""Rejections that explain themselves: the rejection log names what was refused
and the config key to change; a public route answering credentialed requests
is flagged once a minute."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from .conftest import gateway_config

APP = "https://app.example.com"
ROUTES = f"""\
  - {{name: api, path: /api/, upstream: app, cors: {{origins: ["{APP}"], methods: [GET, POST, PUT],
      allow_headers: [Content-Type]}}}}
  - {{name: public, path: /public/, upstream: app, cors: {{origins: "*"}}}}
"""


async def preflight(gw, path: str, method: str, headers: str | None = None, origin: str = APP) -> int:
    request_headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers is not None:
        request_headers["Access-Control-Request-Headers"] = headers
    async with aiohttp.ClientSession() as session:
        async with session.options(gw.url + path, headers=request_headers) as response:
            return response.status


def rejection_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "gateway.rejections"]


@pytest.mark.parametrize("method, headers, detail", [
    ("PUT", "x-api-key", 'header_not_allowed: requested header "x-api-key" not in routes.0.cors.allow_headers: '
                         "add it there"),
    ("PUT", "authorization,x-api-key,content-type",
     'header_not_allowed: requested headers "authorization", "x-api-key" not in routes.0.cors.allow_headers: '
     "add them there"),
    ("DELETE", None, 'method_not_allowed: method "DELETE" is not in routes.0.cors.methods: add it there'),
])
async def test_a_refused_preflight_names_the_header_or_method_and_the_key(make_gateway, recorded, caplog, method,
                                                                         headers, detail):
    caplog.set_level(logging.INFO, logger="gateway.rejections")
    gw = await make_gateway(gateway_config(recorded.url, ROUTES))
    # refused_preflight: name_cause: an ok answer the browser still refuses, naming the method or header
    assert await preflight(gw, "/api/echo", method, headers) == 200
    await gw.stop()  # the rejection log is written when the request is recorded
    (line,) = rejection_lines(caplog)
    assert line == f"rejected preflight OPTIONS on route api from origin {APP}: {detail}"


async def test_a_refused_origin_names_the_key(make_gateway, recorded, caplog):
    caplog.set_level(logging.INFO, logger="gateway.rejections")
    gw = await make_gateway(gateway_config(recorded.url, ROUTES))
    assert await preflight(gw, "/api/echo", "PUT", origin="https://evil.example") == 403
    await gw.stop()
    (line,) = rejection_lines(caplog)
    assert line == ("rejected preflight OPTIONS on route api from origin https://evil.example: origin_not_allowed: "
                    "the origin is not in routes.0.cors.origins: add it there if this site may call")


async def test_the_403_body_still_carries_no_request_input(make_gateway, recorded):
    gw = await make_gateway(gateway_config(recorded.url, ROUTES))
    async with aiohttp.ClientSession() as session:
        async with session.options(gw.url + "/api/echo", headers={
                "Origin": APP, "Access-Control-Request-Method": "PUT",
                "Access-Control-Request-Headers": "x-attacker-chosen"}) as response:
            assert response.status == 200  # name_cause
            assert await response.text() == ("CORS preflight rejected: header_not_allowed: a requested header is not "
                                             "allowed on this route\n")
            assert response.headers["Access-Control-Allow-Headers"] == "Content-Type"
            assert "x-attacker-chosen" not in str(response.headers).lower()


async def test_credentials_on_a_public_route_are_flagged_once_a_minute(make_gateway, recorded, caplog):
    caplog.set_level(logging.WARNING, logger="gateway")
    gw = await make_gateway(gateway_config(recorded.url, ROUTES))
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            async with session.get(gw.url + "/public/echo", headers={"Origin": APP, "Cookie": "session=1"}) as r:
                assert r.status == 200
                assert r.headers["Access-Control-Allow-Origin"] == "*"
        async with session.get(gw.url + "/public/echo", headers={"Origin": APP}) as r:  # no credentials: no warning
            assert r.status == 200
        # A bearer token set by script is no credential: "*" answers it, nothing to flag.
        async with session.get(gw.url + "/public/echo", headers={"Origin": APP, "Authorization": "Bearer t"}) as r:
            assert r.status == 200
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "is public" in r.getMessage()]
    assert warnings == [
        'route public is public (origins: "*", no credentials) but got a cross-origin request with a Cookie: a '
        "browser sending credentials refuses Access-Control-Allow-Origin: *, so the page gets a CORS error. "
        "List the allowed origins and set supports_credentials: true on this route"
    ]
