"""Fixtures that run real processes on loopback ports.

* ``upstream``: the recording Flask app (no CORS code) under Werkzeug's
  threaded WSGI server, in its own process.
* ``flask_cors_upstream``: a Flask app that runs flask-cors itself.
* ``make_gateway``: start a real in-process gateway (real TCP listeners on
  free ports) from a YAML config string.
* ``http``: an aiohttp client that neither decompresses nor follows redirects.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from gateway.app import Gateway
from gateway.config import parse_config

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port} after {timeout}s")


@dataclass
class Upstream:
    port: int
    proc: subprocess.Popen

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def requests(self) -> list[dict]:
        with urllib.request.urlopen(f"{self.url}/__requests", timeout=5) as response:
            return json.load(response)

    def clear(self) -> None:
        request = urllib.request.Request(f"{self.url}/__requests", method="DELETE")
        urllib.request.urlopen(request, timeout=5).close()


def start_wsgi(target: str) -> Upstream:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.apps.serve", target, str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(port, proc)
    return Upstream(port, proc)


def stop_process(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


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


