"""listen.tls: the public listener speaks HTTPS only, and picks up a rotated
certificate (a cert-manager Secret rewritten in place) without a restart."""

from __future__ import annotations

import asyncio
import ssl

import aiohttp
import pytest
import trustme

from gateway.config import ConfigError, parse_config

from .conftest import gateway_config

ROUTES = '  - {name: api, path: /api/, upstream: app, cors: {origins: ["https://app.example.com"]}}\n'


def tls_config(upstream_url: str, cert: str, key: str, extra: str = "") -> str:
    return gateway_config(upstream_url, ROUTES).replace(
        "listen: {host: 127.0.0.1, port: 0}\n",
        f'listen: {{host: 127.0.0.1, port: 0, tls: {{cert_file: "{cert}", key_file: "{key}"{extra}}}}}\n')


@pytest.fixture
def pki(tmp_path):
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_and_cert_chain_pem.write_to_path(str(tmp_path / "both.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    client = ssl.create_default_context()
    ca.configure_trust(client)
    return tmp_path, ca, client


async def peer_certificate(port: int, client: ssl.SSLContext) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=client, server_hostname="127.0.0.1")
    der = writer.get_extra_info("ssl_object").getpeercert(binary_form=True)
    writer.close()
    return der


async def test_https_only_with_cors_and_same_origin_as_https(make_gateway, recorded, pki):
    path, _, client = pki
    gw = await make_gateway(tls_config(recorded.url, path / "cert.pem", path / "key.pem"))
    url = f"https://127.0.0.1:{gw.port}"
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client)) as session:
        async with session.get(url + "/api/echo", headers={"Origin": "https://app.example.com"}) as response:
            assert response.status == 200
            assert response.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
        # The gateway's own origin is https:// on a TLS listener.
        async with session.post(url + "/api/echo", data="x", headers={"Origin": url}) as response:
            assert response.status == 200
            assert "Access-Control-Allow-Origin" not in response.headers
    (_, entry) = recorded.requests()
    assert ["X-Forwarded-Proto", "https"] in entry["headers"]
    # Plain HTTP on the TLS port gets no HTTP answer.
    reader, writer = await asyncio.open_connection("127.0.0.1", gw.port)
    writer.write(b"GET /api/echo HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    async with asyncio.timeout(5):
        answer = await reader.read()
    assert not answer.startswith(b"HTTP/1.1 200")
    writer.close()


async def test_tls_1_3_minimum_refuses_tls_1_2_clients(make_gateway, recorded, pki):
    path, _, client = pki
    gw = await make_gateway(tls_config(recorded.url, path / "cert.pem", path / "key.pem", ", min_version: 1.3"))
    assert await peer_certificate(gw.port, client)  # TLS 1.3 is fine
    client.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises((ssl.SSLError, ConnectionError)):  # the handshake is refused
        await peer_certificate(gw.port, client)


async def test_a_rotated_certificate_is_picked_up_without_a_restart(make_gateway, recorded, pki):
    path, ca, client = pki
    gw = await make_gateway(tls_config(recorded.url, path / "cert.pem", path / "key.pem"))
    first = await peer_certificate(gw.port, client)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=client)) as session:
        url = f"https://127.0.0.1:{gw.port}/api/echo"
        async with session.get(url) as response:  # a keep-alive connection with the old certificate
            assert response.status == 200
        renewed = ca.issue_cert("127.0.0.1", "localhost")
        renewed.cert_chain_pems[0].write_to_path(str(path / "cert.pem"))
        renewed.private_key_pem.write_to_path(str(path / "key.pem"))
        for _ in range(40):  # the gateway looks at the files once a second
            await asyncio.sleep(0.1)
            if await peer_certificate(gw.port, client) != first:
                break
        assert await peer_certificate(gw.port, client) == ssl.PEM_cert_to_DER_cert(
            renewed.cert_chain_pems[0].bytes().decode())
        async with session.get(url) as response:  # the open connection keeps working
            assert response.status == 200


async def test_a_broken_rotation_keeps_the_old_certificate(make_gateway, recorded, pki, caplog):
    path, ca, client = pki
    gw = await make_gateway(tls_config(recorded.url, path / "cert.pem", path / "key.pem"))
    first = await peer_certificate(gw.port, client)
    other = ca.issue_cert("127.0.0.1")
    other.cert_chain_pems[0].write_to_path(str(path / "cert.pem"))  # the key is still the old one: a mismatch
    await asyncio.sleep(1.5)
    assert await peer_certificate(gw.port, client) == first
    assert any("does not match the certificate" in r.getMessage() for r in caplog.records)


@pytest.mark.parametrize("change, key, fragment", [
    ("missing-cert", "listen.tls.cert_file", "cannot read the certificate file"),
    ("missing-key", "listen.tls.key_file", "cannot read the key file"),
    ("mismatch", "listen.tls.key_file", "does not match the certificate"),
    ("garbage-cert", "listen.tls.cert_file", "not a PEM certificate chain"),
])
def test_unusable_files_are_config_errors_naming_the_key(pki, change, key, fragment):
    path, ca, _ = pki
    cert, key_file = path / "cert.pem", path / "key.pem"
    if change == "missing-cert":
        cert = path / "nope.pem"
    elif change == "missing-key":
        key_file = path / "nope.pem"
    elif change == "mismatch":
        ca.issue_cert("localhost").private_key_pem.write_to_path(str(path / "other-key.pem"))
        key_file = path / "other-key.pem"
    else:
        (path / "garbage.pem").write_text("not a certificate\n")
        cert = path / "garbage.pem"
    with pytest.raises(ConfigError) as caught:
        parse_config(tls_config("http://127.0.0.1:1", cert, key_file))
    (issue,) = caught.value.errors
    assert issue.path == key and fragment in issue.message, str(issue)


async def test_a_reload_reads_the_certificate_again(make_gateway, recorded, pki):
    path, ca, client = pki
    gw = await make_gateway(tls_config(recorded.url, path / "cert.pem", path / "key.pem"))
    first = await peer_certificate(gw.port, client)
    renewed = ca.issue_cert("127.0.0.1")
    renewed.cert_chain_pems[0].write_to_path(str(path / "new-cert.pem"))
    renewed.private_key_pem.write_to_path(str(path / "new-key.pem"))
    gw.apply_config(parse_config(tls_config(recorded.url, path / "new-cert.pem", path / "new-key.pem")))
    second = await peer_certificate(gw.port, client)
    assert second != first
    assert second == ssl.PEM_cert_to_DER_cert(renewed.cert_chain_pems[0].bytes().decode())


@pytest.mark.parametrize("workers", ["1", "2"])
def test_run_announces_an_https_listener(recorded, pki, workers):
    import os
    import signal
    import subprocess
    import sys
    import urllib.request

    from ..support import ROOT, free_port, wait_for_port

    path, _, client = pki
    port, admin = free_port(), free_port()
    config = path / "gateway.yaml"
    config.write_text(tls_config(recorded.url, path / "cert.pem", path / "key.pem")
                      .replace("port: 0", f"port: {port}", 1).replace("port: 0", f"port: {admin}", 1))
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "run", "-c", str(config), "--workers", workers],
                            cwd=ROOT, env=dict(os.environ), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            text=True)
    try:
        wait_for_port(port, proc)
        with urllib.request.urlopen(f"https://127.0.0.1:{port}/api/echo", context=client, timeout=5) as response:
            assert response.status == 200
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert f"listening on https://127.0.0.1:{port} " in err


async def test_a_tls_handshake_that_never_starts_is_cut_after_header_timeout(make_gateway, recorded, pki):
    """The connection caps and the head deadline begin after the handshake: the
    handshake itself is bounded by listen.header_timeout (asyncio's default is 60 s)."""
    path, _, _ = pki
    gw = await make_gateway(tls_config(recorded.url, path / "cert.pem", path / "key.pem")
                            .replace("port: 0, tls:", "port: 0, header_timeout: 1, tls:", 1))
    sockets = [await asyncio.open_connection("127.0.0.1", gw.port) for _ in range(5)]
    async with asyncio.timeout(4):  # would be 60 s
        for reader, _ in sockets:
            assert await reader.read() == b""
    for _, writer in sockets:
        writer.close()


def test_an_encrypted_key_is_a_config_error_not_a_prompt(pki):
    from cryptography.hazmat.primitives import serialization

    path, _, _ = pki
    key = serialization.load_pem_private_key((path / "key.pem").read_bytes(), password=None)
    (path / "encrypted.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))
    with pytest.raises(ConfigError) as caught:
        parse_config(tls_config("http://127.0.0.1:1", path / "cert.pem", path / "encrypted.pem"))
    (issue,) = caught.value.errors
    assert issue.path == "listen.tls.key_file" and "encrypted private key" in issue.message


async def test_rotating_to_an_encrypted_key_keeps_the_old_certificate(make_gateway, recorded, pki, caplog):
    from cryptography.hazmat.primitives import serialization

    path, ca, client = pki
    gw = await make_gateway(tls_config(recorded.url, path / "cert.pem", path / "key.pem"))
    first = await peer_certificate(gw.port, client)
    renewed = ca.issue_cert("127.0.0.1")
    key = serialization.load_pem_private_key(renewed.private_key_pem.bytes(), password=None)
    renewed.cert_chain_pems[0].write_to_path(str(path / "cert.pem"))
    (path / "key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret")))
    await asyncio.sleep(2.5)
    assert await peer_certificate(gw.port, client) == first
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1 and "encrypted private key" in errors[0]  # once, not every second
