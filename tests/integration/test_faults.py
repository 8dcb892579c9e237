"""Upstream faults: garbage, resets, half heads, stalls, late answers, and
every way of not reaching the upstream at all.

A raw asyncio server plays the upstream and misbehaves on purpose, chosen by
the request path.  Each fault must give the client a 502/504 (with CORS
headers for an allowed origin) within the configured timeout, never a hang
and never another request's answer, and the pool must serve normally after.

Each failure must also say what went wrong, the same way in the one-line
body, the WARNING log line and the ``kind`` of
``cors_gateway_upstream_errors_total``: a name that does not resolve, a
refused connection, TLS spoken to a plain-HTTP port (and plain HTTP to a TLS
port), a certificate that does not verify, which timeout fired, a reset, an
invalid response.  All on real sockets on 127.0.0.1 (``.invalid`` names fail
in the local resolver, RFC 6761).
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import ssl
import struct

import aiohttp
import pytest
import trustme
from aiohttp import web

from .conftest import free_port, gateway_config

ALLOWED = "https://app.example.com"
ROUTES = f'  - {{name: api, path: /api/, upstream: app, cors: {{origins: ["{ALLOWED}"]}}}}\n'
KINDS = ("dns", "connect", "tls", "timeout", "reset", "protocol")


async def evil_upstream(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            first = await reader.readexactly(1)
            if first == b"\x16":
                # A TLS ClientHello (the gateway checking whether this port
                # speaks TLS): answered as real HTTP servers do.
                writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
                await writer.drain()
                return
            head = first + await reader.readuntil(b"\r\n\r\n")
            path = head.split(b" ", 2)[1].decode()
            fault = path.rsplit("/", 1)[-1].split("?")[0]
            if fault == "garbage":
                writer.write(b"\x00\x01 this is not HTTP \xff\r\n\r\n")
                await writer.drain()
                return
            if fault == "reset":
                # RST before any byte of a response (linger 0: no FIN).
                writer.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                writer.transport.abort()
                return
            if fault == "close":
                return  # reads the request head, closes without a byte of answer
            if fault == "half-head":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Le")
                await writer.drain()
                return
            if fault == "stall":
                await asyncio.sleep(30)
                return
            if fault == "stall-body":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
                await writer.drain()
                await asyncio.sleep(30)
                return
            if fault == "bad-length":
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: nope\r\n\r\nabc")
                await writer.drain()
                return
            if fault == "trickle":
                # Holds its connection for 3 s, never silent for a read_timeout.
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n")
                for _ in range(15):
                    await writer.drain()
                    await asyncio.sleep(0.2)
                    writer.write(b".")
                await writer.drain()
                continue
            # A normal answer that names the request it answers.
            body = path.encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
            await writer.drain()
            if fault == "slow":
                await asyncio.sleep(0.01)
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def evil_port():
    server = await asyncio.start_server(evil_upstream, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


@pytest.fixture
async def faulty(make_gateway, evil_port):
    config = gateway_config(f"http://127.0.0.1:{evil_port}", ROUTES).replace("read_timeout: 1.5", "read_timeout: 0.5")
    gw = await make_gateway(config)
    gw.where = f"127.0.0.1:{evil_port}"
    return gw


FAULTS = {
    "garbage": (502, "upstream sent an invalid response: {where} (bad status line)"),
    "bad-length": (502, "upstream sent an invalid response: {where} (not valid HTTP/1.1)"),
    "reset": (502, "upstream closed the connection: {where} reset it before a complete response head"),
    "close": (502, "upstream closed the connection: {where} closed it before a complete response head"),
    "half-head": (502, "upstream closed the connection: {where} closed it before a complete response head"),
    "stall": (504, "upstream timed out: {where} sent no response head within read_timeout (0.5 s)"),
}
FAULT_KINDS = {"garbage": "protocol", "bad-length": "protocol", "reset": "reset", "close": "reset",
               "half-head": "reset", "stall": "timeout"}


@pytest.mark.parametrize("fault", sorted(FAULTS))
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_a_faulty_upstream_gives_a_readable_error_in_time_and_the_pool_recovers(faulty, fault, method):
    status, text = FAULTS[fault]
    loop = asyncio.get_running_loop()
    async with aiohttp.ClientSession() as session:
        started = loop.time()
        async with session.request(method, faulty.url + f"/api/{fault}", headers={"Origin": ALLOWED}) as response:
            assert response.status == status
            assert await response.text() == text.format(where=faulty.where) + "\n"
            assert response.headers["Access-Control-Allow-Origin"] == ALLOWED  # the page can read it
        # A GET may be retried once on a fresh connection; the timeout bounds each wait.
        assert loop.time() - started < 2 * 0.5 + 1.0
        for i in range(3):  # the pool serves normally afterwards
            async with session.get(faulty.url + f"/api/ok-{fault}-{i}") as response:
                assert response.status == 200
                assert await response.text() == f"/api/ok-{fault}-{i}"
    assert await upstream_errors(faulty) == counts(**{FAULT_KINDS[fault]: 1})


async def test_concurrent_requests_among_faults_each_get_their_own_answer(faulty):
    paths = [f"/api/item-{i}" if i % 4 else f"/api/{('garbage', 'reset', 'half-head', 'bad-length')[i // 4 % 4]}"
             for i in range(64)]

    async def one(session: aiohttp.ClientSession, path: str) -> tuple[str, int, str]:
        async with session.get(faulty.url + path) as response:
            return path, response.status, await response.text()

    connector = aiohttp.TCPConnector(limit=16)
    async with aiohttp.ClientSession(connector=connector) as session:
        results = await asyncio.gather(*(one(session, p) for p in paths))
    for path, status, text in results:
        if re.fullmatch(r"/api/item-\d+", path):
            assert (status, text) == (200, path)  # never another request's body
        else:
            assert status == 502


# --------------------------------------------------------------------------
# Each cause named in the body, the log line and the metric
# --------------------------------------------------------------------------


def counts(**nonzero: float) -> dict[str, float]:
    return {kind: float(nonzero.get(kind, 0)) for kind in KINDS}


async def upstream_errors(gw) -> dict[str, float]:
    """cors_gateway_upstream_errors_total{upstream="app"} by kind (every kind exists from the start)."""
    async with aiohttp.ClientSession() as admin:
        async with admin.get(f"http://127.0.0.1:{gw.admin_port}/metrics") as response:
            text = await response.text()
    return {kind: float(value) for kind, value in
            re.findall(r'^cors_gateway_upstream_errors_total\{kind="(\w+)",upstream="app"\} (\S+)$', text, re.M)}


async def diagnosed(gw, caplog, path: str = "/api/x", *, method: str = "GET", bound: float = 5.0,
                    headers: dict | None = None, data: bytes | None = None) -> tuple[int, str]:
    """One request: its status and body line, after checking the body is one
    line, readable by the allowed origin, and the same as the WARNING line."""
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="gateway"):
        async with asyncio.timeout(bound), aiohttp.ClientSession() as session:
            async with session.request(method, gw.url + path, headers={"Origin": ALLOWED, **(headers or {})},
                                       data=data) as response:
                status, body = response.status, await response.text()
                request_id = response.headers["X-Request-Id"]
                if not headers:  # a WebSocket handshake's answer has no CORS headers (browsers apply none)
                    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
    assert body.endswith("\n") and body.count("\n") == 1, body
    line = body[:-1]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("gateway")]
    assert warnings == [f"route api: upstream app: {line} (request {request_id})"]
    return status, line


async def test_a_name_that_does_not_resolve_is_named(make_gateway, caplog):
    host = "no-such-upstream.invalid"
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        await asyncio.wait_for(loop.getaddrinfo(host, 8080, type=socket.SOCK_STREAM), 5)
        pytest.fail(f"{host} resolves here")
    except socket.gaierror as err:
        reason = err.strerror
    except TimeoutError:
        reason = None  # this machine's resolver hangs: the pool-wait timeout below names it
    fast = loop.time() - started < 0.5
    gw = await make_gateway(gateway_config(f"http://{host}:8080", ROUTES).replace(
        "connect_timeout: 2, read_timeout: 1.5", "connect_timeout: 0.5, read_timeout: 0.5"))
    status, line = await diagnosed(gw, caplog)
    if reason is not None and fast:
        assert (status, line) == (502, f"upstream name resolution failed: {host} does not resolve ({reason})")
        assert await upstream_errors(gw) == counts(dns=1)
    else:  # accepted only where the resolver itself is slow
        assert (status, line) == (504, f"upstream timed out: all max_connections (100) to {host}:8080 stayed busy "
                                       f"for connect_timeout + read_timeout (1 s), or resolving {host} took that long")
        assert await upstream_errors(gw) == counts(timeout=1)


async def test_a_refused_connection_names_host_and_port(make_gateway, caplog):
    port = free_port()
    gw = await make_gateway(gateway_config(f"http://127.0.0.1:{port}", ROUTES))
    assert await diagnosed(gw, caplog) == (502, f"upstream refused the connection: 127.0.0.1:{port}")
    assert await diagnosed(gw, caplog, method="POST") == (502, f"upstream refused the connection: 127.0.0.1:{port}")
    assert await upstream_errors(gw) == counts(connect=2)


@pytest.fixture
async def plain_http_port():
    """A real HTTP server (aiohttp's), without TLS."""
    async def plain(request):
        return web.Response(text="plain")

    app = web.Application()
    app.router.add_get("/api/x", plain)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    yield runner.addresses[0][1]
    await runner.cleanup()


@pytest.fixture
async def tls_server(tmp_path):
    """A real HTTPS server with a certificate from a private CA; yields (port, that CA's file, another CA's file)."""
    ca = trustme.CA()
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    async def hello(request):
        return web.Response(text="tls")

    app = web.Application()
    app.router.add_route("*", "/api/x", hello)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_tls).start()
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    trustme.CA().cert_pem.write_to_path(str(tmp_path / "other-ca.pem"))
    yield runner.addresses[0][1], tmp_path / "ca.pem", tmp_path / "other-ca.pem"
    await runner.cleanup()


async def test_https_to_a_plain_http_port_says_tls_failed_and_suggests_http(make_gateway, plain_http_port, caplog):
    where = f"127.0.0.1:{plain_http_port}"
    gw = await make_gateway(gateway_config(f"https://{where}", ROUTES))
    assert await diagnosed(gw, caplog) == (
        502, f"upstream TLS handshake failed: {where} does not speak TLS (WRONG_VERSION_NUMBER); "
             "if it serves plain HTTP, use http:// in upstreams.app.url")
    assert await upstream_errors(gw) == counts(tls=1)


@pytest.mark.parametrize("method, size", [("GET", 0), ("POST", 0), ("POST", 4 << 20)])
async def test_http_to_a_tls_port_says_so_and_suggests_https(make_gateway, tls_server, caplog, method, size):
    port, _, _ = tls_server
    gw = await make_gateway(gateway_config(f"http://127.0.0.1:{port}", ROUTES))
    expected = (502, f"upstream TLS mismatch: 127.0.0.1:{port} speaks TLS, not plain HTTP; "
                     "use https:// in upstreams.app.url")
    data = b"x" * size if size else None  # 4 MiB: streamed, the TLS port hangs up while it is sent
    assert await diagnosed(gw, caplog, method=method, data=data) == expected
    assert await diagnosed(gw, caplog, method=method, data=data) == expected  # the probe's answer, reused
    assert await upstream_errors(gw) == counts(tls=2)


async def test_a_websocket_handshake_to_a_tls_port_is_diagnosed_the_same_way(make_gateway, tls_server, caplog):
    port, _, _ = tls_server
    gw = await make_gateway(gateway_config(f"http://127.0.0.1:{port}", ROUTES))
    handshake = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
                 "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
    assert await diagnosed(gw, caplog, headers=handshake) == (
        502, f"upstream TLS mismatch: 127.0.0.1:{port} speaks TLS, not plain HTTP; use https:// in upstreams.app.url")
    assert await upstream_errors(gw) == counts(tls=1)


async def test_a_certificate_that_does_not_verify_says_so_and_names_ca_file(make_gateway, tls_server, caplog):
    port, ca_file, other_ca_file = tls_server
    where = f"127.0.0.1:{port}"
    gw = await make_gateway(gateway_config(f"https://{where}", ROUTES))
    assert await diagnosed(gw, caplog) == (
        502, f"upstream TLS certificate verification failed: {where} (unable to get local issuer certificate); "
             "if a private CA signed it, set upstreams.app.ca_file")
    assert await upstream_errors(gw) == counts(tls=1)
    wrong_ca = gateway_config(f"https://{where}", ROUTES).replace(
        "read_timeout: 1.5}", f'read_timeout: 1.5, ca_file: "{other_ca_file}"}}')
    gw = await make_gateway(wrong_ca)
    assert await diagnosed(gw, caplog) == (
        502, f"upstream TLS certificate verification failed: {where} (unable to get local issuer certificate); "
             "checked against upstreams.app.ca_file")
    right_ca = wrong_ca.replace(str(other_ca_file), str(ca_file))
    gw = await make_gateway(right_ca)
    async with aiohttp.ClientSession() as session, session.get(gw.url + "/api/x") as response:
        assert (response.status, await response.text()) == (200, "tls")


async def test_a_tls_handshake_that_never_ends_is_the_connect_timeout(make_gateway, caplog):
    async def silent(reader, writer):  # accepts the TCP connection, never answers the ClientHello
        try:
            await asyncio.sleep(30)
        finally:
            writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        gw = await make_gateway(gateway_config(f"https://127.0.0.1:{port}", ROUTES).replace(
            "connect_timeout: 2", "connect_timeout: 0.3"))
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await diagnosed(gw, caplog) == (
            504, f"upstream timed out: connecting to 127.0.0.1:{port} (TCP and TLS handshake) took longer than "
                 "connect_timeout (0.3 s)")
        assert 0.3 <= loop.time() - started < 1.3
        assert await upstream_errors(gw) == counts(timeout=1)
    finally:
        server.close()


async def test_a_tcp_connect_that_never_completes_is_the_connect_timeout(make_gateway, caplog):
    # A listener whose accept queue is full drops further SYNs: the connect hangs.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    try:
        while len(fillers) < 8:
            filler = socket.socket()
            filler.settimeout(0.2)
            fillers.append(filler)
            try:
                filler.connect(("127.0.0.1", port))
            except TimeoutError:
                break  # the queue is full
        else:
            pytest.skip("this kernel queues every connection")
        gw = await make_gateway(gateway_config(f"http://127.0.0.1:{port}", ROUTES).replace(
            "connect_timeout: 2", "connect_timeout: 0.3"))
        assert await diagnosed(gw, caplog) == (
            504, f"upstream timed out: connecting to 127.0.0.1:{port} took longer than connect_timeout (0.3 s)")
        assert await upstream_errors(gw) == counts(timeout=1)
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


async def test_waiting_for_a_free_pooled_connection_is_its_own_timeout(make_gateway, evil_port, caplog):
    where = f"127.0.0.1:{evil_port}"
    gw = await make_gateway(gateway_config(f"http://{where}", ROUTES).replace(
        "connect_timeout: 2, read_timeout: 1.5", "connect_timeout: 0.5, read_timeout: 0.5, max_connections: 1"))
    async with aiohttp.ClientSession() as session:
        async with session.get(gw.url + "/api/trickle") as holder:  # holds the only connection for 3 s
            assert holder.status == 200
            loop = asyncio.get_running_loop()
            started = loop.time()
            assert await diagnosed(gw, caplog) == (
                504, f"upstream timed out: all max_connections (1) to {where} stayed busy for "
                     "connect_timeout + read_timeout (1 s)")
            assert 1.0 <= loop.time() - started < 2.0
            assert await holder.read() == b"." * 15  # the holder was never disturbed
    assert await upstream_errors(gw) == counts(timeout=1)


@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_each_fault_is_named_in_the_log_line_as_in_the_body(faulty, fault, caplog):
    status, text = FAULTS[fault]
    assert await diagnosed(faulty, caplog, f"/api/{fault}") == (status, text.format(where=faulty.where))
    assert await upstream_errors(faulty) == counts(**{FAULT_KINDS[fault]: 1})


async def test_the_message_never_carries_the_request_or_the_upstreams_bytes(faulty, caplog):
    # aiohttp's own messages quote the URL (with the client's path and query)
    # and the bytes the upstream sent: neither may reach the body or the log.
    status, line = await diagnosed(faulty, caplog, "/api/%3Cscript%3E/garbage?token=secret")
    assert (status, line) == (502, f"upstream sent an invalid response: {faulty.where} (bad status line)")
    assert "script" not in caplog.text and "secret" not in caplog.text and "not HTTP" not in caplog.text


async def test_a_failure_after_the_head_is_logged_with_its_cause(faulty, caplog):
    with caplog.at_level(logging.WARNING, logger="gateway"):
        async with aiohttp.ClientSession() as session:
            async with session.get(faulty.url + "/api/stall-body") as response:
                assert response.status == 200
                with pytest.raises(aiohttp.ClientPayloadError):
                    await response.read()  # cut off: the connection is aborted
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [
        f"upstream app failed mid-response: upstream timed out: {faulty.where} sent no body data within "
        "read_timeout (0.5 s)"]
    assert await upstream_errors(faulty) == counts(timeout=1)
