"""Fixtures that run real processes on loopback ports.

* ``upstream``: the recording Flask app (no CORS code) under Werkzeug's
  threaded WSGI server, in its own process.
* ``flask_cors_upstream``: a Flask app that runs flask-cors itself.
* ``make_gateway``: start a real in-process gateway (real TCP listeners on
  free ports) from a YAML config string.
* ``http``: an aiohttp client that neither decompresses nor follows redirects.
"""

from __future__ import annotations

import aiohttp
import pytest

from gateway.config import parse_config
from gateway.server import Gateway

from ..support import ROOT, free_port, start_wsgi, stop_process, wait_for_port  # noqa: F401 (re-exported)


@pytest.fixture(scope="session")
def upstream():
    server = start_wsgi("tests.apps.recording_app:create_app")
    yield server
    stop_process(server.proc)


@pytest.fixture(scope="session")
def flask_cors_upstream():
    server = start_wsgi("tests.apps.flask_cors_app:create_app")
    yield server
    stop_process(server.proc)


@pytest.fixture
def recorded(upstream):
    """The recording upstream, cleared before the test."""
    upstream.clear()
    return upstream


@pytest.fixture
async def make_gateway():
    started: list[Gateway] = []

    async def make(config_text: str) -> Gateway:
        config = parse_config(config_text)
        gateway = Gateway(config)
        await gateway.start("127.0.0.1", 0)
        started.append(gateway)
        gateway.url = f"http://127.0.0.1:{gateway.port}"
        return gateway

    yield make
    for gateway in started:
        await gateway.stop()


@pytest.fixture
async def http():
    async with aiohttp.ClientSession(auto_decompress=False) as session:
        yield session


def gateway_config(upstream_url: str, routes: str, *, defaults: str = "", extra: str = "") -> str:
    """A config with one upstream named ``app``; ``routes`` is the YAML list body."""
    return (
        "listen: {host: 127.0.0.1, port: 0}\n"
        "admin: {host: 127.0.0.1, port: 0}\n"
        f"upstreams:\n  app: {{url: \"{upstream_url}\", connect_timeout: 2, read_timeout: 1.5}}\n"
        + (f"defaults:\n{defaults}\n" if defaults else "")
        + extra
        + f"routes:\n{routes}\n"
    )


