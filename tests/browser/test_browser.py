"""What Chromium actually allows through the gateway, and what the upstream saw.

Every test runs real fetch()/XMLHttpRequest calls from a page on some origin
to the gateway (started by the CLI), and asserts both the browser-visible
outcome (status, body, readable headers, or the TypeError of a CORS failure)
and the requests the unmodified Flask upstream received.
"""

from __future__ import annotations

import pytest
import pytest_asyncio

# The browser lives for the whole session, in the session's event loop.
pytestmark = pytest.mark.asyncio(loop_scope="session")

FETCH = """
async ({url, init, read}) => {
  try {
    const r = await fetch(url, init);
    const body = await r.text();
    const headers = {};
    for (const name of read) headers[name] = r.headers.get(name);
    return {ok: true, status: r.status, body, headers, redirected: r.redirected, url: r.url};
  } catch (e) {
    return {ok: false, error: `${e.name}: ${e.message}`};
  }
}
"""

XHR = """
({url, method}) => new Promise((resolve) => {
  const x = new XMLHttpRequest();
  x.open(method, url);
  x.onload = () => resolve({ok: true, status: x.status, body: x.responseText});
  x.onerror = () => resolve({ok: false, error: "XMLHttpRequest network error"});
  x.send();
})
"""

READER = """
async ({url}) => {
  const r = await fetch(url);
  const reader = r.body.getReader();
  const t0 = performance.now();
  const times = [];
  let total = 0, text = "";
  const decoder = new TextDecoder();
  for (;;) {
    const {done, value} = await reader.read();
    if (done) break;
    total += value.length;
    text += decoder.decode(value, {stream: true});
    times.push(performance.now() - t0);
  }
  return {status: r.status, total, reads: times.length, first: times[0], last: times[times.length - 1], text};
}
"""

CORS_FAILURE = "TypeError: Failed to fetch"


@pytest_asyncio.fixture(loop_scope="session")
async def open_page(context):
    async def open_(origin: str):
        page = await context.new_page()
        await page.goto(origin + "/")
        assert await page.evaluate("() => location.origin") == origin
        return page

    return open_


async def call(page, url: str, read=("X-Request-Id", "X-Secret", "Content-Type"), **init) -> dict:
    return await page.evaluate(FETCH, {"url": url, "init": init, "read": list(read)})


def seen(upstream) -> list[tuple[str, str]]:
    return [(r["method"], r["path"]) for r in upstream.requests()]


def seen_header(upstream, index: int, name: str) -> str | None:
    for key, value in upstream.requests()[index]["headers"]:
        if key.lower() == name.lower():
            return value
    return None


JSON = {"Content-Type": "application/json"}


# -- origins ------------------------------------------------------------------------------


async def test_allowed_origin_simple_get(world, open_page, upstream_seen):
    result = await call(await open_page(world.A), world.GW + "/api/echo")
    assert result["ok"] and result["status"] == 200
    assert '"method":"GET"' in result["body"]
    assert seen(upstream_seen) == [("GET", "/api/echo")]
    assert seen_header(upstream_seen, 0, "Origin") == world.A


async def test_other_port_is_another_origin_and_is_refused(world, open_page, upstream_seen):
    result = await call(await open_page(world.B), world.GW + "/api/echo")
    assert result == {"ok": False, "error": CORS_FAILURE}
    # A simple GET is sent without preflight: CORS hides the answer, it does not stop the request.
    assert seen(upstream_seen) == [("GET", "/api/echo")]


async def test_ip_host_name_is_another_origin_and_is_refused(world, open_page, upstream_seen):
    result = await call(await open_page(world.IP_A), world.GW + "/api/echo")
    assert result == {"ok": False, "error": CORS_FAILURE}
    assert seen_header(upstream_seen, 0, "Origin") == world.IP_A


async def test_xhr_allowed_and_refused(world, open_page, upstream_seen):
    ok = await (await open_page(world.A)).evaluate(XHR, {"url": world.GW + "/api/echo", "method": "GET"})
    assert ok["ok"] and ok["status"] == 200
    refused = await (await open_page(world.B)).evaluate(XHR, {"url": world.GW + "/api/echo", "method": "GET"})
    assert refused == {"ok": False, "error": "XMLHttpRequest network error"}
    assert seen(upstream_seen) == [("GET", "/api/echo"), ("GET", "/api/echo")]


# -- methods and preflights -------------------------------------------------------------------


async def test_post_json_is_preflighted_and_allowed(world, open_page, upstream_seen):
    result = await call(await open_page(world.A), world.GW + "/api/echo", method="POST", headers=JSON, body='{"a": 1}')
    assert result["ok"] and result["status"] == 200
    assert '"body":"{\\"a\\": 1}"' in result["body"]
    # The preflight was answered by the gateway: the upstream saw only the POST.
    assert seen(upstream_seen) == [("POST", "/api/echo")]


async def test_post_json_from_refused_origin_never_reaches_upstream(world, open_page, upstream_seen):
    result = await call(await open_page(world.B), world.GW + "/api/echo", method="POST", headers=JSON, body="{}")
    assert result == {"ok": False, "error": CORS_FAILURE}
    assert seen(upstream_seen) == []


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_listed_methods_are_allowed(world, open_page, upstream_seen, method):
    result = await call(await open_page(world.A), world.GW + "/api/echo", method=method)
    assert result["ok"] and result["status"] == 200
    assert f'"method":"{method}"' in result["body"]
    assert seen(upstream_seen) == [(method, "/api/echo")]


async def test_unlisted_method_fails_its_preflight(world, open_page, upstream_seen):
    result = await call(await open_page(world.A), world.GW + "/api/echo", method="PATCH")
    assert result == {"ok": False, "error": CORS_FAILURE}
    assert seen(upstream_seen) == []


async def test_lowercase_patch_is_not_patch(world, open_page, upstream_seen):
    # fetch() upper-cases only DELETE/GET/HEAD/OPTIONS/POST/PUT; "patch" stays lowercase.
    result = await call(await open_page(world.A), world.GW + "/anyhdr/echo", method="patch")
    assert result == {"ok": False, "error": CORS_FAILURE}
    assert seen(upstream_seen) == []


# -- request headers --------------------------------------------------------------------------


async def test_listed_custom_header_is_allowed(world, open_page, upstream_seen):
    result = await call(await open_page(world.A), world.GW + "/api/echo", headers={"X-Custom": "42"})
    assert result["ok"] and result["status"] == 200
    assert seen_header(upstream_seen, 0, "X-Custom") == "42"


async def test_unlisted_custom_header_fails_its_preflight(world, open_page, upstream_seen):
    result = await call(await open_page(world.A), world.GW + "/api/echo", headers={"X-Other": "1"})
    assert result == {"ok": False, "error": CORS_FAILURE}
    assert seen(upstream_seen) == []


async def test_authorization_not_listed_is_refused(world, open_page, upstream_seen):
    result = await call(await open_page(world.A), world.GW + "/api/echo", headers={"Authorization": "Bearer t"})
    assert result == {"ok": False, "error": CORS_FAILURE}
    assert seen(upstream_seen) == []


async def test_authorization_listed_with_credentials(world, open_page, upstream_seen):
    result = await call(await open_page(world.A), world.GW + "/creds/echo", headers={"Authorization": "Bearer t"},
                  credentials="include")
    assert result["ok"] and result["status"] == 200
    assert seen_header(upstream_seen, 0, "Authorization") == "Bearer t"


async def test_allow_headers_star_still_lets_authorization_through(world, open_page, upstream_seen):
    # A literal "*" would not cover Authorization (Fetch); the gateway echoes the names instead.
    result = await call(await open_page(world.A), world.GW + "/anyhdr/echo", headers={"Authorization": "Bearer t", "X-Any": "1"})
    assert result["ok"] and result["status"] == 200
    assert seen_header(upstream_seen, 0, "Authorization") == "Bearer t"
    assert seen_header(upstream_seen, 0, "X-Any") == "1"


async def test_allow_headers_star_with_credentials_and_authorization(world, open_page, upstream_seen):
    result = await call(await open_page(world.A), world.GW + "/credsany/echo", headers={"Authorization": "Bearer t"},
                  credentials="include")
    assert result["ok"] and result["status"] == 200
    assert seen_header(upstream_seen, 0, "Authorization") == "Bearer t"


# -- credentials and cookies ---------------------------------------------------------------------


async def test_cookie_set_by_upstream_is_sent_back_with_credentials(world, open_page, upstream_seen):
    page = await open_page(world.A)
    first = await call(page, world.GW + "/creds/set-cookie", credentials="include")
    assert first["ok"] and first["status"] == 200
    second = await call(page, world.GW + "/creds/whoami", credentials="include")
    assert second["ok"] and second["body"].strip() == '{"session":"s3cret"}'
    assert seen(upstream_seen) == [("GET", "/creds/set-cookie"), ("GET", "/creds/whoami")]
    assert seen_header(upstream_seen, 1, "Cookie") == "session=s3cret"


async def test_credentials_refused_on_a_route_without_credentials(world, open_page, upstream_seen):
    result = await call(await open_page(world.A), world.GW + "/api/echo", credentials="include")
    assert result == {"ok": False, "error": CORS_FAILURE}  # no Access-Control-Allow-Credentials
    assert seen(upstream_seen) == [("GET", "/api/echo")]


async def test_credentials_with_wildcard_route_are_refused_by_the_browser(world, open_page, upstream_seen):
    result = await call(await open_page(world.B), world.GW + "/public/echo", credentials="include")
    assert result == {"ok": False, "error": CORS_FAILURE}  # "*" is never valid with credentials
    assert seen(upstream_seen) == [("GET", "/public/echo")]


async def test_wildcard_route_without_credentials_allows_any_origin(world, open_page, upstream_seen):
    result = await call(await open_page(world.B), world.GW + "/public/echo", method="PUT")
    assert result["ok"] and result["status"] == 200
    assert seen(upstream_seen) == [("PUT", "/public/echo")]


# -- response headers -------------------------------------------------------------------------------


async def test_exposed_header_is_readable_and_unexposed_is_not(world, open_page, upstream_seen):
    result = await call(await open_page(world.A), world.GW + "/api/echo")
    assert result["headers"] == {"X-Request-Id": "req-1", "X-Secret": None, "Content-Type": "application/json"}


# -- wildcard and regex origins --------------------------------------------------------------------


@pytest.mark.parametrize("who, allowed", [("SUB", True), ("SUB2", True), ("A", False), ("B", False)])
async def test_subdomain_wildcard_origin(world, open_page, upstream_seen, who, allowed):
    result = await call(await open_page(getattr(world, who)), world.GW + "/wild/echo", method="PUT")
    if allowed:
        assert result["ok"] and result["status"] == 200
        assert seen(upstream_seen) == [("PUT", "/wild/echo")]
    else:
        assert result == {"ok": False, "error": CORS_FAILURE}
        assert seen(upstream_seen) == []


@pytest.mark.parametrize("who, allowed", [("SUB", True), ("SUB2", False)])
async def test_regex_origin(world, open_page, upstream_seen, who, allowed):
    result = await call(await open_page(getattr(world, who)), world.GW + "/regex/echo", method="DELETE")
    if allowed:
        assert result["ok"] and result["status"] == 200
        assert seen(upstream_seen) == [("DELETE", "/regex/echo")]
    else:
        assert result == {"ok": False, "error": CORS_FAILURE}
        assert seen(upstream_seen) == []


# -- errors are readable ------------------------------------------------------------------------------


async def test_upstream_500_is_readable(world, open_page, upstream_seen):
    result = await call(await open_page(world.A), world.GW + "/api/error")
    assert result["ok"] and result["status"] == 500
    assert result["body"].strip() == '{"error":"boom"}'
    assert seen(upstream_seen) == [("GET", "/api/error")]


async def test_gateway_502_is_readable(world, open_page, upstream_seen):
    result = await call(await open_page(world.A), world.GW + "/down/anything")
    assert result["ok"] and result["status"] == 502
    assert result["body"].startswith("upstream refused the connection: 127.0.0.1:")  # the dead port
    assert seen(upstream_seen) == []


async def test_gateway_504_is_readable(world, open_page, upstream_seen):
    result = await call(await open_page(world.A), world.GW + "/timeout/slow?delay=3")
    assert result["ok"] and result["status"] == 504
    assert result["body"] == (f"upstream timed out: 127.0.0.1:{world.upstream.port} sent no response head "
                              "within read_timeout (1 s)\n")
    assert seen(upstream_seen) == [("GET", "/timeout/slow")]


async def test_gateway_404_is_readable(world, open_page, upstream_seen):
    result = await call(await open_page(world.A), world.GW + "/nowhere")
    assert result["ok"] and result["status"] == 404
    assert seen(upstream_seen) == []


# -- an upstream that still runs flask-cors -------------------------------------------------------------


async def test_flask_cors_upstream_has_no_duplicate_header_failure(world, open_page):
    result = await call(await open_page(world.A), world.GW + "/fc/data", method="PUT", credentials="include")
    assert result["ok"] and result["status"] == 200
    assert result["body"].strip() == '{"source":"flask-cors app"}'


async def test_flask_cors_upstream_no_longer_reflects_any_origin(world, open_page):
    # flask-cors with supports_credentials reflects every origin; the gateway strips that.
    result = await call(await open_page(world.B), world.GW + "/fc/data", credentials="include")
    assert result == {"ok": False, "error": CORS_FAILURE}


# -- preflight cache --------------------------------------------------------------------------------------


async def test_max_age_preflight_cache_is_honoured(world, open_page, upstream_seen):
    page = await open_page(world.A)
    before = world.metric("cors_gateway_requests_total", route="cached", kind="preflight", decision="allowed")
    for _ in range(2):
        result = await call(page, world.GW + "/cached/echo", method="PUT")
        assert result["ok"] and result["status"] == 200
    after = world.metric("cors_gateway_requests_total", route="cached", kind="preflight", decision="allowed")
    assert after - before == 1  # the second PUT reused the cached preflight
    assert seen(upstream_seen) == [("PUT", "/cached/echo"), ("PUT", "/cached/echo")]


async def test_max_age_zero_preflights_every_time(world, open_page, upstream_seen):
    page = await open_page(world.A)
    before = world.metric("cors_gateway_requests_total", route="nocache", kind="preflight", decision="allowed")
    for _ in range(2):
        assert (await call(page, world.GW + "/nocache/echo", method="PUT"))["status"] == 200
    after = world.metric("cors_gateway_requests_total", route="nocache", kind="preflight", decision="allowed")
    assert after - before == 2


# -- on_reject ---------------------------------------------------------------------------------------------


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


async def test_block_keeps_a_refused_simple_post_from_the_upstream(world, open_page, upstream_seen):
    result = await call(await open_page(world.B), world.GW + "/blocked/echo", method="POST", headers=FORM, body="a=1")
    assert result == {"ok": False, "error": CORS_FAILURE}
    assert seen(upstream_seen) == []


async def test_omit_lets_a_refused_simple_post_reach_the_upstream(world, open_page, upstream_seen):
    # The side effect CORS itself never prevents: why on_reject: block exists.
    result = await call(await open_page(world.B), world.GW + "/api/echo", method="POST", headers=FORM, body="a=1")
    assert result == {"ok": False, "error": CORS_FAILURE}
    assert seen(upstream_seen) == [("POST", "/api/echo")]


async def test_block_allows_the_listed_origin(world, open_page, upstream_seen):
    result = await call(await open_page(world.A), world.GW + "/blocked/echo", method="POST", headers=FORM, body="a=1")
    assert result["ok"] and result["status"] == 200
    assert seen(upstream_seen) == [("POST", "/blocked/echo")]


async def test_the_gateways_own_pages_may_post_to_a_block_route(world, open_page, upstream_seen):
    """A page served through the gateway posts with the gateway's own Origin
    (and Sec-Fetch-Site: same-origin), which no route lists: same-origin is
    never refused, and gets no CORS headers (none are needed)."""
    page = await open_page(world.GW)  # the gateway's 404 page: what matters is its origin
    result = await call(page, world.GW + "/blocked/echo", method="POST", headers=FORM, body="a=1",
                        read=("Access-Control-Allow-Origin", "Vary"))
    assert result["ok"] and result["status"] == 200
    assert result["headers"] == {"Access-Control-Allow-Origin": None, "Vary": "Origin, Sec-Fetch-Site, X-Forwarded-Host, X-Forwarded-Proto"}
    assert seen(upstream_seen) == [("POST", "/blocked/echo")]
    assert seen_header(upstream_seen, 0, "Origin") == world.GW
    assert seen_header(upstream_seen, 0, "Sec-Fetch-Site") == "same-origin"


# -- redirects and streaming -------------------------------------------------------------------------------


async def test_redirect_is_followed_by_the_browser_with_cors_on_both_hops(world, open_page, upstream_seen):
    result = await call(await open_page(world.A), world.GW + "/api/redirect")
    assert result["ok"] and result["status"] == 200 and result["redirected"]
    assert result["url"] == world.GW + "/api/echo"
    assert seen(upstream_seen) == [("GET", "/api/redirect"), ("GET", "/api/echo")]


async def test_redirect_from_refused_origin_fails(world, open_page, upstream_seen):
    result = await call(await open_page(world.B), world.GW + "/api/redirect")
    assert result == {"ok": False, "error": CORS_FAILURE}
    assert seen(upstream_seen) == [("GET", "/api/redirect")]  # the browser stops at the first hop


async def test_streaming_response_is_read_incrementally(world, open_page, upstream_seen):
    result = await (await open_page(world.A)).evaluate(READER, {"url": world.GW + "/api/drip?chunks=5&delay=0.25"})
    assert result["status"] == 200
    assert result["total"] == 5 * 1024
    assert [f"chunk-{i};" in result["text"] for i in range(5)] == [True] * 5
    assert result["reads"] >= 2
    # The first bytes arrive long before the last: nothing buffered the whole body.
    assert result["first"] < result["last"] - 500
    assert seen(upstream_seen) == [("GET", "/api/drip")]


# -- private network access ------------------------------------------------------------------------------------


async def test_private_network_access_header_level(world):
    """Chromium 156 no longer sends Access-Control-Request-Private-Network.

    Private Network Access preflights were replaced by Local Network Access
    (a permission prompt, no preflight).  Checked here: a page made "public"
    with --ip-address-space-overrides is refused before any request is sent,
    and with LNA checks off no PNA preflight is sent either.  So this is
    covered at header level against the real gateway process instead.
    """
    import urllib.error
    import urllib.request

    def preflight(path: str) -> tuple[int, dict[str, str]]:
        request = urllib.request.Request(
            world.GW.replace("localhost", "127.0.0.1") + path,
            method="OPTIONS",
            headers={"Origin": world.A, "Access-Control-Request-Method": "GET",
                     "Access-Control-Request-Private-Network": "true"},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, dict(response.headers)
        except urllib.error.HTTPError as err:
            return err.code, dict(err.headers)

    status, headers = preflight("/api/echo")  # allow_private_network is off by default
    assert status == 403
    assert "Access-Control-Allow-Private-Network" not in headers
    assert "Access-Control-Allow-Origin" not in headers

    status, headers = preflight("/pna/echo")
    assert status == 204
    assert headers["Access-Control-Allow-Private-Network"] == "true"
    assert headers["Access-Control-Allow-Origin"] == world.A
    assert headers["Vary"] == (
        "Origin, Access-Control-Request-Method, Access-Control-Request-Headers, Access-Control-Request-Private-Network"
    )


# -- WebSockets: no CORS in the browser, so the gateway checks the Origin -----------------------

SOCKET = """
({url}) => new Promise((resolve) => {
  const ws = new WebSocket(url);
  ws.onopen = () => ws.send("hi");
  ws.onmessage = (event) => { resolve({ok: true, data: event.data}); ws.close(); };
  ws.onerror = () => resolve({ok: false, error: "WebSocket error"});
})
"""


def _handshakes(world) -> list[dict]:
    import json
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{world.ws_port}/__handshakes", timeout=5) as response:
        return json.loads(response.read())


@pytest.mark.parametrize("who, allowed", [("A", True), ("B", False)])
async def test_websocket_origin_is_enforced_by_the_gateway(world, open_page, who, allowed):
    before = len(_handshakes(world))
    page = await open_page(getattr(world, who))
    result = await page.evaluate(SOCKET, {"url": world.GW.replace("http://", "ws://") + "/ws/chat"})
    after = _handshakes(world)
    if allowed:
        assert result == {"ok": True, "data": "echo: hi"}
        assert after[before:] == [{"origin": world.A, "path": "/ws/chat"}]
    else:
        # Without the gateway's check, this page could talk to the app with the user's cookies.
        assert result == {"ok": False, "error": "WebSocket error"}
        assert after[before:] == []
