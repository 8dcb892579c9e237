"""Memory stays bounded: origin floods and large streams, measured on a real gateway process."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap

import aiohttp
import pytest

from .conftest import ROOT, free_port, stop_process, wait_for_port

MiB = 1024 * 1024


def rss(pid: int, field: str = "VmRSS") -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"{field} not found")


@pytest.fixture
def gateway_process(tmp_path, upstream):
    port, admin = free_port(), free_port()
    config = tmp_path / "gateway.yaml"
    config.write_text(textwrap.dedent(f"""\
        listen: {{host: 127.0.0.1, port: {port}, max_body_size: 0}}
        admin: {{host: 127.0.0.1, port: {admin}}}
        upstreams:
          app: {{url: "{upstream.url}", read_timeout: 30}}
        routes:
          - path: /api/
            upstream: app
            cors: {{origins: ["https://*.example.com"], methods: [GET, PUT]}}
        """))
    proc = subprocess.Popen([sys.executable, "-m", "gateway", "--log-level", "WARNING", "run", "-c", str(config)],
                            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, proc)
    yield proc, f"http://127.0.0.1:{port}", f"http://127.0.0.1:{admin}"
    stop_process(proc)


async def _preflights(session: aiohttp.ClientSession, url: str, origins: list[str], concurrency: int = 16) -> dict[int, int]:
    statuses: dict[int, int] = {}
    queue = iter(origins)

    async def worker():
        for origin in queue:
            headers = {"Origin": origin, "Access-Control-Request-Method": "PUT"}
            async with session.options(url, headers=headers) as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1

    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return statuses


async def test_flood_of_distinct_origins_keeps_memory_bounded(gateway_process):
    proc, url, admin = gateway_process
    async with aiohttp.ClientSession() as session:
        warm = [f"https://warm{i}.example.com" for i in range(2000)]
        assert await _preflights(session, url + "/api/x", warm) == {204: 2000}
        before = rss(proc.pid)
        flood = [f"https://o{i}.example.com" for i in range(10_000)] + [f"https://o{i}.evil.test" for i in range(10_000)]
        assert await _preflights(session, url + "/api/x", flood) == {204: 10_000, 403: 10_000}
        after = rss(proc.pid)
        async with session.get(admin + "/metrics") as response:
            metrics = await response.text()
    growth = (after - before) / MiB
    print(f"RSS before {before / MiB:.1f} MiB, after 20,000 origins {after / MiB:.1f} MiB, growth {growth:.1f} MiB")
    assert growth < 40, f"RSS grew by {growth:.1f} MiB"
    assert "cors_gateway_decision_cache_entries 10000.0" in metrics


async def test_large_upload_and_download_stream_without_buffering(gateway_process):
    proc, url, _ = gateway_process
    size = 1024 * MiB
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as session:
        async with session.get(url + "/api/download?size=1024") as response:  # warm up
            await response.read()
        baseline = rss(proc.pid, "VmHWM")

        async def body():
            chunk = b"u" * (256 * 1024)
            for _ in range(size // len(chunk)):
                yield chunk

        async with session.post(url + "/api/upload", data=body()) as response:
            assert response.status == 200
            assert await response.json() == {"received": size}
        received = 0
        async with session.get(url + f"/api/download?size={size}") as response:
            assert response.status == 200
            async for chunk in response.content.iter_chunked(256 * 1024):
                received += len(chunk)
        assert received == size
    peak_growth = (rss(proc.pid, "VmHWM") - baseline) / MiB
    print(f"peak RSS growth streaming 1 GiB up and down: {peak_growth:.1f} MiB")
    assert peak_growth < 16, f"peak RSS grew by {peak_growth:.1f} MiB"
