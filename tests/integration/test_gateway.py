"""The real gateway in front of a real, unmodified Flask app: CORS and proxying."""

from __future__ import annotations

import asyncio
import gzip

import aiohttp
import pytest
from multidict import CIMultiDict

from .conftest import gateway_config

ALLOWED = "https://app.example.com"
EVIL = "https://evil.example"

ROUTES = """\
  - name: api
    path: /api/
    upstream: app
    cors:
      origins: ["https://app.example.com", "https://*.example.org"]
      methods: [GET, POST, PUT, DELETE]
      allow_headers: [Authorization, Content-Type]
      expose_headers: [X-Request-Id]
      supports_credentials: true
      max_age: 600
  - name: blocked
    path: /blocked/
    upstream: app
    cors:
      origins: ["https://app.example.com"]
      on_reject: block
  - name: public
    path: /public/
    upstream: app
    cors: {origins: "*", methods: [GET]}
"""


@pytest.fixture
async def gw(make_gateway, upstream):
    return await make_gateway(gateway_config(upstream.url, ROUTES, defaults="  cors: {origins: [\"https://app.example.com\"]}"))


def acx(response) -> dict[str, str]:
    """The response's Access-Control-* headers (each must appear once)."""
    found: dict[str, str] = {}
    for name, value in response.headers.items():
        if name.lower().startswith("access-control-"):
            assert name not in found, f"duplicate {name}"
            found[name] = value
    return found


async def scrape(gw) -> str:
    """The gateway's /metrics text, from its admin listener."""
    async with aiohttp.ClientSession() as admin:
        async with admin.get(f"http://127.0.0.1:{gw.admin_port}/metrics") as response:
            return await response.text()


def seen_paths(upstream) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in upstream.requests()]


def header(entry: dict, name: str) -> list[str]:
    return [v for k, v in entry["headers"] if k.lower() == name.lower()]


# -- preflight -----------------------------------------------------------------


async def test_preflight_allowed_is_answered_by_gateway(gw, http, recorded):
    async with http.options(
        gw.url + "/api/echo",
        headers={"Origin": ALLOWED, "Access-Control-Request-Method": "PUT",
                 "Access-Control-Request-Headers": "authorization,content-type"},
    ) as r:
        assert r.status == 204
        assert await r.read() == b""
        assert acx(r) == {
            "Access-Control-Allow-Origin": ALLOWED,
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE",
            "Access-Control-Allow-Headers": "Authorization, Content-Type",
            "Access-Control-Max-Age": "600",
        }
        assert r.headers.getall("Vary") == ["Origin, Access-Control-Request-Method, Access-Control-Request-Headers"]
    assert seen_paths(recorded) == []


@pytest.mark.parametrize(
    "origin, method, headers, reason",
    [
        (EVIL, "PUT", "", "origin_not_allowed"),
        ("https://app.example.com/", "PUT", "", "malformed_origin"),
        # "put" is not PUT, but older Chromium would take a list with PUT for it: no ok answer.
        (ALLOWED, "put", "", "method_not_allowed"),
    ],
)
async def test_preflight_rejected_is_403_without_cors_headers(gw, http, recorded, origin, method, headers, reason):
    request_headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        request_headers["Access-Control-Request-Headers"] = headers
    async with http.options(gw.url + "/api/echo", headers=request_headers) as r:
        assert r.status == 403
        assert acx(r) == {}
        body = await r.text()
        assert body == f"CORS preflight rejected: {reason}: " + body.split(": ", 2)[2]
        assert body.count("\n") == 1 and origin not in body
        assert r.headers["Vary"] == "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
    assert seen_paths(recorded) == []


@pytest.mark.parametrize(
    "method, headers, reason",
    [
        ("PATCH", "", "method_not_allowed"),
        ("PUT", "x-custom", "header_not_allowed"),
    ],
)
async def test_preflight_refused_for_method_or_header_names_the_cause(gw, http, recorded, method, headers, reason):
    """refused_preflight: name_cause (the default): 200 with the allowed origin and the route's lists, which
    leave out what was asked for, so the browser refuses and names it; never sent upstream."""
    request_headers = {"Origin": ALLOWED, "Access-Control-Request-Method": method}
    if headers:
        request_headers["Access-Control-Request-Headers"] = headers
    async with http.options(gw.url + "/api/echo", headers=request_headers) as r:
        assert r.status == 200
        assert acx(r) == {
            "Access-Control-Allow-Origin": ALLOWED, "Access-Control-Allow-Credentials": "true",
            "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE",
            "Access-Control-Allow-Headers": "Authorization, Content-Type",
        }  # no max-age: nothing of a refusal is worth caching
        body = await r.text()
        assert body == f"CORS preflight rejected: {reason}: " + body.split(": ", 2)[2]
        assert r.headers["Vary"] == "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"
    assert seen_paths(recorded) == []


async def test_plain_options_without_acrm_is_forwarded(gw, http, recorded):
    async with http.options(gw.url + "/api/echo", headers={"Origin": ALLOWED}) as r:
        assert r.status == 200
        assert acx(r)["Access-Control-Allow-Origin"] == ALLOWED  # judged by its origin only
    async with http.options(gw.url + "/blocked/echo", headers={"Origin": ALLOWED}) as r:
        assert r.status == 200  # forwarded even on a block route
    assert seen_paths(recorded) == [("OPTIONS", "/api/echo"), ("OPTIONS", "/blocked/echo")]


# -- actual requests --------------------------------------------------------------


async def test_allowed_actual_request_is_forwarded_and_decorated(gw, http, recorded):
    async with http.post(gw.url + "/api/echo?x=1&y=%20z", data=b"hello", headers={"Origin": ALLOWED}) as r:
        assert r.status == 200
        assert acx(r) == {
            "Access-Control-Allow-Origin": ALLOWED,
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Expose-Headers": "X-Request-Id",
        }
        assert r.headers.getall("Vary") == ["Origin"]
        body = await r.json()
        assert body["method"] == "POST" and body["body"] == "hello"
    [entry] = recorded.requests()
    assert (entry["method"], entry["path"], entry["query"]) == ("POST", "/api/echo", "x=1&y=%20z")
    assert header(entry, "Origin") == [ALLOWED]
    assert header(entry, "Host") == [f"127.0.0.1:{gw.port}"]
    assert header(entry, "X-Forwarded-Host") == [f"127.0.0.1:{gw.port}"]
    assert header(entry, "X-Forwarded-Proto") == ["http"]
    assert header(entry, "X-Forwarded-For") == ["127.0.0.1"]


async def test_subdomain_wildcard_origin_is_reflected(gw, http, recorded):
    async with http.get(gw.url + "/api/echo", headers={"Origin": "https://a.b.example.org"}) as r:
        assert acx(r)["Access-Control-Allow-Origin"] == "https://a.b.example.org"
    async with http.get(gw.url + "/api/echo", headers={"Origin": "https://badexample.org"}) as r:
        assert acx(r) == {}


async def test_rejected_origin_with_omit_is_forwarded_without_cors_headers(gw, http, recorded):
    async with http.get(gw.url + "/api/echo", headers={"Origin": EVIL}) as r:
        assert r.status == 200
        assert acx(r) == {}
        assert r.headers.getall("Vary") == ["Origin"]
    assert seen_paths(recorded) == [("GET", "/api/echo")]


async def test_rejected_method_on_actual_request_gets_no_cors_headers(gw, http, recorded):
    async with http.patch(gw.url + "/api/echo", headers={"Origin": ALLOWED}) as r:
        assert r.status == 200
        assert acx(r) == {}
        assert r.headers["Vary"] == "Origin"


async def test_rejected_origin_with_block_never_reaches_upstream(gw, http, recorded):
    async with http.post(
        gw.url + "/blocked/x", data=b"a=1", headers={"Origin": EVIL, "Content-Type": "application/x-www-form-urlencoded"}
    ) as r:
        assert r.status == 403
        assert acx(r) == {}
        assert r.headers["Vary"] == "Origin"
        assert await r.text() == (
            "CORS request rejected: origin_not_allowed: the request's Origin is not allowed on this route\n"
        )
    assert seen_paths(recorded) == []


async def test_duplicate_origin_lines_are_malformed(gw, http, recorded):
    headers = CIMultiDict([("Origin", ALLOWED), ("Origin", ALLOWED)])
    async with http.get(gw.url + "/blocked/x", headers=headers) as r:
        assert r.status == 403
        assert "malformed_origin" in await r.text()
    async with http.get(gw.url + "/api/echo", headers=headers) as r:
        assert r.status == 200
        assert acx(r) == {}
    assert seen_paths(recorded) == [("GET", "/api/echo")]


async def test_request_without_origin_gets_vary_but_no_cors_headers(gw, http, recorded):
    async with http.get(gw.url + "/api/echo") as r:
        assert r.status == 200
        assert acx(r) == {}
        assert r.headers.getall("Vary") == ["Origin"]


async def test_public_route_answers_star_to_every_origin_without_vary(gw, http, recorded):
    async with http.get(gw.url + "/public/echo", headers={"Origin": EVIL}) as r:
        assert acx(r) == {"Access-Control-Allow-Origin": "*"}
        assert "Vary" not in r.headers
    # Without Origin: no CORS headers, and Vary so a cache never serves this to a CORS request.
    async with http.get(gw.url + "/public/echo") as r:
        assert acx(r) == {}
        assert r.headers["Vary"] == "Origin"
    async with http.get(gw.url + "/public/echo", headers={"Origin": "null"}) as r:
        assert acx(r) == {}
        assert r.headers["Vary"] == "Origin"


async def test_upstream_vary_is_merged_without_duplicates(gw, http, recorded):
    async with http.get(gw.url + "/api/vary", headers={"Origin": ALLOWED}) as r:
        assert r.headers.getall("Vary") == ["Accept-Encoding, origin"]
    async with http.get(gw.url + "/public/vary", headers={"Origin": EVIL}) as r:  # allowed on a public route
        assert r.headers.getall("Vary") == ["Accept-Encoding, origin"]
        assert acx(r) == {"Access-Control-Allow-Origin": "*"}


async def test_upstream_cors_headers_are_stripped(gw, http, recorded):
    async with http.get(gw.url + "/api/with-own-cors", headers={"Origin": EVIL}) as r:
        assert acx(r) == {}
    async with http.get(gw.url + "/api/with-own-cors") as r:
        assert acx(r) == {}
    async with http.get(gw.url + "/api/with-own-cors", headers={"Origin": ALLOWED}) as r:
        assert acx(r) == {
            "Access-Control-Allow-Origin": ALLOWED,
            "Access-Control-Allow-Credentials": "true",
            "Access-Control-Expose-Headers": "X-Request-Id",
        }


async def test_flask_cors_upstream_gives_no_duplicate_headers(make_gateway, http, flask_cors_upstream):
    routes = """\
  - path: /api/
    upstream: app
    cors: {origins: ["https://app.example.com"], supports_credentials: true}
"""
    gw = await make_gateway(gateway_config(flask_cors_upstream.url, routes))
    async with http.get(gw.url + "/api/data", headers={"Origin": ALLOWED}) as r:
        assert r.status == 200
        assert acx(r) == {"Access-Control-Allow-Origin": ALLOWED, "Access-Control-Allow-Credentials": "true"}
        assert r.headers.getall("Vary") == ["Origin"]
    # flask-cors would have reflected this origin (wildcard + credentials); the gateway does not.
    async with http.get(gw.url + "/api/data", headers={"Origin": EVIL}) as r:
        assert acx(r) == {}


# -- errors made by the gateway -----------------------------------------------------


async def test_no_route_is_404_with_default_cors_headers(gw, http, recorded):
    async with http.get(gw.url + "/nowhere", headers={"Origin": ALLOWED}) as r:
        assert r.status == 404
        assert acx(r) == {"Access-Control-Allow-Origin": ALLOWED}
        assert r.headers["Vary"] == "Origin"
    async with http.get(gw.url + "/nowhere", headers={"Origin": EVIL}) as r:
        assert r.status == 404
        assert acx(r) == {}
    async with http.get(gw.url + "/API/echo", headers={"Origin": ALLOWED}) as r:  # paths are case-sensitive
        assert r.status == 404
    assert seen_paths(recorded) == []


async def test_no_route_with_defaults_mode_off_has_no_cors_headers(make_gateway, http, upstream):
    routes = '  - path: /api/\n    upstream: app\n    cors: {origins: ["https://app.example.com"], mode: enforce}\n'
    gw = await make_gateway(
        gateway_config(upstream.url, routes, defaults='  cors: {origins: ["https://app.example.com"], mode: off}')
    )
    async with http.options(
        gw.url + "/nowhere", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "PUT"}
    ) as r:
        assert r.status == 404
        assert acx(r) == {}


async def test_upstream_down_is_502_readable_by_allowed_origin(make_gateway, http):
    from .conftest import free_port

    routes = '  - path: /api/\n    upstream: app\n    cors: {origins: ["https://app.example.com"]}\n'
    port = free_port()
    gw = await make_gateway(gateway_config(f"http://127.0.0.1:{port}", routes))
    async with http.get(gw.url + "/api/x", headers={"Origin": ALLOWED}) as r:
        assert r.status == 502
        assert acx(r) == {"Access-Control-Allow-Origin": ALLOWED}
        assert r.headers["Vary"] == "Origin"
        assert await r.text() == f"upstream refused the connection: 127.0.0.1:{port}\n"
    async with http.get(gw.url + "/api/x", headers={"Origin": EVIL}) as r:
        assert r.status == 502
        assert acx(r) == {}
    text = await scrape(gw)
    assert 'cors_gateway_upstream_errors_total{kind="connect",upstream="app"} 2.0' in text


async def test_upstream_slow_is_504_readable_by_allowed_origin(gw, http, recorded):
    async with http.get(gw.url + "/api/slow?delay=3", headers={"Origin": ALLOWED}) as r:
        assert r.status == 504
        assert acx(r)["Access-Control-Allow-Origin"] == ALLOWED
        assert await r.text() == (
            f"upstream timed out: 127.0.0.1:{recorded.port} sent no response head within read_timeout (1.5 s)\n")


async def test_upstream_500_passes_through_with_cors_headers(gw, http, recorded):
    async with http.get(gw.url + "/api/error", headers={"Origin": ALLOWED}) as r:
        assert r.status == 500
        assert acx(r)["Access-Control-Allow-Origin"] == ALLOWED
        assert await r.json() == {"error": "boom"}


# -- proxying ------------------------------------------------------------------------


async def test_redirects_are_passed_back_not_followed(gw, http, recorded):
    async with http.get(gw.url + "/api/redirect", allow_redirects=False, headers={"Origin": ALLOWED}) as r:
        assert r.status == 302
        assert r.headers["Location"] == "/api/echo"
        assert acx(r)["Access-Control-Allow-Origin"] == ALLOWED
    assert seen_paths(recorded) == [("GET", "/api/redirect")]


async def test_content_encoding_passes_through_untouched(gw, http, recorded):
    async with http.get(gw.url + "/api/gzip", headers={"Accept-Encoding": "gzip"}) as r:
        assert r.headers["Content-Encoding"] == "gzip"
        assert gzip.decompress(await r.read()) == b'{"compressed": true}'


async def test_several_set_cookie_headers_survive(gw, http, recorded):
    async with http.get(gw.url + "/api/multi-cookie") as r:
        cookies = r.headers.getall("Set-Cookie")
        assert [c.split(";")[0] for c in cookies] == ["a=1", "b=2"]


async def test_hop_by_hop_headers_are_not_forwarded(gw, http, recorded):
    headers = {"Connection": "keep-alive, X-Hop", "X-Hop": "1", "TE": "trailers", "X-Kept": "2",
               "Proxy-Authorization": "Basic eA==", "Keep-Alive": "timeout=5"}
    async with http.get(gw.url + "/api/echo", headers=headers) as r:
        assert r.status == 200
    [entry] = recorded.requests()
    names = {k.lower() for k, _ in entry["headers"]}
    assert "x-kept" in names
    assert not names & {"x-hop", "te", "proxy-authorization", "keep-alive"}


SPOOFED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "bank.example"}


async def test_forwarding_headers_from_an_untrusted_client_are_replaced(gw, http, recorded):
    async with http.get(gw.url + "/api/echo", headers=SPOOFED) as r:
        assert r.status == 200
    [entry] = recorded.requests()
    assert header(entry, "X-Forwarded-For") == ["127.0.0.1"]
    assert header(entry, "X-Forwarded-Proto") == ["http"]
    assert header(entry, "X-Forwarded-Host") == [f"127.0.0.1:{gw.port}"]


@pytest.mark.parametrize("trusted", ["127.0.0.1", "127.0.0.0/8", "::ffff:127.0.0.1"])
async def test_forwarding_headers_from_a_trusted_proxy_are_kept_and_extended(make_gateway, http, recorded, trusted):
    config = gateway_config(recorded.url, ROUTES).replace(
        "listen: {host: 127.0.0.1, port: 0}", f'listen: {{host: 127.0.0.1, port: 0, trusted_proxies: ["{trusted}"]}}'
    )
    gw = await make_gateway(config)
    async with http.get(gw.url + "/api/echo", headers=SPOOFED) as r:
        assert r.status == 200
    [entry] = recorded.requests()
    assert header(entry, "X-Forwarded-For") == ["203.0.113.7, 127.0.0.1"]
    assert header(entry, "X-Forwarded-Proto") == ["https"]
    assert header(entry, "X-Forwarded-Host") == ["bank.example"]


async def test_a_trusted_proxy_chain_and_client_address_headers(make_gateway, http, recorded):
    headers = {"X-Forwarded-Proto": "https, http", "X-Real-IP": "203.0.113.9", "True-Client-IP": "203.0.113.9"}
    config = gateway_config(recorded.url, ROUTES).replace(
        "listen: {host: 127.0.0.1, port: 0}", 'listen: {host: 127.0.0.1, port: 0, trusted_proxies: ["127.0.0.1"]}'
    )
    trusted = await make_gateway(config)
    async with http.get(trusted.url + "/api/echo", headers=headers) as r:
        assert r.status == 200
    [entry] = recorded.requests()
    assert header(entry, "X-Forwarded-Proto") == ["https"]  # the leftmost, the client's own scheme
    assert header(entry, "X-Real-IP") == ["203.0.113.9"]  # a trusted proxy's, passed on
    recorded.clear()
    untrusted = await make_gateway(gateway_config(recorded.url, ROUTES))
    async with http.get(untrusted.url + "/api/echo", headers=headers) as r:
        assert r.status == 200
    [entry] = recorded.requests()
    assert header(entry, "X-Forwarded-Proto") == ["http"]
    assert header(entry, "X-Real-IP") == [] and header(entry, "True-Client-IP") == []  # a client's, dropped


async def test_a_trusted_list_that_does_not_hold_the_peer_changes_nothing(make_gateway, http, recorded):
    config = gateway_config(recorded.url, ROUTES).replace(
        "listen: {host: 127.0.0.1, port: 0}", 'listen: {host: 127.0.0.1, port: 0, trusted_proxies: ["10.0.0.0/8"]}'
    )
    gw = await make_gateway(config)
    async with http.get(gw.url + "/api/echo", headers=SPOOFED) as r:
        assert r.status == 200
    [entry] = recorded.requests()
    assert header(entry, "X-Forwarded-For") == ["127.0.0.1"]
    assert header(entry, "X-Forwarded-Proto") == ["http"]


async def test_streaming_upload_and_download(gw, http, recorded):
    size = 8 * 1024 * 1024 + 123

    async def body():
        sent = 0
        while sent < size:
            piece = b"y" * min(65536, size - sent)
            sent += len(piece)
            yield piece

    async with http.post(gw.url + "/api/upload", data=body()) as r:
        assert r.status == 200
        assert await r.json() == {"received": size}
    received = 0
    async with http.get(gw.url + f"/api/download?size={size}") as r:
        assert r.status == 200
        async for chunk in r.content.iter_chunked(65536):
            received += len(chunk)
    assert received == size


async def test_upstream_failing_mid_body_truncates_the_client_response(gw, http, recorded):
    with pytest.raises(aiohttp.ClientPayloadError):
        async with http.get(gw.url + "/api/broken-stream") as r:
            assert r.status == 200
            await r.read()
    async with http.get(gw.url + "/api/echo") as r:  # the gateway is still healthy
        assert r.status == 200


async def test_204_and_304_pass_through_without_body(gw, http, recorded):
    for code in (204, 304):
        async with http.get(gw.url + f"/api/status/{code}", headers={"Origin": ALLOWED}) as r:
            assert r.status == code
            assert acx(r)["Access-Control-Allow-Origin"] == ALLOWED
            assert await r.read() == b""


async def test_head_request(gw, http, recorded):
    async with http.head(gw.url + "/api/echo", headers={"Origin": ALLOWED}) as r:
        assert r.status == 200
        assert acx(r)["Access-Control-Allow-Origin"] == ALLOWED
        assert await r.read() == b""


# -- modes ------------------------------------------------------------------------------


async def test_mode_off_is_a_plain_proxy(make_gateway, http, flask_cors_upstream):
    routes = "  - path: /api/\n    upstream: app\n    cors: {origins: [\"https://app.example.com\"], mode: off}\n"
    gw = await make_gateway(gateway_config(flask_cors_upstream.url, routes))
    async with http.options(
        gw.url + "/api/data", headers={"Origin": EVIL, "Access-Control-Request-Method": "PUT"}
    ) as r:
        # flask-cors answered (and reflected the origin, as it does with credentials)
        assert r.status == 200
        assert r.headers["Access-Control-Allow-Origin"] == EVIL


async def test_shadow_mode_passes_upstream_cors_through_and_counts_disagreements(make_gateway, http, flask_cors_upstream):
    routes = """\
  - name: shadowed
    path: /api/
    upstream: app
    cors: {origins: ["https://app.example.com"], supports_credentials: true, mode: shadow}
"""
    gw = await make_gateway(gateway_config(flask_cors_upstream.url, routes))
    # Agreement: both allow the listed origin.
    async with http.get(gw.url + "/api/data", headers={"Origin": ALLOWED}) as r:
        assert r.headers["Access-Control-Allow-Origin"] == ALLOWED
    # Disagreement: flask-cors reflects any origin, the gateway would reject it.
    async with http.get(gw.url + "/api/data", headers={"Origin": EVIL}) as r:
        assert r.headers["Access-Control-Allow-Origin"] == EVIL
    async with http.options(
        gw.url + "/api/data", headers={"Origin": EVIL, "Access-Control-Request-Method": "PUT"}
    ) as r:
        assert r.status == 200  # forwarded to flask-cors, not answered by the gateway
        assert r.headers["Access-Control-Allow-Origin"] == EVIL
    text = await scrape(gw)
    assert 'cors_gateway_shadow_disagreements_total{kind="actual",route="shadowed"} 1.0' in text
    assert 'cors_gateway_shadow_disagreements_total{kind="preflight",route="shadowed"} 1.0' in text
    # Both allow this preflight with the same method list (flask-cors's default
    # list is the gateway's default plus OPTIONS, which is not compared): no new disagreement.
    async with http.options(
        gw.url + "/api/data", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "PUT"}
    ) as r:
        assert r.status == 200
    assert 'cors_gateway_shadow_disagreements_total{kind="preflight",route="shadowed"} 1.0' in await scrape(gw)


async def test_shadow_mode_counts_differing_method_lists(make_gateway, http, flask_cors_upstream):
    routes = """\
  - name: shadowed
    path: /api/
    upstream: app
    cors: {origins: ["https://app.example.com"], supports_credentials: true, methods: [GET, PUT], mode: shadow}
"""
    gw = await make_gateway(gateway_config(flask_cors_upstream.url, routes))
    # Both allow this PUT preflight, but flask-cors also allows PATCH and DELETE:
    # a page reusing the cached preflight for DELETE would see a different outcome.
    async with http.options(
        gw.url + "/api/data", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "PUT"}
    ) as r:
        assert r.status == 200
    assert 'cors_gateway_shadow_disagreements_total{kind="preflight",route="shadowed"} 1.0' in await scrape(gw)


# -- admin ------------------------------------------------------------------------------


async def test_admin_endpoints_live_on_admin_port_only(gw, http, recorded):
    admin = f"http://127.0.0.1:{gw.admin_port}"
    async with http.get(admin + "/healthz") as r:
        assert (r.status, await r.text()) == (200, "ok\n")
    async with http.get(admin + "/readyz") as r:
        assert (r.status, await r.text()) == (200, "ready\n")
    async with http.get(gw.url + "/api/echo", headers={"Origin": EVIL}) as r:
        assert r.status == 200
    # A proxied request is recorded just after its last byte is sent: the
    # client can scrape first, so look again for a moment.
    for _ in range(50):
        async with http.get(admin + "/metrics") as r:
            text = await r.text()
        if 'route="api"} 1.0' in text:
            break
        await asyncio.sleep(0.02)
    assert 'cors_gateway_requests_total{decision="rejected",kind="actual",route="api"} 1.0' in text
    assert 'cors_gateway_rejected_origins_total{origin="https://evil.example",reason="origin_not_allowed",route="api"} 1.0' in text
    async with http.get(gw.url + "/metrics") as r:
        assert r.status == 404


# -- the matched path is the forwarded path ---------------------------------------------


async def raw_request(port: int, request_line: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """Send one request exactly as written (clients would normalise the path)."""
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [request_line, "Host: 127.0.0.1", "Connection: close", *(f"{k}: {v}" for k, v in headers.items()), "", ""]
    writer.write("\r\n".join(lines).encode("latin-1"))
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    parsed = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        parsed[name.strip()] = value.strip()
    return int(status_line.split()[1]), parsed, body


@pytest.mark.parametrize(
    "path",
    ["/public/../blocked/echo", "/public/%2e%2e/blocked/echo", "/public%2f..%2fblocked/echo", "/public/..\\blocked/echo",
     "/public%5c..%5cblocked/echo", "/public/%E9", "/public/%C3", "/public/%0Aecho", "/public/%00", "/public/%7F",
     "/public/echo#x"],
)
async def test_paths_that_could_switch_route_are_refused(gw, recorded, path):
    status, headers, body = await raw_request(gw.port, f"GET {path} HTTP/1.1", {"Origin": ALLOWED})
    assert status == 400
    assert body == b"bad request path: dot-segments, backslashes, '#', control characters and invalid UTF-8 are refused\n"
    # Judged by defaults.cors like a 404, so the page can read the 400.
    assert headers["Access-Control-Allow-Origin"] == ALLOWED
    assert seen_paths(recorded) == []


async def test_routes_match_the_path_as_flask_reads_it_and_the_raw_path_is_forwarded(gw, recorded):
    # /%62locked/ is /blocked/ to Flask, so it must get /blocked/'s policy (403), not a 404 or another route's.
    status, _, _ = await raw_request(gw.port, "GET /%62locked/echo HTTP/1.1", {"Origin": EVIL})
    assert status == 403
    status, headers, _ = await raw_request(gw.port, "GET /api/%65cho?q=%2F HTTP/1.1", {"Origin": ALLOWED})
    assert status == 200
    assert headers["Access-Control-Allow-Origin"] == ALLOWED
    [entry] = recorded.requests()
    assert (entry["raw_uri"], entry["path"], entry["query"]) == ("/api/%65cho?q=%2F", "/api/echo", "q=%2F")


# -- protocol edges -----------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/drip?chunks=2&delay=0", "/api/status/204", "/api/status/304", "/api/echo"])
async def test_http_1_0_clients_get_close_delimited_bodies(gw, recorded, path):
    status, headers, body = await raw_request(gw.port, f"GET {path} HTTP/1.0", {"Origin": ALLOWED})
    assert status == int(path.rsplit("/", 1)[-1]) if "status" in path else status == 200
    assert headers["Access-Control-Allow-Origin"] == ALLOWED
    assert "Transfer-Encoding" not in headers
    if "drip" in path:
        assert body == b"".join(f"chunk-{i};".ljust(1024, ".").encode() for i in range(2))


async def test_expect_100_continue_is_answered_by_the_gateway(gw, recorded):
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(b"POST /api/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n"
                 b"Origin: " + ALLOWED.encode() + b"\r\nConnection: close\r\n\r\n")
    await writer.drain()
    interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=2)
    assert interim == b"HTTP/1.1 100 Continue\r\n\r\n"
    writer.write(b"hello")
    await writer.drain()
    final = await asyncio.wait_for(reader.read(), timeout=5)
    writer.close()
    assert final.startswith(b"HTTP/1.1 200 ")
    assert final.endswith(b'{"received":5}\n')
    [entry] = recorded.requests()
    assert header(entry, "Expect") == []


async def test_stalled_upload_is_cut_with_408_and_frees_the_upstream(gw, recorded):
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(b"POST /api/upload HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc")
    await writer.drain()
    # The route's upstream read_timeout (1.5 s) bounds each wait for the client's body too.
    answer = await asyncio.wait_for(reader.readuntil(b"stalled\n"), timeout=10)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert answer.endswith(b"the request body stalled\n")


async def test_client_abort_mid_download_is_not_an_upstream_error(gw, recorded):
    import asyncio

    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(b"GET /api/download?size=104857600 HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    await reader.readexactly(65536)
    writer.transport.abort()
    await asyncio.sleep(0.3)
    text = await scrape(gw)
    for kind in ("dns", "connect", "tls", "timeout", "reset", "protocol"):
        assert f'cors_gateway_upstream_errors_total{{kind="{kind}",upstream="app"}} 0.0' in text


async def test_upstream_response_headers_are_not_invented_or_leaked(gw, http, recorded):
    async with http.get(gw.url + "/api/untyped") as r:
        assert r.status == 200
        assert await r.read() == b"raw bytes"
        assert "Content-Type" not in r.headers  # no application/octet-stream invented
        assert "Proxy-Authenticate" not in r.headers  # Proxy-* is hop-by-hop


async def test_client_forwarded_header_is_not_passed_on(gw, http, recorded):
    async with http.get(gw.url + "/api/echo", headers={"Forwarded": "for=6.6.6.6"}) as r:
        assert r.status == 200
    [entry] = recorded.requests()
    assert header(entry, "Forwarded") == []
    assert header(entry, "X-Forwarded-For") == ["127.0.0.1"]


# -- X-Request-Id ------------------------------------------------------------------------------


async def test_request_id_is_forwarded_and_returned(gw, http, recorded):
    async with http.get(gw.url + "/api/vary", headers={"X-Request-Id": "client-id-1"}) as r:
        assert r.headers.getall("X-Request-Id") == ["client-id-1"]
    [entry] = recorded.requests()
    assert header(entry, "X-Request-Id") == ["client-id-1"]


async def test_request_id_of_the_upstream_wins_and_is_never_doubled(gw, http, recorded):
    async with http.get(gw.url + "/api/echo", headers={"X-Request-Id": "client-id-2"}) as r:
        assert r.headers.getall("X-Request-Id") == ["req-1"]  # the Flask app set its own


async def test_invalid_or_missing_request_id_is_replaced_by_a_generated_one(gw, http, recorded):
    import re

    async with http.get(gw.url + "/api/vary", headers={"X-Request-Id": "bad id\twith spaces"}) as r:
        generated = r.headers.getall("X-Request-Id")
    async with http.get(gw.url + "/api/vary") as r:
        generated += r.headers.getall("X-Request-Id")
    assert len(generated) == 2 and all(re.fullmatch(r"[0-9a-f]{16}", g) for g in generated)
    assert generated[0] != generated[1]
    assert [header(e, "X-Request-Id") for e in recorded.requests()] == [[generated[0]], [generated[1]]]


async def test_gateway_made_answers_carry_the_request_id(gw, http, recorded):
    async with http.options(
        gw.url + "/api/echo", headers={"Origin": ALLOWED, "Access-Control-Request-Method": "PUT", "X-Request-Id": "p-1"}
    ) as r:
        assert (r.status, r.headers["X-Request-Id"]) == (204, "p-1")
    async with http.get(gw.url + "/blocked/x", headers={"Origin": EVIL, "X-Request-Id": "b-1"}) as r:
        assert (r.status, r.headers["X-Request-Id"]) == (403, "b-1")
    async with http.get(gw.url + "/nowhere", headers={"X-Request-Id": "n-1"}) as r:
        assert (r.status, r.headers["X-Request-Id"]) == (404, "n-1")


async def test_client_gone_before_the_response_head_is_quiet(gw, recorded, caplog):
    import asyncio
    import logging

    caplog.set_level(logging.ERROR)
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(b"GET /api/slow?delay=0.5 HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    await asyncio.sleep(0.1)
    writer.transport.abort()  # gone while the upstream is still thinking
    await asyncio.sleep(1.0)
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []
    assert 'cors_gateway_responses_total{code="5xx",route="api"} 0.0' in await scrape(gw)


# -- the prebuilt preflight answer ------------------------------------------------------------


async def test_prebuilt_preflight_answer_matches_the_general_path(gw, recorded):
    """Keep-alive HTTP/1.1 preflights get the prebuilt bytes; the same answer as the general path."""
    import asyncio

    preflight = (b"OPTIONS /api/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: https://app.example.com\r\n"
                 b"Access-Control-Request-Method: PUT\r\nAccess-Control-Request-Headers: authorization\r\n")
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    heads = []
    for extra in (b"", b"X-Request-Id: abc-1\r\n", b"Connection: close\r\n"):  # the last takes the general path
        writer.write(preflight + extra + b"\r\n")
        await writer.drain()
        heads.append((await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)).decode("latin-1"))
    assert await asyncio.wait_for(reader.read(), 5) == b""  # no body bytes anywhere, then the close
    writer.close()

    def parse(head: str) -> tuple[str, dict[str, str]]:
        status, *lines = head.rstrip("\r\n").split("\r\n")
        fields = [line.split(": ", 1) for line in lines]
        assert len({name.lower() for name, _ in fields}) == len(fields)  # no header twice
        return status, dict(fields)

    (s1, h1), (s2, h2), (s3, h3) = map(parse, heads)
    assert s1 == s2 == s3 == "HTTP/1.1 204 No Content"
    assert h2["X-Request-Id"] == "abc-1"
    assert len(h1["X-Request-Id"]) == 16 and h1["X-Request-Id"] != h3["X-Request-Id"]
    for h in (h1, h2, h3):
        assert h["Date"].endswith(" GMT")
    assert h3.pop("Connection") == "close"
    strip = ("Date", "X-Request-Id")
    assert {k: v for k, v in h1.items() if k not in strip} == {k: v for k, v in h3.items() if k not in strip} == {
        "Server": "cors-gateway",
        "Access-Control-Allow-Origin": ALLOWED,
        "Access-Control-Allow-Credentials": "true",
        "Access-Control-Allow-Methods": "GET, POST, PUT, DELETE",
        "Access-Control-Allow-Headers": "Authorization, Content-Type",
        "Access-Control-Max-Age": "600",
        "Vary": "Origin, Access-Control-Request-Method, Access-Control-Request-Headers",
    }
    assert recorded.requests() == []  # preflights never reach the upstream


async def test_preflight_table_hits_have_their_own_series(gw, http):
    headers = {"Origin": ALLOWED, "Access-Control-Request-Method": "PUT"}
    for _ in range(3):
        async with http.options(gw.url + "/api/data", headers=headers) as r:
            assert r.status == 204
    text = await scrape(gw)
    assert "cors_gateway_preflight_cache_misses_total 1.0" in text
    assert "cors_gateway_preflight_cache_hits_total 2.0" in text
    # The first preflight's origin lookup is the decision cache's only use.
    assert "cors_gateway_decision_cache_misses_total 1.0" in text
    assert "cors_gateway_decision_cache_hits_total 0.0" in text
