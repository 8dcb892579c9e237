"""Run the scenarios: start the servers, check one answer each, measure interleaved rounds.

``Env`` knows how to start every server of the benchmark (by key), pinned:
servers under test on ``server_cpus`` (CPU 0), wrk, the stream client and the
upstreams behind a proxy on ``client_cpus`` (CPU 1).  The upstream on CPU 1
lives for the whole run; every other server lives for one scenario, so each
scenario's peak RSS is its own.
"""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from . import configs as C
from .loadgen import parse_wrk, wrk_command
from .procs import (
    RssSampler,
    Server,
    StartError,
    busy_fractions,
    cpu_busy_ticks,
    cpu_seconds,
    free_port,
    memory_kib,
    pinned,
    run_with_rusage,
)
from .scenarios import S6_PEERS, GroupPlan, PeerPlan, Request, plan

REPO = Path(__file__).resolve().parent.parent
PERSISTENT = ("upstream",)  # servers kept across scenarios


class Env:
    def __init__(
        self,
        workdir: Path,
        *,
        server_cpus: str | None,
        client_cpus: str | None,
        all_cpus: str | None,
        connections: int = 32,
        threads: int = 1,
        log: Callable[[str], None] = print,
    ):
        self.workdir = workdir
        self.logdir = workdir / "logs"
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.server_cpus = server_cpus
        self.client_cpus = client_cpus
        self.all_cpus = all_cpus
        self.connections = connections
        self.threads = threads
        self.log = log
        self.python = sys.executable
        self.servers: dict[str, Server] = {}
        self._origins_file: Path | None = None
        self._first_allowed: str | None = None
        self.pyenv = {"PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1"}

    # -- S5 data ---------------------------------------------------------------

    def s5_data(self) -> tuple[Path, str]:
        if self._origins_file is None:
            origins = C.s5_origins()
            self._origins_file = self.workdir / "s5-origins.txt"
            C.write_origins_file(self._origins_file, origins)
            self._first_allowed = next(o for o, allowed, _ in origins if allowed)
        return self._origins_file, self._first_allowed

    def resolve(self, request: Request) -> Request:
        if not any("{" in a for a in (*request.script_args, *request.check_headers.values())):
            return request
        origins_file, first = self.s5_data()
        values = {"origins_file": str(origins_file), "first_allowed_origin": first}
        return replace(
            request,
            script_args=tuple(a.format(**values) for a in request.script_args),
            check_headers={k: v.format(**values) for k, v in request.check_headers.items()},
        )

    # -- servers -----------------------------------------------------------------

    def get(self, key: str) -> Server:
        server = self.servers.get(key)
        if server is None:
            server = self._make(key)
            self.log(f"  starting {key} on CPU {server.cpus or 'any'} (port {server.port})")
            server.start()
            self.servers[key] = server
        return server

    def release(self, keep: tuple[str, ...] = PERSISTENT) -> None:
        for key in list(self.servers):
            if key not in keep:
                self.servers.pop(key).stop()

    def stop_all(self) -> None:
        self.release(keep=())

    def _py(self, name: str, args: list[str], cpus: str | None, *, env: dict | None = None,
            ready_path: str = "/", ready_url: str | None = None, port: int) -> Server:
        return Server(name, [self.python, *args], port, cpus=cpus, logdir=self.logdir, cwd=str(REPO),
                      env={**self.pyenv, **(env or {})}, ready_path=ready_path, ready_url=ready_url)

    def _gateway(self, key: str, upstream_key: str, cpus: str | None, workers: int = 1, **kwargs) -> Server:
        upstream = self.get(upstream_key)
        port, admin = free_port(), free_port()
        path = self.workdir / f"{key}.yaml"
        path.write_text(C.gateway_yaml(port, admin, upstream.port, **kwargs))
        return self._py(key, ["-m", "gateway", "run", "-c", str(path), "--workers", str(workers)], cpus,
                        port=port, ready_url=f"http://127.0.0.1:{admin}/readyz")

    def _gunicorn(self, key: str, with_cors: bool, cpus: str | None) -> Server:
        port = free_port()
        return self._py(key, ["-m", "gunicorn", "-w", "1", "-k", "gthread", "--threads", "4", "--keep-alive", "5",
                              "--log-level", "warning", "-b", f"127.0.0.1:{port}",
                              f"bench.peers.flask_app:create_app({with_cors})"], cpus, port=port)

    def _make(self, key: str) -> Server:
        s, c = self.server_cpus, self.client_cpus
        if key in ("upstream", "upstream-direct"):
            port = free_port()
            return self._py(key, ["-m", "bench.peers.upstream", str(port)], c if key == "upstream" else s,
                            port=port, ready_path=C.PATH)
        if key == "flask":
            return self._gunicorn(key, False, c)
        if key == "flask-direct":
            return self._gunicorn(key, False, s)
        if key == "flask-cors":
            return self._gunicorn(key, True, s)
        if key == "gateway":
            return self._gateway(key, "upstream", s)
        if key == "gateway-omit":
            return self._gateway(key, "upstream", s, on_reject="omit")
        if key == "gateway-flask":
            return self._gateway(key, "flask", s)
        if key == "gateway-s5":
            return self._gateway(key, "upstream", s, origins=C.s5_patterns(), on_reject="omit")
        if key == "gateway-w2":
            return self._gateway(key, "upstream", self.all_cpus, workers=2)
        if key == "bare":
            port = free_port()
            return self._py(key, ["-m", "bench.peers.bare", str(port)], s, port=port)
        if key == "aioproxy":
            port = free_port()
            return self._py(key, ["-m", "bench.peers.aioproxy", str(port), str(self.get("upstream").port)], s,
                            port=port)
        if key == "starlette":
            port = free_port()
            return self._py(key, ["-m", "uvicorn", "bench.peers.starlette_proxy:app", "--host", "127.0.0.1",
                                  "--port", str(port), "--loop", "uvloop", "--http", "httptools",
                                  "--no-access-log", "--log-level", "warning"], s, port=port,
                            env={"BENCH_UPSTREAM": self.get("upstream").url})
        if key == "nginx":
            port = free_port()
            prefix = self.workdir / "nginx"
            prefix.mkdir(exist_ok=True)
            conf = prefix / "nginx.conf"
            conf.write_text(C.nginx_conf(prefix, port, self.get("upstream").port))
            return Server(key, ["nginx", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log"),
                                "-g", "daemon off; worker_processes 1;"], port, cpus=s, logdir=self.logdir)
        raise KeyError(f"unknown server {key!r}")


# --------------------------------------------------------------------------
# One correctness check, then measurements
# --------------------------------------------------------------------------


def check(server: Server, request: Request, expect) -> str | None:
    """Send the request once; return what is wrong with the answer, or None."""
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(request.method, request.path, body=request.check_body or None, headers=request.check_headers)
        response = conn.getresponse()
        response.read()
        return expect.problem(response.status, response.getheader("Access-Control-Allow-Origin"),
                              request.check_headers.get("Origin"))
    except OSError as err:
        return f"no answer: {err}"
    finally:
        conn.close()


def measure_wrk(env: Env, server: Server, upstream: Server | None, request: Request, duration: int) -> dict:
    cmd = pinned(wrk_command(server.url + request.path, duration, connections=env.connections,
                             threads=env.threads, headers=request.headers, script=request.script,
                             script_args=request.script_args), env.client_cpus)
    pids = server.pids()
    up_pids = upstream.pids() if upstream is not None else []
    cpu0, up0, busy0 = cpu_seconds(pids), cpu_seconds(up_pids), cpu_busy_ticks()
    started = time.perf_counter()
    status, output, wrk_cpu = run_with_rusage(cmd, timeout=duration + 30)
    wall = time.perf_counter() - started
    cpu1, up1, busy1 = cpu_seconds(pids), cpu_seconds(up_pids), cpu_busy_ticks()
    rss, hwm = memory_kib(server.pids())
    if status != 0:
        raise RuntimeError(f"wrk exited with {status}:\n{output[-1500:]}")
    result = parse_wrk(output)
    n = max(result.requests, 1)
    out = result.as_dict()
    out.update(
        wall_s=round(wall, 3),
        server_cpu_s=round(cpu1 - cpu0, 3),
        server_util=round((cpu1 - cpu0) / max(result.seconds, 1e-9), 3),
        cpu_s_per_10k=round((cpu1 - cpu0) / n * 10_000, 4),
        upstream_cpu_s_per_10k=round((up1 - up0) / n * 10_000, 4) if upstream is not None else None,
        wrk_cpu_s=round(wrk_cpu, 3),
        rss_mib=round(rss / 1024, 1),
        peak_rss_mib=round(hwm / 1024, 1),
        cpu_busy=busy_fractions(busy0, busy1),
    )
    # CPU that neither the server, its upstream nor wrk used: kernel work not
    # charged to a process (loopback softirqs, a few %) plus anything else
    # running on the machine.  High values mean the run was disturbed.
    busy_s = sum(out["cpu_busy"].values()) * wall
    out["other_cpu"] = round(max(0.0, busy_s - (cpu1 - cpu0) - (up1 - up0) - wrk_cpu) / wall, 3)
    out["server_cpu_busy"] = _busy_of(out["cpu_busy"], server.cpus)
    out["client_cpu_busy"] = _busy_of(out["cpu_busy"], env.client_cpus)
    return out


def _busy_of(busy: dict[str, float], cpus: str | None) -> float | None:
    """Mean busy fraction of the CPUs in a taskset list such as "0" or "0,1"."""
    if not cpus:
        return None
    values = [busy.get(f"cpu{c}") for c in cpus.split(",")]
    values = [v for v in values if v is not None]
    return round(sum(values) / len(values), 3) if values else None


def run_group(env: Env, group: GroupPlan, rounds: int, duration: int, warmup: int) -> list[dict]:
    """Start, check and warm every peer of ``group``, then measure them interleaved."""
    live: list[tuple[PeerPlan, Server, Server | None, Request]] = []
    results: list[dict] = []
    for peer in group.peers:
        entry = {"group": group.name, "title": group.title, "note": group.note, "peer": peer.key,
                 "label": peer.label, "baseline": peer.baseline, "runs": [], "error": None}
        results.append(entry)
        try:
            server = env.get(peer.server)
            upstream = env.get(peer.upstream) if peer.upstream else None
        except StartError as err:
            entry["error"] = f"did not start: {err}"
            env.log(f"  ! {peer.label}: {entry['error']}")
            continue
        request = env.resolve(peer.request)
        problem = check(server, request, peer.expect)
        if problem:
            entry["error"] = f"wrong answer: {problem}"
            env.log(f"  ! {peer.label}: {entry['error']} (not measured)")
            continue
        if warmup > 0:
            measure_wrk(env, server, upstream, request, warmup)
        live.append((peer, server, upstream, request))
    by_key = {r["peer"]: r for r in results}
    for round_no in range(1, rounds + 1):
        for peer, server, upstream, request in live:
            try:
                run = measure_wrk(env, server, upstream, request, duration)
            except (RuntimeError, ValueError) as err:
                by_key[peer.key]["error"] = str(err)[:500]
                env.log(f"  ! {peer.label}: {err}")
                continue
            run["round"] = round_no
            by_key[peer.key]["runs"].append(run)
            env.log(f"  {group.name} round {round_no}: {peer.label:45s} {run['rps']:9.0f} req/s  "
                    f"p99 {run['p99_ms']} ms  server CPU {run['server_util']:.2f}  other {run['other_cpu']:.2f}")
    return results


def run_scenario(env: Env, key: str, rounds: int, duration: int, warmup: int) -> list[dict]:
    results = []
    try:
        for group in plan(key):
            results.extend(run_group(env, group, rounds, duration, warmup))
    finally:
        env.release()
    return results


# --------------------------------------------------------------------------
# S6: streams
# --------------------------------------------------------------------------


def measure_stream(env: Env, server: Server, direction: str, size: int) -> dict:
    path = C.DOWNLOAD_PATH if direction == "download" else C.UPLOAD_PATH
    cmd = pinned([env.python, "-m", "bench.loadgen", direction, "127.0.0.1", str(server.port), path, str(size),
                  C.ALLOWED_ORIGIN], env.client_cpus)
    pids = server.pids()
    base_rss, _ = memory_kib(pids)
    cpu0, busy0 = cpu_seconds(pids), cpu_busy_ticks()
    with RssSampler(server.pid) as sampler:
        status, output, client_cpu = run_with_rusage(cmd, timeout=180)
    cpu1, busy1 = cpu_seconds(server.pids()), cpu_busy_ticks()
    if status != 0:
        raise RuntimeError(f"stream client exited with {status}:\n{output[-1500:]}")
    data = json.loads(output.strip().splitlines()[-1])
    if data["status"] != 200:
        raise RuntimeError(f"{direction}: status {data['status']}")
    moved = data["bytes"]
    if moved != size or (direction == "download" and data.get("expected") not in (None, size)):
        raise RuntimeError(f"{direction}: moved {moved} bytes, expected {size}")
    if direction == "upload" and data.get("upstream_received") != size:
        raise RuntimeError(f"upload: upstream received {data.get('upstream_received')}, expected {size}")
    out = {
        "bytes": moved,
        "seconds": round(data["seconds"], 3),
        "mb_per_s": round(moved / data["seconds"] / 1e6, 1),
        "rss_before_mib": round(base_rss / 1024, 1),
        "rss_max_mib": round(sampler.max_kib / 1024, 1),
        "rss_growth_mib": round(max(0, sampler.max_kib - base_rss) / 1024, 1),
        "server_cpu_s": round(cpu1 - cpu0, 3),
        "cpu_s_per_gib": round((cpu1 - cpu0) / (moved / 2**30), 3),
        "client_cpu_s": round(client_cpu, 3),
        "acao": data.get("acao"),
        "cpu_busy": busy_fractions(busy0, busy1),
    }
    out["server_cpu_busy"] = _busy_of(out["cpu_busy"], server.cpus)
    out["client_cpu_busy"] = _busy_of(out["cpu_busy"], env.client_cpus)
    return out


def run_streams(env: Env, rounds: int, size: int) -> list[dict]:
    results = []
    live = []
    try:
        for direction in ("download", "upload"):
            for key, label, server_key, baseline in S6_PEERS:
                results.append({"group": f"S6/{direction}", "title": f"streaming {size / 2**20:.0f} MiB {direction}",
                                "note": "", "peer": key, "label": label, "baseline": baseline, "runs": [],
                                "error": None, "direction": direction, "server": server_key})
        for entry in results:
            try:
                server = env.get(entry["server"])
                # Warm up with 64 MiB (connection pools, allocator).
                measure_stream(env, server, entry["direction"], min(size, 64 * 2**20))
                live.append((entry, server))
            except (StartError, RuntimeError, ValueError, OSError) as err:
                entry["error"] = str(err)[:500]
                env.log(f"  ! {entry['label']} {entry['direction']}: {entry['error']}")
        for round_no in range(1, rounds + 1):
            for entry, server in live:
                try:
                    run = measure_stream(env, server, entry["direction"], size)
                except (RuntimeError, ValueError, OSError) as err:
                    entry["error"] = str(err)[:500]
                    env.log(f"  ! {entry['label']} {entry['direction']}: {err}")
                    continue
                run["round"] = round_no
                entry["runs"].append(run)
                env.log(f"  S6 round {round_no}: {entry['direction']:8s} {entry['label']:30s} "
                        f"{run['mb_per_s']:8.1f} MB/s  RSS growth {run['rss_growth_mib']} MiB")
    finally:
        env.release()
    return results


# --------------------------------------------------------------------------
# Summaries
# --------------------------------------------------------------------------


def _median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 4) if values else None


def summarise(results: list[dict]) -> None:
    """Add ``median`` (and ``ratio_to_gateway``) to every result entry, in place."""
    for entry in results:
        runs = entry["runs"]
        if not runs:
            entry["median"] = None
            continue
        if "mb_per_s" in runs[0]:
            entry["median"] = {
                "mb_per_s": _median(r["mb_per_s"] for r in runs),
                "seconds": _median(r["seconds"] for r in runs),
                "rss_growth_mib": max(r["rss_growth_mib"] for r in runs),
                "cpu_s_per_gib": _median(r["cpu_s_per_gib"] for r in runs),
                "server_cpu_busy": _median(r.get("server_cpu_busy") for r in runs),
                "client_cpu_busy": _median(r.get("client_cpu_busy") for r in runs),
            }
        else:
            entry["median"] = {
                "rps": _median(r["rps"] for r in runs),
                "p50_ms": _median(r["p50_ms"] for r in runs),
                "p99_ms": _median(r["p99_ms"] for r in runs),
                "cpu_s_per_10k": _median(r["cpu_s_per_10k"] for r in runs),
                "upstream_cpu_s_per_10k": _median(r["upstream_cpu_s_per_10k"] for r in runs),
                "server_util": _median(r["server_util"] for r in runs),
                "server_cpu_busy": _median(r.get("server_cpu_busy") for r in runs),
                "client_cpu_busy": _median(r.get("client_cpu_busy") for r in runs),
                "other_cpu": _median(r.get("other_cpu") for r in runs),
                "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
                "rss_mib": _median(r["rss_mib"] for r in runs),
                "non_2xx_3xx": sum(r["non_2xx_3xx"] for r in runs),
                "socket_errors": sum(sum(r["socket_errors"].values()) for r in runs),
                "requests": sum(r["requests"] for r in runs),
            }
    metric = {True: "mb_per_s", False: "rps"}
    groups: dict[str, list[dict]] = {}
    for entry in results:
        groups.setdefault(entry["group"], []).append(entry)
    for entries in groups.values():
        base = next((e for e in entries if e["baseline"]), None)
        for entry in entries:
            entry["ratio_to_gateway"] = None
            if base is None or not base.get("median") or not entry.get("median"):
                continue
            key = metric["mb_per_s" in entry["median"]]
            if base["median"][key]:
                entry["ratio_to_gateway"] = round(entry["median"][key] / base["median"][key], 3)
