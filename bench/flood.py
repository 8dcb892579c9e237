"""A flood of distinct random origins against a real gateway process: is memory bounded?

    python -m bench.flood [--origins 1000000] [--chunk 15]

Starts the tiny upstream and the gateway (CLI, one worker, shipped defaults:
cache_size 10,000, metrics.max_origin_labels 100, access log on but sent to
/dev/null) on loopback, warms it up, then sends GET requests from origins
that are never repeated (bench/lua/random_origins.lua) until ``--origins`` have been sent,
in wrk runs of ``--chunk`` seconds.  The route blocks them (403), so every one
is a cache miss, a new LRU entry evicting an old one, and a rejected-origin
metric sample.  Prints RSS and /metrics size before and after.  Run by hand;
the figures go into the closing note of the issue, not into a test.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from . import configs as C
from .procs import free_port, pinned
from .system import Missing, cpu_plan, ensure_tools

ROOT = Path(__file__).resolve().parent.parent


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def _wait(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except Exception:  # noqa: BLE001 - not up yet
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _metrics(admin: int) -> str:
    return urllib.request.urlopen(f"http://127.0.0.1:{admin}/metrics", timeout=10).read().decode()


def _wrk(url: str, seconds: int, prefix: str, cpus: str | None) -> int:
    script = str(ROOT / "bench" / "lua" / "random_origins.lua")
    out = subprocess.run(pinned(["wrk", "-t1", "-c32", f"-d{seconds}s", "-s", script, url, "--", prefix], cpus),
                         capture_output=True, text=True, check=True).stdout
    return int(re.search(r"(\d+) requests in", out).group(1))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.flood", description=__doc__.split("\n")[0])
    parser.add_argument("--origins", type=int, default=1_000_000, help="distinct origins to send (default 1,000,000)")
    parser.add_argument("--chunk", type=int, default=15, help="seconds per wrk run (default 15)")
    args = parser.parse_args(argv)
    try:
        ensure_tools(["wrk"])
    except Missing as err:
        print(err, file=sys.stderr)
        return 2
    server_cpus, load_cpus, _, _ = cpu_plan()
    upstream_port, port, admin = free_port(), free_port(), free_port()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "gateway.yaml"
        config.write_text(C.gateway_yaml(port, admin, upstream_port))
        upstream = subprocess.Popen(
            pinned([sys.executable, "-m", "bench.peers.upstream", str(upstream_port)], load_cpus),
            cwd=ROOT, stdout=subprocess.DEVNULL)
        gateway = subprocess.Popen(pinned([sys.executable, "-m", "gateway", "run", "-c", str(config)], server_cpus),
                                   cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            _wait(f"http://127.0.0.1:{admin}/readyz")
            url = f"http://127.0.0.1:{port}{C.PATH}"
            start_rss = _rss_kib(gateway.pid)
            _wrk(url, 3, "warmup", load_cpus)  # 10,000+ origins: the cache is full from here on
            time.sleep(1.5)
            rss0, size0 = _rss_kib(gateway.pid), len(_metrics(admin))
            print(f"RSS at start {start_rss / 1024:.1f} MiB, after 3 s of warm-up {rss0 / 1024:.1f} MiB", flush=True)
            sent, runs, peak = 0, 0, rss0
            started = time.monotonic()
            while sent < args.origins:
                sent += _wrk(url, args.chunk, f"run{runs}", load_cpus)
                runs += 1
                peak = max(peak, _rss_kib(gateway.pid))
                print(f"  {sent:>9,} origins sent, RSS {peak / 1024:.1f} MiB", flush=True)
            time.sleep(1.5)
            text = _metrics(admin)
            rss1 = _rss_kib(gateway.pid)
            entries = re.search(r"^cors_gateway_decision_cache_entries (\S+)$", text, re.M).group(1)
            series = len(re.findall(r"^cors_gateway_rejected_origins_total\{", text, re.M))
            print(f"distinct origins sent: {sent:,} in {time.monotonic() - started:.0f} s")
            print(f"RSS after warm-up {rss0 / 1024:.1f} MiB, after the flood {rss1 / 1024:.1f} MiB "
                  f"(peak {peak / 1024:.1f} MiB, growth {(rss1 - rss0) / 1024:+.1f} MiB)")
            print(f"/metrics {size0:,} -> {len(text):,} bytes; rejected_origins series: {series}; "
                  f"decision cache entries: {entries}")
        finally:
            gateway.terminate()
            upstream.terminate()
            gateway.wait(10)
            upstream.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
