"""Helpers shared by the integration and browser suites: real processes on loopback ports."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


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


def start_gunicorn(target: str, *, worker_class: str = "gthread", workers: int = 1, threads: int = 4,
                   keep_alive: int = 30, extra: tuple[str, ...] = ()) -> Upstream:
    """Serve a WSGI app factory under gunicorn on a loopback port: ``sync`` or
    ``gthread`` (keep-alive) workers, as users run Flask in production.
    gunicorn parses requests differently from Werkzeug's dev server."""
    port = free_port()
    args = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", str(workers),
            "--worker-class", worker_class, "--keep-alive", str(keep_alive), "--graceful-timeout", "2",
            "--log-level", "warning", *extra]
    if worker_class == "gthread":
        args += ["--threads", str(threads)]
    proc = subprocess.Popen([*args, f"{target}()"], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, proc)
    return Upstream(port, proc)


def stop_process(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def unavailable(what: str, reason: str):
    """A system dependency is missing: fail under CI (it must be installed), skip elsewhere, saying why."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} cannot run in CI: {reason}", pytrace=False)
    print(f"\nskipping {what}: {reason}")
    pytest.skip(reason)


def require_binary(name: str, what: str, install: str) -> str:
    """The path of a system binary the tests need (see ``unavailable``)."""
    path = shutil.which(name)
    if path is None:
        unavailable(what, f"{name} is not installed ({install})")
    return path


def raw_request(port: int, method: str, target: str, headers: dict[str, str]) -> int:
    """Send a request target no browser sends (not percent-encoded, absolute form, with a fragment)
    straight over a socket, to 127.0.0.1:``port``; the status.  Host is added unless ``headers`` has one."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
        if not any(name.lower() == "host" for name in headers):
            conn.putheader("Host", f"127.0.0.1:{port}")
        for name, value in headers.items():
            conn.putheader(name, value)
        conn.endheaders()
        response = conn.getresponse()
        response.read()
        return response.status
    finally:
        conn.close()
