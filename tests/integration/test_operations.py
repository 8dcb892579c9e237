"""Process model, reload, drain: the CLI run as an operator runs it, under load."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time

import aiohttp
import pytest

from ..support import ROOT, free_port, stop_process, wait_for_port

ALLOWED = "https://app.example.com"


def config_text(upstream_url: str, port: int, admin: int, origin: str = ALLOWED, extra: str = "") -> str:
    return textwrap.dedent(f"""\
        listen: {{host: 127.0.0.1, port: {port}}}
        admin: {{host: 127.0.0.1, port: {admin}}}
        shutdown_timeout: 10
        access_log: {{enabled: false}}
        upstreams:
          app: {{url: "{upstream_url}", read_timeout: 10}}
        routes:
          - name: api
            path: /api/
            upstream: app
            cors: {{origins: ["{origin}"]}}
        """) + extra


class Running:
    def __init__(self, proc: subprocess.Popen, port: int, admin: int, path):
        self.proc, self.port, self.admin, self.path = proc, port, admin, path
        self.url = f"http://127.0.0.1:{port}"
        self.admin_url = f"http://127.0.0.1:{admin}"

    def children(self) -> list[int]:
        """The worker processes (not multiprocessing's resource tracker)."""
        with open(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children") as f:
            pids = [int(pid) for pid in f.read().split()]
        workers = []
        for pid in pids:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    if b"resource_tracker" not in f.read():
                        workers.append(pid)
            except OSError:
                pass
        return workers


@pytest.fixture
def start(tmp_path, upstream):
    started: list[Running] = []

    def start_(workers: int = 1, origin: str = ALLOWED, env: dict | None = None) -> Running:
        port, admin = free_port(), free_port()
        path = tmp_path / f"gateway-{len(started)}.yaml"
        path.write_text(config_text(upstream.url, port, admin, origin))
        proc = subprocess.Popen(
            [sys.executable, "-m", "gateway", "run", "-c", str(path), "--workers", str(workers)],
            cwd=ROOT, env={**os.environ, **(env or {})}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        if env and "CORS_GATEWAY_LISTEN_PORT" in env:
            port = int(env["CORS_GATEWAY_LISTEN_PORT"])
        running = Running(proc, port, admin, path)
        started.append(running)
        wait_for_port(port, proc)
        wait_for_port(admin, proc)
        deadline = time.monotonic() + 20
        while True:  # all workers up
            try:
                import urllib.request

                with urllib.request.urlopen(running.admin_url + "/readyz", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "never ready"
            time.sleep(0.1)
        return running

    yield start_
    for running in started:
        if running.proc.poll() is None:
            stop_process(running.proc)


async def metric(session: aiohttp.ClientSession, running: Running, series: str) -> float:
    async with session.get(running.admin_url + "/metrics") as response:
        for line in (await response.text()).splitlines():
            if line.startswith(series + " "):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no series {series}")


async def test_workers_share_the_port_and_metrics_aggregate(start):
    running = start(workers=2)
    assert len(running.children()) == 2
    async with aiohttp.ClientSession() as session:
        async def hit(i):
            async with session.get(running.url + "/api/echo", headers={"Origin": ALLOWED}) as response:
                assert response.status == 200
                assert response.headers["Access-Control-Allow-Origin"] == ALLOWED
        await asyncio.gather(*(hit(i) for i in range(60)))
        await asyncio.sleep(1.2)  # the workers fold their counters into the shared files
        total = await metric(session, running, 'cors_gateway_requests_total{decision="allowed",kind="actual",route="api"}')
        assert total == 60
        assert await metric(session, running, "cors_gateway_in_flight_requests") == 0


async def _load(url: str, stop: asyncio.Event, results: list) -> None:
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            try:
                async with session.get(url + "/api/echo", headers={"Origin": ALLOWED}) as response:
                    await response.read()
                    results.append(response.status)
            except aiohttp.ClientError as err:
                results.append(repr(err))


@pytest.mark.parametrize("workers", [1, 2])
async def test_twenty_reloads_under_load_fail_no_request(start, workers):
    running = start(workers=workers)
    stop = asyncio.Event()
    results: list = []
    loaders = [asyncio.create_task(_load(running.url, stop, results)) for _ in range(8)]
    text = running.path.read_text()
    started = time.monotonic()
    for i in range(20):
        await asyncio.sleep(0.15)
        # Alternate between two valid configs, by file change and by SIGHUP.
        running.path.write_text(text.replace("shutdown_timeout: 10", f"shutdown_timeout: {10 + i % 2}"))
        running.proc.send_signal(signal.SIGHUP)
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*loaders)
    failed = [r for r in results if r != 200]
    print(f"{workers} worker(s): {len(results)} requests during 20 reloads in {time.monotonic() - started:.1f}s, "
          f"{len(failed)} failed")
    assert len(results) > 200
    assert failed == []
    async with aiohttp.ClientSession() as session:
        assert await metric(session, running, 'cors_gateway_config_reloads_total{result="success"}') >= 20
        assert await metric(session, running, 'cors_gateway_config_reloads_total{result="failure"}') == 0


async def test_reload_applies_a_new_policy_and_refuses_a_bad_one(start):
    running = start(workers=2)
    good = running.path.read_text()
    async with aiohttp.ClientSession() as session:
        async def acao(origin: str) -> str | None:
            async with session.get(running.url + "/api/echo", headers={"Origin": origin}) as response:
                return response.headers.get("Access-Control-Allow-Origin")

        assert await acao(ALLOWED) == ALLOWED
        running.path.write_text(good.replace(ALLOWED, "https://other.example.com"))
        running.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while await acao("https://other.example.com") != "https://other.example.com":
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        assert await acao(ALLOWED) is None

        # A config with an error: refused, counted, the previous one stays live.
        running.path.write_text(good.replace('origins: ["https://app.example.com"]',
                                             'origins: ["*"], supports_credentials: true'))
        running.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while await metric(session, running, 'cors_gateway_config_reloads_total{result="failure"}') < 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        assert await acao("https://other.example.com") == "https://other.example.com"
        # A half-written file (truncated mid-key) is refused the same way.
        running.path.write_text(good[: good.index("routes:") + 12])
        deadline = time.monotonic() + 10
        while await metric(session, running, 'cors_gateway_config_reloads_total{result="failure"}') < 2:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        assert await acao("https://other.example.com") == "https://other.example.com"
    running.proc.send_signal(signal.SIGTERM)
    _, err = running.proc.communicate(timeout=20)
    assert "routes.0.cors.supports_credentials: cannot be true" in err
    assert "the previous config stays live" in err


@pytest.mark.parametrize("workers", [1, 2])
async def test_sigterm_drains_a_streaming_download_and_exits_0(start, workers):
    running = start(workers=workers)
    async with aiohttp.ClientSession() as session:
        async with session.get(running.url + "/api/drip?chunks=10&delay=0.2") as response:
            assert response.status == 200
            first = await response.content.readexactly(1024)
            began = time.monotonic()
            running.proc.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)
            async with session.get(running.admin_url + "/readyz") as ready:
                assert ready.status == 503
            rest = await response.read()
        body = first + rest
    assert len(body) == 10 * 1024 and body.endswith(b".")
    assert running.proc.wait(timeout=20) == 0
    print(f"{workers} worker(s): drained a 2 s download in {time.monotonic() - began:.2f}s after SIGTERM")
    with pytest.raises(OSError):
        import socket

        socket.create_connection(("127.0.0.1", running.port), timeout=1).close()


async def test_a_worker_that_dies_is_restarted_and_counted(start):
    running = start(workers=2)
    victim = running.children()[0]
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    async with aiohttp.ClientSession() as session:
        while await metric(session, running, "cors_gateway_worker_restarts_total") < 1:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        while len(running.children()) != 2 or victim in running.children():
            assert time.monotonic() < deadline
            await asyncio.sleep(0.1)
        for _ in range(20):
            async with session.get(running.url + "/api/echo") as response:
                assert response.status == 200


async def test_environment_overrides_for_containers(start, upstream, tmp_path):
    port = free_port()
    running = start(env={"CORS_GATEWAY_LISTEN_PORT": str(port), "CORS_GATEWAY_UPSTREAM_URL": upstream.url,
                         "CORS_GATEWAY_WORKERS": "2"})
    # --workers on the command line (1 here) wins over CORS_GATEWAY_WORKERS.
    assert running.children() == []
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/api/echo") as response:
            assert response.status == 200


def _many_routes(count: int) -> str:
    return "".join(
        f'  - {{name: r{i}, path: /r{i}/, upstream: app, cors: {{origins: ["https://o{i}.example.com"]}}}}\n'
        for i in range(count)
    )


async def test_reloading_a_large_config_keeps_every_worker(start):
    # A config of ~100 KB pickled arrives at the workers in pieces: it must be read whole.
    running = start(workers=2)
    base = running.path.read_text()
    async with aiohttp.ClientSession() as session:
        for i in range(4):
            running.path.write_text(base + _many_routes(800 + i))
            running.proc.send_signal(signal.SIGHUP)
            await asyncio.sleep(0.6)
        deadline = time.monotonic() + 10
        while await metric(session, running, 'cors_gateway_config_reloads_total{result="success"}') < 4:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)
        assert await metric(session, running, "cors_gateway_worker_restarts_total") == 0
        for _ in range(10):
            async with session.get(running.url + "/r802/echo", headers={"Origin": "https://o802.example.com"}) as r:
                assert r.headers.get("Access-Control-Allow-Origin") == "https://o802.example.com"
        async with session.get(running.admin_url + "/readyz") as ready:
            assert ready.status == 200


@pytest.mark.parametrize("first_workers", [1, 2])
async def test_a_second_gateway_cannot_share_the_port(start, tmp_path, upstream, first_workers):
    first = start(workers=first_workers)
    path = tmp_path / "second.yaml"
    path.write_text(config_text(upstream.url, first.port, free_port()))
    second = subprocess.run([sys.executable, "-m", "gateway", "run", "-c", str(path), "--workers", "2"],
                            cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert second.returncode == 1
    assert second.stderr.splitlines() == [
        f"cannot listen on 127.0.0.1:{first.port}: address already in use (another process holds it); "
        "change --port or listen.port"
    ]
    async with aiohttp.ClientSession() as session:  # the first one serves on, alone
        async with session.get(first.url + "/api/echo", headers={"Origin": ALLOWED}) as response:
            assert response.status == 200


def _time_wait(port: int) -> int:
    """Connections in TIME_WAIT whose local side is ``port`` (the side that closed first)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, _, state = line.split()[1:4]
            if state == "06" and int(local.rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


async def test_workers_restart_at_once_on_the_port_they_just_left(start, upstream):
    """``docker compose restart`` with --workers: connections the gateway closed sit in TIME_WAIT on
    its port for a minute; a new gateway must still bind it at once (and serve), while a live
    gateway on the port is still refused."""
    first = start(workers=2)
    async with aiohttp.ClientSession() as session:  # keep-alive traffic; Connection: close makes the gateway close
        for i in range(40):
            headers = {"Origin": ALLOWED, **({"Connection": "close"} if i % 2 else {})}
            async with session.get(first.url + "/api/echo", headers=headers) as response:
                assert response.status == 200
        # Idle keep-alive connections still open at SIGTERM: the gateway closes them as it stops.
        first.proc.send_signal(signal.SIGTERM)
        assert first.proc.wait(timeout=20) == 0
    stopped = time.monotonic()
    assert _time_wait(first.port) > 0, "the test needs connections in TIME_WAIT on the gateway's port"

    second = subprocess.Popen([sys.executable, "-m", "gateway", "run", "-c", str(first.path), "--workers", "2"],
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        assert time.monotonic() - stopped < 2
        try:
            wait_for_port(first.port, second, timeout=20)
        except RuntimeError:
            pytest.fail(f"the restart failed: {second.stderr.read() if second.poll() is not None else 'not serving'}")
        assert _time_wait(first.port) > 0  # it bound the port with the old connections still in TIME_WAIT
        deadline = time.monotonic() + 20
        async with aiohttp.ClientSession() as session:
            while True:  # both workers up
                try:
                    async with session.get(first.admin_url + "/readyz") as ready:
                        if ready.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                assert time.monotonic() < deadline, "never ready"
                await asyncio.sleep(0.1)
            for _ in range(10):
                async with session.get(first.url + "/api/echo", headers={"Origin": ALLOWED}) as response:
                    assert response.status == 200
                    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED

        # SO_REUSEADDR does not let a third gateway join the live one.
        third = subprocess.run([sys.executable, "-m", "gateway", "run", "-c", str(first.path), "--workers", "2"],
                               cwd=ROOT, capture_output=True, text=True, timeout=30)
        assert third.returncode == 1
        assert third.stderr.splitlines() == [
            f"cannot listen on 127.0.0.1:{first.port}: address already in use (another process holds it); "
            "change --port or listen.port"
        ]
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=20) == 0
    finally:
        if second.poll() is None:
            stop_process(second)


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_right_after_start_still_exits_0(tmp_path, upstream, workers):
    path = tmp_path / "gateway.yaml"
    path.write_text(config_text(upstream.url, free_port(), free_port()))
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "run", "-c", str(path), "--workers", str(workers)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    time.sleep(0.6)  # the interpreter is up, the listeners may not be yet
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err


async def test_counters_start_at_zero_with_a_reused_multiprocess_directory(start, tmp_path):
    directory = tmp_path / "metrics"
    directory.mkdir()
    env = {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    for _ in range(2):
        running = start(workers=1, env=env)
        async with aiohttp.ClientSession() as session:
            for _ in range(3):
                async with session.get(running.url + "/api/echo", headers={"Origin": ALLOWED}) as response:
                    assert response.status == 200
            await asyncio.sleep(1.2)
            series = 'cors_gateway_requests_total{decision="allowed",kind="actual",route="api"}'
            assert await metric(session, running, series) == 3  # not 6 after the restart
        running.proc.send_signal(signal.SIGTERM)
        assert running.proc.wait(timeout=20) == 0
