"""Hostile and unusual HTTP: refused cleanly, never forwarded ambiguously; bodies forwarded exactly."""

from __future__ import annotations

import asyncio
import hashlib
import signal
import subprocess
import sys
import textwrap

import aiohttp
import pytest

from ..apps.recording_app import deterministic_bytes
from ..support import ROOT, free_port, stop_process, wait_for_port
from .conftest import gateway_config

ROUTES = '  - {name: api, path: /api/, upstream: app, cors: {origins: ["https://app.example.com"]}}\n'

SMUGGLING = {
    "content-length-and-chunked": b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
                                  b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "two-different-lengths": b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
    "two-equal-lengths": b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 4\r\n\r\nabcd",
    "obsolete-line-folding": b"GET /api/echo HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "transfer-encoding-gzip": b"POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabcd",
    "transfer-encoding-gzip-chunked": b"POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                                      b"0\r\n\r\n",
    "two-transfer-encodings": b"POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                              b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "two-hosts": b"GET /api/echo HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
    "space-before-colon": b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\nabc",
    "signed-length": b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: +4\r\n\r\nabcd",
    "bare-lf-garbage": b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 50,
}


async def send_raw(port: int, raw: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), timeout=5)  # EOF: the connection was closed
    writer.close()
    return data


@pytest.mark.parametrize("name", sorted(SMUGGLING))
async def test_ambiguous_requests_are_refused_and_never_forwarded(make_gateway, recorded, name):
    gw = await make_gateway(gateway_config(recorded.url, ROUTES))
    answer = await send_raw(gw.port, SMUGGLING[name])
    assert answer.split(b"\r\n", 1)[0] in (b"HTTP/1.0 400 Bad Request", b"HTTP/1.1 400 Bad Request")
    assert recorded.requests() == []
    async with aiohttp.ClientSession() as session:  # counted for operators
        async with session.get(f"http://127.0.0.1:{gw.admin_port}/metrics") as response:
            assert 'cors_gateway_client_refusals_total{reason="malformed_request"} 1.0' in await response.text()
    # The gateway is unharmed.
    async with aiohttp.ClientSession() as session:
        async with session.get(gw.url + "/api/echo") as response:
            assert response.status == 200


BODY_SIZES = [0, 1, 65536, 16 * 1024 * 1024 + 7]


@pytest.mark.parametrize("size", BODY_SIZES)
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
async def test_request_bodies_arrive_byte_for_byte(make_gateway, recorded, size, framing):
    gw = await make_gateway(gateway_config(recorded.url, ROUTES))
    body = deterministic_bytes(size, seed=size)

    async def chunks():
        for start in range(0, len(body), 100_003):  # odd chunk size on purpose
            yield body[start:start + 100_003]

    data = body if framing == "content-length" else chunks()
    async with aiohttp.ClientSession() as session:
        async with session.post(gw.url + "/api/sha256", data=data) as response:
            assert response.status == 200
            assert await response.json() == {"sha256": hashlib.sha256(body).hexdigest(), "length": size}
    [entry] = recorded.requests()
    names = {k.lower() for k, _ in entry["headers"]}
    if framing == "content-length":
        assert ("content-length" in names) and ("transfer-encoding" not in names)


@pytest.mark.parametrize("size", BODY_SIZES)
async def test_response_bodies_arrive_byte_for_byte(make_gateway, recorded, size):
    gw = await make_gateway(gateway_config(recorded.url, ROUTES))
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        async with session.get(gw.url + f"/api/random?size={size}&seed=7") as response:
            assert response.status == 200
            received = await response.read()
    assert hashlib.sha256(received).hexdigest() == hashlib.sha256(deterministic_bytes(size, 7)).hexdigest()


def test_logs_hold_no_credentials_and_no_parser_tracebacks(tmp_path, upstream):
    port, admin = free_port(), free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(textwrap.dedent(f"""\
        listen: {{host: 127.0.0.1, port: {port}}}
        admin: {{host: 127.0.0.1, port: {admin}}}
        upstreams:
          app: {{url: "{upstream.url}"}}
        routes:
          - {{name: api, path: /api/, upstream: app, cors: {{origins: ["https://app.example.com"]}}}}
        """))
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "--log-level", "DEBUG", "run", "-c", str(config)],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for_port(port, proc)

        async def traffic():
            async with aiohttp.ClientSession() as session:
                headers = {"Cookie": "session=cookie-secret-1", "Authorization": "Bearer token-secret-2",
                           "Origin": "https://evil.example"}
                async with session.get(f"http://127.0.0.1:{port}/api/multi-cookie?token=query-secret-3",
                                       headers=headers) as response:
                    assert response.status == 200
            for raw in SMUGGLING.values():
                await send_raw(port, raw)

        asyncio.run(traffic())
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            stop_process(proc)
    assert proc.returncode == 0
    logs = out + err
    for secret in ("cookie-secret-1", "token-secret-2", "query-secret-3", "a=1", "b=2"):
        assert secret not in logs
    assert "Traceback" not in err
    assert "refused a malformed request" in err  # at DEBUG, one line each, no traceback
    assert '"path":"/api/multi-cookie"' in out


async def test_a_connection_dropped_under_the_pool_is_retried_only_for_idempotent_methods(make_gateway):
    """An upstream that promises keep-alive, serves one request per connection and closes it.

    The gateway's GETs then meet a dead pooled connection: they are retried
    once on a fresh one and succeed.  A POST is never retried (it may have had
    its side effect): it gets a clean 502, and the pool recovers afterwards.
    """
    served = 0

    async def one_request_per_connection(reader, writer):
        nonlocal served
        try:
            await reader.readuntil(b"\r\n\r\n")
            served += 1
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\n\r\nok")
            await writer.drain()
            await asyncio.sleep(0.05)
        finally:
            writer.close()

    server = await asyncio.start_server(one_request_per_connection, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        gw = await make_gateway(gateway_config(f"http://127.0.0.1:{port}", ROUTES))
        statuses = []
        async with aiohttp.ClientSession() as session:
            for _ in range(10):
                for method in ("GET", "GET", "POST"):
                    async with session.request(method, gw.url + "/api/x") as response:
                        statuses.append((method, response.status, await response.read()))
                await asyncio.sleep(0.1)
        assert {s for s in statuses if s[0] == "GET"} == {("GET", 200, b"ok")}
        closed = f"upstream closed the connection: 127.0.0.1:{port} closed it before a complete response head\n"
        assert {s for s in statuses if s[0] == "POST"} == {("POST", 502, closed.encode())}
        assert served == 20  # every GET reached the upstream exactly once; no POST was replayed
    finally:
        server.close()
        await server.wait_closed()


async def test_idle_keep_alive_connections_are_closed_after_keepalive_timeout(make_gateway, recorded):
    config = gateway_config(recorded.url, ROUTES).replace(
        "listen: {host: 127.0.0.1, port: 0}", "listen: {host: 127.0.0.1, port: 0, keepalive_timeout: 0.5}"
    )
    gw = await make_gateway(config)
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(b"GET /api/echo HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
    await reader.readexactly(length)
    started = asyncio.get_running_loop().time()
    assert await asyncio.wait_for(reader.read(), timeout=5) == b""  # closed by the gateway
    assert asyncio.get_running_loop().time() - started < 3
    writer.close()


CSRF_ROUTES = """\
  - name: guarded
    path: /api/
    upstream: app
    csrf: sec-fetch-site
    cors: {origins: ["https://app.example.com"], methods: [GET, POST, PUT]}
  - name: unguarded
    path: /other/
    upstream: app
    cors: {origins: ["https://app.example.com"], methods: [GET, POST]}
"""
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    "method, headers, refused",
    [
        ("POST", {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, True),
        ("POST", {"Sec-Fetch-Site": "same-site", "Origin": "https://evil.example"}, True),
        ("POST", {"Sec-Fetch-Site": "cross-site"}, True),  # cross-site without Origin: refused
        ("PUT", {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, True),
        ("POST", {"Sec-Fetch-Site": "cross-site", "Origin": "https://app.example.com"}, False),  # allowed origin
        ("POST", {"Sec-Fetch-Site": "same-origin", "Origin": "https://evil.example"}, False),
        ("POST", {"Sec-Fetch-Site": "none"}, False),  # typed by the user
        ("POST", {"Origin": "https://evil.example"}, True),  # no Sec-Fetch-Site: the Origin decides
        ("POST", {}, False),  # curl, server-to-server
        ("GET", {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}, False),  # safe method
    ],
)
async def test_csrf_sec_fetch_site_refuses_cross_site_forgeries_before_the_upstream(
    make_gateway, recorded, method, headers, refused
):
    gw = await make_gateway(gateway_config(recorded.url, CSRF_ROUTES))
    async with aiohttp.ClientSession() as session:
        async with session.request(method, gw.url + "/api/echo", data=b"a=1", headers={**FORM, **headers}) as r:
            if refused:
                assert r.status == 403
                assert await r.text() == (
                    "cross-site request refused: unsafe method from an origin this route does not allow (csrf)\n"
                )
                assert "Access-Control-Allow-Origin" not in r.headers
            else:
                assert r.status == 200
    assert len(recorded.requests()) == (0 if refused else 1)


async def test_without_csrf_a_cross_site_simple_post_reaches_the_upstream(make_gateway, recorded):
    gw = await make_gateway(gateway_config(recorded.url, CSRF_ROUTES))
    async with aiohttp.ClientSession() as session:
        headers = {**FORM, "Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
        async with session.post(gw.url + "/other/echo", data=b"a=1", headers=headers) as r:
            assert r.status == 200  # CORS alone only hides the answer
    assert [e["path"] for e in recorded.requests()] == ["/other/echo"]


async def test_https_upstream_is_verified_against_the_configured_ca(make_gateway, tmp_path):
    import ssl

    import trustme
    from aiohttp import web

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_tls)

    async def hello(request):
        return web.json_response({"tls": True})

    app = web.Application()
    app.router.add_get("/api/hello", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls).start()
    port = runner.addresses[0][1]
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    try:
        trusted = gateway_config(f"https://127.0.0.1:{port}", ROUTES).replace(
            "read_timeout: 1.5}", f'read_timeout: 1.5, ca_file: "{ca_file}"}}'
        )
        assert "ca_file" in trusted
        gw = await make_gateway(trusted)
        untrusted = await make_gateway(gateway_config(f"https://127.0.0.1:{port}", ROUTES))
        async with aiohttp.ClientSession() as session:
            async with session.get(gw.url + "/api/hello") as response:
                assert (response.status, await response.json()) == (200, {"tls": True})
            # Not signed by a CA the gateway trusts: refused, never sent in the clear.
            async with session.get(untrusted.url + "/api/hello") as response:
                assert response.status == 502
    finally:
        await runner.cleanup()


def test_a_missing_ca_file_is_a_config_error(tmp_path):
    from gateway.config import ConfigError, parse_config

    text = gateway_config("https://127.0.0.1:1", ROUTES).replace(
        "read_timeout: 1.5}", f'read_timeout: 1.5, ca_file: "{tmp_path / "missing.pem"}"}}'
    )
    with pytest.raises(ConfigError) as info:
        parse_config(text)
    assert [str(e).split(": ", 1)[0] for e in info.value.errors] == ["upstreams.app.ca_file"]


async def test_connections_beyond_the_cap_are_closed_and_the_rest_keep_working(make_gateway, recorded):
    config = gateway_config(recorded.url, ROUTES).replace(
        "listen: {host: 127.0.0.1, port: 0}", "listen: {host: 127.0.0.1, port: 0, max_connections: 3}"
    )
    gw = await make_gateway(config)
    idle = [await asyncio.open_connection("127.0.0.1", gw.port) for _ in range(3)]
    await asyncio.sleep(0.1)
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(b"GET /api/echo HTTP/1.1\r\nHost: x\r\n\r\n")
    with pytest.raises((ConnectionError, asyncio.IncompleteReadError)):
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout=5)
        if not data:
            raise ConnectionResetError("closed without an answer")
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{gw.admin_port}/metrics") as response:
            assert 'cors_gateway_client_refusals_total{reason="connection_limit"} 1.0' in await response.text()
    # The connections inside the cap are served.
    reader0, writer0 = idle[0]
    writer0.write(b"GET /api/echo HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    await writer0.drain()
    assert (await asyncio.wait_for(reader0.read(), timeout=5)).startswith(b"HTTP/1.1 200 ")
    for _, w in idle:
        w.close()
    await asyncio.sleep(0.2)
    async with aiohttp.ClientSession() as session:  # room again once they are gone
        async with session.get(gw.url + "/api/echo") as response:
            assert response.status == 200
